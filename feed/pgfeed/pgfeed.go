// Package pgfeed is the feed.Feed kept in PostgreSQL, for production: any number of replicas of a
// middleware, and any number of restarts, on one database serve the same answers and keep the rules
// of package feed (unique, stable served times; a horizon after which every new slot goes; changes
// that never shift what a poller pages through), so Formance's poller loses nothing.
//
// Build one feed per list route (Accounts, Beneficiaries, Transactions, or New for another item
// type), create its tables once with Migrate, and answer list requests with feed.List:
//
//	txs, err := pgfeed.Transactions(pool)
//	...
//	if err := txs.Migrate(ctx); err != nil { ... }
//	...
//	return feed.List(ctx, txs, req)
//
// Every feed of one table prefix (WithTable) shares two tables, for every tenant and route: the
// slots (one row per item version, keyed by tenant, route and served time) and the heads (one row
// per tenant and route: the latest served time assigned, the horizon, and the window of the pollers'
// …From that Prune reads). See Migrate for their columns.
//
// Replicas coordinate through one row lock: a writer (Put, PutTx, Load) locks the tenant and
// route's head row for its whole transaction while it assigns served times, and a reader that must
// raise the horizon updates that same row, so it waits for a writer in progress and then sees what
// the writer committed. No state is cached in the process: a restart or another replica reads the
// horizon from the database.
//
// The application owns the pool (*pgxpool.Pool); the feed never closes it. The package lives apart
// from feed so that programs using the memory feed do not link pgx. It is not a general queue, and
// nothing but the feed should write its tables.
package pgfeed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/internal/encodedtrust"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// DefaultTable is the prefix of the feed's table names unless WithTable says otherwise: the tables
// are DefaultTable + "_slots" and DefaultTable + "_heads".
const DefaultTable = "pspconnect_feed"

// The route names of the constructors. Any other non-empty name works with New.
const (
	RouteAccounts      = "accounts"
	RouteBeneficiaries = "beneficiaries"
	RouteTransactions  = "transactions"
)

// migrationLock is the key of the advisory lock Migrate holds, so that instances starting together
// do not race to create the tables.
const migrationLock int64 = 0x7073_7063_6f6e_6e02

// maxPrefix is the longest table name prefix, in bytes: PostgreSQL cuts names at 63 bytes, and the
// longest name derived from the prefix adds 21 ("_slots_superseded_idx").
const maxPrefix = 63 - len("_slots_superseded_idx")

// copyThreshold is the number of new slots from which Put inserts with COPY instead of one INSERT.
const copyThreshold = 2000

// pruneBatch is the number of slots each DELETE of Prune removes at most.
const pruneBatch = 1000

// Feed is a feed.Feed of items of type T for one route, on a PostgreSQL database. Build it with New
// (or Accounts, Beneficiaries, Transactions) and create its tables with Migrate. It is safe for
// concurrent use by any number of goroutines and processes.
//
// Items are stored as their JSON (encoding/json, with the served time applied), so T must survive
// a round trip through encoding/json: what Page and Get return is the decoded JSON. The contract's
// models do. The column is bytea, not jsonb: the server neither parses nor reorders it, Page
// decodes exactly what Put encoded, and Put recognizes an unchanged item by its bytes before it
// decodes anything (jsonb would cost a parse on every write and reorder keys, so that comparison
// would always fail). People read it with convert_from(item, 'UTF8')::jsonb.
type Feed[T any] struct {
	pool  *pgxpool.Pool
	route string
	keys  feed.Keys[T]
	cfg   feed.Config
	sql   statements
	// metrics are nil without feed.WithMetrics (see telemetry.go).
	metrics *feed.Metrics
	// versioned: T is models.Transaction, whose encodings carry their updatedAt (the served time).
	versioned bool
}

var (
	_ feed.Feed[models.Transaction]       = (*Feed[models.Transaction])(nil)
	_ feed.PageLister[models.Transaction] = (*Feed[models.Transaction])(nil)
)

// Option configures a Feed.
type Option func(*options)

type options struct {
	table    string
	feedOpts []feed.Option
}

// WithTable sets the prefix of the table names: "prefix" or "schema.prefix" (default DefaultTable,
// in the connection's search_path). The tables are prefix + "_slots" and prefix + "_heads". Names
// are quoted, so any characters are allowed except an empty part; the prefix may have at most 42
// bytes.
func WithTable(prefix string) Option {
	return func(o *options) { o.table = prefix }
}

// WithFeedOptions applies options of package feed: feed.WithRetention and feed.WithClock.
func WithFeedOptions(opts ...feed.Option) Option {
	return func(o *options) { o.feedOpts = append(o.feedOpts, opts...) }
}

