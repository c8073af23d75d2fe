package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Upstream is a simulated PSP with a Stripe-like API, the kind of upstream this example's provider
// adapts: every secret key is its own account with its own data, objects carry "created" (and
// transactions "updated") as Unix seconds, lists are paged by cursor, never by page number, and every
// change of a transaction is also an event:
//
//	GET /v1/accounts?limit=100&created[gte]=1700000000&starting_after=acct_000042
//	GET /v1/beneficiaries?limit=100&created[gte]=…&starting_after=…
//	GET /v1/accounts/{id}/balance
//	GET /v1/transactions?limit=100&updated[gte]=1700000000&page=<next_page of the previous call>
//	GET /v1/events?limit=100&ending_before=evt_0000042   (or starting_after=…)
//
// Accounts and beneficiaries are listed oldest first by created, objects of one second in the order
// they were created (a new object gets the current second, so it always comes last); starting_after
// is the id of the last object of the previous call. Transactions are listed by updated, objects of
// one second in the order of their last change: a change (a new status) sets updated to the current
// second and moves the transaction to the end of the listing. Because objects move, this listing
// cannot be paged by object id, and its cursor is an opaque position token (next_page), like
// Stripe's search API.
//
// Events are Stripe's: one per change of a transaction ("transaction.created",
// "transaction.updated"), each carrying the transaction as it was after that change (data.object),
// listed newest first. starting_after=E pages towards older events (the limit events just before
// E); ending_before=E towards newer ones (the limit events just after E, still listed newest
// first); has_more says whether more events lie beyond the page in that direction. This simulation
// keeps every event (Stripe keeps 30 days).
//
// limit is 1 to 100 (default 10). Answers are {"object":"list","data":[…],"has_more":…} (plus
// "next_page" for transactions). Each secret key may make Rate calls a second, in bursts of Burst;
// beyond that the answer is 429 with Retry-After. FailNext makes the next calls fail with 503, as
// an upstream in trouble does. Errors are {"error":{"type":…,"message":…}}.
//
// Upstream is safe for concurrent use. It is a test double for the example, not a PSP.
type Upstream struct {
	rate  rate.Limit
	burst int

	mu       sync.Mutex
	data     map[string]*Dataset // by secret key
	calls    map[string]int      // by "key route", e.g. "sk_1 /v1/accounts"
	refused  int                 // calls answered 429
	failNext int                 // calls still to answer 503
	failed   int                 // calls answered 503
}

// NewUpstream returns an upstream without accounts that allows each secret key perSecond calls a
// second in bursts of burst (rate.Inf: no limit).
func NewUpstream(perSecond rate.Limit, burst int) *Upstream {
	return &Upstream{rate: perSecond, burst: max(burst, 1), data: map[string]*Dataset{}, calls: map[string]int{}}
}

// Dataset returns the data of the secret key, creating an empty one the first time.
func (u *Upstream) Dataset(secretKey string) *Dataset {
	u.mu.Lock()
	defer u.mu.Unlock()
	d, ok := u.data[secretKey]
	if !ok {
		d = &Dataset{limiter: rate.NewLimiter(u.rate, u.burst), byID: map[string]int{}, txByID: map[string]*upstreamTransaction{}, eventByID: map[string]int{}}
		u.data[secretKey] = d
	}
	return d
}

// Calls returns how many calls of route ("/v1/accounts", "/v1/beneficiaries", "/v1/transactions",
// "/v1/events" or "/v1/accounts/{id}/balance") the secret key made, refused ones included.
func (u *Upstream) Calls(secretKey, route string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[secretKey+" "+route]
}

// Refused returns how many calls were answered 429.
func (u *Upstream) Refused() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refused
}

// FailNext makes the next n calls, of any key, fail with 503 Service Unavailable.
func (u *Upstream) FailNext(n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failNext = n
}

// Failed returns how many calls were answered 503 by FailNext.
func (u *Upstream) Failed() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.failed
}

// Errors of the Dataset methods.
var (
	// ErrOutOfOrder: an object was given a time before one already listed. A PSP stamps objects
	// with the current time, so its listings only ever grow at the end.
	ErrOutOfOrder = errors.New("upstream: time before the latest one listed")
	// ErrNoSuchObject: no object has that id.
	ErrNoSuchObject = errors.New("upstream: no such object")
)

// UpstreamAccount is an account object of the upstream API.
type UpstreamAccount struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"` // "account"
	Created  int64             `json:"created"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata"`
}

// UpstreamBeneficiary is a beneficiary object of the upstream API.
type UpstreamBeneficiary struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "beneficiary"
	Created int64  `json:"created"`
	Name    string `json:"name"`
}

