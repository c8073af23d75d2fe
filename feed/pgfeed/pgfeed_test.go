package pgfeed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/internal/feedlist"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func tx(id string, at time.Time, status models.TransactionStatus) models.Transaction {
	return feedlist.Tx(id, at, status)
}

func query(page, size int, from time.Time) pagination.Query { return feedlist.Query(page, size, from) }

// newTransactions returns a migrated transaction feed on pool.
func newTransactions(t testing.TB, pool *pgxpool.Pool, opts ...pgfeed.Option) *pgfeed.Feed[models.Transaction] {
	t.Helper()
	f, err := pgfeed.Transactions(pool, opts...)
	require.NoError(t, err)
	require.NoError(t, f.Migrate(context.Background()))
	return f
}

// listing returns the whole listing of tenant, a thousand items a page.
func listing(t testing.TB, f feed.Feed[models.Transaction], tenant string) []models.Transaction {
	t.Helper()
	out, err := feedlist.All(context.Background(), f, tenant)
	require.NoError(t, err)
	return out
}

func describe(txs []models.Transaction) string {
	var b strings.Builder
	for i, t := range txs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s@%s/%s", t.ID, t.UpdatedAt.Format("15:04:05.000000000"), t.Status)
	}
	return b.String()
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none") // never connected
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	_, err = pgfeed.Transactions(nil)
	assert.ErrorIs(t, err, feed.ErrInvalidConfig, "nil pool")
	_, err = pgfeed.New(pool, "", feed.TransactionKeys())
	assert.ErrorIs(t, err, feed.ErrInvalidConfig, "empty route")
	_, err = pgfeed.New(pool, "bad\x00route", feed.TransactionKeys())
	assert.ErrorIs(t, err, feed.ErrInvalidConfig, "route with NUL")
	_, err = pgfeed.New(pool, "payouts", feed.Keys[models.Payout]{})
	assert.ErrorIs(t, err, feed.ErrInvalidConfig, "keys without functions")
	_, err = pgfeed.Transactions(pool, pgfeed.WithFeedOptions(feed.WithRetention(-time.Second)))
	assert.ErrorIs(t, err, feed.ErrInvalidConfig, "negative retention")
	for _, table := range []string{"", "a.b.c", "a.", ".b", ".", strings.Repeat("x", 43)} {
		_, err := pgfeed.Transactions(pool, pgfeed.WithTable(table))
		assert.ErrorIs(t, err, feed.ErrInvalidConfig, "table %q", table)
	}
	for _, table := range []string{"t", "s.t", `odd "name"; DROP TABLE x`, strings.Repeat("x", 42)} {
		_, err := pgfeed.Transactions(pool, pgfeed.WithTable(table))
		assert.NoError(t, err, "table %q", table)
	}
	f, err := pgfeed.New(pool, "payouts", feed.Keys[models.Payout]{
		ID:       func(p models.Payout) string { return p.ID },
		Time:     func(p models.Payout) time.Time { return p.CreatedAt },
		WithTime: func(p models.Payout, t time.Time) models.Payout { p.CreatedAt = t; return p },
	})
	require.NoError(t, err)
	assert.Equal(t, "payouts", f.Route())
}

func TestMigrateIsRepeatableAndConcurrent(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	for _, table := range []string{pgfeed.DefaultTable, `odd "name"; DROP TABLE x`, schema + ".qualified"} {
		f, err := pgfeed.Transactions(pool, pgfeed.WithTable(table))
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = f.Migrate(context.Background()) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "concurrent Migrate %d of %q", i, table)
		}
		require.NoError(t, f.Migrate(context.Background()), "Migrate again")
		require.NoError(t, f.Put(context.Background(), "t", tx("a", t0, models.TransactionStatusPending)))
		got := listing(t, f, "t")
		require.Len(t, got, 1, "table %q", table)
	}
	var count int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&count))
	assert.Equal(t, 6, count, "two tables for each prefix")
}

func TestPutFailsWithoutTheTables(t *testing.T) {
	pool := newPool(t, newSchema(t))
	f, err := pgfeed.Transactions(pool, pgfeed.WithTable("never_migrated"))
	require.NoError(t, err)
	err = f.Put(context.Background(), "t", tx("a", t0, models.TransactionStatusPending))
	assert.ErrorContains(t, err, `pgfeed: put transactions of tenant "t"`)
	_, err = f.Page(context.Background(), "t", query(1, 10, time.Time{}))
	assert.ErrorContains(t, err, "pgfeed: page")
}

