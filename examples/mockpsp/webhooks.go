package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// This file is the PSP's side of webhooks (-webhook-url, -webhook-secret): like a Stripe-style PSP,
// the mock tells a middleware about every change of a transaction by POSTing a signed JSON event to
// the URL it was given. The receiving side is in receiver.go (-webhook-receiver).

// webhookSignatureHeader carries the signature of each webhook: "t=<unix seconds>,v1=<hex HMAC-SHA256
// of "<t>.<body>" keyed by the secret>", as ingest.SignTimestampHMAC writes it and
// ingest.TimestampHMAC verifies it.
const webhookSignatureHeader = "PSP-Signature"

// The two event types: a transaction the PSP created (Generate, POST /payouts, POST /transfers) and
// a transaction that changed (a lifecycle action).
const (
	eventTransactionCreated = "transaction.created"
	eventTransactionUpdated = "transaction.updated"
)

// webhookEvent is the JSON body of one webhook. Data is the transaction as the PSP holds it after the
// change, with the PSP's own times; for a payout or transfer created by Formance its
// relatedTransactionID is the idempotency key Formance sent, as a PSP's payout object carries the
// client's reference. Account names the tenant (the dataset of one API key, see TenantOf), like
// Stripe Connect's "account": one webhook URL receives every tenant's events, and the signature
// covers it.
type webhookEvent struct {
	ID       string             `json:"id"`
	Object   string             `json:"object"` // "event"
	Type     string             `json:"type"`
	Created  time.Time          `json:"created"`
	Account  string             `json:"account"`
	ObjectID string             `json:"object_id"`
	Data     models.Transaction `json:"data"`
}

// webhookOptions tune the delivery of webhooks. Zero fields take the defaults below.
type webhookOptions struct {
	// QueueSize bounds the events waiting to be sent (default defaultWebhookQueue).
	QueueSize int
	// MaxAttempts is how many times one event is sent before it is given up (default
	// defaultWebhookAttempts).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait between two attempts: it starts at BackoffMin and
	// doubles up to BackoffMax (defaults 500 ms and 30 s); a longer Retry-After from the receiver,
	// up to BackoffMax, is waited instead.
	BackoffMin, BackoffMax time.Duration
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
}

const (
	defaultWebhookQueue    = 10_000
	defaultWebhookAttempts = 8
)

func (o webhookOptions) withDefaults() webhookOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = defaultWebhookQueue
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultWebhookAttempts
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 500 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(30*time.Second, o.BackoffMin)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return o
}

// webhookSender delivers the PSP's events to one URL, asynchronously: the PSP's changes never wait
// for it. Events wait in a bounded queue and are sent one at a time, in the order the PSP made
// them; an event answered with anything but a 2xx (or not answered) is sent again after a backoff,
// up to MaxAttempts times, before the next one is sent, so the receiver gets each tenant's changes
// in order. When the queue is full (the receiver is down or slower than the PSP), new events are
// dropped and counted: a dropped or given-up event is never sent again, and a receiver learns of
// that change only by polling, as with any PSP whose webhooks it missed. Close drops what is still
// queued.
type webhookSender struct {
	url    string
	secret []byte
	opts   webhookOptions
	client *http.Client
	logger *slog.Logger

	queue  chan webhookEvent
	cancel context.CancelFunc
	done   chan struct{}

	delivered, failedAttempts, abandoned, dropped atomic.Int64
	lastDropLog                                   atomic.Int64 // Unix nanoseconds
	closeOnce                                     sync.Once
}

// webhookStats counts what happened to the events.
type webhookStats struct {
	// Queued events wait to be sent (the one being sent included).
	Queued int `json:"queued"`
	// Delivered events were answered with a 2xx.
	Delivered int64 `json:"delivered"`
	// FailedAttempts counts the attempts answered otherwise, or not answered.
	FailedAttempts int64 `json:"failedAttempts"`
	// Abandoned events failed MaxAttempts times.
	Abandoned int64 `json:"abandoned"`
	// Dropped events found the queue full, or were still queued at Close.
	Dropped int64 `json:"dropped"`
}

// newWebhookSender starts a sender of signed events to url; Close stops it.
func newWebhookSender(url string, secret []byte, opts webhookOptions, logger *slog.Logger) *webhookSender {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &webhookSender{
		url: url, secret: secret, opts: opts, logger: logger,
		client: &http.Client{Timeout: opts.Timeout},
		queue:  make(chan webhookEvent, opts.QueueSize),
		cancel: cancel, done: make(chan struct{}),
	}
	go s.run(ctx)
	return s
}

