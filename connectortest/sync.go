package connectortest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// delivered is one item a poller delivered, reduced to what the sync check compares.
type delivered struct {
	id     string
	at     time.Time
	status models.TransactionStatus // transactions only
}

func deliveredOf(cy Cycle, rs routeSpec) []delivered {
	var out []delivered
	switch rs.path {
	case routeAccounts.path:
		for _, a := range cy.Accounts {
			out = append(out, delivered{id: a.ID, at: a.CreatedAt})
		}
	case routeBeneficiaries.path:
		for _, b := range cy.Beneficiaries {
			out = append(out, delivered{id: b.ID, at: b.CreatedAt})
		}
	case routeTransactions.path:
		for _, tx := range cy.Transactions {
			out = append(out, delivered{id: tx.ID, at: tx.UpdatedAt, status: tx.Status})
		}
	}
	return out
}

// newBorrowedPoller returns a Poller that uses an open connection it must not close.
func newBorrowedPoller(c *conn, pageSize int, mode WatermarkMode) *Poller {
	return &Poller{pageSize: pageSize, mode: mode, conn: c, maxPages: MaxPagesPerFetch}
}

// pollerLabel names a poller in messages: "pageSize=7", or "inclusive-watermark poller, pageSize=7".
func pollerLabel(p *Poller) string {
	if p.Watermark() == InclusiveWatermark {
		return fmt.Sprintf("inclusive-watermark poller, pageSize=%d", p.PageSize())
	}
	return fmt.Sprintf("pageSize=%d", p.PageSize())
}

// checkSync: a poller syncing from scratch receives everything exactly once, then nothing.
func (s *suite) checkSync(t tb, pageSize int, mode WatermarkMode) {
	ctx := t.Context()
	before, err := s.snapshot(ctx)
	if err != nil {
		t.Errorf("reading the full listings (pageSize=%d): %v", s.refSize, err)
		return
	}
	p := newBorrowedPoller(s.c, pageSize, mode)
	s.observe(fmt.Sprintf("the full listings read before the sync of the %s", pollerLabel(p)), before)
	expect := make(map[string]map[string]listItem)
	for _, rs := range listRoutes {
		expect[rs.path] = byID(before[rs.path].items)
	}
	if !s.cycle(t, p, "first polling cycle (from scratch)", expect, before, nil) {
		return
	}
	none := map[string]map[string]listItem{}
	s.cycle(t, p, "second polling cycle (nothing changed)", none, before, before)
}

// byID returns the latest version of each item of a listing: the last one listed, since a listing
// is sorted ascending by its time field (a transaction's earlier slots come before its latest).
func byID(items []listItem) map[string]listItem {
	m := make(map[string]listItem, len(items))
	for _, it := range items {
		m[it.id] = it
	}
	return m
}

// diff returns the items of after that Formance must fetch again: new ids and, for transactions,
// changed content. It reports changed transactions whose updatedAt did not move past the poller's
// state, which Formance never fetches.
func diff(t tb, rs routeSpec, before, after *listing, st State) map[string]listItem {
	old := byID(before.items)
	out := make(map[string]listItem)
	latest := byID(after.items)
	for _, id := range sortedIDs(latest) {
		it := latest[id]
		prev, existed := old[it.id]
		switch {
		case !existed:
			out[it.id] = it
		case bytes.Equal(canonical(prev.raw), canonical(it.raw)):
		case rs.path == routeTransactions.path:
			out[it.id] = it
		default:
			t.Logf("%s %s changed; Formance fetches %ss once, by %s, and does not see changes to them", rs.object, it.id, rs.object, rs.field)
		}
	}
	return out
}

