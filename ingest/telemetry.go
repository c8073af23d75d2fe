package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentationName is the name of the OpenTelemetry meter of the Syncer (the otel_scope_name
// label of its metrics in Prometheus).
const InstrumentationName = "github.com/pspconnect/pspconnect/ingest"

// The names of the Syncer's metrics, as OpenTelemetry instruments, each labelled with the job's
// route ("transactions"; tenants are not labels). The Prometheus exporter writes them
// pspconnect_ingest_items_total, pspconnect_ingest_errors_total, pspconnect_ingest_sync_lag_seconds
// and pspconnect_ingest_jobs_held.
const (
	// MetricIngestItems counts the items pulled from the PSP and committed.
	MetricIngestItems = "pspconnect.ingest.items"
	// MetricIngestErrors counts the failed sync steps, by step: "pull" (the PSP), "commit" (the
	// sink), "read checkpoint", "rate limit".
	MetricIngestErrors = "pspconnect.ingest.errors"
	// MetricSyncLag is the gauge (seconds) of the time since the PSP last had nothing more, for the
	// jobs this replica holds: the worst job of the route.
	MetricSyncLag = "pspconnect.ingest.sync_lag"
	// MetricJobsHeld is the gauge of the jobs whose lease this replica holds.
	MetricJobsHeld = "pspconnect.ingest.jobs_held"
)

// WithMeterProvider makes the Syncer record its metrics with mp's meter InstrumentationName, per
// route: the items committed (pspconnect.ingest.items, whose rate is the ingestion rate), the
// failed steps by step (pspconnect.ingest.errors with step="pull" for the PSP's errors, "commit" for
// the sink's, "read checkpoint", "rate limit"), the sync lag (pspconnect.ingest.sync_lag: for the
// jobs this replica holds, the time since the start of the latest pull that the PSP answered with
// nothing more, or since the job started here when none did yet; the worst job of the route) and
// the jobs held by this replica (pspconnect.ingest.jobs_held). Without it (the default) the Syncer
// records nothing; it never reads OpenTelemetry's global providers. Syncers given the same mp (one
// per tenant, say) report together: the gauges of a route cover the jobs of all of them.
func WithMeterProvider(mp metric.MeterProvider) SyncerOption {
	return func(c *syncerConfig) error {
		if mp == nil {
			return fmt.Errorf("%w: nil meter provider", ErrInvalidConfig)
		}
		c.meterProvider = mp
		return nil
	}
}

// syncMetrics are the Syncer's instruments; a nil one records nothing.
type syncMetrics struct {
	items, errors metric.Int64Counter
	routes        sync.Map // route -> []metric.AddOption

	mu   sync.Mutex
	held map[heldKey]heldJob // the jobs this replica holds, and since when
}

type heldJob struct {
	syncer *Syncer
	route  string
	since  time.Time
}

// heldKey is a job of one Syncer.
type heldKey struct {
	syncer *Syncer
	job    string
}

// sharedMetrics holds the instruments of each MeterProvider given to WithMeterProvider, so that
// Syncers sharing one (one per tenant, say) report together: their gauges are per route, over
// the jobs of all of them.
var sharedMetrics sync.Map // metric.MeterProvider -> *syncMetrics

// newSyncMetrics returns the instruments of s's meter provider (built on first use), or nil
// without one.
func newSyncMetrics(s *Syncer) (*syncMetrics, error) {
	mp := s.cfg.meterProvider
	if mp == nil {
		return nil, nil
	}
	shareable := reflect.TypeOf(mp).Comparable()
	if shareable {
		if m, ok := sharedMetrics.Load(mp); ok {
			return m.(*syncMetrics), nil
		}
	}
	m, err := buildSyncMetrics(mp)
	if err != nil || !shareable {
		return m, err
	}
	actual, _ := sharedMetrics.LoadOrStore(mp, m)
	return actual.(*syncMetrics), nil
}

// buildSyncMetrics creates the instruments on mp.
func buildSyncMetrics(mp metric.MeterProvider) (*syncMetrics, error) {
	meter := mp.Meter(InstrumentationName)
	m := &syncMetrics{held: map[heldKey]heldJob{}}
	var err error
	if m.items, err = meter.Int64Counter(MetricIngestItems, metric.WithUnit("{item}"),
		metric.WithDescription("Items pulled from the PSP and committed to the feed.")); err != nil {
		return nil, err
	}
	if m.errors, err = meter.Int64Counter(MetricIngestErrors, metric.WithUnit("{error}"),
		metric.WithDescription(`Failed sync steps, by step: "pull" (the PSP), "commit" (the sink), "read checkpoint", "rate limit".`)); err != nil {
		return nil, err
	}
	lag, err := meter.Float64ObservableGauge(MetricSyncLag, metric.WithUnit("s"),
		metric.WithDescription("For the jobs this replica holds, the time since the PSP last had nothing more (the worst job of the route)."))
	if err != nil {
		return nil, err
	}
	held, err := meter.Int64ObservableGauge(MetricJobsHeld, metric.WithUnit("{job}"),
		metric.WithDescription("Jobs whose lease this replica holds."))
	if err != nil {
		return nil, err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		m.mu.Lock()
		jobs := make(map[heldKey]heldJob, len(m.held))
		for k, h := range m.held {
			jobs[k] = h
		}
		m.mu.Unlock()
		lags, counts := map[string]time.Duration{}, map[string]int64{}
		for k, h := range jobs {
			since := h.since
			if t, ok := h.syncer.CaughtUp(k.job); ok && t.After(since) {
				since = t
			}
			lags[h.route] = max(lags[h.route], now.Sub(since))
			counts[h.route]++
		}
		for route, d := range lags {
			attrs := metric.WithAttributes(attribute.String("route", route))
			o.ObserveFloat64(lag, d.Seconds(), attrs)
			o.ObserveInt64(held, counts[route], attrs)
		}
		return nil
	}, lag, held)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *syncMetrics) route(route string) []metric.AddOption {
	if o, ok := m.routes.Load(route); ok {
		return o.([]metric.AddOption)
	}
	o, _ := m.routes.LoadOrStore(route, []metric.AddOption{metric.WithAttributes(attribute.String("route", route))})
	return o.([]metric.AddOption)
}

