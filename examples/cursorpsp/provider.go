package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Provider serves Formance from a cursor-paged upstream PSP with second-precision timestamps (see
// Upstream), losing nothing. It is the template for the common real-world case: a Stripe-like API
// that lists objects with starting_after cursors and stamps them with "created" to the second.
//
// # Accounts and beneficiaries: pass-through with tie-breaking
//
// Each Formance page is one upstream call, through pagination.FetchByCursor: the cursor cache turns
// Formance's page numbers into upstream cursors, so a sequential walk costs one call per page.
// Passing the upstream's times through as they are would lose objects: Formance remembers the time
// of the last object it kept and skips every later object that is not strictly after it, so
// objects created in the same second as the last one of a fetch are never seen (see the contract,
// "How the client polls"). pagination.WithCursorTies serves each object at its second plus its rank
// among the objects of that second, in nanoseconds: unique, increasing, and never changing, because
// this upstream lists the objects of one second in a fixed order and a new object always comes last
// (created is the current second). This needs no storage at all.
//
// # Transactions: a local mirror
//
// Transactions change (a new status), and a changed transaction moves to the end of the upstream's
// "updated" listing. Tie-breaking by rank cannot follow that: when one transaction of a second moves
// to the end, the transactions after it in that second move down one rank, so one Formance has not
// seen yet can be served at a time Formance has already passed, and it is lost forever. (Example:
// a, b, c updated in second T are served at T+0, T+1ns, T+2ns; Formance's fetch stops after b, at
// T+1ns; a changes within T: the listing is b, c, a, served at T+0, T+1ns, T+2ns; Formance asks for
// everything after T+1ns and gets a, never c. TestTieBreakingCannotFollowChanges shows it.)
//
// So transactions are mirrored into a feed (package feed), under each tenant: at the start of each
// Formance fetch (page 1) the provider reads the upstream's listing from the second of the last
// change it saw, inclusive, to the end, and puts every transaction into the feed, which serves
// unique times that never change, puts a changed transaction after everything Formance may have
// read even when the upstream did not move its second, and keeps the positions of the others while
// Formance pages. Re-reading the last second is what catches changes made within it; re-putting an
// unchanged transaction is a no-op. The mirror costs memory (each transaction is kept, and the
// earlier state of a changed one until Prune drops it); for millions of transactions, or to keep it
// across restarts and replicas, use a feed/pgfeed feed instead of feed.Memory: the provider only
// needs a feed.Feed.
//
// Balances are read from the upstream on every request. The provider is safe for concurrent use.
type Provider struct {
	client       *Client
	secrets      map[string]string // tenant -> the upstream secret key of its account
	cursors      *pagination.CursorCache
	transactions feed.Feed[models.Transaction] // the mirror of every tenant's transactions

	mu      sync.Mutex
	mirrors map[string]*mirror // by tenant
}

var _ connector.Provider = (*Provider)(nil)

// NewProvider returns a provider calling the upstream through client, for the tenants of secrets
// (each tenant's upstream secret key; the tenants are those given to httpserver.WithAPIKeys).
// cursors remembers the upstream cursors of Formance's pages; nil means a cache of
// pagination.DefaultCursorCacheEntries. One cache serves every tenant and route, and its memory is
// bounded by its size whatever the number of tenants. The transactions are mirrored in a
// feed.Memory.
func NewProvider(client *Client, secrets map[string]string, cursors *pagination.CursorCache) (*Provider, error) {
	if cursors == nil {
		cursors = pagination.NewCursorCache(0, 0)
	}
	transactions, err := feed.NewMemoryTransactions()
	if err != nil {
		return nil, err
	}
	return &Provider{client: client, secrets: secrets, cursors: cursors, transactions: transactions, mirrors: map[string]*mirror{}}, nil
}

// tenant returns the request's tenant and its upstream secret key.
func (p *Provider) tenant(ctx context.Context) (tenant, secretKey string, err error) {
	tenant, _ = connector.TenantFrom(ctx)
	key, ok := p.secrets[tenant]
	if !ok {
		return "", "", fmt.Errorf("cursorpsp: no upstream secret key for tenant %q", tenant)
	}
	return tenant, key, nil
}

// The upstream's timestamps are whole seconds; these serve each object at its second plus its rank.
var (
	accountTies = pagination.WithCursorTies(pagination.CursorTies[models.Account]{
		Precision: time.Second,
		Time:      func(a models.Account) time.Time { return a.CreatedAt },
		WithTime:  func(a models.Account, t time.Time) models.Account { a.CreatedAt = t; return a },
	})
	beneficiaryTies = pagination.WithCursorTies(pagination.CursorTies[models.Beneficiary]{
		Precision: time.Second,
		Time:      func(b models.Beneficiary) time.Time { return b.CreatedAt },
		WithTime:  func(b models.Beneficiary, t time.Time) models.Beneficiary { b.CreatedAt = t; return b },
	})
)

// ListAccounts implements connector.Provider: one upstream call per page on a sequential walk.
func (p *Provider) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	tenant, key, err := p.tenant(ctx)
	if err != nil {
		return connector.Page[models.Account]{}, err
	}
	items, err := pagination.FetchByCursor(ctx, p.cursors, tenant+"\x00/accounts", req, p.fetchAccounts(key), accountTies)
	return connector.Page[models.Account]{Items: items}, listError(err)
}

