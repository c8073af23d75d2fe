package connectortest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// changesPerRoute is how many times, at most, the changes check calls Options.ChangesDuringFetch
// during the fetches of one route in one sync.
const changesPerRoute = MaxChangesDuringFetch / 3

// maxQuietCycles bounds the cycles the during-a-fetch check runs after the one with changes, waiting
// for one that delivers nothing.
const maxQuietCycles = 3

// checkChanges: changes made between two cycles arrive in the next one, and changes made between
// the pages of one fetch lose nothing.
func (s *suite) checkChanges(t tb) {
	if s.opts.Changes == nil && s.opts.ChangesDuringFetch == nil {
		t.Skipf("not checked: Options.Changes and Options.ChangesDuringFetch are not set, so Run never changes the data and cannot see a middleware lose changes " +
			"(a status change within the second of the previous one, a listing that shifts while the poller pages); " +
			"set them to functions that change the middleware's data as its PSP does (pspconnect check: -changes and -changes-during-fetch)")
	}
	t.Run("between cycles", func(t tb) {
		if s.opts.Changes == nil {
			t.Skipf("not checked: Options.Changes is not set")
		}
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkChangesBetweenCycles(t, p) })
		}
	})
	t.Run("during a fetch", func(t tb) {
		if s.opts.ChangesDuringFetch == nil {
			t.Skipf("not checked: Options.ChangesDuringFetch is not set")
		}
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkChangesDuringFetch(t, p) })
		}
	})
}

// checkChangesBetweenCycles: a poller synced from scratch receives, in the next cycle, every item
// Options.Changes added and every transaction it changed, in its latest state, and nothing else.
func (s *suite) checkChangesBetweenCycles(t tb, pageSize int) {
	ctx := t.Context()
	before, err := s.snapshot(ctx)
	if err != nil {
		t.Errorf("reading the full listings (pageSize=%d): %v", s.refSize, err)
		return
	}
	s.observe(fmt.Sprintf("the full listings read before Options.Changes (pageSize=%d)", pageSize), before)
	p := newBorrowedPoller(s.c, pageSize, ExclusiveWatermark)
	if _, err := p.Cycle(ctx); err != nil {
		t.Errorf("pageSize=%d: syncing from scratch before calling Options.Changes: %v (see the sync check)", pageSize, err)
		return
	}
	if err := s.opts.Changes(ctx); err != nil {
		t.Errorf("Options.Changes: %v", err)
		return
	}
	after, err := s.snapshot(ctx)
	if err != nil {
		t.Errorf("reading the full listings after Options.Changes (pageSize=%d): %v", s.refSize, err)
		return
	}
	s.changedBySuite(fmt.Sprintf("the full listings read after Options.Changes (pageSize=%d)", pageSize), after)
	changed := make(map[string]map[string]listItem)
	for _, rs := range listRoutes {
		changed[rs.path] = diff(t, rs, before[rs.path], after[rs.path], p.State())
	}
	if !s.cycle(t, p, "polling cycle after Options.Changes", changed, after, before) {
		return
	}
	s.cycle(t, p, "polling cycle after that (nothing changed)", map[string]map[string]listItem{}, after, after)
}

