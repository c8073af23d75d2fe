package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// transactionsOnly is a provider with no accounts or beneficiaries whose transactions come from
// list: the store under test.
type transactionsOnly struct {
	list func(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error)
}

func (transactionsOnly) ListAccounts(context.Context, connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{}, nil
}

func (transactionsOnly) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil
}

func (p transactionsOnly) ListTransactions(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
	return p.list(ctx, q)
}

func (transactionsOnly) GetBalances(_ context.Context, id string) (models.Balances, error) {
	return models.Balances{}, connector.NotFound("account %q", id)
}

// storeProviders returns a provider over pagination.Collection (the baseline: the store of the
// previous release) and one over feed.Memory, both holding txs.
func storeProviders(b *testing.B, txs []models.Transaction) (collection, memory transactionsOnly) {
	c := pagination.NewTransactions()
	require.NoError(b, c.Put(txs...))
	f := feed.NewMemoryTransactions()
	require.NoError(b, f.Put(context.Background(), httpserver.DefaultTenant, txs...))
	collection.list = func(_ context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
		return connector.Page[models.Transaction]{Items: c.Page(q.Query())}, nil
	}
	memory.list = func(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
		return feed.List(ctx, f, q)
	}
	return collection, memory
}

// BenchmarkMemoryFeedSync syncs n transactions (second precision, 20 a second) from scratch with
// connectortest.Poller over loopback HTTP, from the memory feed (library) and from the
// pagination.Collection it replaces (baseline), in the same run. The 1,000,000 run is skipped unless
// -bench names it ("transactions=1M").
func BenchmarkMemoryFeedSync(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		name := fmt.Sprintf("transactions=%dk", n/1000)
		if n >= 1_000_000 {
			name = "transactions=1M"
		}
		b.Run(name, func(b *testing.B) {
			if n >= 1_000_000 && !explicitlySelected("1M") {
				b.Skip("runs only when -bench names it, e.g. -bench 'MemoryFeedSync/transactions=1M'")
			}
			d := connectortest.Generate(connectortest.GenSpec{Seed: 11, Transactions: n, Precision: time.Second, PerSecond: 20})
			collection, memory := storeProviders(b, d.Transactions)
			d = nil
			for _, side := range []struct {
				name string
				p    connector.Provider
			}{{"baseline", collection}, {"library", memory}} {
				b.Run(side.name, func(b *testing.B) {
					h, err := httpserver.New(side.p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
					require.NoError(b, err)
					target := connectortest.Target{Handler: h, APIKey: apiKey}
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						syncAll(b, target, 100, n, nil)
					}
					b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
				})
			}
		})
	}
}

// BenchmarkMemoryFeedPage finds and copies one page of 1,000,000 transactions at a random
// updatedAtFrom, in process: the memory feed (library) against pagination.Collection (baseline).
func BenchmarkMemoryFeedPage(b *testing.B) {
	d := connectortest.Generate(connectortest.GenSpec{Seed: 5, Transactions: 1_000_000, Precision: time.Second, PerSecond: 20})
	collection, memory := storeProviders(b, d.Transactions)
	first, last := d.Transactions[0].UpdatedAt, d.Transactions[len(d.Transactions)-1].UpdatedAt
	span := last.Sub(first)
	d = nil
	ctx := connector.WithTenant(context.Background(), httpserver.DefaultTenant)
	for _, size := range []int{25, 100} {
		for _, side := range []struct {
			name string
			p    transactionsOnly
		}{{"baseline", collection}, {"library", memory}} {
			b.Run(fmt.Sprintf("pageSize=%d/%s", size, side.name), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				b.ReportAllocs()
				for b.Loop() {
					from := first.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
					q := connector.ListRequest{Page: 1, PageSize: size, From: from,
						Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
					page, err := side.p.ListTransactions(ctx, q)
					if n := len(page.Items) + len(page.Encoded); err != nil || n == 0 {
						b.Fatalf("page: %v, %d items", err, n)
					}
				}
			})
		}
	}
}

// BenchmarkMemoryPerTransaction puts 1,000,000 generated transactions (second precision, 20 a
// second) into a feed.Memory and reports the growth of the live heap per transaction, every index
// included (B/tx), against the transactions' compact JSON (json-B/tx, encoding/json's Marshal):
// bytes/json is the target's ratio (≤ 1.5). The transactions themselves are dropped before the
// heap is read, so only what the feed keeps is counted.
func BenchmarkMemoryPerTransaction(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		b.StopTimer()
		before := liveHeap()
		d := connectortest.Generate(connectortest.GenSpec{Seed: 13, Transactions: n, Precision: time.Second, PerSecond: 20})
		compact := 0
		for i := range d.Transactions {
			j, err := json.Marshal(&d.Transactions[i])
			require.NoError(b, err)
			compact += len(j)
		}
		f := feed.NewMemoryTransactions()
		b.StartTimer()
		require.NoError(b, f.Put(context.Background(), httpserver.DefaultTenant, d.Transactions...))
		b.StopTimer()
		d = nil
		after := liveHeap()
		runtime.KeepAlive(f)
		perTx := (float64(after) - float64(before)) / n
		b.ReportMetric(perTx, "B/tx")
		b.ReportMetric(float64(compact)/n, "json-B/tx")
		b.ReportMetric(perTx/(float64(compact)/n), "bytes/json")
	}
}
