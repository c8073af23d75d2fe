package feed_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/internal/testsupport"
	"github.com/pspconnect/pspconnect/models"
)

// feedMetric returns the value of the metric name for route, and whether it was collected.
func feedMetric(t *testing.T, reader *sdkmetric.ManualReader, name, route string) (int64, bool) {
	t.Helper()
	for _, p := range testsupport.Collect(t, reader) {
		if v, _ := p.Attrs.Value("route"); p.Metric == name && v.AsString() == route {
			return int64(p.Value), true
		}
	}
	return 0, false
}

func TestMemoryFeedMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	f, err := feed.NewMemory(feed.AccountKeys(), feed.WithMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), "accounts"))
	require.NoError(t, err)
	ctx := context.Background()
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	acc := func(id string) models.Account { return models.Account{ID: id, AccountName: id, CreatedAt: at} }

	require.NoError(t, f.Load(ctx, "t1", []models.Account{acc("a"), acc("b")}))
	require.NoError(t, f.Put(ctx, "t2", acc("c")))
	require.NoError(t, f.Put(ctx, "t2", acc("c"))) // unchanged: still given to Put
	require.Error(t, f.Put(ctx, "t2", acc("")))    // no id: nothing stored

	put, ok := feedMetric(t, reader, feed.MetricPutItems, "accounts")
	require.True(t, ok)
	assert.EqualValues(t, 4, put)
	failed, _ := feedMetric(t, reader, feed.MetricPutErrors, "accounts")
	assert.EqualValues(t, 1, failed)
	size, ok := feedMetric(t, reader, feed.MetricItems, "accounts")
	require.True(t, ok)
	assert.EqualValues(t, 3, size, "three distinct accounts over two tenants")
}

func TestWithMetricsRefusesNil(t *testing.T) {
	_, err := feed.NewMemory(feed.AccountKeys(), feed.WithMetrics(nil, "accounts"))
	assert.ErrorIs(t, err, feed.ErrInvalidConfig)
}
