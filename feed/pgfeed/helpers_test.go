package pgfeed_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/internal/pgtest"
)

// The PostgreSQL tests' helpers, from internal/pgtest: the test database (skipped without it, failed
// when PSPCONNECT_REQUIRE_POSTGRES=1), a pool on a schema, and a schema of the test's own.
func testDatabaseURL(t testing.TB) string               { t.Helper(); return pgtest.DatabaseURL(t) }
func newPool(t testing.TB, schema string) *pgxpool.Pool { t.Helper(); return pgtest.NewPool(t, schema) }
func newSchema(t testing.TB) string                     { t.Helper(); return pgtest.NewSchema(t) }
