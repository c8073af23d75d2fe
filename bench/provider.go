package bench

import (
	"context"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Provider is the library side of the comparison: a connector.Provider serving transactions from a
// pagination.Collection and creating payouts through the same PSP as the Baseline.
type Provider struct {
	Accounts      *pagination.Collection[models.Account]
	Beneficiaries *pagination.Collection[models.Beneficiary]
	Transactions  *pagination.Collection[models.Transaction]
	PSP           *PSP
}

// NewProvider returns a provider with empty collections creating payouts through psp.
func NewProvider(psp *PSP) *Provider {
	return &Provider{
		Accounts:      pagination.NewAccounts(),
		Beneficiaries: pagination.NewBeneficiaries(),
		Transactions:  pagination.NewTransactions(),
		PSP:           psp,
	}
}

var (
	_ connector.Provider      = (*Provider)(nil)
	_ connector.PayoutCreator = (*Provider)(nil)
)

// ListAccounts implements connector.Provider.
func (p *Provider) ListAccounts(_ context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{Items: p.Accounts.Page(req.Query())}, nil
}

// ListBeneficiaries implements connector.Provider.
func (p *Provider) ListBeneficiaries(_ context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{Items: p.Beneficiaries.Page(req.Query())}, nil
}

// ListTransactions implements connector.Provider.
func (p *Provider) ListTransactions(_ context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{Items: p.Transactions.Page(req.Query())}, nil
}

// GetBalances implements connector.Provider: every known account has no balance.
func (p *Provider) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	if _, ok := p.Accounts.Get(accountID); !ok {
		return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
	}
	return models.Balances{ID: "bal_" + accountID, AccountID: accountID}, nil
}

// CreatePayout implements connector.PayoutCreator.
func (p *Provider) CreatePayout(_ context.Context, req models.PayoutRequest) (models.Payout, error) {
	return p.PSP.CreatePayout(req)
}
