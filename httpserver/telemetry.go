package httpserver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pspconnect/pspconnect/connector"
)

// InstrumentationName is the name of the OpenTelemetry meter and tracer of the handler (the
// otel_scope_name label of its metrics in Prometheus).
const InstrumentationName = "github.com/pspconnect/pspconnect/httpserver"

// The names of the handler's metrics, as OpenTelemetry instruments. The Prometheus exporter writes
// them with underscores and a unit suffix (pspconnect.http.server.duration is
// pspconnect_http_server_duration_seconds, pspconnect.items.served is
// pspconnect_items_served_total). docs/operations.md lists their labels and the alerts to set.
const (
	// MetricRequestDuration is the histogram of the time to answer a request (seconds), by
	// http.route, http.response.status_code and http.response.status_class; its count is the
	// number of requests.
	MetricRequestDuration = "pspconnect.http.server.duration"
	// MetricItemsServed counts the items written in the answers of the list routes, by http.route.
	MetricItemsServed = "pspconnect.items.served"
	// MetricInvalidItems counts invalid provider output by http.route and action: "refused" (the
	// request answered 500) or "quarantined" (left out, see WithQuarantine).
	MetricInvalidItems = "pspconnect.items.invalid"
	// MetricIdempotency counts write requests by http.route and outcome: "new" (the provider is
	// called), "replayed", "refused" (the key was used with another body: 409), "in_flight" (423),
	// "store_error" (the idempotency store failed: 503).
	MetricIdempotency = "pspconnect.idempotency.requests"
	// MetricIdempotencyUnknown counts writes whose provider call ended with an unknown outcome, by
	// http.route: their key stays blocked until the in-flight TTL.
	MetricIdempotencyUnknown = "pspconnect.idempotency.unknown_outcomes"
	// MetricWritesInFlight is the gauge of the provider calls of writes in progress on this handler.
	MetricWritesInFlight = "pspconnect.idempotency.in_flight"
	// MetricWritesInFlightAge is the gauge of the age (seconds) of the oldest of them, 0 when none.
	MetricWritesInFlightAge = "pspconnect.idempotency.in_flight.oldest_age"
	// MetricRateLimited counts the requests refused with 429 by WithRateLimit, by http.route.
	MetricRateLimited = "pspconnect.ratelimit.rejected"
	// MetricProviderDuration is the histogram of the time (seconds) of the provider calls of
	// writes, by http.route, provider.method and outcome ("ok" or the error's kind).
	MetricProviderDuration = "pspconnect.provider.duration"
	// MetricProviderErrors counts the provider calls that returned an error, by http.route,
	// provider.method and outcome (the error's kind: "service_unavailable", "not_found", …).
	MetricProviderErrors = "pspconnect.provider.errors"
)

// Attribute names and values of the handler's telemetry.
const (
	attrRoute                 = "http.route"
	attrStatusCode            = "http.response.status_code"
	attrStatusClass           = "http.response.status_class"
	attrMethod                = "http.request.method"
	attrOutcome               = "outcome"
	attrProviderMethod        = "provider.method"
	attrTenant                = "pspconnect.tenant"
	routeUnmatched            = "unmatched"
	providerSpanPrefix        = "provider."
	outcomeNew                = "new"
	outcomeReplayed           = "replayed"
	outcomeRefused            = "refused"
	outcomeInFlight           = "in_flight"
	outcomeStoreError         = "store_error"
	invalidRefused            = "refused"
	invalidQuarantined        = "quarantined"
	providerOK                = "ok"
	maxStatusCode             = 599
	minStatusCode             = 100
	instrumentationVersionTag = "v1"
)

// durationBuckets are the bounds, in seconds, of the latency histograms: from a millisecond (a page
// from memory) to Formance's 10 s client timeout.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// telemetryConfig holds the options of this file.
type telemetryConfig struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	propagator     propagation.TextMapPropagator
}

