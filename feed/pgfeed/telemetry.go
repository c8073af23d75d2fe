package pgfeed

import (
	"context"
	"fmt"
	"time"

	"github.com/pspconnect/pspconnect/feed"
)

// SizeInterval is how often, at most, a feed with metrics (feed.WithMetrics through
// WithFeedOptions) counts its current items for the pspconnect.feed.items gauge: the count reads
// an index of the whole route, which takes a while for millions of items, so it runs in the
// background and the gauge shows the latest count meanwhile.
const SizeInterval = time.Minute

// instrument builds the feed's metrics when its options ask for them (labelled with the feed's
// route unless feed.WithMetrics names another).
func (f *Feed[T]) instrument() error {
	m, err := feed.NewMetrics(f.cfg, f.route, f.size, SizeInterval)
	if err != nil {
		return fmt.Errorf("%w: metrics: %w", feed.ErrInvalidConfig, err)
	}
	f.metrics = m
	return nil
}

// size counts the current items of the feed's route, every tenant together.
func (f *Feed[T]) size(ctx context.Context) (int64, error) {
	var n int64
	err := f.pool.QueryRow(ctx, "SELECT count(*) FROM "+f.sql.slots+" WHERE route = $1 AND superseded_at IS NULL", f.route).Scan(&n)
	return n, err
}
