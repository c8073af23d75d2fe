// Package pgingest runs package ingest's Syncer on PostgreSQL, for a middleware with several
// replicas: an Elector that gives each job to one replica at a time through a lease row, and a Sink
// that writes a batch into a pgfeed.Feed together with its checkpoint, in one transaction fenced by
// that lease. Every replica opens a pool on the same database and builds the same Syncer:
//
//	txs, _ := pgfeed.Transactions(pool)
//	elector, _ := pgingest.NewElector(pool)
//	sink, _ := pgingest.NewSink(pool, txs)
//	// at start: txs.Migrate(ctx), sink.Migrate(ctx)
//	syncer, _ := ingest.NewSyncer(elector)
//	syncer.Add(ingest.NewJob(tenant, pgfeed.RouteTransactions, source, sink))
//	go syncer.Run(ctx)
//
// Whatever happens to a replica (a restart, a crash, a kill, a network partition, a process that
// hangs), nothing the PSP reported is lost and nothing is written twice: a batch and the checkpoint
// after it are committed together or not at all, so the next holder resumes exactly where the last
// commit left off (what it reads again is a no-op in the feed where nothing changed); and a replica
// that lost its lease cannot commit (its Commit fails with ingest.ErrLeaseLost and writes nothing),
// so it never writes behind the new holder.
//
// # Why a lease row, not an advisory lock
//
// A PostgreSQL advisory lock belongs to one connection (or one transaction), and that is the wrong
// owner for a job that runs for hours. A pool recycles connections (MaxConnLifetime, idle
// timeouts), so the lock would vanish under a running job or stay on a connection the job no longer
// uses; PgBouncer in transaction mode hands each transaction a different server connection, so a
// session lock is taken on one and "released" on another; and a process that hangs (a deadlock, a
// stop-the-world pause, a SIGSTOP) keeps its lock for as long as its connection lives, which may be
// forever with TCP keepalives answered by the kernel. A lease row with an expiry, renewed by the
// holder, bounds the time another replica waits to take a job over by the lease's TTL, whatever the
// holder's connection does, and works through any pooler. Its weakness, a holder that still runs
// after its lease lapsed, is made harmless by fencing: Sink.Commit locks the lease row and checks
// the lease's token in the same transaction as the write, so a stale holder's commit fails, and a
// takeover that starts while a commit is in progress waits until that commit ends.
//
// # Tables
//
// Both tables share a prefix (DefaultTable unless WithTable says otherwise) and are created by
// Migrate (of the Elector or of the Sink: either creates both):
//
//   - prefix + "_leases": one row per job held: job (text, the primary key; "tenant/route" for
//     ingest.NewJob), holder (the replica's name), token (random, new at each acquisition: what a
//     commit is fenced with), acquired_at and expires_at (the database server's time, so the clocks
//     of the replicas do not matter). A released lease's row is deleted; an expired one stays until
//     another replica takes it. To see who runs what: SELECT job, holder, expires_at FROM it.
//   - prefix + "_checkpoints": one row per tenant and job: tenant (bytea: the tenant's exact bytes,
//     as in pgfeed's tables), job (text), checkpoint (text: where the job's next pull resumes) and
//     updated_at (when the checkpoint last changed). The primary key is (tenant, job). Deleting a
//     row makes the job start again from the Source's start: the items it reads again are no-ops
//     in the feed where they did not change, but an Events source replays old versions, which the
//     feed stores as changes.
//
// Job names and checkpoints are stored as text, so they must be valid UTF-8 without NUL; a tenant
// whose name is not cannot run under this package's leases (Acquire refuses its job names).
//
// The application owns the pool (*pgxpool.Pool); nothing here closes it. The package lives apart
// from ingest so that programs with the memory feed do not link pgx. It is not a general lock
// service or job queue: the leases are for ingest's jobs, and the sink writes only into a pgfeed.
package pgingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/ingest"
)

