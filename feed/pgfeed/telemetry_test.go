package pgfeed_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/internal/testsupport"
	"github.com/pspconnect/pspconnect/models"
)

// collectRoute returns the values of reader's metrics for route, by metric name.
func collectRoute(t *testing.T, reader *sdkmetric.ManualReader, route string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range testsupport.Collect(t, reader) {
		v, _ := testsupport.Sum([]testsupport.Point{p}, p.Metric, map[string]any{"route": route})
		out[p.Metric] += int64(v)
	}
	return out
}

// TestFeedMetrics: the feed counts the items put and its size, labelled with its route.
func TestFeedMetrics(t *testing.T) {
	pool := newPool(t, newSchema(t))
	reader := sdkmetric.NewManualReader()
	f, err := pgfeed.Transactions(pool, pgfeed.WithFeedOptions(feed.WithMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), "")))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, f.Migrate(ctx))
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tx := func(id string, status models.TransactionStatus) models.Transaction {
		return models.Transaction{ID: id, CreatedAt: at, UpdatedAt: at, Currency: "EUR/2", Type: models.TransactionTypePayin,
			Status: status, Amount: models.AmountFromInt64(100)}
	}
	require.NoError(t, f.Put(ctx, "t1", tx("a", models.TransactionStatusPending), tx("b", models.TransactionStatusPending)))
	require.NoError(t, f.Put(ctx, "t1", tx("a", models.TransactionStatusSucceeded))) // a change: a new slot, one current item
	require.NoError(t, f.Load(ctx, "t2", []models.Transaction{tx("c", models.TransactionStatusPending)}))
	require.Error(t, f.Put(ctx, "t1", tx("", models.TransactionStatusPending)))

	got := collectRoute(t, reader, "transactions")
	assert.EqualValues(t, 4, got[feed.MetricPutItems])
	assert.EqualValues(t, 1, got[feed.MetricPutErrors])
	// The size is counted in the background: the first collection starts it.
	require.Eventually(t, func() bool { return collectRoute(t, reader, "transactions")[feed.MetricItems] == 3 },
		10*time.Second, 20*time.Millisecond, "three current transactions over two tenants")
}
