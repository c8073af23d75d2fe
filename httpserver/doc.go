// Package httpserver turns a connector.Provider (or, through CursorPaged, a connector.CursorProvider)
// into the http.Handler that Formance's Generic Connector polls: the routes of the contract (GET /accounts, GET /accounts/{accountId}/balances,
// GET /beneficiaries, GET /transactions, POST /payouts, POST /transfers) and the extension routes
// (GET /payouts/{payoutId}, GET /transfers/{transferId}, POST /bank-accounts).
//
// The handler does everything around the provider so that an integrator writes only PSP code:
//
//   - authentication with "Authorization: Bearer <API key>" (one key, a key per tenant, or a
//     custom authenticator), the tenant being passed to the provider in the context
//     (connector.TenantFrom);
//   - parsing and checking query parameters (pagination.ParseQuery) and JSON request bodies
//     (content type, size limit, decoding, models.Validate), answering 400 with a Detail that names
//     the parameter or field;
//   - calling the provider, and answering 501 for an optional capability it does not implement;
//   - checking every item the provider returns with models.Validate before anything is written:
//     an item Formance could not decode would stall its sync forever, so the request fails with a
//     500 whose Detail names the route, the item and the field, and the problem is logged;
//   - mapping provider errors to statuses (connector.HTTPStatus), with Retry-After for 429 and 503;
//   - answering every error, including unknown routes (404) and wrong methods (405), with the
//     contract's {"Title": "...", "Detail": "..."} JSON body;
//   - making the write routes idempotent, so that a retried payout never moves money twice: the
//     first request with an idempotency key calls the provider once, a repeat with the same body gets
//     the stored answer (same status, same bytes, header Idempotent-Replayed: true), a repeat with
//     another body gets 409, and concurrent duplicates wait for the first. Answers that invite a
//     retry (429, 503, other 5xx) are not stored. The store is in memory by default; share a
//     PostgreSQL one (package idempotency/pgstore) between instances with WithIdempotencyStore;
//   - limiting each tenant's request rate (WithRateLimit: 429 with Retry-After) and, on by default,
//     the requests that fail authentication, per client address and for all clients together
//     (WithAuthFailureLimit, WithAuthFailureGlobalLimit, WithClientAddressHeader behind a proxy),
//     while the configured keys, found by their SHA-256 digest, are always served; limiting request
//     bodies (WithMaxBodyBytes), query strings (MaxQueryBytes, MaxQueryParams) and what client
//     input can make the handler echo (MaxDetailBytes) or log (every log attribute is clipped to a
//     few hundred bytes); recovering from panics, logging each request with log/slog without
//     headers or API keys, and answering page numbers from PSPs that page by cursor
//     (CursorPaged) through a pagination.CursorCache.
//
// The Handler is an ordinary http.Handler: mount it at the root or under a prefix with
// http.StripPrefix, wrap it in your own middlewares, or serve it with ListenAndServe, which adds
// timeouts and graceful shutdown.
//
// This package is not a provider toolkit (see connector and pagination, and connector.Limiter to pace
// calls to the PSP) and not a conformance test (see connectortest). Idempotency protects against
// Formance's retries; a provider should still pass IdempotencyKey on to its PSP when the PSP's API
// takes one, which also covers a request that was in flight when its process died (see
// WithIdempotencyInFlightTTL).
package httpserver
