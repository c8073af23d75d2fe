package connectortest

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// formanceAsset is the pattern Formance's engine requires of every asset: stricter than the UMN
// form the client decodes (at most 17 characters of code, one "_" suffix of letters, 1 to 6 digits
// of precision).
var formanceAsset = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,16}(_[A-Z]{1,16})?(/[0-9]{1,6})?$`)

// assetProblem returns why Formance refuses asset, or "".
func assetProblem(asset string) string {
	if formanceAsset.MatchString(asset) {
		return ""
	}
	return fmt.Sprintf("asset %q does not match Formance's pattern %s: Formance's client decodes it, but its engine refuses it and the batch holding it fails", asset, formanceAsset)
}

// checkEngine: what Formance's engine refuses although its client decodes it (see the contract,
// "What the engine does with the answers").
func (s *suite) checkEngine(t tb) {
	ref := s.reference(t)
	accounts, beneficiaries, txs := ref[routeAccounts.path], ref[routeBeneficiaries.path], ref[routeTransactions.path]

	// One id space for accounts and beneficiaries.
	f := newFindings(t)
	accountAt := make(map[string]listItem, len(accounts.items))
	for _, it := range accounts.items {
		if it.id != "" {
			accountAt[it.id] = it
		}
	}
	seen := make(map[string]bool)
	for _, b := range beneficiaries.items {
		a, shared := accountAt[b.id]
		if !shared || seen[b.id] {
			continue
		}
		seen[b.id] = true
		f.errorf("%s: beneficiary %s has the id of an account (%s): Formance keeps accounts and beneficiaries in one id space and stores only the first version of an id, so one of the two is never stored; give them distinct ids (a prefix per kind, say)",
			beneficiaries.pages[b.page-1].req, b.id, accounts.pages[a.page-1].req)
	}
	f.flush("accounts and beneficiaries sharing ids")

	// Assets of transactions.
	f = newFindings(t)
	for _, it := range txs.items {
		var tx struct {
			Currency string `json:"currency"`
		}
		if json.Unmarshal(it.raw, &tx) != nil || tx.Currency == "" {
			continue // the schema check reports it
		}
		if p := assetProblem(tx.Currency); p != "" {
			f.errorf("%s: transaction %s: %s", txs.pages[it.page-1].req, describeID(it), p)
		}
	}
	f.flush("transaction assets")

	// Balances, polled twice.
	type poll struct {
		req  request
		at   time.Time
		byCy map[string]string // asset -> amount
	}
	read := func(id string) (poll, bool) {
		r := request{method: "GET", path: balancesPath(id)}
		res, err := s.c.do(t.Context(), r)
		if err != nil || res.status != 200 {
			return poll{}, false // the schema check reports it
		}
		var b struct {
			At       time.Time `json:"at"`
			Balances []struct {
				Amount   string `json:"amount"`
				Currency string `json:"currency"`
			} `json:"balances"`
		}
		if json.Unmarshal(res.body, &b) != nil {
			return poll{}, false
		}
		p := poll{req: r, at: b.At.Truncate(time.Microsecond), byCy: make(map[string]string)}
		for _, bal := range b.Balances {
			if pr := assetProblem(bal.Currency); pr != "" {
				f.errorf("%s: balance: %s", r, pr)
			}
			if prev, dup := p.byCy[bal.Currency]; dup && prev != bal.Amount {
				f.errorf("%s: two balances of asset %s with \"at\" %s, amounts %s and %s: Formance keys a balance by (account, at to the microsecond, asset), so the second fails the balances run",
					r, bal.Currency, formatTime(b.At), prev, bal.Amount)
			}
			p.byCy[bal.Currency] = bal.Amount
		}
		return p, true
	}
	f = newFindings(t)
	var ids []string
	done := make(map[string]bool)
	for _, a := range accounts.items {
		if a.id != "" && !done[a.id] {
			done[a.id] = true
			ids = append(ids, a.id)
		}
	}
	first := make(map[string]poll, len(ids))
	for _, id := range ids {
		if p, ok := read(id); ok {
			first[id] = p
		}
	}
	for _, id := range ids {
		p1, ok := first[id]
		if !ok {
			continue
		}
		p2, ok := read(id)
		if !ok || !p1.at.Equal(p2.at) {
			continue
		}
		for _, asset := range slices.Sorted(maps.Keys(p2.byCy)) {
			amount := p2.byCy[asset]
			if before, ok := p1.byCy[asset]; ok && before != amount {
				f.errorf("%s: asked twice, answered \"at\" %s both times, with amount %s then %s for %s: Formance keys a balance by (account, at to the microsecond, asset), so the second answer fails the balances run and the balances of the account stop updating; give \"at\" the time the balances were read, or move it with every change",
					p2.req, formatTime(p2.at), before, amount, asset)
			}
		}
	}
	f.flush("balances")
}