// UpstreamTransaction is a transaction object of the upstream API. Amount is in minor units of
// Currency (a lower-case ISO 4217 code); Type is "payin", "payout" or "transfer"; Status is one of
// "pending", "succeeded", "failed", "canceled", "refunded", "disputed".
type UpstreamTransaction struct {
	ID          string            `json:"id"`
	Object      string            `json:"object"` // "transaction"
	Created     int64             `json:"created"`
	Updated     int64             `json:"updated"`
	Amount      int64             `json:"amount"`
	Currency    string            `json:"currency"`
	Type        string            `json:"type"`
	Status      string            `json:"status"`
	Source      string            `json:"source,omitempty"`
	Destination string            `json:"destination,omitempty"`
	Metadata    map[string]string `json:"metadata"`
}

// UpstreamBalance is the balance object of one account.
type UpstreamBalance struct {
	Object    string          `json:"object"` // "balance"
	Available []UpstreamMoney `json:"available"`
}

// UpstreamMoney is an amount in minor units of a currency.
type UpstreamMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// UpstreamEvent is an event object of the upstream API: Type is "transaction.created" or
// "transaction.updated", and Data.Object the transaction as it was after the change.
type UpstreamEvent struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"` // "event"
	Type    string            `json:"type"`
	Created int64             `json:"created"`
	Data    UpstreamEventData `json:"data"`
}

// UpstreamEventData holds the object an event is about.
type UpstreamEventData struct {
	Object UpstreamTransaction `json:"object"`
}

type upstreamTransaction struct {
	UpstreamTransaction
	seq int64 // position of its latest change in the transactions listing
}

// Dataset is the data of one secret key. Its methods are what the PSP's own activity would do.
type Dataset struct {
	limiter *rate.Limiter

	mu            sync.Mutex
	accounts      []UpstreamAccount
	beneficiaries []UpstreamBeneficiary
	byID          map[string]int // account or beneficiary id -> index in its slice
	balances      map[string][]UpstreamMoney
	// changes lists the transactions in the order of their changes; an entry whose seq is no longer
	// its transaction's is stale (the transaction changed again later) and is skipped.
	changes []changeRef
	txByID  map[string]*upstreamTransaction
	seq     int64
	// events lists every event, oldest first; eventByID indexes it.
	events    []UpstreamEvent
	eventByID map[string]int
}

type changeRef struct {
	seq     int64
	updated int64
	tx      *upstreamTransaction
}

// AddAccount creates an account at the Unix second created, which must not be before the latest one.
func (d *Dataset) AddAccount(name string, created int64, balances ...UpstreamMoney) (UpstreamAccount, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.accounts); n > 0 && created < d.accounts[n-1].Created {
		return UpstreamAccount{}, fmt.Errorf("%w: account at %d after one at %d", ErrOutOfOrder, created, d.accounts[n-1].Created)
	}
	a := UpstreamAccount{ID: fmt.Sprintf("acct_%06d", len(d.accounts)+1), Object: "account", Created: created, Name: name}
	d.byID[a.ID] = len(d.accounts)
	d.accounts = append(d.accounts, a)
	if d.balances == nil {
		d.balances = map[string][]UpstreamMoney{}
	}
	d.balances[a.ID] = append([]UpstreamMoney{}, balances...)
	return a, nil
}

// AddBeneficiary creates a beneficiary at the Unix second created, which must not be before the
// latest one.
func (d *Dataset) AddBeneficiary(name string, created int64) (UpstreamBeneficiary, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.beneficiaries); n > 0 && created < d.beneficiaries[n-1].Created {
		return UpstreamBeneficiary{}, fmt.Errorf("%w: beneficiary at %d after one at %d", ErrOutOfOrder, created, d.beneficiaries[n-1].Created)
	}
	b := UpstreamBeneficiary{ID: fmt.Sprintf("ba_%06d", len(d.beneficiaries)+1), Object: "beneficiary", Created: created, Name: name}
	d.byID[b.ID] = len(d.beneficiaries)
	d.beneficiaries = append(d.beneficiaries, b)
	return b, nil
}

// AddTransaction creates a transaction; its Updated is set to its Created, which must not be before
// the latest change. Its id is chosen by the dataset.
func (d *Dataset) AddTransaction(t UpstreamTransaction) (UpstreamTransaction, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkClock(t.Created); err != nil {
		return UpstreamTransaction{}, err
	}
	t.ID = fmt.Sprintf("txn_%07d", len(d.txByID)+1)
	t.Object, t.Updated = "transaction", t.Created
	tx := &upstreamTransaction{UpstreamTransaction: t}
	d.txByID[t.ID] = tx
	d.record(tx, "transaction.created")
	return t, nil
}

