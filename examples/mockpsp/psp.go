package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// This file is the simulated PSP: what, in a real middleware, would be the payment provider's API on
// the other side of an HTTP client. Each API key is its own tenant, created on first use.
//
// The PSP keeps its own records in each tenant's state (state.go), and puts every account,
// beneficiary and transaction it creates or changes in three feeds (package feed), one per list
// route for all tenants, keyed by the tenant name. The provider answers Formance's list routes from
// the feeds, which give every item a unique, never-moving served time: the middleware loses nothing
// even when the PSP's own timestamps are truncated to the second (-timestamp-precision 1s), or when a
// transaction changes while Formance pages through its second.

// PSP is the simulated payment service provider: one isolated tenant per API key.
type PSP struct {
	clock *Clock
	store stateStore
	feeds feeds
	// webhooks, when set (-webhook-url), sends an event for every transaction an update creates or
	// changes, except the seed's.
	webhooks *webhookSender

	limits pspLimits
	// stray is the log of the requests that reached no dataset: refused by the authentication, or
	// made with a key that holds no data (a typo'd key polls an empty dataset).
	stray *requestLog

	mu   sync.Mutex
	logs map[string]*requestLog // by tenant: the request log is per process
	// ordered holds an update and the queuing of its webhooks, one lock per stripe of tenants (by
	// hash): a tenant always takes the same one, and no key, however many are tried, adds a lock.
	ordered [64]sync.Mutex
}

// pspLimits bound what the PSP keeps, so that no client can make it grow without end.
type pspLimits struct {
	// maxTenants is the most tenants (API keys with data) the store holds (-max-tenants).
	maxTenants int
	// requestLog is the most requests each key's log (and the log of stray requests) remembers
	// (-request-log-size).
	requestLog int
}

// defaultRequestLogSize is how many requests each key's log remembers unless -request-log-size says
// otherwise.
const defaultRequestLogSize = 200

func defaultLimits() pspLimits {
	return pspLimits{maxTenants: defaultMaxTenants, requestLog: defaultRequestLogSize}
}

// newPSP returns a PSP keeping its tenants' states in store and serving its lists from f, whose
// timestamps come from clock.
func newPSP(clock *Clock, store stateStore, f feeds, limits pspLimits) *PSP {
	return &PSP{clock: clock, store: store, feeds: f, limits: limits, stray: &requestLog{size: limits.requestLog},
		logs: map[string]*requestLog{}}
}

// NewMemoryPSP returns an empty PSP that keeps everything in this process's memory, with the
// default limits (1000 tenants, 200 logged requests per key).
func NewMemoryPSP(clock *Clock) (*PSP, error) { return newMemoryPSP(clock, defaultLimits()) }

func newMemoryPSP(clock *Clock, limits pspLimits) (*PSP, error) {
	f, err := newMemoryFeeds()
	if err != nil {
		return nil, err
	}
	return newPSP(clock, newMemoryStore(f, limits.maxTenants), f, limits), nil
}

// Close stops the webhook sender (events still queued are dropped) and releases the PSP's store
// (the PostgreSQL pool with -postgres).
func (p *PSP) Close() {
	if p.webhooks != nil {
		p.webhooks.close()
	}
	p.store.close()
}

// sendWebhooks makes the PSP send signed webhooks for its changes from now on (see webhookSender).
func (p *PSP) sendWebhooks(s *webhookSender) { p.webhooks = s }

// orderLock returns the lock that keeps one tenant's webhooks in the order of its updates in this
// process.
func (p *PSP) orderLock(tenant string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return &p.ordered[h.Sum32()%uint32(len(p.ordered))]
}

// Dataset returns the dataset of an API key. Keys never see each other's data.
func (p *PSP) Dataset(key string) *Dataset {
	return p.TenantDataset(TenantOf(key))
}

// TenantDataset returns the dataset of a tenant name (see TenantOf).
func (p *PSP) TenantDataset(tenant string) *Dataset {
	return &Dataset{psp: p, tenant: tenant}
}

// TenantOf names the tenant of an API key: "tenant-" and the first 16 hex digits of the key's
// SHA-256. The library logs the tenant of every request; deriving it from the key keeps the key itself
// out of the logs.
func TenantOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "tenant-" + hex.EncodeToString(sum[:8])
}

// Dataset is the data of one tenant (one API key): a handle on the PSP's store and feeds. All its
// methods are safe for concurrent use, also from several processes sharing one PostgreSQL database.
type Dataset struct {
	psp    *PSP
	tenant string
}

// view runs fn on a consistent state of the tenant; fn must not change it.
func (d *Dataset) view(ctx context.Context, fn func(st *tenantState) error) error {
	return d.psp.store.view(ctx, d.tenant, fn)
}

// update runs fn as one change of the tenant (see stateStore.update): fn validates everything
// before it changes anything, and the items it puts reach the feeds with the state. With
// -webhook-url, the transactions it created or changed are then sent as webhooks.
func (d *Dataset) update(ctx context.Context, fn func(o *op) error) error {
	return d.change(ctx, true, fn)
}

