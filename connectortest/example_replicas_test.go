package connectortest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
)

// A deployment of two replicas behind a load balancer, tested the hard way: each request goes to the
// other replica, one replica restarts between every two pages of a fetch (a Swappable gets a new
// instance of the middleware), and new transactions arrive at the PSP in the middle of fetches.
// Comparing what arrived with what the PSP holds at the end proves that nothing was lost. (To see
// the loss the contract warns about, change an existing transaction instead of adding one: it moves
// to the end of the listing and the item at the page boundary is skipped.)
func ExamplePoller_replicas() {
	ds := connectortest.Generate(connectortest.GenSpec{Seed: 5, Accounts: 10, Beneficiaries: 10, Transactions: 100,
		Precision: time.Second, PerSecond: 20})
	psp := connectortest.NewMemoryProvider() // the PSP, which both replicas read
	if err := psp.Load(ds); err != nil {
		panic(err)
	}
	// start is one replica's process as it starts: a new middleware over the same PSP.
	start := func() http.Handler {
		h, err := httpserver.New(psp, httpserver.WithAPIKey("secret"), httpserver.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			panic(err)
		}
		return h
	}
	replicas := []*connectortest.Swappable{connectortest.NewSwappable(start()), connectortest.NewSwappable(start())}

	restarts, added := 0, 0
	poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
		Targets: []connectortest.Target{
			{Handler: replicas[0], APIKey: "secret"},
			{Handler: replicas[1], APIKey: "secret"},
		},
		PageSize: 25,
		BetweenPages: func(_ context.Context, route string, page int) error {
			replicas[restarts%2].Swap(start())
			restarts++
			if route == "/transactions" && added < 3 {
				added++
				return psp.Load(ds.More(0, 0, 1))
			}
			return nil
		},
	})
	defer poller.Close()

	cycle, err := poller.Cycle(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	perReplica := make([]int, 2)
	for _, r := range cycle.Requests {
		perReplica[r.Target]++
	}
	arrived := map[string]bool{}
	for _, tx := range cycle.Transactions {
		arrived[tx.ID] = true
	}
	fmt.Printf("requests per replica: %d and %d, restarts: %d\n", perReplica[0], perReplica[1], restarts)
	fmt.Printf("transactions: %d of %d arrived\n", len(arrived), len(ds.Transactions))
	// Output:
	// requests per replica: 10 and 10, restarts: 3
	// transactions: 103 of 103 arrived
}