// SetStatus changes the status of a transaction at the Unix second updated, which must not be
// before the latest change (it may be the very second of the transaction's previous change: the
// transaction then moves to the end of that second).
func (d *Dataset) SetStatus(id, status string, updated int64) (UpstreamTransaction, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, ok := d.txByID[id]
	if !ok {
		return UpstreamTransaction{}, fmt.Errorf("%w: %q", ErrNoSuchObject, id)
	}
	if err := d.checkClock(updated); err != nil {
		return UpstreamTransaction{}, err
	}
	tx.Status, tx.Updated = status, updated
	d.record(tx, "transaction.updated")
	return tx.UpstreamTransaction, nil
}

func (d *Dataset) checkClock(at int64) error {
	if n := len(d.changes); n > 0 && at < d.changes[n-1].updated {
		return fmt.Errorf("%w: transaction change at %d after one at %d", ErrOutOfOrder, at, d.changes[n-1].updated)
	}
	return nil
}

// record lists a change of tx and its event.
func (d *Dataset) record(tx *upstreamTransaction, eventType string) {
	d.seq++
	tx.seq = d.seq
	d.changes = append(d.changes, changeRef{seq: d.seq, updated: tx.Updated, tx: tx})
	ev := UpstreamEvent{ID: fmt.Sprintf("evt_%07d", len(d.events)+1), Object: "event", Type: eventType,
		Created: tx.Updated, Data: UpstreamEventData{Object: tx.UpstreamTransaction}}
	if ev.Data.Object.Metadata != nil { // the event keeps the object as it was
		ev.Data.Object.Metadata = maps.Clone(ev.Data.Object.Metadata)
	}
	d.eventByID[ev.ID] = len(d.events)
	d.events = append(d.events, ev)
}

// Events returns every event, oldest first.
func (d *Dataset) Events() []UpstreamEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]UpstreamEvent(nil), d.events...)
}

// Transactions returns every transaction in its current state, in the listing's order.
func (d *Dataset) Transactions() []UpstreamTransaction {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []UpstreamTransaction
	for _, c := range d.changes {
		if c.tx.seq == c.seq {
			out = append(out, c.tx.UpstreamTransaction)
		}
	}
	return out
}

// ServeHTTP serves the upstream API.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u.mu.Lock()
	d := u.data[key]
	route := r.URL.Path
	if strings.HasPrefix(route, "/v1/accounts/") {
		route = "/v1/accounts/{id}/balance"
	}
	u.calls[key+" "+route]++
	u.mu.Unlock()
	if !ok || d == nil {
		upstreamError(w, http.StatusUnauthorized, "authentication_error", "invalid API key")
		return
	}
	u.mu.Lock()
	fail := u.failNext > 0
	if fail {
		u.failNext--
		u.failed++
	}
	u.mu.Unlock()
	if fail {
		upstreamError(w, http.StatusServiceUnavailable, "api_error", "the service is temporarily unavailable")
		return
	}
	if !d.limiter.Allow() {
		u.mu.Lock()
		u.refused++
		u.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		upstreamError(w, http.StatusTooManyRequests, "rate_limit_error", "too many requests")
		return
	}
	if r.Method != http.MethodGet {
		upstreamError(w, http.StatusMethodNotAllowed, "invalid_request_error", "only GET is served")
		return
	}
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			upstreamError(w, http.StatusBadRequest, "invalid_request_error", "limit must be an integer from 1 to 100")
			return
		}
		limit = n
	}
	var since int64
	for _, name := range []string{"created[gte]", "updated[gte]"} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				upstreamError(w, http.StatusBadRequest, "invalid_request_error", name+" must be a Unix time in seconds")
				return
			}
			since = n
		}
	}
	switch {
	case r.URL.Path == "/v1/accounts":
		d.mu.Lock()
		page, more, err := listCreated(d.accounts, d.byID, func(a UpstreamAccount) int64 { return a.Created }, since, q.Get("starting_after"), limit)
		d.mu.Unlock()
		writeList(w, page, more, err)
	case r.URL.Path == "/v1/beneficiaries":
		d.mu.Lock()
		page, more, err := listCreated(d.beneficiaries, d.byID, func(b UpstreamBeneficiary) int64 { return b.Created }, since, q.Get("starting_after"), limit)
		d.mu.Unlock()
		writeList(w, page, more, err)
	case r.URL.Path == "/v1/transactions":
		d.serveTransactions(w, since, q.Get("page"), limit)
	case r.URL.Path == "/v1/events":
		d.mu.Lock()
		page, more, err := d.listEvents(q.Get("starting_after"), q.Get("ending_before"), limit)
		d.mu.Unlock()
		writeList(w, page, more, err)
	case strings.HasPrefix(r.URL.Path, "/v1/accounts/") && strings.HasSuffix(r.URL.Path, "/balance"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/accounts/"), "/balance")
		d.mu.Lock()
		money, found := d.balances[id]
		d.mu.Unlock()
		if !found {
			upstreamError(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("no such account: %q", id))
			return
		}
		writeJSON(w, UpstreamBalance{Object: "balance", Available: money})
	default:
		upstreamError(w, http.StatusNotFound, "invalid_request_error", "unknown route "+r.URL.Path)
	}
}

