package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
)

// writeProvider implements the write capabilities and numbers its calls, so that every provider
// call creates an object with a new id ("po_1", "po_2", …): a replayed answer keeps the first id.
// behave, when set, is called with the call number before the object is built; its error is
// returned, and it may block or panic.
type writeProvider struct {
	*fakeProvider
	n      atomic.Int64
	behave func(ctx context.Context, n int64) error
}

var (
	_ connector.PayoutCreator      = (*writeProvider)(nil)
	_ connector.TransferCreator    = (*writeProvider)(nil)
	_ connector.BankAccountCreator = (*writeProvider)(nil)
)

func newWriteProvider(behave func(ctx context.Context, n int64) error) *writeProvider {
	return &writeProvider{fakeProvider: newFake(), behave: behave}
}

func (p *writeProvider) start(ctx context.Context, method, arg string) (int64, error) {
	n := p.n.Add(1)
	_ = p.record(ctx, call{method: method, arg: arg})
	if p.behave != nil {
		return n, p.behave(ctx, n)
	}
	return n, nil
}

func (p *writeProvider) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	n, err := p.start(ctx, "CreatePayout", req.IdempotencyKey)
	if err != nil {
		return models.Payout{}, err
	}
	return models.Payout{
		ID: fmt.Sprintf("po_%d", n), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Status: models.TransactionStatusPending, CreatedAt: t0,
	}, nil
}

func (p *writeProvider) CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error) {
	n, err := p.start(ctx, "CreateTransfer", req.IdempotencyKey)
	if err != nil {
		return models.Transfer{}, err
	}
	return models.Transfer{
		ID: fmt.Sprintf("tr_%d", n), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Status: models.TransactionStatusSucceeded, CreatedAt: t0,
	}, nil
}

func (p *writeProvider) CreateBankAccount(ctx context.Context, req models.BankAccountRequest) (models.BankAccount, error) {
	n, err := p.start(ctx, "CreateBankAccount", req.Name)
	if err != nil {
		return models.BankAccount{}, err
	}
	return models.BankAccount{ID: fmt.Sprintf("ba_%d", n), Name: req.Name, IBAN: req.IBAN, Country: req.Country, CreatedAt: t0}, nil
}

// gate blocks provider calls until opened.
type gate struct {
	entered chan struct{} // receives once per call that reached the gate
	open    chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	g.entered <- struct{}{}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second): // a call the test never expected: fail rather than hang
		return errors.New("the gate was never opened")
	}
}

func payoutWithKey(key string) string {
	return strings.Replace(payoutBody, `"ik_9"`, fmt.Sprintf("%q", key), 1)
}

func postPayout(t *testing.T, url, body string) response {
	t.Helper()
	return send(t, url, request{method: http.MethodPost, path: "/payouts", body: body})
}

func TestConcurrentIdenticalPayoutsCallTheProviderOnce(t *testing.T) {
	const n = 1000
	p := newWriteProvider(func(ctx context.Context, _ int64) error {
		time.Sleep(200 * time.Millisecond) // a slow PSP, so that the duplicates overlap the first call
		return nil
	})
	srv, _ := newServer(t, p)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(client.CloseIdleConnections)

	type result struct {
		status   int
		body     string
		replayed bool
		err      error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/payouts", strings.NewReader(payoutBody))
			if err != nil {
				results[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			results[i] = result{status: res.StatusCode, body: string(b), replayed: res.Header.Get(httpserver.ReplayedHeader) == "true", err: err}
		})
	}
	close(start)
	wg.Wait()

	bodies := map[string]int{}
	fresh := 0
	for i, r := range results {
		require.NoError(t, r.err, "request %d", i)
		require.Equal(t, http.StatusCreated, r.status, "request %d: %s", i, r.body)
		bodies[r.body]++
		if !r.replayed {
			fresh++
		}
	}
	assert.EqualValues(t, 1, p.n.Load(), "%d identical concurrent payouts must make exactly one provider call", n)
	require.Len(t, bodies, 1, "every answer is the same payout")
	for body := range bodies {
		var po models.Payout
		require.NoError(t, json.Unmarshal([]byte(body), &po))
		assert.Equal(t, "po_1", po.ID)
	}
	assert.Equal(t, 1, fresh, "only the first answer comes from a provider call; the others are marked %s", httpserver.ReplayedHeader)
}