// WithMeterProvider makes the handler record its metrics (requests, latency, items served, invalid
// items, idempotency outcomes, rate-limit rejections, provider calls: see docs/operations.md) with
// instruments of mp's meter InstrumentationName. Without it (the default) no metric is recorded and
// the handler does no metric work at all. The handler never reads OpenTelemetry's global providers.
//
// Every metric is labelled with the route template ("GET /accounts/{accountId}/balances"), never the
// raw path, so that account ids never become label values; requests that match no route are
// labelled "unmatched". Tenants are not labels (their number is up to the integrator); they are
// attributes of the spans and fields of the logs.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp == nil {
			c.reject("nil meter provider")
			return
		}
		c.telemetry.meterProvider = mp
	}
}

// WithTracerProvider makes the handler start one server span per request with tp's tracer
// InstrumentationName, named after the route template ("GET /transactions"), with a child span for
// the provider call ("provider.ListTransactions") when the request's span is sampled (a child of an
// unsampled span would not be recorded either; the provider's context still carries the request's
// span context, for the PSP client's own instrumentation). The span's parent is taken from the
// request's headers, W3C traceparent by default (see WithPropagator); Formance sends none today, so
// sample its polls with tp's sampler (e.g. sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))). A provider error sets the child span's
// status to Error with the error's kind (e.g. "service_unavailable"), never its text, which may
// carry the PSP's URL or credentials. Without it (the default) no span is started.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp == nil {
			c.reject("nil tracer provider")
			return
		}
		c.telemetry.tracerProvider = tp
	}
}

// WithPropagator sets how the trace context of an incoming request is read from its headers
// (default propagation.TraceContext{}, the W3C traceparent and tracestate headers). Use
// propagation.NewCompositeTextMapPropagator to accept several formats. It has an effect only with
// WithTracerProvider.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p == nil {
			c.reject("nil propagator")
			return
		}
		c.telemetry.propagator = p
	}
}

// patternRouter finds the pattern a request matches: *http.ServeMux.
type patternRouter interface {
	Handler(r *http.Request) (http.Handler, string)
}

// routeLabel is the route template of r as the router matches it: "GET /accounts/{accountId}/balances",
// "unmatched" for a request that matches no route (the catch-all 404), and "OTHER /accounts" for a
// known path with a method it does not serve (its 405).
func routeLabel(router http.Handler, r *http.Request) string {
	pr, ok := router.(patternRouter)
	if !ok {
		return routeUnmatched
	}
	_, pattern := pr.Handler(r)
	switch {
	case pattern == "" || pattern == "/":
		return routeUnmatched
	case strings.HasPrefix(pattern, "/"):
		return "OTHER " + pattern
	}
	return pattern
}

// telemetry holds the instruments of a handler. A nil *telemetry (no provider given) records
// nothing.
type telemetry struct {
	router     http.Handler
	tracer     trace.Tracer // nil without a tracer provider
	propagator propagation.TextMapPropagator
	// carriers are the propagator's headers, canonical: a request with none of them skips
	// Extract (which would canonicalize each name again).
	carriers []string
	metrics  bool // a meter provider was given

	served, invalid, idem, unknown, rateLimited, providerErrors metric.Int64Counter
	duration, providerDuration                                  metric.Float64Histogram

	routes sync.Map // route label -> *routeTelemetry

	// writes are the provider calls of writes in progress on this handler, by call number.
	writesMu sync.Mutex
	writes   map[uint64]time.Time
	writeSeq atomic.Uint64
}

