package connectortest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

var zeroTime time.Time

// route is one route of the contract, for the auth check.
type route struct {
	req      request
	optional bool // a write route or an extension: may be absent
	list     bool // a list route: 200 with an empty array is the empty dataset
	balances bool // the balances of an account of the key's dataset
}

// credential is one way the auth check presents itself without the right key.
type credential struct {
	desc    string   // "with a wrong API key", for messages; never shows the key
	headers []string // the Authorization headers sent, in order; none when empty
	// another: it names another key, which an open-tenancy server takes as its own (empty) dataset.
	another bool
	// ambiguous: 400 is as good as 401 (two Authorization headers).
	ambiguous bool
}

const wrongKey = "connectortest-wrong-key"

// credentials returns the wrong ways to authenticate that the auth check tries: none, a made-up
// key, keys close to the right one key, malformed headers, and a second header.
func credentials(key string) []credential {
	bearer := func(k string) []string { return []string{"Bearer " + k} }
	out := []credential{
		{desc: "without Authorization header"},
		{desc: "with a wrong API key", headers: bearer(wrongKey), another: true},
	}
	if len(key) > 1 {
		out = append(out, credential{desc: "with only the first character of the API key", headers: bearer(key[:1]), another: true})
	}
	if len(key) > 2 {
		out = append(out, credential{desc: "with the API key without its last character", headers: bearer(key[:len(key)-1]), another: true})
	}
	out = append(out, credential{desc: "with the API key followed by one more character", headers: bearer(key + "x"), another: true})
	if other := swapCase(key); other != key {
		out = append(out, credential{desc: "with the API key in another case", headers: bearer(other), another: true})
	}
	return append(out,
		credential{desc: "with an empty bearer token (\"Authorization: Bearer\")", headers: []string{"Bearer"}},
		credential{desc: "with the API key under the Basic scheme (\"Authorization: Basic <key>\")", headers: []string{"Basic " + key}},
		credential{desc: "with two Authorization headers, a wrong key first and the API key second", headers: []string{"Bearer " + wrongKey, "Bearer " + key}, another: true, ambiguous: true},
	)
}

// swapCase returns s with the case of every ASCII letter swapped.
func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// checkAuth: every route answers 401 with an error body without the key and with wrong keys (or,
// with Options.OpenTenancy, the empty dataset of another key).
func (s *suite) checkAuth(t tb) {
	ctx := t.Context()
	accountID := "connectortest-no-such-account"
	if raws, err := getList(ctx, s.c, walkRequest(routeAccounts, 1, 1, zeroTime)); err == nil && len(raws) > 0 && rawID(raws[0]) != "" {
		accountID = rawID(raws[0])
	}
	known := make(map[string]bool) // ids of the key's dataset
	for _, l := range s.reference(t) {
		for _, it := range l.items {
			known[it.id] = true
		}
	}
	list := func(rs routeSpec) route { return route{req: walkRequest(rs, 1, 1, zeroTime), list: true} }
	post := func(path string) route {
		return route{req: request{method: "POST", path: path, body: []byte("{}")}, optional: true}
	}
	get := func(path string) route { return route{req: request{method: "GET", path: path}, optional: true} }
	routes := []route{
		list(routeAccounts),
		{req: request{method: "GET", path: balancesPath(accountID)}, balances: true},
		list(routeBeneficiaries),
		list(routeTransactions),
		post("/payouts"),
		post("/transfers"),
		get("/payouts/connectortest-no-such-payout"),
		get("/transfers/connectortest-no-such-transfer"),
		post("/bank-accounts"),
	}
	for _, rt := range routes {
		for _, cr := range credentials(s.c.key) {
			r := rt.req
			r.auth, r.header = authRaw, cr.headers
			if len(cr.headers) == 0 {
				r.auth = authNone
			}
			res, err := s.c.do(ctx, r)
			if err != nil {
				t.Errorf("%s %s: %v", r, cr.desc, err)
				continue
			}
			if s.opts.OpenTenancy && cr.another && res.status != 401 {
				if p := openTenancyProblem(rt, res, known); p != "" {
					t.Errorf("%s %s: %s (Options.OpenTenancy: another key must get 401 or its own, empty dataset)", r, cr.desc, p)
				}
				continue
			}
			switch {
			case res.status == 401 || (cr.ambiguous && res.status == 400):
				if p := checkErrorBody(res.body); p != "" {
					t.Errorf("%s %s: %d as it should, but %s", r, cr.desc, res.status, p)
				}
			case res.status >= 200 && res.status < 300:
				hint := ""
				if leaked := leakedIDs(res.body, known); len(leaked) > 0 {
					hint = fmt.Sprintf(" (it shows the API key's data: %s)", firstIDs(leaked, 3))
				} else if cr.another && rt.list {
					hint = " (if every API key is its own dataset, as on Formance's mock PSP, set Options.OpenTenancy: pspconnect check -open-tenancy)"
				}
				t.Errorf("%s %s: answered %d, want 401: the middleware serves anyone%s", r, cr.desc, res.status, hint)
			case rt.optional && (res.status == 404 || res.status == 405 || res.status == 501):
				// Maybe the route is not offered at all: then it answers the same with the key.
				valid := rt.req
				valid.auth = authValid
				vres, err := s.c.do(ctx, valid)
				if err != nil || vres.status != res.status {
					got := "no answer"
					if err == nil {
						got = strconv.Itoa(vres.status)
					}
					t.Errorf("%s %s: answered %d, want 401 (with the API key it answers %s, so the route exists)", r, cr.desc, res.status, got)
				}
			default:
				t.Errorf("%s %s: answered %d, want 401: %s", r, cr.desc, res.status, bodySnippet(res.body))
			}
		}
	}
}

