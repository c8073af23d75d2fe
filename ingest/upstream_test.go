package ingest_test

import (
	"math/rand/v2"

	"github.com/pspconnect/pspconnect/internal/upstreamsim"
	"github.com/pspconnect/pspconnect/models"
)

// upstream is the simulated PSP shared with ingest/pgingest's tests (see package upstreamsim).
type (
	upstream = upstreamsim.Upstream
	object   = upstreamsim.Object
	event    = upstreamsim.Event
)

func newUpstream(seed uint64, failP int) *upstream {
	return upstreamsim.New(rand.New(rand.NewPCG(seed, 3)), failP)
}

func toTransaction(o object) (models.Transaction, error) { return o.Transaction(), nil }
