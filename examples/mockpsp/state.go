package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
)

// This file is where the simulated PSP keeps its data: each tenant's state (everything the PSP knows
// about the tenant, with the PSP's own times) behind a stateStore, and the three feeds that
// Formance's list routes read. The simulation (psp.go) is the same whatever the store: it runs each
// change as one update of the tenant's state, which returns the items to put in the feeds.

// tenantState is everything the PSP knows about one tenant, except the request log (per process,
// see requestLog). It is plain data that encodes to JSON, so that the PostgreSQL store keeps it in
// one jsonb value; the memory store encodes it too when it copies it, so both stores run exactly the
// same code.
type tenantState struct {
	// Counters holds the last id number given per prefix ("acc", "ben", "bank", "tx").
	Counters map[string]int `json:"counters"`
	// RNG is the state of the tenant's random generator: same key, same generated data, in every
	// process sharing the tenant.
	RNG pcgState `json:"rng"`
	// LastTime is the latest time the PSP gave for this tenant: its times never go backwards, even
	// when several processes with slightly different clocks share the tenant.
	LastTime time.Time `json:"lastTime"`
	// Accounts are the internal accounts, in creation order, each with its default asset.
	Accounts []internalAccount `json:"accounts"`
	// Beneficiaries and BankAccounts are in creation order.
	Beneficiaries []models.Beneficiary `json:"beneficiaries"`
	BankAccounts  []models.BankAccount `json:"bankAccounts"`
	// Transactions holds every transaction as the PSP last changed it (with the PSP's own times), by id.
	Transactions map[string]storedTransaction `json:"transactions"`
	// Seq is the last storedTransaction.Seq given.
	Seq int `json:"seq"`
	// Balances is derived from the opening balances and the transactions that moved money, by
	// account and asset.
	Balances map[string]map[models.Asset]models.Amount `json:"balances"`
	// Held is, by account and asset, the money promised to payouts and transfers still in flight
	// (PENDING): it cannot be paid out again. Derived from the transactions, like Balances.
	Held map[string]map[models.Asset]models.Amount `json:"held"`
	// Payouts and Transfers hold what a payout or transfer has on top of its transaction, by
	// transaction id (a payout's id is its transaction's id); PayoutIDs and TransferIDs are the
	// creation order.
	Payouts     map[string]order `json:"payouts"`
	Transfers   map[string]order `json:"transfers"`
	PayoutIDs   []string         `json:"payoutIDs"`
	TransferIDs []string         `json:"transferIDs"`
}

// internalAccount is an internal account, its default asset and its opening balance (in that asset,
// set when the account was opened; zero when none was given).
type internalAccount struct {
	Account models.Account `json:"account"`
	Asset   models.Asset   `json:"asset"`
	Opening models.Amount  `json:"opening,omitzero"`
}

// storedTransaction is a transaction with the order of its last change (the panel lists the most
// recently changed first, in the order GET /transactions serves them) and every status it had.
type storedTransaction struct {
	Tx      models.Transaction `json:"tx"`
	Seq     int                `json:"seq"`
	History []statusChange     `json:"history"`
}

// statusChange is one status of a transaction and when the PSP gave it (its updatedAt then).
type statusChange struct {
	Status models.TransactionStatus `json:"status"`
	At     time.Time                `json:"at"`
}

// order holds what a payout or transfer has on top of its transaction.
type order struct {
	IdempotencyKey string          `json:"idempotencyKey"`
	Description    string          `json:"description,omitempty"`
	Metadata       models.Metadata `json:"metadata,omitempty"`
	Origin         string          `json:"origin"` // "formance" (POST /payouts, /transfers) or "panel" (Generate)
}

// newTenantState returns the state of a tenant nobody has used yet.
func newTenantState(tenant string) *tenantState {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	seed := h.Sum64()
	return &tenantState{
		Counters:     map[string]int{},
		RNG:          pcgState{rand.NewPCG(seed, seed>>1|1)},
		Transactions: map[string]storedTransaction{},
		Balances:     map[string]map[models.Asset]models.Amount{},
		Held:         map[string]map[models.Asset]models.Amount{},
		Payouts:      map[string]order{},
		Transfers:    map[string]order{},
	}
}

