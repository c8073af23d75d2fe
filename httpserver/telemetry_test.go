package httpserver_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/internal/testsupport"
)

// metricsOf collects reader's metrics.
func metricsOf(t *testing.T, reader *sdkmetric.ManualReader) []testsupport.Point {
	t.Helper()
	return testsupport.Collect(t, reader)
}

// counterValue is the sum of the points of the counter name whose attributes include want.
func counterValue(t *testing.T, points []testsupport.Point, name string, want map[string]any) int64 {
	t.Helper()
	v, _ := testsupport.Sum(points, name, want)
	return int64(v)
}

// histogramCount is the number of recordings of the histogram name whose attributes include want.
func histogramCount(t *testing.T, points []testsupport.Point, name string, want map[string]any) uint64 {
	t.Helper()
	_, n := testsupport.Sum(points, name, want)
	return n
}

func TestMetricsFollowTheRequests(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	p := newFull()
	p.transactions = withBadRows(10, 3)
	q := httpserver.NewQuarantine(0)
	srv, _ := newServer(t, p, httpserver.WithMeterProvider(mp), httpserver.WithQuarantine(q), httpserver.WithRateLimit(rate.Every(1<<62), 8))

	require.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/accounts?pageSize=2"}).status)
	require.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/accounts/acc_01/balances"}).status)
	require.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/transactions?pageSize=5"}).status) // tx_03 quarantined
	payout := `{"idempotencyKey":"ik_m","amount":"100","currency":"USD/2","sourceAccountId":"acc_01","destinationAccountId":"ben_01"}`
	require.Equal(t, http.StatusCreated, send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payout}).status)
	replay := send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payout})
	require.Equal(t, http.StatusCreated, replay.status)
	require.Equal(t, "true", replay.header.Get(httpserver.ReplayedHeader))
	other := `{"idempotencyKey":"ik_m","amount":"200","currency":"USD/2","sourceAccountId":"acc_01","destinationAccountId":"ben_01"}`
	require.Equal(t, http.StatusConflict, send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: other}).status)
	require.Equal(t, http.StatusUnauthorized, send(t, srv.URL, request{path: "/accounts", auth: "Bearer wrong"}).status)
	require.Equal(t, http.StatusNotFound, send(t, srv.URL, request{path: "/nope/acc_01"}).status)
	for range 3 { // the burst of 8 is spent: 7 requests above were allowed, then one more
		send(t, srv.URL, request{path: "/beneficiaries"})
	}

	m := metricsOf(t, reader)
	route := func(r string) map[string]any { return map[string]any{"http.route": r} }
	assert.EqualValues(t, 1, histogramCount(t, m, httpserver.MetricRequestDuration,
		map[string]any{"http.route": "GET /accounts/{accountId}/balances", "http.response.status_code": int64(200), "http.response.status_class": "2xx"}),
		"the route template labels the request, never the raw path")
	assert.EqualValues(t, 0, histogramCount(t, m, httpserver.MetricRequestDuration, route("GET /accounts/acc_01/balances")))
	assert.EqualValues(t, 2, histogramCount(t, m, httpserver.MetricRequestDuration, map[string]any{"http.route": "GET /accounts"}))
	assert.EqualValues(t, 1, histogramCount(t, m, httpserver.MetricRequestDuration, map[string]any{"http.route": "GET /accounts", "http.response.status_class": "4xx"}))
	assert.EqualValues(t, 1, histogramCount(t, m, httpserver.MetricRequestDuration, route("unmatched")))
	assert.EqualValues(t, 1, histogramCount(t, m, httpserver.MetricRequestDuration, map[string]any{"http.route": "GET /transactions", "http.response.status_class": "2xx"}))
	assert.EqualValues(t, 2+5+2, counterValue(t, m, httpserver.MetricItemsServed, nil), "2 accounts, 5 transactions, 2 beneficiaries")
	assert.EqualValues(t, 5, counterValue(t, m, httpserver.MetricItemsServed, route("GET /transactions")))
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricInvalidItems, map[string]any{"http.route": "GET /transactions", "action": "quarantined"}))
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricIdempotency, map[string]any{"http.route": "POST /payouts", "outcome": "new"}))
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricIdempotency, map[string]any{"outcome": "replayed"}))
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricIdempotency, map[string]any{"outcome": "refused"}))
	assert.EqualValues(t, 2, counterValue(t, m, httpserver.MetricRateLimited, route("GET /beneficiaries")))
	assert.EqualValues(t, 2, histogramCount(t, m, httpserver.MetricRequestDuration,
		map[string]any{"http.route": "GET /beneficiaries", "http.response.status_code": int64(429)}))
	assert.EqualValues(t, 1, histogramCount(t, m, httpserver.MetricProviderDuration,
		map[string]any{"http.route": "POST /payouts", "provider.method": "CreatePayout", "outcome": "ok"}),
		"the provider was called once for the key")
}

func TestInvalidItemRefusedIsCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	p := newFake()
	p.transactions = withBadRows(10, 3)
	srv, _ := newServer(t, p, httpserver.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	require.Equal(t, http.StatusInternalServerError, send(t, srv.URL, request{path: "/transactions?pageSize=5"}).status)
	p.set(func(f *fakeProvider) { f.err = connector.ErrUnavailable })
	require.Equal(t, http.StatusServiceUnavailable, send(t, srv.URL, request{path: "/transactions"}).status)

	m := metricsOf(t, reader)
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricInvalidItems, map[string]any{"http.route": "GET /transactions", "action": "refused"}))
	assert.EqualValues(t, 1, histogramCount(t, m, httpserver.MetricRequestDuration, map[string]any{"http.route": "GET /transactions", "http.response.status_class": "5xx", "http.response.status_code": int64(500)}))
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricProviderErrors,
		map[string]any{"http.route": "GET /transactions", "provider.method": "ListTransactions", "outcome": "service_unavailable"}))
	assert.EqualValues(t, 0, histogramCount(t, m, httpserver.MetricProviderDuration, nil), "reads are not timed apart from their request")
	assert.EqualValues(t, 0, counterValue(t, m, httpserver.MetricItemsServed, nil))
}

func TestSpansPerRequestWithTheProviderCallAsChild(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	p := newFake()
	p.set(func(f *fakeProvider) {
		f.hook = func(ctx context.Context) error {
			if trace.SpanFromContext(ctx).SpanContext().IsValid() {
				return nil
			}
			return connector.ErrUnavailable // the provider's context must carry its span
		}
	})
	srv, _ := newServer(t, p, httpserver.WithTracerProvider(tp))

	// A parent from Formance's side, in a W3C traceparent header.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	req := newRequest(t, srv.URL, request{path: "/accounts/acc_01/balances"})
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), parent), propagation.HeaderCarrier(req.Header))
	require.Equal(t, http.StatusOK, do(t, req).status)

	spans := exporter.GetSpans()
	require.Len(t, spans, 2, "one server span and one provider span")
	var server, provider tracetest.SpanStub
	for _, s := range spans {
		switch s.Name {
		case "GET /accounts/{accountId}/balances":
			server = s
		case "provider.GetBalances":
			provider = s
		}
	}
	require.Equal(t, trace.SpanKindServer, server.SpanKind, "spans: %v", spans)
	assert.Equal(t, parent.TraceID(), server.SpanContext.TraceID(), "the trace continues Formance's")
	assert.Equal(t, parent.SpanID(), server.Parent.SpanID())
	assert.Equal(t, server.SpanContext.SpanID(), provider.Parent.SpanID(), "the provider call is a child of the request")
	assert.Equal(t, server.SpanContext.TraceID(), provider.SpanContext.TraceID())
	attrs := attribute.NewSet(server.Attributes...)
	route, _ := attrs.Value("http.route")
	assert.Equal(t, "GET /accounts/{accountId}/balances", route.AsString())
	status, _ := attrs.Value("http.response.status_code")
	assert.EqualValues(t, 200, status.AsInt64())
	tenant, _ := attrs.Value("pspconnect.tenant")
	assert.Equal(t, httpserver.DefaultTenant, tenant.AsString())
	for _, kv := range server.Attributes {
		assert.NotContains(t, kv.Value.Emit(), "acc_01", "no raw path in the span's attributes")
	}
}

