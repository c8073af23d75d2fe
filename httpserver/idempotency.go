package httpserver

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/internal/hashindex"
	"github.com/pspconnect/pspconnect/models"
)

// DefaultIdempotencyWait is how long a repeated write request waits for the first one to finish
// before it is answered 423 "in flight", unless WithIdempotencyWait says otherwise. It ends well
// before Formance's 10 s client timeout, so that Formance reads the 423 (and retries) rather than
// timing out.
const DefaultIdempotencyWait = 8 * time.Second

// IdempotencyKeyHeader is the request header that names the idempotency key of POST /bank-accounts,
// whose body has no idempotencyKey field. Payouts and transfers use their body's idempotencyKey and
// ignore the header.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader is set to "true" on an answer that was not produced by a provider call of this
// request but replayed: stored by an earlier request with the same idempotency key, or shared by a
// concurrent duplicate.
const ReplayedHeader = "Idempotent-Replayed"

const (
	// inFlightRetryAfter is the Retry-After of a 423 "in flight" answer.
	inFlightRetryAfter = 5 * time.Second
	// storeFullRetryAfter is the Retry-After of a 503 "idempotency store full" answer.
	storeFullRetryAfter = time.Minute
	// storeCallTimeout bounds every call to the idempotency store. Store calls do not stop when the
	// client goes away: a Begin whose result was lost would leave a record nobody owns.
	storeCallTimeout = 10 * time.Second
	// pollFirst and pollMax bound the backoff between two looks at a record that another instance
	// has in flight.
	pollFirst = 10 * time.Millisecond
	pollMax   = 250 * time.Millisecond
	// purgeInterval is how often the handler asks the store to delete expired records.
	purgeInterval = time.Hour
)

// WithIdempotencyStore sets the store that makes POST /payouts, POST /transfers and
// POST /bank-accounts idempotent (default: an idempotency.MemoryStore per handler). Share one store
// between every instance of the middleware, e.g. pgstore on the same PostgreSQL database, when several
// instances serve one Formance stack: otherwise a retry that reaches another instance calls the
// provider again.
func WithIdempotencyStore(s idempotency.Store) Option {
	return func(c *config) {
		if s == nil {
			c.reject("nil idempotency store")
			return
		}
		c.idemStore = s
	}
}

// WithIdempotencyInFlightTTL sets how long a write whose outcome is unknown blocks its idempotency
// key (default idempotency.DefaultInFlightTTL, 24 hours): a request whose process died during the
// provider call, or whose provider call panicked or failed with an error that does not say whether
// the PSP acted (see the Handler's doc). Until then every repeat is answered 423 Locked with
// Retry-After, which Formance retries, and a Detail saying the outcome is unknown, because the first
// call may have reached the PSP; after it, the next repeat calls the provider again. It also bounds
// the provider call: its context ends when the TTL does. Keep it well above your slowest PSP call,
// and pass the idempotency key on to the PSP when its API takes one, so that a call after expiry
// cannot move money twice.
func WithIdempotencyInFlightTTL(d time.Duration) Option {
	return durationOption("in-flight TTL", d, func(c *config) { c.inFlightTTL = d })
}

// WithIdempotencyRetention sets how long the answer of a write request is replayed to repeats with
// the same idempotency key (default idempotency.DefaultRetention, 7 days). Formance retries within
// minutes to hours; after the retention a repeat is a new request.
func WithIdempotencyRetention(d time.Duration) Option {
	return durationOption("idempotency retention", d, func(c *config) { c.retention = d })
}

// WithIdempotencyWait sets how long a write request whose idempotency key is in flight (a concurrent
// duplicate, here or on another instance) waits for the first request's answer before it gets 423
// Locked with Retry-After (default DefaultIdempotencyWait). It also ends when the client goes away.
// Keep it below Formance's 10 s client timeout.
func WithIdempotencyWait(d time.Duration) Option {
	return durationOption("idempotency wait", d, func(c *config) { c.idemWait = d })
}

