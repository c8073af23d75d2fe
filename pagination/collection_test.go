package pagination

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

var ascCreated = Sort{Field: FieldCreatedAt, Direction: Ascending}

func accountAt(id string, at time.Time) models.Account {
	return models.Account{ID: id, AccountName: "name " + id, CreatedAt: at}
}

func accountIDs(as []models.Account) []string {
	return mapSlice(as, func(a models.Account) string { return a.ID })
}

func createdAt(a models.Account) time.Time     { return a.CreatedAt }
func updatedAt(t models.Transaction) time.Time { return t.UpdatedAt }

func txAt(id string, at time.Time, status models.TransactionStatus) models.Transaction {
	return models.Transaction{
		ID: id, CreatedAt: at, UpdatedAt: at, Currency: "USD/2", Type: models.TransactionTypePayin,
		Status: status, Amount: models.AmountFromInt64(1000),
	}
}

// psp300 returns 300 accounts created at second precision, about three a second (1 to 5 in each
// second, fixed seed), in creation order.
func psp300() []models.Account {
	r := rand.New(rand.NewPCG(1, 2))
	var out []models.Account
	for s := 0; len(out) < 300; s++ {
		for range 1 + r.IntN(5) {
			if len(out) < 300 {
				out = append(out, accountAt(fmt.Sprintf("acc_%03d", len(out)), sec(s)))
			}
		}
	}
	return out
}

func mustServed[T any](t *testing.T, c *Collection[T], id string) time.Time {
	t.Helper()
	s, ok := c.Served(id)
	require.True(t, ok, "item %q not stored", id)
	return s
}

func TestCollectionServesTiesUniqueAndIncreasing(t *testing.T) {
	c := NewAccounts()
	require.NoError(t, c.Put(
		accountAt("b", sec(0)), accountAt("a", sec(0)), accountAt("c", sec(0)),
		accountAt("d", sec(1)),
	))
	all := c.All()
	assert.Equal(t, []string{"b", "a", "c", "d"}, accountIDs(all), "arrival order is the tie order")
	want := []time.Time{sec(0), sec(0).Add(1), sec(0).Add(2), sec(1)}
	for i, a := range all {
		assert.True(t, want[i].Equal(a.CreatedAt), "item %s served %v, want %v", a.ID, a.CreatedAt, want[i])
		assert.Equal(t, time.UTC, a.CreatedAt.Location())
	}
	// Get keeps the real time; Served reports the served one.
	got, ok := c.Get("c")
	require.True(t, ok)
	assert.True(t, sec(0).Equal(got.CreatedAt))
	assert.True(t, sec(0).Add(2).Equal(mustServed(t, c, "c")))
	assert.Equal(t, 4, c.Len())

	_, ok = c.Get("nope")
	assert.False(t, ok)
	_, ok = c.Served("nope")
	assert.False(t, ok)
}

func TestCollectionResolution(t *testing.T) {
	at := time.Date(2024, 1, 1, 10, 0, 0, 700_000_000, time.UTC)
	c := NewAccounts(WithResolution(time.Second))
	require.NoError(t, c.Put(accountAt("late", at), accountAt("early", at.Add(-500*time.Millisecond))))
	// Both truncate to 10:00:00; arrival order decides the tie, not the sub-second time.
	assert.True(t, sec(0).Equal(mustServed(t, c, "late")))
	assert.True(t, sec(0).Add(1).Equal(mustServed(t, c, "early")))

	// The default keeps microsecond timestamps exact.
	d := NewAccounts()
	us := sec(0).Add(123456 * time.Microsecond)
	require.NoError(t, d.Put(accountAt("x", us), accountAt("y", us.Add(789*time.Nanosecond))))
	assert.True(t, us.Equal(mustServed(t, d, "x")))
	assert.True(t, us.Add(1).Equal(mustServed(t, d, "y")), "a sub-microsecond time is truncated, then offset")
}

func TestCollectionTimesBefore1970(t *testing.T) {
	c := NewAccounts(WithResolution(time.Second))
	at := time.Date(1969, 12, 31, 23, 59, 58, 500_000_000, time.UTC)
	require.NoError(t, c.Put(accountAt("a", at), accountAt("b", at)))
	want := time.Date(1969, 12, 31, 23, 59, 58, 0, time.UTC)
	assert.True(t, want.Equal(mustServed(t, c, "a")), "floor, not toward zero: got %v", mustServed(t, c, "a"))
	assert.True(t, want.Add(1).Equal(mustServed(t, c, "b")))
}

