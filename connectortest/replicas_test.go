package connectortest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// shiftingServer is a deliberately lossy middleware for the hook tests: it answers each list request
// by offset from its current data (pagination.PageOf: sorted by (updatedAt, id), no state between
// requests), so a transaction whose updatedAt moves forward also moves to the end of the listing
// and every later item shifts one place left. Accounts and beneficiaries are empty lists.
type shiftingServer struct {
	mu       sync.Mutex
	txs      []models.Transaction
	requests []string // "page=N" of each /transactions request, in order
}

func (s *shiftingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		writeErr(w, 401, "Unauthorized", "missing or wrong API key")
		return
	}
	switch r.URL.Path {
	case "/accounts", "/beneficiaries":
		writeJSON(w, 200, []models.Account{})
	case "/transactions":
		q, err := pagination.ParseQuery(r.URL.Query(), pagination.FieldUpdatedAt, 0)
		if err != nil {
			writeErr(w, 400, "Bad Request", err.Error())
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, fmt.Sprintf("page=%d", q.Page))
		page := pagination.PageOf(s.txs, q, func(t models.Transaction) string { return t.ID },
			func(t models.Transaction) time.Time { return t.UpdatedAt })
		s.mu.Unlock()
		writeJSON(w, 200, page)
	default:
		writeErr(w, 404, "Not Found", r.URL.Path)
	}
}

// change gives transaction id a new status and updatedAt, as a PSP records a change.
func (s *shiftingServer) change(id string, status models.TransactionStatus, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.txs {
		if s.txs[i].ID == id {
			s.txs[i].Status, s.txs[i].UpdatedAt = status, at
			return
		}
	}
	panic("no transaction " + id)
}

var busySecond = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// newBusySecond returns a shiftingServer holding tx_01 … tx_n, all within one second (1 ms apart),
// PENDING.
func newBusySecond(n int) *shiftingServer {
	s := &shiftingServer{}
	for i := 1; i <= n; i++ {
		at := busySecond.Add(time.Duration(i) * time.Millisecond)
		s.txs = append(s.txs, models.Transaction{ID: fmt.Sprintf("tx_%02d", i), CreatedAt: at, UpdatedAt: at,
			Currency: "USD/2", Type: models.TransactionTypePayin, Status: models.TransactionStatusPending,
			Amount: models.AmountFromInt64(int64(100 * i))})
	}
	return s
}

