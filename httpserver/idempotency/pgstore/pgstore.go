// Package pgstore is an idempotency.Store kept in PostgreSQL, for a middleware that runs as several
// instances behind a load balancer: every instance opens a pool on the same database and passes the
// store to httpserver.WithIdempotencyStore, and a payout retried on another instance still gets the
// first answer and never a second provider call. It is also the store to use when answers must
// survive a restart.
//
// The store keeps one table (DefaultTable unless WithTable says otherwise), created by Migrate. Each
// Begin is one INSERT … ON CONFLICT … DO UPDATE … WHERE expired statement: PostgreSQL's row lock on
// the conflicting row decides the owner, so there is no check-then-insert race between instances.
// Times are the database server's (now()), so the clocks of the instances do not matter.
//
// It lives in its own package so that programs using the in-memory store do not link pgx. It is not
// a general job queue or lock service.
package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
)

// DefaultTable is the name of the store's table unless WithTable says otherwise.
const DefaultTable = "pspconnect_idempotency"

// ErrInvalidConfig is wrapped by the errors New returns for a nil pool or a bad table name.
var ErrInvalidConfig = errors.New("pgstore: invalid configuration")

// migrationLock is the key of the advisory lock Migrate holds, so that instances starting together
// do not race to create the table.
const migrationLock int64 = 0x7073_7063_6f6e_6e01

// beginAttempts bounds Begin's retries when the record it found vanished before it could read it.
const beginAttempts = 5

// Store is an idempotency.Store on a PostgreSQL database. Build it with New and create its table with
// Migrate. It is safe for concurrent use by any number of goroutines and processes.
type Store struct {
	pool          *pgxpool.Pool
	table         string // the sanitized, possibly schema-qualified, table name
	indexName     string // the sanitized name of the index on expires_at
	links         string // the sanitized name of the links table: the table's name + "_links"
	linksIndex    string // the sanitized name of the index on the links' expires_at
	linkRetention time.Duration
}

var _ idempotency.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*options)

type options struct {
	table         string
	linkRetention time.Duration
}

// WithLinkRetention sets how long the store keeps the link from a created payout or transfer to its
// write (default idempotency.DefaultLinkRetention). A non-positive d keeps the default.
func WithLinkRetention(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.linkRetention = d
		}
	}
}

// WithTable sets the table name: "name" or "schema.name" (default DefaultTable, in the connection's
// search_path). Names are quoted, so any characters are allowed except an empty part.
func WithTable(name string) Option {
	return func(o *options) { o.table = name }
}

// New returns a store that keeps its records in pool's database. Call Migrate once before use (at
// every start is fine). New fails with an error wrapping ErrInvalidConfig for a nil pool or an empty
// table name part.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidConfig)
	}
	o := options{table: DefaultTable, linkRetention: idempotency.DefaultLinkRetention}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	parts := strings.Split(o.table, ".")
	if len(parts) > 2 || o.table == "" {
		return nil, fmt.Errorf("%w: table name %q (want \"name\" or \"schema.name\")", ErrInvalidConfig, o.table)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: table name %q has an empty part", ErrInvalidConfig, o.table)
		}
	}
	name := parts[len(parts)-1]
	linkParts := append(parts[:len(parts)-1:len(parts)-1], name+"_links")
	return &Store{
		pool:          pool,
		table:         pgx.Identifier(parts).Sanitize(),
		indexName:     pgx.Identifier{name + "_expires_at_idx"}.Sanitize(),
		links:         pgx.Identifier(linkParts).Sanitize(),
		linksIndex:    pgx.Identifier{name + "_links_expires_at_idx"}.Sanitize(),
		linkRetention: o.linkRetention,
	}, nil
}