// change is update, sending webhooks only when notify is set (the seed sends none).
func (d *Dataset) change(ctx context.Context, notify bool, fn func(o *op) error) error {
	hooks := d.psp.webhooks
	if !notify {
		hooks = nil
	}
	var events []webhookEvent
	run := func(st *tenantState) (changes, error) {
		o := &op{tenantState: st, clock: d.psp.clock, rng: rand.New(st.RNG.PCG)}
		if err := fn(o); err != nil {
			return changes{}, err
		}
		if hooks != nil {
			events = webhookEvents(d.tenant, st, o.changed)
		}
		return o.puts, nil
	}
	if hooks == nil {
		return d.psp.store.update(ctx, d.tenant, run)
	}
	// Updates of one tenant are serialized by the store; this lock also covers the queuing of their
	// events, so that they are sent in the order of the updates.
	l := d.psp.orderLock(d.tenant)
	l.Lock()
	defer l.Unlock()
	if err := d.psp.store.update(ctx, d.tenant, run); err != nil {
		return err
	}
	hooks.send(events...) // never waits: see webhookSender
	return nil
}

// served returns a transaction as GET /transactions serves it now (feed.Feed's Get).
func (d *Dataset) served(ctx context.Context, id string) (models.Transaction, bool, error) {
	return d.psp.feeds.transactions.Get(ctx, d.tenant, id)
}

// op is one change of a tenant in progress: its state, the PSP's clock and random generator, and the
// items to put in the feeds.
type op struct {
	*tenantState
	clock   *Clock
	rng     *rand.Rand
	puts    changes
	changed []transactionChange // the transactions created or changed, in order (for webhooks)
}

// now returns the PSP's current time, never before a time it gave the tenant before.
func (o *op) now() time.Time {
	t := o.clock.Now()
	if t.Before(o.LastTime) {
		t = o.LastTime
	}
	o.LastTime = t
	return t
}

// nextID returns the next id with the given prefix, e.g. "acc_0001".
func (o *op) nextID(prefix string) string {
	o.Counters[prefix]++
	return fmt.Sprintf("%s_%04d", prefix, o.Counters[prefix])
}

// putTransaction records tx as the transaction's latest version and puts it in the feed.
func (o *op) putTransaction(tx models.Transaction) {
	_, known := o.Transactions[tx.ID]
	o.changed = append(o.changed, transactionChange{created: !known, tx: tx})
	o.Seq++
	history := append(o.Transactions[tx.ID].History, statusChange{Status: tx.Status, At: tx.UpdatedAt})
	o.Transactions[tx.ID] = storedTransaction{Tx: tx, Seq: o.Seq, History: history}
	o.puts.transactions = append(o.puts.transactions, tx)
}

// accountAsset returns the default asset of an internal account, and whether it exists.
func (st *tenantState) accountAsset(id string) (models.Asset, bool) {
	for _, a := range st.Accounts {
		if a.Account.ID == id {
			return a.Asset, true
		}
	}
	return "", false
}

func (st *tenantState) hasBeneficiary(id string) bool {
	return slices.ContainsFunc(st.Beneficiaries, func(b models.Beneficiary) bool { return b.ID == id })
}

func (st *tenantState) hasBankAccount(id string) bool {
	return slices.ContainsFunc(st.BankAccounts, func(b models.BankAccount) bool { return b.ID == id })
}

// ---------------------------------------------------------------------------------------------------
// Reads

// Balances returns the balances of one internal account: one entry per asset it ever held, and at
// least its default asset (possibly zero).
func (d *Dataset) Balances(ctx context.Context, accountID string) (models.Balances, error) {
	var out models.Balances
	err := d.view(ctx, func(st *tenantState) error {
		asset, ok := st.accountAsset(accountID)
		if !ok {
			return connector.NotFound("account %q does not exist", accountID)
		}
		out = models.Balances{
			ID:        "bal_" + accountID,
			AccountID: accountID,
			At:        d.psp.clock.Instant(), // never one `at` twice, even at -timestamp-precision 1s
			Balances:  st.balancesOf(accountID, asset),
		}
		return nil
	})
	return out, err
}

func (st *tenantState) balancesOf(accountID string, defaultAsset models.Asset) []models.Balance {
	held := st.Balances[accountID]
	out := []models.Balance{}
	if _, ok := held[defaultAsset]; !ok {
		out = append(out, models.Balance{Amount: models.AmountFromInt64(0), Currency: defaultAsset})
	}
	for asset, amount := range held {
		out = append(out, models.Balance{Amount: amount, Currency: asset})
	}
	slices.SortFunc(out, func(a, b models.Balance) int { return cmp.Compare(a.Currency, b.Currency) })
	return out
}

