// Package ingest keeps a feed in step with the PSP without making Formance wait: a Syncer, running
// inside the middleware process, pulls each tenant's and route's changes from an upstream Source
// the integrator implements ("the changes since this checkpoint"), writes them into the feed and
// stores its checkpoint with them, so that Formance's list requests are answered from the feed and
// never wait on the PSP (its client gives up after 10 s).
//
// The pieces:
//
//   - Source: one call to the PSP, "what changed since this checkpoint". Adapters build one from
//     the shape of real PSP APIs, so that the integrator writes only "fetch one upstream page" and
//     "map one object": Since (an "updated since" filter, however coarse), Window (page-number lists
//     whose pages shift as new items arrive) and Events (newest-first lists that report changes only
//     through an events endpoint).
//   - Sink: where a batch and its checkpoint go, together. FeedSink writes into any feed.Feed with
//     checkpoints in memory; package ingest/pgingest writes the items and the checkpoint in one
//     PostgreSQL transaction, so a crash loses nothing and doubles nothing.
//   - Elector: which replica runs a job. LocalElector runs every job in this process; pgingest's
//     elector holds a lease row per job, renewed while the job runs and taken over by another replica
//     within a bounded time when the holder dies.
//   - Syncer: runs every Job under its lease, with a bound on upstream calls per second
//     (connector.Limiter), backoff that honours connector.ErrRateLimited's Retry-After and
//     connector.ErrUnavailable, and progress in slog (items ingested, lag behind the PSP).
//
// It does not serve HTTP (httpserver does) and does not define the feed's rules (package feed does).
package ingest

import (
	"context"
	"errors"
	"time"
)

// Errors of the package.
var (
	// ErrLeaseLost is returned (wrapped) by Sink.Commit and Lease.Renew when the caller no longer
	// holds the job's lease: another replica took it over. Nothing was written.
	ErrLeaseLost = errors.New("ingest: the job's lease is held by another replica")
	// ErrInvalidConfig is wrapped by the errors for a bad configuration.
	ErrInvalidConfig = errors.New("ingest: invalid configuration")
	// ErrBadCheckpoint is wrapped by an adapter's error for a checkpoint it cannot read (written by
	// another adapter, or corrupted).
	ErrBadCheckpoint = errors.New("ingest: unreadable checkpoint")
)

// Batch is what one Pull of a Source returns.
type Batch[T any] struct {
	// Items are the items changed since the checkpoint, in the order the PSP reports them (arrival
	// order is the feed's tie order). Items the feed already holds unchanged are no-ops, so an
	// inclusive re-read costs nothing downstream.
	Items []T
	// Checkpoint is where the next Pull resumes. It is stored with the items, in one transaction
	// with pgingest; "" is a valid checkpoint (the start).
	Checkpoint string
	// More reports that the PSP has more right now: the Syncer pulls again at once. Otherwise it
	// waits for its interval.
	More bool
	// Latest, when set, is the PSP's most recent time seen so far (for the lag the Syncer logs).
	Latest time.Time
}

// Source pulls one route of one PSP: the changes since checkpoint. Implementations return
// connector.ErrRateLimited (with a RetryAfter) or connector.ErrUnavailable when the PSP says so;
// the Syncer then waits and retries with the same checkpoint.
type Source[T any] interface {
	Pull(ctx context.Context, tenant, checkpoint string) (Batch[T], error)
}

// SourceFunc adapts a function to a Source.
type SourceFunc[T any] func(ctx context.Context, tenant, checkpoint string) (Batch[T], error)

// Pull calls f.
func (f SourceFunc[T]) Pull(ctx context.Context, tenant, checkpoint string) (Batch[T], error) {
	return f(ctx, tenant, checkpoint)
}

// Sink stores batches with their checkpoints.
type Sink[T any] interface {
	// Checkpoint returns the stored checkpoint of a job ("" before the first Commit).
	Checkpoint(ctx context.Context, tenant, job string) (string, error)
	// Commit stores items and the checkpoint after them, together: after an error nothing is
	// stored. It fails with an error wrapping ErrLeaseLost when lease is no longer held, so a
	// replica that lost its lease can never write behind the new holder.
	Commit(ctx context.Context, tenant, job string, items []T, checkpoint string, lease Lease) error
}

// Elector decides which replica runs a job.
type Elector interface {
	// Acquire tries, without waiting, to take the lease of job. It returns the lease and true when
	// this replica holds it now, false when another one does.
	Acquire(ctx context.Context, job string) (Lease, bool, error)
}

// Lease is the right to run one job, until it lapses.
type Lease interface {
	// Renew extends the lease; it fails with an error wrapping ErrLeaseLost when another replica
	// took it over.
	Renew(ctx context.Context) error
	// Release gives the lease up, so that another replica may take it at once.
	Release(ctx context.Context) error
	// Holder names this replica, for logs.
	Holder() string
}
