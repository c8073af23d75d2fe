package bench

import (
	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"

	"github.com/pspconnect/pspconnect/models"
)

// The hand-written peers: the Baseline with its pages encoded by a fast JSON library instead of
// encoding/json, as an integrator chasing speed would write it. Both libraries are configured to
// write encoding/json's bytes (HTML escaping, sorted map keys, MarshalJSON honoured);
// TestPeersServeTheSameBytes checks it.

// NewGoccy returns the Baseline encoding its pages with github.com/goccy/go-json.
func NewGoccy(apiKey string, transactions []models.Transaction, psp *PSP) *Baseline {
	return NewPeer(apiKey, transactions, psp, gojson.Marshal)
}

// NewSonic returns the Baseline encoding its pages with github.com/bytedance/sonic in its
// encoding/json-compatible configuration.
func NewSonic(apiKey string, transactions []models.Transaction, psp *PSP) *Baseline {
	return NewPeer(apiKey, transactions, psp, sonic.ConfigStd.Marshal)
}
