package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connectortest"
)

// BenchmarkCursorSync syncs 100,000 beneficiaries (second precision, about two a second) and 10,000
// transactions from the simulated upstream through the middleware with connectortest.Poller, over
// loopback HTTP, and reports the upstream calls per Formance page request (1 for the pass-through
// beneficiaries; for transactions, the mirror's refresh at each fetch's page 1 plus the first full
// read), the items per second and the cursor cache's entries.
func BenchmarkCursorSync(b *testing.B) {
	for _, pageSize := range []int{25, 100} {
		b.Run(fmt.Sprintf("beneficiaries=100k/pageSize=%d", pageSize), func(b *testing.B) {
			s := newSetup(b, rate.Inf, rate.Inf, 1, 0, "acme")
			ds := s.up.Dataset("sk_acme")
			require.NoError(b, seed(ds, rand.New(rand.NewPCG(1, 2)), t0, 10, 100_000, 10_000))
			var pages map[string]int
			var items int
			b.ReportAllocs()
			for b.Loop() {
				s.cursors.Clear()
				before := map[string]int{
					"/beneficiaries": s.up.Calls("sk_acme", "/v1/beneficiaries"),
					"/transactions":  s.up.Calls("sk_acme", "/v1/transactions"),
				}
				poller := connectortest.NewPoller(s.target("acme"), pageSize)
				pages, items = map[string]int{}, 0
				err := poller.Stream(b.Context(), func(d connectortest.Delivery) error {
					pages[d.Fetch.Path] += len(d.Fetch.Requests)
					items += len(d.Accounts) + len(d.Beneficiaries) + len(d.Transactions)
					return nil
				})
				poller.Close()
				require.NoError(b, err)
				require.Equal(b, 10+100_000+10_000, items)
				for route, n := range before {
					pages[route+" upstream"] = s.up.Calls("sk_acme", "/v1"+route) - n
				}
				// A fresh mirror for the next round, as after a restart.
				fresh, err := NewProvider(s.client, s.p.secrets, s.cursors)
				require.NoError(b, err)
				s.p.transactions, s.p.mirrors = fresh.transactions, fresh.mirrors
			}
			b.ReportMetric(float64(pages["/beneficiaries upstream"])/float64(pages["/beneficiaries"]), "beneficiaries-upstream-calls/page")
			b.ReportMetric(float64(pages["/transactions upstream"])/float64(pages["/transactions"]), "transactions-upstream-calls/page")
			b.ReportMetric(float64(items)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64(s.cursors.Len()), "cache-entries")
		})
	}
}

// BenchmarkCursorCacheTenants polls 2,000 tenants (each with 60 beneficiaries, pageSize 7: nine
// pages) through one cursor cache of 500 entries and reports its entries and the heap retained by
// the cache: bounded by its size, whatever the number of tenants and queries.
func BenchmarkCursorCacheTenants(b *testing.B) {
	const tenants = 2000
	names := make([]string, tenants)
	for i := range names {
		names[i] = fmt.Sprintf("t%04d", i)
	}
	var cacheMB float64
	var entries int
	for b.Loop() {
		s := newSetup(b, rate.Inf, rate.Inf, 1, 500, names...)
		for i, name := range names {
			require.NoError(b, seed(s.up.Dataset("sk_"+name), rand.New(rand.NewPCG(uint64(i), 3)), t0, 1, 60, 0))
		}
		for _, name := range names {
			poller := connectortest.NewPoller(s.target(name), 7)
			err := poller.Stream(b.Context(), func(connectortest.Delivery) error { return nil })
			poller.Close()
			require.NoError(b, err)
		}
		entries = s.cursors.Len()
		withCache := liveHeap()
		s.cursors.Clear()
		cacheMB = float64(withCache-liveHeap()) / (1 << 20)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(entries), "cache-entries")
	b.ReportMetric(cacheMB, "cache-heap-MB")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
