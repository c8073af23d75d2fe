package pagination

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var recTies = CursorTies[rec]{
	Precision: time.Second,
	Time:      func(r rec) time.Time { return r.At },
	WithTime:  func(r rec, t time.Time) rec { r.At = t; return r },
}

// stripeLike is a fake Stripe-like upstream: objects sorted by created (second precision), in a
// stable order within a second, new objects appended at the end; list calls take a created_gte
// bound, a limit and starting_after=<id of the last object of the previous call>.
type stripeLike struct {
	mu    sync.Mutex
	items []rec
	pos   map[string]int // id -> index in items
	calls int
}

func newStripeLike() *stripeLike { return &stripeLike{pos: map[string]int{}} }

// add appends an object created at at, which must not be before the latest one.
func (u *stripeLike) add(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n := len(u.items); n > 0 && at.Before(u.items[n-1].At) {
		panic("stripeLike: objects are created in time order")
	}
	u.pos[id] = len(u.items)
	u.items = append(u.items, rec{ID: id, At: at})
}

func (u *stripeLike) fetch(_ context.Context, q CursorQuery) ([]rec, string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	start := 0
	if q.Cursor != "" {
		i, ok := u.pos[q.Cursor]
		if !ok {
			return nil, "", fmt.Errorf("no such object %q", q.Cursor)
		}
		start = i + 1
	}
	// created_gte: skip what is before From (the listing is sorted).
	for start < len(u.items) && !q.From.IsZero() && u.items[start].At.Before(q.From) {
		start++
	}
	end := min(start+q.PageSize, len(u.items))
	page := slices.Clone(u.items[start:end])
	next := ""
	if end < len(u.items) && len(page) > 0 {
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

func (u *stripeLike) callCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// served returns every object with the time FetchByCursor should serve: its second plus its rank
// among the objects of that second.
func (u *stripeLike) served() []rec {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]rec, len(u.items))
	rank := 0
	for i, it := range u.items {
		if i > 0 && it.At.Equal(u.items[i-1].At) {
			rank++
		} else {
			rank = 0
		}
		out[i] = rec{ID: it.ID, At: it.At.Add(time.Duration(rank))}
	}
	return out
}

// wantPage computes page q of the tie-broken listing directly.
func (u *stripeLike) wantPage(q Query) []rec {
	var kept []rec
	for _, it := range u.served() {
		if q.From.IsZero() || !it.At.Before(q.From) {
			kept = append(kept, it)
		}
	}
	off, size := window(q, len(kept))
	return append([]rec{}, kept[off:off+size]...)
}

// denseUpstream returns an upstream of n objects created over consecutive seconds, 0 to maxPer a second.
func denseUpstream(r *rand.Rand, n, maxPer int) *stripeLike {
	u := newStripeLike()
	s := 0
	for len(u.items) < n {
		for range r.IntN(maxPer + 1) {
			if len(u.items) < n {
				u.add(fmt.Sprintf("obj_%05d", len(u.items)), sec(s))
			}
		}
		s++
	}
	return u
}

func ties() CursorOption[rec] { return WithCursorTies(recTies) }

func TestCursorTiesServeRanksWithinEachSecond(t *testing.T) {
	ctx := context.Background()
	u := newStripeLike()
	for i, s := range []int{0, 0, 0, 1, 2, 2, 2, 2, 2, 4} {
		u.add(fmt.Sprintf("o%d", i), sec(s))
	}
	c := NewCursorCache(0, 0)
	var all []rec
	for page := 1; page <= 4; page++ {
		before := u.callCount()
		got, err := FetchByCursor(ctx, c, "s", pageQ(page, 3), u.fetch, ties())
		require.NoError(t, err)
		assert.Equal(t, 1, u.callCount()-before, "page %d: one upstream call", page)
		all = append(all, got...)
	}
	want := []rec{
		{"o0", sec(0)}, {"o1", sec(0).Add(1)}, {"o2", sec(0).Add(2)}, {"o3", sec(1)},
		{"o4", sec(2)}, {"o5", sec(2).Add(1)}, {"o6", sec(2).Add(2)}, {"o7", sec(2).Add(3)}, {"o8", sec(2).Add(4)},
		{"o9", sec(4)},
	}
	assert.Equal(t, want, all, "pages 2 to 4 start from remembered cursors and continue the ranks")
	assert.Equal(t, want, u.served())
}

