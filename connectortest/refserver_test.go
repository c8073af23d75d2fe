package connectortest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// fault is one deliberate contract violation of refServer.
type fault string

const (
	faultNone                fault = ""
	faultNoAuth              fault = "no auth"
	faultParam500            fault = "500 on a bad parameter"
	faultLenientParams       fault = "bad parameters ignored"
	faultUnsorted            fault = "unsorted (descending)"
	faultExclusiveFrom       fault = "exclusive From"
	faultCappedPageSize      fault = "pageSize silently capped at 20"
	faultDuplicateAcross     fault = "last item of a page repeated on the next"
	faultBadEnum             fault = "status PROCESSED"
	faultFloatAmount         fault = "amount 10.5 as a JSON number"
	faultDecimalAmount       fault = "amount \"10.00\""
	faultLowercaseAsset      fault = "currency usd/2"
	faultWrongCasing         fault = "sourceAccountId on a transaction"
	faultUnknownField        fault = "unknown field on an account"
	faultMissingField        fault = "account without accountName"
	faultBadTime             fault = "createdAt 2024-01-01 10:00:00"
	faultBalancesMismatch    fault = "balances with another accountID"
	faultIgnoreIdempotency   fault = "idempotency key ignored"
	faultAcceptConflict      fault = "reused key with another body accepted"
	faultAcceptMissingFields fault = "payout without required fields accepted"
	faultPlain401            fault = "401 with a plain-text body"
	faultMissingBalances     fault = "no balances for one account"
	faultInFlight409         fault = "in-flight duplicate answered 409"
	faultPayouts501          fault = "POST /payouts answered 501"
	faultRowWithoutLink      fault = "payout row without relatedTransactionID"
	faultRowWrongType        fault = "transfer row typed PAYOUT"
	faultCapped100           fault = "pageSize silently capped at 100"
	faultPrefixKey           fault = "any prefix of the key accepted"
	faultKeySuffix           fault = "the key followed by anything accepted"
	faultKeyCase             fault = "the key accepted in any case"
	faultAnyScheme           fault = "the key accepted under any scheme"
	faultLastAuthHeader      fault = "the last Authorization header used"
	faultSharedID            fault = "a beneficiary with the id of an account"
	faultDottedAsset         fault = "currency USDC.E/6"
	faultLongAsset           fault = "currency with an 18-character code"
	faultBalancesFixedAt     fault = "balances at a fixed time with moving amounts"

	// Not faults: ways a correct middleware may differ from the default refServer.
	variantPayouts405 fault = "POST /payouts answered 405 (payouts not offered)"
	variantNoRows     fault = "payouts and transfers not listed as transactions"
)

// The items the schema faults break.
const (
	brokenTx      = "tx_0003"
	brokenAccount = "acc_0002"
	// sharedBeneficiary is served with the id of brokenAccount by faultSharedID.
	sharedBeneficiary = "ben_0005"
)

// refServer is a hand-written middleware, independent of httpserver and pagination.Collection, that
// serves the contract correctly unless a fault is set.
type refServer struct {
	key   string
	fault fault

	mu            sync.Mutex
	accounts      []models.Account
	beneficiaries []models.Beneficiary
	transactions  []models.Transaction
	balances      map[string][]models.Balance
	payouts       map[string]json.RawMessage // by id, the answer
	byKey         map[string]*refWrite       // by path + idempotency key
	seq           int
	clock         time.Time           // latest updatedAt handed out
	served        map[string][]string // path -> ids of the last page served
	balanceReads  int                 // GET balances answered, for faultBalancesFixedAt
}

// refWrite is one write by key. While the first request is in flight, id is empty.
type refWrite struct {
	req  models.PayoutRequest
	id   string
	dups int           // duplicates answered while in flight
	all  chan struct{} // closed when the concurrent check's duplicates have all been answered
}

// inFlightTimeout bounds how long the concurrent check's first request is held in flight.
const inFlightTimeout = 5 * time.Second

