package pgingest_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/internal/upstreamsim"
	"github.com/pspconnect/pspconnect/models"
)

const testKey = "pgingest-test-key"

// provider serves a transactions feed, and nothing else, through the library.
type provider struct{ txs feed.Feed[models.Transaction] }

func (provider) ListAccounts(context.Context, connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{}, nil
}

func (provider) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil
}

func (p provider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, p.txs, req)
}

func (provider) GetBalances(_ context.Context, id string) (models.Balances, error) {
	return models.Balances{}, connector.NotFound("account %q", id)
}

func handler(t testing.TB, f feed.Feed[models.Transaction]) *httpserver.Handler {
	t.Helper()
	h, err := httpserver.New(provider{txs: f}, httpserver.WithAPIKey(testKey), httpserver.WithLogger(discard()))
	require.NoError(t, err)
	return h
}

// upstream is the simulated PSP shared with ingest's tests (see package upstreamsim): here its
// "updated since" list, keyset-paged ten objects a page, at second precision.
type (
	upstream = upstreamsim.Upstream
	object   = upstreamsim.Object
)

func newUpstream(seed uint64, failP int) *upstream {
	return upstreamsim.New(rand.New(rand.NewPCG(seed, 7)), failP)
}

// source is the ingestion source of u's transactions.
func source(u *upstream) ingest.Source[models.Transaction] {
	return ingest.Since[models.Transaction, object]{
		Fetch: func(_ context.Context, _ string, since time.Time, cursor string) ([]object, string, error) {
			return u.ListUpdatedSince(since, cursor)
		},
		Map:       func(o object) (models.Transaction, error) { return o.Transaction(), nil },
		Time:      func(o object) time.Time { return o.Updated },
		Precision: time.Second,
		// Since starts the next pass a Lookback before the latest time seen in the last one, so a
		// change made during a pass, in the second the keyset cursor is in and behind it, is missed
		// when the PSP's clock moved on by more than the Lookback before the pass ended (ingest's
		// own TestSyncerKeepsTheFeedInStep/since fails now and then for that reason). Each round
		// here moves the PSP's clock by up to 1.8s, so 5s keeps this test about pgingest.
		Lookback: 5 * time.Second,
	}
}

// TestEndToEnd: a simulated PSP, two replicas of the middleware on one database, each with a
// Syncer of the tenant's transactions (through pgingest's elector and sink into a pgfeed) and the
// library's handler over its feed, and Formance's poller polling both replicas (round-robin per
// request) the whole time, while the PSP adds and changes transactions and fails now and then. In
// the middle, the replica that runs the job is killed (its pool closed under it, without releasing
// its lease) and restarted. Every transaction and every final status reaches the poller, and the
// feed holds no more slots than the PSP had versions.
func TestEndToEnd(t *testing.T) {
	schema := newSchema(t)
	tenant := httpserver.DefaultTenant
	u := newUpstream(1, 5)
	u.Add(120)
	versions := 120
	const ttl = time.Second

	replicas := make([]*replica, 2)
	swaps := make([]*connectortest.Swappable, 2)
	start := func(i int, name string) {
		r := newReplica(t, name, newPool(t, schema), ttl)
		r.start(t, ingest.NewJob(tenant, "transactions", source(u), r.sink))
		if swaps[i] == nil {
			swaps[i] = connectortest.NewSwappable(handler(t, r.sink.Feed()))
		} else {
			swaps[i].Swap(handler(t, r.sink.Feed()))
		}
		replicas[i] = r
	}
	start(0, "A")
	start(1, "B")
	poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{PageSize: 25, Targets: []connectortest.Target{
		{Handler: swaps[0], APIKey: testKey}, {Handler: swaps[1], APIKey: testKey},
	}})
	defer poller.Close()
	last := map[string]models.Transaction{}
	delivered := 0
	cycle := func() {
		t.Helper()
		cy, err := poller.Cycle(context.Background())
		require.NoError(t, err)
		for _, tx := range cy.Transactions {
			last[tx.ID] = tx
		}
		delivered += len(cy.Transactions)
	}
	holder := func() int {
		var h string
		err := replicas[0].pool.QueryRow(context.Background(),
			"SELECT holder FROM pspconnect_ingest_leases WHERE job = $1 AND expires_at > now()", jobName(tenant)).Scan(&h)
		if err != nil {
			return -1
		}
		for i, r := range replicas {
			if r.elector.Holder() == h {
				return i
			}
		}
		return -1
	}

	for round := range 40 {
		u.Add(2)
		u.Change(4, 30)
		versions += 6
		if round == 20 { // the replica running the job is killed, and a new process takes its place
			i := max(holder(), 0)
			old := replicas[i]
			start(i, old.name+"'")
			old.pool.Close() // the old process's connections are gone: it cannot release its lease
			old.stop()
			t.Logf("round %d: replica %s killed and restarted as %s", round, old.name, replicas[i].name)
		}
		cycle()
		time.Sleep(20 * time.Millisecond)
	}

	// The PSP settles: wait until the feed holds the final state of every transaction.
	final := u.Final()
	f := replicas[1].sink.Feed()
	require.True(t, waitFor(30*time.Second, func() bool {
		for id, o := range final {
			got, ok, err := f.Get(context.Background(), tenant, id)
			if err != nil || !ok || got.Status != o.Status {
				return false
			}
		}
		return true
	}), "the syncers did not catch up with the PSP")
	for range 3 {
		cycle()
	}

	lost, stale := 0, 0
	for id, o := range final {
		got, ok := last[id]
		switch {
		case !ok:
			if lost++; lost < 4 {
				t.Errorf("%s never reached the poller", id)
			}
		case got.Status != o.Status:
			if stale++; stale < 4 {
				t.Errorf("%s reached the poller last as %s, its final status is %s", id, got.Status, o.Status)
			}
		}
	}
	if lost+stale > 0 {
		t.Errorf("%d of %d transactions lost, %d stale", lost, len(final), stale)
	}
	if n := len(listing(t, f, tenant)); n > versions {
		t.Errorf("the feed holds %d slots for %d versions at the PSP: something was written twice", n, versions)
	} else {
		t.Logf("%d transactions, %d versions at the PSP, %d slots in the feed, %d deliveries to the poller", len(final), versions, n, delivered)
	}
}
