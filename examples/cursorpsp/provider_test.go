package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// setup is an upstream served over HTTP, a client of it, the middleware's provider with its
// Syncers running, and the middleware's handler.
type setup struct {
	up      *Upstream
	client  *Client
	p       *Provider
	handler http.Handler
}

// setupConfig tunes newSetupWith.
type setupConfig struct {
	upstreamLimit rate.Limit // per secret key (default rate.Inf)
	upstreamBurst int
	opts          Options           // the provider's; zero intervals and backoffs get fast test values
	transport     http.RoundTripper // of the client's HTTP client (default http.DefaultTransport)
}

// newSetup serves the upstream without a rate limit and builds the middleware for the tenants, each
// with the API key "key-<tenant>" and the upstream secret key "sk_<tenant>".
func newSetup(t testing.TB, tenants ...string) *setup {
	return newSetupWith(t, setupConfig{}, tenants...)
}

func newSetupWith(t testing.TB, cfg setupConfig, tenants ...string) *setup {
	t.Helper()
	if cfg.upstreamLimit == 0 {
		cfg.upstreamLimit = rate.Inf
	}
	up := NewUpstream(cfg.upstreamLimit, cfg.upstreamBurst)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	secrets, keys := map[string]string{}, map[string]string{}
	for _, tenant := range tenants {
		secrets[tenant] = "sk_" + tenant
		keys["key-"+tenant] = tenant
		up.Dataset("sk_" + tenant)
	}
	httpClient := &http.Client{Transport: cfg.transport, Timeout: 10 * time.Second}
	client := NewClient(srv.URL, httpClient)
	opts := cfg.opts
	if opts.Interval == 0 {
		opts.Interval = 10 * time.Millisecond
	}
	if opts.BackoffMin == 0 {
		opts.BackoffMin, opts.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := NewProvider(client, secrets, opts)
	require.NoError(t, err)
	h, err := httpserver.New(p, httpserver.WithAPIKeys(keys), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { // before srv.Close: cleanups run last in, first out
		cancel()
		require.NoError(t, <-done)
	})
	return &setup{up: up, client: client, p: p, handler: h}
}

func (s *setup) target(tenant string) connectortest.Target {
	return connectortest.Target{Handler: s.handler, APIKey: "key-" + tenant}
}

// sync waits until the feeds hold everything the upstream holds now.
func (s *setup) sync(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.p.WaitSynced(ctx))
}

// syncCycle runs one polling cycle and returns the page requests the poller sent per route.
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

// TestConformanceAtSecondPrecision: the middleware passes the whole conformance suite, full syncs at
// page sizes 1, 7, 25 and 100 included, over dense second-precision data (two to three objects a
// second), with new objects and status changes landing in the second the poller stopped at. Changes
// changes the upstream and waits for the Syncer to bring the changes into the feeds.
func TestConformanceAtSecondPrecision(t *testing.T) {
	s := newSetup(t, "acme")
	ds := s.up.Dataset("sk_acme")
	rng := rand.New(rand.NewPCG(3, 4))
	require.NoError(t, seed(ds, rng, t0, 12, 80, 250))
	s.sync(t)
	clock := ds.Transactions()[len(ds.Transactions())-1].Updated
	changes := func(ctx context.Context) error {
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
		if _, err := ds.AddAccount("late account", clock); err != nil {
			return err
		}
		return s.p.WaitSynced(ctx)
	}
	connectortest.Run(t, s.target("acme"), connectortest.Options{Changes: changes})
}

// TestPollsFollowTheUpstream: the conformance suite compares the middleware with itself; this test
// compares what Formance's poller received with the upstream's own data, round after round of new
// objects and status changes landing in the second of the previous round.
func TestPollsFollowTheUpstream(t *testing.T) {
	s := newSetup(t, "acme")
	ds := s.up.Dataset("sk_acme")
	rng := rand.New(rand.NewPCG(9, 9))
	require.NoError(t, seed(ds, rng, t0, 10, 100, 300))
	s.sync(t)
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
		s.sync(t)
	}
}

// inFormanceRequest marks the context of a request from Formance with its route.
type inFormanceRequest struct{}

// callCounter counts the upstream calls made inside Formance's requests (by route), and the others.
type callCounter struct {
	mu         sync.Mutex
	inFormance map[string]int
	outside    int
}

func (c *callCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if route, ok := req.Context().Value(inFormanceRequest{}).(string); ok {
		c.inFormance[route]++
	} else {
		c.outside++
	}
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (c *callCounter) counts() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.inFormance {
		out[k] = v
	}
	return out, c.outside
}