// leakedIDs returns the ids of known items in a list answer body.
func leakedIDs(body []byte, known map[string]bool) []string {
	var raws []json.RawMessage
	if json.Unmarshal(body, &raws) != nil {
		return nil
	}
	var out []string
	for _, raw := range raws {
		if id := rawID(raw); id != "" && known[id] {
			out = append(out, id)
		}
	}
	return out
}

// openTenancyProblem says what is wrong with the answer res to another key on an open-tenancy server
// (anything but 401), or "": lists must be empty, the balances of the key's account and writes must
// be refused with a 4xx.
func openTenancyProblem(rt route, res response, known map[string]bool) string {
	switch {
	case res.status >= 500:
		return fmt.Sprintf("answered %d: %s", res.status, bodySnippet(res.body))
	case rt.list && res.status == 200:
		var raws []json.RawMessage
		if json.Unmarshal(res.body, &raws) != nil {
			return "answered 200 without a JSON array: " + bodySnippet(res.body)
		}
		leaked := leakedIDs(res.body, known)
		switch {
		case len(leaked) > 0:
			return fmt.Sprintf("answered 200 with %s of the API key's dataset: another key must never see it", firstIDs(leaked, 3))
		case len(raws) > 0:
			return fmt.Sprintf("answered 200 with %d items, want an empty list for a key never used before", len(raws))
		}
		return ""
	case rt.list:
		return fmt.Sprintf("answered %d, want 401 or 200 with an empty list", res.status)
	case res.status >= 200 && res.status < 300 && rt.balances:
		return fmt.Sprintf("answered %d with the balances of an account of the API key's dataset, want 404 (no such account for this key) or 401", res.status)
	case res.status >= 200 && res.status < 300:
		return fmt.Sprintf("answered %d, want 401 or a 4xx (the request is empty and names nothing of this key's dataset)", res.status)
	}
	return "" // a 4xx: refused
}

