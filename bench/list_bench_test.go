package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// side is one handler of a list comparison, served over loopback HTTP.
type side struct {
	name   string
	h      http.Handler
	srv    *httptest.Server
	client *http.Client
}

// listSides builds the handlers serving the same n transactions (second precision, 20 a second)
// at the same served times: the precomputed-bytes handler (the limit: net/http alone), the
// encoding/json baseline, the goccy/go-json and sonic peers, and the library over feed.Memory. It
// also returns the froms of the requests: random seconds of the data. With keep set, the servers
// stay up for the rest of the run.
func listSides(tb testing.TB, n int, keep bool) ([]*side, []string) {
	tb.Helper()
	d := connectortest.Generate(connectortest.GenSpec{Seed: 3, Transactions: n, Precision: time.Second, PerSecond: 20})
	p := NewProvider(NewPSP(payoutTime))
	ctx := context.Background()
	require.NoError(tb, p.Transactions.Put(ctx, httpserver.DefaultTenant, d.Transactions...))
	d = nil
	served, err := p.Served(ctx, httpserver.DefaultTenant)
	require.NoError(tb, err)
	require.Len(tb, served, n)
	pre, err := NewPrecomputed(apiKey, served, nil)
	require.NoError(tb, err)
	lib, err := httpserver.New(p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(tb, err)
	sides := []*side{
		{name: "precomputed", h: pre},
		{name: "baseline", h: NewBaseline(apiKey, served, nil)},
		{name: "goccy", h: NewGoccy(apiKey, served, nil)},
		{name: "sonic", h: NewSonic(apiKey, served, nil)},
		{name: "library", h: lib},
	}
	for _, s := range sides {
		s.srv = httptest.NewServer(s.h)
		s.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
		if !keep {
			tb.Cleanup(func() { s.client.CloseIdleConnections(); s.srv.Close() })
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	froms := make([]string, 4096)
	for i := range froms {
		froms[i] = served[rng.IntN(len(served))].UpdatedAt.Truncate(time.Second).UTC().Format(time.RFC3339)
	}
	return sides, froms
}

func (s *side) get(tb testing.TB, pageSize int, from string) []byte {
	req, err := http.NewRequest(http.MethodGet,
		fmt.Sprintf("%s/transactions?page=1&pageSize=%d&sort=updatedAt:asc&updatedAtFrom=%s", s.srv.URL, pageSize, from), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := s.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		tb.Fatalf("%s: status %d, %v: %s", s.name, res.StatusCode, err, body)
	}
	return body
}

var (
	loopbackOnce  sync.Once
	loopbackSides []*side
	loopbackFroms []string
)

// loopback1M returns the sides over 1,000,000 transactions, built once per run.
func loopback1M(b *testing.B) ([]*side, []string) {
	loopbackOnce.Do(func() { loopbackSides, loopbackFroms = listSides(b, 1_000_000, true) })
	if loopbackSides == nil {
		b.Fatal("building the 1,000,000-transaction fixture failed")
	}
	return loopbackSides, loopbackFroms
}

// loopbackBlock is how many requests in a row each handler of BenchmarkListLoopback serves
// before the next one takes its turn.
const loopbackBlock = 64

// BenchmarkListLoopback serves GET /transactions over loopback HTTP from 1,000,000 transactions,
// page 1 from a random second each request, pageSize 25 and 100, to one keep-alive client. The
// handlers take turns in blocks of loopbackBlock requests (the order rotating each block, every
// handler getting the same requests), so that all share the machine's noise and the ratios come
// from one run: library/precomputed is the library's time over the precomputed-bytes handler's
// (target ≤ 1.15), library/fastest-peer over the faster of the goccy/go-json and sonic handlers'
// (target < 1), library/baseline over encoding/json's.
//
// In a block, a handler serves a run of requests with its own code and data in the caches, as a
// middleware process serving only it does while Formance pages through a route. The same
// requests are also sent to the handlers alternately, one request each in turn; those ratios
// (alternating-library/…) have no target and are printed beside: there each request also pays
// for the cache footprint of the four other handlers in the process, which weighs most on the
// handler that does the most.
func BenchmarkListLoopback(b *testing.B) {
	sides, froms := loopback1M(b)
	for _, size := range []int{25, 100} {
		b.Run(fmt.Sprintf("pageSize=%d", size), func(b *testing.B) {
			runtime.GC()              // the fixture's garbage is not the handlers' to collect
			for _, s := range sides { // warm the connections and each handler's code and data
				for q := range loopbackBlock {
					s.get(b, size, froms[len(froms)-1-q])
				}
			}
			serve := func(j, i int) { sides[j].get(b, size, froms[i%len(froms)]) }
			b.ResetTimer()
			blocked := turns(b.N, len(sides), loopbackBlock, serve)
			alternating := turns(b.N, len(sides), 1, serve)
			reportTurns(b, sides, "", blocked)
			reportTurns(b, sides, "alternating-", alternating)
		})
	}
}

// BenchmarkListConcurrent is BenchmarkListLoopback under 64 concurrent clients: each iteration
// has 64 goroutines send 4 requests each to one handler, then to the next, and the throughput
// ratio library-throughput/precomputed is the precomputed handler's time over the library's
// (target ≥ 0.85).
func BenchmarkListConcurrent(b *testing.B) {
	sides, froms := loopback1M(b)
	const clients, each = 64, 4
	for _, size := range []int{25, 100} {
		b.Run(fmt.Sprintf("pageSize=%d", size), func(b *testing.B) {
			spent := make([]time.Duration, len(sides))
			run := func(i int, s *side) time.Duration {
				var wg sync.WaitGroup
				t0 := time.Now()
				for c := range clients {
					wg.Go(func() {
						for k := range each {
							s.get(b, size, froms[(i*clients*each+c*each+k)%len(froms)])
						}
					})
				}
				wg.Wait()
				return time.Since(t0)
			}
			for _, s := range sides {
				run(0, s) // open the connections
			}
			b.ResetTimer()
			for i := range b.N {
				for k := range sides {
					j := (i + k) % len(sides)
					spent[j] += run(i, sides[j])
				}
			}
			rate := map[string]float64{}
			for j, s := range sides {
				rate[s.name] = float64(clients*each*b.N) / spent[j].Seconds()
				b.ReportMetric(rate[s.name], s.name+"-req/s")
			}
			b.ReportMetric(rate["library"]/rate["precomputed"], "library-throughput/precomputed")
		})
	}
}

// TestPeersServeTheSameBytes: the precomputed handler, the encoding/json baseline, the goccy and
// sonic peers and the library answer every request with the same bytes.
func TestPeersServeTheSameBytes(t *testing.T) {
	sides, froms := listSides(t, 3000, false)
	for _, size := range []int{1, 25, 100} {
		for _, from := range froms[:20] {
			want := sides[0].get(t, size, from)
			var page []models.Transaction
			require.NoError(t, json.Unmarshal(want, &page))
			require.NotEmpty(t, page)
			for _, s := range sides[1:] {
				require.Equal(t, string(want), string(s.get(t, size, from)), "%s, pageSize=%d, from %s", s.name, size, from)
			}
		}
	}
}