// joinCounted joins strings, each distinct one once, with its count: "a (2 times), b".
func joinCounted(ss []string) string {
	count := make(map[string]int)
	var order []string
	for _, s := range ss {
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	for i, s := range order {
		if n := count[s]; n > 1 {
			order[i] = fmt.Sprintf("%s (%d times)", s, n)
		}
	}
	return strings.Join(order, ", ")
}

// checkChangesDuringFetch: a poller syncing from scratch while Options.ChangesDuringFetch changes
// the data between the pages of its fetches, then polling until a cycle delivers nothing, has
// received every item of the final listing in its latest state, each account and beneficiary once.
func (s *suite) checkChangesDuringFetch(t tb, pageSize int) {
	ctx := t.Context()
	before, err := s.snapshot(ctx)
	if err != nil {
		t.Errorf("reading the full listings (pageSize=%d): %v", s.refSize, err)
		return
	}
	s.observe(fmt.Sprintf("the full listings read before the changes during a fetch (pageSize=%d)", pageSize), before)

	var calls []string
	perRoute := make(map[string]int)
	active := true
	p := newBorrowedPoller(s.c, pageSize, ExclusiveWatermark)
	p.betweenPages = func(ctx context.Context, route string, page int) error {
		if !active || len(calls) >= MaxChangesDuringFetch || perRoute[route] >= changesPerRoute {
			return nil
		}
		perRoute[route]++
		calls = append(calls, fmt.Sprintf("after page %d of a fetch of %s", page, route))
		if err := s.opts.ChangesDuringFetch(ctx, route, page); err != nil {
			return fmt.Errorf("Options.ChangesDuringFetch(%q, %d): %w", route, page, err)
		}
		return nil
	}
	var cycles []Cycle
	cy, err := p.Cycle(ctx)
	cycles = append(cycles, cy)
	active = false
	if err != nil {
		t.Errorf("pageSize=%d: polling cycle with changes between pages: %v", pageSize, err)
		return
	}
	for range maxQuietCycles {
		cy, err := p.Cycle(ctx)
		if err != nil {
			t.Errorf("pageSize=%d: polling cycle after the changes between pages: %v", pageSize, err)
			return
		}
		cycles = append(cycles, cy)
		if cy.Empty() {
			break
		}
	}
	final, err := s.snapshot(ctx)
	if err != nil {
		t.Errorf("reading the full listings after the changes (pageSize=%d): %v", s.refSize, err)
		return
	}
	s.changedBySuite(fmt.Sprintf("the full listings read after the changes during a fetch (pageSize=%d)", pageSize), final)
	if len(calls) == 0 {
		t.Skipf("not checked at pageSize=%d: no fetch read a second page, so Options.ChangesDuringFetch was never called (no second holds more than pageSize items here)", pageSize)
	}
	where := joinCounted(calls)
	for _, rs := range listRoutes {
		f := newFindings(t)
		latest := byID(final[rs.path].items)
		type got struct {
			n      int
			at     time.Time
			status models.TransactionStatus
		}
		arrived := make(map[string]got)
		versions := make(map[string]int) // id, time and status -> times delivered
		for ci, c := range cycles {
			for _, d := range deliveredOf(c, rs) {
				g := arrived[d.id]
				g.n++
				g.at, g.status = d.at, d.status
				arrived[d.id] = g
				v := fmt.Sprintf("%s\x00%s\x00%s", d.id, d.at.UTC().Format(time.RFC3339Nano), d.status)
				versions[v]++
				_, inFinal := latest[d.id]
				switch {
				case !inFinal && g.n == 1:
					f.errorf("pageSize=%d: %s %s delivered (cycle %d) but it is not in the final listing", pageSize, rs.object, d.id, ci+1)
				case rs.path != routeTransactions.path && g.n == 2:
					f.errorf("pageSize=%d: %s %s delivered twice: a duplicate (the listing moved under the poller: Options.ChangesDuringFetch ran %s)", pageSize, rs.object, d.id, where)
				case rs.path == routeTransactions.path && versions[v] == 2:
					f.errorf("pageSize=%d: transaction %s delivered twice with updatedAt %s and status %s: a duplicate", pageSize, d.id, formatTime(d.at), d.status)
				}
			}
		}
		for _, id := range sortedIDs(latest) {
			it := latest[id]
			g, ok := arrived[id]
			if !ok {
				f.errorf("pageSize=%d: %s %s never arrived: Options.ChangesDuringFetch ran %s, and a listing that shifts while the poller pages loses the item at the page boundary "+
					"(a changed item moved to the end of the listing, every later item one place left, and the one at the boundary is returned by neither page: see the contract, \"the listing must not shift under the client while it pages\")",
					pageSize, rs.object, it.label(rs), where)
				continue
			}
			if s.opts.Live || rs.path != routeTransactions.path {
				continue
			}
			var tx struct {
				Status models.TransactionStatus `json:"status"`
			}
			if json.Unmarshal(it.raw, &tx) == nil && tx.Status != g.status {
				f.errorf("pageSize=%d: transaction %s arrived last with status %s (updatedAt %s), but its latest status is %s (updatedAt %s): the change never reached Formance (Options.ChangesDuringFetch ran %s)",
					pageSize, id, g.status, formatTime(g.at), tx.Status, formatTime(it.at), where)
			}
		}
		f.flush(fmt.Sprintf("pageSize=%d: changes during a fetch: %s", pageSize, rs.path))
	}
	t.Logf("pageSize=%d: Options.ChangesDuringFetch ran %s; %d polling cycles", pageSize, where, len(cycles))
}