// guard runs each write at most once per idempotency key. Duplicates on this handler wait on the
// first one's flight and take its answer; duplicates on other instances are seen through the store,
// which they poll until the record is completed.
type guard struct {
	store idempotency.Store
	// local: the store is this process's idempotency.MemoryStore, whose calls never block, so they
	// need no timeout (and no timer).
	local       bool
	inFlightTTL time.Duration
	retention   time.Duration
	wait        time.Duration
	logger      *slog.Logger

	mu sync.Mutex
	// flights holds the writes being decided here, placed by a 64-bit hash of their key.
	flights   *hashindex.Map[idempotency.Key, *flight]
	nextPurge time.Time

	// completeRetryFirst and completeRetryMax bound the backoff of complete's background retries.
	completeRetryFirst, completeRetryMax time.Duration
}

// flight is one write being decided on this handler. answer is set, or left nil when there is
// nothing to share, when the flight ends, which also takes it out of guard.flights. done is made
// for the first request that waits (most writes have none), always on a flight still in
// guard.flights: every field is read and written under guard.mu, except answer, which waiters read
// after done is closed.
type flight struct {
	slot        hashindex.Slot[idempotency.Key] // in guard.flights
	fingerprint []byte
	done        chan struct{}
	answer      *answer
}

// doneLocked returns the channel closed when f, a flight in guard.flights, ends. guard.mu is held.
func (f *flight) doneLocked() <-chan struct{} {
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

// answer is a complete HTTP answer, kept to be written later or to several clients.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	replayed bool
}

