package connectortest_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
)

// serve loads a dataset into p and serves it with httpserver.
func serve(p *connectortest.MemoryProvider, ds *connectortest.Dataset) connectortest.Target {
	if err := p.Load(ds); err != nil {
		panic(err)
	}
	h, err := httpserver.New(p, httpserver.WithAPIKey("secret"), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	return connectortest.Target{Handler: h, APIKey: "secret"}
}

// A Poller replays Formance's sync. With second-precision timestamps, about three accounts a second
// and pageSize 25, serving the PSP's times as they are loses the accounts that share a second across
// a page cut (NewLossyMemoryProvider); the unique served times of package feed (NewMemoryProvider)
// lose none.
func ExamplePoller() {
	spec := connectortest.GenSpec{Seed: 11, Accounts: 300, Precision: time.Second, PerSecond: 3}

	for _, c := range []struct {
		name     string
		provider *connectortest.MemoryProvider
	}{
		{"served as they are", connectortest.NewLossyMemoryProvider()},
		{"tie-broken", connectortest.NewMemoryProvider()},
	} {
		poller := connectortest.NewPoller(serve(c.provider, connectortest.Generate(spec)), 25)
		cycle, err := poller.Cycle(context.Background())
		poller.Close()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %d of 300 accounts arrived\n", c.name, len(cycle.Accounts))
	}
	// Output:
	// served as they are: 281 of 300 accounts arrived
	// tie-broken: 300 of 300 accounts arrived
}

// Run goes in the integrator's own test. A Go example cannot be handed a *testing.T, so this one
// only shows the test function; TestRunMemoryProvider in this package runs the same code.
func ExampleRun() {
	testMiddleware := func(t *testing.T) {
		ds := connectortest.Generate(connectortest.GenSpec{Seed: 1, Accounts: 50, Beneficiaries: 50, Transactions: 200, Precision: time.Second})
		p := connectortest.NewMemoryProvider()
		if err := p.Load(ds); err != nil {
			t.Fatal(err)
		}
		// A quiet request log, so that the findings are all the test prints.
		h, err := httpserver.New(p, httpserver.WithAPIKey("secret"), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		connectortest.Run(t, connectortest.Target{Handler: h, APIKey: "secret"}, connectortest.Options{
			// Between two polling cycles, move 10 transactions through their lifecycle and add one.
			Changes: func(context.Context) error {
				if err := p.PutTransactions(ds.Advance(10)...); err != nil {
					return err
				}
				return p.Load(ds.More(0, 0, 1))
			},
			// Between two pages of a fetch, move 2 transactions: nothing may be lost through it.
			ChangesDuringFetch: func(context.Context, string, int) error { return p.PutTransactions(ds.Advance(2)...) },
		})
	}
	_ = testMiddleware
}