// newRefServer serves a small dataset whose timestamps are unique whole seconds, so that even an
// exclusive From loses items.
func newRefServer(f fault) *refServer {
	ds := Generate(GenSpec{Seed: 3, Accounts: 40, Beneficiaries: 30, Transactions: 120})
	start := ds.Spec.Start
	s := &refServer{key: testKey, fault: f, balances: ds.Balances, payouts: map[string]json.RawMessage{}, byKey: map[string]*refWrite{},
		served: map[string][]string{}}
	for i, a := range ds.Accounts {
		a.CreatedAt = start.Add(time.Duration(i) * time.Second)
		s.accounts = append(s.accounts, a)
	}
	for i, b := range ds.Beneficiaries {
		b.CreatedAt = start.Add(time.Duration(i) * time.Second)
		s.beneficiaries = append(s.beneficiaries, b)
	}
	for i, tx := range ds.Transactions {
		tx.UpdatedAt = start.Add(time.Duration(i) * time.Second)
		tx.CreatedAt = tx.UpdatedAt
		s.transactions = append(s.transactions, tx)
		s.clock = tx.UpdatedAt
	}
	return s
}

// lastServed returns the ids of the last page served on path.
func (s *refServer) lastServed(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.served[path])
}

// shiftNext is an Options.ChangesDuringFetch (and a live change) for refServer: it moves the second
// transaction of the last page served to a new status and the end of the listing, as a PSP records a
// change, so that the page the poller reads next shifts by one.
func (s *refServer) shiftNext(_ context.Context, route string, _ int) error {
	if route != routeTransactions.path {
		return nil
	}
	if ids := s.lastServed(route); len(ids) > 1 {
		s.setStatus(ids[1], models.TransactionStatusRefunded, true)
	}
	return nil
}

// setStatus changes a transaction's status; with moveForward its updatedAt becomes the next unused
// second, otherwise it stays (the mistake that hides changes from Formance).
func (s *refServer) setStatus(id string, status models.TransactionStatus, moveForward bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.transactions {
		if s.transactions[i].ID == id {
			s.transactions[i].Status = status
			if moveForward {
				s.clock = s.clock.Add(time.Second)
				s.transactions[i].UpdatedAt = s.clock
			}
		}
	}
}