// newTelemetry builds the instruments of cfg, or returns nil when no provider is configured.
func newTelemetry(cfg telemetryConfig) (*telemetry, error) {
	if cfg.meterProvider == nil && cfg.tracerProvider == nil {
		return nil, nil
	}
	t := &telemetry{propagator: cfg.propagator, writes: map[uint64]time.Time{}}
	if t.propagator == nil {
		t.propagator = propagation.TraceContext{}
	}
	for _, f := range t.propagator.Fields() {
		t.carriers = append(t.carriers, http.CanonicalHeaderKey(f))
	}
	if cfg.tracerProvider != nil {
		t.tracer = cfg.tracerProvider.Tracer(InstrumentationName, trace.WithInstrumentationVersion(instrumentationVersionTag))
	}
	if cfg.meterProvider == nil {
		return t, nil
	}
	t.metrics = true
	m := cfg.meterProvider.Meter(InstrumentationName, metric.WithInstrumentationVersion(instrumentationVersionTag))
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	t.duration = histogram(MetricRequestDuration, "Time to answer a request, by route template and status (its count is the number of requests).")
	t.served = counter(MetricItemsServed, "{item}", "Items written in the answers of the list routes.")
	t.invalid = counter(MetricInvalidItems, "{item}",
		"Invalid provider output: refused (the request answered 500) or quarantined (left out of the answer).")
	t.idem = counter(MetricIdempotency, "{request}",
		"Write requests by idempotency outcome: new (the provider is called), replayed, refused (key reused with another body), in_flight (423), store_error (503).")
	t.unknown = counter(MetricIdempotencyUnknown, "{request}",
		"Writes whose provider call ended with an unknown outcome: their key stays blocked until the in-flight TTL.")
	t.rateLimited = counter(MetricRateLimited, "{request}", "Requests refused with 429 by the handler's per-tenant rate limit.")
	t.providerDuration = histogram(MetricProviderDuration,
		"Time of the provider calls of writes (CreatePayout, CreateTransfer, CreateBankAccount), by route, method and outcome (ok or the error's kind); its count is the number of calls.")
	t.providerErrors = counter(MetricProviderErrors, "{call}",
		"Provider calls that returned an error, by route, provider method and the error's kind (service_unavailable, not_found, …).")
	inFlight, err := m.Int64ObservableGauge(MetricWritesInFlight, metric.WithUnit("{request}"),
		metric.WithDescription("Provider calls of writes in progress on this replica (their idempotency keys are in flight)."))
	errs = append(errs, err)
	oldest, err := m.Float64ObservableGauge(MetricWritesInFlightAge, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest provider call of a write in progress on this replica (0 when none)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, age := t.writesInProgress(time.Now())
		o.ObserveInt64(inFlight, int64(n))
		o.ObserveFloat64(oldest, age.Seconds())
		return nil
	}, inFlight, oldest)
	return t, err
}

// carried reports whether h has one of the propagator's headers.
func (t *telemetry) carried(h http.Header) bool {
	for _, k := range t.carriers {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// setRouter gives t the router whose patterns label the requests.
func (t *telemetry) setRouter(router http.Handler) {
	if t != nil {
		t.router = router
	}
}

// writesInProgress returns the number of write provider calls in progress and the age of the
// oldest.
func (t *telemetry) writesInProgress(now time.Time) (int, time.Duration) {
	t.writesMu.Lock()
	defer t.writesMu.Unlock()
	var oldest time.Duration
	for _, start := range t.writes {
		oldest = max(oldest, now.Sub(start))
	}
	return len(t.writes), oldest
}

// routeTelemetry holds the attribute sets of one route label, built once.
type routeTelemetry struct {
	name   string
	route  *measure                                                   // http.route
	status [maxStatusCode - minStatusCode + 2]atomic.Pointer[measure] // route, status code and class
	spans  atomic.Pointer[[]trace.SpanStartOption]                    // the server span's start options, for the route's method
	other  sync.Map                                                   // attribute values of this route's hooks ("outcome=new", …) -> *measure
}

func (t *telemetry) route(name string) *routeTelemetry {
	if rt, ok := t.routes.Load(name); ok {
		return rt.(*routeTelemetry)
	}
	rt, _ := t.routes.LoadOrStore(name, &routeTelemetry{name: name,
		route: newMeasure(attribute.String(attrRoute, name))})
	return rt.(*routeTelemetry)
}

// forStatus returns the attribute sets of status on this route.
func (rt *routeTelemetry) forStatus(status int) *measure {
	i := len(rt.status) - 1 // an out-of-range status shares the last slot, with class "other"
	if status >= minStatusCode && status <= maxStatusCode {
		i = status - minStatusCode
	}
	if so := rt.status[i].Load(); so != nil {
		return so
	}
	class := "other"
	if i < len(rt.status)-1 {
		class = string(rune('0'+status/100)) + "xx"
	}
	so := newMeasure(attribute.String(attrRoute, rt.name), attribute.Int(attrStatusCode, status), attribute.String(attrStatusClass, class))
	rt.status[i].Store(so)
	return so
}

// spanOptions returns the start options of a server span of this route for method: built once
// for the route's own method, each time for another (HEAD on a GET route, or any method on a 405).
func (rt *routeTelemetry) spanOptions(method string) []trace.SpanStartOption {
	build := func() []trace.SpanStartOption {
		return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String(attrMethod, method), attribute.String(attrRoute, rt.name))}
	}
	own, _, _ := strings.Cut(rt.name, " ")
	if method != own {
		return build()
	}
	if o := rt.spans.Load(); o != nil {
		return *o
	}
	o := build()
	rt.spans.Store(&o)
	return o
}

