package pgingest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
)

// benchSeries returns n new transactions of series name, 1ms apart from start, as a PSP reports
// new activity.
func benchSeries(name string, from, n int, start time.Time) []models.Transaction {
	out := make([]models.Transaction, n)
	for i := range out {
		k := from + i
		out[i] = tx(fmt.Sprintf("%s_%08d", name, k), start.Add(time.Duration(k)*time.Millisecond), models.TransactionStatusPending)
		out[i].SourceAccountID = "acc_src"
		out[i].Metadata = models.Metadata{"order": strconv.Itoa(k)}
	}
	return out
}

// BenchmarkIngest measures, on one database, ingestion through Sink.Commit (fence, PutTx and
// checkpoint in one transaction) in batches of 1,000 new transactions (Commit1000, items/s), and
// the latency of Formance's list request (GET /transactions?page=1&pageSize=100&sort=updatedAt:asc&
// updatedAtFrom=…, a full page near the end of a 20,000-item listing, through httpserver over the
// same pgfeed and real HTTP): idle (List/idle), then while 1,000 items/s are committed, 100 every
// 100ms, into the same tenant (List/ingesting-same-tenant: writers and the readers that raise the
// horizon share the head row's lock) or into another one (List/ingesting-other-tenant). Each List
// benchmark reports its p50 and p99 in milliseconds, and the ingesting ones the ratio of their p99
// to the idle one (the median of the idle runs' with -count).
//
//	PSPCONNECT_TEST_POSTGRES_URL=... go test -run '^$' -bench Ingest -benchtime 5s ./ingest/pgingest/
func BenchmarkIngest(b *testing.B) {
	pool := newPool(b, newSchema(b))
	elector := newElector(b, pool, pgingest.WithLeaseTTL(time.Hour)) // nothing renews the leases here
	sink := newSink(b, pool)
	ctx := context.Background()
	lease := acquire(b, elector, "bench/transactions")

	next := 0 // across runs (-count)
	b.Run("Commit1000", func(b *testing.B) {
		committed := 0
		for b.Loop() {
			items := benchSeries("commit", next, 1000, t0)
			next += 1000
			committed += 1000
			if err := sink.Commit(ctx, "bench", "bench/transactions", items, strconv.Itoa(next), lease); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(committed)/b.Elapsed().Seconds(), "items/s")
	})

	// The listing Formance polls: 20,000 transactions of tenant "default".
	const tenant, preloaded = "default", 20_000
	pollLease := acquire(b, elector, jobName(tenant))
	for i := 0; i < preloaded; i += 1000 {
		require.NoError(b, sink.Commit(ctx, tenant, jobName(tenant), benchSeries("poll", i, 1000, t0), strconv.Itoa(i+1000), pollLease))
	}
	otherLease := acquire(b, elector, "other/transactions")
	_, err := pool.Exec(ctx, "VACUUM (ANALYZE) pspconnect_feed_slots")
	require.NoError(b, err)
	srv := httptest.NewServer(handler(b, sink.Feed()))
	defer srv.Close()
	client := srv.Client()
	from := t0.Add((preloaded - 150) * time.Millisecond).Truncate(time.Second)
	target := srv.URL + "/transactions?page=1&pageSize=100&sort=updatedAt:asc&updatedAtFrom=" + url.QueryEscape(from.Format(time.RFC3339))
	get := func(b *testing.B) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s", target, res.Status)
		}
		return d
	}
	// ingest commits 100 items every 100ms into tenant's listing until stop, and returns how many.
	nextLive := map[string]int{} // across runs (-count)
	ingestInto := func(tenant string, lease ingest.Lease, stop <-chan struct{}) (wait func() int) {
		var wg sync.WaitGroup
		n := 0
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			next := max(nextLive[tenant], preloaded)
			defer func() { nextLive[tenant] = next }()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				items := benchSeries("live_"+tenant, next, 100, t0)
				next += 100
				if err := sink.Commit(ctx, tenant, jobName(tenant), items, strconv.Itoa(next), lease); err != nil {
					b.Error(err)
					return
				}
				n += 100
			}
		})
		return func() int { wg.Wait(); return n }
	}
	var idleP99s []time.Duration // of every idle run (-count): the ratios use their median
	measure := func(b *testing.B, ingestTenant string, lease ingest.Lease) time.Duration {
		for range 50 { // warm up the connections
			get(b)
		}
		stop := make(chan struct{})
		wait := func() int { return 0 }
		if ingestTenant != "" {
			wait = ingestInto(ingestTenant, lease, stop)
		}
		var lat []time.Duration
		for b.Loop() {
			lat = append(lat, get(b))
		}
		elapsed := b.Elapsed()
		close(stop)
		ingested := wait()
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[min(len(lat)*99/100, len(lat)-1)]
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		if ingestTenant != "" {
			b.ReportMetric(float64(ingested)/elapsed.Seconds(), "ingested-items/s")
			if len(idleP99s) > 0 {
				idle := slices.Sorted(slices.Values(idleP99s))[len(idleP99s)/2]
				b.ReportMetric(float64(p99)/float64(idle), "p99/idle-p99")
			}
		}
		return p99
	}
	b.Run("List/idle", func(b *testing.B) { idleP99s = append(idleP99s, measure(b, "", nil)) })
	b.Run("List/ingesting-same-tenant", func(b *testing.B) { measure(b, tenant, pollLease) })
	b.Run("List/ingesting-other-tenant", func(b *testing.B) { measure(b, "other", otherLease) })
}