// write writes a to w. The header values are shared with a (and with every other answer replayed
// from the same map), capped so that an append to one makes a copy; nothing writes into them.
func (a *answer) write(w http.ResponseWriter, replayed bool) {
	header := w.Header()
	for k, v := range a.header {
		header[k] = v[:len(v):len(v)]
	}
	if replayed || a.replayed {
		header[ReplayedHeader] = headerTrue
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// storedAnswer is an answer read from the store. Its header is one of two shared maps, never
// changed: answer.write copies what it reads from them.
func storedAnswer(a idempotency.Answer) *answer {
	header := storedHeader
	if a.Status == http.StatusLocked { // an outcome-unknown answer: the retry comes later
		header = storedLockedHeader
	}
	return &answer{status: a.Status, header: header, body: a.Body, replayed: true}
}

var (
	headerTrue = []string{"true"}
	// storedHeader is setJSONHeaders's header: that of a recorded JSON answer (see
	// recorder.writeJSONBody) and of its replays.
	storedHeader       = http.Header{"Content-Type": headerJSON, "X-Content-Type-Options": headerNoSniff}
	storedLockedHeader = http.Header{"Content-Type": headerJSON, "X-Content-Type-Options": headerNoSniff,
		"Retry-After": {retryAfterSeconds(inFlightRetryAfter)}}
)

// errorAnswer is an error answer in the contract's shape.
func errorAnswer(status int, detail string, retryAfter time.Duration) *answer {
	rec := newRecorder()
	if retryAfter > 0 {
		rec.Header().Set("Retry-After", retryAfterSeconds(retryAfter))
	}
	WriteError(rec, status, "", detail)
	return rec.answer()
}

// recorder is the http.ResponseWriter given to a provider call, so that its answer can be stored
// before it is sent. Its header map is made when first asked for: most answers are written by
// writeJSONBody, which shares one map instead.
type recorder struct {
	ans  answer // what answer returns: status and header as written, body set then
	body bytes.Buffer
	// shared: ans.header is storedHeader, which Header copies before anything may change it.
	shared bool
}

func newRecorder() *recorder { return &recorder{} }

func (r *recorder) Header() http.Header {
	if r.ans.header == nil || r.shared {
		h := make(http.Header, len(r.ans.header))
		for k, v := range r.ans.header {
			h[k] = slices.Clone(v)
		}
		r.ans.header, r.shared = h, false
	}
	return r.ans.header
}

// writeJSONBody records the complete JSON answer b with status, as writeBody does, when nothing was
// written to r before: its header is storedHeader, shared (the Content-Length follows from the body
// when the answer is written). It reports false, recording nothing, otherwise.
func (r *recorder) writeJSONBody(status int, b []byte) bool {
	if r.ans.header != nil || r.ans.status != 0 || r.body.Cap() != 0 {
		return false
	}
	r.ans.header, r.shared = storedHeader, true
	r.ans.status = status
	_, _ = r.Write(b)
	return true
}

func (r *recorder) WriteHeader(status int) {
	if r.ans.status == 0 {
		r.ans.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.ans.status == 0 {
		r.ans.status = http.StatusOK
	}
	if r.body.Len() == 0 && r.body.Cap() == 0 {
		r.body.Grow(len(b)) // most answers are written in one Write: one allocation of their size
	}
	return r.body.Write(b)
}

// answer returns what was written; the recorder is not written to afterwards.
func (r *recorder) answer() *answer {
	if r.ans.status == 0 {
		r.ans.status = http.StatusOK
	}
	r.ans.body = r.body.Bytes()
	return &r.ans
}

// writeOutcome says what a provider call of a write means for its idempotency key.
type writeOutcome int

const (
	// outcomeFinal: the outcome is known and final (the provider created the object, or refused the
	// request for good). The answer is stored and replayed to every repeat; the provider is not
	// called again for the key.
	outcomeFinal writeOutcome = iota
	// outcomeRetry: the provider says nothing happened at the PSP (connector.ErrUnavailable,
	// connector.ErrRateLimited). The key is released, so that Formance's retry calls it again.
	outcomeRetry
	// outcomeUnknown: the PSP may or may not have acted (an unexpected error, a panic). The key stays
	// blocked until its in-flight TTL, repeats get 423, and the provider is not called again before.
	outcomeUnknown
)

// callResult is what a write's provider call reports to the guard, besides the answer it wrote.
type callResult struct {
	outcome writeOutcome
	// createdID is the id of the payout or transfer the call created, for the link that fills
	// relatedTransactionID on its transaction row.
	createdID string
}

// writeCaller makes the provider call of a write: it writes its answer to w and says what it means.
type writeCaller interface {
	call(ctx context.Context, w http.ResponseWriter) callResult
}

// writeCall is a writeCaller in a function.
type writeCall func(ctx context.Context, w http.ResponseWriter) callResult

func (c writeCall) call(ctx context.Context, w http.ResponseWriter) callResult { return c(ctx, w) }

func newGuard(cfg config) *guard {
	_, local := cfg.idemStore.(*idempotency.MemoryStore)
	g := &guard{
		store:       cfg.idemStore,
		local:       local,
		inFlightTTL: cfg.inFlightTTL,
		retention:   cfg.retention,
		wait:        cfg.idemWait,
		logger:      cfg.logger,
		nextPurge:   time.Now().Add(purgeInterval),

		completeRetryFirst: cmp.Or(cfg.completeRetryFirst, time.Second),
		completeRetryMax:   30 * time.Second,
	}
	seed := maphash.MakeSeed()
	g.flights = hashindex.New[idempotency.Key, *flight](func(k idempotency.Key) uint64 {
		return hashindex.Strings(seed, k.Tenant, k.Route, k.IdempotencyKey)
	})
	return g
}

// write describes one write request to the guard.
type write struct {
	// detached is the request's context without its cancellation (context.WithoutCancel), set by
	// serve: the context of the store calls and the provider call, which go on when the client
	// goes away.
	detached    context.Context
	key         idempotency.Key
	fingerprint []byte
	object      string // "payout", for Details
	keySource   string // where the key came from, for Details: "idempotencyKey", …
}

// serve answers a write request: it runs call at most once per key across everyone sharing the
// store, and otherwise answers with the stored answer, 409 for a different body under the same key,
// or 423 "in flight". call gets a context that does not end when the client goes away: once started,
// a provider call runs to its end so that its answer is stored for the client's retry.
func (g *guard) serve(w http.ResponseWriter, r *http.Request, wr write, call writeCaller) {
	wr.detached = context.WithoutCancel(r.Context())
	wait := &waiter{r: r, wait: g.wait}
	defer wait.stop()
	for {
		g.mu.Lock()
		f, at, busy := g.flights.Find(wr.key)
		var done <-chan struct{}
		if busy {
			done = f.doneLocked()
		} else {
			f = &flight{fingerprint: wr.fingerprint}
			f.slot = g.flights.Set(at, f)
		}
		g.mu.Unlock()
		if !busy {
			g.lead(wait, r, wr, f, call).write(w, false)
			return
		}
		if !bytes.Equal(f.fingerprint, wr.fingerprint) {
			// Another body under a key in flight here: the store refuses it at once, no need to wait.
			g.lead(wait, r, wr, nil, call).write(w, false)
			return
		}
		select {
		case <-done:
			if f.answer != nil {
				observe(r).idempotency(outcomeReplayed)
				f.answer.write(w, true)
				return
			}
			// The first request left nothing to share (its wait for another instance timed out, or
			// the provider asked for a retry): decide again, through the store.
		case <-wait.done():
			g.inFlight(r, wr, idempotency.Outcome{}).write(w, false)
			return
		}
	}
}

// waiter is the bound of a write's waits (for a duplicate in flight here or on another instance):
// the request's context with a deadline wait after the first wait begins, made then, since most
// writes never wait (no timer for them).
type waiter struct {
	r      *http.Request
	wait   time.Duration
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *waiter) done() <-chan struct{} {
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithTimeout(w.r.Context(), w.wait)
	}
	return w.ctx.Done()
}

func (w *waiter) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}

// lead decides the write for this handler: it asks the store, polls while another instance has the
// key in flight, and calls the provider when the key is acquired. Local duplicates wait on f, which
// is nil when this request is not the one they wait for.
func (g *guard) lead(wait *waiter, r *http.Request, wr write, f *flight, call writeCaller) *answer {
	var shared *answer
	defer func() {
		if f == nil {
			return
		}
		g.mu.Lock()
		g.flights.Delete(f.slot)
		f.answer = shared
		if f.done != nil {
			close(f.done)
		}
		g.mu.Unlock()
	}()
	pause := pollFirst
	for {
		now := time.Now()
		leaseEnd := now.Add(g.inFlightTTL)
		out, err := g.begin(r, wr, now)
		if err != nil {
			if full := asStoreFull(err); full != nil {
				shared = g.storeFull(r, full)
				return shared
			}
			observe(r).idempotency(outcomeStoreError)
			g.logger.LogAttrs(r.Context(), slog.LevelError, "idempotency store failed",
				slog.String("route", routeName(r)), slog.String("error", err.Error()))
			shared = errorAnswer(http.StatusServiceUnavailable,
				routeName(r)+": cannot check the idempotency key: the idempotency store is unavailable; nothing was sent to the PSP, retry later",
				0)
			return shared
		}
		switch out.Kind {
		case idempotency.Acquired:
			observe(r).idempotency(outcomeNew)
			var own *answer
			own, shared = g.run(r, wr, out, leaseEnd, call)
			return own
		case idempotency.Completed:
			observe(r).idempotency(outcomeReplayed)
			shared = storedAnswer(out.Answer)
			return shared
		case idempotency.Mismatch:
			observe(r).idempotency(outcomeRefused)
			shared = errorAnswer(http.StatusConflict, fmt.Sprintf(
				"%s %q was already used with a different %s request (first used at %s): a retry must send the same request; use a new %s for a new %s",
				wr.keySource, wr.key.IdempotencyKey, wr.object, out.CreatedAt.UTC().Format(time.RFC3339), wr.keySource, wr.object), 0)
			return shared
		case idempotency.InFlight:
			// Another instance (or a dead process) holds the key: look again until it is done.
			jittered := pause/2 + rand.N(pause/2+1)
			select {
			case <-wait.done():
				return g.inFlight(r, wr, out) // not shared: each waiter has its own wait
			case <-time.After(jittered):
			}
			pause = min(2*pause, pollMax)
		default:
			observe(r).idempotency(outcomeStoreError)
			g.logger.LogAttrs(r.Context(), slog.LevelError, "idempotency store failed",
				slog.String("route", routeName(r)), slog.String("error", "Begin returned outcome "+out.Kind.String()))
			shared = errorAnswer(http.StatusServiceUnavailable, routeName(r)+": internal error: the idempotency store gave an unknown answer; nothing was sent to the PSP, retry later", 0)
			return shared
		}
	}
}

// asStoreFull returns err's *idempotency.StoreFullError, or nil (a function of its own so that a
// write without an error does not allocate errors.As's target).
func asStoreFull(err error) *idempotency.StoreFullError {
	var full *idempotency.StoreFullError
	if errors.As(err, &full) {
		return full
	}
	return nil
}

// storeFull is the answer to a new key that the store refused because its tenant holds as much as
// it may: 503 with Retry-After, which Formance retries, since nothing was sent to the PSP.
func (g *guard) storeFull(r *http.Request, full *idempotency.StoreFullError) *answer {
	g.logger.LogAttrs(r.Context(), slog.LevelWarn, "idempotency store full: new write refused",
		slog.String("route", routeName(r)), slog.String("tenant", full.Tenant),
		slog.String("limit", full.Limit), slog.Int64("max", full.Max))
	return errorAnswer(http.StatusServiceUnavailable, fmt.Sprintf(
		"%s: the idempotency store holds the most %s this tenant may have (%d), and forgets none before it expires, so that no repeat is paid twice: nothing was sent to the PSP; retry later",
		routeName(r), full.Limit, full.Max), storeFullRetryAfter)
}

// storeContext is the context of a store call from detached, the request's context without its
// cancellation (context.WithoutCancel): its values, bounded by storeCallTimeout for a store outside
// the process.
func (g *guard) storeContext(detached context.Context) (context.Context, context.CancelFunc) {
	if g.local {
		return detached, func() {}
	}
	return context.WithTimeout(detached, storeCallTimeout)
}

func (g *guard) begin(r *http.Request, wr write, now time.Time) (idempotency.Outcome, error) {
	ctx, cancel := g.storeContext(wr.detached)
	defer cancel()
	g.maybePurge(r, now)
	return g.store.Begin(ctx, wr.key, wr.fingerprint, g.inFlightTTL)
}

// run makes the provider call of an acquired key and records what it means: it stores a final
// answer (Complete), frees the key when the provider asked for a retry (Abandon), and, when the
// outcome is unknown (an unexpected error, or a panic, which goes on up to the recovery middleware),
// stores a 423 "outcome unknown" answer for the rest of the in-flight TTL, so that repeats are told
// at once and the provider is not called again before the TTL ends. It returns the answer for this
// request and the one for its local duplicates.
func (g *guard) run(r *http.Request, wr write, acquired idempotency.Outcome, leaseEnd time.Time, call writeCaller) (own, shared *answer) {
	var unknown *answer
	finished := false
	defer func() {
		if !finished { // the call panicked after the provider was entered: the outcome is unknown
			observe(r).unknownOutcome()
			g.logger.LogAttrs(r.Context(), slog.LevelError, "write panicked: its outcome is unknown, the key stays blocked",
				slog.String("route", routeName(r)), slog.String("idempotency_key", wr.key.IdempotencyKey))
			g.complete(r, wr, acquired.Token, g.unknownAnswer(wr, acquired, leaseEnd), "", time.Until(leaseEnd), leaseEnd)
		}
	}()
	ctx := newLeaseContext(wr.detached, leaseEnd)
	defer ctx.stop()
	rec := newRecorder()
	res := call.call(ctx, rec)
	finished = true

	ans := rec.answer()
	switch res.outcome {
	case outcomeRetry:
		g.abandon(r, wr, acquired.Token)
		return ans, ans // concurrent duplicates are told to retry too
	case outcomeUnknown:
		observe(r).unknownOutcome()
		g.logger.LogAttrs(r.Context(), slog.LevelError, "write failed with an unknown outcome: the key stays blocked",
			slog.String("route", routeName(r)), slog.String("idempotency_key", wr.key.IdempotencyKey),
			slog.Int("status", ans.status), slog.Time("blocked_until", leaseEnd))
		unknown = g.unknownAnswer(wr, acquired, leaseEnd)
		g.complete(r, wr, acquired.Token, unknown, "", time.Until(leaseEnd), leaseEnd)
		return ans, unknown
	}
	g.complete(r, wr, acquired.Token, ans, res.createdID, g.retention, leaseEnd)
	return ans, ans
}

// complete stores ans for the key for ttl from now. When the store fails (the database is down), the
// record stays in flight and repeats get 423 rather than a second provider call; complete then
// keeps trying in the background, with a backoff of completeRetryFirst doubling to
// completeRetryMax, until the store takes the answer or the record's in-flight lease ends at
// leaseEnd, so that the key is not blocked for the whole in-flight TTL once the database is back.
func (g *guard) complete(r *http.Request, wr write, token string, ans *answer, createdID string, ttl time.Duration, leaseEnd time.Time) {
	stored := idempotency.Answer{Status: ans.status, Body: ans.body, CreatedID: createdID}
	err := g.tryComplete(wr, token, stored, ttl)
	if err == nil {
		return
	}
	expires := time.Now().Add(ttl) // about: the first try took a store call's time
	g.logger.LogAttrs(r.Context(), slog.LevelError, "cannot store the answer of a write: retrying in the background",
		slog.String("route", routeName(r)), slog.String("idempotency_key", wr.key.IdempotencyKey),
		slog.Int("status", ans.status), slog.String("error", err.Error()))
	if errors.Is(err, idempotency.ErrLeaseLost) {
		return
	}
	go func() {
		for wait := g.completeRetryFirst; time.Now().Add(wait).Before(leaseEnd); wait = min(2*wait, g.completeRetryMax) {
			time.Sleep(wait)
			err := g.tryComplete(wr, token, stored, time.Until(expires))
			if err == nil {
				g.logger.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelInfo, "stored the answer of a write after a store failure",
					slog.String("route", routeName(r)), slog.String("idempotency_key", wr.key.IdempotencyKey))
				return
			}
			if errors.Is(err, idempotency.ErrLeaseLost) {
				return
			}
		}
	}()
}

