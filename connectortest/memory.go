package connectortest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// MemoryProvider is an in-memory connector.Provider, with payouts and transfers, built on package
// feed: serve it with httpserver.New for a working middleware over generated or hand-written data,
// in tests and demos. It implements connector.Provider, connector.PayoutCreator,
// connector.TransferCreator, connector.PayoutGetter and connector.TransferGetter.
//
// Lists are served by one feed.Memory per route, built with the options given to
// NewMemoryProvider: every item is served with a unique time that only moves forward (see package
// feed), which keeps Formance's poller lossless with coarse PSP timestamps and with changes while
// it pages. NewLossyMemoryProvider serves the PSP's times as they are instead, sorted by (time, id),
// which reproduces the loss of a plain middleware.
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
// All methods are safe for concurrent use. The data is shared by every tenant: the feeds hold it
// under one tenant whatever the request's.
type MemoryProvider struct {
	accounts      feed.Feed[models.Account]
	beneficiaries feed.Feed[models.Beneficiary]
	transactions  feed.Feed[models.Transaction]

	mu        sync.Mutex
	pspTimes  map[string]time.Time // transaction id -> its updatedAt as last put, for Transaction
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

// memoryTenant is the tenant the feeds hold the shared data under.
const memoryTenant = ""

// NewMemoryProvider returns an empty MemoryProvider whose three list feeds are feed.Memory values
// built with opts (feed.WithRetention, feed.WithClock). It panics when an option is invalid (an
// error wrapping feed.ErrInvalidConfig): a programming error.
func NewMemoryProvider(opts ...feed.Option) *MemoryProvider {
	accounts, err := feed.NewMemory(feed.AccountKeys(), opts...)
	if err != nil {
		panic(fmt.Sprintf("connectortest: NewMemoryProvider: %v", err))
	}
	beneficiaries, err := feed.NewMemory(feed.BeneficiaryKeys(), opts...)
	if err != nil {
		panic(fmt.Sprintf("connectortest: NewMemoryProvider: %v", err))
	}
	transactions, err := feed.NewMemory(feed.TransactionKeys(), opts...)
	if err != nil {
		panic(fmt.Sprintf("connectortest: NewMemoryProvider: %v", err))
	}
	return newMemoryProvider(accounts, beneficiaries, transactions)
}

// NewLossyMemoryProvider returns an empty MemoryProvider that serves every item with the PSP's own
// time, sorted by (time, id), the way a plain middleware does: items sharing one timestamp across
// the cut of Formance's poller, late items, and changes that do not move updatedAt forward are
// never seen by Formance. Use it only in tests that demonstrate the loss (or replay the poller on
// exact times).
func NewLossyMemoryProvider() *MemoryProvider {
	return newMemoryProvider(
		newPlainFeed(feed.AccountKeys()), newPlainFeed(feed.BeneficiaryKeys()), newPlainFeed(feed.TransactionKeys()))
}

func newMemoryProvider(accounts feed.Feed[models.Account], beneficiaries feed.Feed[models.Beneficiary], transactions feed.Feed[models.Transaction]) *MemoryProvider {
	return &MemoryProvider{
		accounts:      accounts,
		beneficiaries: beneficiaries,
		transactions:  transactions,
		pspTimes:      make(map[string]time.Time),
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

// PutAccounts adds accounts, or replaces those with a known id (Formance keeps the first version of
// an account: a replacement keeps its served time). Accounts that break the contract are refused
// (an error wrapping models.ErrInvalid) and nothing is stored.
func (m *MemoryProvider) PutAccounts(accounts ...models.Account) error {
	if err := validateAll(accounts); err != nil {
		return err
	}
	return m.accounts.Put(context.Background(), memoryTenant, accounts...)
}

// PutBeneficiaries adds beneficiaries, or replaces those with a known id, like PutAccounts.
func (m *MemoryProvider) PutBeneficiaries(beneficiaries ...models.Beneficiary) error {
	if err := validateAll(beneficiaries); err != nil {
		return err
	}
	return m.beneficiaries.Put(context.Background(), memoryTenant, beneficiaries...)
}

// PutTransactions adds transactions, or stores the new state of those with a known id (a status
// change, say), in order. A changed transaction is served again with a later updatedAt even if its
// own did not move (NewLossyMemoryProvider: with its own).
func (m *MemoryProvider) PutTransactions(transactions ...models.Transaction) error {
	if err := validateAll(transactions); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.putTransactionsLocked(transactions)
}

// putTransactionsLocked stores valid transactions and remembers their own updatedAt. Call with mu
// held, so that the feed and pspTimes agree on the latest version.
func (m *MemoryProvider) putTransactionsLocked(transactions []models.Transaction) error {
	if err := m.transactions.Put(context.Background(), memoryTenant, transactions...); err != nil {
		return fmt.Errorf("connectortest: MemoryProvider: %w", err)
	}
	for _, tx := range transactions {
		m.pspTimes[tx.ID] = tx.UpdatedAt
	}
	return nil
}

// ErrUnknownTransaction is returned by SetStatus for an id that was never put.
var ErrUnknownTransaction = errors.New("connectortest: unknown transaction")

// SetStatus changes the status of a stored transaction and sets its updatedAt (the PSP's time of the
// change), and returns the new state. For the transaction of a payout or transfer, the payout
// (transfer) that GetPayout (GetTransfer) returns changes with it.
func (m *MemoryProvider) SetStatus(id string, status models.TransactionStatus, updatedAt time.Time) (models.Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, ok, err := m.transactions.Get(context.Background(), memoryTenant, id)
	if err != nil {
		return models.Transaction{}, err
	}
	if !ok {
		return models.Transaction{}, fmt.Errorf("%w: %q", ErrUnknownTransaction, id)
	}
	tx.Status = status
	tx.UpdatedAt = updatedAt
	if err := m.putRowLocked(tx); err != nil {
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

// Transaction returns the latest state of a stored transaction as it was put (with the PSP's own
// updatedAt, not the served one).
func (m *MemoryProvider) Transaction(id string) (models.Transaction, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, ok, err := m.transactions.Get(context.Background(), memoryTenant, id)
	if err != nil || !ok {
		return models.Transaction{}, false
	}
	if at, ok := m.pspTimes[id]; ok {
		tx.UpdatedAt = at
	}
	return tx, true
}

// ListAccounts implements connector.Provider.
func (m *MemoryProvider) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return listShared(ctx, m.accounts, req)
}

// ListBeneficiaries implements connector.Provider.
func (m *MemoryProvider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return listShared(ctx, m.beneficiaries, req)
}

// ListTransactions implements connector.Provider.
func (m *MemoryProvider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return listShared(ctx, m.transactions, req)
}

// listShared answers a list request from the shared data, whatever the request's tenant (feed.List
// would read the tenant of ctx).
func listShared[T any](ctx context.Context, f feed.Feed[T], req connector.ListRequest) (connector.Page[T], error) {
	if l, ok := f.(feed.PageLister[T]); ok {
		return l.ListPage(ctx, memoryTenant, req.Query()) // the stored encodings, written as they are
	}
	items, err := f.Page(ctx, memoryTenant, req.Query())
	if err != nil {
		return connector.Page[T]{}, err
	}
	return connector.Page[T]{Items: items}, nil
}

// GetBalances implements connector.Provider: the balances set for the account (none when never set),
// at the current time, or connector.ErrNotFound for an unknown account.
func (m *MemoryProvider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	ok, err := known(ctx, m.accounts, accountID)
	if err != nil {
		return models.Balances{}, err
	}
	if !ok {
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

// known reports whether f holds an item with id.
func known[T any](ctx context.Context, f feed.Feed[T], id string) (bool, error) {
	_, ok, err := f.Get(ctx, memoryTenant, id)
	return ok, err
}

// checkAccounts returns connector.ErrInvalidRequest unless src is a known account and dst a known
// account (or, when toBeneficiary is set, a known beneficiary).
func (m *MemoryProvider) checkAccounts(ctx context.Context, src, dst string, toBeneficiary bool) error {
	ok, err := known(ctx, m.accounts, src)
	if err != nil {
		return err
	}
	if !ok {
		return connector.InvalidRequest("source account %q does not exist", src)
	}
	if ok, err = known(ctx, m.accounts, dst); err != nil || ok {
		return err
	}
	if !toBeneficiary {
		return connector.InvalidRequest("destination account %q does not exist", dst)
	}
	if ok, err = known(ctx, m.beneficiaries, dst); err != nil || ok {
		return err
	}
	return connector.InvalidRequest("destination %q is neither a beneficiary nor an account", dst)
}

// putRowLocked validates and stores one transaction. Call with mu held.
func (m *MemoryProvider) putRowLocked(row models.Transaction) error {
	if err := validateAll([]models.Transaction{row}); err != nil {
		return err
	}
	return m.putTransactionsLocked([]models.Transaction{row})
}

func sameRequest(a, b models.PayoutRequest) bool {
	return a.IdempotencyKey == b.IdempotencyKey && a.Amount.Equal(b.Amount) && a.Currency == b.Currency &&
		a.SourceAccountID == b.SourceAccountID && a.DestinationAccountID == b.DestinationAccountID &&
		a.Description == b.Description && maps.Equal(a.Metadata, b.Metadata)
}

// CreatePayout implements connector.PayoutCreator.
func (m *MemoryProvider) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
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
	if err := m.checkAccounts(ctx, req.SourceAccountID, req.DestinationAccountID, true); err != nil {
		return models.Payout{}, err
	}
	m.seq++
	now := m.now()
	p := models.Payout{
		ID: fmt.Sprintf("po_%06d", m.seq), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount,
		Currency: req.Currency, SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: now, UpdatedAt: now,
		Metadata: maps.Clone(req.Metadata),
	}
	if err := m.putRowLocked(writeRow(p, models.TransactionTypePayout)); err != nil {
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
func (m *MemoryProvider) CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error) {
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
	if err := m.checkAccounts(ctx, req.SourceAccountID, req.DestinationAccountID, false); err != nil {
		return models.Transfer{}, err
	}
	m.seq++
	now := m.now()
	t := models.Transfer{
		ID: fmt.Sprintf("tr_%06d", m.seq), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount,
		Currency: req.Currency, SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: now, UpdatedAt: now,
		Metadata: maps.Clone(req.Metadata),
	}
	if err := m.putRowLocked(writeRow(models.Payout(t), models.TransactionTypeTransfer)); err != nil {
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

// plainFeed is the feed.Feed of NewLossyMemoryProvider: items served as they were put, with their
// own times, sorted by (time, id); a change replaces the item where its new time sorts. It ignores
// the tenant (the data is shared) and has nothing to prune.
type plainFeed[T any] struct {
	keys feed.Keys[T]

	mu     sync.RWMutex
	byID   map[string]T
	sorted []T // by (time, id)
}

var _ feed.Feed[models.Account] = (*plainFeed[models.Account])(nil)

func newPlainFeed[T any](keys feed.Keys[T]) *plainFeed[T] {
	return &plainFeed[T]{keys: keys, byID: make(map[string]T)}
}

func (f *plainFeed[T]) compare(a, b T) int {
	return cmp.Or(f.keys.Time(a).Compare(f.keys.Time(b)), strings.Compare(f.keys.ID(a), f.keys.ID(b)))
}

// Put implements feed.Feed.
func (f *plainFeed[T]) Put(ctx context.Context, _ string, items ...T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, it := range items {
		if _, err := f.keys.Want(it); err != nil {
			return fmt.Errorf("item %d of %d: %w", i+1, len(items), err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		id := f.keys.ID(it)
		if old, ok := f.byID[id]; ok {
			if i, found := slices.BinarySearchFunc(f.sorted, old, f.compare); found {
				f.sorted = slices.Delete(f.sorted, i, i+1)
			}
		}
		i, _ := slices.BinarySearchFunc(f.sorted, it, f.compare)
		f.sorted = slices.Insert(f.sorted, i, it)
		f.byID[id] = it
	}
	return nil
}

// Load implements feed.Feed.
func (f *plainFeed[T]) Load(ctx context.Context, tenant string, items []T) error {
	f.mu.RLock()
	n := len(f.sorted)
	f.mu.RUnlock()
	if n > 0 {
		return feed.ErrNotEmpty
	}
	return f.Put(ctx, tenant, items...)
}

// Page implements feed.Feed.
func (f *plainFeed[T]) Page(ctx context.Context, _ string, q pagination.Query) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	first := 0
	if !q.From.IsZero() {
		first, _ = slices.BinarySearchFunc(f.sorted, q.From, func(it T, from time.Time) int {
			if f.keys.Time(it).Before(from) {
				return -1
			}
			return 1
		})
	}
	listing := f.sorted[first:]
	off := min(q.Offset(), len(listing))
	n := min(q.PageSize, len(listing)-off)
	out := make([]T, n)
	for i := range n {
		if q.Sort.Direction == pagination.Descending {
			out[i] = listing[len(listing)-1-off-i]
		} else {
			out[i] = listing[off+i]
		}
	}
	return out, nil
}

// Get implements feed.Feed.
func (f *plainFeed[T]) Get(_ context.Context, _, id string) (T, bool, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	it, ok := f.byID[id]
	return it, ok, nil
}

// Prune implements feed.Feed: nothing is ever superseded.
func (f *plainFeed[T]) Prune(context.Context) (int, error) { return 0, nil }
