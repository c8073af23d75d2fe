package connectortest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

func loadedProvider(t *testing.T, opts ...feed.Option) (*MemoryProvider, *Dataset) {
	t.Helper()
	ds := Generate(GenSpec{Seed: 4, Accounts: 5, Beneficiaries: 3, Transactions: 20})
	p := NewMemoryProvider(opts...)
	require.NoError(t, p.Load(ds))
	return p, ds
}

func payoutRequest(key string, amount int64) models.PayoutRequest {
	return models.PayoutRequest{IdempotencyKey: key, Amount: models.AmountFromInt64(amount), Currency: "USD/2",
		SourceAccountID: "acc_0001", DestinationAccountID: "ben_0001"}
}

func TestMemoryProviderPayoutIdempotency(t *testing.T) {
	ctx := context.Background()
	p, _ := loadedProvider(t)

	first, err := p.CreatePayout(ctx, payoutRequest("k1", 100))
	require.NoError(t, err)
	assert.Equal(t, models.TransactionStatusPending, first.Status)
	assert.Equal(t, "k1", first.IdempotencyKey)
	require.NoError(t, models.Validate(first))

	again, err := p.CreatePayout(ctx, payoutRequest("k1", 100))
	require.NoError(t, err)
	assert.Equal(t, first, again, "same key, same request: the first payout")

	_, err = p.CreatePayout(ctx, payoutRequest("k1", 101))
	assert.ErrorIs(t, err, connector.ErrConflict, "same key, another request")

	other, err := p.CreatePayout(ctx, payoutRequest("k2", 100))
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, other.ID)

	got, err := p.GetPayout(ctx, first.ID)
	require.NoError(t, err)
	assert.Equal(t, first, got)
	_, err = p.GetPayout(ctx, "po_nope")
	assert.ErrorIs(t, err, connector.ErrNotFound)

	// Concurrent duplicates all get one payout.
	var wg sync.WaitGroup
	got20 := make([]string, 20)
	for i := range got20 {
		wg.Go(func() {
			po, err := p.CreatePayout(ctx, payoutRequest("k3", 100))
			assert.NoError(t, err)
			got20[i] = po.ID
		})
	}
	wg.Wait()
	for _, id := range got20 {
		assert.Equal(t, got20[0], id)
	}
}

func TestMemoryProviderRefusesUnknownAccounts(t *testing.T) {
	ctx := context.Background()
	p, _ := loadedProvider(t)
	req := payoutRequest("k", 100)
	req.SourceAccountID = "acc_nope"
	_, err := p.CreatePayout(ctx, req)
	assert.ErrorIs(t, err, connector.ErrInvalidRequest)

	req = payoutRequest("k", 100)
	req.DestinationAccountID = "ben_nope"
	_, err = p.CreatePayout(ctx, req)
	assert.ErrorIs(t, err, connector.ErrInvalidRequest)

	_, err = p.CreatePayout(ctx, payoutRequest("", 100))
	assert.ErrorIs(t, err, connector.ErrInvalidRequest, "a request without idempotency key is invalid")

	tr := models.TransferRequest(payoutRequest("t1", 100))
	_, err = p.CreateTransfer(ctx, tr)
	assert.ErrorIs(t, err, connector.ErrInvalidRequest, "a transfer goes to an account, not a beneficiary")

	tr.DestinationAccountID = "acc_0002"
	first, err := p.CreateTransfer(ctx, tr)
	require.NoError(t, err)
	again, err := p.CreateTransfer(ctx, tr)
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID)
	tr.Description = "changed"
	_, err = p.CreateTransfer(ctx, tr)
	assert.ErrorIs(t, err, connector.ErrConflict)
	got, err := p.GetTransfer(ctx, first.ID)
	require.NoError(t, err)
	assert.Equal(t, first, got)
	_, err = p.GetTransfer(ctx, "tr_nope")
	assert.ErrorIs(t, err, connector.ErrNotFound)
}