// TestTablesAreReadableByPeople: the item column is the served JSON, the served time is in st.
func TestTablesAreReadableByPeople(t *testing.T) {
	pool := newPool(t, newSchema(t))
	f := newTransactions(t, pool)
	ctx := context.Background()
	require.NoError(t, f.Put(ctx, "acme", tx("tx_1", t0.Add(1500*time.Millisecond), models.TransactionStatusPending)))
	var tenant, route, id, item string
	var st time.Time
	var superseded *int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT convert_from(tenant, 'UTF8'), route, convert_from(id, 'UTF8'),
		convert_from(item, 'UTF8')::jsonb::text, to_timestamp(st / 1e9), superseded_at FROM pspconnect_feed_slots`).
		Scan(&tenant, &route, &id, &item, &st, &superseded))
	assert.Equal(t, []string{"acme", "transactions", "tx_1"}, []string{tenant, route, id})
	assert.True(t, st.Equal(t0.Add(1500*time.Millisecond)), "st %s", st)
	assert.Nil(t, superseded)
	var decoded models.Transaction
	require.NoError(t, json.Unmarshal([]byte(item), &decoded))
	assert.Equal(t, "tx_1", decoded.ID)
	var horizon, maxAssigned int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT horizon, max_assigned FROM pspconnect_feed_heads`).Scan(&horizon, &maxAssigned))
	assert.Equal(t, feed.NoHorizon, horizon, "nobody read yet")
	assert.Equal(t, t0.Add(1500*time.Millisecond).UnixNano(), maxAssigned)
}

// clock is a settable clock shared by the feeds of a test.
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

// TestMatchesMemory runs random Puts, Loads, Pages, Gets, Prunes and clock moves on a memory feed
// and a pgfeed feed side by side and wants the same answers from both, for transactions (changes
// get new slots) and accounts (changes in place).
func TestMatchesMemory(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("transactions/seed=", seed), func(t *testing.T) {
			c := &clock{now: time.Unix(1_700_000_000, 123)}
			opts := []feed.Option{feed.WithClock(c.Now), feed.WithRetention(time.Hour)}
			mem, err := feed.NewMemory(feed.TransactionKeys(), opts...)
			require.NoError(t, err)
			pg := newTransactions(t, pool, pgfeed.WithTable(fmt.Sprintf("tx_%d", seed)), pgfeed.WithFeedOptions(opts...))
			rng := rand.New(rand.NewPCG(seed, 99))
			statuses := []models.TransactionStatus{models.TransactionStatusPending, models.TransactionStatusSucceeded, models.TransactionStatusFailed}
			item := func() models.Transaction {
				at := t0.Add(time.Duration(rng.IntN(6)) * time.Second)
				if rng.IntN(3) == 0 {
					at = at.Add(time.Duration(rng.IntN(3)))
				}
				it := tx(fmt.Sprintf("id_%02d", rng.IntN(25)), at, statuses[rng.IntN(len(statuses))])
				if rng.IntN(5) == 0 {
					it.CreatedAt = at.Add(time.Duration(rng.IntN(3)) * time.Second) // updatedAt before createdAt
				}
				return it
			}
			compareFeeds(t, rng, c, mem, pg, item)
		})
		t.Run(fmt.Sprint("accounts/seed=", seed), func(t *testing.T) {
			c := &clock{now: time.Unix(1_700_000_000, 0)}
			opts := []feed.Option{feed.WithClock(c.Now), feed.WithRetention(time.Hour)}
			mem, err := feed.NewMemory(feed.AccountKeys(), opts...)
			require.NoError(t, err)
			pg, err := pgfeed.Accounts(pool, pgfeed.WithTable(fmt.Sprintf("acc_%d", seed)), pgfeed.WithFeedOptions(opts...))
			require.NoError(t, err)
			require.NoError(t, pg.Migrate(context.Background()))
			rng := rand.New(rand.NewPCG(seed, 7))
			item := func() models.Account {
				a := models.Account{ID: fmt.Sprintf("acc_%02d", rng.IntN(20)), AccountName: fmt.Sprint("name ", rng.IntN(3)),
					CreatedAt: t0.Add(time.Duration(rng.IntN(4)) * time.Second)}
				if rng.IntN(4) == 0 {
					a.Metadata = models.Metadata{"k": fmt.Sprint(rng.IntN(2))}
				}
				return a
			}
			compareFeeds(t, rng, c, mem, pg, item)
		})
	}
}

