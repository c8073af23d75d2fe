package connectortest

import (
	"bytes"
	"fmt"
	"strings"
)

// observe compares full listings just read with the last ones the suite read; a difference the
// suite did not make itself is drift, which checkStable reports. what says which reading l is.
func (s *suite) observe(what string, l map[string]*listing) {
	s.stableMu.Lock()
	defer s.stableMu.Unlock()
	if s.latest != nil {
		if d := describeDiff(s.latest, l); d != "" {
			s.drift = append(s.drift, fmt.Sprintf("between %s and %s: %s", s.latestAt, what, d))
		}
	}
	s.latest, s.latestAt = l, what
}

// changedBySuite records full listings read right after the suite changed the data itself
// (Options.Changes, Options.ChangesDuringFetch): the next observation is compared with them.
func (s *suite) changedBySuite(what string, l map[string]*listing) {
	s.stableMu.Lock()
	defer s.stableMu.Unlock()
	s.latest, s.latestAt = l, what
}

// describeDiff says how the listings b differ from a: "/transactions: 2 new (tx_9, tx_10), 1
// changed (tx_3)", or "" when they hold the same latest items.
func describeDiff(a, b map[string]*listing) string {
	var parts []string
	for _, rs := range listRoutes {
		if a[rs.path] == nil || b[rs.path] == nil {
			continue
		}
		old, cur := byID(a[rs.path].items), byID(b[rs.path].items)
		var added, changed, gone []string
		for _, id := range sortedIDs(cur) {
			prev, ok := old[id]
			switch {
			case !ok:
				added = append(added, id)
			case !bytes.Equal(canonical(prev.raw), canonical(cur[id].raw)):
				changed = append(changed, id)
			}
		}
		for _, id := range sortedIDs(old) {
			if _, ok := cur[id]; !ok {
				gone = append(gone, id)
			}
		}
		var what []string
		for _, g := range []struct {
			ids  []string
			word string
		}{{added, "new"}, {changed, "changed"}, {gone, "no longer listed"}} {
			if len(g.ids) > 0 {
				what = append(what, fmt.Sprintf("%d %s (%s)", len(g.ids), g.word, firstIDs(g.ids, 3)))
			}
		}
		if len(what) > 0 {
			parts = append(parts, rs.path+": "+strings.Join(what, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// firstIDs joins the first n ids, with "…" when there are more.
func firstIDs(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n], ", ") + ", …"
}

// driftPrefix starts the findings of the stable check about data that changed.
const driftPrefix = "the data changed during the run"

// checkStable: nothing changed the data during the run but the suite itself. Moving data explains
// findings of the order, tiling, sync and changes checks that the middleware may not deserve.
func (s *suite) checkStable(t tb) {
	s.reference(t)
	final, err := s.snapshot(t.Context())
	if err != nil {
		t.Errorf("reading the full listings at the end (pageSize=%d): %v", s.refSize, err)
		return
	}
	s.observe("the full listings read at the end (before the writes check)", final)
	s.stableMu.Lock()
	drift := append([]string(nil), s.drift...)
	s.stableMu.Unlock()
	if len(drift) == 0 {
		return
	}
	if s.opts.Live {
		for _, d := range drift {
			t.Logf("the data moved during the run, as Options.Live says it may: %s", d)
		}
		return
	}
	for i, d := range drift {
		if i == 3 {
			t.Errorf(driftPrefix+" %d more times", len(drift)-i)
			break
		}
		t.Errorf(driftPrefix+", %s: Run changes the data only through Options.Changes and Options.ChangesDuringFetch, and compares every walk and sync with full listings read before; "+
			"findings of the order, tiling, sync and changes checks may come from these changes rather than from the middleware: point Run at a target whose data holds still, or set Options.Live (pspconnect check -live) to check only what holds on moving data", d)
	}
}
