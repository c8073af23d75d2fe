package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// Provider is the smallest useful middleware: a PSP whose data lives in memory. Copy it and replace
// the data with calls to your PSP (or keep the feeds as a local copy that a sync job fills).
//
// The feeds (package feed) do the part that is easy to get wrong: they sort, filter and page
// exactly as Formance's poller needs, give every item a unique served time so that items sharing a
// second are never skipped, and move a changed transaction after everything Formance may have read,
// without shifting the items it has not read yet. feed.Memory keeps them in this process; package
// feed/pgfeed keeps them in PostgreSQL, for restarts and replicas, behind the same feed.Feed.
//
// Every item belongs to a tenant: the one httpserver authenticated the request as
// (connector.TenantFrom), which is httpserver.DefaultTenant for the key of WithAPIKey. feed.List reads
// it from the request; the methods that put data take a context for the same reason (see tenantOf).
type Provider struct {
	accounts      *feed.Memory[models.Account]
	beneficiaries *feed.Memory[models.Beneficiary]
	transactions  *feed.Memory[models.Transaction]
	now           func() time.Time

	mu       sync.Mutex
	balances map[ref][]models.Balance // by account
	payouts  map[ref]models.Payout    // as created; status and times come from its transaction
	nextID   int
}

// ref names an item of one tenant.
type ref struct{ tenant, id string }

// Compile-time checks: the provider serves the four read routes and creates and reads payouts.
var (
	_ connector.Provider      = (*Provider)(nil)
	_ connector.PayoutCreator = (*Provider)(nil)
	_ connector.PayoutGetter  = (*Provider)(nil)
)

// NewProvider returns an empty provider whose clock is now.
func NewProvider(now func() time.Time) *Provider {
	return newProvider(now, feed.NewMemoryAccounts(), feed.NewMemoryBeneficiaries(), feed.NewMemoryTransactions())
}

// NewInstrumentedProvider is NewProvider with the feeds' metrics (feed.WithMetrics) recorded
// through mp, labelled with each feed's route; nil mp records none. Its error is the feeds'
// (an unusable mp).
func NewInstrumentedProvider(now func() time.Time, mp metric.MeterProvider) (*Provider, error) {
	if mp == nil {
		return NewProvider(now), nil
	}
	accounts, err := feed.NewMemory(feed.AccountKeys(), feed.WithMetrics(mp, "accounts"))
	if err != nil {
		return nil, err
	}
	beneficiaries, err := feed.NewMemory(feed.BeneficiaryKeys(), feed.WithMetrics(mp, "beneficiaries"))
	if err != nil {
		return nil, err
	}
	transactions, err := feed.NewMemory(feed.TransactionKeys(), feed.WithMetrics(mp, "transactions"))
	if err != nil {
		return nil, err
	}
	return newProvider(now, accounts, beneficiaries, transactions), nil
}

func newProvider(now func() time.Time, accounts *feed.Memory[models.Account],
	beneficiaries *feed.Memory[models.Beneficiary], transactions *feed.Memory[models.Transaction]) *Provider {
	return &Provider{
		accounts:      accounts,
		beneficiaries: beneficiaries,
		transactions:  transactions,
		now:           now,
		balances:      map[ref][]models.Balance{},
		payouts:       map[ref]models.Payout{},
	}
}

// tenantOf returns the tenant of ctx: the one the request was authenticated as, or
// httpserver.DefaultTenant outside a request (when seeding data, or in a job that copies the PSP's
// data), which is the tenant of the key given with httpserver.WithAPIKey.
func tenantOf(ctx context.Context) string {
	if tenant, ok := connector.TenantFrom(ctx); ok {
		return tenant
	}
	return httpserver.DefaultTenant
}

// ListAccounts serves GET /accounts.
func (p *Provider) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return feed.List(ctx, p.accounts, req)
}

// ListBeneficiaries serves GET /beneficiaries.
func (p *Provider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return feed.List(ctx, p.beneficiaries, req)
}

// ListTransactions serves GET /transactions.
func (p *Provider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, p.transactions, req)
}

