package pgingest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// The environment of the PostgreSQL tests: scripts/test.sh starts a throw-away server and sets both.
const (
	urlEnv     = "PSPCONNECT_TEST_POSTGRES_URL"
	requireEnv = "PSPCONNECT_REQUIRE_POSTGRES"
)

// testDatabaseURL returns the URL of the test database, or skips the test (fails it when
// PSPCONNECT_REQUIRE_POSTGRES=1) when there is none.
func testDatabaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not set but %s=1: the PostgreSQL tests must run", urlEnv, requireEnv)
		}
		t.Skipf("%s is not set: skipping the tests that need a PostgreSQL server (./scripts/test.sh starts one)", urlEnv)
	}
	return url
}

// newPool opens a pool on the test database whose connections use schema, as another replica of
// the middleware would; configure, when given, changes its configuration first. It is closed at
// the end of the test (closing it earlier, as a killed replica, is fine).
func newPool(t testing.TB, schema string, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testDatabaseURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// newSchema creates a schema of its own for the test, dropped at its end, so that tests running at
// the same time, or again, never see each other's tables.
func newSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pspconnect_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(context.Background(), testDatabaseURL(t))
	require.NoError(t, err)
	_, err = admin.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	require.NoError(t, admin.Close(context.Background()))
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), testDatabaseURL(t))
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

func tx(id string, at time.Time, status models.TransactionStatus) models.Transaction {
	return models.Transaction{
		ID: id, CreatedAt: at, UpdatedAt: at, Currency: "EUR/2", Type: models.TransactionTypePayIn, Status: status,
		Amount: models.AmountFromInt64(100), DestinationAccountID: "acc_1",
	}
}

func query(page, size int, from time.Time) pagination.Query {
	return pagination.Query{Page: page, PageSize: size, From: from,
		Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
}

// newElector returns a migrated elector on pool.
func newElector(t testing.TB, pool *pgxpool.Pool, opts ...pgingest.Option) *pgingest.Elector {
	t.Helper()
	e, err := pgingest.NewElector(pool, opts...)
	require.NoError(t, err)
	require.NoError(t, e.Migrate(context.Background()))
	return e
}

// newSink returns a migrated sink into a migrated transaction feed on pool.
func newSink(t testing.TB, pool *pgxpool.Pool) *pgingest.Sink[models.Transaction] {
	t.Helper()
	f, err := pgfeed.Transactions(pool)
	require.NoError(t, err)
	require.NoError(t, f.Migrate(context.Background()))
	s, err := pgingest.NewSink(pool, f)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// listing returns the whole listing of tenant (every slot, superseded ones included), a thousand
// items a page.
func listing(t testing.TB, f feed.Feed[models.Transaction], tenant string) []models.Transaction {
	t.Helper()
	var out []models.Transaction
	for p := 1; ; p++ {
		items, err := f.Page(context.Background(), tenant, query(p, 1000, time.Time{}))
		require.NoError(t, err)
		out = append(out, items...)
		if len(items) < 1000 {
			return out
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// acquire takes job's lease with e, failing the test when it cannot.
func acquire(t testing.TB, e *pgingest.Elector, job string) ingest.Lease {
	t.Helper()
	l, ok, err := e.Acquire(context.Background(), job)
	require.NoError(t, err)
	require.True(t, ok, "%s could not acquire job %q", e.Holder(), job)
	return l
}

// waitFor polls cond every few milliseconds until it holds or timeout passes, and reports whether
// it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
