package pgfeed

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
)

// errNoFreeTime: every served time after an item's time is taken (it is at the end of int64).
var errNoFreeTime = errors.New("no free served time")

// preloadWidth is how many nanoseconds after each item's earliest served time the planner reads
// the taken served times of, before it starts; it reads more when a run of taken ones is longer.
const preloadWidth = 64

// planner assigns the served times of one Put or Load, item by item in arrival order, exactly as
// the memory feed's put does, and collects what to write. The head row's lock is held while it
// runs, so nothing it reads changes under it.
type planner[T any] struct {
	keys      feed.Keys[T]
	versioned bool // T is models.Transaction (see marshal)
	items     []T
	wants     []int64
	h         int64 // the horizon
	startMax  int64 // max_assigned as read
	max       int64 // max_assigned after the batch

	cur    map[string]ref // the current version of each id seen so far
	stored []storedSlot[T]
	occ    occupancy

	inserts    []newSlot
	removed    []int64          // stored slots to delete: never readable (after the horizon)
	superseded []int64          // stored slots superseded by this batch
	inPlace    map[int64][]byte // stored slots whose item changes in place, with their new JSON
}

// ref is the current version of an id: a stored slot or a slot of this batch.
type ref struct {
	st      int64
	pending int // index in inserts, or -1
	stored  int // index in stored, or -1
}

// storedSlot is a current version read from the database.
type storedSlot[T any] struct {
	st      int64
	json    []byte
	decoded bool
	item    T // json decoded, once decoded is set
}

// newSlot is a slot this batch inserts.
type newSlot struct {
	st   int64
	id   string
	item int    // the index of the item it serves (the latest, after changes in place)
	json []byte // its encoding, once computed
	dead bool   // removed again by a later item of the batch
}

func newPlanner[T any](keys feed.Keys[T], items []T, wants []int64, horizon, maxAssigned int64) *planner[T] {
	_, versioned := any(*new(T)).(models.Transaction)
	return &planner[T]{
		keys: keys, versioned: versioned, items: items, wants: wants, h: horizon, startMax: maxAssigned, max: maxAssigned,
		cur:     make(map[string]ref, len(items)),
		inserts: make([]newSlot, 0, len(items)),
		occ: occupancy{
			// Stored slots after the horizon are at or before max_assigned.
			low: horizon + 1, high: maxAssigned,
			taken: make(map[int64]struct{}, len(items)),
		},
	}
}

// addStored records the stored current version of id.
func (p *planner[T]) addStored(id string, st int64, item []byte) {
	p.stored = append(p.stored, storedSlot[T]{st: st, json: item})
	p.cur[id] = ref{st: st, pending: -1, stored: len(p.stored) - 1}
}

// preload reads the taken served times near where each item may go, in one query.
func (p *planner[T]) preload() error {
	if p.occ.high < p.occ.low {
		return nil // every stored slot is at or before the horizon: nothing after it is taken
	}
	spans := make([]span, 0, len(p.items))
	for i, it := range p.items {
		c := max(p.wants[i], p.h+1)
		if r, ok := p.cur[p.keys.ID(it)]; ok && r.stored >= 0 && !p.keys.InPlace {
			c = max(c, r.st+1)
			spans = append(spans, span{r.st, r.st}) // so that deleting it frees its time for later items
		}
		spans = append(spans, span{c, satAdd(c, preloadWidth-1)})
	}
	return p.occ.add(spans)
}

// run assigns every item's served time.
func (p *planner[T]) run() error {
	for i, it := range p.items {
		id := p.keys.ID(it)
		want := p.wants[i]
		if r, ok := p.cur[id]; ok {
			served := p.keys.Served(it, r.st)
			same, enc, err := p.unchanged(r, served)
			if err != nil {
				return fmt.Errorf("item %d of %d (%q): %w", i+1, len(p.items), id, err)
			}
			if same {
				continue
			}
			if p.keys.InPlace {
				if r.pending >= 0 {
					p.inserts[r.pending].item, p.inserts[r.pending].json = i, nil
					continue
				}
				if p.inPlace == nil {
					p.inPlace = make(map[int64][]byte)
				}
				p.inPlace[r.st] = enc
				p.stored[r.stored] = storedSlot[T]{st: r.st, json: enc[1:]}
				continue
			}
			want = max(want, r.st+1)
			switch {
			case r.st <= p.h:
				p.superseded = append(p.superseded, r.st) // readable: it keeps its position
			case r.pending >= 0:
				p.inserts[r.pending].dead = true
				p.occ.release(r.st)
			default:
				p.removed = append(p.removed, r.st) // never readable: no position to keep
				p.occ.release(r.st)
			}
		}
		st, err := p.occ.take(max(want, p.h+1))
		if err != nil {
			return fmt.Errorf("item %d of %d (%q): %w", i+1, len(p.items), id, err)
		}
		p.inserts = append(p.inserts, newSlot{st: st, id: id, item: i})
		p.cur[id] = ref{st: st, pending: len(p.inserts) - 1, stored: -1}
		p.max = max(p.max, st)
	}
	return nil
}

// unchanged reports whether served (an item with the served time of r applied) is the version r
// holds. For a stored version it also returns served's JSON when it computed it.
func (p *planner[T]) unchanged(r ref, served T) (bool, []byte, error) {
	if r.pending >= 0 {
		s := &p.inserts[r.pending]
		return p.keys.Same(p.keys.Served(p.items[s.item], s.st), served), nil, nil
	}
	enc, err := p.marshal(served, r.st)
	if err != nil {
		return false, nil, err
	}
	s := &p.stored[r.stored]
	if bytes.Equal(enc[1:], s.json) {
		return true, enc, nil
	}
	if !s.decoded {
		var item T
		if json.Unmarshal(s.json, &item) != nil {
			return false, enc, nil // unreadable: replace it
		}
		s.item, s.decoded = item, true
	}
	return p.keys.Same(s.item, served), enc, nil
}

