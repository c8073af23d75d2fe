package connectortest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/pspconnect/pspconnect/models"
)

// concurrentDuplicates is the number of identical POSTs the writes check sends at once.
const concurrentDuplicates = 20

// writeRoute is POST /payouts or POST /transfers.
type writeRoute struct {
	path   string                 // "/payouts"
	object string                 // "payout"
	txType models.TransactionType // the type of the PSP's transaction row for one: PAYOUT
	src    string
	dst    string
}

// createdWrite is one payout or transfer the writes check created, and the key it was created with.
type createdWrite struct {
	id  string
	key string
	how string // how the check created it, for messages
}

// retried reports whether Formance retries a payout or transfer answered status: every 5xx and 408,
// 421, 423, 425, 429 (see the contract, "What the engine does with the answers"). Every other
// non-2xx is final: Formance marks the payment initiation FAILED at once.
func retried(status int) bool {
	switch status {
	case 408, 421, 423, 425, 429:
		return true
	}
	return status >= 500
}

// checkWrites: idempotent writes, refused conflicts and incomplete bodies, readable results.
func (s *suite) checkWrites(t tb) {
	if s.opts.SkipWrites {
		t.Skipf("writes not checked: Options.SkipWrites is set")
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
		{"/payouts", "payout", models.TransactionTypePayout, wa.Source, wa.PayoutDestination},
		{"/transfers", "transfer", models.TransactionTypeTransfer, wa.Source, wa.TransferDestination},
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
	switch {
	case is2xx(res.status):
	case res.status >= 500:
		t.Errorf("%s: answered %d: Formance retries every 5xx (501 included) for ever, so the payment initiation would never end; "+
			"a middleware that does not offer %ss must answer a final 4xx, e.g. 405, whose Detail names the missing capability: %s",
			label, res.status, wr.object, bodySnippet(res.body))
		return
	case retried(res.status):
		t.Errorf("%s: answered %d to a new idempotency key, want 201: Formance retries %d for ever (source %s, destination %s): %s",
			label, res.status, res.status, wr.src, wr.dst, bodySnippet(res.body))
		return
	case res.status == 401:
		t.Errorf("%s: answered 401 with the API key of the Target, want 201: %s", label, bodySnippet(res.body))
		return
	case res.status == 400 || res.status == 409 || res.status < 400:
		t.Errorf("%s: answered %d, want 201 (source %s, destination %s; set Options.WriteAccounts to choose others): %s",
			label, res.status, wr.src, wr.dst, bodySnippet(res.body))
		return
	default:
		// A final 4xx: Formance marks the payment initiation FAILED, which is right for a capability
		// the middleware lacks.
		t.Logf("%s: answered %d, a final error: the middleware does not offer %ss; not checked: %s", label, res.status, wr.object, bodySnippet(res.body))
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

	made := []createdWrite{{id: id1, key: key, how: label}}

	// Concurrent duplicates.
	if w, ok := s.checkConcurrent(t, wr, currency); ok {
		made = append(made, w)
	}

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
	case retried(res.status):
		t.Errorf("%s with another amount (101 instead of 100): answered %d, want 409 (a final client error): Formance retries %d for ever, so the payment initiation would never end: %s",
			label, res.status, res.status, bodySnippet(res.body))
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

	s.checkRows(t, wr, made)
}

// checkRows lists GET /transactions in full and checks the row of each created payout (transfer),
// the transaction with its id, if the middleware lists one. Formance keys the payout's payment by
// the request's idempotencyKey; the row joins that payment only with relatedTransactionID equal to
// the key and the same type.
func (s *suite) checkRows(t tb, wr writeRoute, created []createdWrite) {
	l, _, err := walkFull(t.Context(), s.c, routeTransactions, s.refSize, zeroTime)
	if err != nil {
		t.Errorf("listing the transactions after the %ss were created, to find their rows: %v", wr.object, err)
		return
	}
	rows := make(map[string]listItem, len(l.items))
	for _, it := range l.items {
		if _, dup := rows[it.id]; !dup && it.id != "" {
			rows[it.id] = it
		}
	}
	for _, w := range created {
		it, ok := rows[w.id]
		if !ok {
			t.Logf("%s: created %s %s, but no transaction %s is listed by GET /transactions (the PSP may report it later, or under another id): its link to Formance's payment is not checked",
				w.how, wr.object, w.id, w.id)
			continue
		}
		where := fmt.Sprintf("%s: transaction %s, the row of %s %s created by %s", l.pages[it.page-1].req, w.id, wr.object, w.id, w.how)
		for _, p := range checkObject(it.raw, transactionFields, "") {
			t.Errorf("%s: %s", where, p)
		}
		var row struct {
			Type    *string `json:"type"`
			Related *string `json:"relatedTransactionID"`
		}
		_ = json.Unmarshal(it.raw, &row) // a field of the wrong type reads as missing; checkObject named it
		typeOK := row.Type != nil && *row.Type == string(wr.txType)
		relatedOK := row.Related != nil && *row.Related == w.key
		if typeOK && relatedOK {
			continue
		}
		has := func(name string, v *string) string {
			if v == nil || *v == "" {
				return "no " + name
			}
			return fmt.Sprintf("%s %q", name, *v)
		}
		t.Errorf("%s: carries %s and %s, want type %q and relatedTransactionID %q, the idempotencyKey sent: "+
			"Formance files the %s as a payment keyed by its idempotencyKey and joins this row to it only through relatedTransactionID and the same type; "+
			"otherwise Formance keeps it as a second, unrelated payment and the payment initiation stays PENDING for ever",
			where, has("type", row.Type), has("relatedTransactionID", row.Related), wr.txType, w.key, wr.object)
	}
}

// checkConcurrent sends concurrentDuplicates identical POSTs at once: all that succeed must name one
// id, and every other answer must be one Formance retries (408, 421, 423, 425, 429 or a 5xx): any
// other non-2xx, 409 included, is final, and Formance would mark the payout FAILED while its first
// copy may still move money. It returns the payout (transfer) created, if one was.
func (s *suite) checkConcurrent(t tb, wr writeRoute, currency models.Asset) (createdWrite, bool) {
	key := fmt.Sprintf("%s-%s-concurrent", s.runID, wr.object)
	data, _ := json.Marshal(s.writeBody(wr, key, "100", currency))
	label := fmt.Sprintf("POST %s (idempotencyKey=%s) sent %d times at once", wr.path, key, concurrentDuplicates)
	type answer struct {
		status int
		id     string
		body   []byte
		err    error
	}
	answers := make([]answer, concurrentDuplicates)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			res, err := s.c.do(t.Context(), request{method: "POST", path: wr.path, body: data})
			a := answer{status: res.status, body: res.body, err: err}
			if err == nil && is2xx(res.status) {
				a.id = rawID(res.body)
			}
			answers[i] = a
		})
	}
	wg.Wait()
	ids := make(map[string]int)
	var order []string
	retries := make(map[int]int) // status -> answers
	finals := make(map[int]int)
	finalBody := make(map[int][]byte)
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("%s: %v", label, a.err)
		case is2xx(a.status):
			if ids[a.id] == 0 {
				order = append(order, a.id)
			}
			ids[a.id]++
		case retried(a.status):
			retries[a.status]++
		default:
			if finals[a.status] == 0 {
				finalBody[a.status] = a.body
			}
			finals[a.status]++
		}
	}
	for _, status := range slices.Sorted(maps.Keys(finals)) {
		t.Errorf("%s: %d answered %d, a final error: Formance would mark the %s FAILED while the first request may still move money; "+
			"answer a duplicate whose first copy is still in flight with a status Formance retries (423 Locked with Retry-After, 429 or a 5xx), and the first answer once it is known: %s",
			label, finals[status], status, wr.object, bodySnippet(finalBody[status]))
	}
	if len(retries) > 0 {
		var parts []string
		for _, status := range slices.Sorted(maps.Keys(retries)) {
			parts = append(parts, fmt.Sprintf("%d × %d", retries[status], status))
		}
		t.Logf("%s: answered %s, asking for a retry (Formance retries them)", label, strings.Join(parts, ", "))
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
		return createdWrite{}, false
	}
	if order[0] == "" {
		return createdWrite{}, false
	}
	return createdWrite{id: order[0], key: key, how: fmt.Sprintf("POST %s (idempotencyKey=%s)", wr.path, key)}, true
}