// New returns a feed of the items of route, read through keys, stored in pool's database. route
// names the list ("transactions", "accounts", … or any other non-empty name): feeds of different
// routes share the tables and never see each other's items. Call Migrate once before use (at every
// start is fine). New fails with an error wrapping feed.ErrInvalidConfig for a nil pool, an empty
// route, incomplete keys, a bad table name or a bad feed option.
func New[T any](pool *pgxpool.Pool, route string, keys feed.Keys[T], opts ...Option) (*Feed[T], error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", feed.ErrInvalidConfig)
	}
	if route == "" || !utf8.ValidString(route) || strings.ContainsRune(route, 0) {
		return nil, fmt.Errorf("%w: route %q (want a non-empty UTF-8 name without NUL)", feed.ErrInvalidConfig, route)
	}
	if err := keys.Check(); err != nil {
		return nil, err
	}
	o := options{table: DefaultTable}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	cfg, err := feed.NewConfig(o.feedOpts...)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(o.table, ".")
	if len(parts) > 2 || o.table == "" {
		return nil, fmt.Errorf("%w: table prefix %q (want \"prefix\" or \"schema.prefix\")", feed.ErrInvalidConfig, o.table)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: table prefix %q has an empty part", feed.ErrInvalidConfig, o.table)
		}
	}
	if name := parts[len(parts)-1]; len(name) > maxPrefix {
		return nil, fmt.Errorf("%w: table prefix %q is longer than %d bytes", feed.ErrInvalidConfig, name, maxPrefix)
	}
	_, versioned := any(*new(T)).(models.Transaction)
	f := &Feed[T]{pool: pool, route: route, keys: keys, cfg: cfg, sql: newStatements(parts), versioned: versioned}
	if err := f.instrument(); err != nil {
		return nil, err
	}
	return f, nil
}

// Accounts returns the feed of accounts (route "accounts", feed.AccountKeys).
func Accounts(pool *pgxpool.Pool, opts ...Option) (*Feed[models.Account], error) {
	return New(pool, RouteAccounts, feed.AccountKeys(), opts...)
}

// Beneficiaries returns the feed of beneficiaries (route "beneficiaries", feed.BeneficiaryKeys).
func Beneficiaries(pool *pgxpool.Pool, opts ...Option) (*Feed[models.Beneficiary], error) {
	return New(pool, RouteBeneficiaries, feed.BeneficiaryKeys(), opts...)
}

// Transactions returns the feed of transactions (route "transactions", feed.TransactionKeys).
func Transactions(pool *pgxpool.Pool, opts ...Option) (*Feed[models.Transaction], error) {
	return New(pool, RouteTransactions, feed.TransactionKeys(), opts...)
}

// Route returns the route the feed serves.
func (f *Feed[T]) Route() string { return f.route }

// statements holds the sanitized table names and the SQL built from them.
type statements struct {
	slots, heads                 string // sanitized, possibly schema-qualified
	currentIndex, prunableIndex  string // sanitized, unqualified (an index lives in its table's schema)
	slotsIdent                   pgx.Identifier
	ensureHead, lockHead         string
	setMax, current, taken       string
	insert, remove, supersede    string
	inPlace, readHead, raise     string
	page, pageDesc, get, anySlot string
	headAndPage                  string
	tenants, prune               string
}

