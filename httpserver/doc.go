// Package httpserver turns a connector.Provider into the http.Handler that Formance's Generic
// Connector polls: the routes of the contract (GET /accounts, GET /accounts/{accountId}/balances,
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
//   - recovering from panics, logging each request with log/slog, and paging cursor-based PSPs
//     (connector.CursorPaged) through a pagination.CursorCache.
//
// The Handler is an ordinary http.Handler: mount it at the root or under a prefix with
// http.StripPrefix, wrap it in your own middlewares, or serve it with ListenAndServe, which adds
// timeouts and graceful shutdown.
//
// This package is not a provider toolkit (see connector and pagination) and not a conformance test
// (see connectortest). It does not yet make writes idempotent: a provider must pass
// IdempotencyKey on to its PSP.
package httpserver
