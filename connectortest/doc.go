// Package connectortest checks that a middleware serves the Formance Generic Connector contract
// well enough that the real Formance poller loses nothing. It is to a middleware what
// testing/fstest.TestFS is to a file system: one call in the integrator's own test,
//
//	func TestMiddleware(t *testing.T) {
//		connectortest.Run(t, connectortest.Target{Handler: myHandler, APIKey: "test-key"}, connectortest.Options{
//			Changes:            func(ctx context.Context) error { return myPSP.MoveSomeTransactions(ctx) },
//			ChangesDuringFetch: func(ctx context.Context, route string, page int) error { return myPSP.MoveSomeTransactions(ctx) },
//		})
//	}
//
// which walks the middleware through the contract over real HTTP and reports each misbehaviour in
// words that name the request, the item and the broken rule, for example
//
//	GET /transactions?page=2&pageSize=25&sort=updatedAt:asc: tx_0019 also on page 1
//
// A failing Run starts with a summary (how many findings per check, and the first of each), then
// one sub-test per check. Without Options.Changes and Options.ChangesDuringFetch the checks of
// changes are skipped, and say so: give Run a way to change the data as the PSP does.
//
// The middleware may be built with this library (package httpserver) or written by hand, in any
// language: Target.BaseURL points Run at a server that is already running. Check runs the same
// checks outside of go test and returns a Report; the command
//
//	go run github.com/pspconnect/pspconnect/cmd/pspconnect check -url https://psp-bridge.example.com -key KEY
//
// runs them against a deployed middleware and prints the report (-json for CI). Options.Live is for
// targets whose data moves on its own, Options.OpenTenancy for servers where every API key is its
// own dataset.
//
// Besides Run the package offers the pieces it is built from, for tests of their own:
//
//   - Poller reproduces Formance's generic connector poller request by request (see the contract,
//     "How the client polls"), so a test can replay a sync and inspect what arrived and what the
//     poller's state S was. Poller.Stream hands over each fetch as it arrives, for syncs of millions
//     of items in constant memory. PollerOptions.Watermark selects today's client or the
//     inclusive-watermark variant proposed upstream (InclusiveWatermark); PollerOptions.Targets,
//     BetweenPages and BetweenFetches test replicas, restarts and changes in the middle of a sync.
//   - Generate builds deterministic, valid datasets (accounts, beneficiaries, transactions, balances)
//     with a chosen timestamp precision and density, and Dataset.Advance moves transactions through
//     their lifecycle.
//   - MemoryProvider is a connector.Provider, with writes, built on package feed: a working
//     reference middleware to serve generated data with httpserver.
//
// This package is for tests. It is not a load generator, it does not prove that a middleware
// reports the PSP's data faithfully (only that what it serves survives Formance's poller), and its
// MemoryProvider keeps everything in memory.
package connectortest