func newStatements(parts []string) statements {
	name := parts[len(parts)-1]
	qualified := func(suffix string) pgx.Identifier {
		id := slices.Clone(parts)
		id[len(id)-1] = name + suffix
		return id
	}
	s := statements{
		slots:         qualified("_slots").Sanitize(),
		heads:         qualified("_heads").Sanitize(),
		currentIndex:  pgx.Identifier{name + "_slots_current_idx"}.Sanitize(),
		prunableIndex: pgx.Identifier{name + "_slots_superseded_idx"}.Sanitize(),
		slotsIdent:    qualified("_slots"),
	}
	key := ` WHERE tenant = $1 AND route = $2`
	s.ensureHead = `INSERT INTO ` + s.heads + ` (tenant, route, max_assigned, horizon) VALUES ($1, $2, $3, $3)
		ON CONFLICT (tenant, route) DO NOTHING`
	s.lockHead = `SELECT max_assigned, horizon FROM ` + s.heads + key + ` FOR UPDATE`
	s.setMax = `UPDATE ` + s.heads + ` SET max_assigned = $3` + key
	// The lookups by id or served time join the batch's array to a subquery that is planned on its
	// own (OFFSET 0 keeps PostgreSQL from merging it), so that each element is one probe of an index
	// even when the table's statistics are stale (right after a large Load): a merged join may be
	// planned as a hash join over the tenant's whole route.
	s.current = `SELECT x.id, x.st, x.item FROM unnest($3::bytea[]) AS u(id) CROSS JOIN LATERAL (
		SELECT id, st, item FROM ` + s.slots + key + ` AND id = u.id AND superseded_at IS NULL OFFSET 0) AS x`
	s.taken = `SELECT x.st FROM unnest($3::bigint[], $4::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL (
		SELECT st FROM ` + s.slots + key + ` AND st >= r.lo AND st <= r.hi OFFSET 0) AS x`
	s.insert = `INSERT INTO ` + s.slots + ` (tenant, route, st, id, item, encoded)
		SELECT $1, $2, u.st, u.id, u.item, u.encoded
		FROM unnest($3::bigint[], $4::bytea[], $5::bytea[], $6::boolean[]) AS u(st, id, item, encoded)`
	bySTs := `ctid = ANY(ARRAY(SELECT x.ctid FROM unnest($3::bigint[]) AS u(st) CROSS JOIN LATERAL (
		SELECT ctid FROM ` + s.slots + key + ` AND st = u.st OFFSET 0) AS x))`
	s.remove = `DELETE FROM ` + s.slots + ` WHERE ` + bySTs
	s.supersede = `UPDATE ` + s.slots + ` SET superseded_at = $4 WHERE ` + bySTs
	s.inPlace = `UPDATE ` + s.slots + ` SET item = $4, encoded = $5` + key + ` AND st = $3`
	s.readHead = `SELECT max_assigned, horizon, poll_cur_start, poll_cur_min, poll_prev_min, poll_cur_seen, poll_prev_seen
		FROM ` + s.heads + key
	// raise: $3 from, $4 now, $5 now minus the retention, $6 now minus twice the retention (Unix ns).
	// A bucket of the poll window ends when it started a retention ago or more (pollWindow.note of
	// package feed); everything reads the row as it was, as the Go version does.
	rotate := `(NOT h.poll_cur_seen OR h.poll_cur_start <= $5)`
	s.raise = `INSERT INTO ` + s.heads + ` AS h (tenant, route, max_assigned, horizon,
			poll_cur_start, poll_cur_min, poll_prev_min, poll_cur_seen, poll_prev_seen)
		VALUES ($1, $2, ` + fmt.Sprint(feed.NoHorizon) + `, ` + fmt.Sprint(feed.NoHorizon) + `, $4, $3, 0, true, false)
		ON CONFLICT (tenant, route) DO UPDATE SET
			horizon = GREATEST(h.horizon, h.max_assigned),
			poll_prev_min = CASE WHEN ` + rotate + ` THEN h.poll_cur_min ELSE h.poll_prev_min END,
			poll_prev_seen = CASE WHEN ` + rotate + ` THEN h.poll_cur_seen AND h.poll_cur_start > $6 ELSE h.poll_prev_seen END,
			poll_cur_min = CASE WHEN ` + rotate + ` THEN $3 ELSE LEAST(h.poll_cur_min, $3) END,
			poll_cur_start = CASE WHEN ` + rotate + ` THEN $4 ELSE h.poll_cur_start END,
			poll_cur_seen = true
		RETURNING horizon`
	s.page = `SELECT item, encoded, st FROM ` + s.slots + key + ` AND st >= $3 AND st <= $4 ORDER BY st OFFSET $5 LIMIT $6`
	// headAndPage reads the head and, up to its horizon, an ascending page in one round trip: when the
	// horizon needs no raise (a deeper page of a fetch, a poll with nothing new), that page is the
	// answer. $3 from, $4 offset, $5 limit.
	s.headAndPage = `SELECT h.max_assigned, h.horizon, h.poll_cur_start, h.poll_cur_min, h.poll_prev_min,
			h.poll_cur_seen, h.poll_prev_seen, p.item, p.encoded, p.st
		FROM ` + s.heads + ` AS h LEFT JOIN LATERAL (
			SELECT item, encoded, st FROM ` + s.slots + ` AS sl
			WHERE sl.tenant = $1 AND sl.route = $2 AND sl.st >= $3 AND sl.st <= h.horizon ORDER BY sl.st OFFSET $4 LIMIT $5
		) AS p ON true
		WHERE h.tenant = $1 AND h.route = $2`
	s.pageDesc = `SELECT item, encoded, st FROM ` + s.slots + key + ` AND st >= $3 AND st <= $4 ORDER BY st DESC OFFSET $5 LIMIT $6`
	s.get = `SELECT item FROM ` + s.slots + key + ` AND id = $3 AND superseded_at IS NULL`
	s.anySlot = `SELECT st FROM ` + s.slots + key + ` ORDER BY st LIMIT 1`
	s.tenants = `SELECT tenant, poll_cur_start, poll_cur_min, poll_prev_min, poll_cur_seen, poll_prev_seen
		FROM ` + s.heads + ` WHERE route = $1`
	// prune: $3 the latest superseded_at that may go, $4 the cutoff of the served times, $5 the batch.
	s.prune = `DELETE FROM ` + s.slots + ` WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM ` + s.slots + key + ` AND superseded_at IS NOT NULL AND superseded_at <= $3 AND st < $4 LIMIT $5))`
	return s
}