func TestCollectionPutErrors(t *testing.T) {
	tests := []struct {
		name string
		item models.Account
		want error
	}{
		{"missing id", accountAt("", sec(0)), ErrMissingID},
		{"zero time", accountAt("z", time.Time{}), ErrTimeOutOfRange},
		{"year 1500", accountAt("z", time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)), ErrTimeOutOfRange},
		{"year 2300", accountAt("z", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)), ErrTimeOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewAccounts()
			require.NoError(t, c.Put(accountAt("ok", sec(5))))
			err := c.Put(accountAt("first", sec(6)), tt.item)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), "item 2 of 2")
			assert.Equal(t, 1, c.Len(), "Put is all-or-nothing")
			_, ok := c.Get("first")
			assert.False(t, ok)
		})
	}
}

func TestCollectionOptionsPanic(t *testing.T) {
	assert.PanicsWithValue(t, "pagination: WithResolution(0s): the resolution must be at least 1ns", func() {
		NewAccounts(WithResolution(0))
	})
	assert.Panics(t, func() { NewAccounts(WithResolution(-time.Second)) })
	assert.Panics(t, func() { NewCollection(Keys[rec]{ID: recID}) })
	assert.Panics(t, func() { NewCollection(Keys[rec]{ID: recID, Time: recAt}) }, "WithTime is needed to tie-break")
	assert.NotPanics(t, func() { NewCollection(Keys[rec]{ID: recID, Time: recAt}, WithoutTieBreaking()) })
	assert.NotPanics(t, func() { NewAccounts(WithResolution(time.Nanosecond)) })
}

func TestCollectionUnchangedPutKeepsServedTime(t *testing.T) {
	c := NewTransactions()
	tx := txAt("tx1", sec(0), models.TransactionStatusPending)
	require.NoError(t, c.Put(tx))
	before := mustServed(t, c, "tx1")
	// The same content again, even with a fresh but equal Amount: nothing changes.
	again := tx
	again.Amount = models.MustParseAmount("1000")
	require.NoError(t, c.Put(again, again))
	assert.True(t, before.Equal(mustServed(t, c, "tx1")))
	// And no offset was used up: the next arrival in the second takes offset 1.
	require.NoError(t, c.Put(txAt("tx2", sec(0), models.TransactionStatusPending)))
	assert.True(t, sec(0).Add(1).Equal(mustServed(t, c, "tx2")))
}

func TestCollectionChangeMovesForwardNeverBackward(t *testing.T) {
	tests := []struct {
		name    string
		newTime time.Time
		want    time.Time
	}{
		{"same time", sec(10), sec(10).Add(2)},
		{"earlier time stays in the old bucket", sec(3), sec(10).Add(2)},
		{"later time", sec(12), sec(12)},
		{"later in the same second", sec(10).Add(time.Millisecond), sec(10).Add(time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewTransactions()
			require.NoError(t, c.Put(txAt("a", sec(10), models.TransactionStatusPending), txAt("b", sec(10), models.TransactionStatusPending)))
			old := mustServed(t, c, "a")
			changed := txAt("a", tt.newTime, models.TransactionStatusSucceeded)
			require.NoError(t, c.Put(changed))
			got := mustServed(t, c, "a")
			assert.True(t, got.After(old), "served %v must be after %v", got, old)
			assert.True(t, tt.want.Equal(got), "served %v, want %v", got, tt.want)
			real, _ := c.Get("a")
			assert.Equal(t, changed, real, "Get returns the item as Put")
			assert.Equal(t, []string{"b", "a"}, mapSlice(c.All(), func(t models.Transaction) string { return t.ID }))
		})
	}
}