// DefaultTable is the prefix of the table names unless WithTable says otherwise: the tables are
// DefaultTable + "_leases" and DefaultTable + "_checkpoints".
const DefaultTable = "pspconnect_ingest"

// DefaultLeaseTTL is how long a lease lasts after its acquisition or its last renewal unless
// WithLeaseTTL says otherwise, and so the longest a job waits for a replica that died without
// releasing it. With the Syncer's defaults a lease is renewed about every 10 s (the pull interval,
// which is longer than the renew interval) plus one step: 30 s leaves room for steps of up to 5 s
// at twice the gap (see WithLeaseTTL).
const DefaultLeaseTTL = 30 * time.Second

// migrationLock is the key of the advisory lock Migrate holds (a lock for a few milliseconds, on
// one connection: what advisory locks are good for), so that replicas starting together do not race
// to create the tables.
const migrationLock int64 = 0x7073_7063_6f6e_6e03

// maxPrefix is the longest table name prefix, in bytes: PostgreSQL cuts names at 63 bytes, and the
// longest name derived from the prefix adds 17 ("_checkpoints_pkey").
const maxPrefix = 63 - len("_checkpoints_pkey")

// Option configures an Elector (NewElector) or a Sink (NewSink).
type Option func(*options)

type options struct {
	table     string
	holder    *string
	ttl       *time.Duration
	electorOf []string // names of the elector-only options given
}

// WithTable sets the prefix of the table names: "prefix" or "schema.prefix" (default DefaultTable,
// in the connection's search_path). The Elector and the Sink of one Syncer must use the same prefix:
// the sink fences its commits with the elector's lease rows. Names are quoted, so any characters are
// allowed except an empty part; the prefix may have at most 46 bytes.
func WithTable(prefix string) Option {
	return func(o *options) { o.table = prefix }
}

// WithHolder names this replica in the lease rows and in the Syncer's logs (an option of
// NewElector). Default: the host name, the process id and a random suffix, unique to each Elector.
//
// A lease held under the same name is taken over at once, without waiting for it to expire: give a
// stable name (a Kubernetes pod name) so that a restarted replica takes its jobs back immediately.
// The name must then never be used by two live processes at once, or they take each other's jobs
// in turn (fencing keeps the feed right, but both keep pulling).
func WithHolder(name string) Option {
	return func(o *options) { o.holder = &name; o.electorOf = append(o.electorOf, "WithHolder") }
}

// WithLeaseTTL sets how long a lease lasts after its acquisition or its last renewal (an option of
// NewElector; default DefaultLeaseTTL, at least a millisecond). It is the longest time a job stays
// without a replica when its holder dies without releasing it (a kill, a crash, a partition), plus
// up to the Syncer's acquire interval.
//
// The Syncer renews a lease every renew interval (ingest.WithIntervals, DefaultRenewInterval 5 s)
// from a goroutine of its own, while the job pulls, commits, sleeps or backs off; when a renewal
// fails it stops the job. Keep ttl at several renew intervals (the default 30 s is six), so that a
// slow renewal or two do not hand the job over. A lease that lapses anyway is not unsafe: fencing
// makes the old holder's commit fail and write nothing, but the job moves to another replica.
func WithLeaseTTL(ttl time.Duration) Option {
	return func(o *options) { o.ttl = &ttl; o.electorOf = append(o.electorOf, "WithLeaseTTL") }
}

