package pgstore

import (
	"context"
	"fmt"
)

// Ping checks that the store's database answers and holds the store's tables (Migrate ran), with
// one query that reads no row. A readiness probe calls it (see package health): while it fails,
// writes are answered 503 (nothing is sent to the PSP). The error wraps the database's.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "SELECT 1 FROM "+s.table+", "+s.links+" LIMIT 0"); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}
