package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
)

// explicitlySelected reports whether the -bench pattern names token, so that the slowest
// benchmarks run only when asked for by name.
func explicitlySelected(token string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), token)
}

// heapSampler records, while it runs, the peak of the heap in use (live and not yet collected
// objects, which the garbage collector lets grow to about twice the live heap) and the peak of the
// live heap (what the last collection found reachable).
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	peak heapPeak
}

type heapPeak struct{ inUse, live uint64 }

var heapSamples = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}

func readHeap() heapPeak {
	s := slices.Clone(heapSamples)
	metrics.Read(s)
	return heapPeak{inUse: s[0].Value.Uint64(), live: s[1].Value.Uint64()}
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), peak: readHeap()}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.record(readHeap())
			}
		}
	}()
	return h
}

func (h *heapSampler) record(v heapPeak) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peak.inUse = max(h.peak.inUse, v.inUse)
	h.peak.live = max(h.peak.live, v.live)
}

// Stop ends the sampling and returns the peaks.
func (h *heapSampler) Stop() heapPeak {
	close(h.stop)
	h.done.Wait()
	h.record(readHeap())
	return h.peak
}

// liveHeap collects garbage and returns the live heap.
func liveHeap() uint64 {
	runtime.GC()
	return readHeap().live
}

const mb = 1 << 20

// BenchmarkPollerSync runs connectortest.Poller, Formance's polling algorithm, over loopback HTTP
// against the library's handler serving a MemoryProvider with n generated transactions (second
// precision, 20 per second: many share a second), from scratch to the end, and reports items/s and
// the heap: data-heap-MB is the live heap before the sync (the data); live-growth-MB the growth of
// the live heap, read after a full collection at every tenth of one more (untimed) sync, from the
// first tenth to the largest reading (near 0: nothing accumulates as pages are served); peak-live-MB the
// largest live heap the collector reported during the sync (it counts as live what is allocated
// while it marks, so it overstates the working set on a large heap); peak-heap-MB the largest heap
// in use (the collector lets it reach about twice the live heap); retained-MB the live heap after
// the sync minus before. The 1,000,000 run is skipped unless -bench names it
// ("transactions=1M"): it is not part of go test ./..., which runs no benchmark anyway.
func BenchmarkPollerSync(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		name := fmt.Sprintf("transactions=%dk", n/1000)
		if n >= 1_000_000 {
			name = fmt.Sprintf("transactions=%dM", n/1_000_000)
		}
		b.Run(name+"/pageSize=100", func(b *testing.B) {
			if n >= 1_000_000 && !explicitlySelected("1M") {
				b.Skip("the 1,000,000-transaction sync runs only when -bench names it, e.g. -bench 'PollerSync/transactions=1M'")
			}
			benchmarkSync(b, n, 100)
		})
	}
}

func benchmarkSync(b *testing.B, n, pageSize int) {
	d := connectortest.Generate(connectortest.GenSpec{Seed: 11, Transactions: n, Precision: time.Second, PerSecond: 20})
	p := connectortest.NewMemoryProvider()
	require.NoError(b, p.PutTransactions(d.Transactions...))
	d = nil
	h, err := httpserver.New(p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(b, err)
	target := connectortest.Target{Handler: h, APIKey: apiKey}
	before := liveHeap()
	var peak heapPeak
	requests := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sampler := startHeapSampler(5 * time.Millisecond)
		requests = syncAll(b, target, pageSize, n, nil)
		p := sampler.Stop()
		peak.inUse, peak.live = max(peak.inUse, p.inUse), max(peak.live, p.live)
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	after := liveHeap()

	// One more sync, not timed, with a full collection at every tenth to read the live heap exactly
	// (forced collections would take part of the sync's own collection work out of the timing).
	var checkpoints []uint64
	syncAll(b, target, pageSize, n, func() { checkpoints = append(checkpoints, liveHeap()) })
	runtime.KeepAlive(h)

	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(peak.inUse)/mb, "peak-heap-MB")
	b.ReportMetric(float64(peak.live)/mb, "peak-live-MB")
	b.ReportMetric((float64(slices.Max(checkpoints))-float64(checkpoints[0]))/mb, "live-growth-MB")
	b.ReportMetric(float64(before)/mb, "data-heap-MB")
	b.ReportMetric((float64(after)-float64(before))/mb, "retained-MB")
}

// syncAll syncs the n transactions of target from scratch with Poller.Stream and returns the number
// of requests; tenth, when set, is called after each tenth of the transactions has arrived.
//
// The poller is Light: it decodes only the ids and times it needs, so that the sync measures the
// library's handler rather than the test client's JSON decoding.
func syncAll(b *testing.B, target connectortest.Target, pageSize, n int, tenth func()) int {
	poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
		Targets: []connectortest.Target{target}, PageSize: pageSize, Light: true})
	defer poller.Close()
	synced, requests, tenths := 0, 0, 0
	err := poller.Stream(context.Background(), func(d connectortest.Delivery) error {
		synced += len(d.Transactions)
		requests += len(d.Fetch.Requests)
		for tenth != nil && synced*10 >= (tenths+1)*n {
			tenths++
			tenth()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if synced != n {
		b.Fatalf("synced %d transactions, want %d", synced, n)
	}
	return requests
}

// BenchmarkSyncScaling syncs 100,000 and 1,000,000 transactions (second precision, 20 a second,
// memory feed, Light poller at pageSize 100) in the same run and reports 1M/100k, the time of one
// 1,000,000 sync over that of one 100,000 sync (the mean of three): 10 is linear, the target is
// at most 10.5 in every run. It runs only when -bench names it ("SyncScaling").
func BenchmarkSyncScaling(b *testing.B) {
	if !explicitlySelected("SyncScaling") {
		b.Skip("runs only when -bench names it: -bench SyncScaling -benchtime 1x -count 3")
	}
	target := func(n int) connectortest.Target {
		d := connectortest.Generate(connectortest.GenSpec{Seed: 11, Transactions: n, Precision: time.Second, PerSecond: 20})
		p := connectortest.NewMemoryProvider()
		require.NoError(b, p.PutTransactions(d.Transactions...))
		h, err := httpserver.New(p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(b, err)
		return connectortest.Target{Handler: h, APIKey: apiKey}
	}
	small, large := target(100_000), target(1_000_000)
	var ratio float64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		for range 3 {
			syncAll(b, small, 100, 100_000, nil)
		}
		t100k := time.Since(t0) / 3
		t0 = time.Now()
		syncAll(b, large, 100, 1_000_000, nil)
		ratio += float64(time.Since(t0)) / float64(t100k)
	}
	b.ReportMetric(ratio/float64(b.N), "1M/100k")
}
