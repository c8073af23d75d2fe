// Package feedtest checks a feed.Feed implementation against the rules of package feed: unique
// served times equal to the PSP's when they can be, a horizon that keeps every new slot after what
// may have been read, positions that do not shift when an item changes while a poller pages,
// changes in place for accounts, all-or-nothing Puts, Load, Prune behind every poller, isolated
// tenants, the same answers from every handle on one store (replicas, restarts), and, end to end,
// Formance's poller losing nothing through the library's handler while the data changes between
// its pages. Call Run from
// a test of your feed:
//
//	func TestMyFeed(t *testing.T) {
//		feedtest.Run(t, func(t *testing.T, opts ...feed.Option) feedtest.Store {
//			db := newIsolatedDatabase(t)
//			return feedtest.Store{
//				Transactions: func() feed.Feed[models.Transaction] { return myfeed.Transactions(db, opts...) },
//				Accounts:     func() feed.Feed[models.Account] { return myfeed.Accounts(db, opts...) },
//			}
//		})
//	}
//
// It is for tests only.
package feedtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/internal/feedlist"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Store opens handles on one empty store that no other check uses. Each call of a function returns
// a new handle on the same data: a new process on the same database (a restart, or a replica) for
// a shared store; the same feed again for a memory one.
type Store struct {
	Transactions func() feed.Feed[models.Transaction]
	Accounts     func() feed.Feed[models.Account]
	// Shared reports that handles share the store across processes (a database): the checks of
	// restarts and replicas run only then.
	Shared bool
}

// Opener returns a new empty Store whose feeds are built with opts (a clock, a retention).
type Opener func(t *testing.T, opts ...feed.Option) Store

// Run runs every check as a subtest of t.
func Run(t *testing.T, open Opener) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"ServedTimeIsThePSPTimeWhenUnique", checkServedTimeIsPSPTime},
		{"TiesGetUniqueTimesInArrivalOrder", checkTies},
		{"PagesTileTheListing", checkPagesTile},
		{"FromIsInclusiveAndDescendingWorks", checkFromAndDescending},
		{"UnchangedPutIsANoOp", checkUnchangedPut},
		{"ChangeMovesForwardAndKeepsPositions", checkChangeKeepsPositions},
		{"ChangeOfAnUnreadItemLeavesNoSlot", checkUnreadChange},
		{"LateItemIsServedAfterTheHorizon", checkLateItem},
		{"UpdatedAtIsNeverBeforeCreatedAt", checkUpdatedAtFloor},
		{"AccountsChangeInPlace", checkAccountsInPlace},
		{"PutIsAllOrNothing", checkAllOrNothing},
		{"LoadServesLikePut", checkLoad},
		{"GetReturnsTheServedVersion", checkGet},
		{"TenantsAreIsolated", checkTenants},
		{"PruneWaitsForRetentionAndPollers", checkPrune},
		{"ConcurrentWritersNeverPlaceBehindAReader", checkConcurrent},
		{"HandlesShareTheHorizon", checkHandlesShareTheHorizon},
		{"PollerLosesNothing", checkPollerLosesNothing},
		{"EncodedPagesFlagTheRowsToLink", checkEncodedFlags},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func tx(id string, at time.Time, status models.TransactionStatus) models.Transaction {
	return feedlist.Tx(id, at, status)
}

func query(page, size int, from time.Time) pagination.Query { return feedlist.Query(page, size, from) }

func put[T any](t *testing.T, f feed.Feed[T], tenant string, items ...T) {
	t.Helper()
	if err := f.Put(context.Background(), tenant, items...); err != nil {
		t.Fatalf("Put(%q, %d items): %v", tenant, len(items), err)
	}
}

func page[T any](t *testing.T, f feed.Feed[T], tenant string, q pagination.Query) []T {
	t.Helper()
	items, err := f.Page(context.Background(), tenant, q)
	if err != nil {
		t.Fatalf("Page(%q, page %d, pageSize %d, from %s): %v", tenant, q.Page, q.PageSize, q.From.Format(time.RFC3339Nano), err)
	}
	return items
}

