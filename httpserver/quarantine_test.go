package httpserver_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// withBadRows returns n transactions, one a second, where the ones at the indexes of bad have a
// status Formance cannot decode.
func withBadRows(n int, bad ...int) []models.Transaction {
	txs := sample(n, transaction)
	for _, i := range bad {
		txs[i].Status = "PROCESSED"
	}
	return txs
}

func TestOneBadRowIsA500ByDefault(t *testing.T) {
	p := newFake()
	p.transactions = withBadRows(10, 3)
	srv, _ := newServer(t, p)
	e := errorBody(t, send(t, srv.URL, request{path: "/transactions?pageSize=5"}), http.StatusInternalServerError)
	assert.Contains(t, e.Detail, `transaction "tx_03": field "status"`)
}

// TestQuarantineLeavesBadRowsOutAndKeepsPagesFull: with WithQuarantine, an invalid row is left out,
// logged at ERROR with route, id and field, and listed; the page is filled from the next one, so it
// is never short before the end of the data.
func TestQuarantineLeavesBadRowsOutAndKeepsPagesFull(t *testing.T) {
	q := httpserver.NewQuarantine(0)
	p := newFake()
	p.transactions = withBadRows(12, 3, 4, 11)
	srv, logs := newServer(t, p, httpserver.WithQuarantine(q))

	page := func(n int) []string {
		res := send(t, srv.URL, request{path: fmt.Sprintf("/transactions?pageSize=5&page=%d", n)})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		return ids(decodeInto[[]models.Transaction](t, res), txID)
	}
	assert.Equal(t, []string{"tx_00", "tx_01", "tx_02", "tx_05", "tx_06"}, page(1), "full: filled from page 2")
	assert.Equal(t, []string{"tx_05", "tx_06", "tx_07", "tx_08", "tx_09"}, page(2))
	assert.Equal(t, []string{"tx_10"}, page(3), "short only where the data ends")

	items := q.Items()
	require.Len(t, items, 3)
	assert.Equal(t, []string{"tx_03", "tx_04", "tx_11"}, ids(items, func(it httpserver.QuarantinedItem) string { return it.ID }))
	assert.Equal(t, "GET /transactions", items[0].Route)
	assert.Equal(t, httpserver.DefaultTenant, items[0].Tenant)
	assert.Equal(t, []string{"status"}, items[0].Fields)
	assert.Contains(t, items[0].Problem, `transaction "tx_03": field "status"`)
	assert.EqualValues(t, 3, q.Total())

	srv.Close()
	assert.Contains(t, logs.String(), `"level":"ERROR","msg":"invalid item left out of the answer (quarantined)","route":"GET /transactions","tenant":"default","id":"tx_03","fields":["status"]`)

	assert.True(t, q.Release(httpserver.DefaultTenant, "GET /transactions", "tx_03"))
	assert.Len(t, q.Items(), 2)
}

// TestQuarantineKeepsTheSyncGoing: Formance's poller, at several page sizes, receives every valid
// row although some are invalid, where by default the sync would stall on the first bad page.
func TestQuarantineKeepsTheSyncGoing(t *testing.T) {
	for _, pageSize := range []int{1, 2, 7, 25} {
		t.Run(fmt.Sprint("pageSize=", pageSize), func(t *testing.T) {
			p := newFake()
			p.accounts = nil // no balances to poll
			bad := []int{0, 5, 6, 7, 20, 39}
			p.transactions = withBadRows(40, bad...)
			// Many rows per second, so the poller reads deep pages of one second.
			for i := range p.transactions {
				p.transactions[i].UpdatedAt = t0.Add(time.Duration(i/10) * time.Second).Add(time.Duration(i) * time.Millisecond)
			}
			h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithQuarantine(httpserver.NewQuarantine(0)),
				httpserver.WithLogger(discardLogger()))
			require.NoError(t, err)
			poller := connectortest.NewPoller(connectortest.Target{Handler: h, APIKey: testKey}, pageSize)
			defer poller.Close()
			got := map[string]bool{}
			for range 100 {
				cy, err := poller.Cycle(context.Background())
				require.NoError(t, err)
				if cy.Empty() {
					break
				}
				for _, tx := range cy.Transactions {
					got[tx.ID] = true
				}
			}
			for i := range 40 {
				id := fmt.Sprintf("tx_%02d", i)
				isBad := false
				for _, b := range bad {
					isBad = isBad || b == i
				}
				assert.Equal(t, !isBad, got[id], "%s delivered", id)
			}
		})
	}
}

// TestQuarantineWithACursorPagedProvider: the fill pages go through the cursor cache too.
func TestQuarantineWithACursorPagedProvider(t *testing.T) {
	p := &cursorProvider{fakeProvider: newFake()}
	p.transactions = withBadRows(8, 1)
	srv, _ := newServer(t, httpserver.CursorPaged(p), httpserver.WithQuarantine(httpserver.NewQuarantine(0)))
	res := send(t, srv.URL, request{path: "/transactions?pageSize=4"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, []string{"tx_00", "tx_02", "tx_03", "tx_04"}, ids(decodeInto[[]models.Transaction](t, res), txID))
}

func TestQuarantineIsBounded(t *testing.T) {
	q := httpserver.NewQuarantine(2)
	p := newFake()
	p.transactions = withBadRows(6, 0, 1, 2, 3)
	srv, _ := newServer(t, p, httpserver.WithQuarantine(q))
	res := send(t, srv.URL, request{path: "/transactions?pageSize=10"})
	require.Equal(t, http.StatusOK, res.status)
	assert.Len(t, decodeInto[[]models.Transaction](t, res), 2)
	assert.Len(t, q.Items(), 2)
	assert.EqualValues(t, 2, q.Dropped())
	assert.EqualValues(t, 4, q.Total())
}

func TestWithQuarantineRefusesNil(t *testing.T) {
	_, err := httpserver.New(newFake(), httpserver.WithAPIKey(testKey), httpserver.WithQuarantine(nil))
	assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
}