// Payout returns a payout by id, with the current status of its transaction and the times that
// transaction is served with in GET /transactions (the feed's Get), so that both routes agree.
func (d *Dataset) Payout(ctx context.Context, id string) (models.Payout, error) {
	return d.order(ctx, "payout", id, func(st *tenantState) map[string]order { return st.Payouts })
}

// Transfer returns a transfer by id, with the current status and served times of its transaction.
func (d *Dataset) Transfer(ctx context.Context, id string) (models.Transfer, error) {
	p, err := d.order(ctx, "transfer", id, func(st *tenantState) map[string]order { return st.Transfers })
	return models.Transfer(p), err
}

func (d *Dataset) order(ctx context.Context, kind, id string, orders func(*tenantState) map[string]order) (models.Payout, error) {
	var o order
	var ok bool
	if err := d.view(ctx, func(st *tenantState) error { o, ok = orders(st)[id]; return nil }); err != nil {
		return models.Payout{}, err
	}
	if !ok {
		return models.Payout{}, connector.NotFound("%s %q does not exist", kind, id)
	}
	tx, found, err := d.served(ctx, id)
	if err != nil {
		return models.Payout{}, err
	}
	if !found {
		return models.Payout{}, connector.NotFound("%s %q does not exist", kind, id)
	}
	return payoutOf(tx, o), nil
}

func payoutOf(tx models.Transaction, o order) models.Payout {
	return models.Payout{
		ID: tx.ID, IdempotencyKey: o.IdempotencyKey, Amount: tx.Amount, Currency: tx.Currency,
		SourceAccountID: tx.SourceAccountID, DestinationAccountID: tx.DestinationAccountID,
		Description: o.Description, Status: tx.Status, CreatedAt: tx.CreatedAt, UpdatedAt: tx.UpdatedAt,
		Metadata: o.Metadata,
	}
}

// ---------------------------------------------------------------------------------------------------
// Writes. Each one validates everything first and changes nothing when it fails.

// CreateAccount opens an internal account whose default asset is asset, holding opening (minor
// units of asset; unset or zero: nothing, negative: an overdraft) before any transaction.
func (d *Dataset) CreateAccount(ctx context.Context, name string, asset models.Asset, opening models.Amount, metadata models.Metadata) (models.Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return models.Account{}, connector.InvalidRequest("an account needs a name")
	}
	if err := asset.Validate(); err != nil {
		return models.Account{}, connector.InvalidRequest("%v", err)
	}
	if err := checkMetadata("metadata", metadata); err != nil {
		return models.Account{}, err
	}
	var a models.Account
	err := d.update(ctx, func(o *op) error { a = o.createAccount(name, asset, opening, metadata); return nil })
	return a, err
}

func (o *op) createAccount(name string, asset models.Asset, opening models.Amount, metadata models.Metadata) models.Account {
	a := models.Account{ID: o.nextID("acc"), AccountName: name, CreatedAt: o.now(), Metadata: metadata}
	acc := internalAccount{Account: a, Asset: asset}
	if opening.IsSet() && opening.Sign() != 0 {
		acc.Opening = opening
		o.Balances[a.ID] = map[models.Asset]models.Amount{asset: opening}
	}
	o.Accounts = append(o.Accounts, acc)
	o.puts.accounts = append(o.puts.accounts, a)
	return a
}

// CreateBeneficiary registers an external counterparty that payouts can pay.
func (d *Dataset) CreateBeneficiary(ctx context.Context, ownerName string, metadata models.Metadata) (models.Beneficiary, error) {
	ownerName = strings.TrimSpace(ownerName)
	if ownerName == "" {
		return models.Beneficiary{}, connector.InvalidRequest("a beneficiary needs an owner name")
	}
	if err := checkMetadata("metadata", metadata); err != nil {
		return models.Beneficiary{}, err
	}
	var b models.Beneficiary
	err := d.update(ctx, func(o *op) error { b = o.createBeneficiary(ownerName, metadata); return nil })
	return b, err
}

func (o *op) createBeneficiary(ownerName string, metadata models.Metadata) models.Beneficiary {
	b := models.Beneficiary{ID: o.nextID("ben"), OwnerName: ownerName, CreatedAt: o.now(), Metadata: metadata}
	o.Beneficiaries = append(o.Beneficiaries, b)
	o.puts.beneficiaries = append(o.puts.beneficiaries, b)
	return b
}

// CreateBankAccount registers an external bank account (POST /bank-accounts, or New in the panel).
func (d *Dataset) CreateBankAccount(ctx context.Context, req models.BankAccountRequest) (models.BankAccount, error) {
	req.Name = strings.TrimSpace(req.Name)
	if err := checkBankAccount(req); err != nil {
		return models.BankAccount{}, err
	}
	if err := checkMetadata("metadata", req.Metadata); err != nil {
		return models.BankAccount{}, err
	}
	var ba models.BankAccount
	err := d.update(ctx, func(o *op) error {
		ba = models.BankAccount{
			ID: o.nextID("bank"), Name: req.Name, CreatedAt: o.now(), AccountNumber: req.AccountNumber,
			IBAN: req.IBAN, SwiftBicCode: req.SwiftBicCode, Country: req.Country, Metadata: req.Metadata,
		}
		o.BankAccounts = append(o.BankAccounts, ba)
		return nil
	})
	return ba, err
}

