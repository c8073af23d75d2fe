package pagination

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upstream is a fake PSP that pages by cursor: cursors are "<name>:<index of the next item>", and a
// cursor of another upstream is refused, so mixing up scopes shows.
type upstream struct {
	name   string
	items  []string
	maxPer int // at most this many items per call, whatever was asked; 0: no limit

	mu      sync.Mutex
	calls   int
	cursors []string // the cursor of each call
}

func newUpstream(name string, n int) *upstream {
	u := &upstream{name: name}
	for i := range n {
		u.items = append(u.items, fmt.Sprintf("%s-%03d", name, i))
	}
	return u
}

func (u *upstream) fetch(_ context.Context, q CursorQuery) ([]string, string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	u.cursors = append(u.cursors, q.Cursor)
	items := u.items
	if q.Sort.Direction == Descending {
		items = slices.Clone(items)
		slices.Reverse(items)
	}
	start := 0
	if q.Cursor != "" {
		name, idx, ok := strings.Cut(q.Cursor, ":")
		if !ok || name != u.name {
			return nil, "", fmt.Errorf("upstream %s: foreign cursor %q", u.name, q.Cursor)
		}
		n, err := strconv.Atoi(idx)
		if err != nil {
			return nil, "", err
		}
		start = n
	}
	n := q.PageSize
	if u.maxPer > 0 {
		n = min(n, u.maxPer)
	}
	end := min(start+n, len(items))
	next := ""
	if end < len(items) {
		next = fmt.Sprintf("%s:%d", u.name, end)
	}
	return slices.Clone(items[start:end]), next, nil
}

func (u *upstream) callCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// want returns page q of the upstream's data, computed directly.
func (u *upstream) want(q Query) []string {
	items := u.items
	if q.Sort.Direction == Descending {
		items = slices.Clone(items)
		slices.Reverse(items)
	}
	off := min((q.Page-1)*q.PageSize, len(items))
	return slices.Clone(items[off:min(off+q.PageSize, len(items))])
}

func pageQ(page, size int) Query {
	return Query{Page: page, PageSize: size, Sort: ascCreated}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestFetchByCursorSequentialWalkCostsOneFetchPerPage(t *testing.T) {
	ctx := context.Background()
	u := newUpstream("u", 95)
	c := NewCursorCache(0, 0)
	var all []string
	for page := 1; page <= 10; page++ {
		before := u.callCount()
		got, err := FetchByCursor(ctx, c, "s", pageQ(page, 10), u.fetch)
		require.NoError(t, err)
		assert.Equal(t, 1, u.callCount()-before, "page %d", page)
		assert.Equal(t, u.want(pageQ(page, 10)), got)
		all = append(all, got...)
	}
	assert.Equal(t, u.items, all)
	// The data ended on page 10: page 11 and beyond are empty, with no upstream call.
	for _, page := range []int{11, 12, 50} {
		got, err := FetchByCursor(ctx, c, "s", pageQ(page, 10), u.fetch)
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Empty(t, got)
	}
	assert.Equal(t, 10, u.callCount())
	// Walking again (Formance's next poll) asks page 1 afresh and reuses the rest.
	_, err := FetchByCursor(ctx, c, "s", pageQ(1, 10), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, 11, u.callCount())
}

func TestFetchByCursorAfterClearWalksFromPageOne(t *testing.T) {
	ctx := context.Background()
	u := newUpstream("u", 100)
	c := NewCursorCache(0, 0)
	for page := 1; page <= 3; page++ {
		_, err := FetchByCursor(ctx, c, "s", pageQ(page, 10), u.fetch)
		require.NoError(t, err)
	}
	require.Equal(t, 3, c.Len())
	c.Clear()
	assert.Equal(t, 0, c.Len())
	before := u.callCount()
	got, err := FetchByCursor(ctx, c, "s", pageQ(5, 10), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, u.want(pageQ(5, 10)), got)
	assert.Equal(t, 5, u.callCount()-before, "pages 1 to 5")
	assert.Equal(t, "", u.cursors[before], "the walk starts at the beginning")
	// Every page reached was remembered: page 3 and page 6 cost one fetch each.
	for _, page := range []int{3, 6} {
		before = u.callCount()
		got, err = FetchByCursor(ctx, c, "s", pageQ(page, 10), u.fetch)
		require.NoError(t, err)
		assert.Equal(t, u.want(pageQ(page, 10)), got)
		assert.Equal(t, 1, u.callCount()-before, "page %d", page)
	}
}

func TestFetchByCursorWalksFromTheNearestRememberedPage(t *testing.T) {
	ctx := context.Background()
	u := newUpstream("u", 200)
	c := NewCursorCache(0, 0)
	for page := 1; page <= 4; page++ { // remembers pages 2 to 5
		_, err := FetchByCursor(ctx, c, "s", pageQ(page, 10), u.fetch)
		require.NoError(t, err)
	}
	before := u.callCount()
	got, err := FetchByCursor(ctx, c, "s", pageQ(9, 10), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, u.want(pageQ(9, 10)), got)
	assert.Equal(t, 5, u.callCount()-before, "pages 5 to 9")
	assert.Equal(t, "u:40", u.cursors[before])
}

func TestFetchByCursorRandomAccess(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	for _, maxPer := range []int{0, 1, 4} {
		for _, entries := range []int{2, 7, 1000} {
			t.Run(fmt.Sprintf("maxPer %d entries %d", maxPer, entries), func(t *testing.T) {
				u := newUpstream("u", 57)
				u.maxPer = maxPer
				c := NewCursorCache(entries, time.Hour)
				for range 300 {
					q := pageQ(1+r.IntN(20), []int{1, 3, 10, 57, 100}[r.IntN(5)])
					if r.IntN(3) == 0 {
						q.Sort.Direction = Descending
					}
					got, err := FetchByCursor(ctx, c, "s", q, u.fetch)
					require.NoError(t, err)
					require.NotNil(t, got)
					require.Equal(t, u.want(q), got, "%+v", q)
					require.LessOrEqual(t, c.Len(), entries)
				}
			})
		}
	}
}

func TestFetchByCursorFillsShortUpstreamPages(t *testing.T) {
	ctx := context.Background()
	u := newUpstream("u", 25)
	u.maxPer = 3
	c := NewCursorCache(0, 0)
	tests := []struct {
		page, calls int
		want        []string
	}{
		{1, 4, u.items[0:10]},  // 3+3+3+1
		{2, 4, u.items[10:20]}, // never short while data remains
		{3, 2, u.items[20:25]}, // 3+2, then the end
		{4, 0, []string{}},
	}
	for _, tt := range tests {
		before := u.callCount()
		got, err := FetchByCursor(ctx, c, "s", pageQ(tt.page, 10), u.fetch)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "page %d", tt.page)
		assert.Equal(t, tt.calls, u.callCount()-before, "page %d", tt.page)
	}
}

