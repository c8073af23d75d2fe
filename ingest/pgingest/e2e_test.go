package pgingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/ingest"
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

// upstream is a simulated PSP with an "updated since" list at second precision, keyset-paged ten
// objects a page, whose transactions change at random, and whose API fails now and then with a 429
// (with Retry-After) or a 503. (A smaller copy of ingest's test upstream, which lives in package
// ingest_test.)
type upstream struct {
	mu      sync.Mutex
	rng     *rand.Rand
	clock   time.Time
	objects map[string]object
	order   []string
	failP   int
}

type object struct {
	ID               string
	Created, Updated time.Time
	Status           models.TransactionStatus
	Seq              int // creation sequence
}

func newUpstream(seed uint64, failP int) *upstream {
	return &upstream{rng: rand.New(rand.NewPCG(seed, 7)), clock: t0, objects: map[string]object{}, failP: failP}
}

func (u *upstream) now() time.Time { return u.clock.Truncate(time.Second) }
func (u *upstream) tick()          { u.clock = u.clock.Add(time.Duration(u.rng.IntN(300)) * time.Millisecond) }

// Add creates n objects; Change changes n random objects among the last recent ones created.
func (u *upstream) Add(n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range n {
		u.tick()
		o := object{ID: fmt.Sprintf("tx_%05d", len(u.order)), Created: u.now(), Updated: u.now(),
			Status: models.TransactionStatusPending, Seq: len(u.order)}
		u.objects[o.ID] = o
		u.order = append(u.order, o.ID)
	}
}

var statuses = []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusFailed,
	models.TransactionStatusRefunded, models.TransactionStatusDispute}

func (u *upstream) Change(n, recent int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range n {
		u.tick()
		lo := max(len(u.order)-recent, 0)
		o := u.objects[u.order[lo+u.rng.IntN(len(u.order)-lo)]]
		o.Status = statuses[u.rng.IntN(len(statuses))]
		o.Updated = u.now()
		u.objects[o.ID] = o
	}
}

func (u *upstream) Final() map[string]object {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]object, len(u.objects))
	for k, v := range u.objects {
		out[k] = v
	}
	return out
}

// ListUpdatedSince returns the objects updated at or after since (to the second), oldest update
// first, ten a page after the keyset cursor.
func (u *upstream) ListUpdatedSince(since time.Time, cursor string) ([]object, string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failP > 0 && u.rng.IntN(u.failP) == 0 {
		if u.rng.IntN(2) == 0 {
			return nil, "", connector.RateLimited(20*time.Millisecond, "upstream: 429 Too Many Requests")
		}
		return nil, "", connector.Unavailable(nil, "upstream: 503 Service Unavailable")
	}
	var all []object
	for _, o := range u.objects {
		if !o.Updated.Before(since.Truncate(time.Second)) {
			all = append(all, o)
		}
	}
	slices.SortFunc(all, func(a, b object) int {
		if c := a.Updated.Compare(b.Updated); c != 0 {
			return c
		}
		return a.Seq - b.Seq
	})
	start := 0
	if cursor != "" {
		var at int64
		var seq int
		if _, err := fmt.Sscanf(cursor, "%d/%d", &at, &seq); err != nil {
			return nil, "", err
		}
		for start < len(all) && (all[start].Updated.Unix() < at || all[start].Updated.Unix() == at && all[start].Seq <= seq) {
			start++
		}
	}
	end := min(start+10, len(all))
	page, next := all[start:end], ""
	if end < len(all) {
		last := page[len(page)-1]
		next = fmt.Sprintf("%d/%d", last.Updated.Unix(), last.Seq)
	}
	return page, next, nil
}

func (u *upstream) source() ingest.Source[models.Transaction] {
	return ingest.Since[models.Transaction, object]{
		Fetch: func(_ context.Context, _ string, since time.Time, cursor string) ([]object, string, error) {
			return u.ListUpdatedSince(since, cursor)
		},
		Map: func(o object) (models.Transaction, error) {
			t := tx(o.ID, o.Updated, o.Status)
			t.CreatedAt, t.Amount = o.Created, models.AmountFromInt64(int64(100+o.Seq))
			return t, nil
		},
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
		r.start(t, ingest.NewJob(tenant, "transactions", u.source(), r.sink))
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