// CreatePayout records a payout asked for by Formance, as a PENDING PAYOUT transaction that a person
// settles or fails from the panel. The source must be an internal account; the destination a
// beneficiary, a bank account or an internal account. The payout's id is its transaction's id, and
// the answer carries the times that transaction is served with in GET /transactions.
func (d *Dataset) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	o := order{IdempotencyKey: req.IdempotencyKey, Description: req.Description, Metadata: req.Metadata, Origin: "formance"}
	return d.createOrder(ctx, models.TransactionTypePayout, req.Amount, req.Currency, req.SourceAccountID, req.DestinationAccountID, o)
}

// CreateTransfer records a transfer between two internal accounts asked for by Formance, as a
// PENDING TRANSFER transaction whose id is the transfer's id (times as served, like CreatePayout).
func (d *Dataset) CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error) {
	o := order{IdempotencyKey: req.IdempotencyKey, Description: req.Description, Metadata: req.Metadata, Origin: "formance"}
	p, err := d.createOrder(ctx, models.TransactionTypeTransfer, req.Amount, req.Currency, req.SourceAccountID, req.DestinationAccountID, o)
	return models.Transfer(p), err
}

// createOrder stores the transaction of a payout or transfer created by Formance and returns the
// payout as its row is served. The row's relatedTransactionID is left empty: the library sets it to
// the idempotency key on the rows of payouts and transfers it created, so that Formance joins the
// row to the payment initiation.
//
// Like a real PSP that takes an idempotency key, the simulated one answers a request whose key it
// has seen before with the payout it created then, and refuses the key with another request as a
// conflict. The library answers Formance's retries itself, so this only happens when the library
// calls again after its in-flight time-out (a process died during the first call).
func (d *Dataset) createOrder(ctx context.Context, t models.TransactionType, amount models.Amount, asset models.Asset, source, destination string, ord order) (models.Payout, error) {
	if err := checkDescription(ord.Description); err != nil {
		return models.Payout{}, err
	}
	if err := checkMetadata("metadata", ord.Metadata); err != nil {
		return models.Payout{}, err
	}
	var tx models.Transaction
	err := d.update(ctx, func(o *op) error {
		if id, ok := o.orderByKey(t, ord.IdempotencyKey); ok {
			tx = o.Transactions[id].Tx
			prev := o.orderOf(t, id)
			if tx.Amount.Cmp(amount) != 0 || tx.Currency != asset || tx.SourceAccountID != source ||
				tx.DestinationAccountID != destination || prev.Description != ord.Description || !maps.Equal(prev.Metadata, ord.Metadata) {
				return connector.Conflict("idempotency key %q was used for %s %s, with another request", ord.IdempotencyKey, strings.ToLower(string(t)), id)
			}
			return nil
		}
		if err := o.checkPayment(source, destination, t == models.TransactionTypePayout); err != nil {
			return err
		}
		if err := o.checkAssets(t, asset, destination); err != nil {
			return err
		}
		if err := o.checkFunds(source, asset, amount, "a "+strings.ToLower(string(t)), ""); err != nil {
			return err
		}
		now := o.now()
		tx = models.Transaction{
			ID: o.nextID("tx"), CreatedAt: now, UpdatedAt: now, Currency: asset, Type: t,
			Status: models.TransactionStatusPending, Amount: amount, SourceAccountID: source,
			DestinationAccountID: destination, Metadata: ord.Metadata,
		}
		o.putTransaction(tx)
		o.applyBalance(tx, +1) // holds the amount while the payout is PENDING
		o.recordOrder(tx, ord)
		return nil
	})
	if err != nil {
		return models.Payout{}, err
	}
	served, found, err := d.served(ctx, tx.ID)
	if err != nil {
		return models.Payout{}, err
	}
	if !found {
		return models.Payout{}, fmt.Errorf("mockpsp: transaction %s is missing from the feed", tx.ID)
	}
	return payoutOf(served, ord), nil
}

// checkAssets refuses a transfer to an internal account of another asset: a transfer moves money
// between accounts of one asset.
func (st *tenantState) checkAssets(t models.TransactionType, asset models.Asset, destination string) error {
	if t != models.TransactionTypeTransfer {
		return nil
	}
	if dest, ok := st.accountAsset(destination); ok && dest != asset {
		return connector.InvalidRequest("a transfer moves money between accounts of one asset: %s holds %s, not %s", destination, dest, asset)
	}
	return nil
}

