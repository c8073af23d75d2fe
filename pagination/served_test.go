package pagination

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

var ascUpdated = Sort{Field: FieldUpdatedAt, Direction: Ascending}

// TestTransactionsServeUpdatedAtNeverBeforeCreatedAt puts transactions with nanosecond timestamps,
// createdAt == updatedAt and many of them in each microsecond, plus changes (with and without a new
// updatedAt, and sometimes an earlier one), reads random pages in between like Formance does, and
// checks on every served transaction that updatedAt is not before createdAt, that createdAt is the
// real one or lowered by less than the resolution, and that GetServed agrees with Page.
func TestTransactionsServeUpdatedAtNeverBeforeCreatedAt(t *testing.T) {
	for _, res := range []time.Duration{time.Microsecond, time.Millisecond, time.Second} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("resolution %v seed %d", res, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, uint64(res)))
				c := NewTransactions(WithResolution(res))
				real := map[string]models.Transaction{} // the last version Put of each id
				now := time.Date(2026, 3, 1, 9, 0, 0, 123_456_789, time.UTC)
				tick := func() time.Time {
					now = now.Add(time.Duration(r.IntN(400))) // about five items a microsecond
					return now
				}
				lowered := 0
				check := func(what string, served []models.Transaction) {
					t.Helper()
					for _, tx := range served {
						require.False(t, tx.UpdatedAt.Before(tx.CreatedAt),
							"%s: %s served with updatedAt %s before createdAt %s", what, tx.ID,
							tx.UpdatedAt.Format(time.RFC3339Nano), tx.CreatedAt.Format(time.RFC3339Nano))
						want := real[tx.ID]
						if !tx.CreatedAt.Equal(want.CreatedAt) {
							lowered++
							assert.True(t, tx.CreatedAt.Equal(tx.UpdatedAt), "%s: %s: a lowered createdAt is the served updatedAt", what, tx.ID)
							assert.Less(t, want.CreatedAt.Sub(tx.CreatedAt), res, "%s: %s: lowered by less than the resolution", what, tx.ID)
						}
						got, ok := c.GetServed(tx.ID)
						require.True(t, ok)
						assert.Equal(t, tx, got, "%s: GetServed(%s) is the item Page served", what, tx.ID)
						assert.Equal(t, want.Status, tx.Status)
					}
				}
				n := 0
				for step := range 3000 {
					switch k := r.IntN(10); {
					case k < 6 || n == 0: // a new transaction, createdAt == updatedAt
						n++
						at := tick()
						tx := txAt(fmt.Sprintf("tx_%05d", n), at, models.TransactionStatusPending)
						require.NoError(t, c.Put(tx))
						real[tx.ID] = tx
					case k < 9: // a change: new status, updatedAt moved, kept, or earlier
						id := fmt.Sprintf("tx_%05d", 1+r.IntN(n))
						tx := real[id]
						tx.Status = []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusFailed,
							models.TransactionStatusRefunded, models.TransactionStatusPending}[r.IntN(4)]
						switch r.IntN(3) {
						case 0:
							tx.UpdatedAt = tick()
						case 1: // the PSP did not move updatedAt
						case 2: // the PSP moved it back (but not before createdAt)
							if back := tx.UpdatedAt.Add(-time.Duration(r.IntN(2000))); !back.Before(tx.CreatedAt) {
								tx.UpdatedAt = back
							}
						}
						require.NoError(t, c.Put(tx))
						real[id] = tx
					default: // Formance reads a page, which raises the high-water mark
						q := Query{Page: 1 + r.IntN(3), PageSize: 1 + r.IntN(100), Sort: ascUpdated}
						if r.IntN(2) == 0 {
							q.From = now.Add(-time.Duration(r.IntN(int(time.Millisecond)))).Truncate(time.Second)
						}
						check(fmt.Sprintf("step %d page %+v", step, q), c.Page(q))
					}
				}
				// The full listing, page by page.
				var all []models.Transaction
				for page := 1; ; page++ {
					got := c.Page(Query{Page: page, PageSize: 100, Sort: ascUpdated})
					all = append(all, got...)
					if len(got) < 100 {
						break
					}
				}
				require.Len(t, all, n)
				check("full listing", all)
				assert.Positive(t, lowered, "the data has createdAt finer than the resolution: some are lowered")
			})
		}
	}
}

