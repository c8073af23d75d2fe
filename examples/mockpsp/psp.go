package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// This file is the simulated PSP: what, in a real middleware, would be the payment provider's API on
// the other side of an HTTP client. Each API key gets its own Dataset, created on first use.
//
// The lists Formance polls (accounts, beneficiaries, transactions) live in pagination.Collections:
// they give every item a unique, growing served time, so the middleware loses nothing even when the
// PSP's own timestamps are truncated to the second (-timestamp-precision 1s).

// PSP is the simulated payment service provider: one isolated Dataset per API key.
type PSP struct {
	clock *Clock

	mu      sync.Mutex
	tenants map[string]*Dataset
}

// NewPSP returns an empty PSP whose timestamps come from clock.
func NewPSP(clock *Clock) *PSP {
	return &PSP{clock: clock, tenants: map[string]*Dataset{}}
}

// Dataset returns the dataset of an API key, creating an empty one on first use. Keys never see each
// other's data.
func (p *PSP) Dataset(key string) *Dataset {
	return p.TenantDataset(TenantOf(key))
}

// TenantDataset returns the dataset of a tenant name (see TenantOf), creating it on first use.
func (p *PSP) TenantDataset(tenant string) *Dataset {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.tenants[tenant]
	if !ok {
		d = newDataset(tenant, p.clock)
		p.tenants[tenant] = d
	}
	return d
}

// TenantOf names the tenant of an API key: "tenant-" and the first 16 hex digits of the key's
// SHA-256. The library logs the tenant of every request; deriving it from the key keeps the key itself
// out of the logs.
func TenantOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "tenant-" + hex.EncodeToString(sum[:8])
}

// Dataset is the data of one tenant (one API key). All its methods are safe for concurrent use.
type Dataset struct {
	clock *Clock

	// The polled lists. Collections are safe for concurrent use on their own; mu keeps them
	// consistent with the maps below when one operation touches several.
	accounts      *pagination.Collection[models.Account]
	beneficiaries *pagination.Collection[models.Beneficiary]
	transactions  *pagination.Collection[models.Transaction]

	mu           sync.Mutex
	rng          *rand.Rand
	counters     map[string]int
	accountAsset map[string]models.Asset                   // default asset of each internal account
	balances     map[string]map[models.Asset]models.Amount // derived from transactions that moved money
	bankAccounts []models.BankAccount
	payouts      map[string]order // by transaction id: a payout's id is its transaction's id
	transfers    map[string]order
	payoutIDs    []string // creation order
	transferIDs  []string
	requests     []RequestLogEntry // ring buffer of the last requests Formance made
	requestsNext int
}

// order holds what a payout or transfer has on top of its transaction.
type order struct {
	idempotencyKey string
	description    string
	metadata       models.Metadata
	origin         string // "formance" (POST /payouts, /transfers) or "panel" (Generate)
}

// RequestLogEntry is one request Formance (or anyone with the key) made to the contract's routes.
type RequestLogEntry struct {
	At         time.Time `json:"at"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query"`
	Status     int       `json:"status"`
	DurationMs float64   `json:"durationMs"`
}

// requestLogSize is how many requests each dataset remembers.
const requestLogSize = 200

func newDataset(tenant string, clock *Clock) *Dataset {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	seed := h.Sum64()
	return &Dataset{
		clock:         clock,
		accounts:      pagination.NewAccounts(),
		beneficiaries: pagination.NewBeneficiaries(),
		transactions:  pagination.NewTransactions(),
		rng:           rand.New(rand.NewPCG(seed, seed>>1|1)), // same key, same generated data
		counters:      map[string]int{},
		accountAsset:  map[string]models.Asset{},
		balances:      map[string]map[models.Asset]models.Amount{},
		payouts:       map[string]order{},
		transfers:     map[string]order{},
	}
}

// nextID returns the next id with the given prefix, e.g. "acc_0001". Call with mu held.
func (d *Dataset) nextID(prefix string) string {
	d.counters[prefix]++
	return fmt.Sprintf("%s_%04d", prefix, d.counters[prefix])
}

// ---------------------------------------------------------------------------------------------------
// Reads

// Balances returns the balances of one internal account: one entry per asset it ever held, and at
// least its default asset (possibly zero).
func (d *Dataset) Balances(accountID string) (models.Balances, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	asset, ok := d.accountAsset[accountID]
	if !ok {
		return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
	}
	return models.Balances{
		ID:        "bal_" + accountID,
		AccountID: accountID,
		At:        d.clock.Now(),
		Balances:  d.balancesLocked(accountID, asset),
	}, nil
}

