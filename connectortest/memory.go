package connectortest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// MemoryProvider is an in-memory connector.Provider, with payouts and transfers, built on
// pagination.Collection: serve it with httpserver.New for a working middleware over generated or
// hand-written data, in tests and demos. It implements connector.Provider, connector.PayoutCreator,
// connector.TransferCreator, connector.PayoutGetter and connector.TransferGetter.
//
// Lists are served by one pagination.Collection per route, built with the options given to
// NewMemoryProvider: by default every item is served with a unique timestamp, which keeps Formance's
// poller lossless with coarse PSP timestamps; pagination.WithoutTieBreaking serves the PSP's times
// as they are, which reproduces the loss.
//
// Writes are idempotent by IdempotencyKey: the same key with the same request returns the first
// payout (or transfer); the same key with a different request is refused with connector.ErrConflict.
// A payout's source must be a known account and its destination a known beneficiary or account; a
// transfer's source and destination must be known accounts (connector.ErrInvalidRequest otherwise).
// Payouts and transfers are created PENDING, and each one is also put as a transaction with the same
// id, type PAYOUT (TRANSFER), its status, amount, currency and accounts, the way a PSP lists the
// payouts it makes: SetStatus on that id moves the transaction and the payout (transfer) together.
// The row leaves relatedTransactionID empty, as the PSP's own record would: linking it to Formance's
// payment (relatedTransactionID = the payout's idempotencyKey, which Formance needs to join the row
// to the payment initiation) is left to the server in front of the provider.
//
// All methods are safe for concurrent use. The data is shared by every tenant.
type MemoryProvider struct {
	accounts      *pagination.Collection[models.Account]
	beneficiaries *pagination.Collection[models.Beneficiary]
	transactions  *pagination.Collection[models.Transaction]

	mu        sync.Mutex
	balances  map[string][]models.Balance
	payouts   map[string]models.Payout   // by id
	transfers map[string]models.Transfer // by id
	payoutBy  map[string]string          // idempotency key -> payout id
	transBy   map[string]string          // idempotency key -> transfer id
	seq       int
	now       func() time.Time
}

var (
	_ connector.Provider        = (*MemoryProvider)(nil)
	_ connector.PayoutCreator   = (*MemoryProvider)(nil)
	_ connector.TransferCreator = (*MemoryProvider)(nil)
	_ connector.PayoutGetter    = (*MemoryProvider)(nil)
	_ connector.TransferGetter  = (*MemoryProvider)(nil)
)

// NewMemoryProvider returns an empty MemoryProvider whose three list Collections are built with
// opts (pagination.WithResolution, pagination.WithoutTieBreaking).
func NewMemoryProvider(opts ...pagination.CollectionOption) *MemoryProvider {
	return &MemoryProvider{
		accounts:      pagination.NewAccounts(opts...),
		beneficiaries: pagination.NewBeneficiaries(opts...),
		transactions:  pagination.NewTransactions(opts...),
		balances:      make(map[string][]models.Balance),
		payouts:       make(map[string]models.Payout),
		transfers:     make(map[string]models.Transfer),
		payoutBy:      make(map[string]string),
		transBy:       make(map[string]string),
		now:           func() time.Time { return time.Now().UTC() },
	}
}

// Load adds everything of d: accounts, beneficiaries and transactions in d's order (which is the tie
// order of equal timestamps) and the balances of every account.
func (m *MemoryProvider) Load(d *Dataset) error {
	if err := m.PutAccounts(d.Accounts...); err != nil {
		return err
	}
	if err := m.PutBeneficiaries(d.Beneficiaries...); err != nil {
		return err
	}
	if err := m.PutTransactions(d.Transactions...); err != nil {
		return err
	}
	for id, b := range d.Balances {
		if err := m.SetBalances(id, b...); err != nil {
			return err
		}
	}
	return nil
}

// validateAll returns the first contract violation among items, wrapping models.ErrInvalid.
func validateAll[T any](items []T) error {
	for _, it := range items {
		if err := models.Validate(it); err != nil {
			return fmt.Errorf("connectortest: MemoryProvider: %w", err)
		}
	}
	return nil
}

// PutAccounts adds accounts, or replaces those with a known id. Accounts that break the contract are
// refused (an error wrapping models.ErrInvalid) and nothing is stored.
func (m *MemoryProvider) PutAccounts(accounts ...models.Account) error {
	if err := validateAll(accounts); err != nil {
		return err
	}
	return m.accounts.Put(accounts...)
}