// missing returns the ids of want that are not among got, in order.
func missing(want []string, got []models.Transaction) []string {
	seen := map[string]bool{}
	for _, tx := range got {
		seen[tx.ID] = true
	}
	var out []string
	for _, id := range want {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// TestBetweenPagesChangeLosesTheBoundaryItem reproduces the contract's "The listing must not shift
// under the client while it pages" through real HTTP: 60 transactions in one second, pageSize 25.
// The first fetch reads page 1 (tx_01…tx_25). The second fetch, from the same second, reads page 1
// again (nothing new), and before its page 2 tx_10 changes and moves to the end: page 2 now starts at
// tx_27, one item late, and tx_26 is delivered by no page, for ever. Without the change nothing is
// lost.
func TestBetweenPagesChangeLosesTheBoundaryItem(t *testing.T) {
	var all []string
	for i := 1; i <= 60; i++ {
		all = append(all, fmt.Sprintf("tx_%02d", i))
	}
	changedAt := busySecond.Add(900 * time.Millisecond) // still within the busy second

	t.Run("no change", func(t *testing.T) {
		srv := newBusySecond(60)
		var calls []string
		poller := NewPollerWithOptions(PollerOptions{
			Targets:  []Target{{Handler: srv, APIKey: testKey}},
			PageSize: 25,
			BetweenPages: func(_ context.Context, route string, page int) error {
				calls = append(calls, fmt.Sprintf("%s %d", route, page))
				return nil
			},
		})
		defer poller.Close()
		cy, err := poller.Cycle(t.Context())
		require.NoError(t, err)
		assert.Equal(t, all, ids(cy.Transactions, func(tx models.Transaction) string { return tx.ID }))
		assert.Equal(t, []string{"/transactions 1", "/transactions 1", "/transactions 2"}, calls,
			"fetch 1 reads one page; fetch 2 pages 1 and 2; fetch 3 pages 1, 2 and 3")
	})

	t.Run("tx_10 changes between page 1 and page 2", func(t *testing.T) {
		srv := newBusySecond(60)
		changed := false
		var calls []string
		poller := NewPollerWithOptions(PollerOptions{
			Targets:  []Target{{Handler: srv, APIKey: testKey}},
			PageSize: 25,
			BetweenPages: func(_ context.Context, route string, page int) error {
				calls = append(calls, fmt.Sprintf("%s %d", route, page))
				if route == "/transactions" && !changed {
					changed = true
					srv.change("tx_10", models.TransactionStatusSucceeded, changedAt)
				}
				return nil
			},
		})
		defer poller.Close()
		cy, err := poller.Cycle(t.Context())
		require.NoError(t, err)
		require.True(t, changed, "the hook ran")

		var fetches []Fetch
		for _, f := range cy.Fetches {
			if f.Path == "/transactions" {
				fetches = append(fetches, f)
			}
		}
		require.Len(t, fetches, 3)
		assert.Equal(t, []int{1, 2, 3}, []int{len(fetches[0].Requests), len(fetches[1].Requests), len(fetches[2].Requests)})
		assert.Equal(t, []string{"page=1", "page=1", "page=2", "page=1", "page=2", "page=3"}, srv.requests)

		got := ids(cy.Transactions, func(tx models.Transaction) string { return tx.ID })
		require.Len(t, got, 60)
		// Fetch 2 starts one item late: tx_27, not tx_26.
		assert.Equal(t, "tx_25", got[24])
		assert.Equal(t, "tx_27", got[25], "page 2 of fetch 2 starts one item late")
		// tx_10 arrives twice (its change moved its updatedAt forward), tx_26 never.
		assert.Equal(t, []string{"tx_26"}, missing(all, cy.Transactions), "exactly the boundary item is lost")
		assert.Equal(t, 2, countID(got, "tx_10"))
		assert.Equal(t, models.TransactionStatusSucceeded, cy.Transactions[len(cy.Transactions)-1].Status)
		assert.True(t, poller.State().Transactions.Equal(changedAt))

		// Lost for ever: the next cycle brings nothing.
		cy, err = poller.Cycle(t.Context())
		require.NoError(t, err)
		assert.Empty(t, cy.Transactions)
	})
}

func countID(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// counting counts the requests a handler serves.
type counting struct {
	h http.Handler
	n atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.h.ServeHTTP(w, r)
}

// TestReplicaPollerAlternatesTargets: three replicas (three servers over one MemoryProvider) get
// the requests in turn, one each, counted on the servers themselves; the pages of one fetch hit
// different replicas, the rotation goes on from one cycle to the next, and the replicas together
// deliver what one server does.
func TestReplicaPollerAlternatesTargets(t *testing.T) {
	ds := Generate(GenSpec{Seed: 3, Accounts: 12, Beneficiaries: 15, Transactions: 80, Precision: time.Second, PerSecond: 6, Lifecycle: true})
	p := NewMemoryProvider()
	require.NoError(t, p.Load(ds))
	var servers []*counting
	var targets []Target
	for range 3 {
		_, target := serveProvider(t, p)
		c := &counting{h: target.Handler}
		servers = append(servers, c)
		targets = append(targets, Target{Handler: c, APIKey: testKey})
	}
	poller := NewReplicaPoller(targets, 10)
	defer poller.Close()

	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	n := len(cy.Requests)
	require.Greater(t, n, 20)
	for i, r := range cy.Requests {
		require.Equal(t, i%3, r.Target, "request %d (%s)", i, r)
	}
	for i, s := range servers {
		assert.InDelta(t, float64(n)/3, float64(s.n.Load()), 1, "requests served by target %d", i)
	}
	assert.Equal(t, int64(n), servers[0].n.Load()+servers[1].n.Load()+servers[2].n.Load())

	multiPage := 0
	for _, f := range cy.Fetches {
		if len(f.Requests) < 2 {
			continue
		}
		multiPage++
		for i := 1; i < len(f.Requests); i++ {
			assert.NotEqual(t, f.Requests[i-1].Target, f.Requests[i].Target, "%s: two pages in a row on one target", f.Path)
		}
	}
	assert.Positive(t, multiPage, "some fetch read several pages")

	// Same deliveries as a single server.
	single := NewPoller(targets[0], 10)
	defer single.Close()
	want, err := single.Cycle(t.Context())
	require.NoError(t, err)
	txID := func(tx models.Transaction) string { return tx.ID + "@" + tx.UpdatedAt.Format(time.RFC3339Nano) }
	assert.Equal(t, ids(want.Transactions, txID), ids(cy.Transactions, txID))
	assert.Equal(t, ids(want.Accounts, func(a models.Account) string { return a.ID }), ids(cy.Accounts, func(a models.Account) string { return a.ID }))
	assert.Len(t, cy.Transactions, 80)

	// The next cycle continues the rotation where this one stopped.
	cy2, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, cy2.Requests)
	assert.Equal(t, n%3, cy2.Requests[0].Target)
}

// TestReplicaDownNamesTheTarget: a replica that answers 503 fails the cycle with an error that
// names the request and the target.
func TestReplicaDownNamesTheTarget(t *testing.T) {
	ds := Generate(GenSpec{Seed: 5, Accounts: 3, Beneficiaries: 1, Transactions: 1})
	_, up := serveMemory(t, ds)
	down := NewSwappable(nil)
	poller := NewReplicaPoller([]Target{up, {Handler: down, APIKey: testKey}}, 25)
	defer poller.Close()
	_, err := poller.Cycle(t.Context())
	require.ErrorIs(t, err, ErrUnexpectedStatus)
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 1, fe.Request.Target)
	assert.Equal(t, 503, fe.Request.Status)
	// Request 0 was the accounts page, on target 0; request 1 the first balances, on target 1.
	assert.EqualError(t, err, "GET /accounts/acc_0001/balances: target 1: unexpected status 503: "+
		`{"Title":"Service Unavailable","Detail":"the middleware is restarting"}`)

	_, err = NewReplicaPoller(nil, 25).Cycle(t.Context())
	assert.ErrorIs(t, err, ErrTarget)
	_, err = NewReplicaPoller([]Target{up, {BaseURL: "localhost:8080"}}, 25).Cycle(t.Context())
	assert.ErrorIs(t, err, ErrTarget)
	assert.ErrorContains(t, err, "target 1: ")
}

// TestPollerHooksRunBetween: BetweenPages runs after every page of a fetch but its last, with the
// page just read; BetweenFetches after every fetch but the cycle's last, with that fetch.
func TestPollerHooksRunBetween(t *testing.T) {
	ds := Generate(GenSpec{Seed: 8, Accounts: 25, Beneficiaries: 9, Transactions: 70, Precision: time.Second, PerSecond: 7})
	_, target := serveMemory(t, ds)
	var pages, fetches []string
	poller := NewPollerWithOptions(PollerOptions{
		Targets:  []Target{target},
		PageSize: 8,
		BetweenPages: func(_ context.Context, route string, page int) error {
			pages = append(pages, fmt.Sprintf("%s %d", route, page))
			return nil
		},
		BetweenFetches: func(_ context.Context, done Fetch) error {
			fetches = append(fetches, fmt.Sprintf("%s %d %v", done.Path, len(done.Requests), done.HasMore))
			return nil
		},
	})
	defer poller.Close()
	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)

	var wantPages, wantFetches []string
	for _, f := range cy.Fetches {
		for page := 1; page < len(f.Requests); page++ {
			wantPages = append(wantPages, fmt.Sprintf("%s %d", f.Path, page))
		}
		wantFetches = append(wantFetches, fmt.Sprintf("%s %d %v", f.Path, len(f.Requests), f.HasMore))
	}
	wantFetches = wantFetches[:len(wantFetches)-1]
	assert.Equal(t, wantPages, pages)
	assert.Equal(t, wantFetches, fetches)
	assert.True(t, slices.ContainsFunc(cy.Fetches, func(f Fetch) bool { return len(f.Requests) > 1 }), "some fetch read several pages")
	assert.Len(t, cy.Transactions, 70)
}

