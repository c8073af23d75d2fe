// Package feed is the store that Formance's list routes read: the accounts, beneficiaries and
// transactions of every tenant, with the rules that make Formance's poller lose nothing, whether the
// data changes while it pages, the middleware restarts, or several replicas serve it.
//
// A provider writes what it learns from its PSP into a Feed (Put, in the order the PSP reports it)
// and answers each list request from it in one line:
//
//	b := &bank{transactions: feed.NewMemoryTransactions()} // in production, a feed of feed/pgfeed
//	…
//	func (b *bank) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
//		return feed.List(ctx, b.transactions, req)
//	}
//
// Two implementations pass the same conformance suite (package feed/feedtest): Memory, in this
// package, for tests, examples and single-process middlewares; and package feed/pgfeed, in
// PostgreSQL, for production: any number of replicas and restarts on one database serve identical
// answers.
//
// # The rules
//
// Every item is stored in a slot with a served time: the time Formance sorts by, filters on and
// remembers (createdAt for accounts and beneficiaries, updatedAt for transactions). For each tenant
// and route:
//
//  1. Served times are unique, and a slot's served time never changes.
//  2. The feed keeps a horizon H, the latest served time that may have been read: a list request
//     first raises H to the latest served time stored, then answers only slots at or before H. A
//     new slot always gets a served time after H. So no item is ever placed where a reader may
//     already have passed: not a late item, not a change, not a write racing a read on another
//     replica (pgfeed holds a row lock on the tenant and route's head row while it assigns served
//     times, and a reader takes the same lock to raise H).
//  3. A new item's served time is its own time (Keys.Time), or later only when that time is taken or
//     not after H: then it is the first free nanosecond after both. Transactions are also never
//     served with an updatedAt before their createdAt (Keys.Floor). So the served time equals the
//     PSP's time whenever that time is unique and not behind; otherwise it is later by the number
//     of items sharing the PSP's timestamp (in nanoseconds), or by how late the PSP reported the item
//     relative to what had been served. It is never earlier.
//  4. A change to a transaction (Put of a known id with other content) gets a new slot, with a served
//     time after both H and the previous one, so Formance fetches it. The previous slot stays in the
//     listing, serving the previous state, so that the positions of the items after it do not shift
//     under a poller that pages by offset through a busy second (see CONTRACT.md: an item moving to
//     the end between two pages makes the item at the page boundary vanish from both). A previous
//     slot that was never readable (its served time is after H) is deleted at once instead.
//  5. Accounts and beneficiaries are changed in place (Keys.InPlace): Formance keeps only their first
//     version, so a change keeps its slot and served time.
//  6. A superseded slot is deleted by Prune once it is older than the retention (WithRetention,
//     default DefaultRetention) and behind every poller: its served time is before the lowest
//     …From that a list request of the tenant and route sent during the retention (minus a second).
//     A route nobody polled during the retention is not pruned.
//  7. Tenants never see each other's items: the tenant is part of every key.
//
// A listing may hold several versions of one transaction (rule 4): code that builds a map from a
// listing keeps the last one of each id, the latest. Run PruneEvery (or call Prune) in the
// middleware process to keep the superseded slots of transactions bounded.
//
// A restart of a Memory feed starts a new history: re-putting the PSP's data serves each item at
// its own time again, with H at the start, so a change whose PSP time is behind what Formance had
// already read, or an item whose tie order changed, can be missed. Use pgfeed where restarts must
// be lossless.
package feed