func TestFetchByCursorRemainingCountAndPassThrough(t *testing.T) {
	from := sec(5)
	var asked []CursorQuery
	fetch := func(_ context.Context, q CursorQuery) ([]int, string, error) {
		asked = append(asked, q)
		switch q.Cursor {
		case "":
			return []int{1, 2}, "a", nil
		case "a":
			return nil, "b", nil // an upstream page with nothing left after filtering
		case "b":
			return []int{3, 4, 5}, "c", nil
		}
		return nil, "", fmt.Errorf("unexpected cursor %q", q.Cursor)
	}
	q := Query{Page: 1, PageSize: 5, Sort: Sort{Field: FieldUpdatedAt, Direction: Ascending}, From: from}
	got, err := FetchByCursor(context.Background(), nil, "s", q, fetch)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3, 4, 5}, got)
	require.Len(t, asked, 3)
	assert.Equal(t, []int{5, 3, 3}, mapSlice(asked, func(q CursorQuery) int { return q.PageSize }))
	assert.Equal(t, []string{"", "a", "b"}, mapSlice(asked, func(q CursorQuery) string { return q.Cursor }))
	for _, a := range asked {
		assert.Equal(t, q.Sort, a.Sort)
		assert.True(t, from.Equal(a.From))
	}
}

func TestFetchByCursorEndExactlyAtAPageBoundary(t *testing.T) {
	ctx := context.Background()
	// An upstream that only learns it is exhausted by asking once more (has_more style).
	calls := 0
	fetch := func(_ context.Context, q CursorQuery) ([]int, string, error) {
		calls++
		switch q.Cursor {
		case "":
			return []int{1, 2}, "x", nil
		case "x":
			return []int{}, "", nil
		}
		return nil, "", fmt.Errorf("unexpected cursor %q", q.Cursor)
	}
	c := NewCursorCache(0, 0)
	got, err := FetchByCursor(ctx, c, "s", pageQ(1, 2), fetch)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, got)
	got, err = FetchByCursor(ctx, c, "s", pageQ(2, 2), fetch)
	require.NoError(t, err)
	assert.Equal(t, []int{}, got)
	assert.Equal(t, 2, calls)
	got, err = FetchByCursor(ctx, c, "s", pageQ(3, 2), fetch)
	require.NoError(t, err)
	assert.Equal(t, []int{}, got)
	assert.Equal(t, 2, calls, "page 3 is known to be past the end")
}

func TestFetchByCursorErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("psp down")
	tests := []struct {
		name  string
		q     Query
		fetch CursorFetch[int]
		want  error
	}{
		{"overflow", pageQ(1, 3), func(context.Context, CursorQuery) ([]int, string, error) {
			return []int{1, 2, 3, 4}, "", nil
		}, ErrCursorOverflow},
		{"overflow while filling", pageQ(1, 3), func(_ context.Context, q CursorQuery) ([]int, string, error) {
			if q.Cursor == "" {
				return []int{1}, "n", nil
			}
			return []int{2, 3, 4}, "", nil
		}, ErrCursorOverflow},
		{"loop", pageQ(1, 3), func(_ context.Context, q CursorQuery) ([]int, string, error) {
			if q.Cursor == "" {
				return []int{1}, "same", nil
			}
			return nil, "same", nil
		}, ErrCursorLoop},
		{"fetch error unchanged", pageQ(2, 3), func(_ context.Context, q CursorQuery) ([]int, string, error) {
			if q.Cursor == "" {
				return []int{1, 2, 3}, "n", nil
			}
			return nil, "", boom
		}, boom},
		{"page 0", pageQ(0, 3), nil, ErrInvalidParameter},
		{"pageSize 0", pageQ(1, 0), nil, ErrInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FetchByCursor(ctx, NewCursorCache(0, 0), "s", tt.q, tt.fetch)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, got)
		})
	}
	t.Run("fetch error is the provider's error itself", func(t *testing.T) {
		_, err := FetchByCursor(ctx, nil, "s", pageQ(1, 3), func(context.Context, CursorQuery) ([]int, string, error) { return nil, "", boom })
		assert.Same(t, boom, err)
	})
	t.Run("param error names the parameter", func(t *testing.T) {
		_, err := FetchByCursor[int](ctx, nil, "s", pageQ(1, 0), nil)
		var pe *ParamError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "pageSize", pe.Param)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		calls := 0
		_, err := FetchByCursor(cctx, nil, "s", pageQ(1, 3), func(context.Context, CursorQuery) ([]int, string, error) {
			calls++
			return nil, "", nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, calls)
	})
}

func TestFetchByCursorKeysDoNotMix(t *testing.T) {
	ctx := context.Background()
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name      string
		first     func(q Query) (string, Query) // the walk that fills the cache
		second    func(q Query) (string, Query) // page 3 of another query
		shares    bool
		secondSrc string // the upstream that must answer the second query
	}{
		{"other scope", func(q Query) (string, Query) { return "A", q }, func(q Query) (string, Query) { return "B", q }, false, "B"},
		{"other pageSize", func(q Query) (string, Query) { return "A", q }, func(q Query) (string, Query) { q.PageSize = 5; return "A", q }, false, "A"},
		{"other sort", func(q Query) (string, Query) { return "A", q }, func(q Query) (string, Query) { q.Sort.Direction = Descending; return "A", q }, false, "A"},
		{"other From", func(q Query) (string, Query) { q.From = sec(1); return "A", q },
			func(q Query) (string, Query) { q.From = sec(1).Add(time.Nanosecond); return "A", q }, false, "A"},
		{"zero From vs epoch", func(q Query) (string, Query) { return "A", q },
			func(q Query) (string, Query) { q.From = time.Unix(0, 0); return "A", q }, false, "A"},
		{"same From in another zone", func(q Query) (string, Query) { q.From = sec(1); return "A", q },
			func(q Query) (string, Query) { q.From = sec(1).In(paris); return "A", q }, true, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups := map[string]*upstream{"A": newUpstream("A", 60), "B": newUpstream("B", 60)}
			fetchIn := func(scope string) CursorFetch[string] { return ups[scope].fetch }
			c := NewCursorCache(0, 0)
			for page := 1; page <= 3; page++ {
				scope, q := tt.first(pageQ(page, 10))
				_, err := FetchByCursor(ctx, c, scope, q, fetchIn(scope))
				require.NoError(t, err)
			}
			scope, q := tt.second(pageQ(3, 10))
			u := ups[tt.secondSrc]
			before := u.callCount()
			got, err := FetchByCursor(ctx, c, scope, q, fetchIn(scope))
			require.NoError(t, err)
			assert.Equal(t, u.want(q), got)
			if tt.shares {
				assert.Equal(t, 1, u.callCount()-before, "same query: the remembered cursor is used")
			} else {
				assert.Equal(t, 3, u.callCount()-before, "another query: walk from page 1")
			}
		})
	}
}

