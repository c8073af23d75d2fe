package pagination

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// Errors returned by Collection.Put, always wrapped with the position, id and time of the item.
// FetchByCursor with WithCursorTies also returns ErrTimeOutOfRange and ErrTieOverflow (for it, too
// many items share one timestamp of the upstream's precision).
var (
	// ErrMissingID: an item has an empty ID. Every item needs a unique, stable ID.
	ErrMissingID = errors.New("item has no ID")
	// ErrTimeOutOfRange: an item's time field cannot be represented as Unix nanoseconds (it is before
	// the year 1678 or after 2262, or it is the zero time.Time because it was never set).
	ErrTimeOutOfRange = errors.New("item time is outside the years 1678 to 2262")
	// ErrTieOverflow: too many items in one bucket for the resolution; use a coarser WithResolution.
	// The unique timestamp the item would need is already taken by (or would pass) the next used
	// bucket. See Collection for the bound.
	ErrTieOverflow = errors.New("too many items in one time bucket for the resolution; use a coarser WithResolution")
)

// Keys tells a Collection how to read and set the parts of an item it needs. The functions are called
// while the Collection holds its lock: they must be fast, must not block and must not call the
// Collection.
type Keys[T any] struct {
	// ID returns the item's unique, stable id. Required.
	ID func(T) string
	// Time returns the item's time field (CreatedAt for accounts, UpdatedAt for transactions): the field
	// Formance sorts, filters and remembers. Required.
	Time func(T) time.Time
	// WithTime returns a copy of the item with the time field set to t (the served time). Required
	// unless the Collection is built WithoutTieBreaking.
	WithTime func(T, time.Time) T
	// Equal reports whether two versions of an item are the same, so that putting an unchanged item
	// again is a no-op. Nil means reflect.DeepEqual, which never reports a real change as equal; it may
	// report as different two values that look alike on the wire (a nil and an empty map, a time with a
	// monotonic clock reading), which only makes the item be served once more.
	Equal func(a, b T) bool
}

// CollectionOption configures a Collection.
type CollectionOption func(*collectionConfig)

type collectionConfig struct {
	resolution time.Duration
	tieBreak   bool
}

// DefaultResolution is the default bucket size of a Collection: one microsecond. With any PSP whose
// timestamps have a precision of 1µs or coarser (seconds, milliseconds), the buckets are the PSP's own
// timestamps and the served times stay within the same bucket as the real ones (see Collection).
const DefaultResolution = time.Microsecond

// WithResolution sets the bucket size R of the tie-breaking (default DefaultResolution). Served times
// are the real time truncated to a multiple of R since the Unix epoch, plus n nanoseconds. A coarser R
// leaves room for more items per bucket (up to R/1ns before ErrTieOverflow when the next bucket is in
// use) at the cost of a served time up to R earlier than the real one. R must be at least one
// nanosecond: NewCollection panics otherwise.
func WithResolution(d time.Duration) CollectionOption {
	return func(c *collectionConfig) { c.resolution = d }
}

// WithoutTieBreaking makes the Collection serve every item with its real time, sorted by (time, id).
// This is the plain, lossy behaviour: items sharing one timestamp across the cut of Formance's poller,
// and changes that do not move the time forward, are never seen by Formance. Use it only when the exact
// PSP timestamps must be served and are known to be unique, or in tests that demonstrate the loss.
func WithoutTieBreaking() CollectionOption {
	return func(c *collectionConfig) { c.tieBreak = false }
}

