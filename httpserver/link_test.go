package httpserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// rowProvider is a PSP whose payouts and transfers show up as rows of its transaction list, with
// the payout's id and no relatedTransactionID, as most PSPs report them. The row is listed before
// CreatePayout returns; beforeReturn, when set, runs after that, before the answer.
type rowProvider struct {
	*fakeProvider
	beforeReturn func(ctx context.Context) error
	rowType      models.TransactionType // "" for the right type
}

func newRowProvider() *rowProvider {
	f := newFake()
	f.transactions = nil
	return &rowProvider{fakeProvider: f}
}

func (p *rowProvider) addRow(id string, typ models.TransactionType, amount models.Amount, src, dst string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rowType != "" {
		typ = p.rowType
	}
	at := t0.Add(time.Duration(len(p.transactions)) * time.Second)
	p.transactions = append(p.transactions, models.Transaction{
		ID: id, CreatedAt: at, UpdatedAt: at, Currency: "USD/2", Type: typ, Status: models.TransactionStatusPending,
		Amount: amount, SourceAccountID: src, DestinationAccountID: dst,
	})
	return at
}

func (p *rowProvider) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	id := "po_" + strconv.Itoa(len(p.recorded()))
	if err := p.record(ctx, call{method: "CreatePayout", arg: req.IdempotencyKey}); err != nil {
		return models.Payout{}, err
	}
	at := p.addRow(id, models.TransactionTypePayout, req.Amount, req.SourceAccountID, req.DestinationAccountID)
	if p.beforeReturn != nil {
		if err := p.beforeReturn(ctx); err != nil {
			return models.Payout{}, err
		}
	}
	return models.Payout{ID: id, IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Status: models.TransactionStatusPending, CreatedAt: at}, nil
}

func (p *rowProvider) CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error) {
	id := "tr_" + strconv.Itoa(len(p.recorded()))
	if err := p.record(ctx, call{method: "CreateTransfer", arg: req.IdempotencyKey}); err != nil {
		return models.Transfer{}, err
	}
	at := p.addRow(id, models.TransactionTypeTransfer, req.Amount, req.SourceAccountID, req.DestinationAccountID)
	return models.Transfer{ID: id, IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Status: models.TransactionStatusPending, CreatedAt: at}, nil
}

var (
	_ connector.PayoutCreator   = (*rowProvider)(nil)
	_ connector.TransferCreator = (*rowProvider)(nil)
)

func listTransactions(t *testing.T, url string, auth ...string) map[string]models.Transaction {
	t.Helper()
	r := request{path: "/transactions?pageSize=1000"}
	if len(auth) > 0 {
		r.auth = auth[0]
	}
	res := send(t, url, r)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	out := map[string]models.Transaction{}
	for _, tx := range decodeInto[[]models.Transaction](t, res) {
		out[tx.ID] = tx
	}
	return out
}