// empty reports whether nothing was ever created for the tenant (the seed flags fill only such a
// tenant).
func (st *tenantState) empty() bool {
	for _, n := range st.Counters {
		if n != 0 {
			return false
		}
	}
	return true
}

// decodeTenantState reads a state written by encode, filling the maps a state always has.
func decodeTenantState(tenant string, data []byte) (*tenantState, error) {
	st := newTenantState(tenant)
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("mockpsp: decoding the state of %s: %w", tenant, err)
	}
	if st.Counters == nil {
		st.Counters = map[string]int{}
	}
	if st.Transactions == nil {
		st.Transactions = map[string]storedTransaction{}
	}
	if st.Balances == nil {
		st.Balances = map[string]map[models.Asset]models.Amount{}
	}
	if st.Held == nil { // a state written before holds were kept: derive them
		st.Held = map[string]map[models.Asset]models.Amount{}
		for _, s := range st.Transactions {
			st.hold(s.Tx, +1)
		}
	}
	if st.Payouts == nil {
		st.Payouts = map[string]order{}
	}
	if st.Transfers == nil {
		st.Transfers = map[string]order{}
	}
	return st, nil
}

func (st *tenantState) encode() ([]byte, error) { return json.Marshal(st) }

// pcgState is a PCG generator that encodes to JSON (its binary state, in base64).
type pcgState struct{ *rand.PCG }

func (p pcgState) MarshalJSON() ([]byte, error) {
	b, err := p.PCG.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

func (p *pcgState) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	p.PCG = new(rand.PCG)
	return p.PCG.UnmarshalBinary(b)
}

// changes are the items one update puts in the feeds, in the order the PSP made them.
type changes struct {
	accounts      []models.Account
	beneficiaries []models.Beneficiary
	transactions  []models.Transaction
}

// feeds are the stores Formance's list routes read: one per route, for every tenant, keyed by the
// tenant name.
type feeds struct {
	accounts      feed.Feed[models.Account]
	beneficiaries feed.Feed[models.Beneficiary]
	transactions  feed.Feed[models.Transaction]
}

// newMemoryFeeds returns empty in-memory feeds.
func newMemoryFeeds() (feeds, error) {
	return feeds{accounts: feed.NewMemoryAccounts(), beneficiaries: feed.NewMemoryBeneficiaries(),
		transactions: feed.NewMemoryTransactions()}, nil
}

// put stores the changes of one update in the feeds, route by route.
func (f feeds) put(ctx context.Context, tenant string, ch changes) error {
	if len(ch.accounts) > 0 {
		if err := f.accounts.Put(ctx, tenant, ch.accounts...); err != nil {
			return fmt.Errorf("mockpsp: feeding accounts: %w", err)
		}
	}
	if len(ch.beneficiaries) > 0 {
		if err := f.beneficiaries.Put(ctx, tenant, ch.beneficiaries...); err != nil {
			return fmt.Errorf("mockpsp: feeding beneficiaries: %w", err)
		}
	}
	if len(ch.transactions) > 0 {
		if err := f.transactions.Put(ctx, tenant, ch.transactions...); err != nil {
			return fmt.Errorf("mockpsp: feeding transactions: %w", err)
		}
	}
	return nil
}

// stateStore keeps the state of every tenant and writes each update's changes to the feeds.
type stateStore interface {
	// update runs fn on the state of tenant while no other update of that tenant runs, in this
	// process or in any other sharing the store. When fn returns nil, the state fn left is stored and
	// the changes it returned are put in the feeds before the next update of the tenant may start;
	// when fn or storing fails, the state stays as it was. fn changes nothing but st (and its own
	// results). A tenant is created by its first successful update; when the store already holds
	// maxTenants tenants, that update fails with an error wrapping ErrTooManyTenants and fn is not
	// called.
	update(ctx context.Context, tenant string, fn func(*tenantState) (changes, error)) error
	// view runs fn on a consistent state of tenant (a new, empty one, not stored, if nobody used it
	// yet). fn must neither change st nor keep it after it returns.
	view(ctx context.Context, tenant string, fn func(st *tenantState) error) error
	// close releases what the store holds (nothing for the memory store).
	close()
}

