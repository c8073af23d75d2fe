package ingest_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/internal/testsupport"
	"github.com/pspconnect/pspconnect/models"
)

// syncPoints returns reader's points, by metric name and then by their attributes
// ("route=transactions,step=pull").
func syncPoints(t *testing.T, reader *sdkmetric.ManualReader) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, p := range testsupport.Collect(t, reader) {
		if out[p.Metric] == nil {
			out[p.Metric] = map[string]float64{}
		}
		out[p.Metric][p.Attrs.Encoded(attribute.DefaultEncoder())] += p.Value
	}
	return out
}

func TestSyncerMetricsAndLogs(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	f := feed.NewMemoryTransactions()
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var pulls atomic.Int64
	src := ingest.SourceFunc[models.Transaction](func(ctx context.Context, tenant, checkpoint string) (ingest.Batch[models.Transaction], error) {
		switch pulls.Add(1) {
		case 1: // two items, then more
			return ingest.Batch[models.Transaction]{Checkpoint: "1", More: true, Items: []models.Transaction{
				{ID: "a", CreatedAt: at, UpdatedAt: at, Currency: "EUR/2", Type: models.TransactionTypePayin, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(1)},
				{ID: "b", CreatedAt: at, UpdatedAt: at, Currency: "EUR/2", Type: models.TransactionTypePayin, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(2)},
			}}, nil
		case 2: // the PSP is down
			return ingest.Batch[models.Transaction]{}, connector.ErrUnavailable
		}
		return ingest.Batch[models.Transaction]{Checkpoint: checkpoint}, nil // nothing more
	})
	logs := &testsupport.Buffer{}
	s, err := ingest.NewSyncer(ingest.NewLocalElector("replica-1"),
		ingest.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		ingest.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		ingest.WithIntervals(time.Hour, 5*time.Millisecond, time.Second), ingest.WithBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	job := ingest.NewJob("acme", "transactions", src, ingest.NewFeedSink[models.Transaction](f))
	s.Add(job)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { _, ok := s.CaughtUp(job.Name()); return ok }, 10*time.Second, 5*time.Millisecond)

	time.Sleep(20 * time.Millisecond) // some lag behind the caught-up pull
	got := syncPoints(t, reader)
	assert.EqualValues(t, 2, got[ingest.MetricIngestItems]["route=transactions"])
	assert.EqualValues(t, 1, got[ingest.MetricIngestErrors]["route=transactions,step=pull"], "the PSP's error")
	assert.EqualValues(t, 1, got[ingest.MetricJobsHeld]["route=transactions"])
	lag := got[ingest.MetricSyncLag]["route=transactions"]
	assert.Greater(t, lag, 0.015)
	assert.Less(t, lag, 60.0)

	out := logs.String()
	assert.Contains(t, out, `level=INFO msg=ingested job=4:acme/transactions tenant=acme route=transactions items=2`, "the first pull with items, at INFO")
	assert.Contains(t, out, `level=DEBUG msg=ingested job=4:acme/transactions tenant=acme route=transactions items=0`)
	assert.Contains(t, out, `level=WARN msg="sync step failed, retrying" job=4:acme/transactions tenant=acme route=transactions step=pull error="pull: upstream unavailable"`)

	// Once the job stops on this replica, it is no longer counted as held.
	cancel()
	<-done
	got = syncPoints(t, reader)
	assert.Zero(t, got[ingest.MetricJobsHeld]["route=transactions"])
}

func TestSyncerWithMeterProviderRefusesNil(t *testing.T) {
	_, err := ingest.NewSyncer(ingest.NewLocalElector("r"), ingest.WithMeterProvider(nil))
	assert.ErrorIs(t, err, ingest.ErrInvalidConfig)
}
