package httpserver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// TestTwoVersionsOfATransactionOnOnePage: a lossless feed keeps a changed transaction's earlier slot
// in place (its earlier state), so one page may hold two versions of one transaction: they are
// served. The same version twice is a provider bug: a 500 naming it.
func TestTwoVersionsOfATransactionOnOnePage(t *testing.T) {
	p := newFake()
	older := transaction(1)
	newer := older
	newer.UpdatedAt = older.UpdatedAt.Add(time.Second)
	newer.Status = models.TransactionStatusFailed
	p.transactions = []models.Transaction{transaction(0), older, newer}
	srv, _ := newServer(t, p)
	res := send(t, srv.URL, request{path: "/transactions"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Len(t, decodeInto[[]models.Transaction](t, res), 3)

	p.set(func(f *fakeProvider) { f.transactions = []models.Transaction{older, older} })
	e := errorBody(t, send(t, srv.URL, request{path: "/transactions"}), http.StatusInternalServerError)
	assert.Equal(t, `GET /transactions: provider returned id "tx_01" with updatedAt 2024-03-01T10:00:01Z twice on one page (items 1 and 2 of 2)`, e.Detail)
}