// defaultMaxTenants is how many tenants (API keys with data) the PSP holds unless -max-tenants says
// otherwise: about 2 KB of memory each when empty, far more than a person testing needs.
const defaultMaxTenants = 1000

// ErrTooManyTenants is wrapped by the error of a write that would create a tenant (the first data
// of a new API key) when the PSP already holds its maximum number (-max-tenants). The error is a
// connector.ErrConflict (409): nothing was created.
var ErrTooManyTenants = errors.New("mockpsp: too many tenants")

func tooManyTenants(limit int) error {
	return &connector.Error{Kind: connector.ErrConflict, Cause: ErrTooManyTenants, Detail: fmt.Sprintf(
		"this mock PSP already holds data for %d API keys, its maximum (-max-tenants): use a key that already has data, "+
			"or restart it with a larger -max-tenants", limit)}
}

// memoryStore is the default stateStore: the state of each tenant in this process's memory, with
// memory feeds. An update works on a copy (encoded and decoded, like the PostgreSQL store does), so
// a failed update leaves nothing half done.
type memoryStore struct {
	feeds      feeds
	maxTenants int

	mu      sync.Mutex
	tenants map[string]*memoryTenant
}

type memoryTenant struct {
	mu      sync.RWMutex
	st      *tenantState // nil until the tenant's first successful update
	removed bool         // the first update failed and the entry left the store: look it up again
}

func newMemoryStore(f feeds, maxTenants int) *memoryStore {
	return &memoryStore{feeds: f, maxTenants: maxTenants, tenants: map[string]*memoryTenant{}}
}

// tenant returns the tenant's entry, creating an empty one (st nil) when create is set and there is
// room; nil when there is none.
func (m *memoryStore) tenant(name string, create bool) *memoryTenant {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[name]
	if !ok && create && len(m.tenants) < m.maxTenants {
		t = &memoryTenant{}
		m.tenants[name] = t
	}
	return t
}

func (m *memoryStore) update(ctx context.Context, tenant string, fn func(*tenantState) (changes, error)) error {
	for {
		t := m.tenant(tenant, true)
		if t == nil {
			return tooManyTenants(m.maxTenants)
		}
		t.mu.Lock()
		if t.removed {
			t.mu.Unlock()
			continue
		}
		err := m.updateLocked(ctx, tenant, t, fn)
		t.mu.Unlock()
		return err
	}
}

// updateLocked runs one update with t.mu held. A tenant whose first update fails leaves the store,
// so that failed writes with new keys take no place.
func (m *memoryStore) updateLocked(ctx context.Context, tenant string, t *memoryTenant, fn func(*tenantState) (changes, error)) error {
	next := newTenantState(tenant)
	if t.st != nil {
		data, err := t.st.encode()
		if err != nil {
			return err
		}
		if next, err = decodeTenantState(tenant, data); err != nil {
			return err
		}
	}
	if err := m.apply(ctx, tenant, next, fn); err != nil {
		if t.st == nil {
			t.removed = true
			m.mu.Lock()
			delete(m.tenants, tenant)
			m.mu.Unlock()
		}
		return err
	}
	t.st = next
	return nil
}

func (m *memoryStore) apply(ctx context.Context, tenant string, next *tenantState, fn func(*tenantState) (changes, error)) error {
	ch, err := fn(next)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on the update happens whole: a memory feed refuses only invalid items, which the
	// PSP does not make, or a cancelled context.
	return m.feeds.put(context.WithoutCancel(ctx), tenant, ch)
}

func (m *memoryStore) view(_ context.Context, tenant string, fn func(*tenantState) error) error {
	t := m.tenant(tenant, false)
	if t == nil {
		return fn(newTenantState(tenant))
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.st == nil {
		return fn(newTenantState(tenant))
	}
	return fn(t.st)
}

func (m *memoryStore) close() {}
