package pgfeed_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// benchRows is the size of the benchmarks' table.
const benchRows = 1_000_000

// benchItems returns n transactions, 7ms apart, every 20th sharing the time of the one before (a
// tie), in time order, as a PSP's history export gives them.
func benchItems(n int) []models.Transaction {
	out := make([]models.Transaction, n)
	at := t0
	statuses := []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusPending, models.TransactionStatusFailed}
	for i := range out {
		if i%20 != 0 {
			at = at.Add(7 * time.Millisecond)
		}
		out[i] = tx(fmt.Sprintf("tx_%07d", i), at, statuses[i%len(statuses)])
		out[i].SourceAccountID = "acc_src"
		out[i].Metadata = models.Metadata{"order": fmt.Sprint(i)}
	}
	return out
}

// BenchmarkFeed measures, on one table of a million transactions: the first Load of them (items/s),
// the latency of a page of 100 read at the start, the middle and the end of the listing (each
// ns/op: a range scan of the primary key costs the same wherever it starts), and Puts of batches of
// 1,000 while a poller reads.
//
//	PSPCONNECT_TEST_POSTGRES_URL=... go test -run '^$' -bench Feed -benchtime 1x ./feed/pgfeed/  # the Load once
//	PSPCONNECT_TEST_POSTGRES_URL=... go test -run '^$' -bench Feed ./feed/pgfeed/
func BenchmarkFeed(b *testing.B) {
	pool := newPool(b, newSchema(b))
	f := newTransactions(b, pool)
	ctx := context.Background()
	items := benchItems(benchRows)
	loaded, loads := "", 0
	b.Run("Load1M", func(b *testing.B) {
		for range b.N {
			loads++ // a new tenant each time, also with -count
			tenant := fmt.Sprint("load_", loads)
			require.NoError(b, f.Load(ctx, tenant, items))
			loaded = tenant
		}
		b.ReportMetric(float64(len(items)*b.N)/b.Elapsed().Seconds(), "items/s")
	})
	if loaded == "" { // the Load was not asked for: the table is needed anyway
		loaded = "load_0"
		require.NoError(b, f.Load(ctx, loaded, items))
	}
	// Vacuum now, so that autovacuum's pass over the new million rows does not run during the
	// measurements below.
	_, err := pool.Exec(ctx, "VACUUM (ANALYZE) pspconnect_feed_slots")
	require.NoError(b, err)

	// Formance's first poll raises the horizon once; then pages read without writing.
	page, err := f.Page(ctx, loaded, query(1, 100, time.Time{}))
	require.NoError(b, err)
	require.Len(b, page, 100)
	for _, at := range []struct {
		name string
		from time.Time
	}{
		{"Page/start", items[0].UpdatedAt},
		{"Page/middle", items[len(items)/2].UpdatedAt},
		{"Page/end", items[len(items)-150].UpdatedAt},
	} {
		from := at.from.Truncate(time.Second)
		b.Run(at.name, func(b *testing.B) {
			for b.Loop() {
				page, err := f.Page(ctx, loaded, query(1, 100, from))
				if err != nil || len(page) != 100 {
					b.Fatalf("Page from %s: %d items, %v", from, len(page), err)
				}
			}
		})
	}

	b.Run("PutBatchOf1000WhileReading", func(b *testing.B) {
		next := items[len(items)-1].UpdatedAt
		var batches [][]models.Transaction
		for i := range b.N {
			batch := make([]models.Transaction, 0, 1000)
			for j := range 900 { // new items
				next = next.Add(time.Millisecond)
				batch = append(batch, tx(fmt.Sprintf("new_%d_%03d", i, j), next, models.TransactionStatusPending))
			}
			for j := range 100 { // changes of old ones, without a new time
				old := items[(i*100+j)*997%len(items)]
				old.Status = models.TransactionStatusRefunded
				batch = append(batch, old)
			}
			batches = append(batches, batch)
		}
		stop := make(chan struct{})
		var pages atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() { // a poller following the end of the listing
			cursor := items[len(items)-150].UpdatedAt
			for {
				select {
				case <-stop:
					return
				default:
				}
				page, err := f.Page(ctx, loaded, query(1, 100, cursor.Truncate(time.Second)))
				if err != nil {
					b.Errorf("Page: %v", err)
					return
				}
				pages.Add(1)
				if len(page) > 0 {
					cursor = page[len(page)-1].UpdatedAt
				}
			}
		})
		b.ResetTimer()
		for i := range b.N {
			if err := f.Put(ctx, loaded, batches[i]...); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "items/s")
		b.ReportMetric(float64(pages.Load())/b.Elapsed().Seconds(), "pages/s")
	})
}
