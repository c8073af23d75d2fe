package pgingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// Sink is an ingest.Sink into a pgfeed.Feed, with the checkpoints in the same database: each Commit
// writes the items and the checkpoint after them in one transaction, fenced by the job's lease.
// Build it with NewSink and create its tables with Migrate (the feed's own tables with the feed's
// Migrate). It is safe for concurrent use by any number of goroutines and processes.
//
// It needs the leases of an Elector of this package with the same table prefix: a lease of
// another elector (ingest.LocalElector's, say) has no row to fence with, and Commit refuses it. A
// single-replica middleware uses an Elector of this package too; it costs one row per job.
type Sink[T any] struct {
	pool *pgxpool.Pool
	feed *pgfeed.Feed[T]
	sql  statements
}

var _ ingest.Sink[models.Transaction] = (*Sink[models.Transaction])(nil)

// NewSink returns a sink into f, with the checkpoints in pool's database, which must be f's (the
// items and the checkpoint are written in one transaction of pool). The only option is WithTable;
// it fails with an error wrapping ingest.ErrInvalidConfig for a nil pool or feed, a bad table
// prefix, or an option of the Elector.
func NewSink[T any](pool *pgxpool.Pool, f *pgfeed.Feed[T], opts ...Option) (*Sink[T], error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ingest.ErrInvalidConfig)
	}
	if f == nil {
		return nil, fmt.Errorf("%w: nil feed", ingest.ErrInvalidConfig)
	}
	o := buildOptions(opts)
	if len(o.electorOf) > 0 {
		return nil, fmt.Errorf("%w: %s is an option of NewElector, not of NewSink", ingest.ErrInvalidConfig, o.electorOf[0])
	}
	s, err := newStatements(o.table)
	if err != nil {
		return nil, err
	}
	return &Sink[T]{pool: pool, feed: f, sql: s}, nil
}

// Migrate creates the tables of the leases and of the checkpoints when they do not exist, like
// Elector.Migrate; it does not create the feed's tables (pgfeed.Feed.Migrate does).
func (s *Sink[T]) Migrate(ctx context.Context) error { return migrate(ctx, s.pool, s.sql) }

// Feed returns the feed the sink writes into.
func (s *Sink[T]) Feed() *pgfeed.Feed[T] { return s.feed }

// Checkpoint implements ingest.Sink: the checkpoint of the last Commit of tenant's job, "" when
// there was none.
func (s *Sink[T]) Checkpoint(ctx context.Context, tenant, job string) (string, error) {
	if err := checkText("job", job); err != nil {
		return "", err
	}
	var cp string
	err := s.pool.QueryRow(ctx, s.sql.readCheckpoint, []byte(tenant), job).Scan(&cp)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("pgingest: read the checkpoint of job %q: %w", job, err)
	}
	return cp, nil
}

// Commit implements ingest.Sink in one READ COMMITTED transaction: the fence (see CommitTx), the
// items (pgfeed.Feed.PutTx), then the checkpoint. After any error, ctx's end included, it rolls
// back and nothing is stored. It fails with an error wrapping ingest.ErrLeaseLost when lease no
// longer holds the job, and with one wrapping ingest.ErrInvalidConfig when lease is not a *Lease
// of this package for job with the sink's table prefix.
func (s *Sink[T]) Commit(ctx context.Context, tenant, job string, items []T, checkpoint string, lease ingest.Lease) error {
	l, err := s.check(job, checkpoint, lease)
	if err != nil {
		return err
	}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		return s.commit(ctx, tx, tenant, job, items, checkpoint, l)
	})
	if err != nil && !errors.Is(err, ingest.ErrLeaseLost) {
		return fmt.Errorf("pgingest: commit %d items of job %q: %w", len(items), job, err)
	}
	return err
}

// CommitTx is Commit inside the caller's transaction, so that what the caller writes with the batch
// is committed with it or not at all; nothing is stored when tx rolls back. tx must be READ
// COMMITTED (PostgreSQL's default), as pgfeed.Feed.PutTx requires, and must be on the sink's
// database.
//
// First it locks the job's lease row (SELECT … FOR UPDATE) and checks that it still holds lease's
// token and has not expired, or fails with an error wrapping ingest.ErrLeaseLost; then it puts the
// items and upserts the checkpoint. The row lock lasts until tx ends: another replica's Acquire of
// the job waits for it, and then sees the lease as tx left it, so a takeover can never start
// between the fence and the commit, and the new holder reads the checkpoint tx committed. The feed's
// head row is locked too (see PutTx): commit soon.
func (s *Sink[T]) CommitTx(ctx context.Context, tx pgx.Tx, tenant, job string, items []T, checkpoint string, lease ingest.Lease) error {
	l, err := s.check(job, checkpoint, lease)
	if err != nil {
		return err
	}
	err = s.commit(ctx, tx, tenant, job, items, checkpoint, l)
	if err != nil && !errors.Is(err, ingest.ErrLeaseLost) {
		return fmt.Errorf("pgingest: commit %d items of job %q: %w", len(items), job, err)
	}
	return err
}

// check returns lease as this package's lease for job, or the reason it cannot fence a commit.
func (s *Sink[T]) check(job, checkpoint string, lease ingest.Lease) (*Lease, error) {
	l, ok := lease.(*Lease)
	switch {
	case !ok || l == nil:
		return nil, fmt.Errorf("pgingest: commit of job %q: %w: a lease of type %T (the sink fences its commits with "+
			"the lease rows of a pgingest.Elector, so it needs a lease from one)", job, ingest.ErrInvalidConfig, lease)
	case l.job != job:
		return nil, fmt.Errorf("pgingest: commit of job %q: %w: the lease of job %q", job, ingest.ErrInvalidConfig, l.job)
	case l.e.sql.leases != s.sql.leases:
		return nil, fmt.Errorf("pgingest: commit of job %q: %w: a lease in table %s, the sink's leases are in %s",
			job, ingest.ErrInvalidConfig, l.e.sql.leases, s.sql.leases)
	}
	if err := checkText("checkpoint", checkpoint); err != nil {
		return nil, err
	}
	return l, nil
}

func (s *Sink[T]) commit(ctx context.Context, tx pgx.Tx, tenant, job string, items []T, checkpoint string, l *Lease) error {
	var (
		mine, live bool
		holder     string
		expires    time.Time
	)
	err := tx.QueryRow(ctx, s.sql.fence, job, l.token).Scan(&mine, &live, &holder, &expires)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !(mine && live) {
		l.e.forget(l) // lost whatever tx becomes: an Acquire of this Elector may take the job again
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgingest: commit of job %q by %s: %w (the lease was released)", job, l.e.holder, ingest.ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("fence: %w", err)
	case !mine:
		return fmt.Errorf("pgingest: commit of job %q by %s: %w (now held by %s, until %s)", job, l.e.holder, ingest.ErrLeaseLost,
			holder, expires.UTC().Format(time.RFC3339Nano))
	case !live:
		return fmt.Errorf("pgingest: commit of job %q by %s: %w (the lease expired at %s)", job, l.e.holder, ingest.ErrLeaseLost,
			expires.UTC().Format(time.RFC3339Nano))
	}
	if err := s.feed.PutTx(ctx, tx, tenant, items...); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.sql.writeCheckpoint, []byte(tenant), job, checkpoint); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