// Migrate creates the feed's tables and indexes when they do not exist. It is safe to call at every
// start, from several instances at once (it takes an advisory lock). The schema of a
// schema-qualified prefix must exist. Feeds of every route and item type share the tables of one
// prefix.
//
// The slots table (prefix + "_slots") has one row per item version: tenant (bytea: the tenant's
// exact bytes), route, st (the served time, Unix nanoseconds), id (bytea), item (the item's JSON
// as served, bytea) and superseded_at (Unix nanoseconds; NULL while the row holds the current
// version). Its primary key is (tenant, route, st), the order of every page; a unique index on
// (tenant, route, id) of the current versions finds an item; a partial index on (tenant, route,
// superseded_at) of the superseded ones serves Prune. Read a row with
// convert_from(tenant, 'UTF8'), convert_from(item, 'UTF8')::jsonb and to_timestamp(st / 1e9).
//
// The heads table (prefix + "_heads") has one row per tenant and route: max_assigned (the latest
// served time assigned), horizon (the latest served time that may have been read; every new slot
// goes after it), and the window of the lowest …From of the list requests over the last retention
// (poll_cur_start, poll_cur_min, poll_prev_min, poll_cur_seen, poll_prev_seen), which Prune
// respects. Its row lock serializes the writers of a tenant and route. Never lower a horizon by
// hand: a poller may have read up to it.
func (f *Feed[T]) Migrate(ctx context.Context) error {
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgfeed: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	s := f.sql
	stmts := []string{
		fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLock),
		`CREATE TABLE IF NOT EXISTS ` + s.slots + ` (
			tenant        bytea  NOT NULL,
			route         text   COLLATE "C" NOT NULL,
			st            bigint NOT NULL,
			id            bytea  NOT NULL,
			item          bytea  NOT NULL,
			superseded_at bigint,
			PRIMARY KEY (tenant, route, st)
		)`,
		// encoded: item is models.Encode's encoding of a valid item, served as it is (ListPage).
		// Rows of earlier versions, without the column, are decoded and checked when served.
		`ALTER TABLE ` + s.slots + ` ADD COLUMN IF NOT EXISTS encoded boolean NOT NULL DEFAULT false`,
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + s.currentIndex + ` ON ` + s.slots + ` (tenant, route, id)
			WHERE superseded_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS ` + s.prunableIndex + ` ON ` + s.slots + ` (tenant, route, superseded_at)
			WHERE superseded_at IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS ` + s.heads + ` (
			tenant         bytea   NOT NULL,
			route          text    COLLATE "C" NOT NULL,
			max_assigned   bigint  NOT NULL,
			horizon        bigint  NOT NULL,
			poll_cur_start bigint  NOT NULL DEFAULT 0,
			poll_cur_min   bigint  NOT NULL DEFAULT 0,
			poll_prev_min  bigint  NOT NULL DEFAULT 0,
			poll_cur_seen  boolean NOT NULL DEFAULT false,
			poll_prev_seen boolean NOT NULL DEFAULT false,
			PRIMARY KEY (tenant, route)
		) WITH (fillfactor = 50)`,
		`COMMENT ON COLUMN ` + s.slots + `.st IS 'served time, Unix nanoseconds; never changes'`,
		`COMMENT ON COLUMN ` + s.slots + `.item IS 'the item as served: its JSON, with the served time applied'`,
		`COMMENT ON COLUMN ` + s.slots + `.encoded IS 'item was made by models.Encode from a valid item: it is served without being checked again'`,
		`COMMENT ON COLUMN ` + s.slots + `.superseded_at IS 'Unix nanoseconds when a later version replaced this one; NULL for the current version'`,
		`COMMENT ON COLUMN ` + s.heads + `.horizon IS 'the latest served time that may have been read; every new slot goes after it'`,
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("pgfeed: migrate: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgfeed: migrate: %w", err)
	}
	return nil
}

