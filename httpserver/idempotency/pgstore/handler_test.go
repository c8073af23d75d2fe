package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/pgstore"
	"github.com/pspconnect/pspconnect/models"
)

const apiKey = "pg-test-key"

const payoutBody = `{"idempotencyKey":"ik_1","amount":"10000","currency":"USD/2","sourceAccountId":"acc_01","destinationAccountId":"ben_01"}`

// psp is a provider whose payouts get a new id on every call ("po_1", "po_2", …). One psp can serve
// several handler instances, so that its call count is the PSP's view of all of them. entered, when
// set, receives each call before it waits for release (when set).
type psp struct {
	calls   atomic.Int64
	delay   time.Duration
	entered chan struct{}
	release chan struct{}

	mu   sync.Mutex
	rows []models.Transaction // a transaction row per payout, as the PSP lists them
}

var _ connector.PayoutCreator = (*psp)(nil)

func (p *psp) ListAccounts(context.Context, connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{}, nil
}

func (p *psp) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil
}

func (p *psp) ListTransactions(context.Context, connector.ListRequest) (connector.Page[models.Transaction], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return connector.Page[models.Transaction]{Items: append([]models.Transaction(nil), p.rows...)}, nil
}

func (p *psp) GetBalances(_ context.Context, id string) (models.Balances, error) {
	return models.Balances{}, connector.NotFound("account %q", id)
}

func (p *psp) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	n := p.calls.Add(1)
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.release != nil {
		<-p.release
	}
	time.Sleep(p.delay)
	at := time.Date(2024, 3, 1, 10, 0, int(n), 0, time.UTC)
	p.mu.Lock()
	p.rows = append(p.rows, models.Transaction{ID: fmt.Sprintf("po_%d", n), CreatedAt: at, UpdatedAt: at, Currency: req.Currency,
		Type: models.TransactionTypePayout, Status: models.TransactionStatusPending, Amount: req.Amount,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID})
	p.mu.Unlock()
	return models.Payout{
		ID: fmt.Sprintf("po_%d", n), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Status: models.TransactionStatusPending, CreatedAt: at,
	}, nil
}

// instance starts one instance of the middleware: its own pool, store and HTTP server, on the shared
// schema. It returns the server's URL and the instance, whose close makes it lose its database.
func instance(t *testing.T, schema string, p connector.Provider, opts ...httpserver.Option) (string, *pgstoreInstance) {
	t.Helper()
	pool := newPool(t, schema)
	store, err := pgstore.New(pool)
	require.NoError(t, err)
	require.NoError(t, store.Migrate(context.Background()))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts = append([]httpserver.Option{httpserver.WithAPIKey(apiKey), httpserver.WithLogger(logger), httpserver.WithIdempotencyStore(store)}, opts...)
	h, err := httpserver.New(p, opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, &pgstoreInstance{close: func() { pool.Close() }}
}

type pgstoreInstance struct{ close func() }

type answer struct {
	status   int
	body     string
	replayed bool
}

func post(t *testing.T, client *http.Client, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/payouts", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, body: string(b), replayed: res.Header.Get(httpserver.ReplayedHeader) == "true"}
}

func payoutID(t *testing.T, a answer) string {
	t.Helper()
	require.Equal(t, http.StatusCreated, a.status, "body: %s", a.body)
	var po models.Payout
	require.NoError(t, json.Unmarshal([]byte(a.body), &po))
	return po.ID
}

func TestTwoInstancesOnOneDatabaseCallTheProviderOnce(t *testing.T) {
	const n = 200
	schema := newSchema(t)
	p := &psp{delay: 300 * time.Millisecond} // slow, so that the duplicates overlap the first call
	urlA, _ := instance(t, schema, p)
	urlB, _ := instance(t, schema, p)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(client.CloseIdleConnections)

	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		url := urlA
		if i%2 == 1 {
			url = urlB
		}
		wg.Go(func() {
			<-start
			answers[i] = post(t, client, url, payoutBody)
		})
	}
	close(start)
	wg.Wait()

	assert.EqualValues(t, 1, p.calls.Load(), "%d concurrent duplicates spread over two instances must make one provider call", n)
	fresh := 0
	for i, a := range answers {
		assert.Equal(t, "po_1", payoutID(t, a), "answer %d", i)
		assert.Equal(t, answers[0].body, a.body, "answer %d is byte for byte the first one", i)
		if !a.replayed {
			fresh++
		}
	}
	assert.Equal(t, 1, fresh)
}