func compareFeeds[T any](t *testing.T, rng *rand.Rand, c *clock, mem, pg feed.Feed[T], item func() T) {
	ctx := context.Background()
	tenants := []string{"t1", "t2", "odd\x00tenant\xff"}
	encode := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	sameErr := func(step int, what string, errMem, errPG error) {
		t.Helper()
		for _, target := range []error{feed.ErrMissingID, feed.ErrTimeOutOfRange, feed.ErrNotEmpty} {
			require.Equal(t, errors.Is(errMem, target), errors.Is(errPG, target), "step %d %s: memory %v, pgfeed %v", step, what, errMem, errPG)
		}
		require.Equal(t, errMem == nil, errPG == nil, "step %d %s: memory %v, pgfeed %v", step, what, errMem, errPG)
	}
	loads := 0
	for step := range 400 {
		tenant := tenants[rng.IntN(len(tenants))]
		switch op := rng.IntN(20); {
		case op < 8: // Put
			batch := make([]T, 1+rng.IntN(8))
			for i := range batch {
				batch[i] = item()
			}
			if rng.IntN(4) == 0 {
				batch = append(batch, batch[rng.IntN(len(batch))]) // the same item again
			}
			if rng.IntN(30) == 0 {
				var bad T // no id
				batch = append(batch, bad)
			}
			what := fmt.Sprintf("Put(%q, %s)", tenant, encode(batch))
			sameErr(step, what, mem.Put(ctx, tenant, batch...), pg.Put(ctx, tenant, batch...))
		case op < 9: // Load
			if rng.IntN(2) == 0 {
				loads++
				tenant = fmt.Sprint("loaded_", loads)
			}
			batch := make([]T, rng.IntN(30))
			for i := range batch {
				batch[i] = item()
			}
			what := fmt.Sprintf("Load(%q, %d items)", tenant, len(batch))
			sameErr(step, what, mem.Load(ctx, tenant, batch), pg.Load(ctx, tenant, batch))
		case op < 16: // Page
			q := query(1+rng.IntN(3), 1+rng.IntN(12), time.Time{})
			if rng.IntN(3) > 0 {
				q.From = t0.Add(time.Duration(rng.IntN(7)) * time.Second)
			}
			if rng.IntN(4) == 0 {
				q.Sort.Direction = pagination.Descending
			}
			a, errMem := mem.Page(ctx, tenant, q)
			b, errPG := pg.Page(ctx, tenant, q)
			what := fmt.Sprintf("Page(%q, %+v)", tenant, q)
			sameErr(step, what, errMem, errPG)
			require.Equal(t, encode(a), encode(b), "step %d %s", step, what)
		case op < 18: // Get
			id := fmt.Sprintf("%02d", rng.IntN(25))
			for _, prefix := range []string{"id_", "acc_"} {
				a, okA, errA := mem.Get(ctx, tenant, prefix+id)
				b, okB, errB := pg.Get(ctx, tenant, prefix+id)
				require.NoError(t, errA)
				require.NoError(t, errB)
				require.Equal(t, okA, okB, "step %d Get(%q, %q)", step, tenant, prefix+id)
				require.Equal(t, encode(a), encode(b), "step %d Get(%q, %q)", step, tenant, prefix+id)
			}
		default: // the clock moves, and Prune
			c.Add([]time.Duration{0, time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour}[rng.IntN(5)])
			a, errMem := mem.Prune(ctx)
			b, errPG := pg.Prune(ctx)
			require.NoError(t, errMem)
			require.NoError(t, errPG)
			require.Equal(t, a, b, "step %d: Prune deleted %d slots from memory, %d from pgfeed", step, a, b)
		}
	}
	// In the end, every tenant's whole listing, superseded slots included, is the same.
	for _, tenant := range append(tenants, "loaded_1", "loaded_2") {
		a, errA := mem.Page(ctx, tenant, query(1, 100000, time.Time{}))
		b, errB := pg.Page(ctx, tenant, query(1, 100000, time.Time{}))
		require.NoError(t, errA)
		require.NoError(t, errB)
		require.Equal(t, encode(a), encode(b), "the final listing of %q", tenant)
	}
}

