package bench

import (
	"context"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Provider is the library side of the comparison: a connector.Provider serving its routes from
// feed.Memory feeds (the embedded default, as an integrator would start) and creating payouts
// through the same PSP as the Baseline.
type Provider struct {
	Accounts      *feed.Memory[models.Account]
	Beneficiaries *feed.Memory[models.Beneficiary]
	Transactions  *feed.Memory[models.Transaction]
	PSP           *PSP
}

// NewProvider returns a provider with empty feeds creating payouts through psp.
func NewProvider(psp *PSP) *Provider {
	return &Provider{Accounts: feed.NewMemoryAccounts(), Beneficiaries: feed.NewMemoryBeneficiaries(),
		Transactions: feed.NewMemoryTransactions(), PSP: psp}
}

var (
	_ connector.Provider      = (*Provider)(nil)
	_ connector.PayoutCreator = (*Provider)(nil)
)

// ListAccounts implements connector.Provider.
func (p *Provider) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return feed.List(ctx, p.Accounts, req)
}

// ListBeneficiaries implements connector.Provider.
func (p *Provider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return feed.List(ctx, p.Beneficiaries, req)
}

// ListTransactions implements connector.Provider.
func (p *Provider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, p.Transactions, req)
}

// GetBalances implements connector.Provider: every known account has no balance.
func (p *Provider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	tenant, _ := connector.TenantFrom(ctx)
	_, ok, err := p.Accounts.Get(ctx, tenant, accountID)
	switch {
	case err != nil:
		return models.Balances{}, err
	case !ok:
		return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
	}
	return models.Balances{ID: "bal_" + accountID, AccountID: accountID}, nil
}

// CreatePayout implements connector.PayoutCreator.
func (p *Provider) CreatePayout(_ context.Context, req models.PayoutRequest) (models.Payout, error) {
	return p.PSP.CreatePayout(req)
}

// Served returns every transaction slot of tenant as the library serves it, in served-time order
// (superseded slots included): the data the hand-written handlers serve, so that all serve the
// same bytes.
func (p *Provider) Served(ctx context.Context, tenant string) ([]models.Transaction, error) {
	var out []models.Transaction
	for page := 1; ; page++ {
		q := pagination.Query{Page: page, PageSize: 1000,
			Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
		items, err := p.Transactions.Page(ctx, tenant, q)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) < q.PageSize {
			return out, nil
		}
	}
}
