// Package connector defines what an integrator implements to connect a PSP to Formance: the Provider
// interface (the four read operations every middleware must serve), or CursorProvider for a PSP that
// pages by cursor, optional capability interfaces for writes and status reads, the errors a provider
// returns, and the tenant carried in the context.
//
// A Provider answers Formance's page-numbered list requests (ListRequest), most simply from a feed
// (package feed) in one line per route: feed.List(ctx, f, req). A provider that calls a PSP paging
// by cursor in each request implements CursorProvider instead, and httpserver.CursorPaged answers
// the page numbers for it.
//
// A Provider knows nothing about HTTP: package httpserver turns it into the http.Handler that
// Formance's Generic Connector polls, and does the parsing, validation, authentication and error
// mapping. This package is not for serving or testing; see httpserver and connectortest.
package connector

import (
	"context"
	"time"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// ListRequest is one list request from Formance, parsed and validated by the library before the
// provider is called: which page, how large, in which order, from when.
//
// Page numbers start at 1; page N holds the items at positions (N-1)*PageSize to N*PageSize-1 of the
// data sorted by Sort and filtered by From. A provider answers exactly PageSize items unless the data
// is exhausted: a shorter page tells Formance that there is nothing more.
type ListRequest struct {
	// Page is the 1-based page number.
	Page int
	// PageSize is the number of items asked for: at least 1, at most the handler's maximum
	// (httpserver.WithMaxPageSize).
	PageSize int
	// Sort is the order asked for; its Field is the route's time field (createdAt for accounts and
	// beneficiaries, updatedAt for transactions). Formance always asks for ascending order.
	Sort pagination.Sort
	// From is the inclusive lower bound on the time field (createdAtFrom or updatedAtFrom); the zero
	// time when the request has none (Formance's very first poll). Formance sends it with second
	// precision, so items at exactly From must be included.
	From time.Time
}

// Offset returns the number of items before this page: (Page-1)*PageSize. Use it with Limit for
// SQL-shaped data: ORDER BY updated_at, id LIMIT Limit() OFFSET Offset().
func (r ListRequest) Offset() int { return (r.Page - 1) * r.PageSize }

// Limit returns PageSize.
func (r ListRequest) Limit() int { return r.PageSize }

// Query returns the request as a pagination.Query, for the stores and helpers that take one
// (feed.Feed's Page, pagination.PageOf). feed.List does it for you.
func (r ListRequest) Query() pagination.Query { return pagination.Query(r) }

// Page is one page of a list answer.
type Page[T any] struct {
	// Items holds exactly req.PageSize items, fewer only when the data is exhausted, sorted by the
	// route's time field then by a stable tie order, all at or after req.From.
	Items []T
	// Encoded, when not nil, is the page as a feed keeps it (feed.List fills it): each item's JSON,
	// validated when it was stored (models.Encode), in the order Items would have. The handler then
	// writes these bytes and ignores Items, checking only the page's size and repeated items.
	Encoded []models.Encoded
}

// Provider is the core of a middleware: the read operations Formance polls. Every method receives the
// request's context, which carries the authenticated tenant (see TenantFrom) and is cancelled when
// Formance goes away.
//
// The library validates each item a provider returns before writing it; an item that breaks the
// contract is never sent (it would stall Formance's sync) and the request fails with a 500 that names
// it. Errors a provider returns are mapped to HTTP statuses by kind (see ErrNotFound and friends).
//
// For a PSP that pages by cursor, implement CursorProvider instead.
//
// Implementations must be safe for concurrent use.
type Provider interface {
	// ListAccounts returns one page of internal accounts, sorted by CreatedAt (ties in a stable order),
	// keeping only accounts with CreatedAt at or after req.From. Called for GET /accounts.
	ListAccounts(ctx context.Context, req ListRequest) (Page[models.Account], error)
	// ListBeneficiaries returns one page of beneficiaries, like ListAccounts. Called for GET /beneficiaries.
	ListBeneficiaries(ctx context.Context, req ListRequest) (Page[models.Beneficiary], error)
	// ListTransactions returns one page of transactions sorted by UpdatedAt (ties in a stable order),
	// keeping only transactions with UpdatedAt at or after req.From. Every change to a transaction must
	// move its UpdatedAt strictly forward. Called for GET /transactions.
	ListTransactions(ctx context.Context, req ListRequest) (Page[models.Transaction], error)
	// GetBalances returns the current balances of one account. Return an error wrapping ErrNotFound for
	// an unknown account. The library sets AccountID to accountID when it is left empty and refuses a
	// different one. Called for GET /accounts/{accountId}/balances, after every accounts poll.
	GetBalances(ctx context.Context, accountID string) (models.Balances, error)
}

// PayoutCreator is implemented by providers that can pay money out (POST /payouts). Without it the
// route answers 405, a final answer whose Detail names this interface: Formance marks the payment
// initiation FAILED at once (a 501 would be retried for ever).
//
// The library calls CreatePayout at most once per idempotency key and answers every repeat itself,
// so what the method returns decides the key for good:
//
//   - A payout (nil error): the PSP made it. The answer is stored and replayed, even when the record
//     breaks the contract (a zero CreatedAt, a status outside the enum, another IdempotencyKey): the
//     library then answers a 500 naming the field, and replays that 500 rather than pay twice.
//   - ErrInvalidRequest, ErrNotFound, ErrConflict: a final refusal (nothing was paid), stored and
//     replayed; Formance marks the initiation FAILED. ErrNotImplemented is a final 405.
//   - ErrUnavailable, ErrRateLimited: only when the PSP certainly did not act (the connection was
//     refused, the PSP answered 429 or 503). The key is released and Formance's retry calls you again.
//   - Any other error, and a panic: the outcome is unknown (a timeout after the request was sent, a
//     reset connection). The key stays blocked for the in-flight TTL (httpserver's
//     WithIdempotencyInFlightTTL, 24 hours by default): repeats get 423, which Formance retries, and
//     the provider is not called again before it ends. Pass the idempotency key on to the PSP when its
//     API takes one, so that the call after that is safe too.
//
// The payout's row in ListTransactions: Formance keys the payment of a payout it created by the
// request's IdempotencyKey, and joins a polled transaction to it only when the row carries
// RelatedTransactionID = IdempotencyKey and type PAYOUT. The library does this for you: a row of
// type PAYOUT, without RelatedTransactionID, whose ID is the ID of a payout CreatePayout returned, is
// served with RelatedTransactionID set to that payout's idempotency key (the link is kept in the
// idempotency store, so it holds across restarts and replicas sharing a store). So give the row the
// payout's ID. A provider that builds its rows under other ids sets RelatedTransactionID itself; so
// does one whose rows can reach Formance through another replica before CreatePayout has returned
// (the library waits for writes in flight on the same handler only).
type PayoutCreator interface {
	// CreatePayout asks the PSP to make the payout and returns its record, with the request's
	// IdempotencyKey (an empty one is filled in). See the interface for what each answer means.
	CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error)
}

