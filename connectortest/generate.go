package connectortest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// GenSpec describes a dataset for Generate. Zero fields take the defaults given.
type GenSpec struct {
	// Seed makes the dataset reproducible: the same GenSpec always gives the same Dataset.
	Seed uint64
	// Accounts, Beneficiaries and Transactions are the numbers of items to generate.
	Accounts, Beneficiaries, Transactions int
	// Start is the time of the first item of each list (default 2024-01-01T00:00:00Z).
	Start time.Time
	// Precision is the precision of every timestamp, as a PSP would report it: time.Nanosecond,
	// time.Millisecond, time.Second, … (default time.Nanosecond). Coarse precisions with a high
	// PerSecond give many items that share one timestamp, which is what loses items at Formance.
	Precision time.Duration
	// PerSecond is the average number of items per second of each list (default 10): the gaps between
	// consecutive items are drawn from an exponential distribution of mean 1/PerSecond seconds, then
	// the times are truncated to Precision.
	PerSecond float64
	// Lifecycle, when set, gives some transactions a history: they were created PENDING (or
	// AUTHORISATION) and have since reached a later status, with an updatedAt after their createdAt.
	// Without it, every transaction is SUCCEEDED with updatedAt equal to createdAt.
	Lifecycle bool
}

// Dataset is a generated, valid dataset: accounts acc_0001…, beneficiaries ben_0001…, transactions
// tx_0001… in assets USD/2, EUR/2 and JPY/0, and the balances of every account. Generate returns the
// items in time order (transactions by updatedAt). Load it into a MemoryProvider, or serve it any
// other way.
//
// Advance moves transactions through their lifecycle; it changes Transactions in place. A Dataset is
// not safe for concurrent use.
type Dataset struct {
	// Spec is the GenSpec the dataset was generated from, with defaults filled in.
	Spec GenSpec
	// Accounts are the internal accounts, acc_0001 first, in createdAt order.
	Accounts []models.Account
	// Beneficiaries are the beneficiaries, ben_0001 first, in createdAt order.
	Beneficiaries []models.Beneficiary
	// Transactions are the transactions, each in its latest state (Advance changes them in place).
	Transactions []models.Transaction
	// Balances holds the balances of every account, keyed by account id.
	Balances map[string][]models.Balance

	rng  *rand.Rand
	last time.Time // the latest updatedAt handed out
}

var assets = []models.Asset{"USD/2", "EUR/2", "JPY/0"}

