package main

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
)

// BenchmarkCursorSync mirrors 100,000 beneficiaries (second precision, about two a second) and 10,000
// transactions (some 13,000 events) from the simulated upstream into the feeds with the Syncer,
// then syncs everything with connectortest.Poller over loopback HTTP, at page sizes 25 and 100. It
// reports the items ingested per second (upstream pages of 100, no rate limit), the items Formance
// receives per second, and the upstream calls made inside Formance's requests (always 0).
func BenchmarkCursorSync(b *testing.B) {
	for _, pageSize := range []int{25, 100} {
		b.Run(fmt.Sprintf("beneficiaries=100k/pageSize=%d", pageSize), func(b *testing.B) {
			var ingested, polled float64
			var inFormance int
			for b.Loop() {
				counter := &callCounter{inFormance: map[string]int{}}
				s := newSetupWith(b, setupConfig{transport: counter}, "acme")
				ds := s.up.Dataset("sk_acme")
				require.NoError(b, seed(ds, rand.New(rand.NewPCG(1, 2)), t0, 10, 100_000, 10_000))
				start := time.Now()
				s.sync(b)
				ingested = float64(10+100_000+len(ds.Events())) / time.Since(start).Seconds()

				target := s.target("acme")
				target.Handler = markFormanceRequests(s.handler)
				poller := connectortest.NewPoller(target, pageSize)
				items := 0
				start = time.Now()
				err := poller.Stream(b.Context(), func(d connectortest.Delivery) error {
					items += len(d.Accounts) + len(d.Beneficiaries) + len(d.Transactions)
					return nil
				})
				polled = float64(items) / time.Since(start).Seconds()
				poller.Close()
				require.NoError(b, err)
				require.GreaterOrEqual(b, items, 10+100_000+10_000)
				calls, _ := counter.counts()
				inFormance = calls["/accounts"] + calls["/beneficiaries"] + calls["/transactions"]
			}
			b.ReportMetric(ingested, "ingested-items/s")
			b.ReportMetric(polled, "polled-items/s")
			b.ReportMetric(float64(inFormance), "upstream-calls-in-list-requests")
		})
	}
}
