package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

const testWebhookSecret = "whsec_mockpsp_test"

// fastWebhooks retries quickly, for tests.
var fastWebhooks = webhookOptions{BackoffMin: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}

// startReceiver serves the -webhook-receiver side on a test server.
func startReceiver(t *testing.T, secret string) *httptest.Server {
	t.Helper()
	h, err := newReceiverHandler([]byte(secret), discardLogger())
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// latestStatuses returns the latest status of each transaction a client's GET /transactions lists.
func latestStatuses(t *testing.T, c client) map[string]models.TransactionStatus {
	t.Helper()
	var txs []models.Transaction
	c.want(http.StatusOK, http.MethodGet, "/transactions?pageSize=1000", nil, &txs)
	out := map[string]models.TransactionStatus{}
	for _, tx := range txs { // several versions of a transaction: the last one is the latest
		out[tx.ID] = tx.Status
	}
	return out
}

// TestWebhooksEndToEnd: what a person does in one mock's panel (Generate, a lifecycle action) and
// what Formance does through its API (a payout) reaches, as signed webhooks over real HTTP, a
// webhook receiver's feed, and shows in that receiver's GET /transactions under the same API key,
// with the payout's link to its idempotency key. Another key sees none of it there.
func TestWebhooksEndToEnd(t *testing.T) {
	receiver := startReceiver(t, testWebhookSecret)
	mock, psp := startMock(t, config{WebhookURL: receiver.URL + webhookPath, WebhookSecret: testWebhookSecret, webhook: fastWebhooks})
	psp1 := client{t: t, base: mock.URL, key: "hooks-key"}
	mirror := client{t: t, base: receiver.URL, key: "hooks-key"}

	var acc, dest models.Account
	psp1.want(http.StatusCreated, http.MethodPost, "/admin/api/accounts", map[string]any{"name": "Main", "asset": "EUR/2", "openingBalance": "100000"}, &acc)
	psp1.want(http.StatusCreated, http.MethodPost, "/admin/api/accounts", map[string]any{"name": "Other", "asset": "EUR/2"}, &dest)
	var generated []models.Transaction
	psp1.want(http.StatusCreated, http.MethodPost, "/admin/api/generate",
		map[string]any{"count": 3, "type": "PAYIN", "accountId": acc.ID, "status": "PENDING"}, &generated)
	require.Len(t, generated, 3)
	require.Equal(t, "SUCCEEDED", psp1.applyAction(generated[0].ID, ActionSucceed))
	require.Equal(t, "REFUNDED", psp1.applyAction(generated[0].ID, ActionRefund))
	require.Equal(t, "FAILED", psp1.applyAction(generated[1].ID, ActionFail))
	var payout models.Payout
	psp1.want(http.StatusCreated, http.MethodPost, "/payouts", map[string]any{
		"idempotencyKey": "po-hook-1", "amount": "700", "currency": "EUR/2",
		"sourceAccountId": acc.ID, "destinationAccountId": dest.ID,
	}, &payout)

	want := map[string]models.TransactionStatus{
		generated[0].ID: models.TransactionStatusRefunded,
		generated[1].ID: models.TransactionStatusFailed,
		generated[2].ID: models.TransactionStatusPending,
		payout.ID:       models.TransactionStatusPending,
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, want, latestStatuses(t, mirror))
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, latestStatuses(t, psp1), latestStatuses(t, mirror), "the receiver agrees with the PSP's own listing")

	var txs []models.Transaction
	mirror.want(http.StatusOK, http.MethodGet, "/transactions?pageSize=1000", nil, &txs)
	for _, tx := range txs {
		if tx.ID == payout.ID {
			assert.Equal(t, "po-hook-1", tx.RelatedTransactionID, "the payout's row joins Formance's payment initiation")
		}
	}
	st := psp.webhooks.stats()
	assert.Equal(t, int64(7), st.Delivered, "3 created, 3 updated, 1 payout")
	assert.Zero(t, st.FailedAttempts+st.Dropped+st.Abandoned)
	assert.Empty(t, latestStatuses(t, client{t: t, base: receiver.URL, key: "another-key"}), "tenants stay apart")
}

