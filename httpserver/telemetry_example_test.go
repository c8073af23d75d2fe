package httpserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pspconnect/pspconnect/httpserver"
)

// Metrics and traces through the OpenTelemetry providers of your choice: here the SDK's, read in
// process; in production a Prometheus or OTLP exporter (see docs/operations.md).
func ExampleWithMeterProvider() {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewInMemoryExporter()
	h, err := httpserver.New(newFake(), httpserver.WithAPIKey("key"), httpserver.WithLogger(slog.New(slog.DiscardHandler)),
		httpserver.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		httpserver.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))))
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/accounts/acc_01/balances", nil)
	req.Header.Set("Authorization", "Bearer key")
	h.ServeHTTP(httptest.NewRecorder(), req)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if hist, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == httpserver.MetricRequestDuration {
			route, _ := hist.DataPoints[0].Attributes.Value("http.route")
			fmt.Println(m.Name, route.AsString(), hist.DataPoints[0].Count)
		}
	}
	for _, s := range spans.GetSpans() {
		fmt.Println("span", s.Name)
	}
	// Output:
	// pspconnect.http.server.duration GET /accounts/{accountId}/balances 1
	// span provider.GetBalances
	// span GET /accounts/{accountId}/balances
}