// checkSchema: every item and every account's balances against the contract.
func (s *suite) checkSchema(t tb) {
	ctx := t.Context()
	ref := s.reference(t)
	for _, rs := range listRoutes {
		f := newFindings(t)
		r := walkRequest(rs, 1, 1, zeroTime)
		if res, err := s.c.do(ctx, r); err == nil && res.status == 200 {
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				f.errorf("%s: Content-Type is %q, want application/json", r, ct)
			}
		}
		l := ref[rs.path]
		for _, it := range l.items {
			for _, p := range checkObject(it.raw, rs.fields, "") {
				f.errorf("%s: %s %s: %s", l.pages[it.page-1].req, rs.object, describeID(it), p)
			}
		}
		f.flush(rs.path)
	}
	accounts := ref[routeAccounts.path].items
	if len(accounts) == 0 {
		t.Errorf("%s: no accounts listed: the schema of balances cannot be checked; give the middleware at least one account", walkRequest(routeAccounts, 1, s.refSize, zeroTime))
	}
	f := newFindings(t)
	checked := make(map[string]bool)
	for _, a := range accounts {
		if a.id == "" || checked[a.id] {
			continue
		}
		checked[a.id] = true
		r := request{method: "GET", path: balancesPath(a.id)}
		res, err := s.c.do(ctx, r)
		if err != nil {
			f.errorf("%s: %v", r, err)
			continue
		}
		if res.status != 200 {
			f.errorf("%s: answered %d, want 200: every listed account must have balances (Formance asks for them after every accounts fetch): %s", r, res.status, bodySnippet(res.body))
			continue
		}
		for _, p := range checkObject(res.body, balancesFields, "") {
			f.errorf("%s: balances: %s", r, p)
		}
		var b struct {
			AccountID *string `json:"accountID"`
		}
		if json.Unmarshal(res.body, &b) == nil && b.AccountID != nil && *b.AccountID != a.id {
			f.errorf("%s: field \"accountID\" is %q, want %q, the account of the path (Formance files the balances under accountID)", r, *b.AccountID, a.id)
		}
	}
	f.flush("balances")

	r := request{method: "GET", path: balancesPath("connectortest-no-such-account")}
	res, err := s.c.do(ctx, r)
	switch {
	case err != nil:
		t.Errorf("%s: %v", r, err)
	case res.status >= 500:
		t.Errorf("%s: answered %d for an unknown account, want 404: %s", r, res.status, bodySnippet(res.body))
	case res.status >= 400:
		if p := checkErrorBody(res.body); p != "" {
			t.Errorf("%s: answered %d, but %s", r, res.status, p)
		}
	default:
		t.Logf("%s: answered %d for an unknown account (404 expected by the library's providers)", r, res.status)
	}
}

func describeID(it listItem) string {
	if it.id == "" {
		return "(no id)"
	}
	return it.id
}

// checkParameters: malformed parameters answer 400 with an error body, never 200 or 5xx.
func (s *suite) checkParameters(t tb) {
	ctx := t.Context()
	for _, rs := range listRoutes {
		from := string(rs.field) + "From"
		cases := []struct{ name, value, why string }{
			{"page", "0", "page must be >= 1"},
			{"page", "-1", "page must be >= 1"},
			{"page", "abc", "page must be an integer"},
			{"pageSize", "0", "pageSize must be >= 1"},
			{"sort", "bogus:asc", "unknown sort field"},
			{"sort", string(rs.field) + ":sideways", "unknown sort direction"},
			{from, "2024-01-01 10:00:00", "not RFC 3339: the client could not decode such times either"},
			{from, "1700000000", "a Unix number is not RFC 3339"},
		}
		if s.opts.MaxPageSize > 0 {
			cases = append(cases, struct{ name, value, why string }{"pageSize", strconv.Itoa(s.opts.MaxPageSize + 1),
				fmt.Sprintf("above the maximum %d: refuse it, never cap it silently (Options.MaxPageSize sets the maximum Run expects)", s.opts.MaxPageSize)})
		}
		for _, c := range cases {
			r := walkRequest(rs, 1, 10, zeroTime)
			replaced := false
			for i, p := range r.params {
				if p.name == c.name {
					r.params[i].value = c.value
					replaced = true
				}
			}
			if !replaced {
				r.params = append(r.params, param{c.name, c.value})
			}
			res, err := s.c.do(ctx, r)
			switch {
			case err != nil:
				t.Errorf("%s: %v", r, err)
			case res.status == 400:
				if p := checkErrorBody(res.body); p != "" {
					t.Errorf("%s: 400 as it should, but %s", r, p)
				}
			case res.status >= 500:
				t.Errorf("%s: answered %d, want 400 (%s): a bad parameter is the client's fault, not a server error", r, res.status, c.why)
			case res.status >= 200 && res.status < 300:
				t.Errorf("%s: answered %d, want 400 (%s): a bad parameter must be refused, not ignored", r, res.status, c.why)
			default:
				t.Errorf("%s: answered %d, want 400 (%s)", r, res.status, c.why)
			}
		}
	}
}