// TestReplicasNeverPlaceBehindAReader: two replicas (two pools, two feeds on one database), each
// with writers putting new items, late items and changes, and readers polling as Formance does (a
// second-precision …From, page after page). Every page has unique, increasing served times, and no
// slot a reader sees for the first time is at or before the latest served time it had seen: that
// is the check-then-insert race the head row's lock prevents.
func TestReplicasNeverPlaceBehindAReader(t *testing.T) {
	schema := newSchema(t)
	replicas := []*pgfeed.Feed[models.Transaction]{newTransactions(t, newPool(t, schema)), newTransactions(t, newPool(t, schema))}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	var written [4]int
	for w := range 4 {
		f := replicas[w%2]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ctx.Err() == nil; i++ {
				var batch []models.Transaction
				for j := range 1 + rng.IntN(5) {
					// Times spread over a few seconds, so that late items and ties are common.
					at := t0.Add(time.Duration(i/20)*time.Second + time.Duration(rng.IntN(3000))*time.Millisecond - time.Second)
					batch = append(batch, tx(fmt.Sprintf("w%d_%04d_%d", w, i, j), at, models.TransactionStatusPending))
				}
				if i > 0 {
					old := fmt.Sprintf("w%d_%04d_0", w, rng.IntN(i))
					batch = append(batch, tx(old, t0, []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusFailed}[rng.IntN(2)]))
				}
				if err := f.Put(ctx, "t1", batch...); err != nil {
					if ctx.Err() == nil {
						fail("writer %d: %v", w, err)
					}
					return
				}
				written[w]++
			}
		})
	}
	var polls [4]int
	for r := range 4 {
		f := replicas[r%2]
		wg.Go(func() {
			seen := map[int64]string{}
			latest := feed.NoHorizon
			var cursor time.Time // Formance's S
			for ctx.Err() == nil {
				from := cursor.Truncate(time.Second)
				for p := 1; ctx.Err() == nil; p++ {
					items, err := f.Page(ctx, "t1", query(p, 25, from))
					if err != nil {
						if ctx.Err() == nil {
							fail("reader %d: %v", r, err)
						}
						return
					}
					polls[r]++
					pageLatest := latest
					for i, it := range items {
						ns := it.UpdatedAt.UnixNano()
						if i > 0 && !it.UpdatedAt.After(items[i-1].UpdatedAt) {
							fail("reader %d: page %d from %s: served times not increasing: %s", r, p, from, describe(items))
							return
						}
						key := it.ID + "/" + string(it.Status)
						if prev, ok := seen[ns]; ok {
							if prev != key {
								fail("reader %d: served time %s held %s, then %s", r, it.UpdatedAt.Format(time.RFC3339Nano), prev, key)
								return
							}
						} else {
							if ns <= latest {
								fail("reader %d: %s first seen at %s, at or behind %s, which it had read",
									r, key, it.UpdatedAt.Format(time.RFC3339Nano), time.Unix(0, latest).UTC().Format(time.RFC3339Nano))
								return
							}
							seen[ns] = key
						}
						pageLatest = max(pageLatest, ns)
						if it.UpdatedAt.After(cursor) {
							cursor = it.UpdatedAt
						}
					}
					latest = pageLatest
					if len(items) < 25 {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("batches written per writer %v, pages read per reader %v", written, polls)
	for i := range 4 {
		assert.Positive(t, written[i], "writer %d wrote nothing", i)
		assert.Positive(t, polls[i], "reader %d read nothing", i)
	}
	// Both replicas serve one listing, with unique served times.
	a, b := listing(t, replicas[0], "t1"), listing(t, replicas[1], "t1")
	assert.Equal(t, describe(a), describe(b))
	for i := 1; i < len(a); i++ {
		require.True(t, a[i].UpdatedAt.After(a[i-1].UpdatedAt), "listing not strictly increasing at %d", i)
	}
}

// TestReaderWaitsForAWriterInProgress: a writer's transaction holds the head row; a reader that
// must raise the horizon waits for it, and then serves what it committed, before the horizon.
func TestReaderWaitsForAWriterInProgress(t *testing.T) {
	schema := newSchema(t)
	writerPool, readerPool := newPool(t, schema), newPool(t, schema)
	writer, reader := newTransactions(t, writerPool), newTransactions(t, readerPool)
	ctx := context.Background()
	require.NoError(t, writer.Put(ctx, "t1", tx("a", t0.Add(10*time.Second), models.TransactionStatusPending)))

	dbtx, err := writerPool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = dbtx.Rollback(ctx) }()
	require.NoError(t, writer.PutTx(ctx, dbtx, "t1", tx("b", t0, models.TransactionStatusPending))) // b at t0: before a

	done := make(chan []models.Transaction, 1)
	go func() {
		items, err := reader.Page(ctx, "t1", query(1, 10, time.Time{}))
		assert.NoError(t, err)
		done <- items
	}()
	select {
	case items := <-done:
		t.Fatalf("the reader raised the horizon while a writer held the head row: %s", describe(items))
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, dbtx.Commit(ctx))
	items := <-done
	require.Equal(t, "b@10:00:00.000000000/PENDING, a@10:00:10.000000000/PENDING", describe(items),
		"after the writer committed, the reader serves both, b at its own time")

	// Now the horizon is a: a late item goes after it, whichever replica puts it.
	require.NoError(t, reader.Put(ctx, "t1", tx("c", t0, models.TransactionStatusPending)))
	got := listing(t, writer, "t1")
	require.Len(t, got, 3)
	assert.Equal(t, "c", got[2].ID)
	assert.True(t, got[2].UpdatedAt.After(got[1].UpdatedAt))
}

// TestPutTxRollsBackWithTheCaller: items put in a transaction that rolls back are not stored.
func TestPutTxRollsBackWithTheCaller(t *testing.T) {
	pool := newPool(t, newSchema(t))
	f := newTransactions(t, pool)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(dbtx pgx.Tx) error {
		if err := f.PutTx(ctx, dbtx, "t1", tx("a", t0, models.TransactionStatusPending)); err != nil {
			return err
		}
		return errors.New("the caller's own write failed")
	})
	require.Error(t, err)
	assert.Empty(t, listing(t, f, "t1"))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(dbtx pgx.Tx) error {
		return f.PutTx(ctx, dbtx, "t1", tx("a", t0, models.TransactionStatusPending))
	}))
	assert.Len(t, listing(t, f, "t1"), 1)
	err = pgx.BeginFunc(ctx, pool, func(dbtx pgx.Tx) error {
		return f.PutTx(ctx, dbtx, "t1", tx("", t0, models.TransactionStatusPending))
	})
	assert.ErrorIs(t, err, feed.ErrMissingID)
}

// TestRestartKeepsTheHorizon: a new pool and a new feed on the same tables (a restart) serve an
// item put with an old time after everything read before the restart, and keep the served times.
func TestRestartKeepsTheHorizon(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	before := newPool(t, schema)
	f := newTransactions(t, before)
	var in []models.Transaction
	for i := range 30 {
		in = append(in, tx(fmt.Sprintf("tx_%02d", i), t0.Add(time.Duration(i/10)*time.Second), models.TransactionStatusPending))
	}
	require.NoError(t, f.Put(ctx, "t1", in...))
	read := listing(t, f, "t1")
	require.Len(t, read, 30)
	before.Close()

	restarted := newTransactions(t, newPool(t, schema))
	// The PSP's whole list again (unchanged: no-op), a late item, and a change without a new time.
	changed := in[5]
	changed.Status = models.TransactionStatusSucceeded
	require.NoError(t, restarted.Put(ctx, "t1", append(slices.Clone(in), tx("late", t0, models.TransactionStatusPending), changed)...))
	got := listing(t, restarted, "t1")
	require.Len(t, got, 32)
	assert.Equal(t, describe(read), describe(got[:30]), "the slots read before the restart keep their served times and order")
	last := read[len(read)-1].UpdatedAt
	assert.Equal(t, "late", got[30].ID)
	assert.True(t, got[30].UpdatedAt.After(last), "late served at %s, not after %s read before the restart", got[30].UpdatedAt, last)
	assert.Equal(t, "tx_05", got[31].ID)
	assert.Equal(t, models.TransactionStatusSucceeded, got[31].Status)
	assert.True(t, got[31].UpdatedAt.After(got[30].UpdatedAt))
}

// TestTenantsNeverSeeEachOther: the same ids in several tenants (odd names included) are separate
// items with separate horizons; Load looks at its own tenant only.
func TestTenantsNeverSeeEachOther(t *testing.T) {
	pool := newPool(t, newSchema(t))
	f := newTransactions(t, pool)
	ctx := context.Background()
	tenants := []string{"acme", "acme ", "ACME", "a\x00b", "\xff\xfe", ""}
	for i, tenant := range tenants {
		var items []models.Transaction
		for j := range i + 1 {
			items = append(items, tx(fmt.Sprintf("tx_%d", j), t0.Add(time.Duration(i)*time.Second), models.TransactionStatusPending))
		}
		require.NoError(t, f.Put(ctx, tenant, items...), "tenant %q", tenant)
	}
	for i, tenant := range tenants {
		got := listing(t, f, tenant)
		require.Len(t, got, i+1, "tenant %q", tenant)
		assert.True(t, got[0].UpdatedAt.Equal(t0.Add(time.Duration(i)*time.Second)), "tenant %q: %s", tenant, describe(got))
		g, ok, err := f.Get(ctx, tenant, fmt.Sprintf("tx_%d", i))
		require.NoError(t, err)
		require.True(t, ok, "tenant %q", tenant)
		assert.True(t, g.UpdatedAt.Equal(got[i].UpdatedAt))
		_, ok, err = f.Get(ctx, tenant, fmt.Sprintf("tx_%d", i+1))
		require.NoError(t, err)
		assert.False(t, ok, "tenant %q sees an id of another tenant", tenant)
	}
	// The horizon of acme does not delay another tenant's item.
	require.NoError(t, f.Put(ctx, "ACME", tx("early", t0.Add(-time.Hour), models.TransactionStatusPending)))
	require.NoError(t, f.Load(ctx, "new", []models.Transaction{tx("early", t0.Add(-time.Hour), models.TransactionStatusPending)}))
	assert.ErrorIs(t, f.Load(ctx, "acme", nil), feed.ErrNotEmpty)
	got := listing(t, f, "new")
	require.Len(t, got, 1)
	assert.True(t, got[0].UpdatedAt.Equal(t0.Add(-time.Hour)))
	// Another route on the same tables is apart too.
	other, err := pgfeed.New(pool, "refunds", feed.TransactionKeys())
	require.NoError(t, err)
	assert.Empty(t, listing(t, other, "acme"))
	require.NoError(t, other.Load(ctx, "acme", []models.Transaction{tx("r", t0, models.TransactionStatusPending)}))
	assert.Len(t, listing(t, f, "acme"), 1)
}

// TestPruneDeletesInBatches: more superseded slots than one DELETE removes, of two tenants, only
// the one whose pollers are past them.
func TestPruneDeletesInBatches(t *testing.T) {
	pool := newPool(t, newSchema(t))
	c := &clock{now: time.Now()}
	f := newTransactions(t, pool, pgfeed.WithFeedOptions(feed.WithClock(c.Now), feed.WithRetention(time.Hour)))
	ctx := context.Background()
	var in []models.Transaction
	for i := range 2500 {
		in = append(in, tx(fmt.Sprintf("tx_%04d", i), t0, models.TransactionStatusPending))
	}
	for _, tenant := range []string{"t1", "t2"} {
		require.NoError(t, f.Put(ctx, tenant, in...))
		listing(t, f, tenant)
		changed := make([]models.Transaction, len(in))
		for i, it := range in {
			it.Status = models.TransactionStatusSucceeded
			changed[i] = it
		}
		require.NoError(t, f.Put(ctx, tenant, changed...))
	}
	c.Add(2 * time.Hour)
	_, err := f.Page(ctx, "t1", query(1, 10, t0.Add(time.Hour))) // t1's poller is past the superseded slots
	require.NoError(t, err)
	_, err = f.Page(ctx, "t2", query(1, 10, t0)) // t2's poller is not
	require.NoError(t, err)
	n, err := f.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2500, n)
	assert.Len(t, listing(t, f, "t1"), 2500)
	assert.Len(t, listing(t, f, "t2"), 5000)
}