// TestPollerHookErrorEndsTheCycle: an error of BetweenPages ends the cycle with that very error
// before the next page is asked and leaves the route's state as it was; an error of BetweenFetches
// ends it after the fetch was delivered, before the next request.
func TestPollerHookErrorEndsTheCycle(t *testing.T) {
	errBoom := errors.New("boom")

	t.Run("BetweenPages", func(t *testing.T) {
		srv := newBusySecond(60)
		var failed Delivery
		poller := NewPollerWithOptions(PollerOptions{
			Targets:  []Target{{Handler: srv, APIKey: testKey}},
			PageSize: 25,
			BetweenPages: func(_ context.Context, route string, page int) error {
				if route == "/transactions" && page == 1 {
					return errBoom
				}
				return nil
			},
		})
		defer poller.Close()
		deliveries := 0
		err := poller.Stream(t.Context(), func(d Delivery) error {
			deliveries++
			failed = d
			return nil
		})
		require.Error(t, err)
		assert.Same(t, errBoom, err, "the hook's error, unchanged")
		// Fetch 1 read page 1 only (no hook); fetch 2 read page 1, then the hook failed: no page 2.
		assert.Equal(t, []string{"page=1", "page=1"}, srv.requests)
		assert.Equal(t, "/transactions", failed.Fetch.Path)
		assert.Len(t, failed.Fetch.Requests, 1)
		assert.Empty(t, failed.Transactions)
		assert.True(t, poller.State().Transactions.Equal(busySecond.Add(25*time.Millisecond)), "state of fetch 1 kept: %v", poller.State())
		assert.Equal(t, 4, deliveries, "accounts, beneficiaries, transactions fetch 1, the failed fetch")
	})

	t.Run("BetweenFetches", func(t *testing.T) {
		ds := Generate(GenSpec{Seed: 9, Accounts: 30, Beneficiaries: 5, Transactions: 5})
		_, target := serveMemory(t, ds)
		c := &counting{h: target.Handler}
		poller := NewPollerWithOptions(PollerOptions{
			Targets:        []Target{{Handler: c, APIKey: testKey}},
			PageSize:       10,
			BetweenFetches: func(context.Context, Fetch) error { return errBoom },
		})
		defer poller.Close()
		cy, err := poller.Cycle(t.Context())
		assert.Same(t, errBoom, err)
		require.Len(t, cy.Fetches, 1)
		assert.Len(t, cy.Accounts, 10, "the first accounts fetch was delivered")
		assert.Len(t, cy.Balances, 10)
		assert.Equal(t, int64(11), c.n.Load(), "one page and ten balances, nothing after")
		assert.True(t, poller.State().Accounts.Equal(cy.Accounts[9].CreatedAt), "state moved to the fetch's last account")
		assert.True(t, poller.State().Beneficiaries.IsZero())
	})
}