func TestRestartReplaysTheStoredAnswer(t *testing.T) {
	schema := newSchema(t)
	before := &psp{}
	url, inst := instance(t, schema, before)
	first := post(t, http.DefaultClient, url, payoutBody)
	require.Equal(t, "po_1", payoutID(t, first))
	inst.close() // the process stops

	after := &psp{} // a new process: new provider, new pool, empty memory
	url, _ = instance(t, schema, after)
	replay := post(t, http.DefaultClient, url, payoutBody)
	assert.Equal(t, first.body, replay.body, "the replay after a restart is the stored answer")
	assert.True(t, replay.replayed)
	assert.Zero(t, after.calls.Load(), "the restarted process does not call the provider again")

	other := post(t, http.DefaultClient, url, strings.Replace(payoutBody, `"10000"`, `"20000"`, 1))
	assert.Equal(t, http.StatusConflict, other.status)
	assert.Contains(t, other.body, "already used with a different payout request")
	assert.Zero(t, after.calls.Load())
}

func TestRequestInFlightWhenItsInstanceDied(t *testing.T) {
	schema := newSchema(t)
	const ttl = 2 * time.Second
	dying := &psp{entered: make(chan struct{}, 1), release: make(chan struct{})}
	urlA, instA := instance(t, schema, dying, httpserver.WithIdempotencyInFlightTTL(ttl))
	survivor := &psp{}
	urlB, _ := instance(t, schema, survivor, httpserver.WithIdempotencyInFlightTTL(ttl),
		httpserver.WithIdempotencyWait(100*time.Millisecond))

	firstDone := make(chan answer, 1)
	go func() { firstDone <- post(t, http.DefaultClient, urlA, payoutBody) }()
	<-dying.entered // instance A called the PSP…
	startedAt := time.Now()
	instA.close() // …and lost its database: it can never record the answer

	inFlight := post(t, http.DefaultClient, urlB, payoutBody)
	assert.Equal(t, http.StatusLocked, inFlight.status, "a status Formance retries")
	assert.Contains(t, inFlight.body, "is still in flight")
	assert.Contains(t, inFlight.body, "the key stays blocked until")

	close(dying.release)
	<-firstDone
	again := post(t, http.DefaultClient, urlB, payoutBody)
	assert.Equal(t, http.StatusLocked, again.status, "an answer that was never recorded is not guessed: %s", again.body)
	assert.Zero(t, survivor.calls.Load(), "nothing is re-sent while the dead request is in flight")

	time.Sleep(time.Until(startedAt.Add(ttl + 200*time.Millisecond)))
	assert.Equal(t, "po_1", payoutID(t, post(t, http.DefaultClient, urlB, payoutBody)),
		"after the in-flight TTL the request is sent to the PSP again")
	assert.EqualValues(t, 1, survivor.calls.Load())
}

// TestLinksAcrossRestartsAndInstances: the row of a payout created on one instance is served with
// relatedTransactionID = its idempotencyKey by another instance, and after a restart.
func TestLinksAcrossRestartsAndInstances(t *testing.T) {
	schema := newSchema(t)
	p := &psp{}
	urlA, instA := instance(t, schema, p)
	urlB, _ := instance(t, schema, p)
	id := payoutID(t, post(t, http.DefaultClient, urlA, payoutBody))
	instA.close()
	urlC, _ := instance(t, schema, p) // A restarted

	for _, url := range []string{urlB, urlC} {
		req, err := http.NewRequest(http.MethodGet, url+"/transactions", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var rows []models.Transaction
		require.NoError(t, json.NewDecoder(res.Body).Decode(&rows))
		res.Body.Close()
		require.Len(t, rows, 1)
		assert.Equal(t, id, rows[0].ID)
		assert.Equal(t, "ik_1", rows[0].RelatedTransactionID, "the link is read from PostgreSQL")
	}
}
