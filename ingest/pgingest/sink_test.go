package pgingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
)

var job = jobName("t1") // the name ingest.NewJob gives t1's transactions job

func batch(from, n int) []models.Transaction {
	out := make([]models.Transaction, n)
	for i := range out {
		out[i] = tx(fmt.Sprintf("tx_%05d", from+i), t0.Add(time.Duration(from+i)*time.Millisecond), models.TransactionStatusPending)
	}
	return out
}

// stored returns what the sink holds for tenant t1: the checkpoint and the number of slots.
func stored(t *testing.T, s *pgingest.Sink[models.Transaction]) (string, int) {
	t.Helper()
	cp, err := s.Checkpoint(context.Background(), "t1", job)
	require.NoError(t, err)
	return cp, len(listing(t, s.Feed(), "t1"))
}

func TestCommitStoresItemsWithTheirCheckpoint(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	e := newElector(t, pool)
	s := newSink(t, pool)
	ctx := context.Background()
	cp, n := stored(t, s)
	assert.Equal(t, "", cp, "checkpoint before the first commit")
	assert.Zero(t, n)

	l := acquire(t, e, job)
	require.NoError(t, s.Commit(ctx, "t1", job, batch(0, 10), "cp-10", l))
	require.NoError(t, s.Commit(ctx, "t1", job, nil, "cp-10", l), "an empty pull")
	require.NoError(t, s.Commit(ctx, "t1", job, batch(10, 5), "cp-15", l))
	cp, n = stored(t, s)
	assert.Equal(t, "cp-15", cp)
	assert.Equal(t, 15, n)
	other, err := s.Checkpoint(ctx, "t2", job)
	require.NoError(t, err)
	assert.Equal(t, "", other, "tenants have checkpoints of their own")

	// A batch the feed refuses stores nothing: not its valid items, not its checkpoint.
	bad := batch(15, 3)
	bad[2].ID = ""
	err = s.Commit(ctx, "t1", job, bad, "cp-18", l)
	assert.ErrorIs(t, err, feed.ErrMissingID)
	cp, n = stored(t, s)
	assert.Equal(t, "cp-15", cp)
	assert.Equal(t, 15, n)

	// So does a checkpoint a text column cannot hold.
	assert.Error(t, s.Commit(ctx, "t1", job, batch(15, 3), "cp\x00", l))
	cp, n = stored(t, s)
	assert.Equal(t, "cp-15", cp)
	assert.Equal(t, 15, n)

	// And a cancelled context.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, s.Commit(cancelled, "t1", job, batch(15, 3), "cp-18", l), context.Canceled)
	cp, n = stored(t, s)
	assert.Equal(t, "cp-15", cp)
	assert.Equal(t, 15, n)
}

// TestStaleHolderIsFenced: A's lease expires and B takes the job over; A, still running, then
// commits: the commit fails with ErrLeaseLost and writes nothing. The same holds for a lease that
// expired with nobody taking it, and for a released one.
func TestStaleHolderIsFenced(t *testing.T) {
	schema := newSchema(t)
	poolA, poolB := newPool(t, schema), newPool(t, schema)
	a := newElector(t, poolA, pgingest.WithLeaseTTL(100*time.Millisecond))
	b := newElector(t, poolB, pgingest.WithLeaseTTL(time.Minute))
	sinkA, sinkB := newSink(t, poolA), newSink(t, poolB)
	ctx := context.Background()

	la := acquire(t, a, job)
	require.NoError(t, sinkA.Commit(ctx, "t1", job, batch(0, 10), "cp-10", la))
	time.Sleep(150 * time.Millisecond)
	err := sinkA.Commit(ctx, "t1", job, batch(10, 10), "cp-20", la)
	assert.ErrorIs(t, err, ingest.ErrLeaseLost, "commit under an expired lease")
	assert.ErrorContains(t, err, "expired")

	lb := acquire(t, b, job)
	err = sinkA.Commit(ctx, "t1", job, batch(10, 10), "cp-20", la)
	assert.ErrorIs(t, err, ingest.ErrLeaseLost, "commit after a takeover")
	assert.ErrorContains(t, err, b.Holder(), "the error names the new holder")
	cp, n := stored(t, sinkB)
	assert.Equal(t, "cp-10", cp)
	assert.Equal(t, 10, n, "the stale holder wrote items")

	require.NoError(t, sinkB.Commit(ctx, "t1", job, batch(10, 10), "cp-20", lb))
	require.NoError(t, lb.Release(ctx))
	err = sinkB.Commit(ctx, "t1", job, batch(20, 10), "cp-30", lb)
	assert.ErrorIs(t, err, ingest.ErrLeaseLost, "commit after a release")
	cp, n = stored(t, sinkB)
	assert.Equal(t, "cp-20", cp)
	assert.Equal(t, 20, n)
}