// live returns the slots to insert.
func (p *planner[T]) live() []*newSlot {
	out := make([]*newSlot, 0, len(p.inserts))
	for i := range p.inserts {
		if !p.inserts[i].dead {
			out = append(out, &p.inserts[i])
		}
	}
	return out
}

// encodeOnce returns the JSON of the item s serves without keeping it (COPY sends each row once: a
// Load of millions of items does not hold all their encodings).
func (p *planner[T]) encodeOnce(s *newSlot) ([]byte, error) {
	if s.json != nil {
		return s.json, nil
	}
	j, err := p.marshal(p.keys.Served(p.items[s.item], s.st), s.st)
	if err != nil {
		return nil, fmt.Errorf("encoding item %q: %w", s.id, err)
	}
	return j, nil
}

// The first byte of what marshal returns says how the rest was made; it is stored in the slot's
// encoded column, not in item.
const (
	flagEncoded = 'E' // by models.Encode: validated, served as it is (see ListPage)
	flagRaw     = 'R' // by encoding/json: decoded and checked by the handler when served
)

// marshal returns the stored form of served, whose served time is st, behind its flag byte: the
// encoding models.Encode makes of a valid contract item (a transaction's carrying st as its
// updatedAt), encoding/json's for anything else (other types, and invalid items, which the
// handler then refuses or quarantines when it serves them).
func (p *planner[T]) marshal(served T, st int64) ([]byte, error) {
	if enc, err := models.Encode(&served); err == nil && (!p.versioned || enc.Version() == st) {
		return append([]byte{flagEncoded}, enc.JSON()...), nil
	}
	j, err := json.Marshal(served)
	if err != nil {
		return nil, err
	}
	return append([]byte{flagRaw}, j...), nil
}

// stored splits what marshal returned into the item column and the encoded column.
func stored(j []byte) ([]byte, bool) { return j[1:], j[0] == flagEncoded }

// encode returns the JSON of the item s serves.
func (p *planner[T]) encode(s *newSlot) ([]byte, error) {
	if s.json == nil {
		j, err := p.marshal(p.keys.Served(p.items[s.item], s.st), s.st)
		if err != nil {
			return nil, fmt.Errorf("encoding item %q: %w", s.id, err)
		}
		s.json = j
	}
	return s.json, nil
}

// span is a closed range of served times.
type span struct{ lo, hi int64 }

// occupancy knows which served times after the horizon are taken: by stored slots (read from the
// database on demand, within the spans it has read) and by the slots of the batch.
type occupancy struct {
	low, high int64  // stored slots after the horizon lie in [low, high]; none when high < low
	spans     []span // sorted, disjoint parts of [low, high] whose stored served times are in taken
	load      func([]span) ([]int64, error)

	taken map[int64]struct{}
	freed map[int64]struct{} // stored served times this batch deletes: free whatever the database says
	next  map[int64]int64    // for a taken st, a later one such that every time in between is taken
	path  []int64
}

// known reports whether taken says whether st is taken.
func (o *occupancy) known(st int64) bool {
	if st < o.low || st > o.high {
		return true
	}
	i, _ := slices.BinarySearchFunc(o.spans, st, func(s span, st int64) int { return cmp.Compare(s.hi, st) })
	return i < len(o.spans) && o.spans[i].lo <= st
}

// add reads the stored served times of spans.
func (o *occupancy) add(spans []span) error {
	clipped := spans[:0:0]
	for _, s := range spans {
		s.lo, s.hi = max(s.lo, o.low), min(s.hi, o.high)
		if s.lo <= s.hi {
			clipped = append(clipped, s)
		}
	}
	clipped = merge(clipped)
	if len(clipped) == 0 {
		return nil
	}
	sts, err := o.load(clipped)
	if err != nil {
		return err
	}
	for _, st := range sts {
		if _, ok := o.freed[st]; !ok {
			o.taken[st] = struct{}{}
		}
	}
	o.spans = merge(append(o.spans, clipped...))
	return nil
}

// merge sorts spans and joins the ones that overlap or touch.
func merge(spans []span) []span {
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.lo <= satAdd(last.hi, 1) {
			last.hi = max(last.hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

// take returns the first free served time at or after c and marks it taken.
func (o *occupancy) take(c int64) (int64, error) {
	s := c
	o.path = o.path[:0]
	for {
		if s == math.MaxInt64 {
			return 0, fmt.Errorf("%w at or after %d", errNoFreeTime, c)
		}
		if !o.known(s) {
			if err := o.add([]span{{s, satAdd(s, max(preloadWidth, 2*(s-c)))}}); err != nil {
				return 0, err
			}
		}
		if _, ok := o.taken[s]; !ok {
			break
		}
		o.path = append(o.path, s)
		if n, ok := o.next[s]; ok {
			s = n
		} else {
			s++
		}
	}
	if len(o.path) > 0 {
		if o.next == nil {
			o.next = make(map[int64]int64)
		}
		for _, p := range o.path {
			o.next[p] = s // every time from p up to s is taken, and s is about to be
		}
	}
	o.taken[s] = struct{}{}
	delete(o.freed, s)
	return s, nil
}

// release frees st (its slot is deleted).
func (o *occupancy) release(st int64) {
	delete(o.taken, st)
	if o.freed == nil {
		o.freed = make(map[int64]struct{})
	}
	o.freed[st] = struct{}{}
	o.next = nil // a hint may jump over st
}

// satAdd returns a+b for b >= 0, at most math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
