package pgingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
)

func TestNewRefusesBadConfiguration(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none") // never connected
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	f, err := pgfeed.Transactions(pool)
	require.NoError(t, err)

	for name, opts := range map[string][]pgingest.Option{
		"empty table":        {pgingest.WithTable("")},
		"empty schema":       {pgingest.WithTable(".leases")},
		"three parts":        {pgingest.WithTable("a.b.c")},
		"long prefix":        {pgingest.WithTable(fmt.Sprintf("%047d", 0))},
		"zero TTL":           {pgingest.WithLeaseTTL(0)},
		"sub-millisecond":    {pgingest.WithLeaseTTL(time.Microsecond)},
		"empty holder":       {pgingest.WithHolder("")},
		"holder with NUL":    {pgingest.WithHolder("a\x00b")},
		"holder not UTF-8":   {pgingest.WithHolder("\xff")},
		"nil option ignored": {nil, pgingest.WithTable("")},
	} {
		_, err := pgingest.NewElector(pool, opts...)
		assert.ErrorIs(t, err, ingest.ErrInvalidConfig, name)
	}
	_, err = pgingest.NewElector(nil)
	assert.ErrorIs(t, err, ingest.ErrInvalidConfig, "nil pool")

	e, err := pgingest.NewElector(pool, nil, pgingest.WithTable("s.p"), pgingest.WithLeaseTTL(time.Second), pgingest.WithHolder("pod-1"))
	require.NoError(t, err)
	assert.Equal(t, "pod-1", e.Holder())
	assert.Equal(t, time.Second, e.TTL())
	e, err = pgingest.NewElector(pool)
	require.NoError(t, err)
	assert.Equal(t, pgingest.DefaultLeaseTTL, e.TTL())
	other, err := pgingest.NewElector(pool)
	require.NoError(t, err)
	assert.NotEqual(t, e.Holder(), other.Holder(), "two electors of one process must have different default holders")

	_, err = pgingest.NewSink(nil, f)
	assert.ErrorIs(t, err, ingest.ErrInvalidConfig, "nil pool")
	_, err = pgingest.NewSink[struct{}](pool, nil)
	assert.ErrorIs(t, err, ingest.ErrInvalidConfig, "nil feed")
	_, err = pgingest.NewSink(pool, f, pgingest.WithLeaseTTL(time.Second))
	assert.ErrorIs(t, err, ingest.ErrInvalidConfig, "an elector's option")
	assert.ErrorContains(t, err, "WithLeaseTTL")
	_, err = pgingest.NewSink(pool, f, pgingest.WithTable("a..b"))
	assert.ErrorIs(t, err, ingest.ErrInvalidConfig, "bad table")
	s, err := pgingest.NewSink(pool, f, pgingest.WithTable("s.p"))
	require.NoError(t, err)
	assert.Same(t, f, s.Feed())
}

// TestElectorsNeverHoldOneJobTogether: two replicas (two pools, two electors) compete for the same
// jobs, each taking a job whenever it can, holding it a while with renewals and releasing it: no
// job is ever held by both at once, and both get turns.
func TestElectorsNeverHoldOneJobTogether(t *testing.T) {
	schema := newSchema(t)
	electors := []*pgingest.Elector{
		newElector(t, newPool(t, schema), pgingest.WithLeaseTTL(2*time.Second)),
		newElector(t, newPool(t, schema), pgingest.WithLeaseTTL(2*time.Second)),
	}
	jobs := []string{"t1/transactions", "t2/transactions", "t3/transactions"}
	holding := make([]atomic.Int32, len(jobs))
	var (
		mu    sync.Mutex
		turns = map[string]int{} // "holder job" → acquisitions
		worst = make([]int32, len(jobs))
	)
	ctx := context.Background()
	deadline := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	for r, e := range electors {
		for j, job := range jobs {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), uint64(j)))
				for time.Now().Before(deadline) {
					l, ok, err := e.Acquire(ctx, job)
					if err != nil {
						t.Errorf("%s: Acquire(%s): %v", e.Holder(), job, err)
						return
					}
					if !ok {
						time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
						continue
					}
					n := holding[j].Add(1)
					mu.Lock()
					turns[fmt.Sprint(r, " ", job)]++
					worst[j] = max(worst[j], n)
					mu.Unlock()
					for range rng.IntN(4) {
						time.Sleep(time.Duration(rng.IntN(10_000)) * time.Microsecond)
						if err := l.Renew(ctx); err != nil {
							t.Errorf("%s: Renew(%s) while nobody else may take it: %v", e.Holder(), job, err)
						}
					}
					holding[j].Add(-1)
					if err := l.Release(ctx); err != nil {
						t.Errorf("%s: Release(%s): %v", e.Holder(), job, err)
					}
					time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				}
			})
		}
	}
	wg.Wait()
	for j, job := range jobs {
		assert.EqualValues(t, 1, worst[j], "job %s: at most one replica may hold it at once", job)
		for r := range electors {
			assert.Positive(t, turns[fmt.Sprint(r, " ", job)], "replica %d never held job %s", r, job)
		}
	}
	t.Logf("acquisitions: %v", turns)
}

