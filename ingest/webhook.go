package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/feed"
)

// ErrBadSignature is wrapped by a Verifier's error for a request that is not signed by the PSP: no
// signature, a wrong one, or a stale timestamp. The webhook handler answers 401 and stores nothing.
var ErrBadSignature = errors.New("ingest: bad webhook signature")

// Verifier checks that a webhook request comes from the PSP. body is the raw request body.
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}

// VerifierFunc adapts a function to a Verifier.
type VerifierFunc func(r *http.Request, body []byte) error

// Verify calls f.
func (f VerifierFunc) Verify(r *http.Request, body []byte) error { return f(r, body) }

// DefaultTolerance is how far a signed timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// TimestampHMAC verifies Stripe-style signatures: a header such as
// "Stripe-Signature: t=1700000000,v1=5257a8…" whose v1 values are hex HMAC-SHA256 digests, keyed
// by one of Secrets, of the timestamp, a dot and the raw body. The timestamp must be within
// Tolerance of now, so that a captured request cannot be replayed later. Several v1 values, and
// several secrets, allow rotating a secret without downtime.
type TimestampHMAC struct {
	// Header names the signature header (e.g. "Stripe-Signature").
	Header string
	// Secrets are the signing secrets; any one may match.
	Secrets [][]byte
	// Tolerance bounds the age (and the lead) of the timestamp (default DefaultTolerance).
	Tolerance time.Duration
	// Now reads the clock (default time.Now).
	Now func() time.Time
}

// Verify implements Verifier.
func (v TimestampHMAC) Verify(r *http.Request, body []byte) error {
	header := r.Header.Get(v.Header)
	if header == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, v.Header)
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = val
		case "v1":
			sigs = append(sigs, val)
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: the %s header has no timestamp or no v1 signature", ErrBadSignature, v.Header)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now().Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: the timestamp is %v away from now (tolerance %v): a stale or replayed request", ErrBadSignature, d.Round(time.Second), tolerance)
	}
	for _, secret := range v.Secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := mac.Sum(nil)
		for _, s := range sigs {
			if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no signature of the %s header matches", ErrBadSignature, v.Header)
}

// SignTimestampHMAC returns the value of a TimestampHMAC header for body at t: "t=<unix>,v1=<hex>".
// PSP simulators (and tests) sign with it.
func SignTimestampHMAC(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// BodyHMAC verifies a header holding the HMAC-SHA256 of the raw body, keyed by one of Secrets, in
// hex or base64, with an optional prefix such as "sha256=" (GitHub-style). It cannot tell a replay
// from a retry: the handler's idempotency on the event id covers that.
type BodyHMAC struct {
	// Header names the signature header.
	Header string
	// Prefix is stripped from the header's value (e.g. "sha256=").
	Prefix string
	// Secrets are the signing secrets; any one may match.
	Secrets [][]byte
}

// Verify implements Verifier.
func (v BodyHMAC) Verify(r *http.Request, body []byte) error {
	val, ok := strings.CutPrefix(strings.TrimSpace(r.Header.Get(v.Header)), v.Prefix)
	if !ok || val == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, v.Header)
	}
	got, err := hex.DecodeString(val)
	if err != nil {
		if got, err = base64.StdEncoding.DecodeString(val); err != nil {
			return fmt.Errorf("%w: the %s header is neither hex nor base64", ErrBadSignature, v.Header)
		}
	}
	for _, secret := range v.Secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) {
			return nil
		}
	}
	return fmt.Errorf("%w: the %s signature does not match", ErrBadSignature, v.Header)
}

// Event is one webhook event, as the integrator's Parse reads it from the PSP's payload.
type Event[T any] struct {
	// ID is the PSP's event id: an event already received is acknowledged again and not applied
	// twice.
	ID string
	// Time is when the event happened at the PSP: an event older than one already applied for the
	// same object is acknowledged and not applied, so a late event never rolls a status back.
	Time time.Time
	// ObjectID is the id of the object the event is about.
	ObjectID string
	// Object is the object's state after the event, when the payload carries it. When it is nil the
	// handler fetches the object again (WebhookConfig.Refetch).
	Object *T
	// Sequence, when the PSP numbers its events, orders events of the same Time (second-precision
	// PSPs): the later of two events is the one with the higher (Time, Sequence).
	Sequence int64
	// Tenant, when Parse sets it, is the tenant the event is for, read from the signed body (a
	// platform PSP names the connected account in its payload). It takes precedence over
	// WebhookConfig.Tenant, which sees only the request's unsigned URL and headers.
	Tenant string
}