// Collection is a thread-safe, in-memory set of items (accounts, beneficiaries, transactions) that
// serves pages exactly as Formance's poller needs them, without losing any item or change. It is the
// easiest way to write a correct middleware: copy the PSP's data into a Collection (Put, in the order
// the PSP reports it) and answer each list request with Page.
//
// # Why
//
// Formance's poller remembers the time S of the last item it kept and, on its next fetch, keeps only
// the items whose time is strictly after S (see the contract, "How the client polls"). When several
// items share one timestamp and a fetch is cut between them, the rest are never seen: with
// second-precision PSP timestamps, about three items a second and pageSize 25, some 5% of the accounts
// never arrive. Likewise a transaction whose status changes within the second it was polled keeps its
// updatedAt and is never fetched again. Sorting by (time, id) does not help: the poller compares times
// only.
//
// # What Collection does
//
// Every item is served with a timestamp that is unique in the Collection and grows in arrival order
// within a bucket of the resolution R (WithResolution, default 1µs):
//
//   - An item's bucket is its real time truncated to a multiple of R (Unix-epoch aligned, flooring for
//     times before 1970 too). Each bucket has a counter of the items that ever entered it; it never
//     decreases, even when items leave the bucket. An item entering bucket b gets the offset
//     n = counter[b], and counter[b] becomes n+1.
//   - The served time is b + n nanoseconds, in UTC. Page, All, GetServed and Served report it; Get
//     reports the item as it was Put, with its real time.
//   - Putting an item whose ID is new stores it. Putting an item equal (Keys.Equal) to the stored one
//     changes nothing, so re-putting the PSP's whole list on every sync is cheap and keeps served times.
//   - Putting a changed item moves it to bucket max(trunc(newTime, R), oldBucket) with a new offset:
//     its served time moves strictly forward even when the PSP did not move its timestamp, so Formance
//     fetches the change; it never moves backward, even when the new time is earlier.
//   - No item is placed where Formance may already have passed: the Collection remembers the latest
//     served time H that Page or All has returned, and an item (new or changed) whose bucket would be
//     older than H's bucket goes into H's bucket instead, after everything already served. This covers
//     a PSP that reports an item late with an old timestamp, and a change to an old transaction whose
//     timestamp the PSP did not move. Items that are not behind H are unaffected.
//
// # What Formance sees
//
// The real time truncated to R, plus n nanoseconds, where n counts the earlier arrivals into that
// bucket. With the default 1µs and any PSP precision of 1µs or coarser, the buckets are the PSP's own
// timestamps, so a second-precision timestamp is served within the right second (unless a billion items
// share it) and a microsecond one is exact to the microsecond when its bucket holds fewer than 1000
// items. A PSP timestamp finer than R is served up to R earlier than the real one. The exceptions are
// the items that would otherwise be lost: a changed item whose new time is older than its old bucket
// stays in its old bucket, and an item behind H is served in H's bucket, later than its real time.
// Formance never sees two items with one timestamp, and never an item behind a time it has already
// been served, so its "strictly after S" rule skips nothing it has not already seen.
//
// The constructors of this package serve every other field as Put, with one exception: a transaction
// (NewTransactions) never has its served UpdatedAt before its CreatedAt. When the served UpdatedAt
// would be before CreatedAt (a timestamp finer than R, served up to R earlier, or a PSP whose own
// UpdatedAt is before its CreatedAt), CreatedAt is served lowered to the served UpdatedAt. Since the
// exceptions above only serve a time later, never earlier than its bucket, the lowering is less than
// R unless the PSP's own UpdatedAt is before its CreatedAt. GetServed returns an item exactly as Page
// serves it, for single-item routes (GET /payouts/{id}) that must agree with the listing.
//
// # What the integrator must do
//
// Put items in the order the PSP reports them: arrival order is the tie order. Serve every list
// request of the route from Page (not from Get, GetServed, Served or a copy of All), so that H follows
// what Formance received; answer single-item routes with GetServed, so that they carry the times the
// listing carries. H lives in memory, like the data: after a restart, Put everything again before
// serving; until Formance's first poll returns an item, an item whose time is older than Formance's
// position is not protected.
//
// # Bounds and errors
//
// The served times are strictly increasing in (bucket, offset) order, over every value ever handed
// out. Put refuses, with ErrTieOverflow, an item whose served time would reach the next bucket in use,
// or whose new bucket would start at or below the last served time of the previous bucket: with the
// default 1µs, a bucket holds up to 1000 items when the next microsecond is in use, and up to the gap
// to the next used bucket otherwise (a billion for second-precision timestamps). When this happens,
// build the Collection with a coarser WithResolution.
//
// Memory: each item is kept once (plus about 100 bytes of index and lookup), plus a 16-byte counter
// per bucket ever used. Counters are never pruned (pruning would break the guarantee), so a
// long-lived Collection of ever-new buckets grows by 16 bytes per bucket.
//
// Items are stored as given (a shallow copy): do not modify their maps or pointers after Put, and treat
// the maps of returned items as read-only. The data lives in memory only and is lost on restart;
// Collection is not a database.
//
// Page takes O(log n + pageSize) time. Put takes O(log n) for items that arrive in time order and
// O(n) (a slice move) for items that land in the middle. All methods are safe for concurrent use.
//
// Deprecated: use package feed (feed.Memory in memory, feed/pgfeed in PostgreSQL), which also keeps
// positions stable when an item changes while Formance pages through a busy second (a Collection
// moves the changed item to the end of the listing, and the item at the page boundary is lost), and
// whose PostgreSQL implementation survives restarts and serves several replicas.
type Collection[T any] struct {
	keys  Keys[T]
	equal func(a, b T) bool
	cfg   collectionConfig

	mu sync.RWMutex
	// byID holds every stored item.
	byID map[string]*entry[T]
	// index holds the same entries sorted by (key, id).
	index []*entry[T]
	// buckets holds every bucket ever used, sorted, and counts, at the same index, the next offset
	// that bucket will hand out (tie-breaking only). Two flat slices rather than a map: 16 bytes a
	// bucket, appended to in O(1) when items arrive in time order.
	buckets []int64
	counts  []uint64
	// high is the latest served time (Unix ns) that Page or All returned, noHigh before any.
	high atomic.Int64
}

