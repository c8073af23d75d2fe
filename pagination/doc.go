// Package pagination answers Formance's list requests (GET /accounts, /beneficiaries, /transactions)
// so that its poller receives every item and every change.
//
// It holds four things:
//
//   - Query and ParseQuery: the page, pageSize, sort and createdAtFrom/updatedAtFrom parameters,
//     parsed and validated (a bad or oversized parameter is an error, never silently adjusted).
//   - Collection (deprecated: package feed replaces it): an in-memory, thread-safe store that serves
//     every item with a unique timestamp. It moves a changed item to the end of its listing, which
//     loses the item at a page boundary when the change lands while Formance pages through a busy
//     second; feed.Memory keeps positions stable, and feed/pgfeed does the same in PostgreSQL.
//   - PageOf: a stateless helper that sorts, filters and pages a slice. Fine for small data whose
//     timestamps are unique; lossy when several items share a timestamp (see PageOf).
//   - FetchByCursor and CursorCache: answer page numbers from an upstream PSP that pages by cursor,
//     with one upstream call per page on a sequential walk. httpserver.CursorPaged uses them to
//     serve a connector.CursorProvider; call FetchByCursor yourself for more control. With
//     WithCursorTies it also serves a unique time to items that share a coarse upstream timestamp
//     (CursorTies says when that is lossless: listings sorted by a time that never changes, such
//     as creation).
//
// # Serving from SQL
//
// Serve the same order and filter from a database with
//
//	SELECT … FROM transactions
//	WHERE updated_at >= $from            -- q.From, inclusive; omit the clause when q.From.IsZero()
//	ORDER BY updated_at, id              -- both DESC when q.Sort.Direction is Descending
//	LIMIT $limit OFFSET $offset          -- q.Limit(), q.Offset()
//
// (created_at instead of updated_at for accounts and beneficiaries). Like PageOf, this breaks ties by
// id, which Formance's poller does not see: if several rows can share one updated_at value, rows are
// skipped when a fetch is cut between them, and a change that does not move updated_at forward is never
// fetched. To be lossless, store and serve a timestamp that is unique per row and moves strictly
// forward on every change (for example one assigned when the row is written, as Collection does), and
// order by it.
//
// # What it is not for
//
// It does not speak HTTP (package httpserver does, and calls ParseQuery for you), does not persist
// anything (a Collection is lost on restart; it is not a database), and does not fetch from a PSP: the
// integrator fills a Collection or writes the CursorFetch that calls the PSP.
package pagination
