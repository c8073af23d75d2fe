package httpserver_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/pgstore"
)

// BenchmarkIdempotentPayout measures POST /payouts through the handler (no network) with each
// store: "first" is a new idempotency key per request (Begin, provider call, Complete), "replay" the
// same request again (Begin returns the stored answer). The postgres store runs only when
// PSPCONNECT_TEST_POSTGRES_URL is set.
func BenchmarkIdempotentPayout(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchmarkPayouts(b, idempotency.NewMemoryStore())
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkPayouts(b, benchPostgresStore(b))
	})
}

func benchmarkPayouts(b *testing.B, store idempotency.Store) {
	h, err := httpserver.New(newWriteProvider(nil), httpserver.WithAPIKey(testKey),
		httpserver.WithLogger(discardLogger()), httpserver.WithIdempotencyStore(store))
	if err != nil {
		b.Fatal(err)
	}
	post := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/payouts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
	}
	b.Run("first", func(b *testing.B) {
		bodies := make([]string, b.N)
		for i := range bodies {
			bodies[i] = payoutWithKey(fmt.Sprintf("bench-%s-%d", b.Name(), i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			post(bodies[i])
		}
	})
	b.Run("replay", func(b *testing.B) {
		post(payoutBody)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			post(payoutBody)
		}
	})
}

// benchPostgresStore returns a pgstore on a schema of its own, or skips without a test database.
func benchPostgresStore(b *testing.B) idempotency.Store {
	url := os.Getenv("PSPCONNECT_TEST_POSTGRES_URL")
	if url == "" {
		b.Skip("PSPCONNECT_TEST_POSTGRES_URL is not set: skipping the PostgreSQL benchmark (./scripts/test.sh starts a server)")
	}
	ctx := context.Background()
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := pgx.Identifier{"pspconnect_bench_" + hex.EncodeToString(r[:])}.Sanitize()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	store, err := pgstore.New(pool, pgstore.WithTable(strings.Trim(schema, `"`)+".records"))
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return store
}
