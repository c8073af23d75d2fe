package feed

import (
	"context"
	"log/slog"
	"time"
)

// Pruner is what PruneEvery calls: any Feed.
type Pruner interface {
	Prune(ctx context.Context) (int, error)
}

// PruneEvery calls Prune on every feed once per interval until ctx ends, logging what it deleted at
// DEBUG and failures at WARN on logger (nil: slog.Default()). Run it in a goroutine of the
// middleware process (with pgfeed, one replica is enough, but several do no harm). Accounts and
// beneficiaries change in place and never need pruning; transactions do.
func PruneEvery(ctx context.Context, interval time.Duration, logger *slog.Logger, feeds ...Pruner) {
	if logger == nil {
		logger = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, f := range feeds {
			n, err := f.Prune(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				logger.LogAttrs(ctx, slog.LevelWarn, "cannot prune a feed", slog.String("error", err.Error()))
			case n > 0:
				logger.LogAttrs(ctx, slog.LevelDebug, "pruned superseded slots", slog.Int("count", n))
			}
		}
	}
}