// canonical re-encodes a JSON value with sorted keys, for comparing two versions of an item.
func canonical(raw json.RawMessage) []byte {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// cycle runs one polling cycle and compares what it delivered with expect (route path -> id -> the
// item in its latest state); listings holds the full listings the data was read from, and old those
// of the previous cycle (nil for the first). It reports lost, duplicated, stale and unexpected items
// and returns false when the cycle itself failed.
//
// With Options.Live only what holds on moving data is compared: every expected id arrives, in any
// version, and no account, beneficiary or version of a transaction arrives twice.
func (s *suite) cycle(t tb, p *Poller, label string, expect map[string]map[string]listItem, listings, old map[string]*listing) bool {
	t.Helper()
	stBefore := p.State()
	cy, err := p.Cycle(t.Context())
	if err != nil {
		var fe *FetchError
		hint := ""
		if errors.As(err, &fe) {
			hint = ": Formance fails this fetch and retries it forever, so the sync stalls here"
		}
		t.Errorf("%s: %s: %v%s", pollerLabel(p), label, err, hint)
		return false
	}
	s.compareCycle(t, p, cy, stBefore, label, expect, listings, old, "")
	return true
}

// compareCycle compares what the cycle cy delivered with expect, as cycle does. why, when set,
// explains every loss instead of explainLoss.
func (s *suite) compareCycle(t tb, p *Poller, cy Cycle, stBefore State, label string, expect map[string]map[string]listItem, listings, old map[string]*listing, why string) {
	t.Helper()
	live := s.opts.Live
	pl := pollerLabel(p)
	for _, rs := range listRoutes {
		f := newFindings(t)
		want := expect[rs.path]
		all := byID(listings[rs.path].items)
		var existed map[string]listItem
		if old != nil {
			existed = byID(old[rs.path].items)
		}
		got := deliveredOf(cy, rs)
		count := make(map[string]int)
		last := make(map[string]delivered)
		for i, d := range got {
			count[d.id]++
			if count[d.id] > 1 {
				prev := last[d.id]
				if rs.path != routeTransactions.path || (prev.at.Equal(d.at) && prev.status == d.status) {
					f.errorf("%s: %s: %s %s delivered %d times (%s %s): a duplicate", pl, label, rs.object, d.id, count[d.id], rs.field, d.at.Format(time.RFC3339Nano))
				}
			}
			last[d.id] = d
			if _, ok := want[d.id]; !ok && count[d.id] == 1 && !live {
				if _, listed := all[d.id]; listed {
					f.errorf("%s: %s: %s %s (%s %s) delivered again although it did not change: a duplicate", pl, label, rs.object, d.id, rs.field, d.at.Format(time.RFC3339Nano))
				} else {
					f.errorf("%s: %s: %s %s delivered (item %d of the cycle) but it is not in the full listing", pl, label, rs.object, d.id, i+1)
				}
			}
		}
		for _, id := range sortedIDs(want) {
			it := want[id]
			d, ok := last[id]
			if !ok {
				reason := why
				if reason == "" {
					reason = explainLoss(cy, rs, it, stBefore, p, existed)
				}
				f.errorf("%s: %s: %s %s never arrived: %s", pl, label, rs.object, it.label(rs), reason)
				continue
			}
			if live {
				continue // a later version may have arrived
			}
			if it.atOK && !d.at.Equal(it.at) {
				f.errorf("%s: %s: %s %s arrived with %s %s, but the full listing has %s", pl, label, rs.object, id, rs.field, d.at.Format(time.RFC3339Nano), it.at.Format(time.RFC3339Nano))
			} else if rs.path == routeTransactions.path {
				var latest struct {
					Status models.TransactionStatus `json:"status"`
				}
				if json.Unmarshal(it.raw, &latest) == nil && latest.Status != d.status {
					f.errorf("%s: %s: transaction %s arrived with status %s, but its latest status is %s", pl, label, id, d.status, latest.Status)
				}
			}
		}
		f.flush(fmt.Sprintf("%s: %s: %s", pl, label, rs.path))
	}
}

// explainLoss says why the poller did not deliver it: which fetch moved S past it, or where the
// poller stopped. existed holds the items of the previous listing, to tell a change from a new item.
func explainLoss(cy Cycle, rs routeSpec, it listItem, stBefore State, p *Poller, existed map[string]listItem) string {
	if !it.atOK {
		return "its " + string(rs.field) + " cannot be read"
	}
	pageSize := p.PageSize()
	start := stateOf(stBefore, rs)
	if p.Watermark() == InclusiveWatermark {
		return explainInclusiveLoss(cy, rs, it, start, markOf(stBefore, rs), existed)
	}
	if !it.at.After(start) {
		if prev, ok := existed[it.id]; ok {
			return fmt.Sprintf("it changed, but its %s is %s, not after S=%s, the %s of the last %s Formance kept; Formance keeps only items strictly after S, so a change must move %s strictly forward, past every item already served",
				rs.field, formatTime(it.at), formatTime(start), rs.field, rs.object, rs.field) + sameTime(prev, it)
		}
		return fmt.Sprintf("it is new, but its %s is %s, not after S=%s, the %s of the last %s Formance kept; Formance keeps only items strictly after S, so a new item must come after every item already served (two items with one %s are the usual cause)",
			rs.field, formatTime(it.at), formatTime(start), rs.field, rs.object, rs.field)
	}
	var lastFetch *Fetch
	for i := range cy.Fetches {
		f := &cy.Fetches[i]
		if f.Path != rs.path {
			continue
		}
		lastFetch = f
		if f.Kept == 0 || !it.at.After(f.Before) || it.at.After(f.After) {
			continue
		}
		first := f.Requests[0].String()
		if it.at.Equal(f.After) {
			return fmt.Sprintf("the fetch %s (%s) cut its result after another %s with the same %s and set S to that time; Formance keeps only items strictly after S, so this one is skipped forever (give every item a unique %s)",
				first, describeS(f.Before), rs.object, rs.field, rs.field)
		}
		return fmt.Sprintf("the fetch %s moved the poller's S from %s to %s, past it, without delivering it",
			first, formatTime(f.Before), formatTime(f.After))
	}
	if lastFetch == nil || len(lastFetch.Requests) == 0 {
		return "the poller never fetched " + rs.path
	}
	lr := lastFetch.Requests[len(lastFetch.Requests)-1]
	return fmt.Sprintf("the poller stopped with S=%s: its last fetch ended with %s, which answered %d items; a page shorter than pageSize=%d means \"no more data\" to Formance",
		formatTime(lastFetch.After), lr, lr.Items, pageSize)
}

// sameTime adds a hint when a changed item kept its time.
func sameTime(prev, it listItem) string {
	if prev.atOK && prev.at.Equal(it.at) {
		return " (it kept its previous time)"
	}
	return ""
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano)
}