// Put implements feed.Feed in one transaction. It first locks the tenant and route's head row
// (SELECT … FOR UPDATE, after creating the row if needed) and holds it until it commits. That lock
// serializes the writers of a tenant and route across every replica, so that no two give out one
// served time, and it makes a list request that must raise the horizon wait for the writer in
// progress and then see its slots, so that no slot is ever committed at or before a horizon a
// reader has already served (the check-then-insert race). Under the lock it reads the current
// versions of the batch's ids and the served times already taken after the horizon where the batch
// may go (index probes), assigns every served time as the memory feed does, then deletes, marks
// superseded, updates in place and inserts (one INSERT, or COPY for large batches), and records the
// latest served time assigned.
func (f *Feed[T]) Put(ctx context.Context, tenant string, items ...T) (err error) {
	defer func() { f.metrics.Put(ctx, len(items), err) }()
	wants, err := f.wants("put", items)
	if err != nil || len(items) == 0 {
		return err
	}
	err = pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error { return f.put(ctx, tx, tenant, items, wants, false) })
	if err != nil {
		return f.fail("put", tenant, err)
	}
	return nil
}

// PutTx is Put inside the caller's transaction, so that the items and what the caller writes with
// them (the PSP cursor they came from, say) are committed together or not at all. The transaction
// must be READ COMMITTED (PostgreSQL's default). Put locks the tenant and route's head row: until
// tx ends, other writers of the tenant and route wait, and so do list requests that must raise the
// horizon, so commit soon. Nothing is stored when tx rolls back.
func (f *Feed[T]) PutTx(ctx context.Context, tx pgx.Tx, tenant string, items ...T) (err error) {
	defer func() { f.metrics.Put(ctx, len(items), err) }()
	wants, err := f.wants("put", items)
	if err != nil || len(items) == 0 {
		return err
	}
	if err := f.put(ctx, tx, tenant, items, wants, false); err != nil {
		return f.fail("put", tenant, err)
	}
	return nil
}

// Load implements feed.Feed: one transaction that checks, under the head row's lock, that the
// tenant's route holds no slot, assigns every served time in the process, and copies the slots in
// with COPY, encoding each item as COPY sends it. It holds about 200 bytes per item besides the
// items. List requests of the tenant and route that must raise the horizon wait until it ends
// (a million transactions take seconds), so load before Formance polls.
func (f *Feed[T]) Load(ctx context.Context, tenant string, items []T) (err error) {
	defer func() { f.metrics.Put(ctx, len(items), err) }()
	wants, err := f.wants("load", items)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error { return f.put(ctx, tx, tenant, items, wants, true) })
	switch {
	case errors.Is(err, feed.ErrNotEmpty):
		return err
	case err != nil:
		return f.fail("load", tenant, err)
	}
	return nil
}

func (f *Feed[T]) fail(op, tenant string, err error) error {
	return fmt.Errorf("pgfeed: %s %s of tenant %q: %w", op, f.route, tenant, err)
}

// wants checks every item before anything is stored (Put is all-or-nothing) and returns the
// earliest served time of each.
func (f *Feed[T]) wants(op string, items []T) ([]int64, error) {
	wants := make([]int64, len(items))
	for i, it := range items {
		w, err := f.keys.Want(it)
		if err != nil {
			return nil, fmt.Errorf("pgfeed: %s: item %d of %d: %w", op, i+1, len(items), err)
		}
		wants[i] = w
	}
	return wants, nil
}

// put stores items in tx: it locks the head row, reads the current versions of the batch's ids and
// the served times already taken where the batch may go, assigns every served time as the memory
// feed does, and writes the result. With load set, it fails with feed.ErrNotEmpty when the tenant's
// route holds a slot, and copies the slots in.
func (f *Feed[T]) put(ctx context.Context, tx pgx.Tx, tenant string, items []T, wants []int64, load bool) error {
	tb := []byte(tenant)
	b := &pgx.Batch{}
	b.Queue(f.sql.ensureHead, tb, f.route, feed.NoHorizon)
	var maxAssigned, horizon int64
	b.Queue(f.sql.lockHead, tb, f.route).QueryRow(func(row pgx.Row) error { return row.Scan(&maxAssigned, &horizon) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}

	p := newPlanner(f.keys, items, wants, horizon, maxAssigned)
	if load {
		var st int64
		switch err := tx.QueryRow(ctx, f.sql.anySlot, tb, f.route).Scan(&st); {
		case err == nil:
			return fmt.Errorf("%w (tenant %q, route %s)", feed.ErrNotEmpty, tenant, f.route)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		p.occ.high = p.occ.low - 1 // no stored slot anywhere
	} else {
		if err := f.readCurrent(ctx, tx, tb, p); err != nil {
			return err
		}
		p.occ.load = func(spans []span) ([]int64, error) { return f.readTaken(ctx, tx, tb, spans) }
		if err := p.preload(); err != nil {
			return err
		}
	}
	if err := p.run(); err != nil {
		return err
	}
	return f.write(ctx, tx, tb, p, load)
}

// readCurrent reads the stored current versions of the batch's ids.
func (f *Feed[T]) readCurrent(ctx context.Context, tx pgx.Tx, tenant []byte, p *planner[T]) error {
	seen := make(map[string]struct{}, len(p.items))
	ids := make([][]byte, 0, len(p.items))
	for _, it := range p.items {
		id := f.keys.ID(it)
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			ids = append(ids, []byte(id))
		}
	}
	rows, err := tx.Query(ctx, f.sql.current, tenant, f.route, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   []byte
			st   int64
			item []byte
		)
		if err := rows.Scan(&id, &st, &item); err != nil {
			return err
		}
		p.addStored(string(id), st, item)
	}
	return rows.Err()
}

