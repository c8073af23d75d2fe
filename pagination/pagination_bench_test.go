package pagination_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

var benchStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// benchTransactions returns n valid transactions, perSecond of them in each second (second
// precision, the dense case), in time order.
func benchTransactions(n, perSecond int) []models.Transaction {
	out := make([]models.Transaction, n)
	for i := range out {
		at := benchStart.Add(time.Duration(i/perSecond) * time.Second)
		out[i] = models.Transaction{
			ID: fmt.Sprintf("tx_%07d", i), CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
			Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded,
			Amount: models.AmountFromInt64(int64(1000 + i%5000)), DestinationAccountID: "acc_0001",
		}
	}
	return out
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCollectionPageScale answers Formance's typical request (page 1 or 2 from a second in the
// data) on collections of 100,000 and 1,000,000 transactions: the time must not grow with the size
// (binary search on the From time, then pageSize copies).
func BenchmarkCollectionPageScale(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		c := pagination.NewTransactions()
		if err := c.Put(benchTransactions(n, 20)...); err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{25, 100} {
			b.Run(fmt.Sprintf("items=%dk/pageSize=%d", n/1000, size), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					from := benchStart.Add(time.Duration((i*7919)%(n/20-100)) * time.Second)
					q := pagination.Query{Page: 1 + i%2, PageSize: size, Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}, From: from}
					if len(c.Page(q)) != size {
						b.Fatal("short page")
					}
					i++
				}
			})
		}
	}
}

// BenchmarkCollectionLoad puts 1,000,000 transactions (second precision, 20 a second, and the
// nanosecond-precision worst case of one bucket per item) and reports the Collection's own memory
// per item, beyond the items themselves.
func BenchmarkCollectionLoad(b *testing.B) {
	for _, perSecond := range []int{20, 1} {
		b.Run(fmt.Sprintf("items=1M/perSecond=%d", perSecond), func(b *testing.B) {
			txs := benchTransactions(1_000_000, perSecond)
			var overhead float64
			b.ReportAllocs()
			for b.Loop() {
				before := heapInUse()
				c := pagination.NewTransactions()
				if err := c.Put(txs...); err != nil {
					b.Fatal(err)
				}
				after := heapInUse()
				// The Collection keeps its own copy of each item (a models.Transaction value).
				overhead = (float64(after)-float64(before))/float64(len(txs)) - float64(sizeofTransaction)
				runtime.KeepAlive(c)
			}
			b.ReportMetric(overhead, "overhead-B/item")
		})
	}
}

const sizeofTransaction = 192 // unsafe.Sizeof(models.Transaction{}) on 64-bit platforms

// BenchmarkFetchByCursorWalk walks 100 pages of 100 objects sequentially through FetchByCursor
// (with and without tie-breaking) and reports the upstream calls per page: 1.
func BenchmarkFetchByCursorWalk(b *testing.B) {
	type obj struct {
		id string
		at time.Time
	}
	items := make([]obj, 10_000)
	for i := range items {
		items[i] = obj{fmt.Sprintf("o%05d", i), benchStart.Add(time.Duration(i/20) * time.Second)}
	}
	calls := 0
	fetch := func(_ context.Context, q pagination.CursorQuery) ([]obj, string, error) {
		calls++
		start := 0
		if q.Cursor != "" {
			fmt.Sscanf(q.Cursor, "%d", &start)
		}
		end := min(start+q.PageSize, len(items))
		next := ""
		if end < len(items) {
			next = fmt.Sprint(end)
		}
		return items[start:end], next, nil
	}
	ties := pagination.WithCursorTies(pagination.CursorTies[obj]{
		Precision: time.Second,
		Time:      func(o obj) time.Time { return o.at },
		WithTime:  func(o obj, t time.Time) obj { o.at = t; return o },
	})
	for _, mode := range []string{"plain", "ties"} {
		b.Run(mode, func(b *testing.B) {
			var opts []pagination.CursorOption[obj]
			if mode == "ties" {
				opts = append(opts, ties)
			}
			cache := pagination.NewCursorCache(0, 0)
			calls = 0
			pages := 0
			b.ReportAllocs()
			for b.Loop() {
				for page := 1; page <= 100; page++ {
					q := pagination.Query{Page: page, PageSize: 100, Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}}
					got, err := pagination.FetchByCursor(context.Background(), cache, "tenant\x00/accounts", q, fetch, opts...)
					if err != nil || len(got) != 100 {
						b.Fatal(err, len(got))
					}
					pages++
				}
			}
			b.ReportMetric(float64(calls)/float64(pages), "upstream-calls/page")
		})
	}
}

// BenchmarkCursorCacheManyTenants remembers the pages of 1,000,000 distinct queries (10,000 tenants
// times 100 From values) in a cache bounded to DefaultCursorCacheEntries and reports the cache's
// memory: it stays bounded by its entries whatever the number of tenants and queries.
func BenchmarkCursorCacheManyTenants(b *testing.B) {
	fetch := func(_ context.Context, q pagination.CursorQuery) ([]int, string, error) {
		if q.Cursor == "" {
			return []int{1, 2}, "c2", nil
		}
		return []int{3}, "", nil
	}
	var heapMB float64
	var entries int
	for b.Loop() {
		before := heapInUse()
		cache := pagination.NewCursorCache(0, 0)
		for tenant := range 10_000 {
			scope := fmt.Sprintf("tenant-%05d\x00/accounts", tenant)
			for f := range 100 {
				q := pagination.Query{Page: 2, PageSize: 2, Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending},
					From: benchStart.Add(time.Duration(f) * time.Second)}
				if _, err := pagination.FetchByCursor(context.Background(), cache, scope, q, fetch); err != nil {
					b.Fatal(err)
				}
			}
		}
		entries = cache.Len()
		heapMB = (float64(heapInUse()) - float64(before)) / (1 << 20)
		runtime.KeepAlive(cache)
	}
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(heapMB, "cache-heap-MB")
}