// tryComplete makes one Complete call for complete.
func (g *guard) tryComplete(wr write, token string, stored idempotency.Answer, ttl time.Duration) error {
	ctx, cancel := g.storeContext(wr.detached)
	defer cancel()
	return g.store.Complete(ctx, wr.key, token, stored, max(ttl, time.Second))
}

func (g *guard) abandon(r *http.Request, wr write, token string) {
	ctx, cancel := g.storeContext(wr.detached)
	defer cancel()
	if err := g.store.Abandon(ctx, wr.key, token); err != nil {
		g.logger.LogAttrs(r.Context(), slog.LevelError, "cannot free the idempotency key of a failed write",
			slog.String("route", routeName(r)), slog.String("idempotency_key", wr.key.IdempotencyKey),
			slog.String("error", err.Error()))
	}
}

// unknownAnswer is the 423 answer stored for a write whose outcome is unknown.
func (g *guard) unknownAnswer(wr write, acquired idempotency.Outcome, leaseEnd time.Time) *answer {
	return errorAnswer(http.StatusLocked, fmt.Sprintf(
		"the outcome of the %s request with %s %q (started at %s) is unknown: the provider failed in a way that does not say whether the PSP acted (see the middleware's logs). So that the PSP is not called twice, the key stays blocked until %s; check the PSP, and retry after that",
		wr.object, wr.keySource, wr.key.IdempotencyKey, acquired.CreatedAt.UTC().Format(time.RFC3339), leaseEnd.UTC().Format(time.RFC3339)),
		inFlightRetryAfter)
}