// readTaken returns the stored served times within spans.
func (f *Feed[T]) readTaken(ctx context.Context, tx pgx.Tx, tenant []byte, spans []span) ([]int64, error) {
	los, his := make([]int64, len(spans)), make([]int64, len(spans))
	for i, s := range spans {
		los[i], his[i] = s.lo, s.hi
	}
	rows, err := tx.Query(ctx, f.sql.taken, tenant, f.route, los, his)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// write applies the plan: deletes, supersedes, changes in place, inserts, then the head's
// max_assigned.
func (f *Feed[T]) write(ctx context.Context, tx pgx.Tx, tenant []byte, p *planner[T], load bool) error {
	b := &pgx.Batch{}
	if len(p.removed) > 0 {
		b.Queue(f.sql.remove, tenant, f.route, p.removed)
	}
	if len(p.superseded) > 0 {
		b.Queue(f.sql.supersede, tenant, f.route, p.superseded, f.cfg.Now().UnixNano())
	}
	if len(p.inPlace) > 0 {
		sts := make([]int64, 0, len(p.inPlace))
		for st := range p.inPlace {
			sts = append(sts, st)
		}
		slices.Sort(sts)
		for _, st := range sts {
			item, encoded := stored(p.inPlace[st])
			b.Queue(f.sql.inPlace, tenant, f.route, st, item, encoded)
		}
	}
	live := p.live()
	useCopy := load || len(live) >= copyThreshold
	if !useCopy && len(live) > 0 {
		sts, ids, jsons := make([]int64, len(live)), make([][]byte, len(live)), make([][]byte, len(live))
		encoded := make([]bool, len(live))
		for i, s := range live {
			j, err := p.encode(s)
			if err != nil {
				return err
			}
			jsons[i], encoded[i] = stored(j)
			sts[i], ids[i] = s.st, []byte(s.id)
		}
		b.Queue(f.sql.insert, tenant, f.route, sts, ids, jsons, encoded)
	}
	if p.max != p.startMax && !useCopy {
		b.Queue(f.sql.setMax, tenant, f.route, p.max)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	if !useCopy {
		return nil
	}
	if len(live) > 0 {
		slices.SortFunc(live, func(a, b *newSlot) int { return cmp.Compare(a.st, b.st) })
		src := &copySource[T]{p: p, tenant: tenant, route: f.route, slots: live, i: -1}
		if _, err := tx.CopyFrom(ctx, f.sql.slotsIdent, []string{"tenant", "route", "st", "id", "item", "encoded"}, src); err != nil {
			return err
		}
	}
	if p.max != p.startMax {
		if _, err := tx.Exec(ctx, f.sql.setMax, tenant, f.route, p.max); err != nil {
			return err
		}
	}
	return nil
}

// copySource feeds the new slots to COPY, encoding each item's JSON when COPY asks for it.
type copySource[T any] struct {
	p      *planner[T]
	tenant []byte
	route  string
	slots  []*newSlot
	i      int
	err    error
}

func (c *copySource[T]) Next() bool {
	c.i++
	return c.err == nil && c.i < len(c.slots)
}

func (c *copySource[T]) Values() ([]any, error) {
	s := c.slots[c.i]
	j, err := c.p.encodeOnce(s)
	if err != nil {
		c.err = err
		return nil, err
	}
	item, encoded := stored(j)
	return []any{c.tenant, c.route, s.st, []byte(s.id), item, encoded}, nil
}

func (c *copySource[T]) Err() error { return c.err }

// Page implements feed.Feed. It reads the head row; when a slot was assigned after the horizon, or
// the poll window must note this request's …From, it updates the row, raising the horizon to the
// latest served time assigned (this waits for a writer holding the row's lock, and then sees what
// it committed). Then one range scan of the slots' primary key reads the page: O(pageSize) memory,
// and time that grows with the page's offset, not with the size of the listing.
func (f *Feed[T]) Page(ctx context.Context, tenant string, q pagination.Query) ([]T, error) {
	rows, err := f.pageRows(ctx, tenant, q)
	if err != nil {
		return nil, err
	}
	raws := make([][]byte, len(rows))
	for i, r := range rows {
		raws[i] = r.item
	}
	return decodeItems[T](raws, f, tenant)
}

// ListPage implements feed.PageLister: the page of Page, as the stored encodings (Encoded) when
// every row of the page was stored by models.Encode (the encoded column), and as decoded items
// otherwise. The handler copies the encodings as they are.
func (f *Feed[T]) ListPage(ctx context.Context, tenant string, q pagination.Query) (connector.Page[T], error) {
	rows, err := f.pageRows(ctx, tenant, q)
	if err != nil {
		return connector.Page[T]{}, err
	}
	encs := make([]models.Encoded, len(rows))
	for i, r := range rows {
		if !r.encoded {
			raws := make([][]byte, len(rows))
			for i, r := range rows {
				raws[i] = r.item
			}
			items, err := decodeItems[T](raws, f, tenant)
			return connector.Page[T]{Items: items}, err
		}
		version := int64(0)
		if f.versioned {
			version = r.st
		}
		encs[i] = makeEncoded(string(r.item), version, -1)
	}
	return connector.Page[T]{Encoded: encs}, nil
}

// makeEncoded rebuilds the encodings Put stored (see encodedtrust).
var makeEncoded = encodedtrust.Make.(func(string, int64, int8) models.Encoded)

// pageRow is one slot of a page as read.
type pageRow struct {
	item    []byte
	encoded bool
	st      int64
}

// pageRows reads the slots of a page (see Page).
func (f *Feed[T]) pageRows(ctx context.Context, tenant string, q pagination.Query) ([]pageRow, error) {
	from := feed.NoHorizon
	if !q.From.IsZero() {
		var ok bool
		if from, ok = feed.UnixNano(q.From); !ok {
			return nil, fmt.Errorf("pgfeed: page: %w: from %s", feed.ErrTimeOutOfRange, q.From)
		}
	}
	tb := []byte(tenant)
	now := f.cfg.Now()
	var (
		maxAssigned, horizon int64
		w                    window
		raws                 []pageRow
	)
	// One round trip reads the head with an ascending page up to its horizon; the page is the answer
	// unless the horizon must be raised first.
	missing := true
	if q.Sort.Direction != pagination.Descending && q.PageSize > 0 {
		rows, err := f.pool.Query(ctx, f.sql.headAndPage, tb, f.route, from, max(q.Offset(), 0), q.PageSize)
		if err != nil {
			return nil, f.fail("page", tenant, err)
		}
		for rows.Next() {
			var raw []byte
			var encoded *bool
			var st *int64
			if err := rows.Scan(&maxAssigned, &horizon, &w.curStart, &w.curMin, &w.prevMin, &w.curSeen, &w.prevSeen, &raw, &encoded, &st); err != nil {
				rows.Close()
				return nil, f.fail("page", tenant, err)
			}
			missing = false
			if raw != nil {
				raws = append(raws, pageRow{item: raw, encoded: *encoded, st: *st})
			}
		}
		if err := rows.Err(); err != nil {
			return nil, f.fail("page", tenant, err)
		}
	} else {
		err := f.pool.QueryRow(ctx, f.sql.readHead, tb, f.route).
			Scan(&maxAssigned, &horizon, &w.curStart, &w.curMin, &w.prevMin, &w.curSeen, &w.prevSeen)
		missing = errors.Is(err, pgx.ErrNoRows)
		if err != nil && !missing {
			return nil, f.fail("page", tenant, err)
		}
	}
	raised := false
	if missing || maxAssigned > horizon || w.wants(from, now, f.cfg.Retention) {
		r := f.cfg.Retention
		err := f.pool.QueryRow(ctx, f.sql.raise, tb, f.route, from, now.UnixNano(),
			subNanos(now, r), subNanos(now, 2*min(r, math.MaxInt64/2))).Scan(&horizon)
		if err != nil {
			return nil, f.fail("page", tenant, err)
		}
		raised = true
	}
	if !raised && q.Sort.Direction != pagination.Descending && q.PageSize > 0 {
		return raws, nil
	}
	if horizon == feed.NoHorizon || q.PageSize <= 0 {
		return nil, nil
	}
	stmt := f.sql.page
	if q.Sort.Direction == pagination.Descending {
		stmt = f.sql.pageDesc
	}
	rows, err := f.pool.Query(ctx, stmt, tb, f.route, from, horizon, max(q.Offset(), 0), q.PageSize)
	if err != nil {
		return nil, f.fail("page", tenant, err)
	}
	raws = raws[:0]
	for rows.Next() {
		var r pageRow
		if err := rows.Scan(&r.item, &r.encoded, &r.st); err != nil {
			return nil, f.fail("page", tenant, err)
		}
		raws = append(raws, r)
	}
	if err := rows.Err(); err != nil {
		return nil, f.fail("page", tenant, err)
	}
	return raws, nil
}

// decodeItems decodes the stored items of a page: transactions with decodeTransaction (falling
// back to encoding/json for an item it does not read), other types in one pass, as one JSON array
// (a call of json.Unmarshal per item costs a validation scan and a reflection set-up each).
func decodeItems[T any](raws [][]byte, f *Feed[T], tenant string) ([]T, error) {
	if txs, ok := any(make([]T, len(raws))).([]models.Transaction); ok {
		for i, raw := range raws {
			if err := decodeTransaction(raw, &txs[i]); err != nil {
				txs[i] = models.Transaction{}
				if err := json.Unmarshal(raw, &txs[i]); err != nil {
					return nil, f.fail("page", tenant, fmt.Errorf("decoding a stored item: %w", err))
				}
			}
		}
		return any(txs).([]T), nil
	}
	n := 2
	for _, r := range raws {
		n += len(r) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '[')
	for i, r := range raws {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, r...)
	}
	buf = append(buf, ']')
	out := make([]T, 0, len(raws))
	if err := json.Unmarshal(buf, &out); err != nil {
		return nil, f.fail("page", tenant, fmt.Errorf("decoding the stored items: %w", err))
	}
	return out, nil
}

// subNanos returns now minus d in Unix nanoseconds, at least math.MinInt64.
func subNanos(now time.Time, d time.Duration) int64 {
	n := now.UnixNano()
	if n < math.MinInt64+int64(d) {
		return math.MinInt64
	}
	return n - int64(d)
}

// Get implements feed.Feed with one lookup of the current versions' unique index.
func (f *Feed[T]) Get(ctx context.Context, tenant, id string) (T, bool, error) {
	var item T
	var raw []byte
	err := f.pool.QueryRow(ctx, f.sql.get, []byte(tenant), f.route, []byte(id)).Scan(&raw)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return item, false, nil
	case err != nil:
		return item, false, f.fail("get", tenant, err)
	}
	if err := json.Unmarshal(raw, &item); err != nil {
		return item, false, f.fail("get", tenant, fmt.Errorf("decoding item %q: %w", id, err))
	}
	return item, true, nil
}