// TransferCreator is implemented by providers that can move money between their own accounts
// (POST /transfers). Without it the route answers 405. The rules of PayoutCreator apply, with type
// TRANSFER for the transfer's row in ListTransactions.
type TransferCreator interface {
	// CreateTransfer asks the PSP to make the transfer and returns its record.
	CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error)
}

// PayoutGetter is implemented by providers that can report a payout's current state
// (GET /payouts/{payoutId}). Without it the route answers 501.
type PayoutGetter interface {
	// GetPayout returns the payout, or an error wrapping ErrNotFound.
	GetPayout(ctx context.Context, payoutID string) (models.Payout, error)
}

// TransferGetter is implemented by providers that can report a transfer's current state
// (GET /transfers/{transferId}). Without it the route answers 501.
type TransferGetter interface {
	// GetTransfer returns the transfer, or an error wrapping ErrNotFound.
	GetTransfer(ctx context.Context, transferID string) (models.Transfer, error)
}

// BankAccountCreator is implemented by providers that can register external bank accounts
// (POST /bank-accounts). Without it the route answers 405. The answers mean what they mean for
// PayoutCreator.
type BankAccountCreator interface {
	// CreateBankAccount registers the bank account and returns its record.
	CreateBankAccount(ctx context.Context, req models.BankAccountRequest) (models.BankAccount, error)
}

