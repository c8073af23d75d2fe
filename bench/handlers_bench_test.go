package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
)

const apiKey = "bench-api-key"

var payoutTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture is the same data served by the hand-written baseline and by the library.
type fixture struct {
	baseline *Baseline
	library  http.Handler
	from     string // updatedAtFrom of the list requests: a second in the middle of the data
}

func newFixture(tb testing.TB, n int) *fixture {
	tb.Helper()
	d := connectortest.Generate(connectortest.GenSpec{Seed: 7, Transactions: n, Accounts: 20, Beneficiaries: 20,
		Precision: time.Second, PerSecond: 20, Lifecycle: true})
	p := NewProvider(NewPSP(payoutTime))
	require.NoError(tb, p.Transactions.Put(context.Background(), httpserver.DefaultTenant, d.Transactions...))
	served, err := p.Served(context.Background(), httpserver.DefaultTenant) // the unique times the library serves: the baseline serves them as is
	require.NoError(tb, err)
	lib, err := httpserver.New(p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)),
		// BenchmarkUnauthorized measures the 401 path on every request, past any limit on failures.
		httpserver.WithAuthFailureLimit(rate.Inf, 1), httpserver.WithAuthFailureGlobalLimit(rate.Inf, 1),
		// BenchmarkPayout/first makes a new key per iteration, more than a tenant's default bound on
		// stored records within their retention (the baseline's map has none).
		httpserver.WithIdempotencyStore(idempotency.NewMemoryStore(
			idempotency.WithMaxRecordsPerTenant(1<<40), idempotency.WithMaxBytesPerTenant(1<<50))))
	require.NoError(tb, err)
	return &fixture{
		baseline: NewBaseline(apiKey, served, NewPSP(payoutTime)),
		library:  lib,
		from:     served[len(served)/2].UpdatedAt.UTC().Format(time.RFC3339),
	}
}

func (f *fixture) listURL(pageSize int) string {
	return fmt.Sprintf("/transactions?page=1&pageSize=%d&sort=updatedAt:asc&updatedAtFrom=%s", pageSize, f.from)
}

// sink is a ResponseWriter that counts the body and keeps nothing, so the benchmarks measure the
// handlers and not a recorder.
type sink struct {
	header http.Header
	status int
	n      int
}

func newSink() *sink { return &sink{header: http.Header{}} }

func (s *sink) Header() http.Header { return s.header }
func (s *sink) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *sink) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	s.n += len(p)
	return len(p), nil
}
func (s *sink) reset() {
	clear(s.header)
	s.status, s.n = 0, 0
}

func serve(b *testing.B, h http.Handler, newReq func(i int) *http.Request, want int) {
	w := newSink()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.reset()
		h.ServeHTTP(w, newReq(i))
		if w.status != want {
			b.Fatalf("status %d, want %d", w.status, want)
		}
	}
	b.SetBytes(int64(w.n))
}

func get(url, key string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, url, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	return r
}

func impls(f *fixture) []struct {
	name string
	h    http.Handler
} {
	return []struct {
		name string
		h    http.Handler
	}{{"baseline", f.baseline}, {"library", f.library}}
}

// BenchmarkList serves GET /transactions (page 1 from a second in the middle of 20,000 transactions,
// as Formance asks for it) in process, baseline and library on the same data and the same bytes.
func BenchmarkList(b *testing.B) {
	f := newFixture(b, 20000)
	for _, size := range []int{25, 100} {
		for _, impl := range impls(f) {
			b.Run(fmt.Sprintf("pageSize=%d/%s", size, impl.name), func(b *testing.B) {
				r := get(f.listURL(size), apiKey)
				serve(b, impl.h, func(int) *http.Request { return r }, http.StatusOK)
			})
		}
	}
}

// BenchmarkListHTTP is BenchmarkList over loopback HTTP with a keep-alive client: what Formance sees.
func BenchmarkListHTTP(b *testing.B) {
	f := newFixture(b, 20000)
	for _, size := range []int{25, 100} {
		for _, impl := range impls(f) {
			b.Run(fmt.Sprintf("pageSize=%d/%s", size, impl.name), func(b *testing.B) {
				srv := httptest.NewServer(impl.h)
				defer srv.Close()
				client := srv.Client()
				req, err := http.NewRequest(http.MethodGet, srv.URL+f.listURL(size), nil)
				require.NoError(b, err)
				req.Header.Set("Authorization", "Bearer "+apiKey)
				var n int64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					res, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Fatalf("status %d", res.StatusCode)
					}
				}
				b.SetBytes(n)
			})
		}
	}
}

// BenchmarkUnauthorized is the auth path: a request with a wrong key, answered 401.
func BenchmarkUnauthorized(b *testing.B) {
	f := newFixture(b, 100)
	for _, impl := range impls(f) {
		b.Run(impl.name, func(b *testing.B) {
			r := get(f.listURL(25), "wrong-key")
			serve(b, impl.h, func(int) *http.Request { return r }, http.StatusUnauthorized)
		})
	}
}