// explain returns the plan PostgreSQL picks for the feed's statement name with args (SQL
// literals), under plan_cache_mode mode ("auto" plans for these values; "force_generic_plan" is
// what a prepared statement may switch to).
func explain(t *testing.T, conn *pgxpool.Conn, f *pgfeed.Feed[models.Transaction], name, mode, args string) string {
	t.Helper()
	ctx := context.Background()
	stmt := pgfeed.Statements(f)[name]
	_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "DEALLOCATE PREPARE ALL")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, fmt.Sprintf("PREPARE explained (%s) AS %s", stmt[0], stmt[1]))
	require.NoError(t, err)
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE explained("+args+")", pgx.QueryExecModeSimpleProtocol)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}

// planTable fills a feed with 100,000 transactions of one tenant and 5,000 of another, as a large
// first Load leaves it: with no statistics yet (analyzed false) or after ANALYZE.
func planTable(t *testing.T, analyzed bool) (*pgxpool.Pool, *pgfeed.Feed[models.Transaction]) {
	t.Helper()
	pool := newPool(t, newSchema(t))
	f := newTransactions(t, pool)
	ctx := context.Background()
	var in []models.Transaction
	for i := range 100000 {
		in = append(in, tx(fmt.Sprintf("tx_%06d", i), t0.Add(time.Duration(i)*time.Millisecond), models.TransactionStatusPending))
	}
	require.NoError(t, f.Load(ctx, "big", in))
	require.NoError(t, f.Load(ctx, "other", in[:5000]))
	if analyzed {
		_, err := pool.Exec(ctx, "ANALYZE pspconnect_feed_slots")
		require.NoError(t, err)
	} else {
		_, err := pool.Exec(ctx, "ALTER TABLE pspconnect_feed_slots SET (autovacuum_enabled = false)")
		require.NoError(t, err)
	}
	return pool, f
}

