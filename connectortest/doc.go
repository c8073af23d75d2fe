// Package connectortest checks that a middleware serves the Formance Generic Connector contract
// well enough that the real Formance poller loses nothing. It is to a middleware what
// testing/fstest.TestFS is to a file system: one call in the integrator's own test,
//
//	func TestMiddleware(t *testing.T) {
//		connectortest.Run(t, connectortest.Target{Handler: myHandler, APIKey: "test-key"}, connectortest.Options{})
//	}
//
// which walks the middleware through the contract over real HTTP and reports each misbehaviour in
// words that name the request, the item and the broken rule, for example
//
//	GET /transactions?page=2&pageSize=25&sort=updatedAt:asc: tx_0019 also on page 1
//
// The middleware may be built with this library (package httpserver) or written by hand, in any
// language: Target.BaseURL points Run at a server that is already running.
//
// Besides Run the package offers the pieces it is built from, for tests of their own:
//
//   - Poller reproduces Formance's generic connector poller request by request (see the contract,
//     "How the client polls"), so a test can replay a sync and inspect what arrived and what the
//     poller's state S was. Poller.Stream hands over each fetch as it arrives, for syncs of millions
//     of items in constant memory.
//   - Generate builds deterministic, valid datasets (accounts, beneficiaries, transactions, balances)
//     with a chosen timestamp precision and density, and Dataset.Advance moves transactions through
//     their lifecycle.
//   - MemoryProvider is a connector.Provider, with writes, built on pagination.Collection: a working
//     reference middleware to serve generated data with httpserver.
//
// This package is for tests. It is not a load generator, it does not prove that a middleware
// reports the PSP's data faithfully (only that what it serves survives Formance's poller), and its
// MemoryProvider keeps everything in memory.
package connectortest