func TestCollectionTieOverflow(t *testing.T) {
	t.Run("bucket full up to the next used bucket", func(t *testing.T) {
		c := NewAccounts() // 1µs
		require.NoError(t, c.Put(accountAt("next", sec(0).Add(time.Microsecond))))
		batch := make([]models.Account, 1000)
		for i := range batch {
			batch[i] = accountAt(fmt.Sprintf("a%04d", i), sec(0))
		}
		require.NoError(t, c.Put(batch...), "1000 items fit in one microsecond")
		err := c.Put(accountAt("one-too-many", sec(0)))
		require.ErrorIs(t, err, ErrTieOverflow)
		assert.Contains(t, err.Error(), `"one-too-many"`)
		assert.Equal(t, 1001, c.Len())
		_, ok := c.Get("one-too-many")
		assert.False(t, ok)
		// A change to an item of the full bucket needs a new offset there too: refused.
		changed := batch[5]
		changed.AccountName = "renamed"
		require.ErrorIs(t, c.Put(changed), ErrTieOverflow)
		got, _ := c.Get(changed.ID)
		assert.Equal(t, batch[5], got)

		// The refusals changed nothing.
		ids, served := snapshot(c)
		assert.Equal(t, "next", ids[len(ids)-1])
		assert.Equal(t, "a0005", ids[5])
		assert.True(t, sec(0).Add(999).Equal(served[999]))
	})
	t.Run("new bucket inside the range already served by the previous one", func(t *testing.T) {
		c := NewAccounts(WithResolution(time.Nanosecond))
		require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(0)), accountAt("c", sec(0))))
		err := c.Put(accountAt("d", sec(0).Add(2)))
		require.ErrorIs(t, err, ErrTieOverflow, "10:00:00.000000002 was already served to c")
		require.NoError(t, c.Put(accountAt("e", sec(0).Add(3))))
		assert.Equal(t, []string{"a", "b", "c", "e"}, accountIDs(c.All()))
	})
	t.Run("served times already handed out stay reserved after items leave", func(t *testing.T) {
		c := NewAccounts(WithResolution(time.Nanosecond))
		require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(0)), accountAt("c", sec(0))))
		moved := accountAt("c", sec(5)) // c leaves its bucket; 10:00:00.000000002 stays used
		require.NoError(t, c.Put(moved))
		require.ErrorIs(t, c.Put(accountAt("d", sec(0).Add(2))), ErrTieOverflow)
		require.NoError(t, c.Put(accountAt("e", sec(0).Add(3))))
	})
	t.Run("all or nothing", func(t *testing.T) {
		c := NewAccounts(WithResolution(time.Nanosecond))
		require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("x", sec(1))))
		beforeIDs, beforeServed := snapshot(c)
		renamed := accountAt("a", sec(0))
		renamed.AccountName = "renamed"
		err := c.Put(
			accountAt("b", sec(0)),        // new: bucket sec(0), offset 1
			renamed,                       // changed: bucket sec(0), offset 2
			accountAt("x", sec(2)),        // changed: new bucket sec(2)
			accountAt("c", sec(0).Add(1)), // new bucket at 10:00:00.000000001, already served to b: refused
		)
		require.ErrorIs(t, err, ErrTieOverflow)
		assert.Contains(t, err.Error(), "item 4 of 4")
		afterIDs, afterServed := snapshot(c)
		assert.Equal(t, beforeIDs, afterIDs, "nothing of the failed Put is stored")
		assert.Equal(t, beforeServed, afterServed)
		assert.Equal(t, "name a", mustReal(t, c, "a").AccountName)
		// The counters were restored too: the next arrival in bucket 0 gets offset 1 again.
		require.NoError(t, c.Put(accountAt("b", sec(0))))
		assert.True(t, sec(0).Add(1).Equal(mustServed(t, c, "b")))
		// And bucket sec(2) was not left behind: an item at sec(2)+1ns is a fresh bucket.
		require.NoError(t, c.Put(accountAt("y", sec(2).Add(1)), accountAt("z", sec(2))))
		assert.True(t, sec(2).Equal(mustServed(t, c, "z")))
	})
}

