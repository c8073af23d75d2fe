package connectortest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	spec := GenSpec{Seed: 42, Accounts: 120, Beneficiaries: 80, Transactions: 400, Lifecycle: true}
	a, b := Generate(spec), Generate(spec)
	assert.Equal(t, a.Accounts, b.Accounts)
	assert.Equal(t, a.Beneficiaries, b.Beneficiaries)
	assert.Equal(t, a.Transactions, b.Transactions)
	assert.Equal(t, a.Balances, b.Balances)
	assert.NotEqual(t, a.Transactions, Generate(GenSpec{Seed: 43, Accounts: 120, Beneficiaries: 80, Transactions: 400, Lifecycle: true}).Transactions)

	require.Len(t, a.Accounts, 120)
	require.Len(t, a.Beneficiaries, 80)
	require.Len(t, a.Transactions, 400)
	assert.Equal(t, "acc_0001", a.Accounts[0].ID)
	assert.Equal(t, "ben_0080", a.Beneficiaries[79].ID)
	for _, acc := range a.Accounts {
		require.NoError(t, models.Validate(acc))
		require.NotEmpty(t, a.Balances[acc.ID], acc.ID)
		for _, bal := range a.Balances[acc.ID] {
			require.NoError(t, models.Validate(bal))
		}
	}
	for _, ben := range a.Beneficiaries {
		require.NoError(t, models.Validate(ben))
	}
	statuses := map[models.TransactionStatus]bool{}
	for i, tx := range a.Transactions {
		require.NoError(t, models.Validate(tx))
		assert.Contains(t, []models.Asset{"USD/2", "EUR/2", "JPY/0"}, tx.Currency)
		assert.False(t, tx.UpdatedAt.Before(tx.CreatedAt), tx.ID)
		if i > 0 {
			assert.False(t, tx.UpdatedAt.Before(a.Transactions[i-1].UpdatedAt), "transactions in updatedAt order")
		}
		statuses[tx.Status] = true
	}
	assert.Greater(t, len(statuses), 2, "Lifecycle gives several statuses")
}

func TestGeneratePrecisionAndDensity(t *testing.T) {
	for _, precision := range []time.Duration{time.Nanosecond, time.Millisecond, time.Second} {
		t.Run(precision.String(), func(t *testing.T) {
			ds := Generate(GenSpec{Seed: 5, Accounts: 3000, Precision: precision, PerSecond: 10})
			start := ds.Accounts[0].CreatedAt
			shared := 0
			for i, a := range ds.Accounts {
				assert.Zero(t, a.CreatedAt.Sub(start)%precision, "%s at %s is not at %s precision", a.ID, a.CreatedAt, precision)
				if i > 0 {
					require.False(t, a.CreatedAt.Before(ds.Accounts[i-1].CreatedAt))
					if a.CreatedAt.Equal(ds.Accounts[i-1].CreatedAt) {
						shared++
					}
				}
			}
			span := ds.Accounts[len(ds.Accounts)-1].CreatedAt.Sub(start).Seconds()
			assert.InDelta(t, 300, span, 30, "3000 items at 10 per second span about 300 s")
			switch precision {
			case time.Second:
				assert.Greater(t, shared, 2000, "at 10 items per second most items share their second")
			case time.Millisecond:
				assert.Less(t, shared, 100, "at 10 items per second few items share a millisecond")
			default:
				assert.Zero(t, shared)
			}
		})
	}
}

func TestDatasetAdvance(t *testing.T) {
	ds := Generate(GenSpec{Seed: 9, Accounts: 5, Beneficiaries: 5, Transactions: 200, Precision: time.Second, PerSecond: 5, Lifecycle: true})
	before := map[string]models.Transaction{}
	latest := time.Time{}
	for _, tx := range ds.Transactions {
		before[tx.ID] = tx
		if tx.UpdatedAt.After(latest) {
			latest = tx.UpdatedAt
		}
	}
	changed := ds.Advance(30)
	require.Len(t, changed, 30)
	sameSecond := 0
	for i, tx := range changed {
		old := before[tx.ID]
		require.NoError(t, models.Validate(tx))
		assert.Contains(t, next[old.Status], tx.Status, "%s: %s is not a next step of %s", tx.ID, tx.Status, old.Status)
		assert.True(t, tx.UpdatedAt.After(old.UpdatedAt), "%s: updatedAt must move strictly forward", tx.ID)
		assert.False(t, tx.UpdatedAt.Before(latest), "%s: changes continue the clock", tx.ID)
		assert.Zero(t, tx.UpdatedAt.Nanosecond(), "second precision")
		if i > 0 && tx.UpdatedAt.Equal(changed[i-1].UpdatedAt) {
			sameSecond++
		}
		got, _ := findTx(ds, tx.ID)
		assert.Equal(t, tx, got, "Advance updates the dataset")
	}
	assert.Positive(t, sameSecond, "at 5 per second, changes share seconds")
}

func findTx(ds *Dataset, id string) (models.Transaction, bool) {
	for _, tx := range ds.Transactions {
		if tx.ID == id {
			return tx, true
		}
	}
	return models.Transaction{}, false
}

func TestDatasetMore(t *testing.T) {
	ds := Generate(GenSpec{Seed: 2, Accounts: 10, Beneficiaries: 10, Transactions: 10, Precision: time.Second})
	lastAcc := ds.Accounts[9].CreatedAt
	more := ds.More(3, 2, 4)
	require.Len(t, more.Accounts, 3)
	require.Len(t, more.Beneficiaries, 2)
	require.Len(t, more.Transactions, 4)
	assert.Equal(t, "acc_0011", more.Accounts[0].ID)
	assert.Equal(t, "ben_0012", more.Beneficiaries[1].ID)
	assert.Equal(t, "tx_0014", more.Transactions[3].ID)
	assert.Len(t, ds.Accounts, 13)
	assert.Len(t, ds.Transactions, 14)
	for _, a := range more.Accounts {
		assert.False(t, a.CreatedAt.Before(lastAcc))
		assert.NotEmpty(t, more.Balances[a.ID])
	}
	for _, tx := range more.Transactions {
		require.NoError(t, models.Validate(tx))
	}
}

func TestGeneratePanicsOnNegativeCounts(t *testing.T) {
	assert.Panics(t, func() { Generate(GenSpec{Accounts: -1}) })
}