// TestWebhookWithABadSecretStoresNothing: a mock signing with the wrong secret gets 401 for every
// attempt, gives the events up after its attempts, and the receiver stores nothing; an unsigned or
// tampered request gets 401 too.
func TestWebhookWithABadSecretStoresNothing(t *testing.T) {
	receiver := startReceiver(t, testWebhookSecret)
	opts := fastWebhooks
	opts.MaxAttempts = 3
	mock, psp := startMock(t, config{WebhookURL: receiver.URL + webhookPath, WebhookSecret: "not-the-secret", webhook: opts})
	c := client{t: t, base: mock.URL, key: "bad-secret-key"}
	c.want(http.StatusCreated, http.MethodPost, "/admin/api/accounts", map[string]any{"name": "Main"}, nil)
	c.want(http.StatusCreated, http.MethodPost, "/admin/api/generate", map[string]any{"count": 2, "type": "PAYIN"}, nil)

	require.Eventually(t, func() bool { return psp.webhooks.stats().Abandoned == 2 }, 10*time.Second, 5*time.Millisecond)
	st := psp.webhooks.stats()
	assert.Equal(t, int64(6), st.FailedAttempts, "three attempts each")
	assert.Zero(t, st.Delivered)
	assert.Empty(t, latestStatuses(t, client{t: t, base: receiver.URL, key: "bad-secret-key"}))

	// The same event, signed with the right secret, is accepted; tampered or unsigned, refused.
	tx := models.Transaction{ID: "tx_9999", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), Currency: "USD/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(5)}
	body, err := json.Marshal(webhookEvent{ID: "evt_manual", Object: "event", Type: eventTransactionCreated, Created: tx.UpdatedAt,
		Account: TenantOf("bad-secret-key"), ObjectID: tx.ID, Data: tx})
	require.NoError(t, err)
	post := func(body []byte, signature string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, receiver.URL+webhookPath, bytes.NewReader(body))
		require.NoError(t, err)
		if signature != "" {
			req.Header.Set(webhookSignatureHeader, signature)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	now := time.Now()
	assert.Equal(t, http.StatusUnauthorized, post(body, ""))
	assert.Equal(t, http.StatusUnauthorized, post(body, ingest.SignTimestampHMAC([]byte("not-the-secret"), body, now)))
	tampered := bytes.Replace(body, []byte(`"amount":"5"`), []byte(`"amount":"5000"`), 1)
	assert.Equal(t, http.StatusUnauthorized, post(tampered, ingest.SignTimestampHMAC([]byte(testWebhookSecret), body, now)))
	assert.Equal(t, http.StatusUnauthorized, post(body, ingest.SignTimestampHMAC([]byte(testWebhookSecret), body, now.Add(-10*time.Minute))), "stale")
	assert.Empty(t, latestStatuses(t, client{t: t, base: receiver.URL, key: "bad-secret-key"}))
	assert.Equal(t, http.StatusOK, post(body, ingest.SignTimestampHMAC([]byte(testWebhookSecret), body, now)))
	assert.Len(t, latestStatuses(t, client{t: t, base: receiver.URL, key: "bad-secret-key"}), 1)
}

// recordingReceiver answers webhooks with the statuses of answer (then 200), and records every
// request.
type recordingReceiver struct {
	mu       sync.Mutex
	requests []recorded
	answer   func(n int) (status int, retryAfter string) // n counts the requests, from 1
}

type recorded struct {
	at        time.Time
	body      []byte
	signature string
}

func (r *recordingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests = append(r.requests, recorded{at: time.Now(), body: body, signature: req.Header.Get(webhookSignatureHeader)})
	n := len(r.requests)
	r.mu.Unlock()
	status, retryAfter := http.StatusOK, ""
	if r.answer != nil {
		status, retryAfter = r.answer(n)
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
}

func (r *recordingReceiver) recorded() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

// TestWebhookRetriesInOrder: the events of a Generate and an action are sent in order; the first
// one, answered 500, then 503 with Retry-After, is sent again after the backoff, then after the
// Retry-After, and the next event waits for it. Each attempt is signed afresh, and the body is the
// documented event. The seed sends no webhook.
func TestWebhookRetriesInOrder(t *testing.T) {
	rec := &recordingReceiver{answer: func(n int) (int, string) {
		switch n {
		case 1:
			return http.StatusInternalServerError, ""
		case 2:
			return http.StatusServiceUnavailable, "1"
		}
		return http.StatusOK, ""
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	mock, psp := startMock(t, config{SeedKey: "order-key", SeedAccounts: 1, SeedTransactions: 3,
		WebhookURL: srv.URL + "/hooks", WebhookSecret: testWebhookSecret, webhook: fastWebhooks})
	c := client{t: t, base: mock.URL, key: "order-key"}
	var generated []models.Transaction
	c.want(http.StatusCreated, http.MethodPost, "/admin/api/generate", map[string]any{"count": 1, "type": "PAYIN", "status": "PENDING"}, &generated)
	require.Equal(t, "SUCCEEDED", c.applyAction(generated[0].ID, ActionSucceed))

	require.Eventually(t, func() bool { return psp.webhooks.stats().Delivered == 2 }, 10*time.Second, 5*time.Millisecond)
	reqs := rec.recorded()
	require.Len(t, reqs, 4, "the seed sent nothing; the first event took three attempts")
	assert.Equal(t, reqs[0].body, reqs[1].body)
	assert.Equal(t, reqs[0].body, reqs[2].body)
	assert.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), fastWebhooks.BackoffMin)
	assert.GreaterOrEqual(t, reqs[2].at.Sub(reqs[1].at), fastWebhooks.BackoffMax, "Retry-After, up to BackoffMax")

	verifier := ingest.TimestampHMAC{Header: webhookSignatureHeader, Secrets: [][]byte{[]byte(testWebhookSecret)}}
	var types []string
	for _, r := range reqs { // every attempt is signed, when it is sent
		req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(r.body))
		req.Header.Set(webhookSignatureHeader, r.signature)
		require.NoError(t, verifier.Verify(req, r.body))
	}
	for _, r := range []recorded{reqs[2], reqs[3]} {
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &raw))
		for _, field := range []string{"id", "object", "type", "created", "account", "object_id", "data"} {
			assert.Contains(t, raw, field)
		}
		var ev webhookEvent
		require.NoError(t, json.Unmarshal(r.body, &ev))
		assert.Equal(t, generated[0].ID, ev.ObjectID)
		assert.Equal(t, generated[0].ID, ev.Data.ID)
		assert.Equal(t, TenantOf("order-key"), ev.Account)
		assert.Equal(t, ev.Data.UpdatedAt, ev.Created)
		types = append(types, ev.Type+" "+string(ev.Data.Status))
	}
	assert.Equal(t, []string{"transaction.created PENDING", "transaction.updated SUCCEEDED"}, types)
}

