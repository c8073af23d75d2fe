package feed

import (
	"context"
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// TestIDsWhoseHashesClash: with every id hashing alike, the memory feed still tells the ids apart
// (the clash map): changes supersede the right item, Get finds each one, and pages hold them all.
func TestIDsWhoseHashesClash(t *testing.T) {
	defer func(h func(maphash.Seed, string) uint64) { hashID = h }(hashID)
	hashID = func(maphash.Seed, string) uint64 { return 42 }

	f := NewMemoryTransactions()
	ctx := context.Background()
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tx := func(i int, status models.TransactionStatus) models.Transaction {
		ts := at.Add(time.Duration(i) * time.Second)
		return models.Transaction{ID: fmt.Sprintf("tx_%d", i), CreatedAt: ts, UpdatedAt: ts, Currency: "EUR/2",
			Type: models.TransactionTypePayin, Status: status, Amount: models.AmountFromInt64(int64(i + 1))}
	}
	for i := range 5 {
		require.NoError(t, f.Put(ctx, "t", tx(i, models.TransactionStatusPending)))
	}
	q := pagination.Query{Page: 1, PageSize: 10, Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
	_, err := f.Page(ctx, "t", q) // raises the horizon: tx_2's slot stays when it changes
	require.NoError(t, err)
	require.NoError(t, f.Put(ctx, "t", tx(2, models.TransactionStatusSucceeded), tx(4, models.TransactionStatusPending)))
	for i := range 5 {
		got, ok, err := f.Get(ctx, "t", fmt.Sprintf("tx_%d", i))
		require.NoError(t, err)
		require.True(t, ok, "tx_%d", i)
		want := models.TransactionStatusPending
		if i == 2 {
			want = models.TransactionStatusSucceeded
		}
		assert.Equal(t, want, got.Status, "tx_%d", i)
	}
	_, ok, err := f.Get(ctx, "t", "tx_9")
	require.NoError(t, err)
	assert.False(t, ok)
	page, err := f.Page(ctx, "t", q)
	require.NoError(t, err)
	var ids []string
	for _, p := range page {
		ids = append(ids, p.ID)
	}
	assert.Equal(t, []string{"tx_0", "tx_1", "tx_2", "tx_3", "tx_4", "tx_2"}, ids, "tx_4's unchanged re-put is a no-op; tx_2's change is a new slot")
}
