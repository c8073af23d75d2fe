// Package ops wires the operations endpoints of the examples beside the connector's routes: a
// Prometheus-format /metrics through OpenTelemetry's Prometheus exporter, and the health probes of
// package health. It is the one place of the repository that imports the exporter and the
// Prometheus client: the library itself only speaks the OpenTelemetry API, and an application
// picks its exporter (Prometheus here, OTLP elsewhere).
//
// It is not a package to import from outside the examples: copy the twenty lines you need.
package ops

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pspconnect/pspconnect/health"
)

// Paths of the operations endpoints.
const (
	MetricsPath   = "/metrics"
	LivenessPath  = "/livez"
	ReadinessPath = "/readyz"
)

// Metrics is a MeterProvider whose metrics are served in the Prometheus text format by Handler.
type Metrics struct {
	Provider *sdkmetric.MeterProvider
	Handler  http.Handler
}

// NewMetrics returns a MeterProvider read by an OpenTelemetry Prometheus exporter on a registry of
// its own (not the Prometheus client's global one), and the handler of that registry.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	return &Metrics{
		Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		Handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, nil
}

// Shutdown stops the MeterProvider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.Provider.Shutdown(ctx) }

// Handler serves GET /metrics (metrics' handler), GET /livez and GET /readyz (health.Readiness
// over checks), and passes every other request to connector untouched. It is no http.ServeMux on
// purpose: a ServeMux would answer a path that is not clean ("//transactions", which a Formance
// endpoint with a trailing slash produces) with a redirect, where the connector's handler serves
// it. The three endpoints ask for no API key: in production serve them on a port that only the
// orchestrator and Prometheus reach.
func Handler(connector http.Handler, metrics *Metrics, checks ...health.Check) http.Handler {
	live, ready := health.Liveness(), health.Readiness(checks)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch r.URL.Path {
			case MetricsPath:
				metrics.Handler.ServeHTTP(w, r)
				return
			case LivenessPath:
				live.ServeHTTP(w, r)
				return
			case ReadinessPath:
				ready.ServeHTTP(w, r)
				return
			}
		}
		connector.ServeHTTP(w, r)
	})
}