// TestWebhookQueueFullNeverBlocks: with a receiver that never answers and a queue of 5, a Generate
// of 50 transactions and a lifecycle action answer at once; the events that did not fit are dropped
// and counted.
func TestWebhookQueueFullNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	defer close(release)
	opts := fastWebhooks
	opts.QueueSize = 5
	mock, psp := startMock(t, config{WebhookURL: stuck.URL, WebhookSecret: testWebhookSecret, webhook: opts})
	c := client{t: t, base: mock.URL, key: "full-key"}
	c.want(http.StatusCreated, http.MethodPost, "/admin/api/accounts", map[string]any{"name": "Main"}, nil)

	start := time.Now()
	var generated []models.Transaction
	c.want(http.StatusCreated, http.MethodPost, "/admin/api/generate", map[string]any{"count": 50, "type": "PAYIN", "status": "PENDING"}, &generated)
	c.applyAction(generated[0].ID, ActionSucceed)
	assert.Less(t, time.Since(start), 2*time.Second, "the panel never waits for webhooks")

	st := psp.webhooks.stats()
	assert.GreaterOrEqual(t, st.Queued, 4, "the queue is full, or one event short of it while the first one is in flight")
	assert.GreaterOrEqual(t, st.Dropped, int64(51-5-1), "51 events, 5 queued, at most one in flight")
	assert.LessOrEqual(t, int64(st.Queued)+st.Dropped, int64(51))
	assert.Zero(t, st.Delivered)
}

// TestPostgresWebhooksFromEveryReplica: two mock processes on one database send the webhooks of the
// changes each makes to one receiver, which ends up with every transaction in its latest state,
// the one both processes list.
func TestPostgresWebhooksFromEveryReplica(t *testing.T) {
	dsn := newSchema(t)
	receiver := startReceiver(t, testWebhookSecret)
	cfg := config{WebhookURL: receiver.URL + webhookPath, WebhookSecret: testWebhookSecret, webhook: fastWebhooks}
	a := client{t: t, base: startPostgresMock(t, dsn, cfg).URL, key: "pg-hooks"}
	b := client{t: t, base: startPostgresMock(t, dsn, cfg).URL, key: "pg-hooks"}
	mirror := client{t: t, base: receiver.URL, key: "pg-hooks"}

	a.want(http.StatusCreated, http.MethodPost, "/admin/api/accounts", map[string]any{"name": "Main"}, nil)
	var generated []models.Transaction
	a.want(http.StatusCreated, http.MethodPost, "/admin/api/generate", map[string]any{"count": 4, "type": "PAYIN", "status": "PENDING"}, &generated)
	b.applyAction(generated[0].ID, ActionSucceed)
	a.applyAction(generated[0].ID, ActionRefund)
	b.applyAction(generated[1].ID, ActionCancel)
	b.want(http.StatusCreated, http.MethodPost, "/admin/api/generate", map[string]any{"count": 2, "type": "PAYIN", "status": "PENDING"}, nil)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := latestStatuses(t, mirror)
		assert.Len(c, got, 6)
		assert.Equal(c, latestStatuses(t, a), got)
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, latestStatuses(t, b), latestStatuses(t, mirror))
	assert.Equal(t, models.TransactionStatusRefunded, latestStatuses(t, mirror)[generated[0].ID])
}
