package pagination

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Errors returned by FetchByCursor when the upstream fetch breaks its contract (a provider bug).
var (
	// ErrCursorOverflow: a CursorFetch returned more items than q.PageSize asked for. Such a page
	// cannot be split without losing or repeating items, so the request fails.
	ErrCursorOverflow = errors.New("cursor fetch returned more items than asked for")
	// ErrCursorLoop: a CursorFetch returned no items and the very cursor it was given, so asking again
	// would loop forever. With tie-breaking (WithCursorTies), returning the cursor it was given is
	// refused even with items, since those items would be counted twice.
	ErrCursorLoop = errors.New("cursor fetch returned no items and the cursor it was given")
	// ErrCursorOrder: with tie-breaking (WithCursorTies), a CursorFetch returned an item whose time
	// bucket is earlier than the one before it: the upstream is not sorted ascending by time, and the
	// ranks of equal times cannot be counted.
	ErrCursorOrder = errors.New("cursor fetch returned items out of time order")
)

// Defaults of NewCursorCache.
const (
	DefaultCursorCacheEntries = 10000
	DefaultCursorCacheMaxAge  = 10 * time.Minute
)

// CursorCache remembers which cursor starts page N of a query. Bounded by entries (LRU) and age.
//
// FetchByCursor uses it to turn Formance's page numbers into an upstream PSP's cursors: after serving
// page N it remembers the cursor of page N+1, so a sequential walk (page 1, 2, 3 …) costs one upstream
// call per page. Entries are keyed by scope, sort, From (the exact instant), page size and page number;
// an entry older than the maximum age is forgotten, and when the cache is full the least recently used
// entry is dropped. Forgetting an entry never gives a wrong answer: the page is reached again by
// walking from the nearest remembered page before it, or from page 1.
//
// A CursorCache is safe for concurrent use; share one per provider. A nil *CursorCache remembers
// nothing (every page is reached by walking from page 1).
type CursorCache struct {
	mu         sync.Mutex
	maxEntries int
	maxAge     time.Duration
	now        func() time.Time // injectable for tests
	lru        *list.List       // of *cursorEntry, most recently used first
	groups     map[cursorGroup]map[int]*list.Element
}

// cursorGroup identifies one query independently of its page number.
type cursorGroup struct {
	scope    string
	sort     Sort
	fromZero bool
	fromSec  int64
	fromNsec int
	pageSize int
	ties     time.Duration // the tie-breaking precision (WithCursorTies), 0 without
}

// pagePos is where a page starts: the upstream cursor, whether the data ended before it, and, with
// tie-breaking, the rank state after the last item of the page before.
type pagePos struct {
	cursor string
	end    bool // the page is past the end of the data
	tie    tieState
}

// tieState is the rank count of a tie-broken walk at one point: the time bucket (Unix ns) of the
// last item walked and its rank among the items of that bucket.
type tieState struct {
	bucket int64
	rank   int64
	set    bool // false before the first item of the walk
}

type cursorEntry struct {
	group  cursorGroup
	page   int
	pos    pagePos
	stored time.Time
}

// NewCursorCache returns a cache holding at most maxEntries cursors, each for at most maxAge.
// maxEntries <= 0 means DefaultCursorCacheEntries (10000); maxAge <= 0 means DefaultCursorCacheMaxAge
// (10 minutes). Choose an age after which the PSP's cursors may have gone stale.
func NewCursorCache(maxEntries int, maxAge time.Duration) *CursorCache {
	if maxEntries <= 0 {
		maxEntries = DefaultCursorCacheEntries
	}
	if maxAge <= 0 {
		maxAge = DefaultCursorCacheMaxAge
	}
	return &CursorCache{
		maxEntries: maxEntries,
		maxAge:     maxAge,
		now:        time.Now,
		lru:        list.New(),
		groups:     map[cursorGroup]map[int]*list.Element{},
	}
}

// Len returns the number of cursors remembered, not counting expired ones.
func (c *CursorCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if c.expired(el.Value.(*cursorEntry), now) {
			c.drop(el)
		}
		el = next
	}
	return c.lru.Len()
}

// Clear forgets every cursor. Later requests walk from page 1 again.
func (c *CursorCache) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.groups)
}

func groupOf(scope string, q Query) cursorGroup {
	g := cursorGroup{scope: scope, sort: q.Sort, pageSize: q.PageSize, fromZero: q.From.IsZero()}
	if !g.fromZero {
		g.fromSec, g.fromNsec = q.From.Unix(), q.From.Nanosecond()
	}
	return g
}

func (c *CursorCache) expired(e *cursorEntry, now time.Time) bool {
	return now.Sub(e.stored) > c.maxAge
}