// CursorProvider is the core of a middleware whose PSP pages by cursor (Stripe's starting_after,
// say) rather than by page number: the same read operations as Provider, but each list method is
// given the cursor that starts the page and returns the cursor of the next one. It is an
// alternative to Provider, not an addition: a type implements one or the other (the list methods
// share their names), and the compiler checks the whole method set.
//
// httpserver.CursorPaged turns a CursorProvider into the Provider that httpserver.New serves: it
// answers Formance's page numbers by calling the list methods from the cursor that starts the page
// asked for and remembering each returned next cursor in the handler's cursor cache, so a
// sequential walk (page 1, 2, 3 …) costs one call per page, and a page it has no cursor for is
// reached by walking from the nearest page before it. A list method may return fewer items than
// asked for with a non-empty Next (the page is filled by calling it again from there).
//
// The optional capabilities (PayoutCreator, …) are discovered on the CursorProvider itself.
//
// The items are served with the times the list methods return, and Formance's poller keeps only
// items strictly after the last time it saw: when several items can share one timestamp (a PSP
// giving times to the second), those at the cut of a fetch are skipped, and a change that does not
// move UpdatedAt forward is never fetched. For such a PSP, mirror its data into a feed (packages
// feed and ingest; examples/cursorpsp) and implement Provider with feed.List.
//
// Implementations must be safe for concurrent use. Every method receives the request's context,
// which carries the authenticated tenant (see TenantFrom).
type CursorProvider interface {
	// ListAccounts returns the accounts from req.Cursor on, sorted by CreatedAt in req.Sort's
	// direction, at or after req.From: at most req.PageSize of them, and the cursor of the next
	// one. Called for GET /accounts.
	ListAccounts(ctx context.Context, req CursorRequest) (CursorPage[models.Account], error)
	// ListBeneficiaries returns beneficiaries, like ListAccounts. Called for GET /beneficiaries.
	ListBeneficiaries(ctx context.Context, req CursorRequest) (CursorPage[models.Beneficiary], error)
	// ListTransactions returns transactions sorted by UpdatedAt, like ListAccounts. Called for
	// GET /transactions.
	ListTransactions(ctx context.Context, req CursorRequest) (CursorPage[models.Transaction], error)
	// GetBalances is Provider's GetBalances. Called for GET /accounts/{accountId}/balances.
	GetBalances(ctx context.Context, accountID string) (models.Balances, error)
}

// CursorRequest is one call of a CursorProvider's list method: where to start and how many items at
// most, with the order and lower bound of Formance's request, to apply upstream.
type CursorRequest struct {
	// Cursor is where to start: "" for the beginning of the data, otherwise a Next that this list
	// method returned.
	Cursor string
	// PageSize is the largest number of items to return, at least 1.
	PageSize int
	// Sort is the order asked for (see ListRequest.Sort).
	Sort pagination.Sort
	// From is the inclusive lower bound on the time field, the zero time for none (see
	// ListRequest.From).
	From time.Time
}

// CursorPage is one page of a CursorProvider's list answer.
type CursorPage[T any] struct {
	// Items holds at most req.PageSize items, in order.
	Items []T
	// Next is the cursor of the item after the last one of Items, or "" when there is none: the data
	// is exhausted. Return the cursor you were given only with items: the same cursor and no items
	// would be asked again for ever, and is refused as a provider bug.
	Next string
}