// TestSwappableRestartBetweenPages: a Target served through a Swappable is restarted (a new handler
// swapped in) between two pages; the next page is served by the new handler; Swap(nil) takes it down.
func TestSwappableRestartBetweenPages(t *testing.T) {
	ds := Generate(GenSpec{Seed: 10, Accounts: 1, Beneficiaries: 1, Transactions: 40, Precision: time.Second, PerSecond: 100})
	p := NewMemoryProvider()
	require.NoError(t, p.Load(ds))
	_, first := serveProvider(t, p)
	sw := NewSwappable(first.Handler)
	var restarted []*counting
	poller := NewPollerWithOptions(PollerOptions{
		Targets:  []Target{{Handler: sw, APIKey: testKey}},
		PageSize: 10,
		BetweenPages: func(context.Context, string, int) error {
			_, next := serveProvider(t, p) // the middleware as it starts: same PSP, fresh process
			c := &counting{h: next.Handler}
			restarted = append(restarted, c)
			if old := sw.Swap(c); old == nil {
				return errors.New("Swap returned no old handler")
			}
			return nil
		},
	})
	defer poller.Close()
	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.Len(t, cy.Transactions, 40)
	require.NotEmpty(t, restarted, "some fetch read several pages")
	for i, c := range restarted {
		assert.Positive(t, c.n.Load(), "restart %d served the next page", i)
	}

	assert.NotNil(t, sw.Swap(nil))
	_, err = poller.Cycle(t.Context())
	assert.ErrorIs(t, err, ErrUnexpectedStatus)
	assert.ErrorContains(t, err, "unexpected status 503")
	assert.Nil(t, sw.Swap(first.Handler), "no handler while down")
	_, err = poller.Cycle(t.Context())
	assert.NoError(t, err)
}