func TestCollectionPage(t *testing.T) {
	c := NewAccounts()
	// Arrival order a..f; times in two seconds, served with offsets.
	require.NoError(t, c.Put(
		accountAt("a", sec(0)), accountAt("b", sec(0)), accountAt("c", sec(0)),
		accountAt("d", sec(1)), accountAt("e", sec(1)), accountAt("f", sec(2)),
	))
	desc := Sort{Field: FieldCreatedAt, Direction: Descending}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"all", Query{Page: 1, PageSize: 10, Sort: ascCreated}, []string{"a", "b", "c", "d", "e", "f"}},
		{"page 2 of 2", Query{Page: 2, PageSize: 2, Sort: ascCreated}, []string{"c", "d"}},
		{"exactly pageSize unless exhausted", Query{Page: 2, PageSize: 4, Sort: ascCreated}, []string{"e", "f"}},
		{"past the end", Query{Page: 3, PageSize: 3, Sort: ascCreated}, []string{}},
		{"huge page", Query{Page: math.MaxInt, PageSize: 1000, Sort: ascCreated}, []string{}},
		{"from inclusive, second precision", Query{Page: 1, PageSize: 10, Sort: ascCreated, From: sec(1)}, []string{"d", "e", "f"}},
		{"from at a served nanosecond", Query{Page: 1, PageSize: 10, Sort: ascCreated, From: sec(0).Add(1)}, []string{"b", "c", "d", "e", "f"}},
		{"from in another zone", Query{Page: 1, PageSize: 10, Sort: ascCreated, From: sec(1).In(time.FixedZone("X", -7200))}, []string{"d", "e", "f"}},
		{"from before 1678", Query{Page: 1, PageSize: 2, Sort: ascCreated, From: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"a", "b"}},
		{"from after 2262", Query{Page: 1, PageSize: 2, Sort: ascCreated, From: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{}},
		{"from after all", Query{Page: 1, PageSize: 10, Sort: ascCreated, From: sec(3)}, []string{}},
		{"desc", Query{Page: 1, PageSize: 10, Sort: desc}, []string{"f", "e", "d", "c", "b", "a"}},
		{"desc page 2", Query{Page: 2, PageSize: 4, Sort: desc}, []string{"b", "a"}},
		{"desc with from", Query{Page: 1, PageSize: 2, Sort: desc, From: sec(0).Add(2)}, []string{"f", "e"}},
		{"desc with from, last page", Query{Page: 2, PageSize: 3, Sort: desc, From: sec(0).Add(2)}, []string{"c"}},
		{"invalid page", Query{Page: 0, PageSize: 10, Sort: ascCreated}, []string{}},
		{"invalid page size", Query{Page: 1, PageSize: -1, Sort: ascCreated}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Page(tt.q)
			require.NotNil(t, got)
			assert.Equal(t, tt.want, accountIDs(got))
			for _, a := range got {
				assert.True(t, mustServed(t, c, a.ID).Equal(a.CreatedAt), "page items carry the served time")
			}
		})
	}
}

func TestCollectionWithoutTieBreaking(t *testing.T) {
	c := NewAccounts(WithoutTieBreaking())
	paris := time.FixedZone("CET", 3600)
	require.NoError(t, c.Put(accountAt("b", sec(0).In(paris)), accountAt("a", sec(0)), accountAt("c", sec(1))))
	got := c.Page(Query{Page: 1, PageSize: 10, Sort: ascCreated})
	assert.Equal(t, []string{"a", "b", "c"}, accountIDs(got), "ties by id")
	assert.Equal(t, paris, got[1].CreatedAt.Location(), "real times are served unchanged")
	assert.True(t, sec(0).Equal(mustServed(t, c, "b")))
	got = c.Page(Query{Page: 1, PageSize: 10, Sort: Sort{Field: FieldCreatedAt, Direction: Descending}})
	assert.Equal(t, []string{"c", "b", "a"}, accountIDs(got))
	// A change moves the item to its new real time, backwards too.
	require.NoError(t, c.Put(accountAt("c", sec(-1))))
	assert.Equal(t, []string{"c", "a", "b"}, accountIDs(c.All()))
}

// TestCollectionPollerStatic reproduces the loss of plain (time, id) ordering under Formance's poller
// and shows that Collection delivers every account exactly once, for several page sizes.
func TestCollectionPollerStatic(t *testing.T) {
	accounts := psp300()
	for _, size := range []int{1, 7, 25, 100} {
		t.Run(fmt.Sprintf("pageSize %d", size), func(t *testing.T) {
			lossy := NewAccounts(WithoutTieBreaking())
			require.NoError(t, lossy.Put(accounts...))
			p := newPoller(FieldCreatedAt, size, lossy.Page, createdAt)
			p.sync(t)
			lost := len(accounts) - len(uniqueIDs(accountIDs(p.got)))
			assert.Positive(t, lost, "the plain ordering should lose accounts at pageSize %d", size)
			t.Logf("pageSize %d: without tie-breaking %d of %d accounts never arrive", size, lost, len(accounts))

			c := NewAccounts()
			require.NoError(t, c.Put(accounts...))
			p = newPoller(FieldCreatedAt, size, c.Page, createdAt)
			p.sync(t)
			assert.Equal(t, accountIDs(accounts), accountIDs(p.got), "every account once, in creation order")
			for _, a := range p.got {
				assert.Equal(t, a.CreatedAt.Truncate(time.Second), mustReal(t, c, a.ID).CreatedAt,
					"Formance sees the right second")
			}
		})
	}
}

// snapshot returns the ids and served times in served order, without counting as a read (All and
// Page record the latest time they return).
func snapshot[T any](c *Collection[T]) ([]string, []time.Time) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var ids []string
	var served []time.Time
	for _, e := range c.index {
		ids = append(ids, e.id)
		served = append(served, c.servedTime(e))
	}
	return ids, served
}