// TestPageQueryIsAnIndexRangeScan: the page query is one range scan of the slots' primary key, in
// the order asked, never a sort or a sequential scan: with the plan for the request's values, with
// the generic plan, with and without statistics.
func TestPageQueryIsAnIndexRangeScan(t *testing.T) {
	for _, analyzed := range []bool{false, true} {
		pool, f := planTable(t, analyzed)
		conn, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		for _, mode := range []string{"auto", "force_generic_plan"} {
			for _, name := range []string{"page", "pageDesc"} {
				for _, from := range []int64{feed.NoHorizon, t0.UnixNano(), t0.Add(90 * time.Second).UnixNano()} {
					for _, offset := range []int{0, 500} {
						args := fmt.Sprintf(`'\x626967', 'transactions', %d, %d, %d, 100`, from, t0.Add(time.Hour).UnixNano(), offset)
						plan := explain(t, conn, f, name, mode, args)
						what := fmt.Sprintf("analyzed %v, plan_cache_mode %s, %s(%s):\n%s", analyzed, mode, name, args, plan)
						assert.Regexp(t, `Index (Only )?Scan (Backward )?using pspconnect_feed_slots_pkey`, plan, what)
						for _, bad := range []string{"Sort", "Seq Scan", "Bitmap"} {
							assert.NotContains(t, plan, bad, what)
						}
						if mode == "auto" && from == feed.NoHorizon && offset == 0 {
							t.Logf("%s", what)
						}
					}
				}
			}
		}
		conn.Release()
	}
}