// drop removes an element; the caller holds the lock.
func (c *CursorCache) drop(el *list.Element) {
	e := c.lru.Remove(el).(*cursorEntry)
	pages := c.groups[e.group]
	delete(pages, e.page)
	if len(pages) == 0 {
		delete(c.groups, e.group)
	}
}

// lookup returns the remembered start of page in group g.
func (c *CursorCache) lookup(g cursorGroup, page int) (cursor string, end, ok bool) {
	pos, ok := c.lookupPos(g, page)
	return pos.cursor, pos.end, ok
}

// lookupPos returns the remembered start of page in group g.
func (c *CursorCache) lookupPos(g cursorGroup, page int) (pagePos, bool) {
	if c == nil {
		return pagePos{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.groups[g][page]
	if !ok {
		return pagePos{}, false
	}
	e := el.Value.(*cursorEntry)
	if c.expired(e, c.now()) {
		c.drop(el)
		return pagePos{}, false
	}
	c.lru.MoveToFront(el)
	return e.pos, true
}

// startBelow returns the highest remembered page below page in group g, or page 1 with cursor "".
func (c *CursorCache) startBelow(g cursorGroup, page int) (start int, cursor string, end bool) {
	start, pos := c.startBelowPos(g, page)
	return start, pos.cursor, pos.end
}

// startBelowPos returns the highest remembered page below page in group g and where it starts, or
// page 1 and the start of the data.
func (c *CursorCache) startBelowPos(g cursorGroup, page int) (start int, pos pagePos) {
	start = 1
	if c == nil {
		return start, pagePos{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var best *list.Element
	for p, el := range c.groups[g] {
		if c.expired(el.Value.(*cursorEntry), now) {
			c.drop(el) // deleting during range is allowed
			continue
		}
		if p < page && p > start {
			start, best = p, el
		}
	}
	if best == nil {
		return 1, pagePos{}
	}
	c.lru.MoveToFront(best)
	e := best.Value.(*cursorEntry)
	return e.page, e.pos
}

// store remembers the start of page in group g.
func (c *CursorCache) store(g cursorGroup, page int, cursor string, end bool) {
	c.storePos(g, page, pagePos{cursor: cursor, end: end})
}

// storePos remembers the start of page in group g.
func (c *CursorCache) storePos(g cursorGroup, page int, pos pagePos) {
	if c == nil || page <= 1 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if el, ok := c.groups[g][page]; ok {
		e := el.Value.(*cursorEntry)
		e.pos, e.stored = pos, now
		c.lru.MoveToFront(el)
		return
	}
	el := c.lru.PushFront(&cursorEntry{group: g, page: page, pos: pos, stored: now})
	pages := c.groups[g]
	if pages == nil {
		pages = map[int]*list.Element{}
		c.groups[g] = pages
	}
	pages[page] = el
	for c.lru.Len() > c.maxEntries {
		c.drop(c.lru.Back())
	}
}

// CursorQuery is one upstream call of FetchByCursor: where to start, how many items at most, and the
// order and lower bound of the list request being answered.
type CursorQuery struct {
	// Cursor is where to start: "" for the beginning of the data, otherwise a cursor the fetch
	// returned as its next cursor.
	Cursor string
	// PageSize is the number of items asked for, at least 1: return at most this many.
	PageSize int
	// Sort is the order of the list request; apply it upstream.
	Sort Sort
	// From is the inclusive lower bound on the time field (the zero time for none); apply it
	// upstream. With WithCursorTies it is the list request's From truncated to the precision.
	From time.Time
}

// CursorFetch fetches one upstream page: q.Cursor is where to start ("" = beginning), q.PageSize is how
// many items at most.
//
// It must apply q.Sort and q.From upstream, return at most q.PageSize items and the cursor of the item
// after the last one returned, or "" when there are no more items. It may return fewer items than asked
// for with a non-empty cursor (FetchByCursor then asks again from that cursor).
type CursorFetch[T any] func(ctx context.Context, q CursorQuery) (items []T, next string, err error)

// CursorTies makes FetchByCursor serve every item with a unique time, so that Formance's poller
// loses nothing when the upstream's timestamps are coarse (Stripe-like APIs give "created" to the
// second, and a busy account creates many objects a second). Pass it with WithCursorTies.
//
// # What it does
//
// Items are grouped by their time truncated to Precision (a multiple of Precision since the Unix
// epoch). The served time of an item is the start of its group plus its rank in the group, in
// nanoseconds: the first item of a group keeps the group's start, the second gets +1ns, and so on,
// in the upstream's order. The page holds the items whose served time is at or after q.From, each
// with its served time set through WithTime.
//
// The rank of an item can be counted because every walk starts at the beginning of a group: the
// CursorFetch receives q.From truncated to Precision, so the items of that group come first, in
// order, and those served before q.From are skipped. Formance sends whole seconds, which are group
// starts whenever Precision divides a second (time.Second, time.Millisecond): nothing is skipped.
// When a page starts from a remembered cursor, the cache also remembers the group and rank reached
// at the page boundary, so a sequential walk still costs one upstream call per page.
//
// # What the upstream must guarantee
//
//   - The listing is sorted ascending by time, and items of one group come in an order that never
//     changes: a new item only ever comes after every item already listed (Stripe lists objects of
//     one second in a stable order, and new objects get the current time).
//   - Items never leave the listing or move in it. This rules out listings sorted by a time that
//     changes (updatedAt): a change moves the item to the end of its group, the items after it move
//     down one rank, and one that Formance has not seen yet can take a served time Formance has
//     already passed. Serve such listings from a Collection filled by walking the upstream (see
//     examples/cursorpsp), which moves changed items forward without moving the others.
//   - The CursorFetch applies the From it is given inclusively (time >= From).
//
// Under these rules the served times form one list that only grows at its end, with unique,
// increasing times that never change: Formance's "strictly after the last time seen" rule then skips
// nothing. A group may hold up to Precision/1ns items (a billion a second); more gives ErrTieOverflow.
// Descending order cannot be served (ranks are counted from a group's first item): a query for it
// gives a *ParamError about "sort". Formance always asks for ascending order.
type CursorTies[T any] struct {
	// Precision is the precision of the upstream's timestamps, e.g. time.Second. Required (at least
	// 1ns).
	Precision time.Duration
	// Time returns the item's time field as the upstream reports it. Required.
	Time func(T) time.Time
	// WithTime returns a copy of the item with the time field set to the served time. Required.
	WithTime func(T, time.Time) T
}

// CursorOption configures one FetchByCursor call.
type CursorOption[T any] func(*cursorConfig[T])

type cursorConfig[T any] struct {
	ties *CursorTies[T]
}

// WithCursorTies makes FetchByCursor break ties between items that share a timestamp (see
// CursorTies). Use the same CursorTies for every request of one scope. It panics when a field of ties
// is missing or Precision is below 1ns: these are programming errors.
func WithCursorTies[T any](ties CursorTies[T]) CursorOption[T] {
	if ties.Precision < 1 || ties.Time == nil || ties.WithTime == nil {
		panic("pagination: WithCursorTies needs Precision >= 1ns, Time and WithTime")
	}
	return func(c *cursorConfig[T]) { c.ties = &ties }
}

// next ranks one item of a tie-broken walk and returns its served time in Unix ns.
func (s *tieState) next(precision time.Duration, t time.Time) (int64, error) {
	ns, ok := unixNano(t)
	if !ok {
		return 0, ErrTimeOutOfRange
	}
	bucket, ok := truncate(ns, int64(precision))
	if !ok {
		return 0, ErrTimeOutOfRange
	}
	rank := int64(0)
	switch {
	case !s.set || bucket > s.bucket:
	case bucket == s.bucket:
		rank = s.rank + 1
	default:
		return 0, fmt.Errorf("%w: an item at %s follows one at %s or later", ErrCursorOrder,
			t.UTC().Format(time.RFC3339Nano), formatNanos(s.bucket))
	}
	if rank >= int64(precision) || (bucket > 0 && rank > math.MaxInt64-bucket) {
		return 0, fmt.Errorf("%w: more than %d items at %s", ErrTieOverflow, int64(precision), formatNanos(bucket))
	}
	*s = tieState{bucket: bucket, rank: rank, set: true}
	return bucket + rank, nil
}

// FetchByCursor answers page q.Page of the query; scope separates tenants/routes (e.g. "tenant\x00/transactions").
//
// It answers page numbers, as Formance asks for them, from an upstream that pages by cursor. Page 1
// starts from cursor "". Page N>1 starts from the cursor c remembers for it; when c has none, it walks
// forward from the highest remembered page below N (or from page 1), remembering the cursor of every
// page it reaches. After serving page N it remembers the cursor of page N+1, so a sequential walk costs
// exactly one fetch per page.
//
// A page is filled by calling fetch again, with the remaining count as PageSize, while the upstream
// returns fewer items than asked for together with a non-empty next cursor: the page is never shorter
// than q.PageSize unless the data is exhausted, because a short page ends Formance's sync. A next
// cursor of "" means the data is exhausted; the pages after are empty (non-nil) slices.
//
// Errors from fetch are returned unchanged (so connector error kinds keep their HTTP status). A fetch
// that returns more items than asked for gives ErrCursorOverflow, one that returns no items and the
// cursor it was given gives ErrCursorLoop; both are provider bugs. With WithCursorTies, items out of
// time order give ErrCursorOrder, more items in one group than the precision allows ErrTieOverflow,
// a time beyond the years 1678 to 2262 ErrTimeOutOfRange. A Query with Page or PageSize below 1 gives
// a *ParamError. The context is checked before every fetch.
//
// scope must separate everything that changes the upstream answer and is not in the Query: the tenant,
// the route, the upstream account. c may be nil (no caching).
//
// Options: WithCursorTies serves unique times for an upstream with coarse timestamps (see CursorTies);
// without it the items are returned as fetch returned them.
func FetchByCursor[T any](ctx context.Context, c *CursorCache, scope string, q Query, fetch CursorFetch[T], opts ...CursorOption[T]) ([]T, error) {
	var cfg cursorConfig[T]
	for _, o := range opts {
		o(&cfg)
	}
	if q.Page < 1 {
		return nil, &ParamError{Param: "page", Value: fmt.Sprint(q.Page), Problem: "must be an integer >= 1"}
	}
	if q.PageSize < 1 {
		return nil, &ParamError{Param: "pageSize", Value: fmt.Sprint(q.PageSize), Problem: "must be an integer >= 1"}
	}
	g := groupOf(scope, q)
	if cfg.ties != nil {
		if q.Sort.Direction == Descending {
			return nil, &ParamError{Param: "sort", Value: q.Sort.String(),
				Problem: "descending order cannot be served with tie-breaking; use ascending order"}
		}
		g.ties = cfg.ties.Precision
	}
	page, pos := 1, pagePos{}
	if q.Page > 1 {
		if p, ok := c.lookupPos(g, q.Page); ok {
			page, pos = q.Page, p
		} else {
			page, pos = c.startBelowPos(g, q.Page)
		}
	}
	for {
		if pos.end {
			// This page, and every page after it, is past the end of the data.
			return []T{}, nil
		}
		items, next, err := fillPage(ctx, q, page, pos, fetch, cfg.ties)
		if err != nil {
			return nil, err
		}
		c.storePos(g, page+1, next)
		if page == q.Page {
			return items, nil
		}
		page, pos = page+1, next
	}
}

// fillPage fetches page (starting at start) until it holds q.PageSize items or the data ends. It
// returns the page and where the next page starts (end set when the data is exhausted).
func fillPage[T any](ctx context.Context, q Query, page int, start pagePos, fetch CursorFetch[T], ties *CursorTies[T]) ([]T, pagePos, error) {
	items := make([]T, 0, min(q.PageSize, 1024))
	cursor, tie := start.cursor, start.tie
	upstreamFrom := q.From
	var from int64 // q.From in Unix ns, for tie-broken times
	if ties != nil && !q.From.IsZero() {
		ns, ok := unixNano(q.From)
		if !ok {
			return nil, pagePos{}, &ParamError{Param: FromParam(q.Sort.Field), Value: q.From.Format(time.RFC3339Nano), Problem: "out of range"}
		}
		bucket, _ := truncate(ns, int64(ties.Precision))
		upstreamFrom, from = time.Unix(0, bucket).UTC(), ns
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, pagePos{}, err
		}
		rq := CursorQuery{Cursor: cursor, PageSize: q.PageSize - len(items), Sort: q.Sort, From: upstreamFrom}
		got, next, err := fetch(ctx, rq)
		if err != nil {
			return nil, pagePos{}, err
		}
		if len(got) > rq.PageSize {
			return nil, pagePos{}, fmt.Errorf("pagination: page %d from cursor %q: asked for %d items, got %d: %w",
				page, cursor, rq.PageSize, len(got), ErrCursorOverflow)
		}
		if ties == nil {
			items = append(items, got...)
		} else {
			for _, it := range got {
				served, err := tie.next(ties.Precision, ties.Time(it))
				if err != nil {
					return nil, pagePos{}, fmt.Errorf("pagination: page %d from cursor %q: %w", page, cursor, err)
				}
				if q.From.IsZero() || served >= from {
					items = append(items, ties.WithTime(it, time.Unix(0, served).UTC()))
				}
			}
		}
		if next == "" || len(items) == q.PageSize {
			return items, pagePos{cursor: next, end: next == "", tie: tie}, nil
		}
		if next == cursor && (len(got) == 0 || ties != nil) {
			return nil, pagePos{}, fmt.Errorf("pagination: page %d from cursor %q: %w", page, cursor, ErrCursorLoop)
		}
		cursor = next
	}
}
