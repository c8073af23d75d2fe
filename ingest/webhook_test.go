package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

var secret = []byte("whsec_test_secret")

// payload is the simulated PSP's webhook body.
type payload struct {
	ID     string           `json:"id"`
	At     time.Time        `json:"created"`
	Object string           `json:"object_id"`
	Data   *json.RawMessage `json:"data,omitempty"` // the transaction, or absent (an id-only event)
}

func parse(body []byte) (ingest.Event[models.Transaction], error) {
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return ingest.Event[models.Transaction]{}, err
	}
	ev := ingest.Event[models.Transaction]{ID: p.ID, Time: p.At, ObjectID: p.Object}
	if p.Data != nil {
		var t models.Transaction
		if err := json.Unmarshal(*p.Data, &t); err != nil {
			return ev, err
		}
		ev.Object = &t
	}
	return ev, nil
}

type hookFixture struct {
	srv      *httptest.Server
	txs      *feed.Memory[models.Transaction]
	now      time.Time
	refetch  atomic.Int64
	failFeed atomic.Bool
}

func newHookFixture(t *testing.T) *hookFixture {
	t.Helper()
	f := &hookFixture{now: time.Now()}
	txs := feed.NewMemoryTransactions()
	f.txs = txs
	h, err := ingest.NewWebhookHandler(ingest.WebhookConfig[models.Transaction]{
		Verifier:      ingest.TimestampHMAC{Header: "PSP-Signature", Secrets: [][]byte{[]byte("old"), secret}, Now: func() time.Time { return f.now }},
		Parse:         parse,
		DefaultTenant: tenant,
		Feed:          failingFeed{Feed: txs, fail: &f.failFeed},
		Refetch: func(ctx context.Context, _, id string) (models.Transaction, error) {
			f.refetch.Add(1)
			return tx(id, models.TransactionStatusSucceeded, f.now), nil
		},
		Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// failingFeed fails its Puts while fail is set.
type failingFeed struct {
	feed.Feed[models.Transaction]
	fail *atomic.Bool
}

func (f failingFeed) Put(ctx context.Context, tenant string, items ...models.Transaction) error {
	if f.fail.Load() {
		return connector.Unavailable(nil, "database down")
	}
	return f.Feed.Put(ctx, tenant, items...)
}

func tx(id string, status models.TransactionStatus, at time.Time) models.Transaction {
	return models.Transaction{ID: id, CreatedAt: at.Truncate(time.Second), UpdatedAt: at, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: status, Amount: models.AmountFromInt64(100), DestinationAccountID: "acc_1"}
}

func eventBody(t *testing.T, id string, at time.Time, obj *models.Transaction, objectID string) []byte {
	t.Helper()
	p := payload{ID: id, At: at, Object: objectID}
	if obj != nil {
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		m := json.RawMessage(raw)
		p.Data = &m
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send posts body signed with secret at signedAt (or with the header given).
func (f *hookFixture) send(t *testing.T, body []byte, header string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("PSP-Signature", header)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (f *hookFixture) status(t *testing.T, id string) models.TransactionStatus {
	t.Helper()
	got, ok, err := f.txs.Get(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return got.Status
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	f := newHookFixture(t)
	obj := tx("tx_1", models.TransactionStatusPending, f.now)
	body := eventBody(t, "evt_1", f.now, &obj, "tx_1")
	for name, header := range map[string]string{
		"no signature":        "",
		"wrong secret":        ingest.SignTimestampHMAC([]byte("nope"), body, f.now),
		"body changed":        ingest.SignTimestampHMAC(secret, append(body[:len(body):len(body)], ' '), f.now),
		"stale timestamp":     ingest.SignTimestampHMAC(secret, body, f.now.Add(-10*time.Minute)),
		"future timestamp":    ingest.SignTimestampHMAC(secret, body, f.now.Add(10*time.Minute)),
		"garbage":             "t=abc,v1=zz",
		"timestamp, no v1":    fmt.Sprintf("t=%d", f.now.Unix()),
		"signature not in v1": strings.Replace(ingest.SignTimestampHMAC(secret, body, f.now), "v1=", "v0=", 1),
	} {
		t.Run(name, func(t *testing.T) {
			code, res := f.send(t, body, header)
			if code != http.StatusUnauthorized {
				t.Errorf("answered %d (%s), want 401", code, res)
			}
			if strings.Contains(res, string(secret)) {
				t.Errorf("the answer carries the secret: %s", res)
			}
			if st := f.status(t, "tx_1"); st != "" {
				t.Errorf("a refused webhook stored tx_1 (%s)", st)
			}
		})
	}
	// A signature with a rotated-out secret in Secrets still verifies.
	if code, res := f.send(t, body, ingest.SignTimestampHMAC([]byte("old"), body, f.now)); code != http.StatusOK {
		t.Errorf("signed with the other configured secret: %d %s", code, res)
	}
}

func TestWebhookIsIdempotentAndOrderSafe(t *testing.T) {
	f := newHookFixture(t)
	post := func(id string, at time.Time, status models.TransactionStatus) string {
		obj := tx("tx_1", status, at)
		body := eventBody(t, id, at, &obj, "tx_1")
		code, res := f.send(t, body, ingest.SignTimestampHMAC(secret, body, f.now))
		if code != http.StatusOK {
			t.Fatalf("%s: answered %d %s", id, code, res)
		}
		var out struct{ Delivery string }
		_ = json.Unmarshal([]byte(res), &out)
		return out.Delivery
	}
	t1, t2, t3 := f.now.Add(-3*time.Second), f.now.Add(-2*time.Second), f.now.Add(-time.Second)
	if d := post("evt_1", t1, models.TransactionStatusPending); d != "applied" {
		t.Errorf("first event: %s", d)
	}
	if d := post("evt_3", t3, models.TransactionStatusRefunded); d != "applied" {
		t.Errorf("newer event: %s", d)
	}
	slots := f.txs.Len(tenant)
	if d := post("evt_3", t3, models.TransactionStatusRefunded); d != "replayed" {
		t.Errorf("the same event again: %s, want replayed", d)
	}
	if d := post("evt_2", t2, models.TransactionStatusSucceeded); d != "stale" {
		t.Errorf("an older event after a newer one: %s, want stale", d)
	}
	if st := f.status(t, "tx_1"); st != models.TransactionStatusRefunded {
		t.Errorf("tx_1 is %s, want REFUNDED: an older event must never roll the status back", st)
	}
	if n := f.txs.Len(tenant); n != slots {
		t.Errorf("a replayed or stale event wrote to the feed (%d slots, then %d)", slots, n)
	}
}

func TestWebhookRefetchesIDOnlyEventsAndRetriesFailures(t *testing.T) {
	f := newHookFixture(t)
	body := eventBody(t, "evt_9", f.now, nil, "tx_9")
	f.failFeed.Store(true)
	code, _ := f.send(t, body, ingest.SignTimestampHMAC(secret, body, f.now))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("with the feed down: answered %d, want 503 so that the PSP retries", code)
	}
	f.failFeed.Store(false)
	code, res := f.send(t, body, ingest.SignTimestampHMAC(secret, body, f.now))
	if code != http.StatusOK || !strings.Contains(res, "applied") {
		t.Fatalf("the PSP's retry: %d %s, want the event applied now", code, res)
	}
	if st := f.status(t, "tx_9"); st != models.TransactionStatusSucceeded {
		t.Errorf("tx_9 is %q, want the re-fetched SUCCEEDED", st)
	}
	if n := f.refetch.Load(); n != 2 {
		t.Errorf("re-fetched %d times, want 2 (once per attempt)", n)
	}
}

func TestWebhookRefusesBadRequests(t *testing.T) {
	f := newHookFixture(t)
	body := []byte(`{"id":"","object_id":"x"}`)
	if code, _ := f.send(t, body, ingest.SignTimestampHMAC(secret, body, f.now)); code != http.StatusBadRequest {
		t.Errorf("an event without id: %d, want 400", code)
	}
	res, err := http.Get(f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", res.StatusCode)
	}
	_, err = ingest.NewWebhookHandler(ingest.WebhookConfig[models.Transaction]{Parse: parse})
	if !errors.Is(err, ingest.ErrInvalidConfig) {
		t.Errorf("a handler without Verifier or Feed: %v", err)
	}
}

func TestBodyHMAC(t *testing.T) {
	v := ingest.BodyHMAC{Header: "X-Sig", Prefix: "sha256=", Secrets: [][]byte{secret}}
	body := []byte(`{"a":1}`)
	mac := hmacHex(secret, body)
	for name, tt := range map[string]struct {
		header string
		ok     bool
	}{
		"hex":      {"sha256=" + mac, true},
		"no sig":   {"", false},
		"wrong":    {"sha256=" + hmacHex([]byte("x"), body), false},
		"noprefix": {mac, false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if tt.header != "" {
			r.Header.Set("X-Sig", tt.header)
		}
		err := v.Verify(r, body)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ingest.ErrBadSignature)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func hmacHex(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestEventLogOrdersEqualTimesBySequence: a second-precision PSP's two events of one second are
// ordered by their sequence; the tenant read from the signed body wins over the request's.
func TestEventLogOrdersEqualTimesBySequence(t *testing.T) {
	txs := feed.NewMemoryTransactions()
	log := ingest.NewMemoryEventLog[models.Transaction](txs)
	at := time.Now().Truncate(time.Second)
	deliver := func(id string, seq int64, status models.TransactionStatus) ingest.Delivery {
		obj := tx("tx_1", status, at)
		d, err := log.Deliver(context.Background(), "t", ingest.Event[models.Transaction]{ID: id, Time: at, Sequence: seq, ObjectID: "tx_1", Object: &obj},
			func(context.Context) (models.Transaction, error) { return obj, nil })
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := deliver("evt_2", 2, models.TransactionStatusRefunded); d != ingest.Applied {
		t.Fatalf("first: %s", d)
	}
	if d := deliver("evt_1", 1, models.TransactionStatusSucceeded); d != ingest.Stale {
		t.Errorf("an event of the same second with a lower sequence: %s, want stale", d)
	}
	got, _, _ := txs.Get(context.Background(), "t", "tx_1")
	if got.Status != models.TransactionStatusRefunded {
		t.Errorf("status %s, want REFUNDED", got.Status)
	}
}

func TestWebhookTenantFromTheSignedBody(t *testing.T) {
	txs := feed.NewMemoryTransactions()
	now := time.Now()
	h, err := ingest.NewWebhookHandler(ingest.WebhookConfig[models.Transaction]{
		Verifier: ingest.TimestampHMAC{Header: "PSP-Signature", Secrets: [][]byte{secret}},
		Parse: func(body []byte) (ingest.Event[models.Transaction], error) {
			ev, err := parse(body)
			ev.Tenant = "acct_from_body"
			return ev, err
		},
		Tenant: func(*http.Request) (string, error) { return "acct_from_url", nil },
		Feed:   txs, Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	obj := tx("tx_1", models.TransactionStatusPending, now)
	body := eventBody(t, "evt_1", now, &obj, "tx_1")
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set("PSP-Signature", ingest.SignTimestampHMAC(secret, body, now))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, ok, _ := txs.Get(context.Background(), "acct_from_body", "tx_1"); !ok {
		t.Errorf("the event was not stored for the tenant named in the signed body")
	}
	if _, ok, _ := txs.Get(context.Background(), "acct_from_url", "tx_1"); ok {
		t.Errorf("the event was stored for the tenant of the unsigned URL")
	}
}
