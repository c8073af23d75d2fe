package pgfeed

import (
	"context"
	"fmt"
)

// Ping checks that the feed's database answers and holds the feed's tables (Migrate ran), with one
// query that reads no row. A readiness probe calls it (see package health): while it fails, list
// requests fail too. The error wraps the database's.
func (f *Feed[T]) Ping(ctx context.Context) error {
	if _, err := f.pool.Exec(ctx, "SELECT 1 FROM "+f.sql.heads+", "+f.sql.slots+" LIMIT 0"); err != nil {
		return fmt.Errorf("pgfeed: ping %s: %w", f.route, err)
	}
	return nil
}