const noHigh = math.MinInt64

// entry is one stored item.
type entry[T any] struct {
	item T // as Put, with its real time
	id   string
	// key is the served time in Unix nanoseconds (bucket + offset in the bucket) with tie-breaking,
	// or the real time in Unix nanoseconds without.
	key    int64
	bucket int64
}

func compareEntries[T any](a, b *entry[T]) int {
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// NewCollection returns an empty Collection that reads items through keys. By default it breaks ties
// (see Collection) with DefaultResolution.
//
// It panics when keys.ID or keys.Time is nil, when keys.WithTime is nil and tie-breaking is on, or when
// WithResolution was given a duration below one nanosecond: these are programming errors.
func NewCollection[T any](keys Keys[T], opts ...CollectionOption) *Collection[T] {
	cfg := collectionConfig{resolution: DefaultResolution, tieBreak: true}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.resolution <= 0 {
		panic(fmt.Sprintf("pagination: WithResolution(%v): the resolution must be at least 1ns", cfg.resolution))
	}
	if keys.ID == nil || keys.Time == nil {
		panic("pagination: NewCollection needs Keys.ID and Keys.Time")
	}
	if cfg.tieBreak && keys.WithTime == nil {
		panic("pagination: NewCollection needs Keys.WithTime to serve tie-broken times (or use WithoutTieBreaking)")
	}
	equal := keys.Equal
	if equal == nil {
		equal = func(a, b T) bool { return reflect.DeepEqual(a, b) }
	}
	c := &Collection[T]{
		keys:  keys,
		equal: equal,
		cfg:   cfg,
		byID:  map[string]*entry[T]{},
	}
	c.high.Store(noHigh)
	return c
}

// NewAccounts returns a Collection of accounts keyed by ID and paged by CreatedAt, for GET /accounts.
// Served accounts carry the served time in CreatedAt.
func NewAccounts(opts ...CollectionOption) *Collection[models.Account] {
	return NewCollection(Keys[models.Account]{
		ID:       func(a models.Account) string { return a.ID },
		Time:     func(a models.Account) time.Time { return a.CreatedAt },
		WithTime: func(a models.Account, t time.Time) models.Account { a.CreatedAt = t; return a },
	}, opts...)
}

// NewBeneficiaries returns a Collection of beneficiaries keyed by ID and paged by CreatedAt, for
// GET /beneficiaries. Served beneficiaries carry the served time in CreatedAt.
func NewBeneficiaries(opts ...CollectionOption) *Collection[models.Beneficiary] {
	return NewCollection(Keys[models.Beneficiary]{
		ID:       func(b models.Beneficiary) string { return b.ID },
		Time:     func(b models.Beneficiary) time.Time { return b.CreatedAt },
		WithTime: func(b models.Beneficiary, t time.Time) models.Beneficiary { b.CreatedAt = t; return b },
	}, opts...)
}

// NewTransactions returns a Collection of transactions keyed by ID and paged by UpdatedAt, for
// GET /transactions. Served transactions carry the served time in UpdatedAt. Put every new state of a
// transaction (a new status, say): a changed transaction is served again with a later UpdatedAt, even
// when the PSP did not move its own.
//
// A served transaction's UpdatedAt is never before its CreatedAt. CreatedAt is served as Put, except
// when it is after the served UpdatedAt: then it is served equal to the served UpdatedAt. The served
// UpdatedAt is at least the real one truncated to the resolution (the exceptions of "What Formance
// sees" in Collection only move it later), so for a PSP whose own UpdatedAt is not before its
// CreatedAt the lowering is less than the resolution: it happens only to timestamps finer than the
// resolution (with the default 1µs, a nanosecond CreatedAt in the same microsecond as the served
// UpdatedAt). A PSP that reports an UpdatedAt before the CreatedAt gets CreatedAt lowered by more.
// A later version of the transaction, served with a later UpdatedAt, may carry the real CreatedAt
// again. Without tie-breaking (WithoutTieBreaking) transactions are served exactly as Put.
//
// The served times themselves are not moved to CreatedAt: a bucket that started at an unaligned
// CreatedAt would overlap the offsets of the bucket before it (ErrTieOverflow after a few items at
// nanosecond precision), and one rounded up to the next multiple of the resolution would serve
// UpdatedAt later than the PSP's and let a CreatedAt far in the future drag every later transaction
// there through the high-water mark. Lowering CreatedAt keeps the served times, and every guarantee
// of Collection about them, unchanged.
func NewTransactions(opts ...CollectionOption) *Collection[models.Transaction] {
	return NewCollection(Keys[models.Transaction]{
		ID:   func(t models.Transaction) string { return t.ID },
		Time: func(t models.Transaction) time.Time { return t.UpdatedAt },
		WithTime: func(tx models.Transaction, t time.Time) models.Transaction {
			tx.UpdatedAt = t
			if tx.CreatedAt.After(t) {
				tx.CreatedAt = t
			}
			return tx
		},
	}, opts...)
}

// putStep records one change made by Put, so that a failed Put can be undone.
type putStep[T any] struct {
	id      string
	old     *entry[T] // the replaced entry, nil for a new id
	added   *entry[T]
	counted bool // a bucket counter was incremented (tie-breaking)
	created bool // the bucket was created by this step
}

// Put stores items, in order, inserting new IDs and replacing changed ones (see Collection for how
// served times are assigned). An item equal to the stored one (Keys.Equal) changes nothing. The same
// ID may appear more than once: later items are changes to earlier ones.
//
// Put is all-or-nothing: when it refuses an item it undoes the whole call and returns an error, wrapping
// ErrMissingID, ErrTimeOutOfRange or ErrTieOverflow, that names the item's position and ID. Calling Put
// again with the same items after fixing the cause is safe.
func (c *Collection[T]) Put(items ...T) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var steps []putStep[T]
	for i, it := range items {
		step, changed, err := c.put(it)
		if err != nil {
			c.undo(steps)
			return fmt.Errorf("pagination: cannot store item %d of %d (id %q, time %s); nothing stored: %w",
				i+1, len(items), c.keys.ID(it), c.keys.Time(it).Format(time.RFC3339Nano), err)
		}
		if changed {
			steps = append(steps, step)
		}
	}
	return nil
}