func mustReal[T any](t *testing.T, c *Collection[T], id string) T {
	t.Helper()
	v, ok := c.Get(id)
	require.True(t, ok)
	return v
}

func uniqueIDs(ids []string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func TestCollectionTransactionChangedInTheSameSecond(t *testing.T) {
	for _, tieBreak := range []bool{true, false} {
		t.Run(fmt.Sprintf("tie-breaking %v", tieBreak), func(t *testing.T) {
			var opts []CollectionOption
			if !tieBreak {
				opts = append(opts, WithoutTieBreaking())
			}
			c := NewTransactions(opts...)
			require.NoError(t, c.Put(txAt("tx1", sec(0), models.TransactionStatusPending)))
			p := newPoller(FieldUpdatedAt, 25, c.Page, updatedAt)
			p.sync(t)
			require.Len(t, p.got, 1)
			// The PSP moves it to SUCCEEDED within the same second and does not move updatedAt.
			require.NoError(t, c.Put(txAt("tx1", sec(0), models.TransactionStatusSucceeded)))
			p.sync(t)
			if tieBreak {
				require.Len(t, p.got, 2, "the change must reach Formance")
				assert.Equal(t, models.TransactionStatusSucceeded, p.got[1].Status)
				assert.True(t, p.got[1].UpdatedAt.After(p.got[0].UpdatedAt))
				assert.True(t, sec(0).Equal(p.got[1].CreatedAt), "CreatedAt is served as is")
			} else {
				assert.Len(t, p.got, 1, "without tie-breaking the change is lost")
			}
		})
	}
}

func TestCollectionLateArrivalIntoPolledSecond(t *testing.T) {
	c := NewAccounts()
	require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(1)), accountAt("c", sec(1))))
	p := newPoller(FieldCreatedAt, 25, c.Page, createdAt)
	p.sync(t)
	require.Equal(t, []string{"a", "b", "c"}, accountIDs(p.got))
	// The PSP reports one more account of second 1, after Formance polled that second.
	require.NoError(t, c.Put(accountAt("d", sec(1))))
	p.sync(t)
	assert.Equal(t, []string{"a", "b", "c", "d"}, accountIDs(p.got))

	// Without tie-breaking it never arrives: its time equals S.
	l := NewAccounts(WithoutTieBreaking())
	require.NoError(t, l.Put(accountAt("a", sec(0)), accountAt("b", sec(1)), accountAt("c", sec(1))))
	lp := newPoller(FieldCreatedAt, 25, l.Page, createdAt)
	lp.sync(t)
	require.NoError(t, l.Put(accountAt("d", sec(1))))
	lp.sync(t)
	assert.Equal(t, []string{"a", "b", "c"}, accountIDs(lp.got))
}

// TestCollectionPollerInterleaved runs the PSP and the poller together: items arrive second by
// second, transactions change status (often within the second they were polled), and the poller
// polls in the middle of seconds. Every transaction must reach Formance in its final state.
func TestCollectionPollerInterleaved(t *testing.T) {
	statuses := []models.TransactionStatus{models.TransactionStatusPending, models.TransactionStatusAuthorisation,
		models.TransactionStatusCapture, models.TransactionStatusSucceeded, models.TransactionStatusRefunded}
	for _, size := range []int{1, 7, 25, 100} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("pageSize %d seed %d", size, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 99))
				c := NewTransactions()
				p := newPoller(FieldUpdatedAt, size, c.Page, updatedAt)
				final := map[string]models.TransactionStatus{}
				var known []string
				next := 0
				for s := range 120 {
					for range 1 + r.IntN(6) {
						switch {
						case len(known) > 0 && r.IntN(3) == 0: // a change, with the PSP's second-precision clock
							id := known[r.IntN(len(known))]
							st := statuses[r.IntN(len(statuses))]
							tx := mustReal(t, c, id)
							tx.Status = st
							if r.IntN(2) == 0 {
								tx.UpdatedAt = sec(s) // sometimes the PSP does not move it at all
							}
							require.NoError(t, c.Put(tx))
							final[id] = st
						default:
							id := fmt.Sprintf("tx_%04d", next)
							next++
							require.NoError(t, c.Put(txAt(id, sec(s), models.TransactionStatusPending)))
							known = append(known, id)
							final[id] = models.TransactionStatusPending
						}
						if r.IntN(4) == 0 {
							p.sync(t) // a poll in the middle of the second
						}
					}
				}
				p.sync(t)
				lastSeen := map[string]models.TransactionStatus{}
				for _, tx := range p.got {
					lastSeen[tx.ID] = tx.Status
				}
				assert.Equal(t, final, lastSeen, "Formance must end with every transaction in its final state")
			})
		}
	}
}