// TestCreatedWritesAreLinkedToTheirRows: the row of a payout (transfer) created through the
// middleware is served with relatedTransactionID = the write's idempotencyKey, which is how Formance
// joins it to the payment initiation; other rows are served as the provider gave them.
func TestCreatedWritesAreLinkedToTheirRows(t *testing.T) {
	p := newRowProvider()
	srv, _ := newServer(t, p, httpserver.WithAPIKeys(map[string]string{"key-b": "tenant-b"}))

	payout := decodeInto[models.Payout](t, postPayout(t, srv.URL, payoutWithKey("ik_payout")))
	transfer := send(t, srv.URL, request{method: http.MethodPost, path: "/transfers", body: transferBody})
	require.Equal(t, http.StatusCreated, transfer.status, "body: %s", transfer.body)
	tr := decodeInto[models.Transfer](t, transfer)
	// A payout made at the PSP directly (not through Formance), and one whose row already names its
	// parent: left alone.
	p.addRow("po_direct", models.TransactionTypePayout, models.AmountFromInt64(5), "acc_01", "ben_01")
	p.set(func(f *fakeProvider) {
		f.transactions = append(f.transactions, transaction(40))
		f.transactions[len(f.transactions)-1].ID = "po_refund"
		f.transactions[len(f.transactions)-1].Type = models.TransactionTypePayout
		f.transactions[len(f.transactions)-1].RelatedTransactionID = "parent_1"
	})

	rows := listTransactions(t, srv.URL)
	require.Len(t, rows, 4)
	assert.Equal(t, "ik_payout", rows[payout.ID].RelatedTransactionID, "the payout's row joins its payment initiation")
	assert.Equal(t, tr.IdempotencyKey, rows[tr.ID].RelatedTransactionID, "the transfer's row joins its payment initiation")
	assert.Empty(t, rows["po_direct"].RelatedTransactionID, "a payout not created through the middleware has no link")
	assert.Equal(t, "parent_1", rows["po_refund"].RelatedTransactionID, "a provider's own link is kept")

	p.mu.Lock()
	for _, tx := range p.transactions {
		if tx.ID == payout.ID {
			assert.Empty(t, tx.RelatedTransactionID, "the provider's own storage is not modified")
		}
	}
	p.mu.Unlock()

	// Tenants are apart: tenant-b's rows with the same ids are not linked to tenant default's writes.
	for id, tx := range listTransactions(t, srv.URL, "Bearer key-b") {
		if id == payout.ID {
			assert.Empty(t, tx.RelatedTransactionID, "links are per tenant")
		}
	}
}

// TestRowOfAnotherTypeIsNotLinked: Formance joins a row only when its type is the write's, so a row
// with the payout's id but another type keeps its value (and the handler logs why).
func TestRowOfAnotherTypeIsNotLinked(t *testing.T) {
	p := newRowProvider()
	p.rowType = models.TransactionTypeTransfer
	srv, logs := newServer(t, p)
	payout := decodeInto[models.Payout](t, postPayout(t, srv.URL, payoutBody))
	assert.Empty(t, listTransactions(t, srv.URL)[payout.ID].RelatedTransactionID)
	srv.Close()
	assert.Contains(t, logs.String(), "transaction of a created write has another type: not linked")
}

// TestRowListedBeforeTheWriteReturns: a provider that lists the row before CreatePayout returns; a
// poll in that window waits for the write on this handler, then serves the row with its link.
func TestRowListedBeforeTheWriteReturns(t *testing.T) {
	g := newGate()
	p := newRowProvider()
	p.beforeReturn = g.wait
	srv, _ := newServer(t, p)

	done := make(chan response, 1)
	go func() { done <- postPayout(t, srv.URL, payoutBody) }()
	<-g.entered // the row is listed, the payout not answered yet
	polled := make(chan map[string]models.Transaction, 1)
	go func() { polled <- listTransactions(t, srv.URL) }()
	time.Sleep(50 * time.Millisecond)
	close(g.open)
	require.Equal(t, http.StatusCreated, (<-done).status)
	rows := <-polled
	require.Len(t, rows, 1)
	for _, tx := range rows {
		assert.Equal(t, "ik_9", tx.RelatedTransactionID)
	}
}

// staleLinksStore returns from its first Linked what the store held when it was read, after
// between has run: a write completing while a page reads its links.
type staleLinksStore struct {
	idempotency.Store
	once    sync.Once
	between func()
}

func (s *staleLinksStore) Linked(ctx context.Context, tenant string, ids []string) (map[string]idempotency.Link, error) {
	links, err := s.Store.Linked(ctx, tenant, ids)
	s.once.Do(s.between)
	return links, err
}