// EventLog delivers webhook events into a feed, once each and in order per object: it remembers
// the events applied and the latest event applied to each object, and writes the object into its
// feed, so that recording the event and writing the object can be one transaction (pgingest's log
// does both in one PostgreSQL transaction: an acknowledged event is stored durably). MemoryEventLog
// is the in-process one.
type EventLog[T any] interface {
	// Deliver delivers ev for tenant: unless it was applied before, or it carries an object and is
	// older than the latest event applied to that object, it calls object for the object's state
	// (ev.Object, or the object fetched again) and puts it into the feed, then records ev as applied.
	// Implementations serialize deliveries per object, so an older and a newer event racing each
	// other never apply out of order. After an error nothing is recorded: the PSP's retry delivers
	// the event again.
	Deliver(ctx context.Context, tenant string, ev Event[T], object func(ctx context.Context) (T, error)) (Delivery, error)
}

// Delivery says what Deliver did with an event.
type Delivery int

const (
	// Applied: the event was new and applied.
	Applied Delivery = iota + 1
	// Replayed: the event was applied before (the PSP retried it); nothing was done.
	Replayed
	// Stale: an event newer than this one was already applied to the object; nothing was written.
	Stale
)

// String returns the delivery's name.
func (d Delivery) String() string {
	switch d {
	case Applied:
		return "applied"
	case Replayed:
		return "replayed"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("Delivery(%d)", int(d))
}

// MemoryEventLog is an EventLog in the process's memory, over any feed: for tests and
// single-process middlewares. It is not durable: a restart forgets which events were applied (a
// PSP retry of an old event then applies it again, which the feed treats as a no-op where nothing
// changed, and the order check starts over). It keeps every event id: bound its life with the PSP's
// retry window in mind.
type MemoryEventLog[T any] struct {
	feed feed.Feed[T]

	mu      sync.Mutex
	applied map[[2]string]bool       // tenant, event id
	latest  map[[2]string]eventOrder // tenant, object id
}

// eventOrder orders events by time, then sequence.
type eventOrder struct {
	at  time.Time
	seq int64
}

func (a eventOrder) before(b eventOrder) bool {
	return a.at.Before(b.at) || (a.at.Equal(b.at) && a.seq < b.seq)
}

// NewMemoryEventLog returns an empty log that writes into f.
func NewMemoryEventLog[T any](f feed.Feed[T]) *MemoryEventLog[T] {
	return &MemoryEventLog[T]{feed: f, applied: map[[2]string]bool{}, latest: map[[2]string]eventOrder{}}
}

// Deliver implements EventLog. It holds one lock around the whole delivery.
func (l *MemoryEventLog[T]) Deliver(ctx context.Context, tenant string, ev Event[T], object func(ctx context.Context) (T, error)) (Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.applied[[2]string{tenant, ev.ID}] {
		return Replayed, nil
	}
	obj := [2]string{tenant, ev.ObjectID}
	// An event that carries its object is stale behind a newer one; one without is applied by
	// fetching the object's current state, never older than what was applied.
	order := eventOrder{ev.Time, ev.Sequence}
	if last, ok := l.latest[obj]; ok && ev.Object != nil && order.before(last) {
		l.applied[[2]string{tenant, ev.ID}] = true
		return Stale, nil
	}
	it, err := object(ctx)
	if err != nil {
		return 0, err
	}
	if err := l.feed.Put(ctx, tenant, it); err != nil {
		return 0, err
	}
	l.applied[[2]string{tenant, ev.ID}] = true
	if last, ok := l.latest[obj]; !ok || last.before(order) {
		l.latest[obj] = order
	}
	return Applied, nil
}

// WebhookConfig configures NewWebhookHandler.
type WebhookConfig[T any] struct {
	// Verifier checks each request's signature (TimestampHMAC, BodyHMAC, or your own). Required.
	Verifier Verifier
	// Parse reads the PSP's payload into an Event. An error answers 400. Required.
	Parse func(body []byte) (Event[T], error)
	// Tenant returns the tenant of a request (e.g. from the URL path it was sent to). Nil means
	// every event is for one tenant, DefaultTenant.
	Tenant func(r *http.Request) (string, error)
	// DefaultTenant is the tenant when Tenant is nil.
	DefaultTenant string
	// Log delivers the events into the feed, idempotent and order-safe: pgingest's log for a
	// durable one. Either Log or Feed is required.
	Log EventLog[T]
	// Feed, when Log is nil, receives the objects through a MemoryEventLog (not durable).
	Feed feed.Feed[T]
	// Refetch fetches an object again by id, for events that carry only an id. Required when Parse
	// may return an Event without Object.
	Refetch func(ctx context.Context, tenant, objectID string) (T, error)
	// MaxBodyBytes bounds the body (default 1 MiB).
	MaxBodyBytes int64
	// Logger logs refusals and failures (default slog.Default()). Bodies and signatures are never
	// logged.
	Logger *slog.Logger
}

// NewWebhookHandler returns the http.Handler to which a PSP sends its webhooks: it verifies each
// request's signature (401 and nothing stored when it is bad or stale), parses the event (400 when
// it cannot), and delivers it through the EventLog: a new event's object is put into the feed (or
// fetched again by id first), a replayed event is acknowledged without being applied again, and an
// event older than one already applied to its object is acknowledged without writing, so a status
// never rolls back. The answer is 200 once the event is applied and recorded (durably with
// pgingest's log: the PSP's acknowledgement then never outruns the data); 503 (the PSP retries) when
// the feed, the log or the re-fetch fails. Mount it on its own path, outside the Generic
// Connector handler (its requests are authenticated by signature, not by Formance's API key).
func NewWebhookHandler[T any](cfg WebhookConfig[T]) (http.Handler, error) {
	switch {
	case cfg.Verifier == nil:
		return nil, fmt.Errorf("%w: webhook handler without a Verifier", ErrInvalidConfig)
	case cfg.Parse == nil:
		return nil, fmt.Errorf("%w: webhook handler without Parse", ErrInvalidConfig)
	case cfg.Log == nil && cfg.Feed == nil:
		return nil, fmt.Errorf("%w: webhook handler without a Log or a Feed", ErrInvalidConfig)
	}
	if cfg.Log == nil {
		cfg.Log = NewMemoryEventLog(cfg.Feed)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &webhookHandler[T]{cfg: cfg}, nil
}

type webhookHandler[T any] struct{ cfg WebhookConfig[T] }

func (h *webhookHandler[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeWebhookError(w, http.StatusMethodNotAllowed, "webhooks are POST requests")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		writeWebhookError(w, http.StatusBadRequest, fmt.Sprintf("cannot read the body (at most %d bytes)", h.cfg.MaxBodyBytes))
		return
	}
	ctx := r.Context()
	if err := h.cfg.Verifier.Verify(r, body); err != nil {
		h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "webhook refused", slog.String("reason", err.Error()))
		detail := "invalid signature"
		if errors.Is(err, ErrBadSignature) {
			detail = err.Error()
		}
		writeWebhookError(w, http.StatusUnauthorized, detail)
		return
	}
	ev, err := h.cfg.Parse(body)
	if err != nil || ev.ID == "" || ev.ObjectID == "" {
		if err == nil {
			err = errors.New("the event has no id or no object id")
		}
		writeWebhookError(w, http.StatusBadRequest, "cannot read the event: "+err.Error())
		return
	}
	tenant := h.cfg.DefaultTenant
	switch {
	case ev.Tenant != "":
		tenant = ev.Tenant
	case h.cfg.Tenant != nil:
		if tenant, err = h.cfg.Tenant(r); err != nil {
			writeWebhookError(w, http.StatusNotFound, "unknown tenant: "+err.Error())
			return
		}
	}
	outcome, err := h.cfg.Log.Deliver(ctx, tenant, ev, func(ctx context.Context) (T, error) {
		if ev.Object != nil {
			return *ev.Object, nil
		}
		var zero T
		if h.cfg.Refetch == nil {
			return zero, errors.New("the event carries no object and WebhookConfig.Refetch is not set")
		}
		o, err := h.cfg.Refetch(ctx, tenant, ev.ObjectID)
		if err != nil {
			return zero, fmt.Errorf("re-fetching %s: %w", ev.ObjectID, err)
		}
		return o, nil
	})
	if err != nil {
		h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook event not applied: the PSP will retry it",
			slog.String("tenant", tenant), slog.String("event", ev.ID), slog.String("object", ev.ObjectID), slog.String("error", err.Error()))
		w.Header().Set("Retry-After", "5")
		writeWebhookError(w, http.StatusServiceUnavailable, "the event could not be applied; retry later")
		return
	}
	h.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "webhook event", slog.String("tenant", tenant),
		slog.String("event", ev.ID), slog.String("object", ev.ObjectID), slog.String("delivery", outcome.String()))
	writeWebhookJSON(w, http.StatusOK, struct {
		Received bool   `json:"received"`
		Delivery string `json:"delivery"`
	}{true, outcome.String()})
}

func writeWebhookError(w http.ResponseWriter, status int, detail string) {
	writeWebhookJSON(w, status, struct{ Title, Detail string }{http.StatusText(status), detail})
}

func writeWebhookJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // plain structs of strings always encode
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