// Migrate creates the store's table and its index when they do not exist. It is safe to call at
// every start, from several instances at once (it takes an advisory lock). The schema of a
// schema-qualified table name must exist.
//
// The table has one row per idempotent operation: id (SHA-256 of tenant, route and key; the primary
// key), tenant, route and idempotency_key (for people reading the table; NUL characters shown as
// U+FFFD), fingerprint, state ('in_flight' or 'completed'), owner_token, status and body (the stored
// answer), created_at, completed_at and expires_at. To release a key stuck in flight after a crash,
// once you have checked the PSP, delete its row.
//
// A second table, the table's name + "_links", keeps one row per payout or transfer created through
// the middleware: id (SHA-256 of tenant and created id; the primary key), tenant and created_id (for
// people), route, idempotency_key and expires_at. See idempotency.Store's Linked.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	statements := []string{
		fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLock),
		`CREATE TABLE IF NOT EXISTS ` + s.table + ` (
			id              bytea       PRIMARY KEY,
			tenant          text        NOT NULL,
			route           text        NOT NULL,
			idempotency_key text        NOT NULL,
			fingerprint     bytea       NOT NULL,
			state           text        NOT NULL CHECK (state IN ('in_flight', 'completed')),
			owner_token     text,
			status          integer,
			body            bytea,
			created_at      timestamptz NOT NULL,
			completed_at    timestamptz,
			expires_at      timestamptz NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS ` + s.indexName + ` ON ` + s.table + ` (expires_at)`,
		`CREATE TABLE IF NOT EXISTS ` + s.links + ` (
			id              bytea       PRIMARY KEY,
			tenant          text        NOT NULL,
			created_id      text        NOT NULL,
			route           bytea       NOT NULL,
			idempotency_key bytea       NOT NULL,
			expires_at      timestamptz NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS ` + s.linksIndex + ` ON ` + s.links + ` (expires_at)`,
	}
	for _, stmt := range statements {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}

// rowID is the primary key of key's row: the SHA-256 of its three parts, each prefixed by its
// length, so that no two keys share an id and keys of any size fit in the index.
func rowID(key idempotency.Key) []byte {
	return hashParts(key.Tenant, key.Route, key.IdempotencyKey)
}

// linkID is the primary key of the link of the object id created for tenant.
func linkID(tenant, id string) []byte { return hashParts("link", tenant, id) }

func hashParts(parts ...string) []byte {
	h := sha256.New()
	for _, part := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return h.Sum(nil)
}

// readable turns s into valid UTF-8 text without NUL, which PostgreSQL's text type refuses. It is used
// only for the columns people read; the row id is computed from the exact key.
func readable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func micros(d time.Duration) int64 { return d.Microseconds() }