// TestWriteCompletingWhileAPageReadsItsLinks: the write whose row is on the page completes (its
// link stored, its flight ended) just after the page read the store and found no link. The page
// must still serve the row linked: it knew the write was in flight before it read the store.
func TestWriteCompletingWhileAPageReadsItsLinks(t *testing.T) {
	g := newGate()
	p := newRowProvider()
	p.beforeReturn = g.wait
	done := make(chan response, 1)
	var posted response
	store := &staleLinksStore{Store: idempotency.NewMemoryStore(), between: func() {
		close(g.open)
		posted = <-done // answered: stored and no longer in flight
	}}
	srv, _ := newServer(t, p, httpserver.WithIdempotencyStore(store))

	go func() { done <- postPayout(t, srv.URL, payoutBody) }()
	<-g.entered // the row is listed, the payout not answered yet
	rows := listTransactions(t, srv.URL)
	require.Equal(t, http.StatusCreated, posted.status)
	require.Len(t, rows, 1)
	for _, tx := range rows {
		assert.Equal(t, "ik_9", tx.RelatedTransactionID)
	}
}

// linkFailingStore fails Linked.
type linkFailingStore struct{ idempotency.Store }

func (linkFailingStore) Linked(context.Context, string, []string) (map[string]idempotency.Link, error) {
	return nil, errors.New("dial tcp 10.1.2.3:5432: connection refused")
}

// TestLinksUnavailable: when the store cannot say which rows to link, the page is a 503, which
// Formance retries, rather than rows that would become unrelated payments for good.
func TestLinksUnavailable(t *testing.T) {
	p := newRowProvider()
	srv, logs := newServer(t, p, httpserver.WithIdempotencyStore(linkFailingStore{idempotency.NewMemoryStore()}))
	require.Equal(t, http.StatusCreated, postPayout(t, srv.URL, payoutBody).status)
	res := send(t, srv.URL, request{path: "/transactions"})
	e := errorBody(t, res, http.StatusServiceUnavailable)
	assert.Contains(t, e.Detail, "cannot read which payouts and transfers this middleware created")
	assert.NotContains(t, e.Detail, "10.1.2.3")
	assert.NotEmpty(t, res.header.Get("Retry-After"))

	// Pages without a payout or transfer row do not need the store.
	p.set(func(f *fakeProvider) { f.transactions = sample(3, transaction) })
	assert.Len(t, listTransactions(t, srv.URL), 3)
	srv.Close()
	assert.Contains(t, logs.String(), "connection refused")
}

// TestLinksSurviveARestart: a new handler on the same store (a restart, another replica) links the
// rows of payouts an earlier one created.
func TestLinksSurviveARestart(t *testing.T) {
	store := idempotency.NewMemoryStore()
	p := newRowProvider()
	first, _ := newServer(t, p, httpserver.WithIdempotencyStore(store))
	payout := decodeInto[models.Payout](t, postPayout(t, first.URL, payoutBody))
	first.Close()

	second, _ := newServer(t, p, httpserver.WithIdempotencyStore(store))
	assert.Equal(t, "ik_9", listTransactions(t, second.URL)[payout.ID].RelatedTransactionID)
}

// TestHandlersSharingACursorCacheKeepApart: two cursor-paged providers behind two handlers on one
// CursorCache, both with the default tenant, never start from each other's cursors.
func TestHandlersSharingACursorCacheKeepApart(t *testing.T) {
	cache := pagination.NewCursorCache(0, 0)
	a := &cursorProvider{fakeProvider: newFake()}
	a.transactions = sample(12, transaction)
	b := &cursorProvider{fakeProvider: newFake()}
	b.transactions = sample(12, func(i int) models.Transaction {
		tx := transaction(i)
		tx.ID = fmt.Sprintf("other_%02d", i)
		return tx
	})
	srvA, _ := newServer(t, httpserver.CursorPaged(a), httpserver.WithCursorCache(cache))
	srvB, _ := newServer(t, httpserver.CursorPaged(b), httpserver.WithCursorCache(cache))

	page := func(url string, n int) []string {
		res := send(t, url, request{path: "/transactions?pageSize=5&page=" + strconv.Itoa(n)})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		return ids(decodeInto[[]models.Transaction](t, res), txID)
	}
	page(srvA.URL, 1)
	page(srvA.URL, 2) // the cache now holds A's cursor for page 3
	assert.Equal(t, []string{"other_10", "other_11"}, page(srvB.URL, 3), "B walks its own pages")
	assert.Equal(t, []string{"tx_10", "tx_11"}, page(srvA.URL, 3))
}