// measure is one attribute set as the options of the instruments' Add and Record, built once so
// that recording allocates nothing.
type measure struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

func newMeasure(kvs ...attribute.KeyValue) *measure {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return &measure{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}}
}

// with returns the attribute set of this route with key=value.
func (rt *routeTelemetry) with(key, value string) *measure {
	k := key + "=" + value
	if o, ok := rt.other.Load(k); ok {
		return o.(*measure)
	}
	o, _ := rt.other.LoadOrStore(k, newMeasure(attribute.String(attrRoute, rt.name), attribute.String(key, value)))
	return o.(*measure)
}

// requestTelemetry is the telemetry of one request, in its context: the hooks of the other files
// reach it with observe.
type requestTelemetry struct {
	t     *telemetry
	route *routeTelemetry
	span  trace.Span // nil without tracing
}

type telemetryKey struct{}

// observe returns the telemetry of r's request, or nil (every method of a nil one does nothing).
func observe(r *http.Request) *requestTelemetry {
	return observeContext(r.Context())
}

func observeContext(ctx context.Context) *requestTelemetry {
	rq, _ := ctx.Value(telemetryKey{}).(*requestTelemetry)
	return rq
}

// middleware records the request's metrics and span. It runs outermost, so that it sees every
// answer (401s and 429s included) with its final status.
func (t *telemetry) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rq := &requestTelemetry{t: t, route: t.route(routeLabel(t.router, r))}
		ctx := r.Context()
		if t.tracer != nil {
			if t.carried(r.Header) {
				ctx = t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
			}
			ctx, rq.span = t.tracer.Start(ctx, rq.route.name, rq.route.spanOptions(r.Method)...)
		}
		ctx = context.WithValue(ctx, telemetryKey{}, rq)
		sw := trackWriter(w)
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			if v := recover(); v != nil { // an aborted answer (http.ErrAbortHandler): the client sees a failure
				status = http.StatusInternalServerError
				defer panic(v)
			}
			if t.metrics {
				t.duration.Record(ctx, time.Since(start).Seconds(), rq.route.forStatus(status).rec...)
			}
			if rq.span != nil {
				if rq.span.IsRecording() { // not sampled: nothing to add
					rq.span.SetAttributes(attribute.Int(attrStatusCode, status), attribute.String(attrTenant, sw.tenant))
					if status >= http.StatusInternalServerError {
						rq.span.SetStatus(codes.Error, http.StatusText(status))
					}
				}
				rq.span.End()
			}
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// served counts the items of a list answer.
func (rq *requestTelemetry) served(n int) {
	if rq != nil && rq.t.metrics && n > 0 {
		rq.t.served.Add(context.Background(), int64(n), rq.route.route.add...)
	}
}

// invalidItem counts invalid provider output: refused (answered 500) or quarantined.
func (rq *requestTelemetry) invalidItem(action string) {
	if rq != nil && rq.t.metrics {
		rq.t.invalid.Add(context.Background(), 1, rq.route.with("action", action).add...)
	}
}

// idempotency counts the idempotency outcome of a write request.
func (rq *requestTelemetry) idempotency(outcome string) {
	if rq != nil && rq.t.metrics {
		rq.t.idem.Add(context.Background(), 1, rq.route.with(attrOutcome, outcome).add...)
	}
}