// Prune implements feed.Feed: for each tenant of the route whose pollers were seen during the
// retention, it deletes the superseded slots older than the retention and before their lowest
// …From minus a second, a thousand rows per statement. Running it from several replicas at once is
// safe.
func (f *Feed[T]) Prune(ctx context.Context) (int, error) {
	now := f.cfg.Now()
	r := f.cfg.Retention
	type target struct {
		tenant []byte
		cutoff int64
	}
	rows, err := f.pool.Query(ctx, f.sql.tenants, f.route)
	if err != nil {
		return 0, fmt.Errorf("pgfeed: prune %s: %w", f.route, err)
	}
	var targets []target
	for rows.Next() {
		var (
			tenant []byte
			w      window
		)
		if err := rows.Scan(&tenant, &w.curStart, &w.curMin, &w.prevMin, &w.curSeen, &w.prevSeen); err != nil {
			rows.Close()
			return 0, fmt.Errorf("pgfeed: prune %s: %w", f.route, err)
		}
		if floor, ok := w.floor(now, r); ok {
			if cutoff := feed.PruneCutoff(floor); cutoff != feed.NoHorizon {
				targets = append(targets, target{tenant, cutoff})
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("pgfeed: prune %s: %w", f.route, err)
	}
	total := 0
	before := subNanos(now, r)
	for _, t := range targets {
		for {
			tag, err := f.pool.Exec(ctx, f.sql.prune, t.tenant, f.route, before, t.cutoff, pruneBatch)
			if err != nil {
				return total, f.fail("prune", string(t.tenant), err)
			}
			total += int(tag.RowsAffected())
			if tag.RowsAffected() < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// window is a head row's poll window: the pollWindow of package feed, with times in Unix
// nanoseconds.
type window struct {
	curStart, curMin, prevMin int64
	curSeen, prevSeen         bool
}

// wants reports whether a request with from at now would change the window.
func (w window) wants(from int64, now time.Time, retention time.Duration) bool {
	return !w.curSeen || from < w.curMin || w.curStart <= subNanos(now, retention)
}

// floor returns the lowest from of the requests of the last retention (and maybe a little more),
// or false when none came.
func (w window) floor(now time.Time, retention time.Duration) (int64, bool) {
	switch {
	case !w.curSeen || w.curStart <= subNanos(now, 2*min(retention, math.MaxInt64/2)):
		return 0, false
	case w.curStart <= subNanos(now, retention) || !w.prevSeen:
		return w.curMin, true
	}
	return min(w.curMin, w.prevMin), true
}
