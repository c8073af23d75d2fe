package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
)

// purgeCounter counts Purge calls and reports each on purged.
type purgeCounter struct {
	idempotency.Store
	calls  atomic.Int32
	purged chan struct{}
}

func (p *purgeCounter) Purge(ctx context.Context) (int, error) {
	p.calls.Add(1)
	defer func() { p.purged <- struct{}{} }()
	return p.Store.Purge(ctx)
}

func TestGuardPurgesAtMostOncePerInterval(t *testing.T) {
	store := &purgeCounter{Store: idempotency.NewMemoryStore(), purged: make(chan struct{}, 10)}
	g := newGuard(config{idemStore: store, logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g.nextPurge = time.Now().Add(-time.Second) // due
	r := httptest.NewRequest(http.MethodPost, "/payouts", nil)

	g.maybePurge(r, time.Now())
	<-store.purged
	for range 10 {
		g.maybePurge(r, time.Now())
	}
	assert.EqualValues(t, 1, store.calls.Load(), "the next purge waits for the interval")
	assert.True(t, g.nextPurge.After(time.Now().Add(purgeInterval-time.Minute)))
}

// oddStore answers Begin with an outcome no store should return.
type oddStore struct{ idempotency.Store }

func (oddStore) Begin(context.Context, idempotency.Key, []byte, time.Duration) (idempotency.Outcome, error) {
	return idempotency.Outcome{}, nil
}

func TestGuardRefusesAnUnknownOutcome(t *testing.T) {
	logs := &strings.Builder{}
	g := newGuard(config{idemStore: oddStore{idempotency.NewMemoryStore()}, idemWait: time.Second, inFlightTTL: time.Hour,
		logger: slog.New(slog.NewTextHandler(logs, nil))})
	called := false
	rec := httptest.NewRecorder()
	g.serve(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil), write{key: idempotency.Key{IdempotencyKey: "k"}},
		func(context.Context, http.ResponseWriter) callResult { called = true; return callResult{} })
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "nothing was sent: Formance may retry")
	assert.False(t, called, "the provider is not called on an outcome the guard does not understand")
	assert.Contains(t, logs.String(), "Begin returned outcome OutcomeKind(0)")
}
