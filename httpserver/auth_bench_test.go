package httpserver_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/httpserver"
)

// discardWriter is a ResponseWriter that keeps only the status, so that the benchmarks measure the
// handler.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkAuthByDigest measures authentication with 1 configured key and with 10,000 (one tenant
// each), in the same run: batches of requests on the two handlers alternate, each request a right
// key (among 64 spread over the 10,000) on a path that is answered 404 right after authentication.
// It reports the time per request of each and their ratio, "10k/1-keys" (target: at most 1.2).
func BenchmarkAuthByDigest(b *testing.B) {
	newHandler := func(n int) (http.Handler, []*http.Request) {
		keys := make(map[string]string, n)
		for i := range n {
			keys[fmt.Sprintf("sk_test_%032d", i)] = fmt.Sprintf("tenant-%d", i)
		}
		h, err := httpserver.New(newFake(), httpserver.WithAPIKeys(keys), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		var reqs []*http.Request
		for i := range min(n, 64) {
			r := httptest.NewRequest(http.MethodGet, "/no-such-route", nil)
			r.Header.Set("Authorization", "Bearer "+fmt.Sprintf("sk_test_%032d", i*n/min(n, 64)))
			reqs = append(reqs, r)
		}
		return h, reqs
	}
	one, oneReqs := newHandler(1)
	many, manyReqs := newHandler(10_000)
	w := &discardWriter{header: http.Header{}}
	const batch = 64
	run := func(h http.Handler, reqs []*http.Request) time.Duration {
		start := time.Now()
		for i := range batch {
			clear(w.header)
			h.ServeHTTP(w, reqs[i%len(reqs)])
			if w.status != http.StatusNotFound {
				b.Fatalf("status %d, want 404 (authenticated, then no route)", w.status)
			}
		}
		return time.Since(start)
	}
	var tOne, tMany time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		tOne += run(one, oneReqs)
		tMany += run(many, manyReqs)
		n += batch
	}
	b.ReportMetric(float64(tOne.Nanoseconds())/float64(n), "ns/req-1-key")
	b.ReportMetric(float64(tMany.Nanoseconds())/float64(n), "ns/req-10k-keys")
	b.ReportMetric(float64(tMany)/float64(tOne), "10k/1-keys")
}
