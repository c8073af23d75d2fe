package pgingest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Ping checks that the elector's database answers and holds its lease table (Migrate ran), with
// one query that reads no row. A readiness probe calls it (see package health): while it fails, no
// job can be taken or renewed, and the jobs this replica holds stop. The error wraps the
// database's.
func (e *Elector) Ping(ctx context.Context) error {
	return ping(ctx, e.pool, "elector", e.sql.leases)
}

// Ping checks that the sink's database answers and holds its checkpoint table and its feed's
// tables, with queries that read no row. The error wraps the database's.
func (s *Sink[T]) Ping(ctx context.Context) error {
	if err := ping(ctx, s.pool, "sink", s.sql.checkpoints); err != nil {
		return err
	}
	return s.feed.Ping(ctx)
}

func ping(ctx context.Context, pool *pgxpool.Pool, what, table string) error {
	if _, err := pool.Exec(ctx, "SELECT 1 FROM "+table+" LIMIT 0"); err != nil {
		return fmt.Errorf("pgingest: ping %s: %w", what, err)
	}
	return nil
}
