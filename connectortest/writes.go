package connectortest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/pspconnect/pspconnect/models"
)

// concurrentDuplicates is the number of identical POSTs the writes check sends at once.
const concurrentDuplicates = 20

// writeRoute is POST /payouts or POST /transfers.
type writeRoute struct {
	path   string // "/payouts"
	object string // "payout"
	src    string
	dst    string
}

// checkWrites: idempotent writes, refused conflicts and incomplete bodies, readable results.
func (s *suite) checkWrites(t tb) {
	if s.opts.SkipWrites {
		t.Logf("writes not checked: Options.SkipWrites is set")
		return
	}
	ref := s.reference(t)
	wa := s.opts.WriteAccounts
	accounts := ref[routeAccounts.path].items
	beneficiaries := ref[routeBeneficiaries.path].items
	if wa.Source == "" && len(accounts) > 0 {
		wa.Source = accounts[0].id
	}
	if wa.PayoutDestination == "" {
		switch {
		case len(beneficiaries) > 0:
			wa.PayoutDestination = beneficiaries[0].id
		case len(accounts) > 1:
			wa.PayoutDestination = accounts[1].id
		}
	}
	if wa.TransferDestination == "" && len(accounts) > 1 {
		wa.TransferDestination = accounts[1].id
	}
	if wa.Currency == "" {
		wa.Currency = "USD/2"
	}
	routes := []writeRoute{
		{"/payouts", "payout", wa.Source, wa.PayoutDestination},
		{"/transfers", "transfer", wa.Source, wa.TransferDestination},
	}
	for _, wr := range routes {
		t.Run(strings.TrimPrefix(wr.path, "/"), func(t tb) {
			if wr.src == "" || wr.dst == "" {
				t.Errorf("POST %s: no source or destination to use: list at least two accounts and a beneficiary, or set Options.WriteAccounts", wr.path)
				return
			}
			s.checkWriteRoute(t, wr, wa.Currency)
		})
	}
}

func (s *suite) writeBody(wr writeRoute, key string, amount string, currency models.Asset) map[string]any {
	return map[string]any{
		"idempotencyKey":       key,
		"amount":               amount,
		"currency":             string(currency),
		"sourceAccountId":      wr.src,
		"destinationAccountId": wr.dst,
		"description":          "connectortest " + wr.object,
	}
}