func (c *Collection[T]) put(it T) (putStep[T], bool, error) {
	id := c.keys.ID(it)
	if id == "" {
		return putStep[T]{}, false, ErrMissingID
	}
	ns, ok := unixNano(c.keys.Time(it))
	if !ok {
		return putStep[T]{}, false, ErrTimeOutOfRange
	}
	old := c.byID[id]
	if old != nil && c.equal(old.item, it) {
		return putStep[T]{}, false, nil
	}
	step := putStep[T]{id: id, old: old}
	e := &entry[T]{item: it, id: id, key: ns}
	if c.cfg.tieBreak {
		b, ok := truncate(ns, int64(c.cfg.resolution))
		if !ok {
			return putStep[T]{}, false, ErrTimeOutOfRange
		}
		if old != nil && old.bucket > b {
			b = old.bucket
		}
		if f, ok := c.highBucket(); ok && f > b {
			b = f
		}
		i, k, created, err := c.reserve(b)
		if err != nil {
			return putStep[T]{}, false, err
		}
		e.bucket, e.key = b, b+int64(k)
		if created {
			c.buckets = slices.Insert(c.buckets, i, b)
			c.counts = slices.Insert(c.counts, i, k+1)
		} else {
			c.counts[i] = k + 1
		}
		step.counted, step.created = true, created
	}
	if old != nil {
		c.remove(old)
	}
	c.insert(e)
	c.byID[id] = e
	step.added = e
	return step, true, nil
}