// fetchAccounts reads one upstream page of the key's accounts, starting after q.Cursor.
func (p *Provider) fetchAccounts(key string) pagination.CursorFetch[models.Account] {
	return func(ctx context.Context, q pagination.Query) ([]models.Account, string, error) {
		res, err := p.client.Accounts(ctx, key, q.PageSize, unixSeconds(q.From), q.Cursor)
		if err != nil {
			return nil, "", err
		}
		out := make([]models.Account, len(res.Data))
		for i, a := range res.Data {
			out[i] = models.Account{ID: a.ID, AccountName: a.Name, CreatedAt: fromUnix(a.Created), Metadata: a.Metadata}
		}
		return out, nextCursor(res, func(a UpstreamAccount) string { return a.ID }), nil
	}
}

// ListBeneficiaries implements connector.Provider, like ListAccounts.
func (p *Provider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	tenant, key, err := p.tenant(ctx)
	if err != nil {
		return connector.Page[models.Beneficiary]{}, err
	}
	items, err := pagination.FetchByCursor(ctx, p.cursors, tenant+"\x00/beneficiaries", req, p.fetchBeneficiaries(key), beneficiaryTies)
	return connector.Page[models.Beneficiary]{Items: items}, listError(err)
}

// fetchBeneficiaries reads one upstream page of the key's beneficiaries, starting after q.Cursor.
func (p *Provider) fetchBeneficiaries(key string) pagination.CursorFetch[models.Beneficiary] {
	return func(ctx context.Context, q pagination.Query) ([]models.Beneficiary, string, error) {
		res, err := p.client.Beneficiaries(ctx, key, q.PageSize, unixSeconds(q.From), q.Cursor)
		if err != nil {
			return nil, "", err
		}
		out := make([]models.Beneficiary, len(res.Data))
		for i, b := range res.Data {
			out[i] = models.Beneficiary{ID: b.ID, OwnerName: b.Name, CreatedAt: fromUnix(b.Created)}
		}
		return out, nextCursor(res, func(b UpstreamBeneficiary) string { return b.ID }), nil
	}
}

// nextCursor returns the starting_after of the next call: the id of the last object, or "" at the end.
func nextCursor[T any](res list[T], id func(T) string) string {
	if !res.HasMore || len(res.Data) == 0 {
		return ""
	}
	return id(res.Data[len(res.Data)-1])
}

// listError turns a query FetchByCursor cannot serve (descending order, with tie-breaking) into a 400.
func listError(err error) error {
	var perr *pagination.ParamError
	if errors.As(err, &perr) {
		return connector.InvalidRequest("%v", perr)
	}
	return err
}

// ListTransactions implements connector.Provider from the tenant's mirror, brought up to date at
// the start of each Formance fetch.
func (p *Provider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	tenant, key, err := p.tenant(ctx)
	if err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	m := p.mirror(tenant)
	if err := m.refresh(ctx, p.client, key, req.Page == 1); err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	return feed.List(ctx, p.transactions, req)
}

// Prune deletes the earlier states of changed transactions that no poller can read any more (see
// feed.Feed.Prune). Call it now and then: run does, every hour.
func (p *Provider) Prune(ctx context.Context) (int, error) {
	return p.transactions.Prune(ctx)
}

func (p *Provider) mirror(tenant string) *mirror {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.mirrors[tenant]
	if !ok {
		m = &mirror{items: p.transactions, tenant: tenant}
		p.mirrors[tenant] = m
	}
	return m
}

