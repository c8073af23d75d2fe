package httpserver_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// encodePage answers page as a feed does: every item's encoding in Encoded, or the items as they
// are when one of them cannot be encoded (an invalid item).
func encodePage(page connector.Page[models.Transaction]) connector.Page[models.Transaction] {
	encs := make([]models.Encoded, len(page.Items))
	for i := range page.Items {
		e, err := models.Encode(&page.Items[i])
		if err != nil {
			return page
		}
		encs[i] = e
	}
	return connector.Page[models.Transaction]{Encoded: encs}
}

// encodedRows is a rowProvider answering its transaction pages encoded.
type encodedRows struct {
	*rowProvider
	rewrite func([]models.Encoded) []models.Encoded // nil: none
}

func (p *encodedRows) ListTransactions(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
	page, err := p.rowProvider.ListTransactions(ctx, q)
	if err != nil {
		return page, err
	}
	page = encodePage(page)
	if p.rewrite != nil && page.Encoded != nil {
		page.Encoded = p.rewrite(page.Encoded)
	}
	return page, nil
}

func variedTransactions(n int) []models.Transaction {
	txs := sample(n, transaction)
	for i := range txs {
		switch i % 4 {
		case 1:
			txs[i].Metadata = models.Metadata{"b": "x<y & \"z\"", "a": "\u2028é"}
		case 2:
			txs[i].Type, txs[i].SourceAccountID, txs[i].DestinationAccountID = models.TransactionTypePayout, "acc_01", ""
			txs[i].RelatedTransactionID = "parent"
		case 3:
			txs[i].Scheme, txs[i].CreatedAt = "sepa", txs[i].CreatedAt.In(time.FixedZone("x", 3600))
		}
	}
	return txs
}

// TestEncodedPagesServeTheSameBytes: a page answered encoded (as feeds do) reaches the wire with
// the very bytes of the same page answered as items.
func TestEncodedPagesServeTheSameBytes(t *testing.T) {
	plain := newRowProvider()
	plain.transactions = variedTransactions(40)
	enc := &encodedRows{rowProvider: newRowProvider()}
	enc.transactions = variedTransactions(40)
	plainSrv, _ := newServer(t, plain)
	encSrv, _ := newServer(t, enc)
	for _, path := range []string{"/transactions?pageSize=7", "/transactions?pageSize=7&page=3", "/transactions?pageSize=100",
		"/transactions?pageSize=25&sort=updatedAt:desc", "/transactions?pageSize=5&page=100"} {
		want := send(t, plainSrv.URL, request{path: path})
		got := send(t, encSrv.URL, request{path: path})
		require.Equal(t, http.StatusOK, got.status, "%s: %s", path, got.body)
		assert.Equal(t, want.body, got.body, path)
	}
}

// TestEncodedPagesLinkCreatedWrites: a payout's row in an encoded page still joins its payment
// initiation (its encoding is decoded, linked and encoded again); the other rows keep their bytes.
func TestEncodedPagesLinkCreatedWrites(t *testing.T) {
	p := &encodedRows{rowProvider: newRowProvider()}
	srv, _ := newServer(t, p)
	payout := decodeInto[models.Payout](t, postPayout(t, srv.URL, payoutWithKey("ik_encoded")))
	p.addRow("po_direct", models.TransactionTypePayout, models.AmountFromInt64(5), "acc_01", "ben_01")
	rows := listTransactions(t, srv.URL)
	require.Len(t, rows, 2)
	assert.Equal(t, "ik_encoded", rows[payout.ID].RelatedTransactionID)
	assert.Empty(t, rows["po_direct"].RelatedTransactionID)
}

// TestEncodedPagesAreChecked: an encoded page longer than pageSize, with an item twice, or with the
// zero Encoded is a 500 that says so, as for items.
func TestEncodedPagesAreChecked(t *testing.T) {
	for name, c := range map[string]struct {
		rewrite func([]models.Encoded) []models.Encoded
		detail  string
	}{
		"too long": {func(e []models.Encoded) []models.Encoded { return append(e, e...) }, "items for pageSize=5"},
		"repeated": {func(e []models.Encoded) []models.Encoded { e[3] = e[1]; return e }, `"tx_01" with updatedAt`},
		"zero":     {func(e []models.Encoded) []models.Encoded { e[2] = models.Encoded{}; return e }, "zero models.Encoded"},
	} {
		t.Run(name, func(t *testing.T) {
			p := &encodedRows{rowProvider: newRowProvider(), rewrite: c.rewrite}
			p.transactions = sample(10, transaction)
			srv, _ := newServer(t, p)
			e := errorBody(t, send(t, srv.URL, request{path: "/transactions?pageSize=5"}), http.StatusInternalServerError)
			assert.Contains(t, e.Detail, c.detail)
		})
	}
}

// memoryTransactions serves transactions from a feed.Memory.
type memoryTransactions struct {
	*fakeProvider
	f *feed.Memory[models.Transaction]
}

func (p *memoryTransactions) ListTransactions(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, p.f, q)
}

// TestMemoryFeedKeepsTheQuarantine: an invalid transaction put into a memory feed is kept as it is
// (not encoded), so the handler still refuses its page by default and, with a quarantine, leaves it
// out and fills the page up from the encoded items after it.
func TestMemoryFeedKeepsTheQuarantine(t *testing.T) {
	f := feed.NewMemoryTransactions()
	require.NoError(t, f.Put(context.Background(), httpserver.DefaultTenant, withBadRows(12, 3, 4, 11)...))
	p := &memoryTransactions{fakeProvider: newFake(), f: f}

	srv, _ := newServer(t, p)
	e := errorBody(t, send(t, srv.URL, request{path: "/transactions?pageSize=5"}), http.StatusInternalServerError)
	assert.Contains(t, e.Detail, `transaction "tx_03": field "status"`)

	q := httpserver.NewQuarantine(0)
	srv, _ = newServer(t, p, httpserver.WithQuarantine(q))
	page := func(n int) []string {
		res := send(t, srv.URL, request{path: fmt.Sprintf("/transactions?pageSize=5&page=%d", n)})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		return ids(decodeInto[[]models.Transaction](t, res), txID)
	}
	assert.Equal(t, []string{"tx_00", "tx_01", "tx_02", "tx_05", "tx_06"}, page(1), "full: filled from page 2")
	assert.Equal(t, []string{"tx_05", "tx_06", "tx_07", "tx_08", "tx_09"}, page(2), "an encoded page")
	assert.Equal(t, []string{"tx_10"}, page(3))
	assert.Equal(t, []string{"tx_03", "tx_04", "tx_11"}, ids(q.Items(), func(it httpserver.QuarantinedItem) string { return it.ID }))
}
