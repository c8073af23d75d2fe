package connectortest_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
)

// TestLightPollerSyncsWhatTheFullPollerSyncs: a Light poller delivers the same ids and times, in
// the same fetches, as the full one, over a dataset with metadata, related ids and dense seconds.
func TestLightPollerSyncsWhatTheFullPollerSyncs(t *testing.T) {
	d := connectortest.Generate(connectortest.GenSpec{Seed: 4, Transactions: 700, Accounts: 30, Beneficiaries: 30,
		Precision: time.Second, PerSecond: 20, Lifecycle: true})
	p := connectortest.NewMemoryProvider()
	require.NoError(t, p.PutAccounts(d.Accounts...))
	require.NoError(t, p.PutBeneficiaries(d.Beneficiaries...))
	require.NoError(t, p.PutTransactions(d.Transactions...))
	h, err := httpserver.New(p, httpserver.WithAPIKey("k"), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	type seen struct {
		id string
		at time.Time
	}
	sync := func(light bool) (out []seen, fetches int) {
		poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
			Targets: []connectortest.Target{{Handler: h, APIKey: "k"}}, PageSize: 25, Light: light})
		defer poller.Close()
		require.NoError(t, poller.Stream(context.Background(), func(d connectortest.Delivery) error {
			fetches++
			for _, a := range d.Accounts {
				out = append(out, seen{a.ID, a.CreatedAt})
			}
			for _, b := range d.Beneficiaries {
				out = append(out, seen{b.ID, b.CreatedAt})
			}
			for _, tx := range d.Transactions {
				out = append(out, seen{tx.ID, tx.UpdatedAt})
				if light {
					assert.Empty(t, tx.Status, "a light poller decodes only the id and the time")
				}
			}
			return nil
		}))
		return out, fetches
	}
	full, fullFetches := sync(false)
	light, lightFetches := sync(true)
	require.Len(t, full, 760)
	assert.Equal(t, fullFetches, lightFetches)
	require.Equal(t, len(full), len(light))
	for i := range full {
		assert.Equal(t, full[i].id, light[i].id)
		assert.True(t, full[i].at.Equal(light[i].at), "%s: %s vs %s", full[i].id, full[i].at, light[i].at)
	}
}

// TestLightPollerReportsWhatItCannotRead: a page the light scanner cannot read is decoded in full
// and its error reported as without Light.
func TestLightPollerReportsWhatItCannotRead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/transactions" {
			_, _ = w.Write([]byte(`[{"id":"tx_1","updatedAt":"yesterday"}]`))
			return
		}
		_, _ = w.Write([]byte(`[]`))
	})
	poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
		Targets: []connectortest.Target{{Handler: h, APIKey: "k"}}, PageSize: 25, Light: true})
	defer poller.Close()
	_, err := poller.Cycle(context.Background())
	require.ErrorIs(t, err, connectortest.ErrUndecodable)
	assert.Contains(t, err.Error(), "tx_1")
}