// GetBalances serves GET /accounts/{accountId}/balances.
func (p *Provider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	tenant := tenantOf(ctx)
	if _, ok, err := p.accounts.Get(ctx, tenant, accountID); err != nil || !ok {
		return models.Balances{}, notFound(err, "account %q does not exist", accountID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return models.Balances{
		ID:        "bal_" + accountID,
		AccountID: accountID,
		At:        p.now().UTC(),
		Balances:  append([]models.Balance{}, p.balances[ref{tenant, accountID}]...),
	}, nil
}

// notFound returns err when the feed failed, or connector.NotFound otherwise.
func notFound(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	return connector.NotFound(format, args...)
}

// CreatePayout serves POST /payouts. The library calls it once per idempotency key: Formance's
// retries get the stored answer, and the same key with another request is refused with 409, so this
// method does not deduplicate. A real provider passes req.IdempotencyKey on to its PSP.
//
// The payout is also a PAYOUT transaction with the same id in GET /transactions, so that Formance
// follows its status (the library fills that row's relatedTransactionID with the idempotency key).
// The answer carries the createdAt and updatedAt that row is served with.
func (p *Provider) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	tenant := tenantOf(ctx)
	if _, ok, err := p.accounts.Get(ctx, tenant, req.SourceAccountID); err != nil {
		return models.Payout{}, err
	} else if !ok {
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
	if err := p.transactions.Put(ctx, tenant, models.Transaction{
		ID:                   payout.ID,
		CreatedAt:            now,
		UpdatedAt:            now,
		Currency:             payout.Currency,
		Type:                 models.TransactionTypePayout,
		Status:               payout.Status,
		Amount:               payout.Amount,
		SourceAccountID:      payout.SourceAccountID,
		DestinationAccountID: payout.DestinationAccountID,
		Metadata:             payout.Metadata,
	}); err != nil {
		return models.Payout{}, err
	}
	p.payouts[ref{tenant, payout.ID}] = payout
	return p.payoutLocked(ctx, tenant, payout.ID)
}

// GetPayout serves GET /payouts/{payoutId}: the payout with the status of its transaction and the
// same createdAt and updatedAt as that transaction in GET /transactions.
func (p *Provider) GetPayout(ctx context.Context, payoutID string) (models.Payout, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.payoutLocked(ctx, tenantOf(ctx), payoutID)
}

// payoutLocked returns a payout with the status and the served times of its transaction (Feed.Get
// gives the current version exactly as the listing serves it). Call with mu held.
func (p *Provider) payoutLocked(ctx context.Context, tenant, id string) (models.Payout, error) {
	payout, ok := p.payouts[ref{tenant, id}]
	if !ok {
		return models.Payout{}, connector.NotFound("payout %q does not exist", id)
	}
	tx, found, err := p.transactions.Get(ctx, tenant, id)
	if err != nil || !found {
		return models.Payout{}, notFound(err, "payout %q does not exist", id)
	}
	payout.Status, payout.CreatedAt, payout.UpdatedAt = tx.Status, tx.CreatedAt, tx.UpdatedAt
	return payout, nil
}

// AddAccount stores an account of the tenant of ctx (see tenantOf) with its balances.
func (p *Provider) AddAccount(ctx context.Context, a models.Account, balances ...models.Balance) error {
	if err := models.Validate(a); err != nil {
		return err
	}
	tenant := tenantOf(ctx)
	if err := p.accounts.Put(ctx, tenant, a); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.balances[ref{tenant, a.ID}] = balances
	return nil
}

// AddBeneficiary stores a beneficiary of the tenant of ctx.
func (p *Provider) AddBeneficiary(ctx context.Context, b models.Beneficiary) error {
	if err := models.Validate(b); err != nil {
		return err
	}
	return p.beneficiaries.Put(ctx, tenantOf(ctx), b)
}

// PutTransaction stores a new transaction of the tenant of ctx, or a new state of one. A changed
// transaction is served again with a later updatedAt, so Formance sees every change.
func (p *Provider) PutTransaction(ctx context.Context, tx models.Transaction) error {
	if err := models.Validate(tx); err != nil {
		return err
	}
	return p.transactions.Put(ctx, tenantOf(ctx), tx)
}

// SetTransactionStatus moves a transaction of the tenant of ctx to a new status, as the PSP would
// report it.
func (p *Provider) SetTransactionStatus(ctx context.Context, id string, status models.TransactionStatus) error {
	tx, ok, err := p.transactions.Get(ctx, tenantOf(ctx), id)
	if err != nil || !ok {
		return notFound(err, "transaction %q does not exist", id)
	}
	tx.Status = status
	tx.UpdatedAt = p.now().UTC()
	return p.PutTransaction(ctx, tx) // a payout's status is read from its transaction
}

// Prune deletes the earlier states of changed transactions that no poller can read any more (see
// feed.Feed.Prune). Accounts and beneficiaries change in place and leave nothing to prune.
func (p *Provider) Prune(ctx context.Context) (int, error) {
	return p.transactions.Prune(ctx)
}