func (st *tenantState) checkPayment(source, destination string, external bool) error {
	if _, ok := st.accountAsset(source); !ok {
		return connector.InvalidRequest("unknown source account %q: it must be an internal account of this PSP", source)
	}
	if source == destination {
		return connector.InvalidRequest("source and destination are the same account %q", source)
	}
	if _, ok := st.accountAsset(destination); ok {
		return nil
	}
	if external {
		if st.hasBeneficiary(destination) || st.hasBankAccount(destination) {
			return nil
		}
		return connector.InvalidRequest("unknown destination %q: want a beneficiary, a bank account or an internal account", destination)
	}
	return connector.InvalidRequest("unknown destination account %q: a transfer goes to an internal account", destination)
}

// orderByKey returns the id of the payout (or transfer, by t) that Formance created with an
// idempotency key, and whether there is one.
func (st *tenantState) orderByKey(t models.TransactionType, key string) (string, bool) {
	ids, orders := st.PayoutIDs, st.Payouts
	if t == models.TransactionTypeTransfer {
		ids, orders = st.TransferIDs, st.Transfers
	}
	for _, id := range ids {
		if o := orders[id]; o.Origin == "formance" && o.IdempotencyKey == key {
			return id, true
		}
	}
	return "", false
}

func (st *tenantState) orderOf(t models.TransactionType, id string) order {
	if t == models.TransactionTypeTransfer {
		return st.Transfers[id]
	}
	return st.Payouts[id]
}

func (st *tenantState) recordOrder(tx models.Transaction, o order) {
	switch tx.Type {
	case models.TransactionTypePayout:
		st.Payouts[tx.ID] = o
		st.PayoutIDs = append(st.PayoutIDs, tx.ID)
	case models.TransactionTypeTransfer:
		st.Transfers[tx.ID] = o
		st.TransferIDs = append(st.TransferIDs, tx.ID)
	}
}

// Apply moves one transaction through its lifecycle (see lifecycle.go). Its updatedAt moves forward
// and its balances follow; the new version is put in the feed, so the next poll brings the change to
// Formance.
func (d *Dataset) Apply(ctx context.Context, txID string, action Action) (models.Transaction, error) {
	var updated models.Transaction
	err := d.update(ctx, func(o *op) error {
		stored, ok := o.Transactions[txID]
		if !ok {
			return connector.NotFound("transaction %q does not exist", txID)
		}
		tx := stored.Tx
		to, err := NextStatus(tx.Type, tx.Status, action)
		if err != nil {
			var ce *connector.Error
			if errors.As(err, &ce) { // name the transaction, keep the kind (400)
				return &connector.Error{Kind: ce.Kind, Detail: "transaction " + txID + ": " + ce.Detail}
			}
			return err
		}
		updated = tx
		updated.Status = to
		updated.UpdatedAt = o.now()
		o.putTransaction(updated)
		o.applyBalance(tx, -1)
		o.applyBalance(updated, +1)
		return nil
	})
	return updated, err
}

// applyBalance adds (sign +1) or removes (sign -1) the effect of tx on the balances of the internal
// accounts it touches, if its status means that money moved.
func (st *tenantState) applyBalance(tx models.Transaction, sign int) {
	st.hold(tx, sign)
	if !countsTowardBalance(tx.Status) {
		return
	}
	move := func(account string, amount models.Amount) {
		if _, internal := st.accountAsset(account); !internal {
			return // a beneficiary or an outside payer
		}
		if st.Balances[account] == nil {
			st.Balances[account] = map[models.Asset]models.Amount{}
		}
		st.Balances[account][tx.Currency] = st.Balances[account][tx.Currency].Add(amount)
	}
	in, out := tx.Amount, models.AmountFromInt64(0).Sub(tx.Amount)
	if sign < 0 {
		in, out = out, in
	}
	move(tx.SourceAccountID, out)
	move(tx.DestinationAccountID, in)
}

// ---------------------------------------------------------------------------------------------------
// Generating data

// GenerateSpec says what Generate creates. Zero fields mean "pick for me".
type GenerateSpec struct {
	// Count is the number of transactions, 1 to maxGenerate.
	Count int
	// Type restricts the batch to one type; empty makes a mix of pay-ins, payouts and transfers
	// (payouts when a beneficiary exists, transfers when two accounts do).
	Type models.TransactionType
	// AccountID restricts the batch to one internal account: pay-ins into it, payouts and transfers
	// out of it.
	AccountID string
	// Amount is the amount of every transaction; unset means a random amount.
	Amount models.Amount
	// Asset is the asset of every transaction; empty means the account's default asset.
	Asset models.Asset
	// Status is the status every transaction starts in; empty means a realistic mix.
	Status models.TransactionStatus
	// AllowNegative lets payouts and transfers take an account below zero; by default they are
	// paid only from the funds an account has available.
	AllowNegative bool
}

// maxGenerate is the largest batch the panel may ask for.
const maxGenerate = 1000

