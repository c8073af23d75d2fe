package pgfeed_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/feedtest"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/models"
)

// handlePools is the number of pools the handles of one store spread over.
const handlePools = 3

// TestConformance runs the conformance suite of package feed. Every store is a schema of its own.
// Every handle is a new feed, on the next of three pools of the store: a feed keeps no state in
// the process (everything is in the database), so a new feed is what a replica or a restarted
// process has; the pools are shared so that a check that restarts replicas hundreds of times does
// not open hundreds of pools. TestRestartKeepsTheHorizon restarts with a new pool.
func TestConformance(t *testing.T) {
	testDatabaseURL(t)
	feedtest.Run(t, func(t *testing.T, opts ...feed.Option) feedtest.Store {
		schema := newSchema(t)
		var (
			mu       sync.Mutex
			pools    []*pgxpool.Pool
			handles  int
			migrated bool
		)
		pool := func() *pgxpool.Pool {
			mu.Lock()
			defer mu.Unlock()
			handles++
			if len(pools) < handlePools {
				pools = append(pools, newPool(t, schema))
			}
			return pools[(handles-1)%handlePools]
		}
		migrate := func(f *pgfeed.Feed[models.Transaction]) {
			mu.Lock()
			defer mu.Unlock()
			if !migrated {
				require.NoError(t, f.Migrate(context.Background()))
				migrated = true
			}
		}
		return feedtest.Store{
			Transactions: func() feed.Feed[models.Transaction] {
				f, err := pgfeed.Transactions(pool(), pgfeed.WithFeedOptions(opts...))
				require.NoError(t, err)
				migrate(f)
				return f
			},
			Accounts: func() feed.Feed[models.Account] {
				p := pool()
				txs, err := pgfeed.Transactions(p)
				require.NoError(t, err)
				migrate(txs) // the tables are shared by every route
				f, err := pgfeed.Accounts(p, pgfeed.WithFeedOptions(opts...))
				require.NoError(t, err)
				return f
			},
			Shared: true,
		}
	})
}
