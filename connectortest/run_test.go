package connectortest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
)

const testKey = "connectortest-key"

// serveMemory loads a generated dataset into a MemoryProvider and serves it with httpserver.
func serveMemory(t *testing.T, ds *Dataset, opts ...feed.Option) (*MemoryProvider, Target) {
	t.Helper()
	p := NewMemoryProvider(opts...)
	require.NoError(t, p.Load(ds))
	return serveProvider(t, p)
}

// serveProvider serves p with httpserver, quietly.
func serveProvider(t *testing.T, p *MemoryProvider) (*MemoryProvider, Target) {
	t.Helper()
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	return p, Target{Handler: h, APIKey: testKey}
}

// changesHook returns an Options.Changes that, on each call, moves transactions one lifecycle step
// (new updatedAt at the dataset's precision, often within the second of the latest one) and adds a
// few new accounts, beneficiaries and transactions.
func changesHook(p *MemoryProvider, ds *Dataset) func(context.Context) error {
	return func(context.Context) error {
		if err := p.PutTransactions(ds.Advance(15)...); err != nil {
			return err
		}
		return p.Load(ds.More(3, 2, 5))
	}
}

// TestRunMemoryProvider: MemoryProvider served by httpserver passes every check with dense
// timestamps at nanosecond, millisecond and second precision, including changes within one second,
// between two cycles and between the pages of one fetch.
func TestRunMemoryProvider(t *testing.T) {
	for _, precision := range []time.Duration{time.Nanosecond, time.Millisecond, time.Second} {
		t.Run(precision.String(), func(t *testing.T) {
			t.Parallel()
			ds := Generate(GenSpec{Seed: 7, Accounts: 200, Beneficiaries: 200, Transactions: 600,
				Precision: precision, PerSecond: 5, Lifecycle: true})
			p, target := serveMemory(t, ds)
			Run(t, target, Options{Changes: changesHook(p, ds), ChangesDuringFetch: duringFetchHook(p, ds)})
		})
	}
}

// TestDefaultPageSizesCannotBeChanged: the default page sizes are a fresh slice each call.
func TestDefaultPageSizesCannotBeChanged(t *testing.T) {
	first := DefaultPageSizes()
	first[0] = 999
	if got := DefaultPageSizes(); got[0] != 1 || len(got) != 4 {
		t.Errorf("DefaultPageSizes() = %v after a caller changed its copy, want [1 7 25 100]", got)
	}
}