// walkLabel names a whole walk: "GET /accounts?page=1..12&pageSize=7&sort=createdAt:asc".
func walkLabel(l *listing) string {
	r := walkRequest(l.route, 1, l.pageSize, l.from)
	r.params[0].value = "1.." + strconv.Itoa(max(len(l.pages), 1))
	return r.String()
}

// checkOrder: ascending by the time field across all pages, and …From inclusive.
func (s *suite) checkOrder(t tb, pageSize int) {
	ctx := t.Context()
	ref := s.reference(t)
	for _, rs := range listRoutes {
		f := newFindings(t)
		l, err := s.walkAll(s.ctx, rs, pageSize)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		var prev *listItem
		for i := range l.items {
			it := &l.items[i]
			if !it.atOK {
				continue // the schema check reports it
			}
			if prev != nil && it.at.Before(prev.at) {
				where := "earlier on the same page"
				if prev.page != it.page {
					where = fmt.Sprintf("on page %d", prev.page)
				}
				f.errorf("%s: %s comes after %s %s: not sorted ascending by %s", l.pages[it.page-1].req, it.label(rs), prev.label(rs), where, rs.field)
			}
			prev = it
		}
		f.flush(walkLabel(l) + ": order")

		for _, from := range fromValues(ref[rs.path].items) {
			lf, capped, err := walkFull(ctx, s.c, rs, pageSize, from)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			got := make(map[string]bool, len(lf.items))
			for _, it := range lf.items {
				got[it.key] = true
				if it.atOK && it.at.Before(from) {
					f.errorf("%s: %s is before %s=%s", lf.pages[it.page-1].req, it.label(rs), fromName(rs), formatFrom(from))
				}
			}
			bad := tilingFault(lf)
			if capped > 0 {
				bad = fmt.Sprintf("pages hold at most %d items", capped)
			}
			if s.opts.Live && bad == "" {
				bad = "Options.Live: the data moves, so walks are not compared with the full listing"
			}
			if bad != "" {
				t.Logf("%s: inclusiveness of %s not checked at this page size: %s (see the tiling check)", walkLabel(lf), fromName(rs), bad)
				continue
			}
			for _, it := range ref[rs.path].items {
				if !it.atOK || it.at.Before(from) || got[it.key] {
					continue
				}
				why := "it is after " + fromName(rs)
				if it.at.Equal(from) {
					why = fmt.Sprintf("it is exactly at %s, which is inclusive (Formance sends S truncated to the second and expects items at S)", fromName(rs))
				}
				f.errorf("%s: %s missing: %s", walkLabel(lf), it.label(rs), why)
			}
			f.flush(walkLabel(lf))
		}
	}
}

func fromName(rs routeSpec) string { return string(rs.field) + "From" }