// PutBeneficiaries adds beneficiaries, or replaces those with a known id, like PutAccounts.
func (m *MemoryProvider) PutBeneficiaries(beneficiaries ...models.Beneficiary) error {
	if err := validateAll(beneficiaries); err != nil {
		return err
	}
	return m.beneficiaries.Put(beneficiaries...)
}

// PutTransactions adds transactions, or stores the new state of those with a known id (a status
// change, say), in order. With tie-breaking (the default) a changed transaction is served again with
// a later updatedAt even if its own did not move; WithoutTieBreaking it is served with its own.
func (m *MemoryProvider) PutTransactions(transactions ...models.Transaction) error {
	if err := validateAll(transactions); err != nil {
		return err
	}
	return m.transactions.Put(transactions...)
}

// ErrUnknownTransaction is returned by SetStatus for an id that was never put.
var ErrUnknownTransaction = errors.New("connectortest: unknown transaction")

// SetStatus changes the status of a stored transaction and sets its updatedAt (the PSP's time of the
// change), and returns the new state. For the transaction of a payout or transfer, the payout
// (transfer) that GetPayout (GetTransfer) returns changes with it.
func (m *MemoryProvider) SetStatus(id string, status models.TransactionStatus, updatedAt time.Time) (models.Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, ok := m.transactions.Get(id)
	if !ok {
		return models.Transaction{}, fmt.Errorf("%w: %q", ErrUnknownTransaction, id)
	}
	tx.Status = status
	tx.UpdatedAt = updatedAt
	if err := m.PutTransactions(tx); err != nil {
		return models.Transaction{}, err
	}
	if p, ok := m.payouts[id]; ok {
		p.Status, p.UpdatedAt = status, updatedAt
		m.payouts[id] = p
	}
	if t, ok := m.transfers[id]; ok {
		t.Status, t.UpdatedAt = status, updatedAt
		m.transfers[id] = t
	}
	return tx, nil
}

// writeRow is the PSP's transaction for a payout or transfer: same id, the given type, no
// relatedTransactionID.
func writeRow(p models.Payout, typ models.TransactionType) models.Transaction {
	return models.Transaction{
		ID: p.ID, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Currency: p.Currency, Type: typ,
		Status: p.Status, Amount: p.Amount, SourceAccountID: p.SourceAccountID,
		DestinationAccountID: p.DestinationAccountID, Metadata: maps.Clone(p.Metadata),
	}
}