// markFormanceRequests puts the route of each request into its context, so that an upstream call
// made while serving it carries the mark.
func markFormanceRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.URL.Path
		if strings.HasSuffix(route, "/balances") {
			route = "/accounts/{id}/balances"
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), inFormanceRequest{}, route)))
	})
}

// TestNoUpstreamCallInsideFormanceRequests: while the upstream keeps changing and Formance's
// poller syncs everything, with its mark in the context of each request, no upstream call is made
// inside a request for accounts, beneficiaries or transactions (the Syncer makes them, outside);
// a balances request makes exactly one.
func TestNoUpstreamCallInsideFormanceRequests(t *testing.T) {
	counter := &callCounter{inFormance: map[string]int{}}
	s := newSetupWith(t, setupConfig{transport: counter}, "acme")
	ds := s.up.Dataset("sk_acme")
	rng := rand.New(rand.NewPCG(11, 12))
	require.NoError(t, seed(ds, rng, t0, 15, 400, 600))
	s.sync(t)
	_, syncCalls := counter.counts()
	require.Positive(t, syncCalls, "the Syncer's calls are counted, outside Formance's requests")

	// The PSP stays busy while Formance polls.
	ctx, cancel := context.WithCancel(t.Context())
	var activity sync.WaitGroup
	activity.Go(func() {
		clock := ds.Transactions()[len(ds.Transactions())-1].Updated
		for ctx.Err() == nil {
			_, _ = newTransaction(ds, rng, nil, clock)
			_, _ = ds.AddBeneficiary("busy", clock)
			_ = advance(ds, rng, 2, clock)
			clock++
			time.Sleep(2 * time.Millisecond)
		}
	})
	target := s.target("acme")
	target.Handler = markFormanceRequests(s.handler)
	poller := connectortest.NewPoller(target, 25)
	defer poller.Close()
	requests := map[string]int{}
	received := 0
	for range 3 {
		cy, pages := syncCycle(t, poller)
		received += len(cy.Transactions)
		for route, n := range pages {
			requests[route] += n
		}
		time.Sleep(20 * time.Millisecond) // let the PSP's activity reach the feeds
	}
	cancel()
	activity.Wait()
	assert.Greater(t, received, 600, "the seeded transactions and some of the activity")

	inFormance, outside := counter.counts()
	for _, route := range []string{"/accounts", "/beneficiaries", "/transactions"} {
		assert.Positive(t, requests[route], "Formance requested %s", route)
		assert.Zero(t, inFormance[route], "upstream calls inside Formance's %s requests", route)
	}
	assert.Positive(t, inFormance["/accounts/{id}/balances"], "a balances request calls the upstream")
	assert.Equal(t, s.up.Calls("sk_acme", "/v1/accounts/{id}/balance"), inFormance["/accounts/{id}/balances"],
		"every balance call is made inside a balances request, one each")
	assert.Greater(t, outside, syncCalls, "the Syncer kept pulling while Formance polled")
}

// TestListsAnswerWhileTheUpstreamIsDown: once the feeds are filled, an upstream that answers 503
// to everything changes nothing for Formance's list requests; only balances fail (503, retried).
func TestListsAnswerWhileTheUpstreamIsDown(t *testing.T) {
	s := newSetup(t, "acme")
	require.NoError(t, seed(s.up.Dataset("sk_acme"), rand.New(rand.NewPCG(1, 3)), t0, 5, 120, 200))
	s.sync(t)
	s.up.FailNext(1 << 30)

	srv := httptest.NewServer(s.handler)
	defer srv.Close()
	for _, path := range []string{"/accounts", "/beneficiaries", "/transactions"} {
		var items []map[string]any
		status := getFrom(t, srv, path+"?pageSize=1000", &items)
		assert.Equal(t, http.StatusOK, status, path)
		assert.NotEmpty(t, items, path)
	}
	assert.Equal(t, http.StatusServiceUnavailable, getFrom(t, srv, "/accounts/acct_000001/balances", nil))
	assert.Positive(t, s.up.Failed(), "the Syncer kept trying")
}

// getFrom calls the middleware with tenant acme's API key and decodes a 200 answer into out.
func getFrom(t *testing.T, srv *httptest.Server, path string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer key-acme")
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if res.StatusCode == http.StatusOK && out != nil {
		require.NoError(t, json.Unmarshal(body, out), "%s", body)
	}
	return res.StatusCode
}

