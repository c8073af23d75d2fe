package pgfeed_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
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

// newPool opens a pool on the test database whose connections use schema, as another instance of
// the middleware would; it is closed at the end of the test.
func newPool(t testing.TB, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testDatabaseURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
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
