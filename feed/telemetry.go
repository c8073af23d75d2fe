package feed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentationName is the name of the OpenTelemetry meter of the feeds (the otel_scope_name
// label of their metrics in Prometheus).
const InstrumentationName = "github.com/pspconnect/pspconnect/feed"

// The names of the feeds' metrics, as OpenTelemetry instruments, each labelled with route (see
// WithMetrics). The Prometheus exporter writes them pspconnect_feed_items,
// pspconnect_feed_put_items_total and pspconnect_feed_put_errors_total.
const (
	// MetricItems is the gauge of the feed's current items, every tenant together.
	MetricItems = "pspconnect.feed.items"
	// MetricPutItems counts the items given to successful Put and Load calls: its rate is the
	// ingestion rate.
	MetricPutItems = "pspconnect.feed.put.items"
	// MetricPutErrors counts the Put and Load calls that failed (nothing was stored).
	MetricPutErrors = "pspconnect.feed.put.errors"
)

// sizeTimeout bounds one count of a feed's items.
const sizeTimeout = 5 * time.Second

// WithMetrics makes the feed record its metrics with mp's meter InstrumentationName, labelled
// route="<route>" ("transactions"): the number of current items of every tenant
// (pspconnect.feed.items, a gauge), the items given to successful Put and Load calls
// (pspconnect.feed.put.items: its rate is the ingestion rate) and the failed calls
// (pspconnect.feed.put.errors). pgfeed's feeds label with their own route when route is "". Without
// this option (the default) the feed records nothing. mp must not be nil.
func WithMetrics(mp metric.MeterProvider, route string) Option {
	return func(c *Config) {
		if mp == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: nil meter provider", ErrInvalidConfig))
			return
		}
		c.MeterProvider, c.MetricsRoute = mp, route
	}
}

// Metrics are the instruments of one feed. Feed implementations outside this package build them
// with NewMetrics from their Config and report every Put and Load with Put; a nil *Metrics (no
// WithMetrics) records nothing.
type Metrics struct {
	attrs               []metric.AddOption
	putItems, putErrors metric.Int64Counter

	size  func(context.Context) (int64, error)
	every time.Duration

	mu         sync.Mutex
	last       int64
	known      bool
	at         time.Time
	refreshing bool
}

// NewMetrics returns the instruments of a feed of route configured by cfg (cfg.MetricsRoute, when
// set, replaces route), or nil without cfg.MeterProvider. size counts the feed's current items,
// every tenant together; it is called when the gauge is collected, at most once per every (0: at
// each collection, in the collection; otherwise in the background, the gauge showing the latest
// count meanwhile, so that a slow count never delays a scrape).
func NewMetrics(cfg Config, route string, size func(context.Context) (int64, error), every time.Duration) (*Metrics, error) {
	if cfg.MeterProvider == nil {
		return nil, nil
	}
	if cfg.MetricsRoute != "" {
		route = cfg.MetricsRoute
	}
	meter := cfg.MeterProvider.Meter(InstrumentationName)
	m := &Metrics{size: size, every: every,
		attrs: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("route", route)))}}
	var err error
	if m.putItems, err = meter.Int64Counter(MetricPutItems, metric.WithUnit("{item}"),
		metric.WithDescription("Items given to successful Put and Load calls of the feed: their rate is the ingestion rate.")); err != nil {
		return nil, err
	}
	if m.putErrors, err = meter.Int64Counter(MetricPutErrors, metric.WithUnit("{call}"),
		metric.WithDescription("Put and Load calls of the feed that failed (nothing was stored).")); err != nil {
		return nil, err
	}
	gauge, err := meter.Int64ObservableGauge(MetricItems, metric.WithUnit("{item}"),
		metric.WithDescription("Current items of the feed, every tenant together (superseded versions not counted)."))
	if err != nil {
		return nil, err
	}
	observe := metric.WithAttributeSet(attribute.NewSet(attribute.String("route", route)))
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		if n, ok := m.count(ctx); ok {
			o.ObserveInt64(gauge, n, observe)
		}
		return nil
	}, gauge)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Put records one Put or Load call of n items that returned err.
func (m *Metrics) Put(ctx context.Context, n int, err error) {
	switch {
	case m == nil:
	case err != nil:
		m.putErrors.Add(ctx, 1, m.attrs...)
	case n > 0:
		m.putItems.Add(ctx, int64(n), m.attrs...)
	}
}

// count returns the number of items for the gauge, and whether there is one.
func (m *Metrics) count(ctx context.Context) (int64, bool) {
	if m.size == nil {
		return 0, false
	}
	if m.every <= 0 {
		n, err := m.size(ctx)
		return n, err == nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.refreshing && time.Since(m.at) >= m.every {
		m.refreshing = true
		go m.refresh(context.WithoutCancel(ctx))
	}
	return m.last, m.known
}

func (m *Metrics) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, sizeTimeout)
	defer cancel()
	n, err := m.size(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshing, m.at = false, time.Now()
	if err == nil {
		m.last, m.known = n, true
	}
}

// size counts the current items of every tenant.
func (m *Memory[T]) size(context.Context) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var n int64
	for _, r := range m.routes {
		r.mu.RLock()
		n += int64(len(r.byID))
		r.mu.RUnlock()
	}
	return n, nil
}