// inFlight is the 423 answer for a key another request holds (Formance retries a 423; a 409 would
// make it mark the payment initiation FAILED while the first request may still move money). out,
// when known, gives the record's times.
func (g *guard) inFlight(r *http.Request, wr write, out idempotency.Outcome) *answer {
	observe(r).idempotency(outcomeInFlight)
	g.logger.LogAttrs(r.Context(), slog.LevelWarn, "write still in flight",
		slog.String("route", routeName(r)), slog.String("idempotency_key", wr.key.IdempotencyKey))
	detail := fmt.Sprintf("a %s request with %s %q is still in flight: retry later", wr.object, wr.keySource, wr.key.IdempotencyKey)
	if !out.ExpiresAt.IsZero() {
		detail = fmt.Sprintf(
			"a %s request with %s %q is still in flight (started at %s): retry later. If the process handling it stopped before answering, the key stays blocked until %s, so that the PSP is not called twice",
			wr.object, wr.keySource, wr.key.IdempotencyKey, out.CreatedAt.UTC().Format(time.RFC3339), out.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return errorAnswer(http.StatusLocked, detail, inFlightRetryAfter)
}

// maybePurge asks the store, at most once per purgeInterval, to delete its expired records.
func (g *guard) maybePurge(r *http.Request, now time.Time) {
	g.mu.Lock()
	due := !now.Before(g.nextPurge)
	if due {
		g.nextPurge = now.Add(purgeInterval)
	}
	g.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
		defer cancel()
		n, err := g.store.Purge(ctx)
		if err != nil {
			g.logger.LogAttrs(ctx, slog.LevelWarn, "cannot purge expired idempotency records", slog.String("error", err.Error()))
			return
		}
		g.logger.LogAttrs(ctx, slog.LevelDebug, "purged expired idempotency records", slog.Int("count", n))
	}()
}

// fingerprint is idempotency.Fingerprint, computed without reflection for payout and transfer
// requests (the same bytes: models.AppendRequestJSON writes what json.Marshal does) into sum.
func fingerprint(req any, sum *[sha256.Size]byte) ([]byte, error) {
	buf := fingerprintBuffers.Get().(*[]byte)
	defer fingerprintBuffers.Put(buf)
	b, ok := models.AppendRequestJSON((*buf)[:0], req)
	*buf = b
	if !ok {
		return idempotency.Fingerprint(req)
	}
	*sum = sha256.Sum256(b)
	return sum[:], nil
}

// fingerprintBuffers recycles the buffers of fingerprint.
var fingerprintBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// idempotent serves a decoded write request (req points at it) through the guard. key is the
// client's idempotency key and keySource names where it came from ("idempotencyKey"), or key is ""
// to derive one from the request's fingerprint (bank accounts without an Idempotency-Key header);
// the fingerprint is computed into sum.
func idempotent(h *Handler, w http.ResponseWriter, r *http.Request, route, object, key, keySource string, req any, sum *[sha256.Size]byte, call writeCaller) {
	fp, err := fingerprint(req, sum)
	if err != nil { // a decoded request always encodes; keep the handler total anyway
		h.logger.LogAttrs(r.Context(), slog.LevelError, "cannot fingerprint a write request",
			slog.String("route", routeName(r)), slog.String("error", err.Error()))
		WriteError(w, http.StatusInternalServerError, "", routeName(r)+": internal error")
		return
	}
	if key == "" {
		key, keySource = "sha256:"+hex.EncodeToString(fp), "body fingerprint"
	}
	tenant, _ := connector.TenantFrom(r.Context())
	h.guard.serve(w, r, write{
		key:         idempotency.Key{Tenant: tenant, Route: route, IdempotencyKey: key},
		fingerprint: fp,
		object:      object,
		keySource:   keySource,
	}, call)
}
