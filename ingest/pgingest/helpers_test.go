package pgingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/internal/feedlist"
	"github.com/pspconnect/pspconnect/internal/pgtest"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// The PostgreSQL tests' helpers, from internal/pgtest: the test database (skipped without it, failed
// when PSPCONNECT_REQUIRE_POSTGRES=1), a pool on a schema, and a schema of the test's own.
func testDatabaseURL(t testing.TB) string { t.Helper(); return pgtest.DatabaseURL(t) }
func newSchema(t testing.TB) string       { t.Helper(); return pgtest.NewSchema(t) }
func newPool(t testing.TB, schema string, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewPool(t, schema, configure...)
}

var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

func tx(id string, at time.Time, status models.TransactionStatus) models.Transaction {
	return feedlist.Tx(id, at, status)
}

func query(page, size int, from time.Time) pagination.Query { return feedlist.Query(page, size, from) }

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
	out, err := feedlist.All(context.Background(), f, tenant)
	require.NoError(t, err)
	return out
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

// jobName is the name ingest.NewJob gives tenant's transactions job.
func jobName(tenant string) string { return fmt.Sprintf("%d:%s/transactions", len(tenant), tenant) }