func TestMemoryProviderData(t *testing.T) {
	ctx := context.Background()
	p, ds := loadedProvider(t)

	b, err := p.GetBalances(ctx, "acc_0001")
	require.NoError(t, err)
	assert.Equal(t, "acc_0001", b.AccountID)
	assert.Equal(t, ds.Balances["acc_0001"], b.Balances)
	_, err = p.GetBalances(ctx, "acc_nope")
	assert.ErrorIs(t, err, connector.ErrNotFound)

	page, err := p.ListAccounts(ctx, connector.ListRequest{Page: 2, PageSize: 2, Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}})
	require.NoError(t, err)
	accounts, err := feed.Items(page)
	require.NoError(t, err)
	assert.Equal(t, []string{"acc_0003", "acc_0004"}, ids(accounts, func(a models.Account) string { return a.ID }))

	// A status change is served again, with a later updatedAt even though the PSP kept its own, at the
	// end of the listing; the earlier state keeps its place, so that the items after it do not shift
	// under a poller paging through them (package feed, rule 4).
	txQuery := connector.ListRequest{Page: 1, PageSize: 100, Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
	listed := func() []models.Transaction {
		all, err := p.ListTransactions(ctx, txQuery)
		require.NoError(t, err)
		items, err := feed.Items(all)
		require.NoError(t, err)
		return items
	}
	tx := ds.Transactions[0]
	before := listed()
	require.Len(t, before, len(ds.Transactions))
	require.Equal(t, tx.ID, before[0].ID)
	changed, err := p.SetStatus(tx.ID, models.TransactionStatusRefunded, tx.UpdatedAt)
	require.NoError(t, err)
	assert.Equal(t, models.TransactionStatusRefunded, changed.Status)
	after := listed()
	require.Len(t, after, len(ds.Transactions)+1, "the earlier state stays listed")
	assert.Equal(t, before, after[:len(before)], "nothing shifted")
	now := after[len(after)-1]
	assert.Equal(t, tx.ID, now.ID)
	assert.Equal(t, models.TransactionStatusRefunded, now.Status)
	assert.True(t, now.UpdatedAt.After(before[len(before)-1].UpdatedAt), "served after everything served before: %s", now.UpdatedAt)
	stored, ok := p.Transaction(tx.ID)
	require.True(t, ok)
	assert.True(t, stored.UpdatedAt.Equal(tx.UpdatedAt), "Transaction returns the PSP's own time")

	_, err = p.SetStatus("tx_nope", models.TransactionStatusFailed, time.Now())
	assert.ErrorIs(t, err, ErrUnknownTransaction)

	assert.ErrorIs(t, p.PutAccounts(models.Account{ID: "acc_bad", CreatedAt: time.Now()}), models.ErrInvalid, "accountName is required")
	assert.ErrorIs(t, p.PutTransactions(models.Transaction{ID: "tx_bad", CreatedAt: time.Now(), UpdatedAt: time.Now(), Currency: "USD/2", Type: "PAYIN", Status: "PROCESSED", Amount: models.AmountFromInt64(1)}), models.ErrInvalid)
	assert.ErrorIs(t, p.SetBalances("acc_0001", models.Balance{Amount: models.AmountFromInt64(1), Currency: "usd"}), models.ErrInvalid)
}

// TestMemoryProviderWriteRows: every payout and transfer is also listed as a transaction with the same
// id, type PAYOUT (TRANSFER) and the PSP's status, without relatedTransactionID (the server in front
// links it to Formance's payment); a retry adds no second row, and SetStatus moves both.
func TestMemoryProviderWriteRows(t *testing.T) {
	ctx := context.Background()
	p, ds := loadedProvider(t)
	po, err := p.CreatePayout(ctx, payoutRequest("k1", 100))
	require.NoError(t, err)
	_, err = p.CreatePayout(ctx, payoutRequest("k1", 100))
	require.NoError(t, err)
	treq := models.TransferRequest(payoutRequest("t1", 250))
	treq.DestinationAccountID = "acc_0002"
	tr, err := p.CreateTransfer(ctx, treq)
	require.NoError(t, err)

	all, err := p.ListTransactions(ctx, connector.ListRequest{Page: 1, PageSize: 100, Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}})
	require.NoError(t, err)
	rows, err := feed.Items(all)
	require.NoError(t, err)
	require.Len(t, rows, len(ds.Transactions)+2, "one row per payout and transfer, none for the retry")

	for _, c := range []struct {
		id, src, dst string
		typ          models.TransactionType
		amount       int64
	}{
		{po.ID, "acc_0001", "ben_0001", models.TransactionTypePayout, 100},
		{tr.ID, "acc_0001", "acc_0002", models.TransactionTypeTransfer, 250},
	} {
		row, ok := p.Transaction(c.id)
		require.True(t, ok, "no transaction %s", c.id)
		assert.Equal(t, c.typ, row.Type)
		assert.Equal(t, models.TransactionStatusPending, row.Status)
		assert.Empty(t, row.RelatedTransactionID, "the provider's row does not link itself to Formance's payment")
		assert.True(t, row.Amount.Equal(models.AmountFromInt64(c.amount)))
		assert.Equal(t, models.Asset("USD/2"), row.Currency)
		assert.Equal(t, c.src, row.SourceAccountID)
		assert.Equal(t, c.dst, row.DestinationAccountID)
		require.NoError(t, models.Validate(row))
	}

	at := time.Now().UTC()
	_, err = p.SetStatus(po.ID, models.TransactionStatusSucceeded, at)
	require.NoError(t, err)
	got, err := p.GetPayout(ctx, po.ID)
	require.NoError(t, err)
	assert.Equal(t, models.TransactionStatusSucceeded, got.Status)
	assert.True(t, got.UpdatedAt.Equal(at))
	row, _ := p.Transaction(po.ID)
	assert.Equal(t, models.TransactionStatusSucceeded, row.Status)
	again, err := p.CreatePayout(ctx, payoutRequest("k1", 100))
	require.NoError(t, err)
	assert.Equal(t, po.ID, again.ID, "a retry still returns the same payout")
}
