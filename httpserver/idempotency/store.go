// Package idempotency makes the write routes of a Generic Connector middleware (POST /payouts,
// POST /transfers, POST /bank-accounts) safe to retry: Formance retries a failed payout with the same
// idempotencyKey, and the second attempt must return the first answer instead of moving money again.
//
// The package defines the Store that remembers, per tenant, route and idempotency key, whether a
// request is being processed ("in flight") or which answer it got ("completed"), and an in-memory
// implementation, MemoryStore, which package httpserver uses by default. A middleware that runs as
// several instances behind a load balancer shares one store between them: package
// httpserver/idempotency/pgstore keeps the records in PostgreSQL. Package
// httpserver/idempotency/storetest checks any Store implementation against the rules below.
//
// The protocol, driven by package httpserver for each write request:
//
//  1. Begin(key, fingerprint, inFlightTTL). The first request for a key gets Acquired and a token:
//     the caller now owns the key and calls the provider. A later request gets Completed with the
//     stored answer when its fingerprint (the hash of its canonical body) is the same, Mismatch when
//     it differs, or InFlight while the owner has not finished.
//  2. The owner ends with Complete(key, token, answer, retention), which stores the exact status and
//     body answered, or with Abandon(key, token), which deletes the record so that the next attempt
//     calls the provider again. httpserver abandons answers that say "retry" (429, 503 and other 5xx)
//     and completes every other one.
//  3. A record whose owner died before Complete or Abandon (a crash, a deploy) stays InFlight until
//     its in-flight TTL ends: the request may or may not have reached the PSP, so it is not re-sent
//     blindly. After the TTL the record is treated as absent and the next Begin acquires it again.
//     Completed records are replayed until their retention ends. Purge deletes expired records.
//  4. An answer that created a payout or transfer names it (Answer.CreatedID). The store keeps a
//     link from that id to the write's route and idempotency key, for its link retention (a year
//     and more, well past the answer's), and Linked returns it: httpserver uses it to fill
//     relatedTransactionID on the PSP's transaction row of that payout, which is how Formance joins
//     the row to the payment initiation it created.
//
// This package does not call providers or speak HTTP; see httpserver for how answers are recorded
// and replayed, and WithIdempotencyStore there to choose the store.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Defaults used by package httpserver unless configured otherwise.
const (
	// DefaultInFlightTTL is how long a request that was started but never finished (its process
	// died while the provider call was in flight) keeps its key blocked. During that time repeats get
	// a 409 "in flight" answer rather than a second provider call, because the first call may have
	// reached the PSP. It is long so that an operator can look at the PSP before anything is re-sent;
	// a provider that passes the idempotency key on to its PSP can afford a shorter one.
	DefaultInFlightTTL = 24 * time.Hour
	// DefaultRetention is how long a completed answer is replayed to repeats of its request.
	DefaultRetention = 7 * 24 * time.Hour
)

// ErrLeaseLost is returned (wrapped) by Complete and Abandon when the caller no longer owns the key:
// its in-flight record expired and was purged or acquired by another request, or the token is wrong.
// Nothing was changed.
var ErrLeaseLost = errors.New("idempotency: the record is no longer owned by this token")

// ErrStoreFull is wrapped by the error Begin returns when a store refuses a new key because it
// holds as much as it may for the key's tenant (see *StoreFullError and MemoryStore's bounds).
// Nothing was recorded: the caller must not call the provider, and the client must retry later.
// Keys already recorded are not affected: their repeats are still answered.
var ErrStoreFull = errors.New("idempotency: store full")

// StoreFullError is the error behind ErrStoreFull: which tenant reached which bound.
type StoreFullError struct {
	// Tenant is the tenant whose records reached the bound.
	Tenant string
	// Limit names the bound: "records" (the number of records) or "bytes" (their size).
	Limit string
	// Max is the bound's value, in records or bytes.
	Max int64
}

// Error says which bound the tenant reached, e.g. `idempotency: store full: tenant "acme" holds
// the most records it may (100000): a new key is refused until older ones expire`.
func (e *StoreFullError) Error() string {
	return fmt.Sprintf("%v: tenant %q holds the most %s it may (%d): a new key is refused until older ones expire",
		ErrStoreFull, e.Tenant, e.Limit, e.Max)
}

// Unwrap makes errors.Is(err, ErrStoreFull) true.
func (e *StoreFullError) Unwrap() error { return ErrStoreFull }

// Key identifies one idempotent operation. Records of different tenants or routes never mix: the
// same idempotency key sent by two tenants, or to /payouts and /transfers, is two operations.
type Key struct {
	// Tenant is the authenticated tenant (see connector.TenantFrom).
	Tenant string
	// Route names the write route, e.g. "POST /payouts".
	Route string
	// IdempotencyKey is the client's key: the request's idempotencyKey field for payouts and
	// transfers.
	IdempotencyKey string
}

// String returns the key for logs and error messages: tenant, route and idempotency key.
func (k Key) String() string {
	return fmt.Sprintf("%s %s %q", k.Tenant, k.Route, k.IdempotencyKey)
}

