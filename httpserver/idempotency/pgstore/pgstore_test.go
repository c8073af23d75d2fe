package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/pgstore"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/storetest"
)

func TestStoreConformance(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	var n atomic.Int32
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		store, err := pgstore.New(pool, pgstore.WithTable(fmt.Sprintf("%s.records_%d", schema, n.Add(1))))
		require.NoError(t, err)
		require.NoError(t, store.Migrate(context.Background()))
		return store
	})
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none") // never connected
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	_, err = pgstore.New(nil)
	assert.ErrorIs(t, err, pgstore.ErrInvalidConfig)
	for _, table := range []string{"", "a.b.c", "a.", ".b", "."} {
		_, err := pgstore.New(pool, pgstore.WithTable(table))
		assert.ErrorIs(t, err, pgstore.ErrInvalidConfig, "table %q", table)
	}
	for _, table := range []string{"t", "s.t", `odd "name"; DROP TABLE x`} {
		_, err := pgstore.New(pool, pgstore.WithTable(table))
		assert.NoError(t, err, "table %q", table)
	}
}

func TestMigrateIsRepeatableAndConcurrent(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	for _, table := range []string{pgstore.DefaultTable, `odd "name"; DROP TABLE x`} {
		store, err := pgstore.New(pool, pgstore.WithTable(table))
		require.NoError(t, err)

		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = store.Migrate(context.Background()) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "concurrent Migrate %d of table %q", i, table)
		}
		require.NoError(t, store.Migrate(context.Background()), "Migrate again")

		out, err := store.Begin(context.Background(), idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: "k"}, []byte("fp"), time.Minute)
		require.NoError(t, err)
		assert.Equal(t, idempotency.Acquired, out.Kind)
	}

	// The tables sit in the pool's search_path (the schema), as the default tables of an application:
	// each store has its records and its links.
	var count int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&count))
	assert.Equal(t, 4, count)
}

func TestTableIsReadableByPeople(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	store, err := pgstore.New(pool)
	require.NoError(t, err)
	require.NoError(t, store.Migrate(context.Background()))
	ctx := context.Background()
	key := idempotency.Key{Tenant: "acme", Route: "POST /payouts", IdempotencyKey: "ik\x00_1"}
	out, err := store.Begin(ctx, key, []byte("fp"), time.Hour)
	require.NoError(t, err)
	require.NoError(t, store.Complete(ctx, key, out.Token, idempotency.Answer{Status: 201, Body: []byte(`{"id":"po_1"}`)}, time.Hour))

	var tenant, route, ikey, state string
	var status int
	var body []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT tenant, route, idempotency_key, state, status, body FROM `+pgstore.DefaultTable).
		Scan(&tenant, &route, &ikey, &state, &status, &body))
	assert.Equal(t, []string{"acme", "POST /payouts", "ik\uFFFD_1", "completed"}, []string{tenant, route, ikey, state})
	assert.Equal(t, 201, status)
	assert.JSONEq(t, `{"id":"po_1"}`, string(body))
}

func TestBeginFailsWithoutTheTable(t *testing.T) {
	pool := newPool(t, newSchema(t))
	store, err := pgstore.New(pool, pgstore.WithTable("never_migrated"))
	require.NoError(t, err)
	_, err = store.Begin(context.Background(), idempotency.Key{Tenant: "t", Route: "r", IdempotencyKey: "k"}, []byte("fp"), time.Minute)
	assert.ErrorContains(t, err, "pgstore: begin")
}