func (d *Dataset) balancesLocked(accountID string, defaultAsset models.Asset) []models.Balance {
	held := d.balances[accountID]
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
// transaction is served with in GET /transactions (GetServed), so that both routes agree.
func (d *Dataset) Payout(id string) (models.Payout, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.payouts[id]
	tx, found := d.transactions.GetServed(id)
	if !ok || !found {
		return models.Payout{}, connector.NotFound("payout %q does not exist", id)
	}
	return payoutOf(tx, o), nil
}

// Transfer returns a transfer by id, with the current status and served times of its transaction.
func (d *Dataset) Transfer(id string) (models.Transfer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.transfers[id]
	tx, found := d.transactions.GetServed(id)
	if !ok || !found {
		return models.Transfer{}, connector.NotFound("transfer %q does not exist", id)
	}
	return transferOf(tx, o), nil
}

func payoutOf(tx models.Transaction, o order) models.Payout {
	return models.Payout{
		ID: tx.ID, IdempotencyKey: o.idempotencyKey, Amount: tx.Amount, Currency: tx.Currency,
		SourceAccountID: tx.SourceAccountID, DestinationAccountID: tx.DestinationAccountID,
		Description: o.description, Status: tx.Status, CreatedAt: tx.CreatedAt, UpdatedAt: tx.UpdatedAt,
		Metadata: o.metadata,
	}
}

func transferOf(tx models.Transaction, o order) models.Transfer {
	return models.Transfer(payoutOf(tx, o))
}

// ---------------------------------------------------------------------------------------------------
// Writes. Each one validates everything first and changes nothing when it fails.

// CreateAccount opens an internal account whose default asset is asset.
func (d *Dataset) CreateAccount(name string, asset models.Asset, metadata models.Metadata) (models.Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return models.Account{}, connector.InvalidRequest("an account needs a name")
	}
	if err := asset.Validate(); err != nil {
		return models.Account{}, connector.InvalidRequest("bad asset: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.createAccountLocked(name, asset, metadata)
}

func (d *Dataset) createAccountLocked(name string, asset models.Asset, metadata models.Metadata) (models.Account, error) {
	a := models.Account{ID: d.nextID("acc"), AccountName: name, CreatedAt: d.clock.Now(), Metadata: metadata}
	if err := d.accounts.Put(a); err != nil {
		d.counters["acc"]--
		return models.Account{}, err
	}
	d.accountAsset[a.ID] = asset
	return a, nil
}

// CreateBeneficiary registers an external counterparty that payouts can pay.
func (d *Dataset) CreateBeneficiary(ownerName string, metadata models.Metadata) (models.Beneficiary, error) {
	ownerName = strings.TrimSpace(ownerName)
	if ownerName == "" {
		return models.Beneficiary{}, connector.InvalidRequest("a beneficiary needs an owner name")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.createBeneficiaryLocked(ownerName, metadata)
}

func (d *Dataset) createBeneficiaryLocked(ownerName string, metadata models.Metadata) (models.Beneficiary, error) {
	b := models.Beneficiary{ID: d.nextID("ben"), OwnerName: ownerName, CreatedAt: d.clock.Now(), Metadata: metadata}
	if err := d.beneficiaries.Put(b); err != nil {
		d.counters["ben"]--
		return models.Beneficiary{}, err
	}
	return b, nil
}

// CreateBankAccount registers an external bank account (POST /bank-accounts, or New in the panel).
func (d *Dataset) CreateBankAccount(req models.BankAccountRequest) (models.BankAccount, error) {
	req.Name = strings.TrimSpace(req.Name)
	if err := models.Validate(req); err != nil {
		return models.BankAccount{}, connector.InvalidRequest("%v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ba := models.BankAccount{
		ID: d.nextID("bank"), Name: req.Name, CreatedAt: d.clock.Now(), AccountNumber: req.AccountNumber,
		IBAN: req.IBAN, SwiftBicCode: req.SwiftBicCode, Country: req.Country, Metadata: req.Metadata,
	}
	d.bankAccounts = append(d.bankAccounts, ba)
	return ba, nil
}

// CreatePayout records a payout asked for by Formance, as a PENDING PAYOUT transaction that a person
// settles or fails from the panel. The source must be an internal account; the destination a
// beneficiary, a bank account or an internal account. The payout's id is its transaction's id, and
// the answer carries the times that transaction is served with in GET /transactions.
func (d *Dataset) CreatePayout(req models.PayoutRequest) (models.Payout, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkPaymentLocked(req.SourceAccountID, req.DestinationAccountID, true); err != nil {
		return models.Payout{}, err
	}
	o := order{idempotencyKey: req.IdempotencyKey, description: req.Description, metadata: req.Metadata, origin: "formance"}
	tx, err := d.addOrderLocked(models.TransactionTypePayOut, req.Amount, req.Currency, req.SourceAccountID, req.DestinationAccountID, o)
	if err != nil {
		return models.Payout{}, err
	}
	return payoutOf(tx, o), nil
}

// CreateTransfer records a transfer between two internal accounts asked for by Formance, as a
// PENDING TRANSFER transaction whose id is the transfer's id (times as served, like CreatePayout).
func (d *Dataset) CreateTransfer(req models.TransferRequest) (models.Transfer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkPaymentLocked(req.SourceAccountID, req.DestinationAccountID, false); err != nil {
		return models.Transfer{}, err
	}
	o := order{idempotencyKey: req.IdempotencyKey, description: req.Description, metadata: req.Metadata, origin: "formance"}
	tx, err := d.addOrderLocked(models.TransactionTypeTransfer, req.Amount, req.Currency, req.SourceAccountID, req.DestinationAccountID, o)
	if err != nil {
		return models.Transfer{}, err
	}
	return transferOf(tx, o), nil
}

func (d *Dataset) checkPaymentLocked(source, destination string, external bool) error {
	if _, ok := d.accountAsset[source]; !ok {
		return connector.InvalidRequest("unknown source account %q: it must be an internal account of this PSP", source)
	}
	if source == destination {
		return connector.InvalidRequest("source and destination are the same account %q", source)
	}
	if _, ok := d.accountAsset[destination]; ok {
		return nil
	}
	if external {
		if _, ok := d.beneficiaries.Get(destination); ok {
			return nil
		}
		if slices.ContainsFunc(d.bankAccounts, func(b models.BankAccount) bool { return b.ID == destination }) {
			return nil
		}
		return connector.InvalidRequest("unknown destination %q: want a beneficiary, a bank account or an internal account", destination)
	}
	return connector.InvalidRequest("unknown destination account %q: a transfer goes to an internal account", destination)
}

// addOrderLocked stores the transaction of a payout or transfer created by Formance and returns it
// as GET /transactions serves it. Its relatedTransactionID is left empty: the library sets it to the
// idempotency key on the rows of payouts and transfers it created, so that Formance joins the row
// to the payment initiation.
func (d *Dataset) addOrderLocked(t models.TransactionType, amount models.Amount, asset models.Asset, source, destination string, o order) (models.Transaction, error) {
	now := d.clock.Now()
	tx := models.Transaction{
		ID: d.nextID("tx"), CreatedAt: now, UpdatedAt: now, Currency: asset, Type: t,
		Status: models.TransactionStatusPending, Amount: amount, SourceAccountID: source,
		DestinationAccountID: destination, Metadata: o.metadata,
	}
	if err := d.transactions.Put(tx); err != nil {
		d.counters["tx"]--
		return models.Transaction{}, err
	}
	d.recordOrderLocked(tx, o)
	served, _ := d.transactions.GetServed(tx.ID) // just stored, under mu: always there
	return served, nil
}

func (d *Dataset) recordOrderLocked(tx models.Transaction, o order) {
	switch tx.Type {
	case models.TransactionTypePayOut:
		d.payouts[tx.ID] = o
		d.payoutIDs = append(d.payoutIDs, tx.ID)
	case models.TransactionTypeTransfer:
		d.transfers[tx.ID] = o
		d.transferIDs = append(d.transferIDs, tx.ID)
	}
}

// Apply moves one transaction through its lifecycle (see lifecycle.go). Its updatedAt moves forward
// and its balances follow, so the next poll brings the change to Formance.
func (d *Dataset) Apply(txID string, action Action) (models.Transaction, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, ok := d.transactions.Get(txID)
	if !ok {
		return models.Transaction{}, connector.NotFound("transaction %q does not exist", txID)
	}
	to, err := NextStatus(tx.Type, tx.Status, action)
	if err != nil {
		var ce *connector.Error
		if errors.As(err, &ce) { // name the transaction, keep the kind (400)
			return models.Transaction{}, &connector.Error{Kind: ce.Kind, Detail: "transaction " + txID + ": " + ce.Detail}
		}
		return models.Transaction{}, err
	}
	updated := tx
	updated.Status = to
	updated.UpdatedAt = d.clock.Now()
	if err := d.transactions.Put(updated); err != nil {
		return models.Transaction{}, err
	}
	d.applyBalanceLocked(tx, -1)
	d.applyBalanceLocked(updated, +1)
	return updated, nil
}

// applyBalanceLocked adds (sign +1) or removes (sign -1) the effect of tx on the balances of the
// internal accounts it touches, if its status means that money moved.
func (d *Dataset) applyBalanceLocked(tx models.Transaction, sign int) {
	if !countsTowardBalance(tx.Status) {
		return
	}
	move := func(account string, amount models.Amount) {
		if _, internal := d.accountAsset[account]; !internal {
			return // a beneficiary or an outside payer
		}
		if d.balances[account] == nil {
			d.balances[account] = map[models.Asset]models.Amount{}
		}
		d.balances[account][tx.Currency] = d.balances[account][tx.Currency].Add(amount)
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
}

// maxGenerate is the largest batch the panel may ask for.
const maxGenerate = 1000

// Generate creates a batch of transactions between existing accounts, all or nothing.
func (d *Dataset) Generate(spec GenerateSpec) ([]models.Transaction, error) {
	if spec.Count < 1 || spec.Count > maxGenerate {
		return nil, connector.InvalidRequest("count must be between 1 and %d, got %d", maxGenerate, spec.Count)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.generateLocked(spec)
}

func (d *Dataset) generateLocked(spec GenerateSpec) ([]models.Transaction, error) {
	if spec.Amount.IsSet() && spec.Amount.Sign() <= 0 {
		return nil, connector.InvalidRequest("amount must be a positive integer in minor units, got %q", spec.Amount)
	}
	if spec.Asset != "" {
		if err := spec.Asset.Validate(); err != nil {
			return nil, connector.InvalidRequest("bad asset: %v", err)
		}
	}
	accounts := d.accountIDsLocked()
	if len(accounts) == 0 {
		return nil, connector.InvalidRequest("there is no internal account yet: create one with New first")
	}
	if spec.AccountID != "" {
		if _, ok := d.accountAsset[spec.AccountID]; !ok {
			return nil, connector.InvalidRequest("unknown account %q", spec.AccountID)
		}
	}
	beneficiaries := d.beneficiaries.All()
	var types []models.TransactionType
	switch spec.Type {
	case "":
		types = append(types, models.TransactionTypePayIn)
		if len(beneficiaries) > 0 {
			types = append(types, models.TransactionTypePayOut)
		}
		if len(accounts) > 1 {
			types = append(types, models.TransactionTypeTransfer)
		}
	case models.TransactionTypePayIn:
		types = append(types, spec.Type)
	case models.TransactionTypePayOut:
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

	// Build the whole batch, store it in one Put (all or nothing), then account for it.
	batch := make([]models.Transaction, 0, spec.Count)
	first := d.counters["tx"]
	for i := range spec.Count {
		batch = append(batch, d.randomTransactionLocked(spec, types[i%len(types)], accounts, beneficiaries))
	}
	if err := d.transactions.Put(batch...); err != nil {
		d.counters["tx"] = first
		return nil, err
	}
	for _, tx := range batch {
		d.applyBalanceLocked(tx, +1)
		if tx.Type != models.TransactionTypePayIn {
			d.recordOrderLocked(tx, order{idempotencyKey: "panel-" + tx.ID, origin: "panel"})
		}
	}
	return batch, nil
}

func (d *Dataset) randomTransactionLocked(spec GenerateSpec, t models.TransactionType, accounts []string, beneficiaries []models.Beneficiary) models.Transaction {
	pick := func(ids []string) string { return ids[d.rng.IntN(len(ids))] }
	own := spec.AccountID
	if own == "" {
		own = pick(accounts)
	}
	tx := models.Transaction{ID: d.nextID("tx"), Type: t}
	switch t {
	case models.TransactionTypePayIn:
		tx.DestinationAccountID = own
	case models.TransactionTypePayOut:
		tx.SourceAccountID = own
		tx.DestinationAccountID = beneficiaries[d.rng.IntN(len(beneficiaries))].ID
	case models.TransactionTypeTransfer:
		tx.SourceAccountID = own
		tx.DestinationAccountID = d.transferDestinationLocked(own, accounts)
	}
	tx.Currency = cmp.Or(spec.Asset, d.accountAsset[own])
	tx.Amount = spec.Amount
	if !tx.Amount.IsSet() {
		tx.Amount = models.AmountFromInt64(100 + d.rng.Int64N(99_900)) // 1.00 to 999.99 in a 2-digit asset
	}
	tx.Status = cmp.Or(spec.Status, d.realisticStatusLocked(t))
	tx.CreatedAt = d.clock.Now()
	tx.UpdatedAt = tx.CreatedAt
	return tx
}

// transferDestinationLocked picks another account, preferably one with the same default asset.
func (d *Dataset) transferDestinationLocked(source string, accounts []string) string {
	var same, other []string
	for _, id := range accounts {
		switch {
		case id == source:
		case d.accountAsset[id] == d.accountAsset[source]:
			same = append(same, id)
		default:
			other = append(other, id)
		}
	}
	if len(same) > 0 {
		return same[d.rng.IntN(len(same))]
	}
	return other[d.rng.IntN(len(other))]
}

// realisticStatusLocked: most payments have succeeded by the time they are listed; some are still in
// flight, which leaves lifecycle actions to play with.
func (d *Dataset) realisticStatusLocked(t models.TransactionType) models.TransactionStatus {
	r := d.rng.IntN(10)
	switch {
	case r < 6:
		return models.TransactionStatusSucceeded
	case r < 8 || t != models.TransactionTypePayIn:
		return models.TransactionStatusPending
	default:
		return models.TransactionStatusAuthorisation
	}
}

func (d *Dataset) accountIDsLocked() []string {
	ids := make([]string, 0, len(d.accountAsset))
	for id := range d.accountAsset {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Seed creates exactly the given numbers of accounts, beneficiaries and transactions. The first
// transactions are one succeeded pay-in per account, so that every account has money; every account
// reports a balance in its default asset in any case.
func (d *Dataset) Seed(accounts, beneficiaries, transactions int) error {
	switch {
	case accounts < 0 || beneficiaries < 0 || transactions < 0:
		return fmt.Errorf("seed counts must not be negative")
	case transactions > 0 && accounts == 0:
		return fmt.Errorf("seeding transactions needs at least one account")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	assets := []models.Asset{"USD/2", "EUR/2", "GBP/2"}
	for i := range accounts {
		asset := assets[i%len(assets)]
		name := accountNames[i%len(accountNames)] + " " + asset.Code()
		if i >= len(accountNames) {
			name += fmt.Sprintf(" #%d", i/len(accountNames)+1)
		}
		if _, err := d.createAccountLocked(name, asset, nil); err != nil {
			return err
		}
	}
	for i := range beneficiaries {
		name := beneficiaryNames[i%len(beneficiaryNames)]
		if i >= len(beneficiaryNames) {
			name += fmt.Sprintf(" #%d", i/len(beneficiaryNames)+1)
		}
		if _, err := d.createBeneficiaryLocked(name, nil); err != nil {
			return err
		}
	}
	ids := d.accountIDsLocked()
	for i := 0; i < transactions && i < len(ids); i++ {
		spec := GenerateSpec{Count: 1, Type: models.TransactionTypePayIn, AccountID: ids[i],
			Amount: models.AmountFromInt64(100_000 + d.rng.Int64N(900_000)), Status: models.TransactionStatusSucceeded}
		if _, err := d.generateLocked(spec); err != nil {
			return err
		}
	}
	for left := transactions - len(ids); left > 0; left -= maxGenerate {
		if _, err := d.generateLocked(GenerateSpec{Count: min(left, maxGenerate)}); err != nil {
			return err
		}
	}
	return nil
}

var accountNames = []string{"Operating", "Settlement", "Reserve", "Payroll", "Marketplace", "Escrow", "Treasury", "Refunds"}

var beneficiaryNames = []string{
	"Northwind Traders", "Blue Harbor Foods", "Maria Schmidt", "Kenji Tanaka", "Atlas Freight",
	"Lumen Studio", "Olivia Martin", "Green Valley Farms", "Priya Nair", "Copperleaf Books",
}

// ---------------------------------------------------------------------------------------------------
// Request log

// LogRequest remembers one request made with this dataset's key (the panel shows the last ones).
func (d *Dataset) LogRequest(e RequestLogEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.requests) < requestLogSize {
		d.requests = append(d.requests, e)
		return
	}
	d.requests[d.requestsNext] = e
	d.requestsNext = (d.requestsNext + 1) % requestLogSize
}

// recentRequestsLocked returns the remembered requests, newest first.
func (d *Dataset) recentRequestsLocked() []RequestLogEntry {
	out := make([]RequestLogEntry, 0, len(d.requests))
	for i := range d.requests {
		// Oldest is at requestsNext once the buffer has wrapped, at 0 before.
		out = append(out, d.requests[(d.requestsNext+i)%len(d.requests)])
	}
	slices.Reverse(out)
	return out
}