// TestHeadAndPageIsOneIndexRangeScanOfTheSlots: the one-round-trip read of the head and a page reads
// the slots with a range scan of their primary key, without a sort, whatever the statistics.
func TestHeadAndPageIsOneIndexRangeScanOfTheSlots(t *testing.T) {
	for _, analyzed := range []bool{false, true} {
		pool, f := planTable(t, analyzed)
		conn, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		for _, mode := range []string{"auto", "force_generic_plan"} {
			for _, from := range []int64{feed.NoHorizon, t0.UnixNano()} {
				for _, offset := range []int{0, 500} {
					args := fmt.Sprintf(`'\x626967', 'transactions', %d, %d, 100`, from, offset)
					plan := explain(t, conn, f, "headAndPage", mode, args)
					what := fmt.Sprintf("analyzed %v, plan_cache_mode %s, headAndPage(%s):\n%s", analyzed, mode, args, plan)
					assert.Regexp(t, `Index (Only )?Scan using pspconnect_feed_slots_pkey`, plan, what)
					assert.NotContains(t, plan, "Sort", what)
					assert.NotRegexp(t, `Seq Scan on pspconnect_feed_slots|Bitmap Heap Scan on pspconnect_feed_slots`, plan, what)
				}
			}
		}
		conn.Release()
	}
}

