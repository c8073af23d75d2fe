package bench

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// Baseline is the middleware an integrator would write by hand with net/http and encoding/json and
// no library, serving the same data as the library's handler in the benchmarks, byte for byte:
//
//   - GET /transactions: checks the bearer key, parses page, pageSize and updatedAtFrom, finds the
//     first transaction at or after updatedAtFrom with a binary search over a slice sorted by
//     UpdatedAt, and encodes the page with json.NewEncoder. It does not validate what it sends.
//   - POST /payouts: checks the key, decodes and checks the request by hand, answers a repeated
//     idempotency key with the first answer (kept in a map) and calls the PSP otherwise.
//
// It is the yardstick of the benchmarks, not an example to follow: it serves the PSP's timestamps
// as they are (lossless only because the benchmark data has unique ones), and it trusts the PSP.
type Baseline struct {
	apiKey       string
	transactions []models.Transaction // sorted by UpdatedAt, each time unique
	psp          *PSP
	// marshal, when set, encodes a page instead of json.NewEncoder (the peers on fast JSON
	// libraries, see peers.go).
	marshal func(any) ([]byte, error)
	// joined, when set, holds every transaction's JSON precomputed, joined by commas, and ends[i] the
	// end of the i-th one in it: a page is written by copying bytes (NewPrecomputed).
	joined []byte
	ends   []int

	mu      sync.Mutex
	answers map[string][]byte // idempotency key -> body of the 201
}

// NewBaseline returns the hand-written handler serving transactions (sorted by UpdatedAt) and the
// payouts of psp to requests carrying "Authorization: Bearer apiKey".
func NewBaseline(apiKey string, transactions []models.Transaction, psp *PSP) *Baseline {
	return &Baseline{apiKey: apiKey, transactions: transactions, psp: psp, answers: map[string][]byte{}}
}

// NewPeer returns the Baseline encoding its pages with marshal instead of encoding/json (a fast
// JSON library's Marshal, which must write encoding/json's bytes), followed by a newline as
// json.Encoder writes.
func NewPeer(apiKey string, transactions []models.Transaction, psp *PSP, marshal func(any) ([]byte, error)) *Baseline {
	b := NewBaseline(apiKey, transactions, psp)
	b.marshal = marshal
	return b
}

// NewPrecomputed returns the Baseline with every transaction's bytes computed once, in advance: a
// page is the query parsed, a binary search and a copy, the least a handler can do, so its cost is
// what net/http costs. It is the limit the library's list route is measured against.
func NewPrecomputed(apiKey string, transactions []models.Transaction, psp *PSP) (*Baseline, error) {
	b := NewBaseline(apiKey, transactions, psp)
	b.ends = make([]int, len(transactions))
	for i := range transactions {
		if i > 0 {
			b.joined = append(b.joined, ',')
		}
		j, err := json.Marshal(&transactions[i])
		if err != nil {
			return nil, err
		}
		b.joined = append(b.joined, j...)
		b.ends[i] = len(b.joined)
	}
	return b, nil
}

// ServeHTTP serves GET /transactions and POST /payouts.
func (b *Baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+b.apiKey)) != 1 {
		writeError(w, http.StatusUnauthorized, "invalid API key")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/transactions":
		b.listTransactions(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/payouts":
		b.createPayout(w, r)
	default:
		writeError(w, http.StatusNotFound, "no such route")
	}
}

func (b *Baseline) listTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, pageSize := 1, 100
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			writeError(w, http.StatusBadRequest, "page must be an integer >= 1")
			return
		}
	}
	if v := q.Get("pageSize"); v != "" {
		if pageSize, err = strconv.Atoi(v); err != nil || pageSize < 1 || pageSize > 1000 {
			writeError(w, http.StatusBadRequest, "pageSize must be an integer from 1 to 1000")
			return
		}
	}
	start := 0
	if v := q.Get("updatedAtFrom"); v != "" {
		from, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "updatedAtFrom must be an RFC 3339 date-time")
			return
		}
		start = sort.Search(len(b.transactions), func(i int) bool { return !b.transactions[i].UpdatedAt.Before(from) })
	}
	lo := min(start+(page-1)*pageSize, len(b.transactions))
	hi := min(lo+pageSize, len(b.transactions))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case b.joined != nil:
		b.writePrecomputed(w, lo, hi)
	case b.marshal != nil:
		body, err := b.marshal(b.transactions[lo:hi])
		if err != nil {
			writeError(w, http.StatusInternalServerError, "cannot encode the page")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
		_, _ = w.Write(append(body, '\n'))
	default:
		_ = json.NewEncoder(w).Encode(b.transactions[lo:hi])
	}
}

// writePrecomputed writes transactions lo to hi from the joined bytes, as json.Encoder would.
func (b *Baseline) writePrecomputed(w http.ResponseWriter, lo, hi int) {
	if lo == hi {
		w.Header().Set("Content-Length", "3")
		_, _ = w.Write([]byte("[]\n"))
		return
	}
	start := 0
	if lo > 0 {
		start = b.ends[lo-1] + 1
	}
	items := b.joined[start:b.ends[hi-1]]
	body := make([]byte, 0, len(items)+3)
	body = append(append(append(body, '['), items...), ']', '\n')
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (b *Baseline) createPayout(w http.ResponseWriter, r *http.Request) {
	var req models.PayoutRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed payout request: "+err.Error())
		return
	}
	switch {
	case req.IdempotencyKey == "", req.SourceAccountID == "", req.DestinationAccountID == "":
		writeError(w, http.StatusBadRequest, "idempotencyKey, sourceAccountId and destinationAccountId are required")
		return
	case req.Amount.Sign() <= 0:
		writeError(w, http.StatusBadRequest, "amount must be a positive integer")
		return
	case req.Currency.Validate() != nil:
		writeError(w, http.StatusBadRequest, "currency must be a UMN asset")
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	body, ok := b.answers[req.IdempotencyKey]
	if !ok {
		p, err := b.psp.CreatePayout(req)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if body, err = json.Marshal(p); err != nil {
			writeError(w, http.StatusInternalServerError, "cannot encode the payout")
			return
		}
		body = append(body, '\n')
		b.answers[req.IdempotencyKey] = body
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(models.Error{Title: http.StatusText(status), Detail: detail})
}

// PSP is the business logic both middlewares of the benchmarks call: it creates payouts with
// sequential ids at a fixed time, so that both answer the same bytes.
type PSP struct {
	mu  sync.Mutex
	seq int
	at  time.Time
}

// NewPSP returns a PSP whose payouts are created at the time at.
func NewPSP(at time.Time) *PSP { return &PSP{at: at.UTC()} }

// CreatePayout creates a PENDING payout for req.
func (p *PSP) CreatePayout(req models.PayoutRequest) (models.Payout, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	return models.Payout{
		ID: fmt.Sprintf("po_%08d", p.seq), IdempotencyKey: req.IdempotencyKey, Amount: req.Amount,
		Currency: req.Currency, SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: p.at, UpdatedAt: p.at,
		Metadata: req.Metadata,
	}, nil
}
