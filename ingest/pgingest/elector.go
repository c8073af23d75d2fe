package pgingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/ingest"
)

// Elector is an ingest.Elector that gives each job to one replica at a time through a lease row in
// PostgreSQL (see the package doc). Build it with NewElector, one per replica, and create its
// tables with Migrate. It is safe for concurrent use; Syncers sharing one Elector never run the same
// job at once either.
type Elector struct {
	pool   *pgxpool.Pool
	holder string
	ttl    time.Duration
	sql    statements

	mu   sync.Mutex
	held map[string]*Lease // the jobs this Elector holds (nil while an Acquire is in progress)
}

var _ ingest.Elector = (*Elector)(nil)

// NewElector returns the elector of this replica, with its leases in pool's database. It fails with
// an error wrapping ingest.ErrInvalidConfig for a nil pool, a bad table prefix, an empty or
// non-UTF-8 holder name, or a TTL under a millisecond.
func NewElector(pool *pgxpool.Pool, opts ...Option) (*Elector, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ingest.ErrInvalidConfig)
	}
	o := buildOptions(opts)
	s, err := newStatements(o.table)
	if err != nil {
		return nil, err
	}
	e := &Elector{pool: pool, ttl: DefaultLeaseTTL, sql: s, held: map[string]*Lease{}}
	if o.ttl != nil {
		if *o.ttl < time.Millisecond {
			return nil, fmt.Errorf("%w: lease TTL %v (want at least 1ms)", ingest.ErrInvalidConfig, *o.ttl)
		}
		e.ttl = *o.ttl
	}
	if o.holder != nil {
		if *o.holder == "" || checkText("holder", *o.holder) != nil {
			return nil, fmt.Errorf("%w: holder %q (want a non-empty UTF-8 name without NUL)", ingest.ErrInvalidConfig, *o.holder)
		}
		e.holder = *o.holder
	} else {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown-host"
		}
		e.holder = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), randomHex(4))
		if checkText("holder", e.holder) != nil {
			e.holder = fmt.Sprintf("pid-%d:%s", os.Getpid(), randomHex(4))
		}
	}
	return e, nil
}

// Migrate creates the tables of the leases and of the checkpoints when they do not exist (see the
// package doc). It is safe to call at every start, from several replicas at once (it takes an
// advisory lock). The schema of a schema-qualified prefix must exist.
func (e *Elector) Migrate(ctx context.Context) error { return migrate(ctx, e.pool, e.sql) }

// Holder returns the name of this replica in the lease rows.
func (e *Elector) Holder() string { return e.holder }

// TTL returns how long a lease lasts after its acquisition or its last renewal.
func (e *Elector) TTL() time.Duration { return e.ttl }

// Acquire implements ingest.Elector with one upsert of the job's lease row: it inserts the row, or
// takes over a row that expired (by the database server's clock) or that names this replica's
// holder, with a new token and an expiry a TTL from now. It returns false when another replica
// holds a live lease, or when this Elector already holds the job (a lease not renewed for a TTL, by
// this process's clock, no longer counts: its holder is stuck or forgot to release it, and this
// Elector may take the job again, which makes that lease fail). It waits, without failing, for a
// commit in progress under the job's lease (see Sink.Commit). It fails for a job name that is not
// valid UTF-8 without NUL.
func (e *Elector) Acquire(ctx context.Context, job string) (ingest.Lease, bool, error) {
	if err := checkText("job", job); err != nil {
		return nil, false, err
	}
	sent := time.Now()
	e.mu.Lock()
	if l, held := e.held[job]; held && (l == nil || sent.Before(l.deadline())) {
		e.mu.Unlock()
		return nil, false, nil
	}
	e.held[job] = nil // reserved: a concurrent Acquire of this Elector answers false
	e.mu.Unlock()

	l := &Lease{e: e, job: job, token: randomHex(16), local: sent.Add(e.ttl)}
	err := e.pool.QueryRow(ctx, e.sql.acquire, job, e.holder, l.token, micros(e.ttl)).Scan(&l.expires)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		delete(e.held, job)
		return nil, false, nil
	case err != nil:
		delete(e.held, job)
		return nil, false, fmt.Errorf("pgingest: acquire the lease of job %q: %w", job, err)
	}
	e.held[job] = l
	return l, true, nil
}

// forget drops l from the jobs this Elector holds.
func (e *Elector) forget(l *Lease) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.held[l.job] == l {
		delete(e.held, l.job)
	}
}

// Lease is the lease of one job, from Elector.Acquire: the ingest.Lease that Sink.Commit needs to
// fence its writes.
type Lease struct {
	e     *Elector
	job   string
	token string

	mu      sync.Mutex
	expires time.Time // the server's, from the last acquisition or renewal
	local   time.Time // the same by this process's clock, at the latest: a TTL after the request was sent
}

func (l *Lease) deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local
}

var _ ingest.Lease = (*Lease)(nil)

// Renew implements ingest.Lease: it pushes the expiry a TTL from now, only while the row still
// holds this lease's token and has not expired. Otherwise it fails with an error wrapping
// ingest.ErrLeaseLost: another replica took the job over, or may do so at any moment. Other
// errors (the database's) leave the lease as it was. It gives up after a TTL (a renewal that late
// is moot), so that a replica cut off from the database does not hang in it.
func (l *Lease) Renew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.e.ttl)
	defer cancel()
	sent := time.Now()
	var expires time.Time
	err := l.e.pool.QueryRow(ctx, l.e.sql.renew, l.job, l.token, micros(l.e.ttl)).Scan(&expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		l.e.forget(l)
		return fmt.Errorf("pgingest: renew the lease of job %q: %w (it expired or was taken over)", l.job, ingest.ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("pgingest: renew the lease of job %q: %w", l.job, err)
	}
	l.mu.Lock()
	l.expires, l.local = expires, sent.Add(l.e.ttl)
	l.mu.Unlock()
	return nil
}

// Release implements ingest.Lease: it deletes the lease row when it still holds this lease's
// token, so that another replica may take the job at once. Releasing a lease that was lost is a
// no-op. The Elector forgets the lease even when the database cannot be reached (the row then
// expires after the TTL); it gives up after a TTL, as the row has expired by then.
func (l *Lease) Release(ctx context.Context) error {
	defer l.e.forget(l)
	ctx, cancel := context.WithTimeout(ctx, l.e.ttl)
	defer cancel()
	if _, err := l.e.pool.Exec(ctx, l.e.sql.release, l.job, l.token); err != nil {
		return fmt.Errorf("pgingest: release the lease of job %q: %w", l.job, err)
	}
	return nil
}

// Holder implements ingest.Lease: the name of the replica holding the lease.
func (l *Lease) Holder() string { return l.e.holder }

// Job returns the name of the job the lease is for.
func (l *Lease) Job() string { return l.job }

// Expires returns when the lease lapses, by the database server's clock, as of its acquisition or
// its last successful renewal.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