// TestEventsStartFromTheOldest: with small upstream pages, the first pulls walk back through many
// pages of events to the oldest one, then read forward: every transaction arrives in its latest
// state, and the walk costs one call per page each way.
func TestEventsStartFromTheOldest(t *testing.T) {
	s := newSetupWith(t, setupConfig{opts: Options{PageSize: 10}}, "acme")
	ds := s.up.Dataset("sk_acme")
	require.NoError(t, seed(ds, rand.New(rand.NewPCG(8, 1)), t0, 2, 0, 95))
	events := len(ds.Events())
	require.Greater(t, events, 100)
	s.sync(t)
	pages := (events + 9) / 10
	assert.LessOrEqual(t, s.up.Calls("sk_acme", "/v1/events"), 2*pages+2, "%d events", events)

	poller := connectortest.NewPoller(s.target("acme"), 100)
	defer poller.Close()
	cy, _ := syncCycle(t, poller)
	latest := map[string]models.TransactionStatus{}
	for _, tx := range cy.Transactions {
		latest[tx.ID] = tx.Status
	}
	want := map[string]models.TransactionStatus{}
	for _, tx := range ds.Transactions() {
		want[tx.ID] = transactionStatus(tx.Status)
	}
	assert.Equal(t, want, latest)
}

// tiedTransactions passes the upstream's transactions listing through, with tie-breaking by rank
// and one upstream call per page: the approach this template does not take.
type tiedTransactions struct {
	*Provider
	cursors *pagination.CursorCache
}

