package pgfeed_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed/feedtest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

func encodedTx(i int, status models.TransactionStatus) models.Transaction {
	at := t0.Add(time.Duration(i) * time.Second)
	return models.Transaction{ID: fmt.Sprintf("tx_%02d", i), CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: status, Amount: models.AmountFromInt64(int64(i + 1)),
		Metadata: models.Metadata{"note": "<&>"}}
}

// TestListPageServesStoredEncodings: a page of valid transactions comes back as the encodings Put
// stored (the bytes the list route writes, no HTML escaping); a page holding an invalid one comes
// back as items, so that the handler refuses it by default and quarantines it with a quarantine.
func TestListPageServesStoredEncodings(t *testing.T) {
	f := newTransactions(t, newPool(t, newSchema(t)))
	ctx := context.Background()
	txs := []models.Transaction{encodedTx(0, models.TransactionStatusPending), encodedTx(1, models.TransactionStatusSucceeded),
		encodedTx(2, models.TransactionStatusPending), encodedTx(3, models.TransactionStatusFailed)}
	txs[2].Amount = models.AmountFromInt64(-5) // invalid, yet it survives encoding/json
	require.NoError(t, f.Put(ctx, "t", txs...))
	q := pagination.Query{Page: 1, PageSize: 2, Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}

	page, err := f.ListPage(ctx, "t", q)
	require.NoError(t, err)
	require.Len(t, page.Encoded, 2)
	assert.Nil(t, page.Items)
	for i, e := range page.Encoded {
		want, err := models.Encode(&txs[i])
		require.NoError(t, err)
		assert.Equal(t, want.JSON(), e.JSON())
		assert.Equal(t, txs[i].ID, e.ID())
		assert.Equal(t, txs[i].UpdatedAt.UnixNano(), e.Version())
	}
	assert.Contains(t, page.Encoded[0].JSON(), `"note":"<&>"`)

	q.Page = 2
	page, err = f.ListPage(ctx, "t", q)
	require.NoError(t, err)
	assert.Nil(t, page.Encoded, "a page with an invalid item is not served encoded")
	require.Len(t, page.Items, 2)
	assert.Equal(t, "-5", page.Items[0].Amount.String())

	serve := func(opts ...httpserver.Option) *httptest.Server {
		opts = append(opts, httpserver.WithAPIKey("k"), httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		h, err := httpserver.New(tenantT{feedtest.TransactionsProvider(f)}, opts...)
		require.NoError(t, err)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv
	}
	get := func(srv *httptest.Server, path string) int {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer k")
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, get(serve(), "/transactions?pageSize=2"))
	assert.Equal(t, http.StatusInternalServerError, get(serve(), "/transactions?pageSize=2&page=2"))
	quarantine := httpserver.NewQuarantine(0)
	assert.Equal(t, http.StatusOK, get(serve(httpserver.WithQuarantine(quarantine)), "/transactions?pageSize=2&page=2"))
	require.Len(t, quarantine.Items(), 1)
	assert.Equal(t, "tx_02", quarantine.Items()[0].ID)
}

// tenantT serves tenant "t" whatever the key's tenant.
type tenantT struct{ connector.Provider }

func (p tenantT) ListTransactions(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
	return p.Provider.ListTransactions(connector.WithTenant(ctx, "t"), q)
}