// Generate creates a batch of transactions between existing accounts, all or nothing.
func (d *Dataset) Generate(ctx context.Context, spec GenerateSpec) ([]models.Transaction, error) {
	if spec.Count < 1 || spec.Count > maxGenerate {
		return nil, connector.InvalidRequest("count must be between 1 and %d, got %d", maxGenerate, spec.Count)
	}
	var batch []models.Transaction
	err := d.update(ctx, func(o *op) error {
		var err error
		batch, err = o.generate(spec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return batch, nil
}

func (o *op) generate(spec GenerateSpec) ([]models.Transaction, error) {
	if spec.Amount.IsSet() && spec.Amount.Sign() <= 0 {
		return nil, connector.InvalidRequest("amount must be a positive integer in minor units, got %q", spec.Amount)
	}
	if spec.Asset != "" {
		if err := spec.Asset.Validate(); err != nil {
			return nil, connector.InvalidRequest("%v", err) // names the asset and the value
		}
	}
	accounts := o.accountIDs()
	if len(accounts) == 0 {
		return nil, connector.InvalidRequest("there is no internal account yet: create one with New first")
	}
	if spec.AccountID != "" {
		if _, ok := o.accountAsset(spec.AccountID); !ok {
			return nil, connector.InvalidRequest("unknown account %q", spec.AccountID)
		}
	}
	beneficiaries := o.Beneficiaries
	var types []models.TransactionType
	switch spec.Type {
	case "":
		types = append(types, models.TransactionTypePayin)
		if len(beneficiaries) > 0 {
			types = append(types, models.TransactionTypePayout)
		}
		if len(accounts) > 1 {
			types = append(types, models.TransactionTypeTransfer)
		}
	case models.TransactionTypePayin:
		types = append(types, spec.Type)
	case models.TransactionTypePayout:
		if len(beneficiaries) == 0 {
			return nil, connector.InvalidRequest("payouts pay a beneficiary and there is none yet: create one with New first")
		}
		types = append(types, spec.Type)
	case models.TransactionTypeTransfer:
		if len(accounts) < 2 {
			return nil, connector.InvalidRequest("transfers need two internal accounts, there is %d", len(accounts))
		}
		types = append(types, spec.Type)
	default:
		return nil, connector.InvalidRequest("type %q cannot be generated (want PAYIN, PAYOUT, TRANSFER, or empty for a mix)", spec.Type)
	}
	if spec.Status != "" {
		for _, t := range types {
			if err := checkInitialStatus(t, spec.Status); err != nil {
				return nil, err
			}
		}
	}

	// Nothing was refused: build the batch and account for it. The feed gets it in one Put. A slot
	// of a mix that no account can fund (or, for a transfer, no two accounts of one asset) becomes a
	// pay-in; a batch of one type that cannot be made is refused whole.
	batch := make([]models.Transaction, 0, spec.Count)
	for i := range spec.Count {
		tx, err := o.randomTransaction(spec, types[i%len(types)], accounts, beneficiaries, i+1)
		if err != nil && spec.Type == "" {
			tx, err = o.randomTransaction(spec, models.TransactionTypePayin, accounts, beneficiaries, i+1)
		}
		if err != nil {
			return nil, err
		}
		batch = append(batch, tx)
		o.putTransaction(tx)
		o.applyBalance(tx, +1)
		if tx.Type != models.TransactionTypePayin {
			o.recordOrder(tx, order{IdempotencyKey: "panel-" + tx.ID, Origin: "panel"})
		}
	}
	return batch, nil
}

// randomTransaction makes the n-th transaction of a batch, of type t. Unless spec.AllowNegative, a
// payout or a transfer is paid only by an account that has the funds (spec.AccountID's, or one picked
// among those that have some), for at most what it has available.
func (o *op) randomTransaction(spec GenerateSpec, t models.TransactionType, accounts []string, beneficiaries []models.Beneficiary, n int) (models.Transaction, error) {
	pick := func(ids []string) string { return ids[o.rng.IntN(len(ids))] }
	assetOf := func(account string) models.Asset {
		own, _ := o.accountAsset(account)
		return cmp.Or(spec.Asset, own)
	}
	what := fmt.Sprintf("%s %d of the batch", strings.ToLower(string(t)), n)
	tx := models.Transaction{Type: t, Amount: spec.Amount}
	if !tx.Amount.IsSet() {
		tx.Amount = models.AmountFromInt64(100 + o.rng.Int64N(99_900)) // 1.00 to 999.99 in a 2-digit asset
	}
	own := spec.AccountID
	if own == "" {
		candidates := accounts
		if t != models.TransactionTypePayin && !spec.AllowNegative {
			candidates = slices.DeleteFunc(slices.Clone(accounts), func(id string) bool { return o.available(id, assetOf(id)).Sign() <= 0 })
		}
		if t == models.TransactionTypeTransfer {
			candidates = slices.DeleteFunc(slices.Clone(candidates), func(id string) bool { return len(o.transferDestinations(id, assetOf(id), accounts)) == 0 })
		}
		if len(candidates) == 0 {
			if t == models.TransactionTypeTransfer {
				return tx, connector.InvalidRequest("cannot make %s: no account with funds has another account of its asset to transfer to "+
					"(a transfer moves money between accounts of one asset)", what)
			}
			return tx, connector.InvalidRequest("cannot make %s: no account has funds to pay it; generate pay-ins first, "+
				"open an account with an opening balance, or allow negative balances", what)
		}
		own = pick(candidates)
	}
	tx.Currency = assetOf(own)
	switch t {
	case models.TransactionTypePayin:
		tx.DestinationAccountID = own
	case models.TransactionTypePayout:
		tx.SourceAccountID = own
		tx.DestinationAccountID = beneficiaries[o.rng.IntN(len(beneficiaries))].ID
	case models.TransactionTypeTransfer:
		tx.SourceAccountID = own
		destinations := o.transferDestinations(own, tx.Currency, accounts)
		if len(destinations) == 0 {
			return tx, connector.InvalidRequest("cannot make %s: no other account holds %s (a transfer moves money between accounts of one asset)", what, tx.Currency)
		}
		tx.DestinationAccountID = pick(destinations)
	}
	if t != models.TransactionTypePayin && !spec.AllowNegative {
		available := o.available(own, tx.Currency)
		if !spec.Amount.IsSet() && available.Sign() > 0 && available.Cmp(tx.Amount) < 0 {
			tx.Amount = available
		}
		if err := o.checkFunds(own, tx.Currency, tx.Amount, what, "; fund it first, or allow negative balances"); err != nil {
			return tx, err
		}
	}
	tx.ID = o.nextID("tx")
	tx.Status = cmp.Or(spec.Status, o.realisticStatus(t))
	tx.CreatedAt = o.now()
	tx.UpdatedAt = tx.CreatedAt
	return tx, nil
}

// transferDestinations returns the other internal accounts whose asset is asset.
func (o *op) transferDestinations(source string, asset models.Asset, accounts []string) []string {
	var out []string
	for _, id := range accounts {
		if own, _ := o.accountAsset(id); id != source && own == asset {
			out = append(out, id)
		}
	}
	return out
}

// realisticStatus: most payments have succeeded by the time they are listed; some are still in
// flight, which leaves lifecycle actions to play with.
func (o *op) realisticStatus(t models.TransactionType) models.TransactionStatus {
	r := o.rng.IntN(10)
	switch {
	case r < 6:
		return models.TransactionStatusSucceeded
	case r < 8 || t != models.TransactionTypePayin:
		return models.TransactionStatusPending
	default:
		return models.TransactionStatusAuthorisation
	}
}

// accountIDs returns the ids of the internal accounts, sorted.
func (st *tenantState) accountIDs() []string {
	ids := make([]string, 0, len(st.Accounts))
	for _, a := range st.Accounts {
		ids = append(ids, a.Account.ID)
	}
	slices.Sort(ids)
	return ids
}

// Seed creates exactly the given numbers of accounts, beneficiaries and transactions in a tenant that
// is still empty, and reports whether it did: a tenant that holds anything (seeded by another process
// sharing the database, or before a restart) is left as it is. Every account opens with
// seedOpeningBalance; the first transactions are one succeeded pay-in per account, and the others
// never take an account below zero.
func (d *Dataset) Seed(ctx context.Context, accounts, beneficiaries, transactions int) (bool, error) {
	switch {
	case accounts < 0 || beneficiaries < 0 || transactions < 0:
		return false, fmt.Errorf("seed counts must not be negative")
	case transactions > 0 && accounts == 0:
		return false, fmt.Errorf("seeding transactions needs at least one account")
	}
	seeded := false
	err := d.change(ctx, false, func(o *op) error {
		seeded = false
		if !o.empty() {
			return nil
		}
		seeded = true
		return o.seed(accounts, beneficiaries, transactions)
	})
	return seeded && err == nil, err
}

func (o *op) seed(accounts, beneficiaries, transactions int) error {
	assets := []models.Asset{"USD/2", "EUR/2", "GBP/2"}
	for i := range accounts {
		asset := assets[i%len(assets)]
		name := accountNames[i%len(accountNames)] + " " + asset.Code()
		if i >= len(accountNames) {
			name += fmt.Sprintf(" #%d", i/len(accountNames)+1)
		}
		o.createAccount(name, asset, models.AmountFromInt64(seedOpeningBalance), nil)
	}
	for i := range beneficiaries {
		name := beneficiaryNames[i%len(beneficiaryNames)]
		if i >= len(beneficiaryNames) {
			name += fmt.Sprintf(" #%d", i/len(beneficiaryNames)+1)
		}
		o.createBeneficiary(name, nil)
	}
	ids := o.accountIDs()
	for i := 0; i < transactions && i < len(ids); i++ {
		spec := GenerateSpec{Count: 1, Type: models.TransactionTypePayin, AccountID: ids[i],
			Amount: models.AmountFromInt64(100_000 + o.rng.Int64N(900_000)), Status: models.TransactionStatusSucceeded}
		if _, err := o.generate(spec); err != nil {
			return err
		}
	}
	for left := transactions - len(ids); left > 0; left -= maxGenerate {
		if _, err := o.generate(GenerateSpec{Count: min(left, maxGenerate)}); err != nil {
			return err
		}
	}
	return nil
}

// seedOpeningBalance is the opening balance of every seeded account, in minor units of its asset
// (10,000.00 in a 2-digit asset): enough for Formance's first payouts and transfers.
const seedOpeningBalance = 1_000_000

var accountNames = []string{"Operating", "Settlement", "Reserve", "Payroll", "Marketplace", "Escrow", "Treasury", "Refunds"}

var beneficiaryNames = []string{
	"Northwind Traders", "Blue Harbor Foods", "Maria Schmidt", "Kenji Tanaka", "Atlas Freight",
	"Lumen Studio", "Olivia Martin", "Green Valley Farms", "Priya Nair", "Copperleaf Books",
}

// ---------------------------------------------------------------------------------------------------
// Request log

// RequestLogEntry is one request made to the contract's routes: by Formance (or anyone) with a key
// that holds data, in that key's log; refused, or with a key that holds no data, in the log of stray
// requests, where Key shows the key's first characters only and Reason why nothing was served.
// Path, Query and Reason are clipped to a few hundred bytes (see clipLogged).
type RequestLogEntry struct {
	At         time.Time `json:"at"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query"`
	Status     int       `json:"status"`
	DurationMs float64   `json:"durationMs"`
	// Key is the start of the API key of a stray request ("acme…(9 characters)"), empty when the
	// request had none.
	Key string `json:"key,omitempty"`
	// Reason says why a stray request reached no data: the Detail of a refusal, or that the key
	// holds no data.
	Reason string `json:"reason,omitempty"`
}

// maxLoggedField bounds each text field of a request log entry: a 60 KB query string costs the log
// a few hundred bytes, not its size.
const maxLoggedField = 300

// clipLogged cuts s to maxLoggedField bytes, marked with its full length (httpserver.Clip).
func clipLogged(s string) string { return httpserver.Clip(s, maxLoggedField) }

// keyHint shows the first characters of a key, never more than half of it nor more than 4, with its
// length: enough to spot a typo'd key, not enough to use it.
func keyHint(key string) string {
	if key == "" {
		return ""
	}
	n := min(4, len(key)/2)
	for n > 0 && !utf8.RuneStart(key[n]) {
		n--
	}
	return fmt.Sprintf("%s…(%d characters)", key[:n], utf8.RuneCountInString(key))
}

// requestLog is a ring buffer of the last size requests of one tenant (or of the stray requests). It
// lives in the process that served them: with -postgres, each process shows the requests it served.
type requestLog struct {
	size int

	mu      sync.Mutex
	entries []RequestLogEntry
	next    int
}

func (l *requestLog) add(e RequestLogEntry) {
	e.Path, e.Query, e.Reason = clipLogged(e.Path), clipLogged(e.Query), clipLogged(e.Reason)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) < l.size {
		l.entries = append(l.entries, e)
		return
	}
	l.entries[l.next] = e
	l.next = (l.next + 1) % l.size
}

// recent returns the remembered requests, newest first.
func (l *requestLog) recent() []RequestLogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]RequestLogEntry, 0, len(l.entries))
	for i := range l.entries {
		// Oldest is at next once the buffer has wrapped, at 0 before.
		out = append(out, l.entries[(l.next+i)%len(l.entries)])
	}
	slices.Reverse(out)
	return out
}