// DefaultLinkRetention is how long a store keeps the link from a created payout or transfer to its
// write (see Linked) unless configured otherwise: 400 days, longer than card networks allow for a
// dispute, so that every later state of the payout's transaction row still joins its payment.
const DefaultLinkRetention = 400 * 24 * time.Hour

// Answer is a stored answer: the exact status code and body sent the first time. The body is JSON.
type Answer struct {
	Status int
	Body   []byte
	// CreatedID, when not empty, is the id of the payout or transfer this answer created (the PSP's
	// id, as in the answer's body). Complete then also records the link returned by Linked. It is
	// an input of Complete only: the answer Begin replays does not carry it.
	CreatedID string
}

// Link ties the id of a payout or transfer created through the middleware to the write that created
// it.
type Link struct {
	// Route is the write route, e.g. "POST /payouts".
	Route string
	// IdempotencyKey is the key of the write: Formance's reference of the payment initiation.
	IdempotencyKey string
}

// OutcomeKind says what Begin decided.
type OutcomeKind int

// The outcomes of Begin.
const (
	// Acquired: the caller owns the key (Outcome.Token) and must call the provider, then Complete or
	// Abandon.
	Acquired OutcomeKind = iota + 1
	// Completed: the request was answered before with the same fingerprint; replay Outcome.Answer.
	Completed
	// InFlight: another request with the same fingerprint owns the key and has not finished (or its
	// process died and the record has not expired yet). Wait and ask again, or answer "in flight".
	InFlight
	// Mismatch: the key was used with a different fingerprint (a different request body). Refuse.
	Mismatch
)

// String returns the outcome's name, e.g. "InFlight".
func (k OutcomeKind) String() string {
	switch k {
	case Acquired:
		return "Acquired"
	case Completed:
		return "Completed"
	case InFlight:
		return "InFlight"
	case Mismatch:
		return "Mismatch"
	}
	return fmt.Sprintf("OutcomeKind(%d)", int(k))
}

// Outcome is the result of Begin.
type Outcome struct {
	Kind OutcomeKind
	// Token proves ownership to Complete and Abandon; set only when Kind is Acquired.
	Token string
	// Answer is the stored answer; set only when Kind is Completed. Its Body may be the store's own
	// memory (MemoryStore's is): read it, do not modify it.
	Answer Answer
	// CreatedAt is when the existing record was started (for Completed, InFlight and Mismatch), or
	// when the caller's record was created (Acquired).
	CreatedAt time.Time
	// ExpiresAt is when the record stops counting: the end of its in-flight TTL while in flight,
	// the end of its retention once completed.
	ExpiresAt time.Time
}

// Store remembers idempotent operations. Implementations must be safe for concurrent use, by several
// goroutines and, for shared stores, by several processes: two concurrent Begin calls for one key
// must never both return Acquired (no check-then-insert race).
//
// An expired record (in flight past its TTL, or completed past its retention) must be treated as
// absent by Begin, whether or not Purge has removed it yet.
type Store interface {
	// Begin looks the key up and, when there is no live record, creates an in-flight one owned by
	// the caller that expires after inFlightTTL. fingerprint identifies the request body (see
	// Fingerprint); a live record with another fingerprint gives Mismatch, whatever its state. An
	// error means the store could not decide (the database is down): nothing must be sent upstream.
	Begin(ctx context.Context, key Key, fingerprint []byte, inFlightTTL time.Duration) (Outcome, error)
	// Complete stores the answer of the owner's request, to be replayed for retention. It returns an
	// error wrapping ErrLeaseLost when token does not own an in-flight record for key. The store may
	// keep answer.Body as it is (MemoryStore does): the caller must not modify it afterwards.
	Complete(ctx context.Context, key Key, token string, answer Answer, retention time.Duration) error
	// Abandon deletes the owner's in-flight record, so that the next request calls the provider
	// again. It is used for answers that say "retry later". It returns an error wrapping
	// ErrLeaseLost when token does not own an in-flight record for key.
	Abandon(ctx context.Context, key Key, token string) error
	// Purge deletes every expired record (and expired link) and returns how many records it deleted.
	Purge(ctx context.Context) (int, error)
	// Linked returns the links of those ids that a completed write of tenant created
	// (Answer.CreatedID), keyed by id; ids without a live link are absent. Links outlive their
	// records: they are kept for the store's link retention (DefaultLinkRetention unless configured)
	// from Complete. A later write that creates the same id replaces its link. An error means the
	// store could not answer.
	Linked(ctx context.Context, tenant string, ids []string) (map[string]Link, error)
}

// Fingerprint returns the SHA-256 of the canonical JSON encoding of request (a decoded
// models.PayoutRequest, say). Two bodies that differ only in key order, white space, escapes or
// fields the request type does not define have the same fingerprint; any difference in a value
// gives another one.
func Fingerprint(request any) ([]byte, error) {
	b, err := json.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("idempotency: fingerprint: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// NewToken returns a random owner token (32 hex digits) for a new in-flight record: what a store
// shared between processes gives out in Begin (pgstore does). A store in one process may number its
// records instead (MemoryStore does).
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
