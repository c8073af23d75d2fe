package httpserver

import (
	"context"
	"crypto/sha256"
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

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
)

// purgeCounter counts Purge calls and reports each on purged.
type purgeCounter struct {
	idempotency.Store
	calls  atomic.Int32
	purged chan struct{}
}

func (p *purgeCounter) Purge(ctx context.Context) (int, error) {
	p.calls.Add(1)
	defer func() { p.purged <- struct{}{} }()
	return p.Store.Purge(ctx)
}

func TestGuardPurgesAtMostOncePerInterval(t *testing.T) {
	store := &purgeCounter{Store: idempotency.NewMemoryStore(), purged: make(chan struct{}, 10)}
	g := newGuard(config{idemStore: store, logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g.nextPurge = time.Now().Add(-time.Second) // due
	r := httptest.NewRequest(http.MethodPost, "/payouts", nil)

	g.maybePurge(r, time.Now())
	<-store.purged
	for range 10 {
		g.maybePurge(r, time.Now())
	}
	assert.EqualValues(t, 1, store.calls.Load(), "the next purge waits for the interval")
	assert.True(t, g.nextPurge.After(time.Now().Add(purgeInterval-time.Minute)))
}

// oddStore answers Begin with an outcome no store should return.
type oddStore struct{ idempotency.Store }

func (oddStore) Begin(context.Context, idempotency.Key, []byte, time.Duration) (idempotency.Outcome, error) {
	return idempotency.Outcome{}, nil
}

func TestGuardRefusesAnUnknownOutcome(t *testing.T) {
	logs := &strings.Builder{}
	g := newGuard(config{idemStore: oddStore{idempotency.NewMemoryStore()}, idemWait: time.Second, inFlightTTL: time.Hour,
		logger: slog.New(slog.NewTextHandler(logs, nil))})
	called := false
	rec := httptest.NewRecorder()
	g.serve(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil), write{key: idempotency.Key{IdempotencyKey: "k"}},
		writeCall(func(context.Context, http.ResponseWriter) callResult { called = true; return callResult{} }))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "nothing was sent: Formance may retry")
	assert.False(t, called, "the provider is not called on an outcome the guard does not understand")
	assert.Contains(t, logs.String(), "Begin returned outcome OutcomeKind(0)")
}