func (p tiedTransactions) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	t, err := p.tenantOf(ctx)
	if err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	items, err := pagination.FetchByCursor(ctx, p.cursors, "tied", req.Query(),
		func(ctx context.Context, q pagination.CursorQuery) ([]models.Transaction, string, error) {
			res, err := p.client.Transactions(ctx, t.secretKey, q.PageSize, unixSeconds(q.From), q.Cursor)
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

// TestTieBreakingCannotFollowChanges is why transactions are mirrored rather than passed through:
// a and b are updated in second T and delivered; then c is created in T and a changes within T. The
// upstream now lists b, c, a, so rank tie-breaking serves c at T+1ns, the time Formance has already
// reached (b's), and c is never delivered. The feed delivers c and the new state of a.
func TestTieBreakingCannotFollowChanges(t *testing.T) {
	s := newSetup(t, "acme")
	ds := s.up.Dataset("sk_acme")
	a, err := ds.AddTransaction(UpstreamTransaction{Created: t0, Amount: 100, Currency: "eur", Type: "payin", Status: "pending"})
	require.NoError(t, err)
	_, err = ds.AddTransaction(UpstreamTransaction{Created: t0, Amount: 200, Currency: "eur", Type: "payin", Status: "pending"})
	require.NoError(t, err)
	s.sync(t)

	tied, err := httpserver.New(tiedTransactions{s.p, pagination.NewCursorCache(0, time.Hour)},
		httpserver.WithAPIKeys(map[string]string{"key-acme": "acme"}), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
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
	s.sync(t)

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

// TestTenantsAreIsolated: 20 tenants, each with its own upstream account and Syncer, each receive
// their own data completely, and only theirs.
func TestTenantsAreIsolated(t *testing.T) {
	var tenants []string
	for i := range 20 {
		tenants = append(tenants, fmt.Sprintf("t%02d", i))
	}
	// 60 jobs: a longer interval than the other tests' keeps them from busying the machine.
	s := newSetupWith(t, setupConfig{opts: Options{Interval: 50 * time.Millisecond}}, tenants...)
	for i, tenant := range tenants {
		require.NoError(t, seed(s.up.Dataset("sk_"+tenant), rand.New(rand.NewPCG(uint64(i), 1)), t0, 1, 30+i, 10+i))
	}
	s.sync(t)
	for i, tenant := range tenants {
		poller := connectortest.NewPoller(s.target(tenant), 7)
		cy, _ := syncCycle(t, poller)
		poller.Close()
		require.Len(t, cy.Beneficiaries, 30+i, tenant)
		for k, b := range cy.Beneficiaries { // the tenant's own beneficiaries, in order
			require.Equal(t, fmt.Sprintf("ba_%06d", k+1), b.ID, tenant)
		}
		latest := map[string]models.TransactionStatus{}
		for _, tx := range cy.Transactions {
			latest[tx.ID] = tx.Status
		}
		want := map[string]models.TransactionStatus{}
		for _, tx := range s.up.Dataset("sk_" + tenant).Transactions() {
			want[tx.ID] = transactionStatus(tx.Status)
		}
		require.Equal(t, want, latest, tenant)
	}
}

// TestUpstreamRateLimit: paced below the upstream's limit, the Syncer is never refused; paced above
// it, it gets 429s and waits the upstream's Retry-After (1 s) before it retries, so it is refused a
// few times, not hundreds, and still catches up; a balances request that is refused passes the 429
// and its Retry-After on to Formance.
func TestUpstreamRateLimit(t *testing.T) {
	seedAll := func(s *setup, beneficiaries, transactions int) {
		require.NoError(t, seed(s.up.Dataset("sk_acme"), rand.New(rand.NewPCG(1, 1)), t0, 5, beneficiaries, transactions))
	}
	t.Run("respected", func(t *testing.T) {
		s := newSetupWith(t, setupConfig{upstreamLimit: 60, upstreamBurst: 10, opts: Options{Rate: 50, Burst: 5}}, "acme")
		seedAll(s, 450, 400)
		s.sync(t)
		assert.Zero(t, s.up.Refused())
		assert.Greater(t, s.up.Calls("sk_acme", "/v1/beneficiaries")+s.up.Calls("sk_acme", "/v1/events"), 10, "more calls than the burst")
	})
	t.Run("honours Retry-After", func(t *testing.T) {
		// The backoff alone (5 ms doubling to 50 ms) would retry some 60 times a second.
		s := newSetupWith(t, setupConfig{upstreamLimit: 20, upstreamBurst: 3}, "acme")
		seedAll(s, 150, 100)
		start := time.Now()
		s.sync(t)
		refused := s.up.Refused()
		assert.Positive(t, refused)
		assert.LessOrEqual(t, float64(refused), 3*(time.Since(start).Seconds()+1)*1.5,
			"about one 429 per job and second at most: each waits the Retry-After")
		poller := connectortest.NewPoller(s.target("acme"), 100)
		defer poller.Close()
		cy, err := poller.Cycle(t.Context())
		if err == nil { // the balances may be refused; the lists are not
			assert.Len(t, cy.Beneficiaries, 150)
		}
	})
	t.Run("balances pass the 429 on", func(t *testing.T) {
		s := newSetupWith(t, setupConfig{upstreamLimit: 0.001, upstreamBurst: 1}, "acme")
		seedAll(s, 10, 10)
		require.Eventually(t, func() bool { return s.up.Refused() > 0 }, 5*time.Second, time.Millisecond, "the Syncer spent the burst")
		srv := httptest.NewServer(s.handler)
		defer srv.Close()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/accounts/acct_000001/balances", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer key-acme")
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.Equal(t, "1", res.Header.Get("Retry-After"))
	})
}

// TestSyncerRidesOutUpstreamFailures: 503s from the upstream delay the sync, retried with backoff
// from the same checkpoint, and lose or double nothing.
func TestSyncerRidesOutUpstreamFailures(t *testing.T) {
	s := newSetup(t, "acme")
	ds := s.up.Dataset("sk_acme")
	require.NoError(t, seed(ds, rand.New(rand.NewPCG(4, 4)), t0, 8, 250, 500))
	s.up.FailNext(12)
	s.sync(t)
	assert.Equal(t, 12, s.up.Failed())

	poller := connectortest.NewPoller(s.target("acme"), 25)
	defer poller.Close()
	cy, _ := syncCycle(t, poller)
	assert.Len(t, cy.Accounts, 8)
	assert.Len(t, cy.Beneficiaries, 250)
	latest := map[string]models.TransactionStatus{}
	for _, tx := range cy.Transactions {
		latest[tx.ID] = tx.Status
	}
	require.Len(t, latest, 500)
	for _, tx := range ds.Transactions() {
		assert.Equal(t, transactionStatus(tx.Status), latest[tx.ID], tx.ID)
	}
}

// TestRunStartsAndStopsTheSyncer: the command's run serves the mirrored data and, when its context
// ends, stops the server and the Syncers and returns.
func TestRunStartsAndStopsTheSyncer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, "run-test-key", slog.New(slog.DiscardHandler)) }()

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/accounts?pageSize=100", nil)
		require.NoError(c, err)
		req.Header.Set("Authorization", "Bearer run-test-key")
		res, err := http.DefaultClient.Do(req)
		require.NoError(c, err)
		defer res.Body.Close()
		var accounts []models.Account
		require.NoError(c, json.NewDecoder(res.Body).Decode(&accounts))
		assert.Len(c, accounts, 40, "the seeded accounts, mirrored")
	}, 20*time.Second, 50*time.Millisecond)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
