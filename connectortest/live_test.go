package connectortest

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
)

// liveHandler serves next and, before every every-th GET request that on accepts, calls change:
// data that moves on its own while Run reads it, like a PSP sandbox.
type liveHandler struct {
	next   http.Handler
	on     func(r *http.Request) bool
	every  int
	change func()

	mu sync.Mutex
	n  int
}

func (h *liveHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && h.on(r) {
		h.mu.Lock()
		h.n++
		if h.n%h.every == 0 {
			h.change()
		}
		h.mu.Unlock()
	}
	h.next.ServeHTTP(w, r)
}

// liveMemory serves a MemoryProvider whose transactions move through their lifecycle, two every
// eighth request.
func liveMemory(t *testing.T) Target {
	t.Helper()
	ds := Generate(GenSpec{Seed: 21, Accounts: 40, Beneficiaries: 40, Transactions: 200, Precision: time.Millisecond, PerSecond: 10, Lifecycle: true})
	p, target := serveMemory(t, ds)
	target.Handler = &liveHandler{next: target.Handler, on: func(*http.Request) bool { return true }, every: 8, change: func() {
		require.NoError(t, p.PutTransactions(ds.Advance(2)...))
	}}
	return target
}

// TestRunDataChangedDuringRun: data that moves during the run, without Options.Live, is diagnosed
// by the stable check, and the summary says it first; with Options.Live the library's feeds pass.
func TestRunDataChangedDuringRun(t *testing.T) {
	t.Run("without Live", func(t *testing.T) {
		rec := runRecorded(t, liveMemory(t), Options{PageSizes: []int{25}, SkipWrites: true})
		assert.Contains(t, rec.failedChecks(), "stable", rec.dump())
		assertFinding(t, rec, "stable", "the data changed during the run, between the full listings read at the start and ", "/transactions: ", " changed (tx_",
			"findings of the order, tiling, sync and changes checks may come from these changes rather than from the middleware", "set Options.Live")

		rep, err := Check(t.Context(), liveMemory(t), Options{PageSizes: []int{25}, SkipWrites: true})
		require.NoError(t, err)
		lines := strings.Split(rep.Summary(), "\n")
		require.Greater(t, len(lines), 1)
		assert.Contains(t, lines[1], "NOTE: the data changed during the run")
	})
	t.Run("Live", func(t *testing.T) {
		rec := runRecorded(t, liveMemory(t), Options{PageSizes: []int{7, 25}, Live: true})
		require.Empty(t, rec.failedChecks(), rec.dump())
		assert.True(t, strings.Contains(strings.Join(rec.logLines("stable"), "\n"), "the data moved during the run, as Options.Live says it may"), rec.dump())
	})
}

// TestRunLiveCatchesLoss: on moving data, Options.Live still checks that a sync from scratch
// receives every item listed before it: a middleware whose listing shifts when a transaction
// changes (refServer, whose transactions change while a client pages them) loses items and the sync
// check names them.
func TestRunLiveCatchesLoss(t *testing.T) {
	s := newRefServer(faultNone)
	deeper := func(r *http.Request) bool {
		return r.URL.Path == "/transactions" && r.URL.Query().Get("page") == "2"
	}
	target := Target{Handler: &liveHandler{next: s.handler(), on: deeper, every: 3, change: func() {
		_ = s.shiftNext(context.Background(), "/transactions", 0)
	}}, APIKey: testKey}
	rec := runRecorded(t, target, Options{PageSizes: []int{7}, Live: true, SkipWrites: true})
	require.Equal(t, []string{"sync"}, rec.failedChecks(), rec.dump())
	assertFinding(t, rec, "sync", "pageSize=7: first polling cycle (from scratch): transaction tx_", "never arrived")
}

// openServer is an open-tenancy middleware: every bearer token is its own dataset (the mock PSP's
// model); datasets[key] serves the key's, and any other token gets a fresh empty one. With
// leakByCase, a token that differs from a known key only by case gets that key's dataset.
type openServer struct {
	datasets   map[string]http.Handler
	leakByCase bool

	mu     sync.Mutex
	others map[string]http.Handler
}

func (o *openServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || scheme != "Bearer" || token == "" {
		writeErr(w, 401, "Unauthorized", "missing or malformed Authorization header")
		return
	}
	for key, h := range o.datasets {
		if token == key || (o.leakByCase && strings.EqualFold(token, key)) {
			r.Header.Set("Authorization", "Bearer "+key)
			h.ServeHTTP(w, r)
			return
		}
	}
	o.mu.Lock()
	h, ok := o.others[token]
	if !ok {
		var err error
		h, err = httpserver.New(NewMemoryProvider(), httpserver.WithAPIKey(token), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			o.mu.Unlock()
			writeErr(w, 500, "Internal Server Error", err.Error())
			return
		}
		o.others[token] = h
	}
	o.mu.Unlock()
	h.ServeHTTP(w, r)
}

func newOpenServer(t *testing.T, leakByCase bool) Target {
	t.Helper()
	_, target := serveMemory(t, Generate(GenSpec{Seed: 4, Accounts: 20, Beneficiaries: 20, Transactions: 50}))
	return Target{Handler: &openServer{datasets: map[string]http.Handler{testKey: target.Handler}, leakByCase: leakByCase, others: map[string]http.Handler{}}, APIKey: testKey}
}

// TestRunOpenTenancy: an open-tenancy server (every key its own dataset) fails auth unless
// Options.OpenTenancy says so, and the finding says to set it; with it the server passes, and one
// that shows a key's dataset to the same key in another case is caught.
func TestRunOpenTenancy(t *testing.T) {
	opts := Options{PageSizes: []int{25}}
	t.Run("without OpenTenancy", func(t *testing.T) {
		rec := runRecorded(t, newOpenServer(t, false), opts)
		require.Equal(t, []string{"auth"}, rec.failedChecks(), rec.dump())
		assertFinding(t, rec, "auth", "GET /accounts?page=1&pageSize=1&sort=createdAt:asc with a wrong API key: answered 200, want 401", "set Options.OpenTenancy")
	})
	opts.OpenTenancy = true
	t.Run("OpenTenancy", func(t *testing.T) {
		rec := runRecorded(t, newOpenServer(t, false), opts)
		require.Empty(t, rec.failedChecks(), rec.dump())
	})
	t.Run("OpenTenancy, dataset shown to another key", func(t *testing.T) {
		rec := runRecorded(t, newOpenServer(t, true), opts)
		require.Equal(t, []string{"auth"}, rec.failedChecks(), rec.dump())
		assertFinding(t, rec, "auth", "GET /accounts?page=1&pageSize=1&sort=createdAt:asc with the API key in another case: answered 200 with acc_0001 of the API key's dataset: another key must never see it",
			"Options.OpenTenancy: another key must get 401 or its own, empty dataset")
		assertFinding(t, rec, "auth", "GET /accounts/acc_0001/balances with the API key in another case: answered 200 with the balances of an account of the API key's dataset, want 404")
	})
}
