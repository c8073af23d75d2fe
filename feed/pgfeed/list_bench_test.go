package pgfeed_test

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed/feedtest"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// queryOnly is the limit of a list route on PostgreSQL: the bearer key compared, the query string
// parsed, the feed's own query (ListPage), and the stored bytes written; nothing else.
type queryOnly struct {
	f *pgfeed.Feed[models.Transaction]
}

func (h queryOnly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+benchKey)) != 1 {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	v := r.URL.Query()
	size, _ := strconv.Atoi(v.Get("pageSize"))
	from, _ := time.Parse(time.RFC3339Nano, v.Get("updatedAtFrom"))
	page, err := h.f.ListPage(r.Context(), httpserver.DefaultTenant, pagination.Query{Page: 1, PageSize: size, From: from,
		Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}})
	if err != nil || page.Encoded == nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	b := []byte{'['}
	for i, e := range page.Encoded {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendTo(b)
	}
	b = append(b, ']', '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// BenchmarkPostgresList serves GET /transactions over loopback HTTP from a pgfeed of 1,000,000
// transactions, page 1 from a random second each request, pageSize 25 and 100, to one keep-alive
// client: the library against queryOnly (the same query, its bytes written as they are), each
// request sent to both in turn. library/precomputed+query is the library's time over queryOnly's
// (target ≤ 1.15). It runs only when -bench names it ("PostgresList").
func BenchmarkPostgresList(b *testing.B) {
	if !named("PostgresList") {
		b.Skip("runs only when -bench names it: -bench PostgresList -benchtime 2000x")
	}
	pool := newPool(b, newSchema(b))
	f := newTransactions(b, pool)
	items := benchItems(1_000_000)
	require.NoError(b, f.Load(context.Background(), httpserver.DefaultTenant, items))
	_, err := pool.Exec(context.Background(), "ANALYZE")
	require.NoError(b, err)
	lib, err := httpserver.New(feedtest.TransactionsProvider(f), httpserver.WithAPIKey(benchKey),
		httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 2))
	froms := make([]string, 4096)
	for i := range froms {
		froms[i] = items[rng.IntN(len(items)-200)].UpdatedAt.Truncate(time.Second).UTC().Format(time.RFC3339)
	}
	items = nil
	type side struct {
		srv    *httptest.Server
		client *http.Client
	}
	sides := []side{}
	for _, h := range []http.Handler{queryOnly{f}, lib} {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		sides = append(sides, side{srv, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}})
	}
	get := func(s side, size int, from string) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/transactions?page=1&pageSize=%d&sort=updatedAt:asc&updatedAtFrom=%s", s.srv.URL, size, from), nil)
		req.Header.Set("Authorization", "Bearer "+benchKey)
		res, err := s.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	for _, size := range []int{25, 100} {
		b.Run(fmt.Sprintf("pageSize=%d", size), func(b *testing.B) {
			var spent [2]time.Duration
			for _, s := range sides {
				get(s, size, froms[0])
			}
			b.ResetTimer()
			for i := range b.N {
				for k := range 2 {
					j := (i + k) % 2
					t0 := time.Now()
					get(sides[j], size, froms[i%len(froms)])
					spent[j] += time.Since(t0)
				}
			}
			b.ReportMetric(float64(spent[0].Microseconds())/float64(b.N), "query-only-µs")
			b.ReportMetric(float64(spent[1].Microseconds())/float64(b.N), "library-µs")
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "library/precomputed+query")
		})
	}
}
