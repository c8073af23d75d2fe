// Package testsupport holds helpers of the repository's own tests: a goroutine-safe log buffer,
// and the points an OpenTelemetry SDK reader collected, to assert what the library recorded. Only
// test files import it.
package testsupport

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Buffer is a goroutine-safe io.Writer that keeps what is written, for a logger under test.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Point is one collected data point: of a counter or a gauge (Value), or of a histogram (Count, and
// Value its sum).
type Point struct {
	Metric string
	Attrs  attribute.Set
	Value  float64
	Count  uint64
}

// Collect returns every point that reader collects now.
func Collect(t testing.TB, reader *sdkmetric.ManualReader) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Metric: m.Name, Attrs: p.Attributes, Value: float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Metric: m.Name, Attrs: p.Attributes, Value: float64(p.Value)})
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Metric: m.Name, Attrs: p.Attributes, Value: p.Value})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Metric: m.Name, Attrs: p.Attributes, Value: p.Sum, Count: p.Count})
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// Sum adds the values (and the counts) of the points of metric whose attributes hold every
// key=value of want (values as attribute.Value.AsInterface returns them: string, int64, …).
func Sum(points []Point, metric string, want map[string]any) (value float64, count uint64) {
	for _, p := range points {
		if p.Metric != metric || !has(p.Attrs, want) {
			continue
		}
		value += p.Value
		count += p.Count
	}
	return value, count
}

func has(set attribute.Set, want map[string]any) bool {
	for k, v := range want {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.AsInterface() != v {
			return false
		}
	}
	return true
}