// requestLog returns the log of a tenant. Only tenants with data have one (see recordRequests), so
// there are at most as many logs as tenants.
func (p *PSP) requestLog(tenant string) *requestLog {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.logs[tenant]
	if !ok {
		l = &requestLog{size: p.limits.requestLog}
		p.logs[tenant] = l
	}
	return l
}

// LogRequest remembers one request made with this dataset's key (the panel shows the last ones).
func (d *Dataset) LogRequest(e RequestLogEntry) { d.psp.requestLog(d.tenant).add(e) }

// Requests returns the requests this process remembers for the dataset, newest first.
func (d *Dataset) Requests() []RequestLogEntry {
	d.psp.mu.Lock()
	l, ok := d.psp.logs[d.tenant]
	d.psp.mu.Unlock()
	if !ok {
		return []RequestLogEntry{}
	}
	return l.recent()
}

// LogStray remembers a request that reached no dataset (see RequestLogEntry).
func (p *PSP) LogStray(e RequestLogEntry) { p.stray.add(e) }

// StrayRequests returns the stray requests this process remembers, newest first.
func (p *PSP) StrayRequests() []RequestLogEntry { return p.stray.recent() }

// HasData reports whether anything was ever created for the dataset.
func (d *Dataset) HasData(ctx context.Context) (bool, error) {
	var has bool
	err := d.view(ctx, func(st *tenantState) error { has = !st.empty(); return nil })
	return has, err
}