// mirror keeps one tenant's transactions in the feed up to date with the upstream.
type mirror struct {
	items  feed.Feed[models.Transaction]
	tenant string

	mu     sync.Mutex // one refresh at a time
	synced bool       // at least one refresh completed
	since  int64      // the updated second the next refresh reads from, inclusive
}

// refresh reads the upstream's transactions updated at or after m.since into the feed, when asked
// to (Formance starts a fetch) or when the mirror was never filled.
func (m *mirror) refresh(ctx context.Context, c *Client, secretKey string, asked bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.synced && !asked {
		return nil
	}
	page := ""
	for {
		res, err := c.Transactions(ctx, secretKey, 100, m.since, page)
		if err != nil {
			return err
		}
		batch := make([]models.Transaction, len(res.Data))
		for i, t := range res.Data {
			batch[i] = toTransaction(t)
		}
		// In the upstream's order: a transaction seen twice (it changed during the walk) ends in its
		// latest state, and an unchanged one is not moved.
		if err := m.items.Put(ctx, m.tenant, batch...); err != nil {
			return fmt.Errorf("cursorpsp: storing upstream transactions: %w", err)
		}
		if n := len(res.Data); n > 0 {
			// Everything before this second is stored; its later changes get a later second.
			m.since = res.Data[n-1].Updated
		}
		if !res.HasMore || res.NextPage == nil {
			m.synced = true
			return nil
		}
		page = *res.NextPage
	}
}

// GetBalances implements connector.Provider.
func (p *Provider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	_, key, err := p.tenant(ctx)
	if err != nil {
		return models.Balances{}, err
	}
	b, err := p.client.Balance(ctx, key, accountID)
	if err != nil {
		return models.Balances{}, err
	}
	out := models.Balances{ID: "bal_" + accountID, AccountID: accountID, At: time.Now().UTC(), Balances: []models.Balance{}}
	for _, m := range b.Available {
		out.Balances = append(out.Balances, models.Balance{Amount: models.AmountFromInt64(m.Amount), Currency: asset(m.Currency)})
	}
	return out, nil
}

func toTransaction(t UpstreamTransaction) models.Transaction {
	tx := models.Transaction{
		ID: t.ID, CreatedAt: fromUnix(t.Created), UpdatedAt: fromUnix(t.Updated), Currency: asset(t.Currency),
		Type: transactionType(t.Type), Status: transactionStatus(t.Status), Amount: models.AmountFromInt64(t.Amount),
		SourceAccountID: t.Source, DestinationAccountID: t.Destination,
	}
	if len(t.Metadata) > 0 {
		tx.Metadata = t.Metadata
	}
	return tx
}

// asset turns an ISO 4217 code ("eur") into a UMN asset ("EUR/2"), with the number of decimals of
// the currency's minor unit.
func asset(currency string) models.Asset {
	code := strings.ToUpper(currency)
	switch code {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return models.Asset(code + "/0")
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return models.Asset(code + "/3")
	}
	return models.Asset(code + "/2")
}

func transactionType(t string) models.TransactionType {
	switch t {
	case "payin":
		return models.TransactionTypePayIn
	case "payout":
		return models.TransactionTypePayOut
	case "transfer":
		return models.TransactionTypeTransfer
	}
	return models.TransactionTypeOther
}

func transactionStatus(s string) models.TransactionStatus {
	switch s {
	case "pending":
		return models.TransactionStatusPending
	case "succeeded":
		return models.TransactionStatusSucceeded
	case "failed":
		return models.TransactionStatusFailed
	case "canceled":
		return models.TransactionStatusCancelled
	case "refunded":
		return models.TransactionStatusRefunded
	case "disputed":
		return models.TransactionStatusDispute
	}
	return models.TransactionStatusOther
}

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// unixSeconds returns the Unix second of t, or 0 (no bound) for the zero time.
func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// limiterSet holds one connector.Limiter per upstream secret key.
type limiterSet struct {
	mu sync.Mutex
	m  map[string]*connector.Limiter
}

func (s *limiterSet) get(key string, limit rate.Limit, burst int) *connector.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[key]
	if !ok {
		if s.m == nil {
			s.m = map[string]*connector.Limiter{}
		}
		l = connector.NewLimiter(limit, burst)
		s.m[key] = l
	}
	return l
}
