package pgingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// EventLog is the durable ingest.EventLog of webhook events, in PostgreSQL: give it to
// ingest.WebhookConfig.Log. Each delivery is one transaction that records the event, checks the
// order against the latest event applied to the object, and puts the object into the feed
// (pgfeed's PutTx): so when the handler acknowledges an event to the PSP, the event and its object
// are stored, on every replica, across restarts, and a PSP's retry of it is recognized.
//
// Two tables, with the Option WithTable's prefix: prefix + "_events" (one row per event received:
// tenant, event id, object id, time, sequence, the delivery, when) and prefix + "_objects" (one row
// per object: the latest (time, sequence) applied). The object's row is locked (SELECT … FOR
// UPDATE) for the delivery, so deliveries of one object run one at a time across replicas, in the
// order of their locks, and never apply out of order.
type EventLog[T any] struct {
	pool           *pgxpool.Pool
	feed           *pgfeed.Feed[T]
	events, objs   string
	lockObj, seen  string
	record, update string
}

var _ ingest.EventLog[models.Transaction] = (*EventLog[models.Transaction])(nil)

// NewEventLog returns a log that writes the objects into f, on pool's database (f's). Call Migrate
// once before use. Only WithTable applies. It fails with an error wrapping ingest.ErrInvalidConfig
// for a nil pool or feed or a bad prefix.
func NewEventLog[T any](pool *pgxpool.Pool, f *pgfeed.Feed[T], opts ...Option) (*EventLog[T], error) {
	if pool == nil || f == nil {
		return nil, fmt.Errorf("%w: NewEventLog needs a pool and a feed", ingest.ErrInvalidConfig)
	}
	o := buildOptions(opts)
	parts := strings.Split(o.table, ".")
	if _, err := newStatements(o.table); err != nil {
		return nil, err
	}
	name := parts[len(parts)-1]
	qualified := func(suffix string) string {
		id := slices.Clone(parts)
		id[len(id)-1] = name + suffix
		return pgx.Identifier(id).Sanitize()
	}
	l := &EventLog[T]{pool: pool, feed: f, events: qualified("_events"), objs: qualified("_objects")}
	l.lockObj = `SELECT event_time, seq FROM ` + l.objs + ` WHERE tenant = $1 AND object_id = $2 FOR UPDATE`
	l.seen = `SELECT 1 FROM ` + l.events + ` WHERE tenant = $1 AND event_id = $2`
	l.record = `INSERT INTO ` + l.events + ` (tenant, event_id, object_id, event_time, seq, delivery, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())`
	l.update = `INSERT INTO ` + l.objs + ` AS o (tenant, object_id, event_time, seq) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, object_id) DO UPDATE SET event_time = excluded.event_time, seq = excluded.seq
		WHERE (o.event_time, o.seq) < (excluded.event_time, excluded.seq)`
	return l, nil
}

// Migrate creates the log's tables when they do not exist (safe at every start, from every replica).
func (l *EventLog[T]) Migrate(ctx context.Context) error {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgingest: migrate the event log: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, stmt := range []string{
		fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLock),
		`CREATE TABLE IF NOT EXISTS ` + l.events + ` (
			tenant      bytea       NOT NULL,
			event_id    text        COLLATE "C" NOT NULL,
			object_id   text        NOT NULL,
			event_time  bigint      NOT NULL,
			seq         bigint      NOT NULL,
			delivery    text        NOT NULL,
			received_at timestamptz NOT NULL,
			PRIMARY KEY (tenant, event_id)
		)`,
		`CREATE TABLE IF NOT EXISTS ` + l.objs + ` (
			tenant     bytea  NOT NULL,
			object_id  text   COLLATE "C" NOT NULL,
			event_time bigint NOT NULL,
			seq        bigint NOT NULL,
			PRIMARY KEY (tenant, object_id)
		)`,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("pgingest: migrate the event log: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgingest: migrate the event log: %w", err)
	}
	return nil
}

// Deliver implements ingest.EventLog in one transaction: lock the object's row, recognize a replay
// by the event id, refuse an event older than the latest applied to the object (when it carries its
// object), fetch the object, put it into the feed, record the event and the object's new latest,
// commit. A failure rolls everything back: nothing is recorded and the PSP's retry delivers again.
func (l *EventLog[T]) Deliver(ctx context.Context, tenant string, ev ingest.Event[T], object func(ctx context.Context) (T, error)) (ingest.Delivery, error) {
	for _, s := range []string{ev.ID, ev.ObjectID} {
		if err := checkText("event or object id", s); err != nil {
			return 0, err
		}
	}
	at := ev.Time.UnixNano()
	tb := []byte(tenant)
	var out ingest.Delivery
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		// Make sure the object's row exists, then lock it: deliveries of one object queue here.
		if _, err := tx.Exec(ctx, `INSERT INTO `+l.objs+` (tenant, object_id, event_time, seq)
			VALUES ($1, $2, -9223372036854775808, -9223372036854775808) ON CONFLICT DO NOTHING`, tb, ev.ObjectID); err != nil {
			return err
		}
		var lastAt, lastSeq int64
		if err := tx.QueryRow(ctx, l.lockObj, tb, ev.ObjectID).Scan(&lastAt, &lastSeq); err != nil {
			return err
		}
		var one int
		switch err := tx.QueryRow(ctx, l.seen, tb, ev.ID).Scan(&one); {
		case err == nil:
			out = ingest.Replayed
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if ev.Object != nil && (at < lastAt || (at == lastAt && ev.Sequence < lastSeq)) {
			out = ingest.Stale
			_, err := tx.Exec(ctx, l.record, tb, ev.ID, ev.ObjectID, at, ev.Sequence, out.String())
			return err
		}
		it, err := object(ctx)
		if err != nil {
			return err
		}
		if err := l.feed.PutTx(ctx, tx, tenant, it); err != nil {
			return err
		}
		out = ingest.Applied
		if _, err := tx.Exec(ctx, l.record, tb, ev.ID, ev.ObjectID, at, ev.Sequence, out.String()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, l.update, tb, ev.ObjectID, at, ev.Sequence)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pgingest: deliver event %q of tenant %q: %w", ev.ID, tenant, err)
	}
	return out, nil
}