// hold records that s runs j on this replica from now; the returned function records that it
// stopped.
func (m *syncMetrics) hold(s *Syncer, j Job) func() {
	if m == nil {
		return func() {}
	}
	k := heldKey{syncer: s, job: j.name}
	m.mu.Lock()
	m.held[k] = heldJob{syncer: s, route: j.route, since: time.Now()}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.held, k)
		m.mu.Unlock()
	}
}

// ingested counts the items of one committed batch of j.
func (m *syncMetrics) ingested(ctx context.Context, j Job, n int) {
	if m != nil && n > 0 {
		m.items.Add(ctx, int64(n), m.route(j.route)...)
	}
}

// failed counts a failed step of j; attrs are the ones logged with it, "step" among them.
func (m *syncMetrics) failed(ctx context.Context, j Job, attrs []slog.Attr) {
	if m == nil {
		return
	}
	step := "unknown"
	for _, a := range attrs {
		if a.Key == "step" {
			step = a.Value.String()
		}
	}
	m.errors.Add(ctx, 1, metric.WithAttributes(attribute.String("route", j.route), attribute.String("step", step)))
}

// infoEvery is how often, at most, a job logs a pull that brought items at INFO.
const infoEvery = time.Minute

// pullSummary samples a job's successful pulls for the log: DEBUG for each, INFO for one that
// brought items when the last INFO line is older than infoEvery.
type pullSummary struct{ lastInfo time.Time }

func (p *pullSummary) level(items int) slog.Level {
	if items == 0 || time.Since(p.lastInfo) < infoEvery {
		return slog.LevelDebug
	}
	p.lastInfo = time.Now()
	return slog.LevelInfo
}
