package connectortest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// TestInclusiveWatermarkPoller replays, request by request, the inclusive-watermark variant on the
// accounts of TestPollerFollowsTheContract (two share 10:00:00.200, pageSize 2): it keeps acc_3,
// which today's client skips, starts each fetch at the page of the last id kept while the second of
// S does not change, and restarts at page 1 when it does.
func TestInclusiveWatermarkPoller(t *testing.T) {
	base := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	p := NewLossyMemoryProvider()
	for i, ms := range []int{100, 200, 200, 1000, 1500, 1600} {
		require.NoError(t, p.PutAccounts(models.Account{ID: fmt.Sprintf("acc_%d", i+1), AccountName: "A", CreatedAt: at(ms)}))
	}
	_, target := serveProvider(t, p)
	poller := NewPollerWithOptions(PollerOptions{Targets: []Target{target}, PageSize: 2, Watermark: InclusiveWatermark})
	defer poller.Close()
	assert.Equal(t, InclusiveWatermark, poller.Watermark())

	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"acc_1", "acc_2", "acc_3", "acc_4", "acc_5", "acc_6"}, ids(cy.Accounts, func(a models.Account) string { return a.ID }))

	type fetch struct {
		queries     []string
		kept        int
		hasMore     bool
		after       time.Time
		mark        Mark
		markedAfter Mark
	}
	var got []fetch
	for _, f := range cy.Fetches {
		if f.Path != "/accounts" {
			continue
		}
		var qs []string
		for _, r := range f.Requests {
			qs = append(qs, r.Query)
		}
		got = append(got, fetch{qs, f.Kept, f.HasMore, f.After, f.BeforeMark, f.AfterMark})
	}
	from0 := "&createdAtFrom=2024-01-01T10:00:00Z"
	from1 := "&createdAtFrom=2024-01-01T10:00:01Z"
	want := []fetch{
		// From scratch: two kept, the page was full. The next query has a From: page 1.
		{[]string{"page=1&pageSize=2&sort=createdAt:asc"}, 2, true, at(200), Mark{}, Mark{"acc_2", 1}},
		// Page 1 holds acc_1 (before S) and acc_2 (the last id): skipped. Page 2: acc_3 (at S, after
		// the last id) and acc_4 are kept. S moves to another second: page 1 again.
		{[]string{"page=1&pageSize=2&sort=createdAt:asc" + from0, "page=2&pageSize=2&sort=createdAt:asc" + from0}, 2, true, at(1000), Mark{"acc_2", 1}, Mark{"acc_4", 1}},
		// acc_4 skipped, acc_5 and acc_6 (page 2, short: the end) kept. Same second: page 2 is kept.
		{[]string{"page=1&pageSize=2&sort=createdAt:asc" + from1, "page=2&pageSize=2&sort=createdAt:asc" + from1}, 2, false, at(1600), Mark{"acc_4", 1}, Mark{"acc_6", 2}},
	}
	assert.Equal(t, want, got)
	assert.Equal(t, State{Accounts: at(1600), AccountsMark: Mark{"acc_6", 2}}, poller.State())

	// The next cycle starts at page 2, where acc_6 was, and finds nothing new.
	cy, err = poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.True(t, cy.Empty())
	require.NotEmpty(t, cy.Fetches)
	assert.Equal(t, "page=2&pageSize=2&sort=createdAt:asc"+from1, cy.Fetches[0].Requests[0].Query)
}

// TestInclusiveWatermarkStallsOnUnsortedListing: on a listing sorted the wrong way, the
// inclusive-watermark poller would fetch the same page for ever; the Poller reports ErrStalled.
func TestInclusiveWatermarkStallsOnUnsortedListing(t *testing.T) {
	poller := NewPollerWithOptions(PollerOptions{Targets: []Target{{Handler: newRefServer(faultUnsorted).handler(), APIKey: testKey}}, PageSize: 7, Watermark: InclusiveWatermark})
	defer poller.Close()
	_, err := poller.Cycle(t.Context())
	require.ErrorIs(t, err, ErrStalled)
	assert.ErrorContains(t, err, "reported \"has more\", and left the state where it was")
}

// TestPollerModesLoseNothingOnTheFeeds: the library's feeds (feed.Memory through MemoryProvider)
// lose nothing under today's client and under the inclusive-watermark variant, with dense
// second-precision data, changes between cycles and changes between the pages of a fetch; served as
// they are (NewLossyMemoryProvider), the same times lose accounts under today's client only.
func TestPollerModesLoseNothingOnTheFeeds(t *testing.T) {
	spec := GenSpec{Seed: 13, Accounts: 150, Beneficiaries: 100, Transactions: 400, Precision: time.Second, PerSecond: 15, Lifecycle: true}
	for _, mode := range []WatermarkMode{ExclusiveWatermark, InclusiveWatermark} {
		for _, pageSize := range []int{1, 7, 25, 100} {
			t.Run(fmt.Sprintf("%s/pageSize=%d", mode, pageSize), func(t *testing.T) {
				t.Parallel()
				ds := Generate(spec)
				p, target := serveMemory(t, ds)
				changes := 0
				poller := NewPollerWithOptions(PollerOptions{Targets: []Target{target}, PageSize: pageSize, Watermark: mode,
					BetweenPages: func(_ context.Context, route string, _ int) error {
						if changes >= 20 {
							return nil
						}
						changes++
						if route == routeTransactions.path {
							if err := p.PutTransactions(ds.Advance(3)...); err != nil {
								return err
							}
						}
						return p.Load(ds.More(1, 1, 1))
					}})
				defer poller.Close()
				accounts := map[string]int{}
				beneficiaries := map[string]int{}
				status := map[string]models.TransactionStatus{}
				run := func() Cycle {
					cy, err := poller.Cycle(t.Context())
					require.NoError(t, err)
					for _, a := range cy.Accounts {
						accounts[a.ID]++
					}
					for _, b := range cy.Beneficiaries {
						beneficiaries[b.ID]++
					}
					for _, tx := range cy.Transactions {
						status[tx.ID] = tx.Status
					}
					return cy
				}
				run()
				require.NoError(t, p.PutTransactions(ds.Advance(30)...)) // between cycles
				require.NoError(t, p.Load(ds.More(5, 5, 10)))
				for i := 0; i < 5 && !run().Empty(); i++ {
				}
				assert.Positive(t, changes, "changes between pages")
				for _, a := range ds.Accounts {
					assert.Equal(t, 1, accounts[a.ID], "account %s", a.ID)
				}
				for _, b := range ds.Beneficiaries {
					assert.Equal(t, 1, beneficiaries[b.ID], "beneficiary %s", b.ID)
				}
				for _, tx := range ds.Transactions {
					assert.Equal(t, tx.Status, status[tx.ID], "transaction %s", tx.ID)
				}
			})
		}
	}
	t.Run("served as they are", func(t *testing.T) {
		spec := GenSpec{Seed: 11, Accounts: 300, Precision: time.Second, PerSecond: 3}
		for mode, want := range map[WatermarkMode]int{ExclusiveWatermark: 281, InclusiveWatermark: 300} {
			p := NewLossyMemoryProvider()
			require.NoError(t, p.Load(Generate(spec)))
			_, target := serveProvider(t, p)
			poller := NewPollerWithOptions(PollerOptions{Targets: []Target{target}, PageSize: 25, Watermark: mode})
			cy, err := poller.Cycle(t.Context())
			poller.Close()
			require.NoError(t, err)
			assert.Len(t, cy.Accounts, want, "%s", mode)
		}
	})
}