// TestCollectionInvariants puts random items and changes and checks, after each step, that served
// times are unique over everything ever served, strictly increasing in served order, never behind the
// latest time a reader was served, and that Page agrees with a reference built by PageOf.
func TestCollectionInvariants(t *testing.T) {
	for _, res := range []time.Duration{time.Nanosecond, 3 * time.Nanosecond, time.Microsecond} {
		for _, readEvery := range []int{0, 1, 10} { // 0: no reads until the end
			t.Run(fmt.Sprintf("%v read every %d", res, readEvery), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(res), uint64(readEvery)))
				c := NewCollection(Keys[rec]{
					ID: recID, Time: recAt,
					WithTime: func(r rec, t time.Time) rec { r.At = t; return r },
				}, WithResolution(res))
				used := map[int64]string{} // every served time ever handed out
				refused := 0
				check := func(step int) {
					t.Helper()
					ids, served := snapshot(c)
					var all []rec
					for i := range ids {
						all = append(all, rec{ID: ids[i], At: served[i]})
						if i > 0 {
							require.True(t, served[i-1].Before(served[i]), "step %d: not strictly increasing", step)
						}
					}
					for range 2 {
						dir := Ascending
						if r.IntN(2) == 0 {
							dir = Descending
						}
						q := Query{Page: 1 + r.IntN(5), PageSize: 1 + r.IntN(9), Sort: Sort{Field: FieldCreatedAt, Direction: dir},
							From: t0.Add(time.Duration(r.IntN(200)))}
						if r.IntN(4) == 0 {
							q.From = time.Time{}
						}
						require.Equal(t, PageOf(all, q, recID, recAt), c.Page(q), "step %d: %+v", step, q)
					}
				}
				for step := range 600 {
					id := fmt.Sprintf("r%03d", r.IntN(150))
					at := t0.Add(time.Duration(r.IntN(40)) * 5)
					before, existed := c.Served(id)
					high := c.high.Load()
					err := c.Put(rec{ID: id, At: at})
					if errors.Is(err, ErrTieOverflow) {
						refused++
						after, ok := c.Served(id)
						assert.Equal(t, existed, ok)
						assert.True(t, before.Equal(after), "a refused Put changes nothing")
						continue
					}
					require.NoError(t, err)
					served := mustServed(t, c, id)
					if existed && before.Equal(served) {
						continue // unchanged
					}
					if existed {
						assert.True(t, served.After(before), "step %d: %s moved backward", step, id)
					}
					assert.Greater(t, served.UnixNano(), high, "step %d: %s placed behind a time already served", step, id)
					prev, dup := used[served.UnixNano()]
					require.False(t, dup, "step %d: served time %v handed out twice (%s, %s)", step, served, prev, id)
					used[served.UnixNano()] = id
					if readEvery > 0 && step%readEvery == 0 {
						check(step)
					}
				}
				check(600)
				assert.Positive(t, c.Len())
				t.Logf("%d stored, %d served times used, %d refused", c.Len(), len(used), refused)
			})
		}
	}
}