func TestRepeatedPayoutReplaysTheStoredAnswer(t *testing.T) {
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p)

	first := postPayout(t, srv.URL, payoutBody)
	require.Equal(t, http.StatusCreated, first.status, "body: %s", first.body)
	assert.Empty(t, first.header.Get(httpserver.ReplayedHeader))

	sameRequestWrittenDifferently := `{
		"destinationAccountId": "ben_01", "sourceAccountId": "acc_01", "description": "rent",
		"currency": "USD/2", "amount": "10000", "idempotencyKey": "ik_\u0039", "fieldFormanceMayAdd": 1 }`
	for _, body := range []string{payoutBody, sameRequestWrittenDifferently} {
		again := postPayout(t, srv.URL, body)
		require.Equal(t, http.StatusCreated, again.status, "body: %s", again.body)
		assert.Equal(t, first.body, again.body, "the replay is byte for byte the first answer")
		assert.Equal(t, "application/json", again.header.Get("Content-Type"))
		assert.Equal(t, "true", again.header.Get(httpserver.ReplayedHeader))
	}
	assert.EqualValues(t, 1, p.n.Load())
	assert.Equal(t, "po_1", decodeInto[models.Payout](t, first).ID)
}

func TestSameKeyWithAnotherBodyIsRefused(t *testing.T) {
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p)
	require.Equal(t, http.StatusCreated, postPayout(t, srv.URL, payoutBody).status)

	for name, body := range map[string]string{
		"another amount":      strings.Replace(payoutBody, `"10000"`, `"10001"`, 1),
		"another destination": strings.Replace(payoutBody, `"ben_01"`, `"ben_02"`, 1),
		"without description": strings.Replace(payoutBody, `,"description":"rent"`, ``, 1),
	} {
		t.Run(name, func(t *testing.T) {
			e := errorBody(t, postPayout(t, srv.URL, body), http.StatusConflict)
			assert.Contains(t, e.Detail, `idempotencyKey "ik_9" was already used with a different payout request`)
		})
	}
	assert.EqualValues(t, 1, p.n.Load(), "a refused request never reaches the provider")
}

// TestRetryableAnswersAreNotStored: a provider that says nothing happened at the PSP
// (ErrUnavailable, ErrRateLimited) frees the key, so that Formance's retry calls it again.
func TestRetryableAnswersAreNotStored(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(ctx context.Context) error
		wantStatus int
	}{
		{"upstream unavailable", func(context.Context) error { return connector.Unavailable(nil, "psp down") }, http.StatusServiceUnavailable},
		{"rate limited", func(context.Context) error { return connector.RateLimited(time.Second, "slow down") }, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newWriteProvider(func(ctx context.Context, n int64) error {
				if n == 1 {
					return tt.fail(ctx)
				}
				return nil
			})
			srv, _ := newServer(t, p)

			errorBody(t, postPayout(t, srv.URL, payoutBody), tt.wantStatus)
			retry := postPayout(t, srv.URL, payoutBody)
			require.Equal(t, http.StatusCreated, retry.status, "the retry calls the provider again: %s", retry.body)
			assert.Equal(t, "po_2", decodeInto[models.Payout](t, retry).ID)
			again := postPayout(t, srv.URL, payoutBody)
			assert.Equal(t, retry.body, again.body, "the success is stored")
			assert.EqualValues(t, 2, p.n.Load())
		})
	}
}

// TestUnknownOutcomeBlocksTheKey: an error that does not say whether the PSP acted, or a panic
// after the provider was entered, leaves the outcome unknown. The key is not released: repeats get
// 423 (which Formance retries, where a 409 would fail the payment initiation) until the in-flight
// TTL, and the provider is not called again before.
func TestUnknownOutcomeBlocksTheKey(t *testing.T) {
	tests := []struct {
		name string
		fail func(ctx context.Context) error
	}{
		{"unknown error", func(context.Context) error { return errors.New("read tcp: connection reset by peer") }},
		{"deadline", func(context.Context) error { return fmt.Errorf("POST /v1/payouts: %w", context.DeadlineExceeded) }},
		{"panic", func(context.Context) error { panic("provider bug") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &lockedClock{now: time.Now()}
			store := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now))
			p := newWriteProvider(func(ctx context.Context, n int64) error {
				if n == 1 {
					return tt.fail(ctx)
				}
				return nil
			})
			srv, logs := newServer(t, p, httpserver.WithIdempotencyStore(store), httpserver.WithIdempotencyInFlightTTL(time.Hour))

			first := postPayout(t, srv.URL, payoutBody)
			assert.Equal(t, http.StatusInternalServerError, first.status, "body: %s", first.body)
			for range 3 {
				res := postPayout(t, srv.URL, payoutBody)
				e := errorBody(t, res, http.StatusLocked)
				assert.Contains(t, e.Detail, `the outcome of the payout request with idempotencyKey "ik_9" (started at `)
				assert.Contains(t, e.Detail, "is unknown")
				assert.Equal(t, "5", res.header.Get("Retry-After"))
			}
			assert.EqualValues(t, 1, p.n.Load(), "the provider is not called again while the outcome is unknown")
			assert.Contains(t, logs.String(), "the key stays blocked")

			clock.Advance(2 * time.Hour) // past the in-flight TTL: the key is free again
			res := postPayout(t, srv.URL, payoutBody)
			require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
			assert.EqualValues(t, 2, p.n.Load())
		})
	}
}