// fromValues picks …From values from the data as Formance would send them: the times of the items
// in the middle, at three quarters and at the end of the data, truncated to the second.
func fromValues(items []listItem) []time.Time {
	var times []time.Time
	for _, it := range items {
		if it.atOK {
			times = append(times, it.at)
		}
	}
	if len(times) == 0 {
		return nil
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	n := len(times)
	var out []time.Time
	for _, i := range []int{n / 2, 3 * n / 4, n - 1} {
		from := times[i].Truncate(time.Second)
		if from.IsZero() || slices.ContainsFunc(out, from.Equal) {
			continue
		}
		out = append(out, from)
	}
	return out
}

// checkTiling: pages 1..n tile the full listing.
func (s *suite) checkTiling(t tb, pageSize int) {
	ctx := t.Context()
	ref := s.reference(t)
	for _, rs := range listRoutes {
		f := newFindings(t)
		l, err := s.walkAll(s.ctx, rs, pageSize)
		if err != nil {
			t.Errorf("%v", err)
		}
		first := make(map[string]int)
		for i, p := range l.pages {
			page := i + 1
			if len(p.items) > pageSize {
				f.errorf("%s: %d items, more than pageSize=%d", p.req, len(p.items), pageSize)
			}
			if len(p.items) > 0 && len(p.items) < pageSize && i+1 < len(l.pages) && len(l.pages[i+1].items) > 0 && !s.grewSince(ctx, p, pageSize) {
				f.errorf("%s: %d items, fewer than pageSize=%d, yet page %d has %d more: Formance reads a short page as the end of the data (is pageSize silently capped at %d?)",
					p.req, len(p.items), pageSize, page+1, len(l.pages[i+1].items), len(p.items))
			}
			for _, it := range p.items {
				if it.id == "" || s.opts.Live {
					continue
				}
				if fp, ok := first[it.key]; ok {
					if fp == page {
						f.errorf("%s: %s twice on this page", p.req, it.id)
					} else {
						f.errorf("%s: %s also on page %d", p.req, it.id, fp)
					}
					continue
				}
				first[it.key] = page
			}
		}
		if err == nil && !s.opts.Live {
			full := ref[rs.path]
			inFull := make(map[string]bool, len(full.items))
			var missing []listItem
			for _, it := range full.items {
				inFull[it.key] = true
				if _, ok := first[it.key]; !ok && it.id != "" {
					missing = append(missing, it)
				}
			}
			if n := len(l.pages[0].items); len(missing) > 0 && n > 0 && n < pageSize && len(l.pages) == 2 {
				// Page 1 short, page 2 empty, and items missing: a silent cap at n.
				f.errorf("%s: %d items, fewer than pageSize=%d, and page 2 is empty, yet the full listing (%s) has %d items, %d of them on no page (the first: %s): "+
					"pageSize is silently capped at %d; Formance reads a short page as the end of the data, so a client asking for pageSize=%d never sees them: answer pageSize items, or refuse a pageSize above the maximum with 400",
					l.pages[0].req, n, pageSize, walkLabel(full), len(full.items), len(missing), missing[0].label(rs), n, pageSize)
				missing = nil
			}
			for _, it := range missing {
				f.errorf("%s: %s is in the full listing (%s) but on no page", walkLabel(l), it.label(rs), walkLabel(full))
			}
			for _, it := range l.items {
				if it.id != "" && !inFull[it.key] {
					f.errorf("%s: %s is on page %d but not in the full listing (%s)", walkLabel(l), it.label(rs), it.page, walkLabel(full))
					inFull[it.key] = true
				}
			}
		}
		f.flush(walkLabel(l))
	}
}

// grewSince reports, on moving data (Options.Live), whether the short page p is full when asked
// again: items arrived between the request of p and that of the next page, which is no fault.
func (s *suite) grewSince(ctx context.Context, p listPage, pageSize int) bool {
	if !s.opts.Live {
		return false
	}
	raws, err := getList(ctx, s.c, p.req)
	return err == nil && len(raws) >= pageSize
}

// tilingFault returns why the pages of l do not tile (a page longer than pageSize, a short page
// followed by more items, an item on two pages), or "". Items missing from such a walk are the
// tiling check's findings, not the order check's.
func tilingFault(l *listing) string {
	seen := make(map[string]int)
	for i, p := range l.pages {
		if len(p.items) > l.pageSize {
			return fmt.Sprintf("page %d has more than pageSize items", i+1)
		}
		if len(p.items) > 0 && len(p.items) < l.pageSize && i+1 < len(l.pages) && len(l.pages[i+1].items) > 0 {
			return fmt.Sprintf("page %d is short but page %d is not empty", i+1, i+2)
		}
		for _, it := range p.items {
			if fp, ok := seen[it.key]; ok && it.id != "" {
				return fmt.Sprintf("%s is on page %d and page %d", it.id, fp, i+1)
			}
			seen[it.key] = i + 1
		}
	}
	return ""
}