// post sends body to wr.path and returns the answer and the id of a 2xx answer.
func (s *suite) post(t tb, wr writeRoute, body map[string]any) (response, string, bool) {
	data, err := json.Marshal(body)
	if err != nil {
		t.Errorf("encoding the %s request: %v", wr.object, err)
		return response{}, "", false
	}
	r := request{method: "POST", path: wr.path, body: data}
	res, err := s.c.do(t.Context(), r)
	if err != nil {
		t.Errorf("POST %s: %v", wr.path, err)
		return res, "", false
	}
	var out struct {
		ID string `json:"id"`
	}
	if res.status >= 200 && res.status < 300 {
		_ = json.Unmarshal(res.body, &out)
	}
	return res, out.ID, true
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

func (s *suite) checkWriteRoute(t tb, wr writeRoute, currency models.Asset) {
	key := fmt.Sprintf("%s-%s-1", s.runID, wr.object)
	body := s.writeBody(wr, key, "100", currency)
	label := fmt.Sprintf("POST %s (idempotencyKey=%s)", wr.path, key)

	// Create.
	res, id1, ok := s.post(t, wr, body)
	if !ok {
		return
	}
	if res.status == 501 {
		t.Logf("%s: answered 501: the middleware does not offer %ss; not checked", label, wr.object)
		return
	}
	if !is2xx(res.status) {
		t.Errorf("%s: answered %d, want 201 (source %s, destination %s; set Options.WriteAccounts to choose others): %s",
			label, res.status, wr.src, wr.dst, bodySnippet(res.body))
		return
	}
	if res.status != 201 {
		t.Logf("%s: answered %d; the contract answers 201", label, res.status)
	}
	for _, p := range checkObject(res.body, payoutFields, "") {
		t.Errorf("%s: %s: %s", label, wr.object, p)
	}
	var created struct {
		IdempotencyKey string `json:"idempotencyKey"`
		Amount         string `json:"amount"`
	}
	_ = json.Unmarshal(res.body, &created)
	if created.IdempotencyKey != key {
		t.Errorf("%s: field \"idempotencyKey\" is %q, want %q, the key sent", label, created.IdempotencyKey, key)
	}
	if created.Amount != "100" {
		t.Errorf("%s: field \"amount\" is %q, want \"100\", the amount sent", label, created.Amount)
	}
	if id1 == "" {
		return
	}

	// Retry with the same key and body.
	res, id2, ok := s.post(t, wr, body)
	switch {
	case !ok:
	case !is2xx(res.status):
		t.Errorf("%s sent again: answered %d, want the first answer (201, id %s): Formance retries with the same key: %s", label, res.status, id1, bodySnippet(res.body))
	case id2 != id1:
		t.Errorf("%s sent again: answered %s %s, but the first answer was %s: a retried %s would move money twice", label, wr.object, id2, id1, wr.object)
	}

	// Concurrent duplicates.
	s.checkConcurrent(t, wr, currency)

	// Same key, different body.
	other := s.writeBody(wr, key, "101", currency)
	res, id3, ok := s.post(t, wr, other)
	switch {
	case !ok:
	case is2xx(res.status) && id3 != id1:
		t.Errorf("%s with another amount (101 instead of 100): answered %d with a second %s %s (the first is %s), want 409: a reused key must never create another %s",
			label, res.status, wr.object, id3, id1, wr.object)
	case is2xx(res.status):
		t.Errorf("%s with another amount (101 instead of 100): answered %d with the first %s, want 409: the key was reused for a different request, which must be refused", label, res.status, wr.object)
	case res.status >= 500:
		t.Errorf("%s with another amount (101 instead of 100): answered %d, want 409 (a client error): %s", label, res.status, bodySnippet(res.body))
	case res.status >= 400:
		if p := checkErrorBody(res.body); p != "" {
			t.Errorf("%s with another amount: answered %d, but %s", label, res.status, p)
		}
	default:
		t.Errorf("%s with another amount (101 instead of 100): answered %d, want 409", label, res.status)
	}

	// Missing required fields.
	for i, field := range []string{"idempotencyKey", "amount", "currency", "sourceAccountId", "destinationAccountId"} {
		k := fmt.Sprintf("%s-%s-missing-%d", s.runID, wr.object, i)
		b := s.writeBody(wr, k, "100", currency)
		delete(b, field)
		res, id, ok := s.post(t, wr, b)
		switch {
		case !ok:
		case res.status == 400:
			if p := checkErrorBody(res.body); p != "" {
				t.Errorf("POST %s without %q: 400 as it should, but %s", wr.path, field, p)
			}
		case is2xx(res.status):
			t.Errorf("POST %s without %q: answered %d and created %s %s, want 400: %q is required", wr.path, field, res.status, wr.object, id, field)
		default:
			t.Errorf("POST %s without %q: answered %d, want 400: %s", wr.path, field, res.status, bodySnippet(res.body))
		}
	}

	// Read back.
	r := request{method: "GET", path: wr.path + "/" + id1}
	gres, err := s.c.do(t.Context(), r)
	switch {
	case err != nil:
		t.Errorf("%s: %v", r, err)
	case gres.status == 501 || gres.status == 405:
		t.Logf("%s: answered %d: the middleware does not offer reading %ss; not checked", r, gres.status, wr.object)
	case gres.status == 404 && checkErrorBody(gres.body) != "":
		t.Logf("%s: answered 404 without an error body: the route is not served; not checked", r)
	case gres.status != 200:
		t.Errorf("%s: answered %d, want 200 with the %s just created: %s", r, gres.status, wr.object, bodySnippet(gres.body))
	default:
		for _, p := range checkObject(gres.body, payoutFields, "") {
			t.Errorf("%s: %s: %s", r, wr.object, p)
		}
		if got := rawID(gres.body); got != id1 {
			t.Errorf("%s: answered %s %q, want %q", r, wr.object, got, id1)
		}
	}
}

// checkConcurrent sends concurrentDuplicates identical POSTs at once: all that succeed must name one
// id. Answers asking for a retry (409, 429, 503) are accepted; Formance retries them.
func (s *suite) checkConcurrent(t tb, wr writeRoute, currency models.Asset) {
	key := fmt.Sprintf("%s-%s-concurrent", s.runID, wr.object)
	data, _ := json.Marshal(s.writeBody(wr, key, "100", currency))
	label := fmt.Sprintf("POST %s (idempotencyKey=%s) sent %d times at once", wr.path, key, concurrentDuplicates)
	type answer struct {
		status int
		id     string
		err    error
	}
	answers := make([]answer, concurrentDuplicates)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			res, err := s.c.do(t.Context(), request{method: "POST", path: wr.path, body: data})
			a := answer{status: res.status, err: err}
			if err == nil && is2xx(res.status) {
				a.id = rawID(res.body)
			}
			answers[i] = a
		})
	}
	wg.Wait()
	ids := make(map[string]int)
	var order []string
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("%s: %v", label, a.err)
		case is2xx(a.status):
			if ids[a.id] == 0 {
				order = append(order, a.id)
			}
			ids[a.id]++
		case a.status == 409 || a.status == 429 || a.status == 503:
		default:
			t.Errorf("%s: one answered %d, want 201 (or 409, 429, 503 asking for a retry)", label, a.status)
		}
	}
	switch {
	case len(ids) > 1:
		var parts []string
		for i, id := range order {
			if i == 5 {
				parts = append(parts, "…")
				break
			}
			if ids[id] > 1 {
				id = fmt.Sprintf("%s (%d answers)", id, ids[id])
			}
			parts = append(parts, id)
		}
		t.Errorf("%s: created %d different %ss: %s: concurrent retries must all get the first %s", label, len(ids), wr.object, strings.Join(parts, ", "), wr.object)
	case len(ids) == 0:
		t.Errorf("%s: no request succeeded", label)
	}
}
