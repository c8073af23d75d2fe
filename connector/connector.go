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
// route answers 501.
type PayoutCreator interface {
	// CreatePayout asks the PSP to make the payout and returns its record, with the request's
	// IdempotencyKey. The library calls it once per idempotency key and answers repeats itself; still,
	// pass the key on to the PSP when its API takes one. Return ErrInvalidRequest for a request the PSP
	// refuses (unknown account, insufficient funds), ErrUnavailable or ErrRateLimited when a retry may
	// succeed.
	CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error)
}

// TransferCreator is implemented by providers that can move money between their own accounts
// (POST /transfers). Without it the route answers 501. The rules of PayoutCreator apply.
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
// (POST /bank-accounts). Without it the route answers 501.
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
