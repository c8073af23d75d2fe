package pagination

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors returned by FetchByCursor when the upstream fetch breaks its contract (a provider bug).
var (
	// ErrCursorOverflow: a CursorFetch returned more items than q.PageSize asked for. Such a page
	// cannot be split without losing or repeating items, so the request fails.
	ErrCursorOverflow = errors.New("cursor fetch returned more items than asked for")
	// ErrCursorLoop: a CursorFetch returned no items and the very cursor it was given, so asking again
	// would loop forever.
	ErrCursorLoop = errors.New("cursor fetch returned no items and the cursor it was given")
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
}

type cursorEntry struct {
	group  cursorGroup
	page   int
	cursor string
	end    bool // the page is past the end of the data
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
	if c == nil {
		return "", false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.groups[g][page]
	if !ok {
		return "", false, false
	}
	e := el.Value.(*cursorEntry)
	if c.expired(e, c.now()) {
		c.drop(el)
		return "", false, false
	}
	c.lru.MoveToFront(el)
	return e.cursor, e.end, true
}

// startBelow returns the highest remembered page below page in group g, or page 1 with cursor "".
func (c *CursorCache) startBelow(g cursorGroup, page int) (start int, cursor string, end bool) {
	start = 1
	if c == nil {
		return start, "", false
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
		return 1, "", false
	}
	c.lru.MoveToFront(best)
	e := best.Value.(*cursorEntry)
	return e.page, e.cursor, e.end
}

// store remembers the start of page in group g.
func (c *CursorCache) store(g cursorGroup, page int, cursor string, end bool) {
	if c == nil || page <= 1 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if el, ok := c.groups[g][page]; ok {
		e := el.Value.(*cursorEntry)
		e.cursor, e.end, e.stored = cursor, end, now
		c.lru.MoveToFront(el)
		return
	}
	el := c.lru.PushFront(&cursorEntry{group: g, page: page, cursor: cursor, end: end, stored: now})
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

// CursorFetch fetches one upstream page: q.Cursor is where to start ("" = beginning), q.PageSize is how
// many items at most.
//
// It must apply q.Sort and q.From upstream, return at most q.PageSize items and the cursor of the item
// after the last one returned, or "" when there are no more items. It may return fewer items than asked
// for with a non-empty cursor (FetchByCursor then asks again from that cursor). q.Page is the page being
// filled, for logs only.
type CursorFetch[T any] func(ctx context.Context, q Query) (items []T, next string, err error)

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
// cursor it was given gives ErrCursorLoop; both are provider bugs. A Query with Page or PageSize below 1
// gives a *ParamError. The context is checked before every fetch.
//
// scope must separate everything that changes the upstream answer and is not in the Query: the tenant,
// the route, the upstream account. c may be nil (no caching).
func FetchByCursor[T any](ctx context.Context, c *CursorCache, scope string, q Query, fetch CursorFetch[T]) ([]T, error) {
	if q.Page < 1 {
		return nil, &ParamError{Param: "page", Value: fmt.Sprint(q.Page), Problem: "must be an integer >= 1"}
	}
	if q.PageSize < 1 {
		return nil, &ParamError{Param: "pageSize", Value: fmt.Sprint(q.PageSize), Problem: "must be an integer >= 1"}
	}
	g := groupOf(scope, q)
	page, cursor, end := 1, "", false
	if q.Page > 1 {
		var ok bool
		if cursor, end, ok = c.lookup(g, q.Page); ok {
			page = q.Page
		} else {
			page, cursor, end = c.startBelow(g, q.Page)
		}
	}
	for {
		if end {
			// This page, and every page after it, is past the end of the data.
			return []T{}, nil
		}
		items, next, err := fillPage(ctx, q, page, cursor, fetch)
		if err != nil {
			return nil, err
		}
		c.store(g, page+1, next, next == "")
		if page == q.Page {
			return items, nil
		}
		page, cursor, end = page+1, next, next == ""
	}
}

// fillPage fetches page (starting at cursor) until it holds q.PageSize items or the data ends. It
// returns the page and the cursor of the next page ("" when the data is exhausted).
func fillPage[T any](ctx context.Context, q Query, page int, cursor string, fetch CursorFetch[T]) ([]T, string, error) {
	items := make([]T, 0, min(q.PageSize, 1024))
	for {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		rq := q
		rq.Page, rq.Cursor, rq.PageSize = page, cursor, q.PageSize-len(items)
		got, next, err := fetch(ctx, rq)
		if err != nil {
			return nil, "", err
		}
		if len(got) > rq.PageSize {
			return nil, "", fmt.Errorf("pagination: page %d from cursor %q: asked for %d items, got %d: %w",
				page, cursor, rq.PageSize, len(got), ErrCursorOverflow)
		}
		items = append(items, got...)
		if next == "" || len(items) == q.PageSize {
			return items, next, nil
		}
		if len(got) == 0 && next == cursor {
			return nil, "", fmt.Errorf("pagination: page %d from cursor %q: %w", page, cursor, ErrCursorLoop)
		}
		cursor = next
	}
}