// highBucket returns the bucket of the latest served time that Page or All returned. An item placed in
// it gets a later offset than that time; an item placed in a later bucket is later too.
func (c *Collection[T]) highBucket() (int64, bool) {
	h := c.high.Load()
	if h == noHigh {
		return 0, false
	}
	i := sort.Search(len(c.buckets), func(i int) bool { return c.buckets[i] > h }) - 1
	if i < 0 {
		return 0, false
	}
	return c.buckets[i], true
}

// raiseHigh records that the served time ns (Unix ns) was returned to a reader.
func (c *Collection[T]) raiseHigh(ns int64) {
	for {
		cur := c.high.Load()
		if ns <= cur || c.high.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// reserve returns the offset k a new entry of bucket b gets, and the index i of b in c.buckets
// (where it is to be inserted when created), checking that its served time b+k stays strictly
// between the last value served by the previous bucket and the next bucket's start. It does not
// modify the collection.
func (c *Collection[T]) reserve(b int64) (i int, k uint64, created bool, err error) {
	i, exists := slices.BinarySearch(c.buckets, b)
	next := i // index of the next bucket after b
	if exists {
		k = c.counts[i]
		next = i + 1
	} else if i > 0 {
		prev := c.buckets[i-1]
		top := prev + int64(c.counts[i-1]-1)
		if b <= top {
			return 0, 0, false, fmt.Errorf("%w: bucket %s starts at or before %s, already served to an item of the earlier bucket %s",
				ErrTieOverflow, formatNanos(b), formatNanos(top), formatNanos(prev))
		}
	}
	if next < len(c.buckets) {
		nb := c.buckets[next]
		if k >= uint64(nb)-uint64(b) {
			return 0, 0, false, fmt.Errorf("%w: bucket %s already handed out %d times and the next bucket in use starts at %s",
				ErrTieOverflow, formatNanos(b), k, formatNanos(nb))
		}
	}
	if k > math.MaxInt64 || (b > 0 && int64(k) > math.MaxInt64-b) {
		return 0, 0, false, fmt.Errorf("%w: the served time would pass the year 2262", ErrTimeOutOfRange)
	}
	return i, k, !exists, nil
}

// undo reverts the steps of a failed Put, last first.
func (c *Collection[T]) undo(steps []putStep[T]) {
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		c.remove(s.added)
		if s.old != nil {
			c.insert(s.old)
			c.byID[s.id] = s.old
		} else {
			delete(c.byID, s.id)
		}
		if s.counted {
			j, _ := slices.BinarySearch(c.buckets, s.added.bucket)
			c.counts[j]--
			if s.created {
				c.buckets = slices.Delete(c.buckets, j, j+1)
				c.counts = slices.Delete(c.counts, j, j+1)
			}
		}
	}
}

func (c *Collection[T]) insert(e *entry[T]) {
	n := len(c.index)
	if n == 0 || compareEntries(c.index[n-1], e) < 0 {
		c.index = append(c.index, e)
		return
	}
	i, _ := slices.BinarySearchFunc(c.index, e, compareEntries[T])
	c.index = slices.Insert(c.index, i, e)
}

func (c *Collection[T]) remove(e *entry[T]) {
	i, found := slices.BinarySearchFunc(c.index, e, compareEntries[T])
	if !found || c.index[i] != e {
		panic("pagination: internal error: stored item missing from the sorted index")
	}
	c.index = slices.Delete(c.index, i, i+1)
}

// Get returns the item stored under id exactly as it was Put, with its real time, and whether it
// exists.
func (c *Collection[T]) Get(id string) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byID[id]
	if !ok {
		var zero T
		return zero, false
	}
	return e.item, true
}

