// Package pgtest holds the helpers of the repository's PostgreSQL tests: the test database from the
// environment (scripts/test.sh starts a throw-away server and sets it), a schema of its own per test
// and pools whose connections use it. Only test files import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The environment of the PostgreSQL tests.
const (
	// URLEnv names the test database's URL.
	URLEnv = "PSPCONNECT_TEST_POSTGRES_URL"
	// RequireEnv, set to 1, makes a missing URL fail the tests instead of skipping them.
	RequireEnv = "PSPCONNECT_REQUIRE_POSTGRES"
)

// DatabaseURL returns the URL of the test database, or skips the test (fails it when
// PSPCONNECT_REQUIRE_POSTGRES=1) when there is none.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(URLEnv)
	if url == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is not set but %s=1: the PostgreSQL tests must run", URLEnv, RequireEnv)
		}
		t.Skipf("%s is not set: skipping the tests that need a PostgreSQL server (./scripts/test.sh starts one)", URLEnv)
	}
	return url
}

// NewPool opens a pool on the test database whose connections use schema, as another instance of
// the middleware would; configure, when given, changes its configuration first. It is closed at
// the end of the test (closing it earlier, as a killed instance, is fine).
func NewPool(t testing.TB, schema string, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(DatabaseURL(t))
	if err != nil {
		t.Fatalf("parsing %s: %v", URLEnv, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("opening a pool on the test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewSchema creates a schema of its own for the test, dropped at its end, so that tests running at
// the same time, or again, never see each other's tables.
func NewSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pspconnect_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(context.Background(), DatabaseURL(t))
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	if _, err := admin.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	_ = admin.Close(context.Background())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), DatabaseURL(t))
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