func TestSpansTakeTheConfiguredPropagator(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	// A propagator that reads nothing: the request's traceparent is ignored, a new trace starts.
	srv, _ := newServer(t, newFake(), httpserver.WithTracerProvider(tp), httpserver.WithPropagator(propagation.NewCompositeTextMapPropagator()))
	req := newRequest(t, srv.URL, request{path: "/accounts"})
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	require.Equal(t, http.StatusOK, do(t, req).status)
	spans := exporter.GetSpans()
	require.NotEmpty(t, spans)
	for _, s := range spans {
		assert.NotEqual(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext.TraceID().String())
	}
}

func TestTelemetryOptionsRefuseNil(t *testing.T) {
	for name, opt := range map[string]httpserver.Option{
		"meter provider":  httpserver.WithMeterProvider(nil),
		"tracer provider": httpserver.WithTracerProvider(nil),
		"propagator":      httpserver.WithPropagator(nil),
	} {
		_, err := httpserver.New(newFake(), httpserver.WithAPIKey(testKey), opt)
		assert.ErrorIs(t, err, httpserver.ErrInvalidConfig, name)
	}
}

// TestInFlightWritesAreVisible: while a payout's provider call runs, the in-flight gauges show it
// (with its age), and a duplicate that gives up waiting is counted as in_flight; once it ends,
// they are back to zero.
func TestInFlightWritesAreVisible(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	p := newFull()
	entered, release := make(chan struct{}), make(chan struct{})
	p.set(func(f *fakeProvider) {
		f.hook = func(context.Context) error {
			close(entered)
			<-release
			return nil
		}
	})
	srv, _ := newServer(t, p, httpserver.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		httpserver.WithIdempotencyWait(50*time.Millisecond))
	payout := `{"idempotencyKey":"ik_slow","amount":"100","currency":"USD/2","sourceAccountId":"acc_01","destinationAccountId":"ben_01"}`
	first := make(chan int)
	go func() {
		first <- send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payout}).status
	}()
	<-entered
	time.Sleep(20 * time.Millisecond)

	require.Equal(t, http.StatusLocked, send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payout}).status)
	m := metricsOf(t, reader)
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricWritesInFlight, nil))
	age, _ := testsupport.Sum(m, httpserver.MetricWritesInFlightAge, nil)
	assert.GreaterOrEqual(t, age, 0.02, "the age of the call in progress")
	assert.EqualValues(t, 1, counterValue(t, m, httpserver.MetricIdempotency, map[string]any{"http.route": "POST /payouts", "outcome": "in_flight"}))

	close(release)
	require.Equal(t, http.StatusCreated, <-first)
	m = metricsOf(t, reader)
	assert.EqualValues(t, 0, counterValue(t, m, httpserver.MetricWritesInFlight, nil))
	age, _ = testsupport.Sum(m, httpserver.MetricWritesInFlightAge, nil)
	assert.Zero(t, age)
}

// TestTelemetryUnderConcurrentRequests: requests from many goroutines are all counted, once each
// (run with -race).
func TestTelemetryUnderConcurrentRequests(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewInMemoryExporter()
	srv, _ := newServer(t, newFake(), httpserver.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		httpserver.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				path := []string{"/accounts", "/transactions", "/accounts/acc_01/balances", "/nope"}[(w+i)%4]
				send(t, srv.URL, request{path: path})
			}
		})
	}
	wg.Wait()
	m := metricsOf(t, reader)
	assert.EqualValues(t, workers*each, histogramCount(t, m, httpserver.MetricRequestDuration, nil))
	assert.EqualValues(t, workers*each/4, histogramCount(t, m, httpserver.MetricRequestDuration, map[string]any{"http.route": "unmatched"}))
	assert.Len(t, spans.GetSpans(), workers*each+3*workers*each/4, "a server span per request, a provider span per matched one")
}
