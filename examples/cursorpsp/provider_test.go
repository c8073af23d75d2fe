package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

const t0 = int64(1_704_067_200) // 2024-01-01T00:00:00Z

// setup is an upstream served over HTTP, a client of it and the middleware's handler.
type setup struct {
	up      *Upstream
	client  *Client
	cursors *pagination.CursorCache
	p       *Provider
	handler http.Handler
}

// newSetup serves the upstream (limit upstreamLimit a second per key) and builds the middleware for
// the tenants, each with the API key "key-<tenant>" and the upstream secret key "sk_<tenant>".
func newSetup(t testing.TB, upstreamLimit, clientLimit rate.Limit, burst int, cacheEntries int, tenants ...string) *setup {
	t.Helper()
	up := NewUpstream(upstreamLimit, burst)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	secrets, keys := map[string]string{}, map[string]string{}
	for _, tenant := range tenants {
		secrets[tenant] = "sk_" + tenant
		keys["key-"+tenant] = tenant
		up.Dataset("sk_" + tenant)
	}
	client := NewClient(srv.URL, srv.Client(), clientLimit, burst)
	cursors := pagination.NewCursorCache(cacheEntries, time.Hour)
	p, err := NewProvider(client, secrets, cursors)
	require.NoError(t, err)
	h, err := httpserver.New(p, httpserver.WithAPIKeys(keys), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	return &setup{up: up, client: client, cursors: cursors, p: p, handler: h}
}

func (s *setup) target(tenant string) connectortest.Target {
	return connectortest.Target{Handler: s.handler, APIKey: "key-" + tenant}
}

// TestConformanceAtSecondPrecision: the middleware passes the whole conformance suite, full syncs at
// page sizes 1, 7, 25 and 100 included, over dense second-precision data (two to three objects a
// second), with new objects and status changes landing in the second the poller stopped at.
func TestConformanceAtSecondPrecision(t *testing.T) {
	s := newSetup(t, rate.Inf, rate.Inf, 1, 0, "acme")
	ds := s.up.Dataset("sk_acme")
	rng := rand.New(rand.NewPCG(3, 4))
	require.NoError(t, seed(ds, rng, t0, 12, 80, 250))
	clock := ds.Transactions()[len(ds.Transactions())-1].Updated
	changes := func(context.Context) error {
		// Same second as the latest changes and objects, then the next one.
		for i := range 3 {
			if _, err := ds.AddBeneficiary(fmt.Sprintf("late %d", i), clock); err != nil {
				return err
			}
			if _, err := newTransaction(ds, rng, nil, clock); err != nil {
				return err
			}
		}
		if err := advance(ds, rng, 6, clock); err != nil {
			return err
		}
		clock++
		_, err := ds.AddAccount("late account", clock)
		return err
	}
	connectortest.Run(t, s.target("acme"), connectortest.Options{Changes: changes})
}

// TestPollsFollowTheUpstream: the conformance suite compares the middleware with itself; this test
// compares what Formance's poller received with the upstream's own data, round after round of new
// objects and status changes landing in the second of the previous round.
func TestPollsFollowTheUpstream(t *testing.T) {
	s := newSetup(t, rate.Inf, rate.Inf, 1, 0, "acme")
	ds := s.up.Dataset("sk_acme")
	rng := rand.New(rand.NewPCG(9, 9))
	require.NoError(t, seed(ds, rng, t0, 10, 100, 300))
	clock := ds.Transactions()[len(ds.Transactions())-1].Updated
	poller := connectortest.NewPoller(s.target("acme"), 7)
	defer poller.Close()
	statuses := map[string]models.TransactionStatus{}
	beneficiaries := map[string]bool{}
	for round := range 8 {
		cy, _ := syncCycle(t, poller)
		for _, tx := range cy.Transactions {
			statuses[tx.ID] = tx.Status
		}
		for _, b := range cy.Beneficiaries {
			require.False(t, beneficiaries[b.ID], "round %d: %s twice", round, b.ID)
			beneficiaries[b.ID] = true
		}
		want := map[string]models.TransactionStatus{}
		for _, tx := range ds.Transactions() {
			want[tx.ID] = transactionStatus(tx.Status)
		}
		require.Equal(t, want, statuses, "round %d: every transaction in its latest state", round)
		require.Len(t, beneficiaries, len(ds.beneficiaries), "round %d", round)

		// The PSP's activity in the second the poll ended in, then in the next one.
		for range 1 + rng.IntN(4) {
			_, err := newTransaction(ds, rng, nil, clock)
			require.NoError(t, err)
			_, err = ds.AddBeneficiary("new", clock)
			require.NoError(t, err)
		}
		require.NoError(t, advance(ds, rng, 1+rng.IntN(5), clock))
		if round%2 == 1 {
			clock++
		}
	}
}

// syncCounts runs one polling cycle and returns the page requests the poller sent per route.
func syncCycle(t *testing.T, poller *connectortest.Poller) (connectortest.Cycle, map[string]int) {
	t.Helper()
	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	pages := map[string]int{}
	for _, f := range cy.Fetches {
		pages[f.Path] += len(f.Requests)
	}
	return cy, pages
}

// TestOneUpstreamCallPerPageRequest: on Formance's sequential polls each page request for accounts
// or beneficiaries costs exactly one upstream call (page 1 from the start of a second, deeper pages
// from remembered cursors), and each balances request one call.
func TestOneUpstreamCallPerPageRequest(t *testing.T) {
	s := newSetup(t, rate.Inf, rate.Inf, 1, 0, "acme")
	ds := s.up.Dataset("sk_acme")
	rng := rand.New(rand.NewPCG(5, 6))
	require.NoError(t, seed(ds, rng, t0, 60, 2000, 50))
	poller := connectortest.NewPoller(s.target("acme"), 25)
	defer poller.Close()

	cy, pages := syncCycle(t, poller)
	assert.Len(t, cy.Beneficiaries, 2000)
	assert.Len(t, cy.Accounts, 60)
	assert.Greater(t, pages["/beneficiaries"], 80, "the sync took many page requests")
	assert.Equal(t, pages["/beneficiaries"], s.up.Calls("sk_acme", "/v1/beneficiaries"))
	assert.Equal(t, pages["/accounts"], s.up.Calls("sk_acme", "/v1/accounts"))
	assert.Equal(t, 60, s.up.Calls("sk_acme", "/v1/accounts/{id}/balance"))

	// New beneficiaries in the last second and later: the next poll costs one call per page too.
	last := ds.beneficiaries[len(ds.beneficiaries)-1].Created
	for i := range 70 {
		_, err := ds.AddBeneficiary("new", last+int64(i/3))
		require.NoError(t, err)
	}
	before := s.up.Calls("sk_acme", "/v1/beneficiaries")
	cy, pages = syncCycle(t, poller)
	assert.Len(t, cy.Beneficiaries, 70, "every new beneficiary, nothing twice")
	assert.Equal(t, pages["/beneficiaries"], s.up.Calls("sk_acme", "/v1/beneficiaries")-before)
}

// lossyProvider passes the upstream's beneficiaries through without tie-breaking.
type lossyProvider struct{ *Provider }

func (p lossyProvider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	_, key, err := p.tenant(ctx)
	if err != nil {
		return connector.Page[models.Beneficiary]{}, err
	}
	// The provider's own upstream fetch, without WithCursorTies.
	items, err := pagination.FetchByCursor(ctx, p.cursors, "lossy", req, p.fetchBeneficiaries(key))
	return connector.Page[models.Beneficiary]{Items: items}, err
}

// TestPassThroughWithoutTiesLosesBeneficiaries shows what WithCursorTies prevents: the same
// upstream, passed through with its second-precision times, loses beneficiaries under Formance's
// poller; with tie-breaking every one arrives.
func TestPassThroughWithoutTiesLosesBeneficiaries(t *testing.T) {
	s := newSetup(t, rate.Inf, rate.Inf, 1, 0, "acme")
	require.NoError(t, seed(s.up.Dataset("sk_acme"), rand.New(rand.NewPCG(7, 8)), t0, 1, 500, 0))
	h, err := httpserver.New(lossyProvider{s.p}, httpserver.WithAPIKeys(map[string]string{"key-acme": "acme"}),
		httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)

	lossy := connectortest.NewPoller(connectortest.Target{Handler: h, APIKey: "key-acme"}, 25)
	defer lossy.Close()
	cy, _ := syncCycle(t, lossy)
	assert.Less(t, len(cy.Beneficiaries), 500, "objects sharing a second across a fetch's cut are skipped")

	poller := connectortest.NewPoller(s.target("acme"), 25)
	defer poller.Close()
	cy, _ = syncCycle(t, poller)
	assert.Len(t, cy.Beneficiaries, 500)
}

// tiedTransactions passes the upstream's transactions through with tie-breaking by rank, the way
// accounts are served: the approach Provider does not take for transactions.
type tiedTransactions struct{ *Provider }

func (p tiedTransactions) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	_, key, err := p.tenant(ctx)
	if err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	items, err := pagination.FetchByCursor(ctx, p.cursors, "tied", req,
		func(ctx context.Context, q pagination.Query) ([]models.Transaction, string, error) {
			res, err := p.client.Transactions(ctx, key, q.PageSize, unixSeconds(q.From), q.Cursor)
			if err != nil {
				return nil, "", err
			}
			out := make([]models.Transaction, len(res.Data))
			for i, t := range res.Data {
				out[i] = toTransaction(t)
			}
			next := ""
			if res.HasMore && res.NextPage != nil {
				next = *res.NextPage
			}
			return out, next, nil
		}, pagination.WithCursorTies(pagination.CursorTies[models.Transaction]{
			Precision: time.Second,
			Time:      func(t models.Transaction) time.Time { return t.UpdatedAt },
			WithTime:  func(tx models.Transaction, t time.Time) models.Transaction { tx.UpdatedAt = t; return tx },
		}))
	return connector.Page[models.Transaction]{Items: items}, err
}