// GetServed returns the item stored under id exactly as Page and All serve it (with tie-breaking,
// through Keys.WithTime with its served time; without, as it was Put), and whether it exists. Use it
// to answer a single-item route, such as GET /payouts/{id} for a payout that is also a row of
// GET /transactions, with the same times the listing gives. Unlike Page and All it does not record a
// served time (H, see Collection): a single-item route is not Formance's list cursor.
func (c *Collection[T]) GetServed(id string) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byID[id]
	if !ok {
		var zero T
		return zero, false
	}
	return c.served(e), true
}

// Served returns the time the item stored under id is served with (in UTC with tie-breaking, the real
// time without), and whether it exists: the time field of GetServed's item. Like GetServed, it does
// not record a served time.
func (c *Collection[T]) Served(id string) (time.Time, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byID[id]
	if !ok {
		return time.Time{}, false
	}
	return c.servedTime(e), true
}

// Len returns the number of items stored.
func (c *Collection[T]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}

// All returns every item in ascending served order, each with its served time, as Page would. Like
// Page, it records the latest served time it returns (H, see Collection).
func (c *Collection[T]) All() []T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]T, len(c.index))
	for i, e := range c.index {
		out[i] = c.served(e)
	}
	if n := len(c.index); n > 0 && c.cfg.tieBreak {
		c.raiseHigh(c.index[n-1].key)
	}
	return out
}

// Page answers one list request: the items whose served time is at or after q.From (all of them when
// From is zero), sorted by served time in q.Sort.Direction (ties, possible only WithoutTieBreaking, by
// id), page q.Page of size q.PageSize. Each item carries its served time in its time field. The result
// holds exactly q.PageSize items unless the data is exhausted, and is an empty, non-nil slice past the
// end or for a Query with Page or PageSize below 1.
//
// Page records the latest served time it returns (H, see Collection): an item Put afterwards with an
// older time is served after it, so Formance cannot have passed it already.
func (c *Collection[T]) Page(q Query) []T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	start := c.firstAtOrAfter(q.From)
	off, size := window(q, len(c.index)-start)
	out := make([]T, 0, size)
	latest := int64(noHigh)
	for j := range size {
		var i int
		if q.Sort.Direction == Descending {
			i = len(c.index) - 1 - off - j
		} else {
			i = start + off + j
		}
		e := c.index[i]
		out = append(out, c.served(e))
		latest = max(latest, e.key)
	}
	if size > 0 && c.cfg.tieBreak {
		c.raiseHigh(latest)
	}
	return out
}

// firstAtOrAfter returns the index of the first entry whose key is at or after from.
func (c *Collection[T]) firstAtOrAfter(from time.Time) int {
	switch {
	case from.IsZero() || from.Before(minTime):
		return 0
	case from.After(maxTime):
		return len(c.index)
	}
	ns := from.UnixNano()
	return sort.Search(len(c.index), func(i int) bool { return c.index[i].key >= ns })
}

func (c *Collection[T]) served(e *entry[T]) T {
	if !c.cfg.tieBreak {
		return e.item
	}
	return c.keys.WithTime(e.item, c.servedTime(e))
}

func (c *Collection[T]) servedTime(e *entry[T]) time.Time {
	if !c.cfg.tieBreak {
		return c.keys.Time(e.item)
	}
	return time.Unix(0, e.key).UTC()
}

// window returns the position of page q within n qualifying items and the number of items on it.
func window(q Query, n int) (off, size int) {
	if q.Page < 1 || q.PageSize < 1 || n <= 0 || q.Page-1 > n/q.PageSize {
		return 0, 0
	}
	off = (q.Page - 1) * q.PageSize
	return off, min(q.PageSize, n-off)
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// unixNano returns t in Unix nanoseconds, or false when that does not fit an int64.
func unixNano(t time.Time) (int64, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// truncate rounds ns down to a multiple of r (floor, also for negative ns), or reports false when the
// result does not fit an int64.
func truncate(ns, r int64) (int64, bool) {
	q := ns / r
	if ns%r < 0 {
		q--
	}
	if q < math.MinInt64/r {
		return 0, false
	}
	return q * r, true
}

func formatNanos(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