func TestCollectionNeverServesBehindWhatWasRead(t *testing.T) {
	t.Run("change the PSP did not timestamp, after Formance moved on", func(t *testing.T) {
		for _, tieBreak := range []bool{true, false} {
			var opts []CollectionOption
			if !tieBreak {
				opts = append(opts, WithoutTieBreaking())
			}
			c := NewTransactions(opts...)
			require.NoError(t, c.Put(txAt("old", sec(0), models.TransactionStatusPending), txAt("new", sec(10), models.TransactionStatusPending)))
			p := newPoller(FieldUpdatedAt, 25, c.Page, updatedAt)
			p.sync(t)
			require.Len(t, p.got, 2)
			require.NoError(t, c.Put(txAt("old", sec(0), models.TransactionStatusSucceeded)))
			p.sync(t)
			if !tieBreak {
				assert.Len(t, p.got, 2, "without tie-breaking the change is lost")
				continue
			}
			require.Len(t, p.got, 3, "the change must reach Formance")
			assert.Equal(t, models.TransactionStatusSucceeded, p.got[2].Status)
			assert.True(t, sec(10).Add(1).Equal(p.got[2].UpdatedAt), "served right after the latest served item, got %v", p.got[2].UpdatedAt)
		}
	})
	t.Run("item reported late with an old time", func(t *testing.T) {
		c := NewAccounts()
		require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(10))))
		p := newPoller(FieldCreatedAt, 25, c.Page, createdAt)
		p.sync(t)
		require.NoError(t, c.Put(accountAt("late", sec(3))))
		p.sync(t)
		assert.Equal(t, []string{"a", "b", "late"}, accountIDs(p.got))
		assert.True(t, sec(10).Add(1).Equal(mustServed(t, c, "late")))
		assert.True(t, sec(3).Equal(mustReal(t, c, "late").CreatedAt), "Get keeps the real time")
	})
	t.Run("cut page: H is the latest item returned, not the last kept", func(t *testing.T) {
		c := NewAccounts()
		require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(5)), accountAt("c", sec(9))))
		got := c.Page(Query{Page: 1, PageSize: 2, Sort: Sort{Field: FieldCreatedAt, Direction: Descending}})
		require.Equal(t, []string{"c", "b"}, accountIDs(got))
		require.NoError(t, c.Put(accountAt("d", sec(1))))
		assert.True(t, sec(9).Add(1).Equal(mustServed(t, c, "d")))
	})
	t.Run("no reads yet: items keep their own bucket", func(t *testing.T) {
		c := NewAccounts()
		require.NoError(t, c.Put(accountAt("b", sec(10)), accountAt("a", sec(3))))
		assert.True(t, sec(3).Equal(mustServed(t, c, "a")))
		// An empty page records nothing.
		require.Empty(t, c.Page(Query{Page: 9, PageSize: 10}))
		require.NoError(t, c.Put(accountAt("c", sec(4))))
		assert.True(t, sec(4).Equal(mustServed(t, c, "c")))
	})
	t.Run("items after H are unaffected", func(t *testing.T) {
		c := NewAccounts()
		require.NoError(t, c.Put(accountAt("a", sec(0))))
		require.Len(t, c.All(), 1)
		require.NoError(t, c.Put(accountAt("b", sec(0)), accountAt("c", sec(7))))
		assert.True(t, sec(0).Add(1).Equal(mustServed(t, c, "b")))
		assert.True(t, sec(7).Equal(mustServed(t, c, "c")))
	})
}

func TestCollectionModelsConstructors(t *testing.T) {
	t.Run("accounts", func(t *testing.T) {
		c := NewAccounts()
		require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(0))))
		got := c.Page(Query{Page: 1, PageSize: 10})
		assert.True(t, sec(0).Add(1).Equal(got[1].CreatedAt))
		assert.Equal(t, "name b", got[1].AccountName)
	})
	t.Run("beneficiaries", func(t *testing.T) {
		c := NewBeneficiaries()
		require.NoError(t, c.Put(
			models.Beneficiary{ID: "x", OwnerName: "X", CreatedAt: sec(0)},
			models.Beneficiary{ID: "y", OwnerName: "Y", CreatedAt: sec(0)},
		))
		got := c.Page(Query{Page: 1, PageSize: 10})
		require.Len(t, got, 2)
		assert.Equal(t, "y", got[1].ID)
		assert.True(t, sec(0).Add(1).Equal(got[1].CreatedAt))
	})
	t.Run("transactions", func(t *testing.T) {
		c := NewTransactions()
		a := txAt("a", sec(0), models.TransactionStatusPending)
		b := txAt("b", sec(0), models.TransactionStatusPending)
		b.CreatedAt = sec(-100)
		require.NoError(t, c.Put(a, b))
		got := c.Page(Query{Page: 1, PageSize: 10, Sort: Sort{Field: FieldUpdatedAt, Direction: Ascending}})
		require.Len(t, got, 2)
		assert.True(t, sec(0).Add(1).Equal(got[1].UpdatedAt), "UpdatedAt is the served time")
		assert.True(t, sec(-100).Equal(got[1].CreatedAt), "CreatedAt is untouched")
	})
}