func TestCursorTiesFromInsideAGroup(t *testing.T) {
	ctx := context.Background()
	u := newStripeLike()
	for i, s := range []int{0, 1, 1, 1, 1, 2} {
		u.add(fmt.Sprintf("o%d", i), sec(s))
	}
	all := []string{"o0", "o1", "o2", "o3", "o4", "o5"}
	tests := []struct {
		from time.Time
		want []string
	}{
		{sec(1), all[1:]},                               // Formance: a whole second
		{sec(1).Add(2), all[3:]},                        // a served time: inclusive
		{sec(1).Add(500 * time.Millisecond), all[5:]},   // past the group's ranks
		{sec(0).Add(-time.Nanosecond), all},             // before everything
		{sec(3), nil},                                   // after everything
		{sec(1).In(time.FixedZone("X", 3600)), all[1:]}, // another zone, same instant
	}
	for _, tt := range tests {
		for _, size := range []int{1, 2, 10} {
			q := pageQ(1, size)
			q.From = tt.from
			var got []string
			for page := 1; ; page++ {
				q.Page = page
				items, err := FetchByCursor(ctx, NewCursorCache(0, 0), "s", q, u.fetch, ties())
				require.NoError(t, err)
				require.Equal(t, u.wantPage(q), items, "from %s size %d page %d", tt.from, size, page)
				for _, it := range items {
					got = append(got, it.ID)
				}
				if len(items) < size {
					break
				}
			}
			assert.Equal(t, tt.want, got, "from %s size %d", tt.from, size)
		}
	}
}

func TestCursorTiesRandomAccessMatchesTheListing(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	u := denseUpstream(r, 300, 9)
	for _, entries := range []int{1, 3, 1000} {
		c := NewCursorCache(entries, time.Hour)
		for range 400 {
			q := pageQ(1+r.IntN(15), []int{1, 5, 25, 100}[r.IntN(4)])
			if r.IntN(2) == 0 {
				q.From = sec(r.IntN(50))
			}
			got, err := FetchByCursor(ctx, c, "s", q, u.fetch, ties())
			require.NoError(t, err)
			require.Equal(t, u.wantPage(q), got, "%+v", q)
			require.LessOrEqual(t, c.Len(), entries)
		}
	}
}

func TestCursorTiesErrors(t *testing.T) {
	ctx := context.Background()
	c := NewCursorCache(0, 0)
	t.Run("out of order", func(t *testing.T) {
		fetch := func(context.Context, CursorQuery) ([]rec, string, error) {
			return []rec{{"a", sec(2)}, {"b", sec(1)}}, "", nil
		}
		_, err := FetchByCursor(ctx, c, "order", pageQ(1, 5), fetch, ties())
		require.ErrorIs(t, err, ErrCursorOrder)
	})
	t.Run("overflow", func(t *testing.T) {
		fetch := func(context.Context, CursorQuery) ([]rec, string, error) {
			return []rec{{"a", sec(1)}, {"b", sec(1)}, {"c", sec(1)}}, "", nil
		}
		tiny := recTies
		tiny.Precision = 2 * time.Nanosecond
		_, err := FetchByCursor(ctx, c, "overflow", pageQ(1, 5), fetch, WithCursorTies(tiny))
		require.ErrorIs(t, err, ErrTieOverflow)
	})
	t.Run("descending", func(t *testing.T) {
		q := pageQ(1, 5)
		q.Sort.Direction = Descending
		_, err := FetchByCursor(ctx, c, "desc", q, newStripeLike().fetch, ties())
		var perr *ParamError
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, "sort", perr.Param)
	})
	t.Run("same cursor with items", func(t *testing.T) {
		fetch := func(_ context.Context, q CursorQuery) ([]rec, string, error) {
			return []rec{{"a", sec(1)}}, "a", nil
		}
		q := pageQ(1, 5)
		q.From = sec(1).Add(5) // "a" is skipped every time: without the check this would loop forever
		_, err := FetchByCursor(ctx, c, "loop", q, func(ctx context.Context, q CursorQuery) ([]rec, string, error) {
			if q.Cursor == "" {
				return []rec{{"z", sec(1)}}, "a", nil
			}
			return fetch(ctx, q)
		}, ties())
		require.ErrorIs(t, err, ErrCursorLoop)
	})
	t.Run("time out of range", func(t *testing.T) {
		fetch := func(context.Context, CursorQuery) ([]rec, string, error) {
			return []rec{{"a", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}}, "", nil
		}
		_, err := FetchByCursor(ctx, c, "range", pageQ(1, 5), fetch, ties())
		require.ErrorIs(t, err, ErrTimeOutOfRange)
	})
	t.Run("options", func(t *testing.T) {
		assert.Panics(t, func() { WithCursorTies(CursorTies[rec]{Time: recTies.Time, WithTime: recTies.WithTime}) })
		assert.Panics(t, func() { WithCursorTies(CursorTies[rec]{Precision: time.Second, Time: recTies.Time}) })
		assert.Panics(t, func() { WithCursorTies(CursorTies[rec]{Precision: time.Second, WithTime: recTies.WithTime}) })
	})
}