// TestGuardFlightsWithClashingHashes: with every key hashing alike, writes of different keys in
// flight at once each call the provider once and get their own answer, a duplicate waits for its
// own key's flight, and every flight is gone afterwards, wherever it was kept.
func TestGuardFlightsWithClashingHashes(t *testing.T) {
	g := newGuard(config{idemStore: idempotency.NewMemoryStore(), idemWait: 5 * time.Second, inFlightTTL: time.Hour,
		retention: time.Hour, logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g.flights.SetHash(func(idempotency.Key) uint64 { return 1 })
	release := make(chan struct{})
	var calls sync.Map // key -> number of provider calls
	serve := func(key string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		g.serve(rec, httptest.NewRequest(http.MethodPost, "/payouts", nil),
			write{key: idempotency.Key{Tenant: "t", Route: routePayouts, IdempotencyKey: key}, fingerprint: []byte("fp")},
			writeCall(func(_ context.Context, w http.ResponseWriter) callResult {
				n, _ := calls.LoadOrStore(key, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				<-release
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"key":"`+key+`"}`)
				return callResult{outcome: outcomeFinal}
			}))
		return rec
	}
	keys := []string{"a", "b", "c", "b"} // the second b is a duplicate of the first
	answers := make([]*httptest.ResponseRecorder, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { answers[i] = serve(k) })
		if i < 3 {
			require.Eventually(t, func() bool { _, ok := calls.Load(k); return ok }, 5*time.Second, time.Millisecond, "%s in flight", k)
		}
	}
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		f, _, ok := g.flights.Find(idempotency.Key{Tenant: "t", Route: routePayouts, IdempotencyKey: "b"})
		return ok && f.done != nil // the duplicate waits on b's flight
	}, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	for i, k := range keys {
		assert.Equal(t, http.StatusCreated, answers[i].Code, k)
		assert.Equal(t, `{"key":"`+k+`"}`, answers[i].Body.String(), k)
	}
	for _, k := range []string{"a", "b", "c"} {
		n, _ := calls.Load(k)
		assert.EqualValues(t, 1, n.(*atomic.Int32).Load(), "provider calls for %s", k)
	}
	assert.Equal(t, "true", answers[3].Header().Get(ReplayedHeader), "the duplicate took b's answer")
	g.mu.Lock()
	defer g.mu.Unlock()
	assert.Zero(t, g.flights.Len())
}

// TestFingerprintOfTheDecodedRequestIsTheStoresFingerprint: the fingerprint the write routes compute
// from their decoded request (through a pointer, into the request's own array) is
// idempotency.Fingerprint of the request's value, for all three write routes: the bytes pgstore
// keeps from earlier versions must still match.
func TestFingerprintOfTheDecodedRequestIsTheStoresFingerprint(t *testing.T) {
	amount, err := models.ParseAmount("12345")
	require.NoError(t, err)
	payout := models.PayoutRequest{IdempotencyKey: "k1", Amount: amount, Currency: "EUR/2", SourceAccountID: "a1",
		DestinationAccountID: "b1", Description: "invoice \"7\" <é>", Metadata: models.Metadata{"z": "1", "a": "2"}}
	transfer := models.TransferRequest(payout)
	bank := models.BankAccountRequest{Name: "Ada", IBAN: "FR7630006000011234567890189", Country: "FR", Metadata: models.Metadata{"k": "v"}}
	for name, c := range map[string]struct{ ptr, val any }{
		"payout":       {&payout, payout},
		"transfer":     {&transfer, transfer},
		"bank account": {&bank, bank},
	} {
		var sum [sha256.Size]byte
		got, err := fingerprint(c.ptr, &sum)
		require.NoError(t, err, name)
		want, err := idempotency.Fingerprint(c.val)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
}

// TestRecorderSharesTheJSONHeaderUntilItIsAskedFor: an answer written whole through writeBody is
// recorded with the shared JSON header and a copy of its body; asking the recorder for its header
// afterwards gives a copy, so that the shared map never changes; and a recorder whose header was
// set first records as any ResponseWriter does.
func TestRecorderSharesTheJSONHeaderUntilItIsAskedFor(t *testing.T) {
	body := []byte(`{"id":"po_1"}` + "\n")
	rec := newRecorder()
	writeBody(rec, http.StatusCreated, body)
	body[2] = 'X' // the caller's buffer is reused: the recorded answer must not change
	ans := rec.answer()
	assert.Equal(t, http.StatusCreated, ans.status)
	assert.Equal(t, `{"id":"po_1"}`+"\n", string(ans.body))
	assert.Equal(t, []string{"application/json"}, ans.header["Content-Type"])

	rec.Header().Set("X-Late", "1")
	rec.Header()["Content-Type"][0] = "text/plain" // the values are copied too
	assert.Equal(t, "application/json", storedHeader.Get("Content-Type"), "the shared header never changes")
	assert.Empty(t, storedHeader.Get("X-Late"), "the shared header never changes")

	w := httptest.NewRecorder()
	(&answer{status: ans.status, header: storedHeader, body: ans.body}).write(w, false)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, http.StatusCreated, w.Code)

	set := newRecorder()
	set.Header().Set("Retry-After", "5")
	writeBody(set, http.StatusServiceUnavailable, []byte(`{}`))
	got := set.answer()
	assert.Equal(t, "5", got.header.Get("Retry-After"), "a header set before is kept")
	assert.Equal(t, "2", got.header.Get("Content-Length"))
	assert.Equal(t, http.StatusServiceUnavailable, got.status)
}