// TestDeepEqualOnModels checks that the default Equal (reflect.DeepEqual) sees equal amounts as
// equal, however they were built, and different amounts as different: models.Amount holds a
// *big.Int, and DeepEqual follows the pointer.
func TestDeepEqualOnModels(t *testing.T) {
	huge, ok := new(big.Int).SetString("123456789012345678901234567890", 10)
	require.True(t, ok)
	equal := []struct {
		name string
		a, b models.Amount
	}{
		{"int vs parsed", models.AmountFromInt64(1000), models.MustParseAmount("1000")},
		{"zero vs parsed zero", models.AmountFromInt64(0), models.MustParseAmount("0")},
		{"negative", models.AmountFromInt64(-5), models.MustParseAmount("-5")},
		{"big vs parsed", models.NewAmount(huge), models.MustParseAmount(huge.String())},
		{"unset", models.Amount{}, models.NewAmount(nil)},
	}
	for _, tt := range equal {
		t.Run(tt.name, func(t *testing.T) {
			a := txAt("t", sec(0), models.TransactionStatusPending)
			b := a
			a.Amount, b.Amount = tt.a, tt.b
			assert.True(t, reflect.DeepEqual(a, b))
		})
	}
	different := []struct {
		name string
		a, b models.Amount
	}{
		{"1000 vs 1001", models.AmountFromInt64(1000), models.AmountFromInt64(1001)},
		{"sign", models.AmountFromInt64(5), models.AmountFromInt64(-5)},
		{"zero vs unset", models.AmountFromInt64(0), models.Amount{}},
		{"big", models.NewAmount(huge), models.NewAmount(new(big.Int).Add(huge, big.NewInt(1)))},
	}
	for _, tt := range different {
		t.Run(tt.name, func(t *testing.T) {
			a := txAt("t", sec(0), models.TransactionStatusPending)
			b := a
			a.Amount, b.Amount = tt.a, tt.b
			assert.False(t, reflect.DeepEqual(a, b))
		})
	}
	// Through the collection: an amount change is a change and moves the transaction forward.
	c := NewTransactions()
	tx := txAt("t", sec(0), models.TransactionStatusSucceeded)
	require.NoError(t, c.Put(tx))
	before := mustServed(t, c, "t")
	tx.Amount = models.AmountFromInt64(999)
	require.NoError(t, c.Put(tx))
	assert.True(t, mustServed(t, c, "t").After(before))
}

func TestCollectionCustomEqual(t *testing.T) {
	calls := 0
	c := NewCollection(Keys[rec]{
		ID: recID, Time: recAt,
		WithTime: func(r rec, t time.Time) rec { r.At = t; return r },
		Equal:    func(a, b rec) bool { calls++; return a.ID == b.ID }, // ignores time changes
	})
	require.NoError(t, c.Put(rec{"a", sec(0)}))
	require.NoError(t, c.Put(rec{"a", sec(9)}))
	assert.Equal(t, 1, calls)
	assert.True(t, sec(0).Equal(mustReal(t, c, "a").At), "Equal said unchanged: the old item is kept")
}

func TestCollectionConcurrent(t *testing.T) {
	c := NewTransactions()
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				tx := txAt(fmt.Sprintf("w%d_%04d", w, i), sec(i/10), models.TransactionStatusPending)
				assert.NoError(t, c.Put(tx))
				if i%3 == 0 {
					tx.Status = models.TransactionStatusSucceeded
					assert.NoError(t, c.Put(tx))
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for i := range 200 {
				page := c.Page(Query{Page: 1 + i%4, PageSize: 25, Sort: Sort{Field: FieldUpdatedAt, Direction: Ascending}, From: sec(i % 30)})
				for j := 1; j < len(page); j++ {
					assert.True(t, page[j-1].UpdatedAt.Before(page[j].UpdatedAt))
				}
				_ = c.Len()
				_, _ = c.Get("w0_0001")
				_, _ = c.Served("w1_0002")
			}
		})
	}
	wg.Wait()
	all := c.All()
	assert.Len(t, all, writers*perWriter)
	for j := 1; j < len(all); j++ {
		require.True(t, all[j-1].UpdatedAt.Before(all[j].UpdatedAt))
	}
}

func BenchmarkCollectionPage(b *testing.B) {
	c := NewAccounts()
	const n = 100_000
	batch := make([]models.Account, 0, n)
	for i := range n {
		batch = append(batch, accountAt(fmt.Sprintf("acc_%06d", i), sec(i/3)))
	}
	require.NoError(b, c.Put(batch...))
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := Query{Page: 1 + i%3, PageSize: 100, Sort: ascCreated, From: sec((i * 7919) % (n/3 - 200))}
		if len(c.Page(q)) != 100 {
			b.Fatal("short page")
		}
		i++
	}
}

func BenchmarkCollectionPut(b *testing.B) {
	c := NewAccounts()
	i := 0
	for b.Loop() {
		if err := c.Put(accountAt(fmt.Sprintf("acc_%09d", i), sec(i/3))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