// TestTakeoverWaitsForACommitInProgress: a commit in progress holds the lease row; another replica
// acquiring the job after the lease expired waits until that commit ends, and then reads the
// checkpoint it committed.
func TestTakeoverWaitsForACommitInProgress(t *testing.T) {
	schema := newSchema(t)
	poolA, poolB := newPool(t, schema), newPool(t, schema)
	a := newElector(t, poolA, pgingest.WithLeaseTTL(100*time.Millisecond))
	b := newElector(t, poolB)
	sinkA, sinkB := newSink(t, poolA), newSink(t, poolB)
	ctx := context.Background()

	la := acquire(t, a, job)
	dbtx, err := poolA.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	require.NoError(t, err)
	defer func() { _ = dbtx.Rollback(ctx) }()
	require.NoError(t, sinkA.CommitTx(ctx, dbtx, "t1", job, batch(0, 10), "cp-10", la))
	time.Sleep(150 * time.Millisecond) // the lease expires while the transaction is open

	acquired := make(chan ingest.Lease, 1)
	go func() {
		l, ok, err := b.Acquire(ctx, job)
		assert.NoError(t, err)
		assert.True(t, ok)
		acquired <- l
	}()
	select {
	case <-acquired:
		t.Fatal("B took the job over while A's commit was in progress")
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, dbtx.Commit(ctx))
	var lb ingest.Lease
	select {
	case lb = <-acquired:
	case <-time.After(5 * time.Second):
		t.Fatal("B did not take the job over after A's commit ended")
	}
	cp, err := sinkB.Checkpoint(ctx, "t1", job)
	require.NoError(t, err)
	assert.Equal(t, "cp-10", cp)
	require.NoError(t, sinkB.Commit(ctx, "t1", job, batch(10, 10), "cp-20", lb))
	_, n := stored(t, sinkB)
	assert.Equal(t, 20, n)
}

// TestCommitNeedsALeaseOfThisPackage: the sink fences with the elector's lease rows, so it refuses
// a lease of another elector, of another job, or of another table prefix, and writes nothing.
func TestCommitNeedsALeaseOfThisPackage(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	s := newSink(t, pool)
	ctx := context.Background()
	local, _, err := ingest.NewLocalElector("local").Acquire(ctx, job)
	require.NoError(t, err)
	otherJob := acquire(t, newElector(t, pool), "t1/accounts")
	otherTable := acquire(t, newElector(t, pool, pgingest.WithTable("elsewhere")), job)
	for name, l := range map[string]ingest.Lease{
		"LocalElector's lease": local, "another job's lease": otherJob, "another table's lease": otherTable, "no lease": nil,
	} {
		err := s.Commit(ctx, "t1", job, batch(0, 3), "cp-3", l)
		assert.ErrorIs(t, err, ingest.ErrInvalidConfig, name)
		assert.NotErrorIs(t, err, ingest.ErrLeaseLost, name)
	}
	cp, n := stored(t, s)
	assert.Equal(t, "", cp)
	assert.Zero(t, n)
}