// TestTieBreakingCannotFollowChanges is the reason transactions are mirrored: a and b are updated in
// second T and delivered; then c is created in T and a changes within T. The upstream now lists b,
// c, a, so rank tie-breaking serves c at T+1ns, the time Formance has already reached (b's), and c
// is never delivered. The mirror delivers c and the new state of a.
func TestTieBreakingCannotFollowChanges(t *testing.T) {
	s := newSetup(t, rate.Inf, rate.Inf, 1, 0, "acme")
	ds := s.up.Dataset("sk_acme")
	a, err := ds.AddTransaction(UpstreamTransaction{Created: t0, Amount: 100, Currency: "eur", Type: "payin", Status: "pending"})
	require.NoError(t, err)
	_, err = ds.AddTransaction(UpstreamTransaction{Created: t0, Amount: 200, Currency: "eur", Type: "payin", Status: "pending"})
	require.NoError(t, err)

	tied, err := httpserver.New(tiedTransactions{s.p}, httpserver.WithAPIKeys(map[string]string{"key-acme": "acme"}),
		httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	pollers := map[string]*connectortest.Poller{
		"tied":   connectortest.NewPoller(connectortest.Target{Handler: tied, APIKey: "key-acme"}, 2),
		"mirror": connectortest.NewPoller(s.target("acme"), 2),
	}
	for _, p := range pollers {
		defer p.Close()
		cy, _ := syncCycle(t, p)
		require.Len(t, cy.Transactions, 2)
	}

	c, err := ds.AddTransaction(UpstreamTransaction{Created: t0, Amount: 300, Currency: "eur", Type: "payin", Status: "pending"})
	require.NoError(t, err)
	_, err = ds.SetStatus(a.ID, "succeeded", t0)
	require.NoError(t, err)

	txIDs := func(txs []models.Transaction) []string {
		var out []string
		for _, tx := range txs {
			out = append(out, tx.ID+" "+string(tx.Status))
		}
		return out
	}
	cy, _ := syncCycle(t, pollers["tied"])
	assert.Equal(t, []string{a.ID + " SUCCEEDED"}, txIDs(cy.Transactions), "c is lost")
	cy, _ = syncCycle(t, pollers["mirror"])
	assert.ElementsMatch(t, []string{c.ID + " PENDING", a.ID + " SUCCEEDED"}, txIDs(cy.Transactions))
}

// TestCursorCacheStaysBoundedWithManyTenants: one cache of 40 entries serves 60 tenants, each syncing
// a few hundred beneficiaries page by page: every tenant receives its own data completely, and the
// cache never holds more than its 40 entries.
func TestCursorCacheStaysBoundedWithManyTenants(t *testing.T) {
	var tenants []string
	for i := range 60 {
		tenants = append(tenants, fmt.Sprintf("t%02d", i))
	}
	s := newSetup(t, rate.Inf, rate.Inf, 1, 40, tenants...)
	for i, tenant := range tenants {
		require.NoError(t, seed(s.up.Dataset("sk_"+tenant), rand.New(rand.NewPCG(uint64(i), 1)), t0, 1, 100+i, 0))
	}
	for i, tenant := range tenants {
		poller := connectortest.NewPoller(s.target(tenant), 7)
		cy, _ := syncCycle(t, poller)
		poller.Close()
		require.Len(t, cy.Beneficiaries, 100+i, tenant)
		for k, b := range cy.Beneficiaries { // each tenant's own beneficiaries, in order
			require.Equal(t, fmt.Sprintf("ba_%06d", k+1), b.ID, tenant)
		}
		require.LessOrEqual(t, s.cursors.Len(), 40)
	}
	assert.Equal(t, 40, s.cursors.Len())
}

// TestUpstreamRateLimit: a client that respects the upstream's limit is never refused while Formance
// syncs; one that ignores it gets the upstream's 429, which the middleware passes on to Formance as
// a 429 with Retry-After.
func TestUpstreamRateLimit(t *testing.T) {
	t.Run("respected", func(t *testing.T) {
		s := newSetup(t, 400, 300, 10, 0, "acme")
		require.NoError(t, seed(s.up.Dataset("sk_acme"), rand.New(rand.NewPCG(1, 1)), t0, 5, 150, 100))
		poller := connectortest.NewPoller(s.target("acme"), 10)
		defer poller.Close()
		cy, _ := syncCycle(t, poller)
		assert.Len(t, cy.Beneficiaries, 150)
		assert.Equal(t, 0, s.up.Refused())
	})
	t.Run("ignored", func(t *testing.T) {
		s := newSetup(t, 0.001, rate.Inf, 3, 0, "acme")
		require.NoError(t, seed(s.up.Dataset("sk_acme"), rand.New(rand.NewPCG(1, 1)), t0, 5, 150, 100))
		srv := httptest.NewServer(s.handler)
		defer srv.Close()
		var last *http.Response
		for range 4 {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/beneficiaries?pageSize=10", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer key-acme")
			res, err := srv.Client().Do(req)
			require.NoError(t, err)
			res.Body.Close()
			last = res
		}
		assert.Equal(t, http.StatusTooManyRequests, last.StatusCode)
		assert.Equal(t, "1", last.Header.Get("Retry-After"))
		assert.Equal(t, 1, s.up.Refused())
	})
}