// The unit cases of the createdAt rule: lowered only when after the served updatedAt.
func TestTransactionsCreatedAtRule(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123_456_789, time.UTC)
	c := NewTransactions()
	fresh := txAt("fresh", at, models.TransactionStatusPending) // nanosecond createdAt == updatedAt
	older := txAt("older", at, models.TransactionStatusPending)
	older.CreatedAt = at.Add(-time.Hour)
	bad := txAt("bad", at, models.TransactionStatusPending) // the PSP's updatedAt is before its createdAt
	bad.CreatedAt = at.Add(time.Hour)
	require.NoError(t, c.Put(fresh, older, bad))

	served := map[string]models.Transaction{}
	for _, tx := range c.Page(Query{Page: 1, PageSize: 10, Sort: ascUpdated}) {
		served[tx.ID] = tx
	}
	bucket := at.Truncate(time.Microsecond)
	assert.True(t, bucket.Equal(served["fresh"].UpdatedAt))
	assert.True(t, bucket.Equal(served["fresh"].CreatedAt), "createdAt lowered to the served updatedAt, by %v", at.Sub(bucket))
	assert.True(t, older.CreatedAt.Equal(served["older"].CreatedAt), "an earlier createdAt is served as is")
	assert.True(t, served["bad"].UpdatedAt.Equal(served["bad"].CreatedAt), "a createdAt after the PSP's own updatedAt is lowered too")
	g, ok := c.Get("fresh")
	require.True(t, ok)
	assert.Equal(t, fresh, g, "Get keeps the real times")

	// A later version, served with a later updatedAt, carries the real createdAt again.
	fresh.Status, fresh.UpdatedAt = models.TransactionStatusSucceeded, at.Add(time.Second)
	require.NoError(t, c.Put(fresh))
	got, ok := c.GetServed("fresh")
	require.True(t, ok)
	assert.True(t, at.Equal(got.CreatedAt))
	assert.True(t, at.Add(time.Second).Truncate(time.Microsecond).Equal(got.UpdatedAt))

	// Without tie-breaking, transactions are served exactly as Put.
	plain := NewTransactions(WithoutTieBreaking())
	require.NoError(t, plain.Put(bad))
	assert.Equal(t, []models.Transaction{bad}, plain.Page(Query{Page: 1, PageSize: 10, Sort: ascUpdated}))
}

// GetServed returns the item as Page serves it, without moving the high-water mark.
func TestCollectionGetServed(t *testing.T) {
	c := NewAccounts()
	require.NoError(t, c.Put(accountAt("a", sec(0)), accountAt("b", sec(0))))
	got, ok := c.GetServed("b")
	require.True(t, ok)
	assert.True(t, sec(0).Add(1).Equal(got.CreatedAt), "the served time")
	assert.Equal(t, "name b", got.AccountName)
	served, ok := c.Served("b")
	require.True(t, ok)
	assert.True(t, served.Equal(got.CreatedAt), "Served is GetServed's time")
	page := c.Page(Query{Page: 1, PageSize: 10, Sort: ascCreated})
	assert.Equal(t, page[1], got, "exactly the item Page returns")
	real, ok := c.Get("b")
	require.True(t, ok)
	assert.True(t, sec(0).Equal(real.CreatedAt), "Get keeps the real time")

	_, ok = c.GetServed("nope")
	assert.False(t, ok)

	// GetServed records no served time: an item put afterwards with an old time is placed as if
	// nothing had been read.
	d := NewAccounts()
	require.NoError(t, d.Put(accountAt("x", sec(5))))
	_, ok = d.GetServed("x")
	require.True(t, ok)
	require.NoError(t, d.Put(accountAt("y", sec(0))))
	assert.True(t, sec(0).Equal(mustServed(t, d, "y")), "not moved behind x")

	plain := NewAccounts(WithoutTieBreaking())
	require.NoError(t, plain.Put(accountAt("p", sec(0).Add(7))))
	got, ok = plain.GetServed("p")
	require.True(t, ok)
	assert.Equal(t, accountAt("p", sec(0).Add(7)), got, "without tie-breaking, as Put")
}
