package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

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
	// Balances is derived from the transactions that moved money, by account and asset.
	Balances map[string]map[models.Asset]models.Amount `json:"balances"`
	// Payouts and Transfers hold what a payout or transfer has on top of its transaction, by
	// transaction id (a payout's id is its transaction's id); PayoutIDs and TransferIDs are the
	// creation order.
	Payouts     map[string]order `json:"payouts"`
	Transfers   map[string]order `json:"transfers"`
	PayoutIDs   []string         `json:"payoutIDs"`
	TransferIDs []string         `json:"transferIDs"`
}

// internalAccount is an internal account and its default asset.
type internalAccount struct {
	Account models.Account `json:"account"`
	Asset   models.Asset   `json:"asset"`
}

// storedTransaction is a transaction with the order of its last change: the panel lists the most
// recently changed first, in the order GET /transactions serves them.
type storedTransaction struct {
	Tx  models.Transaction `json:"tx"`
	Seq int                `json:"seq"`
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
	// results).
	update(ctx context.Context, tenant string, fn func(*tenantState) (changes, error)) error
	// view runs fn on a consistent state of tenant (a new, empty one if nobody used it yet). fn must
	// neither change st nor keep it after it returns.
	view(ctx context.Context, tenant string, fn func(st *tenantState) error) error
	// close releases what the store holds (nothing for the memory store).
	close()
}

// memoryStore is the default stateStore: the state of each tenant in this process's memory, with
// memory feeds. An update works on a copy (encoded and decoded, like the PostgreSQL store does), so
// a failed update leaves nothing half done.
type memoryStore struct {
	feeds feeds

	mu      sync.Mutex
	tenants map[string]*memoryTenant
}

type memoryTenant struct {
	mu sync.RWMutex
	st *tenantState
}

func newMemoryStore(f feeds) *memoryStore {
	return &memoryStore{feeds: f, tenants: map[string]*memoryTenant{}}
}

func (m *memoryStore) tenant(name string) *memoryTenant {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[name]
	if !ok {
		t = &memoryTenant{st: newTenantState(name)}
		m.tenants[name] = t
	}
	return t
}

func (m *memoryStore) update(ctx context.Context, tenant string, fn func(*tenantState) (changes, error)) error {
	t := m.tenant(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	data, err := t.st.encode()
	if err != nil {
		return err
	}
	next, err := decodeTenantState(tenant, data)
	if err != nil {
		return err
	}
	ch, err := fn(next)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on the update happens whole: a memory feed refuses only invalid items, which the
	// PSP does not make, or a cancelled context.
	if err := m.feeds.put(context.WithoutCancel(ctx), tenant, ch); err != nil {
		return err
	}
	t.st = next
	return nil
}

func (m *memoryStore) view(_ context.Context, tenant string, fn func(*tenantState) error) error {
	t := m.tenant(tenant)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return fn(t.st)
}

func (m *memoryStore) close() {}