// Generate returns the dataset described by spec. It panics on a negative count, a negative
// Precision or PerSecond: these are programming errors.
func Generate(spec GenSpec) *Dataset {
	if spec.Accounts < 0 || spec.Beneficiaries < 0 || spec.Transactions < 0 || spec.Precision < 0 || spec.PerSecond < 0 {
		panic(fmt.Sprintf("connectortest.Generate: negative field in %+v", spec))
	}
	if spec.Start.IsZero() {
		spec.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if spec.Precision == 0 {
		spec.Precision = time.Nanosecond
	}
	if spec.PerSecond == 0 {
		spec.PerSecond = 10
	}
	d := &Dataset{
		Spec:     spec,
		Balances: make(map[string][]models.Balance),
		rng:      rand.New(rand.NewPCG(spec.Seed, 0x636f6e6e6563746f)),
	}
	start := spec.Start.UTC()
	d.addAccounts(d.timeline(start, spec.Accounts))
	d.addBeneficiaries(d.timeline(start, spec.Beneficiaries))
	for i, at := range d.timeline(start, spec.Transactions) {
		d.Transactions = append(d.Transactions, d.transaction(i, spec.Transactions, at))
	}
	if spec.Lifecycle {
		d.lifecycle()
	}
	slices.SortStableFunc(d.Transactions, func(a, b models.Transaction) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	for _, tx := range d.Transactions {
		if tx.UpdatedAt.After(d.last) {
			d.last = tx.UpdatedAt
		}
	}
	return d
}

func (d *Dataset) addAccounts(times []time.Time) []models.Account {
	first := len(d.Accounts)
	for k, at := range times {
		i := first + k
		a := models.Account{
			ID:          itemID("acc", i, first+len(times)),
			AccountName: fmt.Sprintf("Account %d", i+1),
			CreatedAt:   at,
		}
		if i%3 == 0 {
			a.Metadata = models.Metadata{"segment": []string{"retail", "business", "treasury"}[i%9/3]}
		}
		d.Accounts = append(d.Accounts, a)
		n := 1 + d.rng.IntN(2)
		for j := range n {
			d.Balances[a.ID] = append(d.Balances[a.ID], models.Balance{
				Amount:   models.AmountFromInt64(d.rng.Int64N(2_000_000) - 200_000),
				Currency: assets[(i+j)%len(assets)],
			})
		}
	}
	return d.Accounts[first:]
}

func (d *Dataset) addBeneficiaries(times []time.Time) []models.Beneficiary {
	first := len(d.Beneficiaries)
	for k, at := range times {
		i := first + k
		d.Beneficiaries = append(d.Beneficiaries, models.Beneficiary{
			ID:        itemID("ben", i, first+len(times)),
			OwnerName: fmt.Sprintf("Beneficiary %d", i+1),
			CreatedAt: at,
		})
	}
	return d.Beneficiaries[first:]
}

// More generates new items that continue the dataset, as a PSP reports new activity: accounts,
// beneficiaries and transactions numbered after the existing ones, each list's times continuing
// from its latest one with the dataset's density and Precision (so at a coarse Precision new items
// often share the second of the latest existing ones). It appends them to d and returns them as a
// Dataset of their own (with the new accounts' balances), ready for MemoryProvider.Load.
func (d *Dataset) More(accounts, beneficiaries, transactions int) *Dataset {
	out := &Dataset{Spec: d.Spec, Balances: make(map[string][]models.Balance)}
	out.Accounts = slices.Clone(d.addAccounts(d.continueTimeline(len(d.Accounts), func(i int) time.Time { return d.Accounts[i].CreatedAt }, accounts)))
	for _, a := range out.Accounts {
		out.Balances[a.ID] = d.Balances[a.ID]
	}
	out.Beneficiaries = slices.Clone(d.addBeneficiaries(d.continueTimeline(len(d.Beneficiaries), func(i int) time.Time { return d.Beneficiaries[i].CreatedAt }, beneficiaries)))
	first := len(d.Transactions)
	at := d.last
	for k := range transactions {
		at = at.Add(d.gap())
		tx := d.transaction(first+k, first+transactions, at.Truncate(d.Spec.Precision))
		d.Transactions = append(d.Transactions, tx)
		out.Transactions = append(out.Transactions, tx)
		if tx.UpdatedAt.After(d.last) {
			d.last = tx.UpdatedAt
		}
	}
	return out
}

// continueTimeline returns n times after the latest of the first count items.
func (d *Dataset) continueTimeline(count int, timeOf func(int) time.Time, n int) []time.Time {
	start := d.Spec.Start.UTC()
	for i := range count {
		if t := timeOf(i); t.After(start) {
			start = t
		}
	}
	if count > 0 {
		start = start.Add(d.gap())
	}
	return d.timeline(start, n)
}

// itemID returns prefix_0001 style ids, wide enough for n items.
func itemID(prefix string, i, n int) string {
	width := max(4, len(strconv.Itoa(n)))
	return fmt.Sprintf("%s_%0*d", prefix, width, i+1)
}

// timeline returns n non-decreasing times from start, with exponential gaps, truncated to Precision.
func (d *Dataset) timeline(start time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	at := start
	for i := range out {
		out[i] = at.Truncate(d.Spec.Precision)
		at = at.Add(d.gap())
	}
	return out
}

// gap draws one gap between consecutive items.
func (d *Dataset) gap() time.Duration {
	g := d.rng.ExpFloat64() / d.Spec.PerSecond * float64(time.Second)
	return time.Duration(math.Min(g, float64(24*time.Hour)))
}

func (d *Dataset) transaction(i, n int, at time.Time) models.Transaction {
	tx := models.Transaction{
		ID:        itemID("tx", i, n),
		CreatedAt: at,
		UpdatedAt: at,
		Currency:  assets[d.rng.IntN(len(assets))],
		Type:      models.TransactionTypes()[d.rng.IntN(len(models.TransactionTypes()))],
		Status:    models.TransactionStatusSucceeded,
		Amount:    models.AmountFromInt64(1 + d.rng.Int64N(500_000)),
		Scheme:    []string{"sepa", "card", "swift", ""}[d.rng.IntN(4)],
	}
	acc := func() string {
		if len(d.Accounts) == 0 {
			return ""
		}
		return d.Accounts[d.rng.IntN(len(d.Accounts))].ID
	}
	ben := func() string {
		if len(d.Beneficiaries) == 0 {
			return acc()
		}
		return d.Beneficiaries[d.rng.IntN(len(d.Beneficiaries))].ID
	}
	switch tx.Type {
	case models.TransactionTypePayin:
		tx.DestinationAccountID = acc()
	case models.TransactionTypePayout:
		tx.SourceAccountID, tx.DestinationAccountID = acc(), ben()
	case models.TransactionTypeTransfer:
		tx.SourceAccountID, tx.DestinationAccountID = acc(), acc()
	}
	if i%5 == 0 {
		tx.Metadata = models.Metadata{"reference": fmt.Sprintf("INV-%05d", i+1)}
	}
	return tx
}

// lifecycle gives about a third of the transactions an earlier start state and a later updatedAt.
func (d *Dataset) lifecycle() {
	for i := range d.Transactions {
		tx := &d.Transactions[i]
		switch d.rng.IntN(6) {
		case 0:
			tx.Status = models.TransactionStatusPending
		case 1:
			tx.Status = models.TransactionStatusAuthorisation
		case 2:
			tx.Status = []models.TransactionStatus{models.TransactionStatusFailed, models.TransactionStatusRefunded, models.TransactionStatusCapture}[d.rng.IntN(3)]
			tx.UpdatedAt = tx.CreatedAt.Add(d.gap() * time.Duration(1+d.rng.IntN(20))).Truncate(d.Spec.Precision)
			if !tx.UpdatedAt.After(tx.CreatedAt) {
				tx.UpdatedAt = tx.CreatedAt.Add(d.Spec.Precision)
			}
		}
	}
}

// next is the lifecycle step of each status; terminal statuses have none.
var next = map[models.TransactionStatus][]models.TransactionStatus{
	models.TransactionStatusPending:       {models.TransactionStatusSucceeded, models.TransactionStatusFailed, models.TransactionStatusCancelled, models.TransactionStatusExpired},
	models.TransactionStatusAuthorisation: {models.TransactionStatusCapture, models.TransactionStatusCaptureFailed},
	models.TransactionStatusCapture:       {models.TransactionStatusSucceeded},
	models.TransactionStatusSucceeded:     {models.TransactionStatusRefunded, models.TransactionStatusDispute},
	models.TransactionStatusRefunded:      {models.TransactionStatusRefundReversed, models.TransactionStatusRefundedFailure},
	models.TransactionStatusDispute:       {models.TransactionStatusDisputeWon, models.TransactionStatusDisputeLost},
}

// Advance moves up to n transactions one step through their lifecycle (PENDING to SUCCEEDED or
// FAILED, SUCCEEDED to REFUNDED or DISPUTE, DISPUTE to DISPUTE_WON or DISPUTE_LOST, …) and returns
// their new states, in the order of their new updatedAt. Transactions in a final status are left
// alone, so fewer than n may change.
//
// Each new updatedAt continues the dataset's clock: the latest updatedAt so far plus a gap drawn like
// the generated ones, at the dataset's Precision, and always strictly after the transaction's previous
// updatedAt. With a coarse Precision several changes, and earlier transactions, share one second: the
// case that loses changes when a middleware serves PSP timestamps as they are.
func (d *Dataset) Advance(n int) []models.Transaction {
	var candidates []int
	for i, tx := range d.Transactions {
		if len(next[tx.Status]) > 0 {
			candidates = append(candidates, i)
		}
	}
	d.rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	if len(candidates) > n {
		candidates = candidates[:n]
	}
	var out []models.Transaction
	for _, i := range candidates {
		tx := d.Transactions[i]
		steps := next[tx.Status]
		tx.Status = steps[d.rng.IntN(len(steps))]
		at := d.last.Add(d.gap()).Truncate(d.Spec.Precision)
		if !at.After(tx.UpdatedAt) {
			at = tx.UpdatedAt.Truncate(d.Spec.Precision).Add(d.Spec.Precision)
		}
		tx.UpdatedAt = at
		if at.After(d.last) {
			d.last = at
		}
		d.Transactions[i] = tx
		out = append(out, tx)
	}
	slices.SortStableFunc(out, func(a, b models.Transaction) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	return out
}