// TestAcceptedWritesAreNeverRepeated: once the provider returned a payout or transfer without an
// error, the PSP made it. A record the library must refuse (a zero createdAt, a status outside the
// enum, another idempotencyKey) answers 500 naming the field, and that answer is stored: every
// retry gets it, and the provider is called once.
func TestAcceptedWritesAreNeverRepeated(t *testing.T) {
	tests := []struct {
		name        string
		path, body  string
		payout      func(*models.Payout)
		transfer    func(*models.Transfer)
		wantInfield string
	}{
		{"payout without createdAt", "/payouts", payoutBody, func(p *models.Payout) { p.CreatedAt = time.Time{} }, nil, `field "createdAt"`},
		{"payout PROCESSING", "/payouts", payoutBody, func(p *models.Payout) { p.Status = "PROCESSING" }, nil, `field "status"`},
		{"payout with another key", "/payouts", payoutBody, func(p *models.Payout) { p.IdempotencyKey = "other" }, nil, `idempotencyKey "other"`},
		{"transfer without createdAt", "/transfers", transferBody, nil, func(tr *models.Transfer) { tr.CreatedAt = time.Time{} }, `field "createdAt"`},
		{"transfer PROCESSING", "/transfers", transferBody, nil, func(tr *models.Transfer) { tr.Status = "PROCESSING" }, `field "status"`},
		{"transfer with another key", "/transfers", transferBody, nil, func(tr *models.Transfer) { tr.IdempotencyKey = "other" }, `idempotencyKey "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFull()
			p.alterPayout, p.alterTransfr = tt.payout, tt.transfer
			srv, _ := newServer(t, p)
			first := send(t, srv.URL, request{method: http.MethodPost, path: tt.path, body: tt.body})
			e := errorBody(t, first, http.StatusInternalServerError)
			assert.Contains(t, e.Detail, tt.wantInfield)
			assert.Contains(t, e.Detail, "the provider is not called again")
			for range 2 {
				again := send(t, srv.URL, request{method: http.MethodPost, path: tt.path, body: tt.body})
				assert.Equal(t, http.StatusInternalServerError, again.status)
				assert.Equal(t, first.body, again.body, "the stored answer is replayed")
				assert.Equal(t, "true", again.header.Get(httpserver.ReplayedHeader))
			}
			assert.Len(t, p.recorded(), 1, "the provider is called once per idempotency key, whatever it returned")
		})
	}
}

func TestDefinitiveErrorsAreStored(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
	}{
		{"invalid request", connector.InvalidRequest("insufficient funds"), http.StatusBadRequest},
		{"conflict", connector.Conflict("duplicate payout at the PSP"), http.StatusConflict},
		{"not found", connector.NotFound("account %q", "acc_01"), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refuse atomic.Bool
			refuse.Store(true)
			p := newWriteProvider(func(context.Context, int64) error {
				if refuse.Load() {
					return tt.err
				}
				return nil
			})
			srv, _ := newServer(t, p)
			first := postPayout(t, srv.URL, payoutBody)
			assert.Equal(t, tt.err.Error(), errorBody(t, first, tt.wantStatus).Detail)
			refuse.Store(false) // the PSP would accept it now: the stored refusal still stands
			again := postPayout(t, srv.URL, payoutBody)
			assert.Equal(t, tt.wantStatus, again.status)
			assert.Equal(t, first.body, again.body)
			assert.EqualValues(t, 1, p.n.Load())
		})
	}
}

func TestIdempotencyKeysArePerTenantAndRoute(t *testing.T) {
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p, httpserver.WithAPIKeys(map[string]string{"key-a": "tenant-a", "key-b": "tenant-b"}))
	post := func(auth, path, body string) response {
		return send(t, srv.URL, request{method: http.MethodPost, path: path, body: body, auth: "Bearer " + auth})
	}
	a := post("key-a", "/payouts", payoutBody)
	b := post("key-b", "/payouts", payoutBody)
	require.Equal(t, http.StatusCreated, a.status)
	require.Equal(t, http.StatusCreated, b.status)
	assert.NotEqual(t, decodeInto[models.Payout](t, a).ID, decodeInto[models.Payout](t, b).ID,
		"the same key from two tenants is two payouts")
	assert.Equal(t, a.body, post("key-a", "/payouts", payoutBody).body)
	assert.Equal(t, b.body, post("key-b", "/payouts", payoutBody).body)

	transfer := strings.Replace(transferBody, `"ik_8"`, `"ik_9"`, 1) // the payout's key, on another route
	require.Equal(t, http.StatusCreated, post("key-a", "/transfers", transfer).status)
	assert.EqualValues(t, 3, p.n.Load())

	calls := p.recorded()
	require.Len(t, calls, 3)
	assert.Equal(t, []string{"tenant-a", "tenant-b", "tenant-a"}, []string{calls[0].tenant, calls[1].tenant, calls[2].tenant})
}

func TestTransfersAreIdempotent(t *testing.T) {
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p)
	post := func(body string) response {
		return send(t, srv.URL, request{method: http.MethodPost, path: "/transfers", body: body})
	}
	first := post(transferBody)
	require.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, first.body, post(transferBody).body)
	e := errorBody(t, post(strings.Replace(transferBody, `"250"`, `"251"`, 1)), http.StatusConflict)
	assert.Contains(t, e.Detail, `idempotencyKey "ik_8" was already used with a different transfer request`)
	assert.EqualValues(t, 1, p.n.Load())
}

func TestBankAccountsAreIdempotent(t *testing.T) {
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p)
	post := func(body, key string) response {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/bank-accounts", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		if key != "" {
			req.Header.Set(httpserver.IdempotencyKeyHeader, key)
		}
		return do(t, req)
	}
	other := strings.Replace(bankAccountBody, "Main account", "Second account", 1)

	// Without a header, the body is the key: the same registration is answered once.
	first := post(bankAccountBody, "")
	require.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, first.body, post(bankAccountBody, "").body)
	require.Equal(t, http.StatusCreated, post(other, "").status)
	assert.EqualValues(t, 2, p.n.Load())

	// With the header, the header is the key.
	withKey := post(bankAccountBody, "ba-key-1")
	require.Equal(t, http.StatusCreated, withKey.status)
	assert.Equal(t, "ba_3", decodeInto[models.BankAccount](t, withKey).ID)
	assert.Equal(t, withKey.body, post(bankAccountBody, "ba-key-1").body)
	e := errorBody(t, post(other, "ba-key-1"), http.StatusConflict)
	assert.Contains(t, e.Detail, `Idempotency-Key header "ba-key-1" was already used with a different bank account request`)
	assert.EqualValues(t, 3, p.n.Load())
}

// lockedClock is a settable clock safe for concurrent use.
type lockedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *lockedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *lockedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRequestInFlightWhenItsProcessDiedStaysBlockedUntilItExpires(t *testing.T) {
	clock := &lockedClock{now: time.Now()}
	store := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now))

	// A process took the key and died during the provider call: the record stays in flight.
	var req models.PayoutRequest
	require.NoError(t, json.Unmarshal([]byte(payoutBody), &req))
	fp, err := idempotency.Fingerprint(req)
	require.NoError(t, err)
	key := idempotency.Key{Tenant: httpserver.DefaultTenant, Route: "POST /payouts", IdempotencyKey: "ik_9"}
	out, err := store.Begin(context.Background(), key, fp, time.Hour)
	require.NoError(t, err)
	require.Equal(t, idempotency.Acquired, out.Kind)

	p := newWriteProvider(nil)
	srv, _ := newServer(t, p, httpserver.WithIdempotencyStore(store),
		httpserver.WithIdempotencyInFlightTTL(time.Hour), httpserver.WithIdempotencyWait(50*time.Millisecond))

	res := postPayout(t, srv.URL, payoutBody)
	e := errorBody(t, res, http.StatusLocked) // Formance retries 423; a 409 would fail the payout
	assert.Contains(t, e.Detail, `a payout request with idempotencyKey "ik_9" is still in flight (started at `)
	assert.Contains(t, e.Detail, "the key stays blocked until "+out.ExpiresAt.UTC().Format(time.RFC3339))
	assert.Equal(t, "5", res.header.Get("Retry-After"))

	e = errorBody(t, postPayout(t, srv.URL, strings.Replace(payoutBody, `"10000"`, `"1"`, 1)), http.StatusConflict)
	assert.Contains(t, e.Detail, "already used with a different payout request", "a different body is refused at once")
	assert.Zero(t, p.n.Load(), "nothing is sent to the PSP while the dead request is in flight")

	clock.Advance(time.Hour)
	res = postPayout(t, srv.URL, payoutBody)
	require.Equal(t, http.StatusCreated, res.status, "after the in-flight TTL the request is sent again: %s", res.body)
	assert.EqualValues(t, 1, p.n.Load())
}

func TestDuplicateWaitsForTheFirstUpToItsWait(t *testing.T) {
	assert.Less(t, httpserver.DefaultIdempotencyWait, 10*time.Second,
		"the default wait ends before Formance's 10 s client timeout, so it reads the 423 and retries")
	g := newGate()
	p := newWriteProvider(func(ctx context.Context, _ int64) error { return g.wait(ctx) })
	srv, _ := newServer(t, p, httpserver.WithIdempotencyWait(100*time.Millisecond))

	firstDone := make(chan response, 1)
	go func() { firstDone <- postPayout(t, srv.URL, payoutBody) }()
	<-g.entered // the first request is in the provider

	res := postPayout(t, srv.URL, payoutBody)
	e := errorBody(t, res, http.StatusLocked)
	assert.Equal(t, `a payout request with idempotencyKey "ik_9" is still in flight: retry later`, e.Detail)
	assert.Equal(t, "5", res.header.Get("Retry-After"))

	e = errorBody(t, postPayout(t, srv.URL, strings.Replace(payoutBody, `"rent"`, `"food"`, 1)), http.StatusConflict)
	assert.Contains(t, e.Detail, "already used with a different payout request", "another body is refused without waiting")

	close(g.open)
	first := <-firstDone
	require.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, first.body, postPayout(t, srv.URL, payoutBody).body)
	assert.EqualValues(t, 1, p.n.Load())
}

func TestProviderCallOutlivesTheClient(t *testing.T) {
	g := newGate()
	var providerCtxErr atomic.Value
	p := newWriteProvider(func(ctx context.Context, _ int64) error {
		err := g.wait(ctx)
		providerCtxErr.Store(fmt.Sprint(ctx.Err()))
		return err
	})
	srv, _ := newServer(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/payouts", strings.NewReader(payoutBody))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	clientDone := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		clientDone <- err
	}()
	<-g.entered
	cancel() // Formance gives up while the PSP is working
	require.ErrorIs(t, <-clientDone, context.Canceled)
	close(g.open)

	// The retry gets the answer of the call that went on without its client.
	retry := postPayout(t, srv.URL, payoutBody)
	require.Equal(t, http.StatusCreated, retry.status, "body: %s", retry.body)
	assert.Equal(t, "po_1", decodeInto[models.Payout](t, retry).ID)
	assert.EqualValues(t, 1, p.n.Load())
	assert.Equal(t, "<nil>", providerCtxErr.Load(), "the provider's context is not cancelled by the client going away")
}

// brokenStore fails as told.
type brokenStore struct {
	idempotency.Store
	beginErr, completeErr error
}

func (s *brokenStore) Begin(ctx context.Context, k idempotency.Key, fp []byte, ttl time.Duration) (idempotency.Outcome, error) {
	if s.beginErr != nil {
		return idempotency.Outcome{}, s.beginErr
	}
	return s.Store.Begin(ctx, k, fp, ttl)
}

func (s *brokenStore) Complete(ctx context.Context, k idempotency.Key, token string, a idempotency.Answer, retention time.Duration) error {
	if s.completeErr != nil {
		return s.completeErr
	}
	return s.Store.Complete(ctx, k, token, a, retention)
}

func TestIdempotencyStoreFailures(t *testing.T) {
	t.Run("store unavailable: 503, the PSP is not called", func(t *testing.T) {
		p := newWriteProvider(nil)
		store := &brokenStore{Store: idempotency.NewMemoryStore(), beginErr: errors.New("dial tcp 10.0.0.5:5432: password authentication failed")}
		srv, logs := newServer(t, p, httpserver.WithIdempotencyStore(store))
		e := errorBody(t, postPayout(t, srv.URL, payoutBody), http.StatusServiceUnavailable)
		assert.Contains(t, e.Detail, "the idempotency store is unavailable")
		assert.NotContains(t, e.Detail, "10.0.0.5", "store internals are logged, not sent")
		assert.Zero(t, p.n.Load())
		srv.Close()
		assert.Contains(t, logs.String(), "password authentication failed")
	})
	t.Run("answer not stored: sent anyway, then the key stays in flight", func(t *testing.T) {
		p := newWriteProvider(nil)
		store := &brokenStore{Store: idempotency.NewMemoryStore(), completeErr: errors.New("connection reset")}
		srv, logs := newServer(t, p, httpserver.WithIdempotencyStore(store), httpserver.WithIdempotencyWait(20*time.Millisecond))
		first := postPayout(t, srv.URL, payoutBody)
		require.Equal(t, http.StatusCreated, first.status)
		errorBody(t, postPayout(t, srv.URL, payoutBody), http.StatusLocked)
		assert.EqualValues(t, 1, p.n.Load(), "a payout whose answer could not be stored is never sent twice")
		srv.Close()
		assert.Contains(t, logs.String(), `"msg":"cannot store the answer of a write: retrying in the background"`)
	})
}

func TestIdempotencyOptionsAreChecked(t *testing.T) {
	for name, opt := range map[string]httpserver.Option{
		"nil store":          httpserver.WithIdempotencyStore(nil),
		"zero in-flight":     httpserver.WithIdempotencyInFlightTTL(0),
		"negative retention": httpserver.WithIdempotencyRetention(-time.Second),
		"zero wait":          httpserver.WithIdempotencyWait(0),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := httpserver.New(newFake(), httpserver.WithAPIKey("k"), opt)
			assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
		})
	}
	_, err := httpserver.New(newFake(), httpserver.WithAPIKey("k"), httpserver.WithIdempotencyStore(idempotency.NewMemoryStore()),
		httpserver.WithIdempotencyInFlightTTL(time.Minute), httpserver.WithIdempotencyRetention(time.Hour), httpserver.WithIdempotencyWait(time.Second))
	assert.NoError(t, err)
}

func TestRetentionEndsTheReplay(t *testing.T) {
	clock := &lockedClock{now: time.Now()}
	store := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now))
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p, httpserver.WithIdempotencyStore(store), httpserver.WithIdempotencyRetention(48*time.Hour))

	require.Equal(t, http.StatusCreated, postPayout(t, srv.URL, payoutBody).status)
	clock.Advance(47 * time.Hour)
	assert.Equal(t, "po_1", decodeInto[models.Payout](t, postPayout(t, srv.URL, payoutBody)).ID)
	clock.Advance(time.Hour)
	assert.Equal(t, "po_2", decodeInto[models.Payout](t, postPayout(t, srv.URL, payoutBody)).ID,
		"after the retention the key is new again")
}

// flakyStore fails its first fails Completes, as a database that went away and came back.
type flakyStore struct {
	idempotency.Store
	fails atomic.Int64
}

func (s *flakyStore) Complete(ctx context.Context, k idempotency.Key, token string, a idempotency.Answer, retention time.Duration) error {
	if s.fails.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	return s.Store.Complete(ctx, k, token, a, retention)
}

// TestAnswerStoredOnceTheStoreIsBack: an answer whose Complete failed is stored in the background
// once the store works again, so repeats get it instead of 423 for the whole in-flight TTL; the
// provider is called once.
func TestAnswerStoredOnceTheStoreIsBack(t *testing.T) {
	p := newWriteProvider(nil)
	store := &flakyStore{Store: idempotency.NewMemoryStore()}
	store.fails.Store(2)
	srv, logs := newServer(t, p, httpserver.WithIdempotencyStore(store), httpserver.WithIdempotencyWait(20*time.Millisecond),
		httpserver.WithCompleteRetryForTest(20*time.Millisecond))
	first := postPayout(t, srv.URL, payoutBody)
	require.Equal(t, http.StatusCreated, first.status)
	errorBody(t, postPayout(t, srv.URL, payoutBody), http.StatusLocked) // the store is still down
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := postPayout(t, srv.URL, payoutBody)
		if res.status == http.StatusCreated {
			assert.Equal(t, first.body, res.body, "the stored answer is the first one")
			break
		}
		require.True(t, time.Now().Before(deadline), "the answer was never stored: %d %s", res.status, res.body)
		time.Sleep(20 * time.Millisecond)
	}
	assert.EqualValues(t, 1, p.n.Load(), "the provider is called once")
	srv.Close()
	assert.Contains(t, logs.String(), "stored the answer of a write after a store failure")
}