func TestCursorCacheLRU(t *testing.T) {
	c := NewCursorCache(3, time.Hour)
	g := groupOf("s", pageQ(1, 10))
	for page := 2; page <= 4; page++ {
		c.store(g, page, fmt.Sprint(page), false)
	}
	require.Equal(t, 3, c.Len())
	_, _, ok := c.lookup(g, 2) // page 2 becomes the most recently used
	require.True(t, ok)
	c.store(g, 5, "5", false) // evicts page 3, the least recently used
	assert.Equal(t, 3, c.Len())
	for page, want := range map[int]bool{2: true, 3: false, 4: true, 5: true} {
		_, _, ok := c.lookup(g, page)
		assert.Equal(t, want, ok, "page %d", page)
	}
	// Storing an existing page updates it without growing.
	c.store(g, 4, "four", true)
	cur, end, ok := c.lookup(g, 4)
	assert.True(t, ok)
	assert.Equal(t, "four", cur)
	assert.True(t, end)
	assert.Equal(t, 3, c.Len())
	// Page 1 always starts at "" and is never stored.
	c.store(g, 1, "x", false)
	_, _, ok = c.lookup(g, 1)
	assert.False(t, ok)
}

func TestCursorCacheBoundDuringWalks(t *testing.T) {
	ctx := context.Background()
	c := NewCursorCache(5, time.Hour)
	u := newUpstream("u", 200)
	for _, scope := range []string{"a", "b", "c"} {
		for page := 1; page <= 20; page++ {
			got, err := FetchByCursor(ctx, c, scope, pageQ(page, 10), u.fetch)
			require.NoError(t, err)
			require.Equal(t, u.want(pageQ(page, 10)), got)
			require.LessOrEqual(t, c.Len(), 5)
		}
	}
	assert.Equal(t, 5, c.Len())
}

func TestCursorCacheExpiry(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: t0}
	c := NewCursorCache(0, time.Minute)
	c.now = clock.Now
	u := newUpstream("u", 100)
	for page := 1; page <= 3; page++ {
		_, err := FetchByCursor(ctx, c, "s", pageQ(page, 10), u.fetch)
		require.NoError(t, err)
	}
	require.Equal(t, 3, c.Len())

	clock.Advance(time.Minute) // exactly maxAge: still valid
	before := u.callCount()
	_, err := FetchByCursor(ctx, c, "s", pageQ(3, 10), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, 1, u.callCount()-before)

	clock.Advance(time.Second) // pages 2 and 3 are now too old; page 4 was stored a moment ago
	assert.Equal(t, 1, c.Len())
	clock.Advance(time.Minute)
	assert.Equal(t, 0, c.Len())
	before = u.callCount()
	got, err := FetchByCursor(ctx, c, "s", pageQ(3, 10), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, u.want(pageQ(3, 10)), got)
	assert.Equal(t, 3, u.callCount()-before, "expired cursors are not used: walk from page 1")
}

func TestCursorCacheDefaultsAndNil(t *testing.T) {
	c := NewCursorCache(-1, -1)
	assert.Equal(t, DefaultCursorCacheEntries, c.maxEntries)
	assert.Equal(t, DefaultCursorCacheMaxAge, c.maxAge)
	assert.Equal(t, 10000, DefaultCursorCacheEntries)
	assert.Equal(t, 10*time.Minute, DefaultCursorCacheMaxAge)

	var none *CursorCache
	assert.Equal(t, 0, none.Len())
	none.Clear()
	u := newUpstream("u", 30)
	got, err := FetchByCursor(context.Background(), none, "s", pageQ(3, 10), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, u.items[20:30], got)
	assert.Equal(t, 3, u.callCount(), "without a cache every page walks from page 1")
}

func TestFetchByCursorConcurrentWalkers(t *testing.T) {
	ctx := context.Background()
	c := NewCursorCache(50, time.Hour)
	ups := map[string]*upstream{}
	for _, s := range []string{"a", "b", "c"} {
		ups[s] = newUpstream(s, 120)
		ups[s].maxPer = 4
	}
	var wg sync.WaitGroup
	for w := range 8 {
		scope := []string{"a", "b", "c"}[w%3]
		u := ups[scope]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 40 {
				size := []int{5, 10}[r.IntN(2)]
				if r.IntN(2) == 0 {
					var all []string
					for page := 1; ; page++ {
						got, err := FetchByCursor(ctx, c, scope, pageQ(page, size), u.fetch)
						if !assert.NoError(t, err) {
							return
						}
						all = append(all, got...)
						if len(got) < size {
							break
						}
					}
					assert.Equal(t, u.items, all)
				} else {
					q := pageQ(1+r.IntN(30), size)
					got, err := FetchByCursor(ctx, c, scope, q, u.fetch)
					if assert.NoError(t, err) {
						assert.Equal(t, u.want(q), got)
					}
				}
				if r.IntN(20) == 0 {
					c.Clear()
				}
				assert.LessOrEqual(t, c.Len(), 50)
			}
		})
	}
	wg.Wait()
}