func buildOptions(opts []Option) options {
	o := options{table: DefaultTable}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// statements holds the sanitized table names and the SQL built from them.
type statements struct {
	leases, checkpoints string // sanitized, possibly schema-qualified
	acquire, renew      string
	release, fence      string
	readCheckpoint      string
	writeCheckpoint     string
}

func newStatements(prefix string) (statements, error) {
	parts := strings.Split(prefix, ".")
	if len(parts) > 2 || prefix == "" {
		return statements{}, fmt.Errorf("%w: table prefix %q (want \"prefix\" or \"schema.prefix\")", ingest.ErrInvalidConfig, prefix)
	}
	for _, p := range parts {
		if p == "" {
			return statements{}, fmt.Errorf("%w: table prefix %q has an empty part", ingest.ErrInvalidConfig, prefix)
		}
	}
	name := parts[len(parts)-1]
	if len(name) > maxPrefix {
		return statements{}, fmt.Errorf("%w: table prefix %q is longer than %d bytes", ingest.ErrInvalidConfig, name, maxPrefix)
	}
	qualified := func(suffix string) string {
		id := slices.Clone(parts)
		id[len(id)-1] = name + suffix
		return pgx.Identifier(id).Sanitize()
	}
	s := statements{leases: qualified("_leases"), checkpoints: qualified("_checkpoints")}
	// $1 job, $2 holder, $3 token, $4 TTL in microseconds. The row lock of the conflicting row
	// decides between replicas acquiring at once, and makes an acquisition wait for a commit in
	// progress under the lease (the sink's fence locks the row): it then sees the row as that commit
	// left it.
	s.acquire = `INSERT INTO ` + s.leases + ` AS l (job, holder, token, acquired_at, expires_at)
		VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp() + $4::bigint * interval '1 microsecond')
		ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, token = excluded.token,
			acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
		WHERE l.expires_at <= clock_timestamp() OR l.holder = excluded.holder
		RETURNING expires_at`
	s.renew = `UPDATE ` + s.leases + ` SET expires_at = clock_timestamp() + $3::bigint * interval '1 microsecond'
		WHERE job = $1 AND token = $2 AND expires_at > clock_timestamp()
		RETURNING expires_at`
	s.release = `DELETE FROM ` + s.leases + ` WHERE job = $1 AND token = $2`
	// The fence reads the row whoever holds it, so that a failed fence can say why, and locks it
	// until the commit ends.
	s.fence = `SELECT token = $2, expires_at > clock_timestamp(), holder, expires_at
		FROM ` + s.leases + ` WHERE job = $1 FOR UPDATE`
	s.readCheckpoint = `SELECT checkpoint FROM ` + s.checkpoints + ` WHERE tenant = $1 AND job = $2`
	s.writeCheckpoint = `INSERT INTO ` + s.checkpoints + ` AS c (tenant, job, checkpoint, updated_at)
		VALUES ($1, $2, $3, now())
		ON CONFLICT (tenant, job) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at
		WHERE c.checkpoint IS DISTINCT FROM excluded.checkpoint`
	return s, nil
}

// migrate creates both tables when they do not exist, under an advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool, s statements) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgingest: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	stmts := []string{
		fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLock),
		`CREATE TABLE IF NOT EXISTS ` + s.leases + ` (
			job         text        COLLATE "C" PRIMARY KEY,
			holder      text        NOT NULL,
			token       text        NOT NULL,
			acquired_at timestamptz NOT NULL,
			expires_at  timestamptz NOT NULL
		) WITH (fillfactor = 50)`,
		`CREATE TABLE IF NOT EXISTS ` + s.checkpoints + ` (
			tenant     bytea       NOT NULL,
			job        text        COLLATE "C" NOT NULL,
			checkpoint text        NOT NULL,
			updated_at timestamptz NOT NULL,
			PRIMARY KEY (tenant, job)
		)`,
		`COMMENT ON COLUMN ` + s.leases + `.token IS 'new at each acquisition; commits are fenced with it'`,
		`COMMENT ON COLUMN ` + s.leases + `.expires_at IS 'server time; another replica may take the job from then on'`,
		`COMMENT ON COLUMN ` + s.checkpoints + `.checkpoint IS 'where the job''s next pull resumes; committed with the items before it'`,
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("pgingest: migrate: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgingest: migrate: %w", err)
	}
	return nil
}

// checkText returns an error when s cannot be stored in a text column.
func checkText(what, s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("pgingest: %s %q is not valid UTF-8 without NUL, which a text column needs", what, s)
	}
	return nil
}

func micros(d time.Duration) int64 { return d.Microseconds() }