// Begin implements idempotency.Store with one upsert: it inserts an in-flight row, or takes over an
// expired one, and otherwise reads the live row.
func (s *Store) Begin(ctx context.Context, key idempotency.Key, fingerprint []byte, inFlightTTL time.Duration) (idempotency.Outcome, error) {
	id := rowID(key)
	for range beginAttempts {
		token := idempotency.NewToken()
		var out idempotency.Outcome
		err := s.pool.QueryRow(ctx, `
			INSERT INTO `+s.table+` AS r
				(id, tenant, route, idempotency_key, fingerprint, state, owner_token, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, 'in_flight', $6, now(), now() + $7::bigint * interval '1 microsecond')
			ON CONFLICT (id) DO UPDATE SET
				fingerprint = excluded.fingerprint, state = 'in_flight', owner_token = excluded.owner_token,
				status = NULL, body = NULL, created_at = excluded.created_at, completed_at = NULL,
				expires_at = excluded.expires_at
			WHERE r.expires_at <= now()
			RETURNING created_at, expires_at`,
			id, readable(key.Tenant), readable(key.Route), readable(key.IdempotencyKey), fingerprint, token, micros(inFlightTTL),
		).Scan(&out.CreatedAt, &out.ExpiresAt)
		switch {
		case err == nil:
			out.Kind, out.Token = idempotency.Acquired, token
			return out, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return idempotency.Outcome{}, fmt.Errorf("pgstore: begin %s: %w", key, err)
		}

		// A live row exists: read it.
		var (
			storedFP []byte
			state    string
			status   *int32
			body     []byte
		)
		err = s.pool.QueryRow(ctx, `
			SELECT fingerprint, state, status, body, created_at, expires_at FROM `+s.table+`
			WHERE id = $1 AND expires_at > now()`, id,
		).Scan(&storedFP, &state, &status, &body, &out.CreatedAt, &out.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // abandoned, purged or expired in between: try to acquire again
		}
		if err != nil {
			return idempotency.Outcome{}, fmt.Errorf("pgstore: begin %s: %w", key, err)
		}
		switch {
		case string(storedFP) != string(fingerprint):
			out.Kind = idempotency.Mismatch
		case state == "completed" && status != nil:
			out.Kind = idempotency.Completed
			out.Answer = idempotency.Answer{Status: int(*status), Body: body}
		default:
			out.Kind = idempotency.InFlight
		}
		return out, nil
	}
	return idempotency.Outcome{}, fmt.Errorf("pgstore: begin %s: the record kept changing (%d attempts)", key, beginAttempts)
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key idempotency.Key, token string, answer idempotency.Answer, retention time.Duration) error {
	body := answer.Body
	if body == nil {
		body = []byte{}
	}
	// One statement, so that the answer and the link are stored together or not at all.
	var done int
	err := s.pool.QueryRow(ctx, `
		WITH done AS (
			UPDATE `+s.table+` SET state = 'completed', owner_token = NULL, status = $3, body = $4,
				completed_at = now(), expires_at = now() + $5::bigint * interval '1 microsecond'
			WHERE id = $1 AND state = 'in_flight' AND owner_token = $2
			RETURNING 1
		), link AS (
			INSERT INTO `+s.links+` AS l (id, tenant, created_id, route, idempotency_key, expires_at)
			SELECT $6, $7, $8, $9, $10, now() + $11::bigint * interval '1 microsecond' FROM done WHERE $12
			ON CONFLICT (id) DO UPDATE SET route = excluded.route, idempotency_key = excluded.idempotency_key,
				expires_at = excluded.expires_at
		)
		SELECT count(*) FROM done`,
		rowID(key), token, int32(answer.Status), body, micros(retention),
		linkID(key.Tenant, answer.CreatedID), readable(key.Tenant), readable(answer.CreatedID),
		[]byte(key.Route), []byte(key.IdempotencyKey), micros(s.linkRetention), answer.CreatedID != "",
	).Scan(&done)
	if err != nil {
		return fmt.Errorf("pgstore: complete %s: %w", key, err)
	}
	if done == 0 {
		return fmt.Errorf("%w (%s)", idempotency.ErrLeaseLost, key)
	}
	return nil
}

// Linked implements idempotency.Store with one indexed lookup for all ids.
func (s *Store) Linked(ctx context.Context, tenant string, ids []string) (map[string]idempotency.Link, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	byLinkID := make(map[string]string, len(ids))
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = linkID(tenant, id)
		byLinkID[string(keys[i])] = id
	}
	rows, err := s.pool.Query(ctx, `SELECT id, route, idempotency_key FROM `+s.links+`
		WHERE id = ANY($1) AND expires_at > now()`, keys)
	if err != nil {
		return nil, fmt.Errorf("pgstore: linked: %w", err)
	}
	defer rows.Close()
	var found map[string]idempotency.Link
	for rows.Next() {
		var lid, route, key []byte
		if err := rows.Scan(&lid, &route, &key); err != nil {
			return nil, fmt.Errorf("pgstore: linked: %w", err)
		}
		if found == nil {
			found = make(map[string]idempotency.Link)
		}
		found[byLinkID[string(lid)]] = idempotency.Link{Route: string(route), IdempotencyKey: string(key)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: linked: %w", err)
	}
	return found, nil
}

// Abandon implements idempotency.Store.
func (s *Store) Abandon(ctx context.Context, key idempotency.Key, token string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE id = $1 AND state = 'in_flight' AND owner_token = $2`,
		rowID(key), token)
	if err != nil {
		return fmt.Errorf("pgstore: abandon %s: %w", key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w (%s)", idempotency.ErrLeaseLost, key)
	}
	return nil
}

// Purge implements idempotency.Store: it deletes every row, and every link, whose expires_at has
// passed.
func (s *Store) Purge(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("pgstore: purge: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.links+` WHERE expires_at <= now()`); err != nil {
		return int(tag.RowsAffected()), fmt.Errorf("pgstore: purge links: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