// TestCursorTiesFetchGetsTheGroupStart: the upstream is asked from the start of From's group, so the
// ranks can be counted from the group's first object.
func TestCursorTiesFetchGetsTheGroupStart(t *testing.T) {
	var asked []time.Time
	fetch := func(_ context.Context, q CursorQuery) ([]rec, string, error) {
		asked = append(asked, q.From)
		return nil, "", nil
	}
	q := pageQ(1, 5)
	q.From = sec(3).Add(700 * time.Millisecond)
	_, err := FetchByCursor(context.Background(), nil, "s", q, fetch, ties())
	require.NoError(t, err)
	_, err = FetchByCursor(context.Background(), nil, "s", q, fetch)
	require.NoError(t, err)
	assert.Equal(t, []time.Time{sec(3), q.From}, asked, "with ties the group start, without the From as given")
}

func TestCursorTiesAndPlainEntriesDoNotMix(t *testing.T) {
	ctx := context.Background()
	u := newStripeLike()
	for i := range 6 {
		u.add(fmt.Sprintf("o%d", i), sec(0))
	}
	c := NewCursorCache(0, 0)
	_, err := FetchByCursor(ctx, c, "s", pageQ(1, 2), u.fetch) // remembers a plain page 2
	require.NoError(t, err)
	before := u.callCount()
	got, err := FetchByCursor(ctx, c, "s", pageQ(2, 2), u.fetch, ties())
	require.NoError(t, err)
	assert.Equal(t, []rec{{"o2", sec(0).Add(2)}, {"o3", sec(0).Add(3)}}, got, "ranks counted from the group's start")
	assert.Equal(t, 2, u.callCount()-before, "the plain entry has no ranks: walk from page 1")
	got, err = FetchByCursor(ctx, c, "s", pageQ(3, 2), u.fetch)
	require.NoError(t, err)
	assert.Equal(t, []rec{{"o4", sec(0)}, {"o5", sec(0)}}, got, "plain times")
	assert.Equal(t, 5, c.Len(), "plain pages 2, 3 and 4 (the end), tie-broken pages 2 and 3")
}

// TestCursorTiesPollerLosesNothing replays Formance's poller over a dense, second-precision,
// cursor-paged upstream through FetchByCursor: without tie-breaking it loses objects that share a
// second across the cut of a fetch; with it, it receives every object exactly once, also when new
// objects arrive between syncs in the second it stopped at.
func TestCursorTiesPollerLosesNothing(t *testing.T) {
	for _, size := range []int{1, 7, 25} {
		t.Run(fmt.Sprintf("pageSize=%d", size), func(t *testing.T) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(uint64(size), 9))
			lossy, lossless := denseUpstream(r, 400, 6), newStripeLike()
			for _, it := range lossy.items {
				lossless.add(it.ID, it.At)
			}
			list := func(u *stripeLike, c *CursorCache, opts ...CursorOption[rec]) func(Query) []rec {
				return func(q Query) []rec {
					items, err := FetchByCursor(ctx, c, "s", q, u.fetch, opts...)
					require.NoError(t, err)
					return items
				}
			}
			at := func(r rec) time.Time { return r.At }

			plain := newPoller(FieldCreatedAt, size, list(lossy, NewCursorCache(0, 0)), at)
			plain.sync(t)
			assert.Less(t, len(plain.got), len(lossy.items), "without tie-breaking objects sharing a second are lost")

			p := newPoller(FieldCreatedAt, size, list(lossless, NewCursorCache(0, 0), ties()), at)
			upstreamBefore := lossless.callCount()
			p.sync(t)
			assert.Equal(t, ids(lossless.items), ids(p.got), "every object once, in order")
			assert.LessOrEqual(t, lossless.callCount()-upstreamBefore, p.requests, "at most one upstream call per page request")

			// New objects, some in the last second already polled, then a second sync.
			last := lossless.items[len(lossless.items)-1].At
			for i := range 2*size + 3 {
				lossless.add(fmt.Sprintf("new_%03d", i), last.Add(time.Duration(i/4)*time.Second))
			}
			p.sync(t)
			assert.Equal(t, ids(lossless.items), ids(p.got), "new objects too, nothing twice")
		})
	}
}
