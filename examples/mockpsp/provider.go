package main

import (
	"context"
	"errors"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
)

// Provider connects the simulated PSP to Formance. It is the part of this example to copy: replace
// the calls to the Dataset by calls to your PSP's API and keep the rest.
//
// The library (package httpserver) does everything around it: authentication, query parsing,
// validation of every item before it is sent, error mapping. The provider only answers in the
// contract's types and says what went wrong with the connector error kinds.
type Provider struct {
	psp *PSP
}

// The optional capabilities this provider offers. Leaving one out makes its route answer 501.
var (
	_ connector.Provider           = (*Provider)(nil)
	_ connector.PayoutCreator      = (*Provider)(nil)
	_ connector.TransferCreator    = (*Provider)(nil)
	_ connector.PayoutGetter       = (*Provider)(nil)
	_ connector.TransferGetter     = (*Provider)(nil)
	_ connector.BankAccountCreator = (*Provider)(nil)
)

// NewProvider returns the provider serving every tenant of psp.
func NewProvider(psp *PSP) *Provider { return &Provider{psp: psp} }

// errNoTenant means the provider was called outside an authenticated request: a wiring mistake.
var errNoTenant = errors.New("mockpsp: no tenant in the request context")

// dataset picks the tenant's data. The tenant is named after the API key (see authenticate in
// main.go), so every key is its own isolated dataset.
func (p *Provider) dataset(ctx context.Context) (*Dataset, error) {
	tenant, ok := connector.TenantFrom(ctx)
	if !ok || tenant == "" {
		return nil, errNoTenant
	}
	return p.psp.TenantDataset(tenant), nil
}

// ListAccounts serves GET /accounts from the accounts feed, in one line: the feed answers exactly
// the page asked for, sorted by a served createdAt that is unique and never moves, so Formance's
// poller skips nothing.
func (p *Provider) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	if _, err := p.dataset(ctx); err != nil {
		return connector.Page[models.Account]{}, err
	}
	return feed.List(ctx, p.psp.feeds.accounts, req)
}

// ListBeneficiaries serves GET /beneficiaries from the beneficiaries feed.
func (p *Provider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	if _, err := p.dataset(ctx); err != nil {
		return connector.Page[models.Beneficiary]{}, err
	}
	return feed.List(ctx, p.psp.feeds.beneficiaries, req)
}

// ListTransactions serves GET /transactions from the transactions feed. Every lifecycle change
// puts the transaction again, so it is served in a new slot with a later updatedAt and Formance
// fetches it on its next poll; its previous slot keeps its place, so a poller paging through a busy
// second does not see the later items shift.
func (p *Provider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	if _, err := p.dataset(ctx); err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	return feed.List(ctx, p.psp.feeds.transactions, req)
}

// GetBalances serves GET /accounts/{accountId}/balances; an unknown account is a 404.
func (p *Provider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	d, err := p.dataset(ctx)
	if err != nil {
		return models.Balances{}, err
	}
	return d.Balances(ctx, accountID)
}

// CreatePayout serves POST /payouts. Formance retries with the same idempotency key; the library
// answers those retries itself (httpserver stores each answer per tenant and key, and refuses the
// same key with another body with 409), so this is called once per key. A real PSP call should still
// pass req.IdempotencyKey on when the PSP's API takes one. A refused request is an
// ErrInvalidRequest (400): unknown account, and so on.
func (p *Provider) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	d, err := p.dataset(ctx)
	if err != nil {
		return models.Payout{}, err
	}
	return d.CreatePayout(ctx, req)
}

// CreateTransfer serves POST /transfers, with the rules of CreatePayout.
func (p *Provider) CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error) {
	d, err := p.dataset(ctx)
	if err != nil {
		return models.Transfer{}, err
	}
	return d.CreateTransfer(ctx, req)
}

// GetPayout serves GET /payouts/{payoutId}: the payout with its current status.
func (p *Provider) GetPayout(ctx context.Context, payoutID string) (models.Payout, error) {
	d, err := p.dataset(ctx)
	if err != nil {
		return models.Payout{}, err
	}
	return d.Payout(ctx, payoutID)
}

// GetTransfer serves GET /transfers/{transferId}.
func (p *Provider) GetTransfer(ctx context.Context, transferID string) (models.Transfer, error) {
	d, err := p.dataset(ctx)
	if err != nil {
		return models.Transfer{}, err
	}
	return d.Transfer(ctx, transferID)
}

// CreateBankAccount serves POST /bank-accounts.
func (p *Provider) CreateBankAccount(ctx context.Context, req models.BankAccountRequest) (models.BankAccount, error) {
	d, err := p.dataset(ctx)
	if err != nil {
		return models.BankAccount{}, err
	}
	return d.CreateBankAccount(ctx, req)
}