// send queues events for delivery without ever waiting: the events that do not fit are dropped.
func (s *webhookSender) send(events ...webhookEvent) {
	for i, ev := range events {
		select {
		case s.queue <- ev:
		default:
			n := s.dropped.Add(int64(len(events) - i))
			s.logDrop(n)
			return
		}
	}
}

// logDrop warns about dropped events at most once a second.
func (s *webhookSender) logDrop(total int64) {
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last < int64(time.Second) || !s.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	s.logger.Warn("webhook queue full: events dropped (the receiver is down or slow)",
		slog.String("url", s.url), slog.Int("queueSize", s.opts.QueueSize), slog.Int64("droppedSoFar", total))
}

// stats returns the counters.
func (s *webhookSender) stats() webhookStats {
	return webhookStats{
		Queued: len(s.queue), Delivered: s.delivered.Load(), FailedAttempts: s.failedAttempts.Load(),
		Abandoned: s.abandoned.Load(), Dropped: s.dropped.Load(),
	}
}

// close stops the sender: an attempt in flight is cancelled, and the events still queued are
// dropped (and logged).
func (s *webhookSender) close() {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
		if n := len(s.queue); n > 0 {
			s.dropped.Add(int64(n))
			s.logger.Warn("webhook sender stopped with events still queued: dropped", slog.Int("events", n))
		}
	})
}

func (s *webhookSender) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.queue:
			s.deliver(ctx, ev)
		}
	}
}

// deliver sends one event until it is accepted, MaxAttempts fail, or ctx ends.
func (s *webhookSender) deliver(ctx context.Context, ev webhookEvent) {
	body, err := json.Marshal(ev)
	if err != nil { // plain data: cannot happen
		s.logger.Error("webhook event not encodable", slog.String("event", ev.ID), slog.String("error", err.Error()))
		return
	}
	log := s.logger.With(slog.String("event", ev.ID), slog.String("type", ev.Type), slog.String("object", ev.ObjectID), slog.String("tenant", ev.Account))
	backoff := s.opts.BackoffMin
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := s.post(ctx, body)
		if ctx.Err() != nil {
			return
		}
		if err == nil && status >= 200 && status < 300 {
			s.delivered.Add(1)
			log.Debug("webhook delivered", slog.Int("attempt", attempt), slog.Int("status", status))
			return
		}
		s.failedAttempts.Add(1)
		reason := fmt.Sprintf("answered %d", status)
		if err != nil {
			reason = err.Error()
		}
		if attempt >= s.opts.MaxAttempts {
			s.abandoned.Add(1)
			log.Error("webhook given up", slog.Int("attempts", attempt), slog.String("reason", reason))
			return
		}
		wait := max(backoff, min(retryAfter, s.opts.BackoffMax))
		log.Warn("webhook failed, retrying", slog.Int("attempt", attempt), slog.String("reason", reason), slog.Duration("retryIn", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.BackoffMax)
	}
}

// post sends one attempt, signed now, and returns the status and the Retry-After of the answer.
func (s *webhookSender) post(ctx context.Context, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mockpsp-webhooks/1")
	req.Header.Set(webhookSignatureHeader, ingest.SignTimestampHMAC(s.secret, body, time.Now()))
	res, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, connector.RetryAfterFromResponse(res), nil
}

// transactionChange is one transaction the PSP created or changed in an update, in order.
type transactionChange struct {
	created bool
	tx      models.Transaction
}

// webhookEvents turns the changes of one update of tenant into events. st is the state after the
// update: it tells the payouts and transfers Formance created, whose events carry the idempotency
// key as relatedTransactionID.
func webhookEvents(tenant string, st *tenantState, changes []transactionChange) []webhookEvent {
	out := make([]webhookEvent, 0, len(changes))
	for _, c := range changes {
		tx := c.tx
		if o := st.orderOf(tx.Type, tx.ID); o.Origin == "formance" {
			tx.RelatedTransactionID = o.IdempotencyKey
		}
		typ := eventTransactionUpdated
		if c.created {
			typ = eventTransactionCreated
		}
		out = append(out, webhookEvent{ID: newEventID(), Object: "event", Type: typ, Created: tx.UpdatedAt,
			Account: tenant, ObjectID: tx.ID, Data: tx})
	}
	return out
}

// newEventID returns a random event id, unique across processes sharing a database.
func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "evt_" + hex.EncodeToString(b[:])
}
