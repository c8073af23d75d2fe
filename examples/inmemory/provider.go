package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Provider is the smallest useful middleware: a PSP whose data lives in memory. Copy it and replace
// the data with calls to your PSP (or keep the collections as a local copy that a sync job fills).
//
// The pagination.Collection values do the part that is easy to get wrong: they sort, filter and page
// exactly as Formance's poller needs, and give every item a unique timestamp so that items sharing a
// second are never skipped.
type Provider struct {
	accounts      *pagination.Collection[models.Account]
	beneficiaries *pagination.Collection[models.Beneficiary]
	transactions  *pagination.Collection[models.Transaction]
	now           func() time.Time

	mu       sync.Mutex
	balances map[string][]models.Balance // by account id
	payouts  map[string]models.Payout    // by payout id, as created; status and times come from its transaction
	nextID   int
}

// Compile-time checks: the provider serves the four read routes and creates and reads payouts.
var (
	_ connector.Provider      = (*Provider)(nil)
	_ connector.PayoutCreator = (*Provider)(nil)
	_ connector.PayoutGetter  = (*Provider)(nil)
)

// NewProvider returns an empty provider whose clock is now.
func NewProvider(now func() time.Time) *Provider {
	return &Provider{
		accounts:      pagination.NewAccounts(),
		beneficiaries: pagination.NewBeneficiaries(),
		transactions:  pagination.NewTransactions(),
		now:           now,
		balances:      map[string][]models.Balance{},
		payouts:       map[string]models.Payout{},
	}
}

// ListAccounts serves GET /accounts.
func (p *Provider) ListAccounts(_ context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{Items: p.accounts.Page(req)}, nil
}

// ListBeneficiaries serves GET /beneficiaries.
func (p *Provider) ListBeneficiaries(_ context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{Items: p.beneficiaries.Page(req)}, nil
}

// ListTransactions serves GET /transactions.
func (p *Provider) ListTransactions(_ context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{Items: p.transactions.Page(req)}, nil
}

// GetBalances serves GET /accounts/{accountId}/balances.
func (p *Provider) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	if _, ok := p.accounts.Get(accountID); !ok {
		return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return models.Balances{
		ID:        "bal_" + accountID,
		AccountID: accountID,
		At:        p.now().UTC(),
		Balances:  append([]models.Balance{}, p.balances[accountID]...),
	}, nil
}

// CreatePayout serves POST /payouts. The library calls it once per idempotency key: Formance's
// retries get the stored answer, and the same key with another request is refused with 409, so this
// method does not deduplicate. A real provider passes req.IdempotencyKey on to its PSP.
//
// The payout is also a PAYOUT transaction with the same id in GET /transactions, so that Formance
// follows its status (the library fills that row's relatedTransactionID with the idempotency key).
// The answer carries the createdAt and updatedAt that row is served with.
func (p *Provider) CreatePayout(_ context.Context, req models.PayoutRequest) (models.Payout, error) {
	if _, ok := p.accounts.Get(req.SourceAccountID); !ok {
		return models.Payout{}, connector.InvalidRequest("source account %q does not exist", req.SourceAccountID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	now := p.now().UTC()
	payout := models.Payout{
		ID:                   fmt.Sprintf("po_%04d", p.nextID),
		IdempotencyKey:       req.IdempotencyKey,
		Amount:               req.Amount,
		Currency:             req.Currency,
		SourceAccountID:      req.SourceAccountID,
		DestinationAccountID: req.DestinationAccountID,
		Description:          req.Description,
		Status:               models.TransactionStatusPending,
		CreatedAt:            now,
		UpdatedAt:            now,
		Metadata:             req.Metadata,
	}
	if err := p.transactions.Put(models.Transaction{
		ID:                   payout.ID,
		CreatedAt:            now,
		UpdatedAt:            now,
		Currency:             payout.Currency,
		Type:                 models.TransactionTypePayOut,
		Status:               payout.Status,
		Amount:               payout.Amount,
		SourceAccountID:      payout.SourceAccountID,
		DestinationAccountID: payout.DestinationAccountID,
		Metadata:             payout.Metadata,
	}); err != nil {
		return models.Payout{}, err
	}
	p.payouts[payout.ID] = payout
	return p.payoutLocked(payout.ID)
}

// GetPayout serves GET /payouts/{payoutId}: the payout with the status of its transaction and the
// same createdAt and updatedAt as that transaction in GET /transactions.
func (p *Provider) GetPayout(_ context.Context, payoutID string) (models.Payout, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.payoutLocked(payoutID)
}

// payoutLocked returns a payout with the status and the served times of its transaction (GetServed
// gives the item exactly as Page serves it). Call with mu held.
func (p *Provider) payoutLocked(id string) (models.Payout, error) {
	payout, ok := p.payouts[id]
	tx, found := p.transactions.GetServed(id)
	if !ok || !found {
		return models.Payout{}, connector.NotFound("payout %q does not exist", id)
	}
	payout.Status, payout.CreatedAt, payout.UpdatedAt = tx.Status, tx.CreatedAt, tx.UpdatedAt
	return payout, nil
}

// AddAccount stores an account with its balances.
func (p *Provider) AddAccount(a models.Account, balances ...models.Balance) error {
	if err := models.Validate(a); err != nil {
		return err
	}
	if err := p.accounts.Put(a); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.balances[a.ID] = balances
	return nil
}

// AddBeneficiary stores a beneficiary.
func (p *Provider) AddBeneficiary(b models.Beneficiary) error {
	if err := models.Validate(b); err != nil {
		return err
	}
	return p.beneficiaries.Put(b)
}

// PutTransaction stores a new transaction or a new state of one. A changed transaction is served
// again with a later updatedAt, so Formance sees every change.
func (p *Provider) PutTransaction(tx models.Transaction) error {
	if err := models.Validate(tx); err != nil {
		return err
	}
	return p.transactions.Put(tx)
}

// SetTransactionStatus moves a transaction to a new status, as the PSP would report it.
func (p *Provider) SetTransactionStatus(id string, status models.TransactionStatus) error {
	tx, ok := p.transactions.Get(id)
	if !ok {
		return connector.NotFound("transaction %q does not exist", id)
	}
	tx.Status = status
	tx.UpdatedAt = p.now().UTC()
	return p.PutTransaction(tx) // a payout's status is read from its transaction
}
