package connectortest

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/httpserver"
)

// BenchmarkDecodePage decodes one answer of 100 transactions as the Poller does: in one pass
// ("page", the usual case) and item by item ("items", used only to name a failing item).
func BenchmarkDecodePage(b *testing.B) {
	ds := Generate(GenSpec{Seed: 1, Transactions: 100, Precision: time.Second, Lifecycle: true})
	body, err := json.Marshal(ds.Transactions)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if items, ok := decodeTransaction.page(body, 100); !ok || len(items) != 100 {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("items", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var raws []json.RawMessage
			if err := json.Unmarshal(body, &raws); err != nil {
				b.Fatal(err)
			}
			for _, raw := range raws {
				if _, err := decodeTransaction.item(raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkStream syncs 20,000 second-precision transactions from a MemoryProvider served by
// httpserver, with Stream, at Formance's two usual page sizes.
func BenchmarkStream(b *testing.B) {
	ds := Generate(GenSpec{Seed: 2, Accounts: 1, Beneficiaries: 1, Transactions: 20_000, Precision: time.Second, PerSecond: 20})
	p := NewMemoryProvider()
	if err := p.Load(ds); err != nil {
		b.Fatal(err)
	}
	_, target := serveBench(b, p)
	for _, size := range []int{25, 100} {
		b.Run(map[int]string{25: "pageSize=25", 100: "pageSize=100"}[size], func(b *testing.B) {
			b.ReportAllocs()
			items := 0
			for b.Loop() {
				poller := NewPoller(target, size)
				err := poller.Stream(b.Context(), func(d Delivery) error { items += len(d.Transactions); return nil })
				poller.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// serveBench serves p with httpserver, quietly.
func serveBench(b *testing.B, p *MemoryProvider) (*MemoryProvider, Target) {
	b.Helper()
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	return p, Target{Handler: h, APIKey: testKey}
}