func (s *refServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		items := slices.Clone(s.accounts)
		s.mu.Unlock()
		serveList(s, w, r, pagination.FieldCreatedAt, items, func(a models.Account) (string, time.Time) { return a.ID, a.CreatedAt })
	})
	mux.HandleFunc("GET /beneficiaries", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		items := slices.Clone(s.beneficiaries)
		s.mu.Unlock()
		serveList(s, w, r, pagination.FieldCreatedAt, items, func(b models.Beneficiary) (string, time.Time) { return b.ID, b.CreatedAt })
	})
	mux.HandleFunc("GET /transactions", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		items := slices.Clone(s.transactions)
		s.mu.Unlock()
		serveList(s, w, r, pagination.FieldUpdatedAt, items, func(tx models.Transaction) (string, time.Time) { return tx.ID, tx.UpdatedAt })
	})
	mux.HandleFunc("GET /accounts/{id}/balances", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		known := slices.ContainsFunc(s.accounts, func(a models.Account) bool { return a.ID == id })
		b := slices.Clone(s.balances[id])
		s.balanceReads++
		reads := s.balanceReads
		s.mu.Unlock()
		if !known || (s.fault == faultMissingBalances && id == "acc_0003") {
			writeErr(w, 404, "Not Found", "no account "+id)
			return
		}
		out := models.Balances{ID: "bal_" + id, AccountID: id, At: time.Now().UTC(), Balances: b}
		if s.fault == faultBalancesFixedAt && len(b) > 0 {
			out.At = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			out.Balances[0].Amount = models.AmountFromInt64(int64(reads))
		}
		if s.fault == faultBalancesMismatch && id == "acc_0001" {
			out.AccountID = "acc_9999"
		}
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("POST /payouts", func(w http.ResponseWriter, r *http.Request) {
		switch s.fault {
		case faultPayouts501:
			writeErr(w, 501, "Not Implemented", "payouts are not implemented")
		case variantPayouts405:
			writeErr(w, 405, "Method Not Allowed", "this middleware does not offer payouts")
		default:
			s.create(w, r, "po", models.TransactionTypePayout)
		}
	})
	mux.HandleFunc("POST /transfers", func(w http.ResponseWriter, r *http.Request) { s.create(w, r, "tr", models.TransactionTypeTransfer) })
	get := func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, ok := s.payouts[r.PathValue("id")]
		s.mu.Unlock()
		if !ok {
			writeErr(w, 404, "Not Found", "no such payout or transfer")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
	mux.HandleFunc("GET /payouts/{id}", get)
	mux.HandleFunc("GET /transfers/{id}", get)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.fault != faultNoAuth && !s.authorized(r) {
			if s.fault == faultPlain401 {
				http.Error(w, "unauthorized", 401)
				return
			}
			writeErr(w, 401, "Unauthorized", "missing or wrong API key")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// authorized checks the request's key, with the auth faults.
func (s *refServer) authorized(r *http.Request) bool {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return false
	}
	h := values[0]
	if s.fault == faultLastAuthHeader {
		h = values[len(values)-1]
	}
	scheme, token, _ := strings.Cut(h, " ")
	if scheme != "Bearer" && s.fault != faultAnyScheme {
		return false
	}
	switch s.fault {
	case faultPrefixKey:
		return token != "" && strings.HasPrefix(s.key, token)
	case faultKeySuffix:
		return strings.HasPrefix(token, s.key)
	case faultKeyCase:
		return strings.EqualFold(token, s.key)
	}
	return token == s.key
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, title, detail string) {
	writeJSON(w, status, models.Error{Title: title, Detail: detail})
}

func serveList[T any](s *refServer, w http.ResponseWriter, r *http.Request, field pagination.Field, items []T, key func(T) (string, time.Time)) {
	q, err := pagination.ParseQuery(r.URL.Query(), field, pagination.DefaultMaxPageSize)
	if err != nil {
		switch s.fault {
		case faultParam500:
			writeErr(w, 500, "Internal Server Error", err.Error())
			return
		case faultLenientParams:
			q = pagination.Query{Page: 1, PageSize: 100}
		default:
			writeErr(w, 400, "Bad Request", err.Error())
			return
		}
	}
	slices.SortFunc(items, func(a, b T) int {
		ida, ta := key(a)
		idb, tb := key(b)
		return cmp.Or(ta.Compare(tb), strings.Compare(ida, idb))
	})
	if s.fault == faultUnsorted {
		slices.Reverse(items)
	}
	var kept []T
	for _, it := range items {
		_, t := key(it)
		if q.From.IsZero() || t.After(q.From) || (t.Equal(q.From) && s.fault != faultExclusiveFrom) {
			kept = append(kept, it)
		}
	}
	size := q.PageSize
	off := (q.Page - 1) * size
	if s.fault == faultDuplicateAcross && q.Page > 1 && size > 1 {
		off-- // the last item of the previous page again
	}
	switch s.fault {
	case faultCappedPageSize:
		size = min(size, 20)
	case faultCapped100:
		size = min(size, 100)
	}
	page := []json.RawMessage{}
	var served []string
	for i := off; i < off+size && i < len(kept); i++ {
		page = append(page, s.breakItem(kept[i]))
		id, _ := key(kept[i])
		served = append(served, id)
	}
	s.mu.Lock()
	s.served[r.URL.Path] = served
	s.mu.Unlock()
	writeJSON(w, 200, page)
}

// breakItem encodes one item, applying the schema fault to the broken item.
func (s *refServer) breakItem(item any) json.RawMessage {
	raw, _ := json.Marshal(item)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	switch m["id"] {
	case brokenTx:
		switch s.fault {
		case faultBadEnum:
			m["status"] = "PROCESSED"
		case faultFloatAmount:
			m["amount"] = 10.5
		case faultDecimalAmount:
			m["amount"] = "10.00"
		case faultLowercaseAsset:
			m["currency"] = "usd/2"
		case faultWrongCasing:
			delete(m, "sourceAccountID")
			m["sourceAccountId"] = "acc_0001"
		case faultDottedAsset:
			m["currency"] = "USDC.E/6"
		case faultLongAsset:
			m["currency"] = "ABCDEFGHIJKLMNOPQR/2"
		}
	case sharedBeneficiary:
		if s.fault == faultSharedID {
			m["id"] = brokenAccount
		}
	case brokenAccount:
		switch s.fault {
		case faultUnknownField:
			m["colour"] = "blue"
		case faultMissingField:
			delete(m, "accountName")
		case faultBadTime:
			m["createdAt"] = "2024-01-01 10:00:00"
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// create serves POST /payouts and POST /transfers, idempotent by key unless a fault says otherwise,
// and lists each payout (transfer) as a PENDING transaction of type txType with the same id, linked
// to Formance's payment by relatedTransactionID = idempotencyKey.
//
// The concurrent check's first request (its key ends in "-concurrent") is held in flight until all
// its duplicates have been answered, so that they meet an in-flight first copy every time: they get
// 423 Locked with Retry-After (409 with faultInFlight409). Other keys are created at once.
func (s *refServer) create(w http.ResponseWriter, r *http.Request, prefix string, txType models.TransactionType) {
	var req models.PayoutRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "Bad Request", err.Error())
		return
	}
	if err := models.Validate(req); err != nil && s.fault != faultAcceptMissingFields {
		writeErr(w, 400, "Bad Request", err.Error())
		return
	}
	s.mu.Lock()
	k := r.URL.Path + " " + req.IdempotencyKey
	if prev, ok := s.byKey[k]; ok && s.fault != faultIgnoreIdempotency {
		defer s.mu.Unlock()
		if !prev.req.Amount.Equal(req.Amount) && s.fault != faultAcceptConflict {
			writeErr(w, 409, "Conflict", "idempotency key reused with another request")
			return
		}
		if prev.id == "" {
			prev.dups++
			if prev.dups == concurrentDuplicates-1 {
				close(prev.all)
			}
			if s.fault == faultInFlight409 {
				writeErr(w, 409, "Conflict", "a request with this idempotency key is in flight")
				return
			}
			w.Header().Set("Retry-After", "1")
			writeErr(w, 423, "Locked", "a request with this idempotency key is in flight; retry later")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write(s.payouts[prev.id])
		return
	}
	wr := &refWrite{req: req, all: make(chan struct{})}
	s.byKey[k] = wr
	if strings.HasSuffix(req.IdempotencyKey, "-concurrent") && s.fault != faultIgnoreIdempotency {
		s.mu.Unlock()
		select {
		case <-wr.all:
		case <-time.After(inFlightTimeout):
		case <-r.Context().Done():
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	s.seq++
	now := time.Now().UTC()
	p := models.Payout{
		ID: fmt.Sprintf("%s_%d", prefix, s.seq), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount,
		Currency: req.Currency, SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: now, UpdatedAt: now,
	}
	body, _ := json.Marshal(p)
	s.payouts[p.ID] = body
	wr.id = p.ID
	if s.fault != variantNoRows {
		s.clock = s.clock.Add(time.Second)
		row := models.Transaction{
			ID: p.ID, RelatedTransactionID: req.IdempotencyKey, CreatedAt: s.clock, UpdatedAt: s.clock,
			Currency: req.Currency, Type: txType, Status: p.Status, Amount: req.Amount,
			SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		}
		switch {
		case s.fault == faultRowWithoutLink && txType == models.TransactionTypePayout:
			row.RelatedTransactionID = ""
		case s.fault == faultRowWrongType && txType == models.TransactionTypeTransfer:
			row.Type = models.TransactionTypePayout
		}
		s.transactions = append(s.transactions, row)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	_, _ = w.Write(body)
}