// TestTakeoverAfterTheHolderDies: when the holder stops renewing (a hung process), or its pool is
// closed without a release (a killed one), the other replica cannot take the job before the lease
// expires, and takes it within the TTL plus a bound; the old lease then fails with ErrLeaseLost.
func TestTakeoverAfterTheHolderDies(t *testing.T) {
	const ttl = 600 * time.Millisecond
	const bound = 400 * time.Millisecond // polling every 10ms, plus a slow machine under -race
	for _, death := range []string{"stops renewing", "pool closed"} {
		t.Run(death, func(t *testing.T) {
			schema := newSchema(t)
			poolA := newPool(t, schema)
			a := newElector(t, poolA, pgingest.WithLeaseTTL(ttl))
			b := newElector(t, newPool(t, schema), pgingest.WithLeaseTTL(ttl))
			ctx := context.Background()

			sent := time.Now()
			la := acquire(t, a, "t1/transactions")
			got := time.Now()
			// A renews a few times, then dies.
			for range 3 {
				time.Sleep(ttl / 4)
				sent = time.Now()
				require.NoError(t, la.Renew(ctx))
				got = time.Now()
				_, ok, err := b.Acquire(ctx, "t1/transactions")
				require.NoError(t, err)
				require.False(t, ok, "B took a lease A keeps renewing")
			}
			if death == "pool closed" {
				poolA.Close()
			}
			var taken time.Time
			for taken.IsZero() {
				_, ok, err := b.Acquire(ctx, "t1/transactions")
				require.NoError(t, err)
				if ok {
					taken = time.Now()
					break
				}
				require.Less(t, time.Since(got), ttl+bound, "B did not take the job within the TTL plus %v", bound)
				time.Sleep(10 * time.Millisecond)
			}
			assert.GreaterOrEqual(t, taken.Sub(sent), ttl, "B took the job before A's lease expired")
			assert.Less(t, taken.Sub(got), ttl+bound, "B took the job later than the TTL plus %v", bound)
			t.Logf("taken over %v after the last renewal (TTL %v)", taken.Sub(got).Round(time.Millisecond), ttl)
			if death == "stops renewing" {
				assert.ErrorIs(t, la.Renew(ctx), ingest.ErrLeaseLost, "the old holder's Renew")
			}
		})
	}
}

// TestReleaseHandsOverAtOnce: after a release, the other replica takes the job at its next try,
// and the released lease can no longer be renewed.
func TestReleaseHandsOverAtOnce(t *testing.T) {
	schema := newSchema(t)
	a := newElector(t, newPool(t, schema))
	b := newElector(t, newPool(t, schema))
	ctx := context.Background()
	la := acquire(t, a, "t1/transactions")
	_, ok, err := b.Acquire(ctx, "t1/transactions")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, la.Release(ctx))
	lb := acquire(t, b, "t1/transactions")
	assert.ErrorIs(t, la.Renew(ctx), ingest.ErrLeaseLost)
	require.NoError(t, la.Release(ctx), "releasing a lost lease is a no-op")
	require.NoError(t, lb.Renew(ctx), "a stale release must not free the new holder's lease")
	assert.Equal(t, b.Holder(), lb.Holder())
	assert.Equal(t, "t1/transactions", lb.(*pgingest.Lease).Job())
}

// TestOneElectorHoldsAJobOnce: Syncers sharing one Elector never hold one job together; a replica
// restarted under the same holder name takes its jobs back at once, and the lease of its previous
// life is lost.
func TestOneElectorHoldsAJobOnce(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	ctx := context.Background()
	e := newElector(t, pool, pgingest.WithHolder("pod-1"))

	// Concurrent acquisitions of one Elector: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, ok, err := e.Acquire(ctx, "t1/transactions")
			assert.NoError(t, err)
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, wins.Load())

	restarted := newElector(t, newPool(t, schema), pgingest.WithHolder("pod-1"))
	l := acquire(t, restarted, "t1/transactions")
	require.NoError(t, l.Renew(ctx))
	other := newElector(t, newPool(t, schema), pgingest.WithHolder("pod-2"))
	_, ok, err := other.Acquire(ctx, "t1/transactions")
	require.NoError(t, err)
	assert.False(t, ok, "another holder name must wait for the lease to expire")
}

// TestRenewNeedsALiveLease: a lease that expired cannot be renewed even when nobody took it over,
// and the job can then be acquired again.
func TestRenewNeedsALiveLease(t *testing.T) {
	schema := newSchema(t)
	e := newElector(t, newPool(t, schema), pgingest.WithLeaseTTL(200*time.Millisecond))
	ctx := context.Background()
	l := acquire(t, e, "t1/transactions")
	time.Sleep(300 * time.Millisecond)
	assert.ErrorIs(t, l.Renew(ctx), ingest.ErrLeaseLost)
	l2 := acquire(t, e, "t1/transactions")
	assert.True(t, l2.(*pgingest.Lease).Expires().After(l.(*pgingest.Lease).Expires()))

	_, _, err := e.Acquire(ctx, "bad\x00job")
	assert.Error(t, err, "a job name a text column cannot hold")
}