// all returns the whole listing of tenant (which raises the horizon).
func all(t *testing.T, f feed.Feed[models.Transaction], tenant string) []models.Transaction {
	t.Helper()
	out, err := feedlist.All(context.Background(), f, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(txs []models.Transaction) []string {
	out := make([]string, len(txs))
	for i, t := range txs {
		out[i] = t.ID
	}
	return out
}

func describe(txs []models.Transaction) string {
	s := ""
	for i, t := range txs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s@%s/%s", t.ID, t.UpdatedAt.Format("15:04:05.000000000"), t.Status)
	}
	return s
}

// checkSorted fails when served times are not strictly increasing.
func checkSorted(t *testing.T, what string, txs []models.Transaction) {
	t.Helper()
	for i := 1; i < len(txs); i++ {
		if !txs[i].UpdatedAt.After(txs[i-1].UpdatedAt) {
			t.Fatalf("%s: served times are not unique and increasing at %d: %s", what, i, describe(txs))
		}
	}
}

func checkServedTimeIsPSPTime(t *testing.T, open Opener) {
	f := open(t).Transactions()
	in := []models.Transaction{
		tx("a", t0.Add(1500*time.Millisecond), models.TransactionStatusPending),
		tx("b", t0.Add(3*time.Second), models.TransactionStatusPending),
		tx("c", t0.Add(2*time.Second+7), models.TransactionStatusSucceeded),
	}
	put(t, f, "t1", in...)
	got := all(t, f, "t1")
	if want := []string{"a", "c", "b"}; !slices.Equal(ids(got), want) {
		t.Fatalf("listing %v, want %v sorted by time", ids(got), want)
	}
	for _, g := range got {
		for _, w := range in {
			if g.ID == w.ID && !g.UpdatedAt.Equal(w.UpdatedAt) {
				t.Errorf("%s: served at %s, want its own unique time %s", g.ID, g.UpdatedAt.Format(time.RFC3339Nano), w.UpdatedAt.Format(time.RFC3339Nano))
			}
			if g.ID == w.ID && g.UpdatedAt.Location() != time.UTC {
				t.Errorf("%s: served time in %v, want UTC", g.ID, g.UpdatedAt.Location())
			}
		}
	}
}

func checkTies(t *testing.T, open Opener) {
	f := open(t).Transactions()
	var in []models.Transaction
	for i := range 50 {
		in = append(in, tx(fmt.Sprintf("tx_%02d", 49-i), t0, models.TransactionStatusPending)) // ids against arrival order
	}
	put(t, f, "t1", in...)
	got := all(t, f, "t1")
	checkSorted(t, "50 items of one timestamp", got)
	for i, g := range got {
		if g.ID != in[i].ID {
			t.Fatalf("item %d is %s, want %s: ties are in arrival order", i, g.ID, in[i].ID)
		}
		if d := g.UpdatedAt.Sub(t0); d != time.Duration(i) {
			t.Errorf("%s served %v after the shared timestamp, want %dns (the first free nanosecond)", g.ID, d, i)
		}
	}
}

func checkPagesTile(t *testing.T, open Opener) {
	f := open(t).Transactions()
	var in []models.Transaction
	for i := range 37 {
		in = append(in, tx(fmt.Sprintf("tx_%02d", i), t0.Add(time.Duration(i/10)*time.Second), models.TransactionStatusPending))
	}
	put(t, f, "t1", in...)
	want := ids(all(t, f, "t1"))
	for _, size := range []int{1, 7, 25, 100} {
		var got []string
		for p := 1; ; p++ {
			items := page(t, f, "t1", query(p, size, time.Time{}))
			if len(items) > size {
				t.Fatalf("pageSize %d: page %d has %d items", size, p, len(items))
			}
			got = append(got, ids(items)...)
			if len(items) < size {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("pageSize %d: pages give %v, want %v", size, got, want)
		}
	}
}

func checkFromAndDescending(t *testing.T, open Opener) {
	f := open(t).Transactions()
	put(t, f, "t1",
		tx("a", t0, models.TransactionStatusPending),
		tx("b", t0.Add(time.Second), models.TransactionStatusPending),
		tx("c", t0.Add(time.Second+time.Millisecond), models.TransactionStatusPending),
		tx("d", t0.Add(2*time.Second), models.TransactionStatusPending))
	if got := ids(page(t, f, "t1", query(1, 10, t0.Add(time.Second)))); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("from %s: got %v, want [b c d] (from is inclusive)", t0.Add(time.Second).Format(time.RFC3339), got)
	}
	q := query(1, 2, t0.Add(time.Second))
	q.Sort.Direction = pagination.Descending
	if got := ids(page(t, f, "t1", q)); !slices.Equal(got, []string{"d", "c"}) {
		t.Errorf("descending page 1: got %v, want [d c]", got)
	}
	q.Page = 2
	if got := ids(page(t, f, "t1", q)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("descending page 2: got %v, want [b]", got)
	}
	if got := page(t, f, "t1", query(9, 10, time.Time{})); len(got) != 0 {
		t.Errorf("a page past the end: got %v, want none", ids(got))
	}
	if got := page(t, f, "nobody", query(1, 10, time.Time{})); len(got) != 0 {
		t.Errorf("an unknown tenant: got %v, want none", ids(got))
	}
}

func checkUnchangedPut(t *testing.T, open Opener) {
	f := open(t).Transactions()
	a := tx("a", t0, models.TransactionStatusPending)
	put(t, f, "t1", a)
	first := all(t, f, "t1")
	a.Metadata = models.Metadata{} // nil and empty metadata are the same on the wire
	a.CreatedAt = a.CreatedAt.In(time.FixedZone("X", 3600))
	put(t, f, "t1", a)
	again := all(t, f, "t1")
	if len(again) != 1 || !again[0].UpdatedAt.Equal(first[0].UpdatedAt) {
		t.Errorf("putting an unchanged item again: listing %s, want the first one %s", describe(again), describe(first))
	}
}

// checkEncodedFlags: a feed that answers with encodings (a PageLister) flags each payout or
// transfer row without relatedTransactionID as UnlinkedWrite, and no other row, in every version of
// it: the handler fills relatedTransactionID only on flagged rows, so a missed flag leaves the row of
// a payout Formance created unjoined to its payment initiation for good.
func checkEncodedFlags(t *testing.T, open Opener) {
	f := open(t).Transactions()
	l, ok := f.(feed.PageLister[models.Transaction])
	if !ok {
		t.Skip("the feed does not answer with encodings")
	}
	payout := tx("po_1", t0, models.TransactionStatusPending)
	payout.Type, payout.SourceAccountID = models.TransactionTypePayout, "acc_2"
	transfer := tx("tr_1", t0.Add(time.Second), models.TransactionStatusPending)
	transfer.Type, transfer.SourceAccountID = models.TransactionTypeTransfer, "acc_2"
	linked := tx("po_2", t0.Add(2*time.Second), models.TransactionStatusPending)
	linked.Type, linked.SourceAccountID, linked.RelatedTransactionID = models.TransactionTypePayout, "acc_2", "ik_2"
	payin := tx("pi_1", t0.Add(3*time.Second), models.TransactionStatusPending)
	put(t, f, "t1", payout, transfer, linked, payin)
	// A page is read (the horizon passes these slots), then the payout changes: its new slot is
	// flagged too, and the old one keeps its flag.
	want := map[string][]bool{"po_1": {true}, "tr_1": {true}, "po_2": {false}, "pi_1": {false}}
	check := func() {
		t.Helper()
		p, err := l.ListPage(context.Background(), "t1", query(1, 100, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Encoded) == 0 {
			t.Fatalf("ListPage answered %d items and no encodings", len(p.Items))
		}
		got := map[string][]bool{}
		for _, e := range p.Encoded {
			got[e.ID()] = append(got[e.ID()], e.UnlinkedWrite())
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("UnlinkedWrite by id and version: %v, want %v", got, want)
		}
	}
	check()
	payout.Status, payout.UpdatedAt = models.TransactionStatusSucceeded, t0.Add(time.Minute)
	put(t, f, "t1", payout)
	want["po_1"] = []bool{true, true}
	check()
}

// checkChangeKeepsPositions is the loss of CONTRACT.md: 60 items in one second, a poller that
// reads page 1, an item of page 1 that changes, then page 2: the item at the boundary must be on
// page 2, and the change must come after.
func checkChangeKeepsPositions(t *testing.T, open Opener) {
	for _, size := range []int{7, 25} {
		t.Run(fmt.Sprint("pageSize=", size), func(t *testing.T) {
			f := open(t).Transactions()
			var in []models.Transaction
			for i := range 60 {
				in = append(in, tx(fmt.Sprintf("tx_%02d", i), t0, models.TransactionStatusPending))
			}
			put(t, f, "t1", in...)
			p1 := page(t, f, "t1", query(1, size, t0))
			changed := in[size/2]
			changed.Status = models.TransactionStatusSucceeded
			put(t, f, "t1", changed)
			p2 := page(t, f, "t1", query(2, size, t0))
			if len(p2) == 0 || p2[0].ID != in[size].ID {
				t.Fatalf("after %s changed, page 2 starts with %v, want %s: the item at the boundary of page 1 is lost",
					changed.ID, ids(p2[:min(1, len(p2))]), in[size].ID)
			}
			if !p2[0].UpdatedAt.After(p1[len(p1)-1].UpdatedAt) {
				t.Errorf("page 2 starts at %s, not after the end of page 1 (%s)", describe(p2[:1]), describe(p1[len(p1)-1:]))
			}
			listing := all(t, f, "t1")
			checkSorted(t, "after the change", listing)
			last := listing[len(listing)-1]
			if last.ID != changed.ID || last.Status != models.TransactionStatusSucceeded || !last.UpdatedAt.After(in[59].UpdatedAt) {
				t.Errorf("the change is served as %s, want %s SUCCEEDED after every earlier slot", describe([]models.Transaction{last}), changed.ID)
			}
			if len(listing) != 61 {
				t.Errorf("listing has %d slots, want 61: the changed item's earlier slot stays, serving its earlier state", len(listing))
			}
			if old := listing[size/2]; old.ID != changed.ID || old.Status != models.TransactionStatusPending {
				t.Errorf("slot %d is %s, want %s PENDING (the earlier state at its earlier position)", size/2, describe([]models.Transaction{old}), changed.ID)
			}
		})
	}
}

func checkUnreadChange(t *testing.T, open Opener) {
	f := open(t).Transactions()
	a := tx("a", t0, models.TransactionStatusPending)
	put(t, f, "t1", a, tx("b", t0.Add(time.Second), models.TransactionStatusPending))
	a.Status = models.TransactionStatusFailed
	put(t, f, "t1", a) // before anyone read: no position to keep
	got := all(t, f, "t1")
	if len(got) != 2 {
		t.Fatalf("listing %s, want 2 slots: a change of an item nobody could read replaces it", describe(got))
	}
	for _, g := range got {
		if g.ID == "a" && g.Status != models.TransactionStatusFailed {
			t.Errorf("a served as %s, want FAILED", g.Status)
		}
	}
}

func checkLateItem(t *testing.T, open Opener) {
	f := open(t).Transactions()
	put(t, f, "t1", tx("a", t0.Add(10*time.Second), models.TransactionStatusPending))
	read := all(t, f, "t1")
	put(t, f, "t1", tx("late", t0, models.TransactionStatusPending)) // reported late with an old time
	after := all(t, f, "t1")
	if len(after) != 2 || after[1].ID != "late" || !after[1].UpdatedAt.After(read[0].UpdatedAt) {
		t.Fatalf("listing %s: an item reported late must be served after the horizon %s", describe(after), read[0].UpdatedAt.Format(time.RFC3339Nano))
	}
	// A change whose PSP time did not move is served after the horizon too.
	a := tx("a", t0.Add(10*time.Second), models.TransactionStatusSucceeded)
	put(t, f, "t1", a)
	final := all(t, f, "t1")
	if last := final[len(final)-1]; last.ID != "a" || last.Status != models.TransactionStatusSucceeded || !last.UpdatedAt.After(after[1].UpdatedAt) {
		t.Errorf("listing %s: a change is served after everything served before", describe(final))
	}
}

func checkUpdatedAtFloor(t *testing.T, open Opener) {
	f := open(t).Transactions()
	a := tx("a", t0, models.TransactionStatusPending)
	a.CreatedAt = t0.Add(5 * time.Second) // a PSP whose updatedAt is before createdAt
	b := tx("b", t0.Add(123), models.TransactionStatusPending)
	b.CreatedAt = t0.Add(123)
	put(t, f, "t1", a, b)
	for _, g := range all(t, f, "t1") {
		if g.UpdatedAt.Before(g.CreatedAt) {
			t.Errorf("%s served with updatedAt %s before createdAt %s", g.ID, g.UpdatedAt.Format(time.RFC3339Nano), g.CreatedAt.Format(time.RFC3339Nano))
		}
	}
}

func checkAccountsInPlace(t *testing.T, open Opener) {
	f := open(t).Accounts()
	acc := func(id, name string, at time.Time) models.Account {
		return models.Account{ID: id, AccountName: name, CreatedAt: at}
	}
	put(t, f, "t1", acc("a", "Main", t0), acc("b", "Other", t0))
	q := query(1, 10, time.Time{})
	q.Sort.Field = pagination.FieldCreatedAt
	before := page(t, f, "t1", q)
	put(t, f, "t1", acc("a", "Main renamed", t0))
	after := page(t, f, "t1", q)
	if len(after) != 2 || after[0].ID != "a" || after[0].AccountName != "Main renamed" || !after[0].CreatedAt.Equal(before[0].CreatedAt) {
		t.Errorf("accounts after a rename: %+v, want the renamed account in its own slot, with its served createdAt %s", after, before[0].CreatedAt.Format(time.RFC3339Nano))
	}
	if len(before) == 2 && !after[1].CreatedAt.After(after[0].CreatedAt) {
		t.Errorf("two accounts of one createdAt are served at %s and %s, want unique times", after[0].CreatedAt, after[1].CreatedAt)
	}
}

func checkAllOrNothing(t *testing.T, open Opener) {
	f := open(t).Transactions()
	good := tx("good", t0, models.TransactionStatusPending)
	for _, tt := range []struct {
		bad  models.Transaction
		want error
	}{
		{tx("", t0, models.TransactionStatusPending), feed.ErrMissingID},
		{tx("zero", time.Time{}, models.TransactionStatusPending), feed.ErrTimeOutOfRange},
	} {
		err := f.Put(context.Background(), "t1", good, tt.bad)
		if !errors.Is(err, tt.want) {
			t.Errorf("Put with a bad item: got %v, want an error wrapping %v", err, tt.want)
		}
	}
	if got := all(t, f, "t1"); len(got) != 0 {
		t.Errorf("a refused Put stored %s", describe(got))
	}
}

func checkLoad(t *testing.T, open Opener) {
	st := open(t)
	loaded, putted := st.Transactions(), open(t).Transactions()
	var in []models.Transaction
	for i := range 500 {
		in = append(in, tx(fmt.Sprintf("tx_%03d", i), t0.Add(time.Duration(i/50)*time.Second), models.TransactionStatusPending))
	}
	in = append(in, in[3]) // the same item again
	changed := in[7]
	changed.Status = models.TransactionStatusSucceeded
	in = append(in, changed)
	if err := loaded.Load(context.Background(), "t1", in); err != nil {
		t.Fatalf("Load: %v", err)
	}
	put(t, putted, "t1", in...)
	got, want := all(t, loaded, "t1"), all(t, putted, "t1")
	if describe(got) != describe(want) {
		t.Errorf("Load serves\n%s\nwhere Put serves\n%s", describe(got), describe(want))
	}
	if err := loaded.Load(context.Background(), "t1", in[:1]); !errors.Is(err, feed.ErrNotEmpty) {
		t.Errorf("Load into a tenant with items: got %v, want ErrNotEmpty", err)
	}
	if err := loaded.Load(context.Background(), "t2", in[:3]); err != nil {
		t.Errorf("Load into another, empty tenant: %v", err)
	}
}

func checkGet(t *testing.T, open Opener) {
	f := open(t).Transactions()
	put(t, f, "t1", tx("a", t0, models.TransactionStatusPending), tx("b", t0, models.TransactionStatusPending))
	all(t, f, "t1")
	put(t, f, "t1", tx("b", t0, models.TransactionStatusFailed))
	listing := all(t, f, "t1")
	got, ok, err := f.Get(context.Background(), "t1", "b")
	if err != nil || !ok {
		t.Fatalf("Get(b): %v, %v", ok, err)
	}
	if last := listing[len(listing)-1]; got.Status != models.TransactionStatusFailed || !got.UpdatedAt.Equal(last.UpdatedAt) {
		t.Errorf("Get(b) = %s, want the current version as served: %s", describe([]models.Transaction{got}), describe([]models.Transaction{last}))
	}
	if _, ok, err := f.Get(context.Background(), "t1", "nope"); ok || err != nil {
		t.Errorf("Get of an unknown id: %v, %v", ok, err)
	}
	if _, ok, _ := f.Get(context.Background(), "t2", "a"); ok {
		t.Errorf("Get of another tenant's id found it")
	}
}

func checkTenants(t *testing.T, open Opener) {
	f := open(t).Transactions()
	put(t, f, "t1", tx("a", t0, models.TransactionStatusPending))
	put(t, f, "t2", tx("a", t0, models.TransactionStatusFailed), tx("b", t0, models.TransactionStatusFailed))
	if got := all(t, f, "t1"); len(got) != 1 || got[0].Status != models.TransactionStatusPending {
		t.Errorf("tenant t1 sees %s", describe(got))
	}
	if got := all(t, f, "t2"); len(got) != 2 || !got[0].UpdatedAt.Equal(t0) {
		t.Errorf("tenant t2 sees %s, want its own a at %s: horizons are per tenant", describe(got), t0.Format(time.RFC3339Nano))
	}
}

// clock is a settable clock for Prune.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func checkPrune(t *testing.T, open Opener) {
	c := &clock{now: time.Now()}
	const retention = time.Hour
	f := open(t, feed.WithClock(c.Now), feed.WithRetention(retention)).Transactions()
	prune := func() int {
		n, err := f.Prune(context.Background())
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		return n
	}
	put(t, f, "t1", tx("a", t0, models.TransactionStatusPending), tx("b", t0, models.TransactionStatusPending))
	all(t, f, "t1") // a poller from scratch reads everything
	put(t, f, "t1", tx("a", t0, models.TransactionStatusSucceeded))
	if n := prune(); n != 0 {
		t.Fatalf("Prune deleted %d slots right after the change", n)
	}
	c.Add(2 * retention)
	if n := prune(); n != 0 {
		t.Fatalf("Prune deleted %d slots while no poller was seen during the retention", n)
	}
	// A poller from scratch (no …From) within the retention: it may be anywhere, nothing goes.
	all(t, f, "t1")
	if n := prune(); n != 0 {
		t.Fatalf("Prune deleted %d slots while a poller from scratch may page through them", n)
	}
	// Once the pollers of a whole retention are past the slot (their …From a second after it), it goes.
	c.Add(2 * retention)
	page(t, f, "t1", query(1, 100, t0.Add(2*time.Second)))
	c.Add(time.Minute)
	if n := prune(); n != 1 {
		t.Fatalf("Prune deleted %d slots, want 1: the superseded slot of a, behind every poller for a retention", n)
	}
	if got := all(t, f, "t1"); len(got) != 2 || got[1].ID != "a" || got[1].Status != models.TransactionStatusSucceeded {
		t.Errorf("after Prune: %s, want b, then a SUCCEEDED", describe(got))
	}
}

// checkConcurrent: writers putting new items and changes while readers page: a reader never sees a
// served time twice, and an item it first sees is never before the latest time it had seen.
func checkConcurrent(t *testing.T, open Opener) {
	st := open(t)
	writers := []feed.Feed[models.Transaction]{st.Transactions(), st.Transactions()}
	readers := []feed.Feed[models.Transaction]{st.Transactions(), st.Transactions()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w, f := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < 60 && ctx.Err() == nil; i++ {
				batch := []models.Transaction{tx(fmt.Sprintf("w%d_%03d", w, i), t0.Add(time.Duration(rng.IntN(5))*time.Second), models.TransactionStatusPending)}
				if i > 0 {
					batch = append(batch, tx(fmt.Sprintf("w%d_%03d", w, rng.IntN(i)), t0, models.TransactionStatusSucceeded))
				}
				if err := f.Put(ctx, "t1", batch...); err != nil && ctx.Err() == nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	for r, f := range readers {
		wg.Go(func() {
			seen := map[int64]string{}
			var latest int64 = feed.NoHorizon
			for i := 0; i < 40 && ctx.Err() == nil; i++ {
				items, err := f.Page(ctx, "t1", query(1, 1000, time.Time{}))
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("reader %d: %w", r, err)
					}
					return
				}
				newLatest := latest
				for _, it := range items {
					ns := it.UpdatedAt.UnixNano()
					key := it.ID + "/" + string(it.Status)
					if prev, ok := seen[ns]; ok && prev != key {
						errs <- fmt.Errorf("reader %d: served time %s held %s, then %s", r, it.UpdatedAt.Format(time.RFC3339Nano), prev, key)
						return
					}
					if _, ok := seen[ns]; !ok {
						if ns <= latest {
							errs <- fmt.Errorf("reader %d: %s first seen at %s, behind %s it had already read: a poller past it never gets it",
								r, key, it.UpdatedAt.Format(time.RFC3339Nano), time.Unix(0, latest).UTC().Format(time.RFC3339Nano))
							return
						}
						seen[ns] = key
					}
					newLatest = max(newLatest, ns)
				}
				latest = newLatest
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func checkHandlesShareTheHorizon(t *testing.T, open Opener) {
	st := open(t)
	if !st.Shared {
		t.Skip("the store is not shared between processes")
	}
	first := st.Transactions()
	put(t, first, "t1", tx("a", t0.Add(time.Minute), models.TransactionStatusPending))
	read := all(t, first, "t1")
	second := st.Transactions() // another replica, or the same process after a restart
	put(t, second, "t1", tx("late", t0, models.TransactionStatusPending))
	got := all(t, second, "t1")
	if len(got) != 2 || got[1].ID != "late" || !got[1].UpdatedAt.After(read[0].UpdatedAt) {
		t.Errorf("another handle serves %s: an item put through it with an old time must come after %s, read through the first", describe(got), describe(read))
	}
	if got := all(t, first, "t1"); describe(got) != describe(all(t, second, "t1")) {
		t.Errorf("two handles on one store serve different listings")
	}
}
