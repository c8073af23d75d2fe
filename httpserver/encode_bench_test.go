package httpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

func benchPage(n int) []models.Transaction {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	page := make([]models.Transaction, n)
	for i := range page {
		page[i] = models.Transaction{
			ID: fmt.Sprintf("tx_%07d", i), CreatedAt: at, UpdatedAt: at.Add(time.Duration(i)), Currency: "EUR/2",
			Type: models.TransactionTypePayout, Status: models.TransactionStatusSucceeded, Scheme: "sepa",
			Amount: models.AmountFromInt64(int64(1000 + i)), SourceAccountID: "acc_0001", DestinationAccountID: "ben_0042",
		}
		if i%5 == 0 {
			page[i].Metadata = models.Metadata{"reference": fmt.Sprintf("INV-%05d", i)}
		}
	}
	return page
}

// BenchmarkEncodePage writes a page of 100 transactions with the appenders the list routes use and
// with encoding/json, the bytes being the same.
func BenchmarkEncodePage(b *testing.B) {
	page := benchPage(100)
	b.Run("appenders", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64<<10)
		for b.Loop() {
			buf = append(buf[:0], '[')
			for i := range page {
				if i > 0 {
					buf = append(buf, ',')
				}
				var err error
				if buf, err = appendTransaction(buf, &page[i]); err != nil {
					b.Fatal(err)
				}
			}
			buf = append(buf, ']', '\n')
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(page); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}

// BenchmarkListRoute serves GET /transactions in process from a provider that returns a ready
// page: the handler's own cost (auth, parsing, validation, encoding), without the provider's.
func BenchmarkListRoute(b *testing.B) {
	for _, size := range []int{25, 100} {
		b.Run(fmt.Sprintf("pageSize=%d", size), func(b *testing.B) {
			h, err := New(staticTransactions{items: benchPage(size)}, WithAPIKey("k"), WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/transactions?page=1&pageSize=%d&sort=updatedAt:asc&updatedAtFrom=2024-01-01T00:00:00Z", size), nil)
			req.Header.Set("Authorization", "Bearer k")
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