// listCreated pages a listing sorted by created: objects at or after since, after the object
// startingAfter when given.
func listCreated[T any](items []T, byID map[string]int, created func(T) int64, since int64, startingAfter string, limit int) ([]T, bool, error) {
	start := sort.Search(len(items), func(i int) bool { return created(items[i]) >= since })
	if startingAfter != "" {
		i, ok := byID[startingAfter]
		if !ok || i >= len(items) {
			return nil, false, fmt.Errorf("%w: starting_after=%q", ErrNoSuchObject, startingAfter)
		}
		start = max(start, i+1)
	}
	end := min(start+limit, len(items))
	return append([]T{}, items[start:end]...), end < len(items), nil
}

// listEvents pages the events newest first: before the event startingAfter (older ones), after the
// event endingBefore (newer ones), or from the newest.
func (d *Dataset) listEvents(startingAfter, endingBefore string, limit int) ([]UpstreamEvent, bool, error) {
	index := func(id string) (int, error) {
		i, ok := d.eventByID[id]
		if !ok {
			return 0, fmt.Errorf("%w: event %q", ErrNoSuchObject, id)
		}
		return i, nil
	}
	n := len(d.events)
	var lo, hi int // the page is events[lo:hi], listed newest first
	var more bool
	switch {
	case startingAfter != "" && endingBefore != "":
		return nil, false, errors.New("starting_after and ending_before cannot be combined")
	case startingAfter != "":
		i, err := index(startingAfter)
		if err != nil {
			return nil, false, err
		}
		hi = i
		lo = max(0, hi-limit)
		more = lo > 0
	case endingBefore != "":
		i, err := index(endingBefore)
		if err != nil {
			return nil, false, err
		}
		lo = i + 1
		hi = min(n, lo+limit)
		more = hi < n
	default:
		hi = n
		lo = max(0, n-limit)
		more = lo > 0
	}
	page := make([]UpstreamEvent, 0, hi-lo)
	for i := hi - 1; i >= lo; i-- {
		page = append(page, d.events[i])
	}
	return page, more, nil
}

func (d *Dataset) serveTransactions(w http.ResponseWriter, since int64, pageToken string, limit int) {
	d.mu.Lock()
	start := sort.Search(len(d.changes), func(i int) bool { return d.changes[i].updated >= since })
	if pageToken != "" {
		after, err := strconv.ParseInt(strings.TrimPrefix(pageToken, "pos_"), 10, 64)
		if err != nil || !strings.HasPrefix(pageToken, "pos_") {
			d.mu.Unlock()
			upstreamError(w, http.StatusBadRequest, "invalid_request_error", "invalid page token")
			return
		}
		start = max(start, sort.Search(len(d.changes), func(i int) bool { return d.changes[i].seq > after }))
	}
	var page []UpstreamTransaction
	last := int64(-1)
	i := start
	for ; i < len(d.changes) && len(page) < limit; i++ {
		c := d.changes[i]
		if c.tx.seq != c.seq {
			continue // the transaction changed again: it is listed further on
		}
		page = append(page, c.tx.UpstreamTransaction)
		last = c.seq
	}
	more := false
	for j := i; j < len(d.changes); j++ {
		if d.changes[j].tx.seq == d.changes[j].seq {
			more = true
			break
		}
	}
	d.mu.Unlock()
	if page == nil {
		page = []UpstreamTransaction{}
	}
	res := struct {
		Object   string                `json:"object"`
		Data     []UpstreamTransaction `json:"data"`
		HasMore  bool                  `json:"has_more"`
		NextPage *string               `json:"next_page"`
	}{Object: "list", Data: page, HasMore: more}
	if more {
		token := "pos_" + strconv.FormatInt(last, 10)
		res.NextPage = &token
	}
	writeJSON(w, res)
}

func writeList[T any](w http.ResponseWriter, page []T, more bool, err error) {
	if err != nil {
		upstreamError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	writeJSON(w, struct {
		Object  string `json:"object"`
		Data    []T    `json:"data"`
		HasMore bool   `json:"has_more"`
	}{"list", page, more})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func upstreamError(w http.ResponseWriter, status int, kind, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": kind, "message": message}})
}

// now returns the current Unix second, the upstream's precision.
func now() int64 { return time.Now().Unix() }
