// Package connector defines what an integrator implements to connect a PSP to Formance: the Provider
// interface (the four read operations every middleware must serve), optional capability interfaces
// for writes and status reads, the errors a provider returns, and the tenant carried in the context.
//
// A Provider knows nothing about HTTP: package httpserver turns it into the http.Handler that
// Formance's Generic Connector polls, and does the parsing, validation, authentication and error
// mapping. This package is not for serving or testing; see httpserver and connectortest.
package connector

import (
	"context"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// ListRequest is one list request from Formance, parsed and validated by the library: page, page
// size, sort, the inclusive …From lower bound and, for CursorPaged providers, the cursor.
type ListRequest = pagination.Query

// Page is one page of a list answer.
type Page[T any] struct {
	// Items holds exactly req.PageSize items, fewer only when the data is exhausted, sorted by the
	// route's time field then by a stable tie order, all at or after req.From.
	Items []T
	// Encoded, when not nil, is the page as a feed keeps it (feed.List fills it): each item's JSON,
	// validated when it was stored (models.Encode), in the order Items would have. The handler then
	// writes these bytes and ignores Items, checking only the page's size and repeated items.
	Encoded []models.Encoded
	// NextCursor is used only by CursorPaged providers: the opaque cursor that starts the next page,
	// or "" when there is none. Page-numbered providers leave it empty.
	NextCursor string
}

// Provider is the core of a middleware: the read operations Formance polls. Every method receives the
// request's context, which carries the authenticated tenant (see TenantFrom) and is cancelled when
// Formance goes away.
//
// The library validates each item a provider returns before writing it; an item that breaks the
// contract is never sent (it would stall Formance's sync) and the request fails with a 500 that names
// it. Errors a provider returns are mapped to HTTP statuses by kind (see ErrNotFound and friends).
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

// CursorPaged is implemented by providers whose upstream PSP pages by cursor (Stripe's
// starting_after, say) rather than by page number. For such a provider the library ignores page
// numbers on the way in: it calls the list methods with req.Cursor set to the cursor that starts the
// page Formance asked for ("" for the first page) and remembers each returned NextCursor, so a
// sequential walk costs one upstream call per page. A page it has no cursor for is reached by walking
// from the first page. The provider must treat req.Page as informational only.
type CursorPaged interface {
	Provider
	// PagesByCursor marks the provider as cursor-paged. It is never called.
	PagesByCursor()
}