// BenchmarkBadParameter is the validation path of a list request: pageSize=0, answered 400.
func BenchmarkBadParameter(b *testing.B) {
	f := newFixture(b, 100)
	for _, impl := range impls(f) {
		b.Run(impl.name, func(b *testing.B) {
			r := get("/transactions?page=1&pageSize=0&sort=updatedAt:asc", apiKey)
			serve(b, impl.h, func(int) *http.Request { return r }, http.StatusBadRequest)
		})
	}
}

func payoutBody(key string) string {
	return `{"idempotencyKey":"` + key + `","amount":"10000","currency":"EUR/2","sourceAccountId":"acc_0001",` +
		`"destinationAccountId":"ben_0001","description":"supplier invoice","metadata":{"invoice":"INV-1"}}`
}

func post(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+apiKey)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	return r
}

// BenchmarkPayout is the write path: POST /payouts with a new idempotency key each time ("first"),
// and the same request again ("replay").
func BenchmarkPayout(b *testing.B) {
	for _, mode := range []string{"first", "replay"} {
		f := newFixture(b, 100)
		for _, impl := range impls(f) {
			b.Run(mode+"/"+impl.name, func(b *testing.B) {
				bodies := make([]string, b.N)
				for i := range bodies {
					if mode == "first" {
						bodies[i] = payoutBody(fmt.Sprintf("%s-%d", b.Name(), i))
					} else {
						bodies[i] = payoutBody("replayed-key")
					}
				}
				serve(b, impl.h, func(i int) *http.Request { return post("/payouts", bodies[i]) }, http.StatusCreated)
			})
		}
	}
}

// payoutBlock is how many requests in a row each handler of BenchmarkPayoutTurns serves before
// the other takes its turn.
const payoutBlock = 64

// BenchmarkPayoutTurns is BenchmarkPayout with both handlers measured in the same run: they take
// turns in blocks of payoutBlock requests (the order swapping each block), each with its own
// fixture, so that both share the machine's noise; library-throughput/baseline is the median over
// the rotations of the baseline's time over the library's (target ≥ 1.0): see pairedRatio. "first" sends a new idempotency key each time (both
// stores grow alike), "replay" the same request again.
func BenchmarkPayoutTurns(b *testing.B) {
	for _, mode := range []string{"first", "replay"} {
		b.Run(mode, func(b *testing.B) {
			f := newFixture(b, 100)
			hs := []http.Handler{f.baseline, f.library}
			body := func(i int) string {
				if mode == "first" {
					return payoutBody("key-" + strconv.Itoa(i))
				}
				return payoutBody("replayed-key")
			}
			bodies := make([]string, b.N)
			for i := range bodies {
				bodies[i] = body(i)
			}
			for _, h := range hs { // the replayed key's first answer, and warm code
				w := newSink()
				h.ServeHTTP(w, post("/payouts", body(-1)))
			}
			w := newSink()
			runtime.GC() // the fixture's garbage is not the handlers' to collect
			b.ReportAllocs()
			b.ResetTimer()
			perTurn := turns(b.N, len(hs), payoutBlock, func(j, i int) {
				w.reset()
				hs[j].ServeHTTP(w, post("/payouts", bodies[i]))
				if w.status != http.StatusCreated {
					b.Fatalf("status %d", w.status)
				}
			})
			b.ReportMetric(pairedRatio(perTurn[0], perTurn[1]), "library-throughput/baseline")
			b.ReportMetric(median(perTurn[0]), "baseline-ns")
			b.ReportMetric(median(perTurn[1]), "library-ns")
		})
	}
}

func TestBaselineAndLibraryServeTheSameBytes(t *testing.T) {
	f := newFixture(t, 2000)
	for _, size := range []int{25, 100} {
		base, lib := httptest.NewRecorder(), httptest.NewRecorder()
		f.baseline.ServeHTTP(base, get(f.listURL(size), apiKey))
		f.library.ServeHTTP(lib, get(f.listURL(size), apiKey))
		require.Equal(t, http.StatusOK, lib.Code)
		var page []models.Transaction
		require.NoError(t, json.Unmarshal(lib.Body.Bytes(), &page))
		require.Len(t, page, size)
		require.Equal(t, base.Body.String(), lib.Body.String(), "pageSize=%d", size)
	}
	base, lib := httptest.NewRecorder(), httptest.NewRecorder()
	f.baseline.ServeHTTP(base, post("/payouts", payoutBody("k1")))
	f.library.ServeHTTP(lib, post("/payouts", payoutBody("k1")))
	require.Equal(t, http.StatusCreated, lib.Code)
	require.Equal(t, base.Code, lib.Code)
	require.Equal(t, base.Body.String(), lib.Body.String())
}