func describeS(s time.Time) string {
	if s.IsZero() {
		return "S zero: the first fetch"
	}
	return "S=" + formatTime(s)
}

// explainInclusiveLoss is explainLoss for an inclusive-watermark poller.
func explainInclusiveLoss(cy Cycle, rs routeSpec, it listItem, start time.Time, m Mark, existed map[string]listItem) string {
	if it.at.Before(start) {
		what := "it is new"
		if _, ok := existed[it.id]; ok {
			what = "it changed"
		}
		return fmt.Sprintf("%s, but its %s is %s, before S=%s, the %s of the last %s kept (%s); even the inclusive-watermark poller skips what sorts before the last item it kept",
			what, rs.field, formatTime(it.at), formatTime(start), rs.field, rs.object, m.ID)
	}
	if it.at.Equal(start) {
		return fmt.Sprintf("its %s is S=%s, the %s of the last %s kept (%s): the inclusive-watermark poller keeps, at S, only the items listed after %s (is the tie order of equal times not stable?)",
			rs.field, formatTime(start), rs.field, rs.object, m.ID, m.ID)
	}
	for _, f := range cy.Fetches {
		if f.Path != rs.path || f.Kept == 0 || it.at.Before(f.Before) || it.at.After(f.After) {
			continue
		}
		return fmt.Sprintf("the fetch %s (S=%s, last id %q, from page %d) moved S to %s (last id %q) without delivering it: the listing did not hold it where the poller read",
			f.Requests[0].String(), formatTime(f.Before), f.BeforeMark.ID, max(f.BeforeMark.Page, 1), formatTime(f.After), f.AfterMark.ID)
	}
	end, endMark := start, m
	for _, f := range cy.Fetches {
		if f.Path == rs.path {
			end, endMark = f.After, f.AfterMark
		}
	}
	return fmt.Sprintf("the poller stopped with S=%s (last id %q) without reaching it: a page shorter than pageSize means \"no more data\"", formatTime(end), endMark.ID)
}

func markOf(st State, rs routeSpec) Mark {
	switch rs.path {
	case routeAccounts.path:
		return st.AccountsMark
	case routeBeneficiaries.path:
		return st.BeneficiariesMark
	}
	return st.TransactionsMark
}

func stateOf(st State, rs routeSpec) time.Time {
	switch rs.path {
	case routeAccounts.path:
		return st.Accounts
	case routeBeneficiaries.path:
		return st.Beneficiaries
	}
	return st.Transactions
}

// sortedIDs returns the ids of m ordered by time, then id, for stable messages.
func sortedIDs(m map[string]listItem) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := m[a].at.Compare(m[b].at); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}