// TestWriteStatementsProbeIndexes: the statements of Put, Get and Prune look up every id or served
// time of a batch with an index probe (or delete by row address), never a scan of the tenant's
// route, even before PostgreSQL has statistics of a large table.
func TestWriteStatementsProbeIndexes(t *testing.T) {
	var sts, his, ids []string
	for i := range 1000 {
		ns := t0.Add(time.Duration(i*97) * time.Millisecond).UnixNano()
		sts, his = append(sts, fmt.Sprint(ns)), append(his, fmt.Sprint(ns+63))
		ids = append(ids, fmt.Sprintf(`"tx_%06d"`, i*97))
	}
	stArray := "'{" + strings.Join(sts, ",") + "}'"
	args := map[string]string{
		"current":   `'\x626967', 'transactions', '{` + strings.Join(ids, ",") + `}'`,
		"taken":     `'\x626967', 'transactions', ` + stArray + ", '{" + strings.Join(his, ",") + "}'",
		"remove":    `'\x626967', 'transactions', ` + stArray,
		"supersede": `'\x626967', 'transactions', ` + stArray + ", 5",
		"inPlace":   `'\x626967', 'transactions', ` + sts[7] + `, '\x7b7d', true`,
		"get":       `'\x626967', 'transactions', 'tx_000042'`,
		"anySlot":   `'\x6e6577', 'transactions'`,
		"prune":     `'\x626967', 'transactions', 5, ` + sts[500] + ", 1000",
	}
	for _, analyzed := range []bool{false, true} {
		pool, f := planTable(t, analyzed)
		conn, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		for _, mode := range []string{"auto", "force_generic_plan"} {
			for name, a := range args {
				plan := explain(t, conn, f, name, mode, a)
				what := fmt.Sprintf("analyzed %v, plan_cache_mode %s, %s:\n%s", analyzed, mode, name, plan)
				bad := []string{"Seq Scan", "Hash", "Merge", "Sort", "Bitmap", "Filter"}
				if name == "prune" {
					bad = bad[:4] // a range of the superseded slots' index, filtered by served time
				}
				for _, b := range bad {
					assert.NotContains(t, plan, b, what)
				}
				assert.Regexp(t, "Index (Only )?Scan|Tid Scan", plan, what)
			}
		}
		conn.Release()
	}
}

// TestItemsAreStoredAsServed: what Page and Get return is the stored JSON, with the served time, in
// UTC, and a change of metadata or amount is a change.
func TestItemsAreStoredAsServed(t *testing.T) {
	f := newTransactions(t, newPool(t, newSchema(t)))
	ctx := context.Background()
	a := tx("a", t0.In(time.FixedZone("X", 7200)), models.TransactionStatusPending)
	a.Metadata = models.Metadata{"k": "v"}
	a.Amount = models.MustParseAmount("123456789012345678901234567890")
	require.NoError(t, f.Put(ctx, "t1", a, a))
	got := listing(t, f, "t1")
	require.Len(t, got, 1)
	assert.Equal(t, time.UTC, got[0].UpdatedAt.Location())
	assert.Equal(t, "123456789012345678901234567890", got[0].Amount.String())
	assert.Equal(t, models.Metadata{"k": "v"}, got[0].Metadata)
	a.Metadata = models.Metadata{"k": "w"}
	require.NoError(t, f.Put(ctx, "t1", a))
	got = listing(t, f, "t1")
	require.Len(t, got, 2)
	assert.Equal(t, models.Metadata{"k": "w"}, got[1].Metadata)
	cur, ok, err := f.Get(ctx, "t1", "a")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, got[1], cur)
}
