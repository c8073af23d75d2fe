package httpserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// pageProvider answers every transactions request with the same page.
type pageProvider struct {
	connector.Provider
	page []models.Transaction
}

func (p pageProvider) ListTransactions(context.Context, connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{Items: p.page}, nil
}

// telemetryBench builds the three handlers of the telemetry benchmarks, all serving one provider
// whose transactions route answers the same page of 100:
//   - "plain": without telemetry;
//   - "instrumented": the OpenTelemetry SDK's meter provider (a manual reader) and tracer provider
//     as docs/operations.md recommends for Formance's polls, which carry no trace context: root
//     spans sampled at 10% (ParentBased(TraceIDRatioBased(0.1))), batched to a no-op exporter;
//   - "traced": the same meter provider, and every request traced (spans handed to a no-op exporter
//     as they end), the instrumentation's worst case.
func telemetryBench(b *testing.B) []http.Handler {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	page := make([]models.Transaction, 100)
	for i := range page {
		page[i] = models.Transaction{ID: fmt.Sprintf("tx_%07d", i), CreatedAt: at, UpdatedAt: at.Add(time.Duration(i)),
			Currency: "EUR/2", Type: models.TransactionTypePayout, Status: models.TransactionStatusSucceeded,
			Amount: models.AmountFromInt64(int64(1000 + i)), SourceAccountID: "acc_0001", DestinationAccountID: "ben_0042"}
	}
	p := pageProvider{page: page}
	newHandler := func(opts ...Option) http.Handler {
		h, err := New(p, append([]Option{WithAPIKey("k"), WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	meters := func() Option {
		return WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))
	}
	sampled := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))))
	b.Cleanup(func() { _ = sampled.Shutdown(context.Background()) })
	every := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	return []http.Handler{
		newHandler(),
		newHandler(meters(), WithTracerProvider(sampled)),
		newHandler(meters(), WithTracerProvider(every)),
	}
}

// telemetryListQuery is the request of the telemetry benchmarks: Formance's (which sends no trace
// context).
const telemetryListQuery = "/transactions?page=1&pageSize=100&sort=updatedAt:asc&updatedAtFrom=2024-01-01T00:00:00Z"

// compareHandlers runs serve on each of the three handlers in turn, request by request, in a
// rotating order, so that all see the same machine, and reports the median time of a request of
// each (which a preemption or a GC pause landing on a few requests does not move: the machine is
// shared) and the ratios instrumented/plain (target below 1.10) and traced/plain.
func compareHandlers(b *testing.B, n int, serve func(k int) time.Duration) {
	for range 200 { // warm them up: pools, attribute caches, connections
		for k := range n {
			serve(k)
		}
	}
	spent := make([][]time.Duration, n)
	round := 0
	for b.Loop() {
		for i := range n {
			k := (i + round) % n // rotate which goes first
			spent[k] = append(spent[k], serve(k))
		}
		round++
	}
	median := make([]float64, n)
	for k := range spent {
		slices.Sort(spent[k])
		median[k] = float64(spent[k][len(spent[k])/2].Nanoseconds())
	}
	b.ReportMetric(median[0], "plain-ns/req")
	b.ReportMetric(median[1], "instrumented-ns/req")
	b.ReportMetric(median[2], "traced-ns/req")
	b.ReportMetric(median[1]/median[0], "instrumented/plain")
	b.ReportMetric(median[2]/median[0], "traced/plain")
}

// BenchmarkListRouteTelemetry compares the handlers of telemetryBench in process (ServeHTTP into
// a recorder): the handler's own work, where the instrumentation weighs most.
func BenchmarkListRouteTelemetry(b *testing.B) {
	handlers := telemetryBench(b)
	req := httptest.NewRequest(http.MethodGet, telemetryListQuery, nil)
	req.Header.Set("Authorization", "Bearer k")
	compareHandlers(b, len(handlers), func(k int) time.Duration {
		rec := httptest.NewRecorder()
		start := time.Now()
		handlers[k].ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		return d
	})
}

// BenchmarkListRouteTelemetryHTTP compares the handlers of telemetryBench as Formance sees them:
// each behind its own HTTP server on the loopback interface, requested by one keep-alive client,
// the answer read whole.
func BenchmarkListRouteTelemetryHTTP(b *testing.B) {
	handlers := telemetryBench(b)
	urls := make([]string, len(handlers))
	for k, h := range handlers {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		urls[k] = srv.URL + telemetryListQuery
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	b.Cleanup(client.CloseIdleConnections)
	compareHandlers(b, len(handlers), func(k int) time.Duration {
		req, err := http.NewRequest(http.MethodGet, urls[k], nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer k")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatal(res.StatusCode, err)
		}
		return d
	})
}