// SetBalances sets the balances of an account. Balances that break the contract are refused with an
// error wrapping models.ErrInvalid.
func (m *MemoryProvider) SetBalances(accountID string, balances ...models.Balance) error {
	for _, b := range balances {
		if err := models.Validate(b); err != nil {
			return fmt.Errorf("connectortest: MemoryProvider: account %q: %w", accountID, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.balances[accountID] = append([]models.Balance(nil), balances...)
	return nil
}

// Transaction returns a stored transaction as it was put (with the PSP's own updatedAt).
func (m *MemoryProvider) Transaction(id string) (models.Transaction, bool) {
	return m.transactions.Get(id)
}

// ListAccounts implements connector.Provider.
func (m *MemoryProvider) ListAccounts(_ context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{Items: m.accounts.Page(req)}, nil
}

// ListBeneficiaries implements connector.Provider.
func (m *MemoryProvider) ListBeneficiaries(_ context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{Items: m.beneficiaries.Page(req)}, nil
}

// ListTransactions implements connector.Provider.
func (m *MemoryProvider) ListTransactions(_ context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{Items: m.transactions.Page(req)}, nil
}

// GetBalances implements connector.Provider: the balances set for the account (none when never set),
// at the current time, or connector.ErrNotFound for an unknown account.
func (m *MemoryProvider) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	if _, ok := m.accounts.Get(accountID); !ok {
		return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return models.Balances{
		ID:        "bal_" + accountID,
		AccountID: accountID,
		At:        m.now(),
		Balances:  append([]models.Balance{}, m.balances[accountID]...),
	}, nil
}

func (m *MemoryProvider) isAccount(id string) bool {
	_, ok := m.accounts.Get(id)
	return ok
}

func (m *MemoryProvider) isBeneficiary(id string) bool {
	_, ok := m.beneficiaries.Get(id)
	return ok
}

func sameRequest(a, b models.PayoutRequest) bool {
	return a.IdempotencyKey == b.IdempotencyKey && a.Amount.Equal(b.Amount) && a.Currency == b.Currency &&
		a.SourceAccountID == b.SourceAccountID && a.DestinationAccountID == b.DestinationAccountID &&
		a.Description == b.Description && maps.Equal(a.Metadata, b.Metadata)
}

// CreatePayout implements connector.PayoutCreator.
func (m *MemoryProvider) CreatePayout(_ context.Context, req models.PayoutRequest) (models.Payout, error) {
	if err := models.Validate(req); err != nil {
		return models.Payout{}, connector.InvalidRequest("%v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.payoutBy[req.IdempotencyKey]; ok {
		p := m.payouts[id]
		if !sameRequest(requestOfPayout(p), req) {
			return models.Payout{}, connector.Conflict("idempotency key %q was used for payout %s with a different request", req.IdempotencyKey, id)
		}
		return p, nil
	}
	if !m.isAccount(req.SourceAccountID) {
		return models.Payout{}, connector.InvalidRequest("source account %q does not exist", req.SourceAccountID)
	}
	if !m.isBeneficiary(req.DestinationAccountID) && !m.isAccount(req.DestinationAccountID) {
		return models.Payout{}, connector.InvalidRequest("destination %q is neither a beneficiary nor an account", req.DestinationAccountID)
	}
	m.seq++
	now := m.now()
	p := models.Payout{
		ID: fmt.Sprintf("po_%06d", m.seq), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount,
		Currency: req.Currency, SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: now, UpdatedAt: now,
		Metadata: maps.Clone(req.Metadata),
	}
	if err := m.PutTransactions(writeRow(p, models.TransactionTypePayOut)); err != nil {
		return models.Payout{}, err
	}
	m.payouts[p.ID] = p
	m.payoutBy[req.IdempotencyKey] = p.ID
	return p, nil
}

func requestOfPayout(p models.Payout) models.PayoutRequest {
	return models.PayoutRequest{
		IdempotencyKey: p.IdempotencyKey, Amount: p.Amount, Currency: p.Currency,
		SourceAccountID: p.SourceAccountID, DestinationAccountID: p.DestinationAccountID,
		Description: p.Description, Metadata: p.Metadata,
	}
}

// CreateTransfer implements connector.TransferCreator.
func (m *MemoryProvider) CreateTransfer(_ context.Context, req models.TransferRequest) (models.Transfer, error) {
	if err := models.Validate(req); err != nil {
		return models.Transfer{}, connector.InvalidRequest("%v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.transBy[req.IdempotencyKey]; ok {
		t := m.transfers[id]
		if !sameRequest(requestOfPayout(models.Payout(t)), models.PayoutRequest(req)) {
			return models.Transfer{}, connector.Conflict("idempotency key %q was used for transfer %s with a different request", req.IdempotencyKey, id)
		}
		return t, nil
	}
	if !m.isAccount(req.SourceAccountID) {
		return models.Transfer{}, connector.InvalidRequest("source account %q does not exist", req.SourceAccountID)
	}
	if !m.isAccount(req.DestinationAccountID) {
		return models.Transfer{}, connector.InvalidRequest("destination account %q does not exist", req.DestinationAccountID)
	}
	m.seq++
	now := m.now()
	t := models.Transfer{
		ID: fmt.Sprintf("tr_%06d", m.seq), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount,
		Currency: req.Currency, SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: now, UpdatedAt: now,
		Metadata: maps.Clone(req.Metadata),
	}
	if err := m.PutTransactions(writeRow(models.Payout(t), models.TransactionTypeTransfer)); err != nil {
		return models.Transfer{}, err
	}
	m.transfers[t.ID] = t
	m.transBy[req.IdempotencyKey] = t.ID
	return t, nil
}

// GetPayout implements connector.PayoutGetter.
func (m *MemoryProvider) GetPayout(_ context.Context, id string) (models.Payout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payouts[id]
	if !ok {
		return models.Payout{}, connector.NotFound("payout %q does not exist", id)
	}
	return p, nil
}

// GetTransfer implements connector.TransferGetter.
func (m *MemoryProvider) GetTransfer(_ context.Context, id string) (models.Transfer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.transfers[id]
	if !ok {
		return models.Transfer{}, connector.NotFound("transfer %q does not exist", id)
	}
	return t, nil
}
