package pgfeed_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/feed/feedtest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/pagination"
)

const benchKey = "pgfeed-bench-key"

func named(token string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), token)
}

func liveHeapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkPostgresSync syncs n transactions from a pgfeed, from scratch to the end, with
// connectortest.Poller (Formance's algorithm, pageSize 100, Light: decoding only ids and times, so
// that the library is measured rather than the client) through httpserver over loopback HTTP,
// and reports items/s and the middleware's live heap after the sync (it must not grow with the
// rows: nothing is loaded into the process). The 1,000,000 run is skipped unless -bench names it
// ("rows=1M").
func BenchmarkPostgresSync(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		name := fmt.Sprintf("rows=%dk", n/1000)
		if n == 1_000_000 {
			name = "rows=1M"
		}
		b.Run(name, func(b *testing.B) {
			if n >= 1_000_000 && !named("1M") {
				b.Skip("runs only when -bench names it, e.g. -bench 'PostgresSync/rows=1M'")
			}
			pool := newPool(b, newSchema(b))
			f := newTransactions(b, pool)
			require.NoError(b, f.Load(context.Background(), httpserver.DefaultTenant, benchItems(n)))
			h, err := httpserver.New(feedtest.TransactionsProvider(f), httpserver.WithAPIKey(benchKey),
				httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			require.NoError(b, err)
			before := liveHeapMB()
			b.ResetTimer()
			for range b.N {
				poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
					Targets: []connectortest.Target{{Handler: h, APIKey: benchKey}}, PageSize: 100, Light: true})
				synced := 0
				require.NoError(b, poller.Stream(context.Background(), func(d connectortest.Delivery) error {
					synced += len(d.Transactions)
					return nil
				}))
				poller.Close()
				require.Equal(b, n, synced)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(before, "heap-before-MB")
			b.ReportMetric(liveHeapMB(), "heap-after-MB")
		})
	}
}

// BenchmarkPostgres10M loads 10,000,000 transactions (once, about a minute) and reports the latency
// of a page of 100 at the start, the middle and the end of the listing (ns/op each), and the
// process's live heap (the same as with a million rows: the feed holds nothing in memory). It runs
// only when -bench names it ("Postgres10M").
func BenchmarkPostgres10M(b *testing.B) {
	if !named("Postgres10M") {
		b.Skip("runs only when -bench names it: -bench Postgres10M -benchtime 200x")
	}
	const n = 10_000_000
	pool := newPool(b, newSchema(b))
	f := newTransactions(b, pool)
	ctx := context.Background()
	const chunk = 1_000_000
	for i := 0; i < n; i += chunk {
		items := benchItems(chunk)
		for j := range items { // continue the timeline of the previous chunk
			items[j].ID = fmt.Sprintf("tx_%08d", i+j)
			shift := time.Duration(i) * 7 * time.Millisecond
			items[j].CreatedAt, items[j].UpdatedAt = items[j].CreatedAt.Add(shift), items[j].UpdatedAt.Add(shift)
		}
		if i == 0 {
			require.NoError(b, f.Load(ctx, "t", items))
		} else {
			require.NoError(b, f.Put(ctx, "t", items...))
		}
	}
	_, err := pool.Exec(ctx, "ANALYZE")
	require.NoError(b, err)
	span := time.Duration(n) * 7 * time.Millisecond
	for _, at := range []struct {
		name string
		frac float64
	}{{"start", 0}, {"middle", 0.5}, {"end", 0.99}} {
		b.Run(at.name, func(b *testing.B) {
			from := t0.Add(time.Duration(float64(span) * at.frac)).Truncate(time.Second)
			q := pagination.Query{Page: 1, PageSize: 100, From: from,
				Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
			for b.Loop() {
				items, err := f.Page(ctx, "t", q)
				if err != nil || len(items) == 0 {
					b.Fatalf("page: %v, %d items", err, len(items))
				}
			}
			b.ReportMetric(liveHeapMB(), "heap-MB")
		})
	}
}