// unknownOutcome counts a write whose outcome is unknown.
func (rq *requestTelemetry) unknownOutcome() {
	if rq != nil && rq.t.metrics {
		rq.t.unknown.Add(context.Background(), 1, rq.route.route.add...)
	}
}

// rateLimited counts a request refused by the rate limit.
func (rq *requestTelemetry) rateLimited() {
	if rq != nil && rq.t.metrics {
		rq.t.rateLimited.Add(context.Background(), 1, rq.route.route.add...)
	}
}

// traced returns f, the provider method named method, wrapped in a child span (when the request's
// span is sampled) and the provider metrics; with a nil t, f itself. Errors are counted for every
// method; the calls of writes (methods named Create…, few and slow) are also timed and counted in
// flight while they run. A read's time is in its request's latency.
func traced[A, B any](t *telemetry, method string, f func(context.Context, A) (B, error)) func(context.Context, A) (B, error) {
	if t == nil || f == nil {
		return f
	}
	write := strings.HasPrefix(method, "Create")
	spanName := providerSpanPrefix + method
	spanOptions := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)} // the name says the method
	cache := &providerOptions{}
	return func(ctx context.Context, a A) (B, error) {
		var start time.Time
		if write {
			start = time.Now()
		}
		var span trace.Span
		if t.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
			ctx, span = t.tracer.Start(ctx, spanName, spanOptions...)
		}
		if write {
			n := t.writeSeq.Add(1)
			t.writesMu.Lock()
			t.writes[n] = start
			t.writesMu.Unlock()
			defer func() {
				t.writesMu.Lock()
				delete(t.writes, n)
				t.writesMu.Unlock()
			}()
		}
		b, err := f(ctx, a)
		outcome := providerOK
		if err != nil {
			outcome = errorKind(err)
		}
		if span != nil {
			if err != nil {
				span.SetAttributes(attribute.String("error.type", outcome))
				span.SetStatus(codes.Error, outcome)
			}
			span.End()
		}
		if t.metrics && (write || err != nil) {
			rt := t.route(routeUnmatched)
			if rq := observeContext(ctx); rq != nil {
				rt = rq.route
			}
			m := cache.options(rt, method, outcome)
			if err != nil {
				t.providerErrors.Add(ctx, 1, m.add...)
			}
			if write {
				t.providerDuration.Record(ctx, time.Since(start).Seconds(), m.rec...)
			}
		}
		return b, err
	}
}

// providerOptions caches, for one provider method, the attribute sets of its successful calls on
// each route; the rarer failures build theirs each time.
type providerOptions struct {
	ok sync.Map // *routeTelemetry -> *measure
}

func (c *providerOptions) options(rt *routeTelemetry, method, outcome string) *measure {
	if outcome == providerOK {
		if o, ok := c.ok.Load(rt); ok {
			return o.(*measure)
		}
	}
	m := newMeasure(attribute.String(attrRoute, rt.name), attribute.String(attrProviderMethod, method), attribute.String(attrOutcome, outcome))
	if outcome == providerOK {
		c.ok.Store(rt, m)
	}
	return m
}

// errorKind names a provider error by the status it is answered with ("service_unavailable"), never
// by its text.
func errorKind(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(connector.HTTPStatus(err))), " ", "_")
}

// maxLoggedError bounds the part of an error answer kept for the request log's reason.
const maxLoggedError = 2048

// requestLogLevel is the level of a request's log line: DEBUG for a successful poll, INFO for
// another success, WARN for a 4xx, ERROR for a 5xx.
func requestLogLevel(method string, status int) slog.Level {
	switch {
	case status >= http.StatusInternalServerError:
		return slog.LevelError
	case status >= http.StatusBadRequest:
		return slog.LevelWarn
	case method == http.MethodGet || method == http.MethodHead:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// errorReason returns the Detail of an error answer's body ({"Title","Detail"}), or its Title, or
// "" when body is not one (or was cut before its Detail ended).
func errorReason(body []byte) string {
	var e struct{ Title, Detail string }
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return cmp.Or(e.Detail, e.Title)
}
