package feed

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/metric"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/internal/encodedtrust"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Option configures a feed: Memory here, and pgfeed's feeds.
type Option func(*Config)

// Config holds the settings options set. Feed implementations outside this package read it with
// NewConfig.
type Config struct {
	// Retention is how long a superseded slot stays at least (WithRetention).
	Retention time.Duration
	// Now reads the clock (WithClock).
	Now func() time.Time
	// MeterProvider and MetricsRoute are set by WithMetrics (telemetry.go).
	MeterProvider metric.MeterProvider
	MetricsRoute  string
	errs          []error
}

// NewConfig applies opts to the defaults and returns the result, or an error wrapping
// ErrInvalidConfig for a bad option.
func NewConfig(opts ...Option) (Config, error) {
	c := Config{Retention: DefaultRetention, Now: time.Now}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if len(c.errs) > 0 {
		return c, c.errs[0]
	}
	return c, nil
}

// WithRetention sets how long a superseded slot stays in the listing at least (default
// DefaultRetention). Keep it longer than Formance's polling period: Prune also waits until every
// poller seen during the retention has passed the slot. d must be positive.
func WithRetention(d time.Duration) Option {
	return func(c *Config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("%w: retention %v (want a positive duration)", ErrInvalidConfig, d))
			return
		}
		c.Retention = d
	}
}

// WithClock makes the feed read the time from now instead of time.Now (for tests of Prune).
func WithClock(now func() time.Time) Option {
	return func(c *Config) {
		if now == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: nil clock", ErrInvalidConfig))
			return
		}
		c.Now = now
	}
}

// Memory is a Feed kept in the process's memory: the embedded default, for tests, examples and
// small single-process middlewares. It follows every rule of the package doc within the process;
// a restart starts a new history (see the package doc), and it is not shared between replicas.
//
// Page takes O(log n + pageSize) time and O(pageSize) memory; Put takes O(log n) per item that
// arrives in time order. An Account, a Beneficiary or a Transaction that passes models.Validate is
// stored as its encoding (models.Encode, with its served time applied), about 1.4 times its compact
// JSON with every index: ListPage (and so List) serves it by copying those bytes, and Page and Get
// decode it. Other items (other types, and invalid items, which the handler then refuses or
// quarantines) are stored as given (a shallow copy): do not modify their maps after Put, and treat
// the maps of returned items as read-only.
type Memory[T any] struct {
	keys    Keys[T]
	cfg     Config
	metrics *Metrics // nil without WithMetrics
	// versioned: T is models.Transaction, whose encodings carry their updatedAt (the served time).
	versioned bool

	mu     sync.RWMutex
	routes map[string]*memRoute[T] // by tenant
}

// memRoute is the route of one tenant.
type memRoute[T any] struct {
	mu    sync.RWMutex
	slots []memSlot // sorted by served time
	// byID maps the hash of each id to the served time of its current slot (8 bytes a key instead
	// of a string's 16); an id whose hash another id holds goes into clash instead.
	byID       map[uint64]int64
	clash      map[string]int64
	seed       maphash.Seed
	raw        map[int64]T         // served time -> item, for the slots without an encoding
	arena      arena               // where the slots' JSON is kept, in the order it was put
	superseded map[int64]time.Time // served time -> when the slot was superseded
	max        int64               // the latest served time assigned
	h          int64               // the horizon: every slot at or before it may have been read
	poll       pollWindow
}

// memSlot is one slot: an item version with its served time applied, as its encoding's JSON (or,
// when json is empty, kept in memRoute.raw). unlinked is the encoding's UnlinkedWrite, kept here so
// that a page is put together without reading its items' bytes before they are copied.
type memSlot struct {
	st       int64
	json     string
	unlinked bool
}

// makeEncoded rebuilds the encodings the feed made with models.Encode (see encodedtrust).
var makeEncoded = encodedtrust.Make.(func(string, int64, int8) models.Encoded)

// encoded returns the encoding of slot s (zero for a raw slot), versioned by its served time when
// the route's items are transactions.
func (m *Memory[T]) encoded(s memSlot) models.Encoded {
	if s.json == "" {
		return models.Encoded{}
	}
	var unlinked int8
	if s.unlinked {
		unlinked = 1
	}
	if m.versioned {
		return makeEncoded(s.json, s.st, unlinked)
	}
	return makeEncoded(s.json, 0, unlinked)
}

var (
	_ Feed[models.Transaction]       = (*Memory[models.Transaction])(nil)
	_ PageLister[models.Transaction] = (*Memory[models.Transaction])(nil)
)

// NewMemory returns an empty memory feed for items read through keys, configured by opts. It fails
// with an error wrapping ErrInvalidConfig when keys miss a required function or an option is bad.
// For the contract's objects with the default settings, NewMemoryAccounts, NewMemoryBeneficiaries
// and NewMemoryTransactions need no error check; with options, pass AccountKeys(), BeneficiaryKeys()
// or TransactionKeys() here:
//
//	transactions, err := feed.NewMemory(feed.TransactionKeys(), feed.WithRetention(48*time.Hour))
func NewMemory[T any](keys Keys[T], opts ...Option) (*Memory[T], error) {
	if err := keys.Check(); err != nil {
		return nil, err
	}
	cfg, err := NewConfig(opts...)
	if err != nil {
		return nil, err
	}
	m := newMemory(keys, cfg)
	if m.metrics, err = NewMetrics(cfg, "feed", m.size, 0); err != nil {
		return nil, fmt.Errorf("%w: metrics: %w", ErrInvalidConfig, err)
	}
	return m, nil
}

func newMemory[T any](keys Keys[T], cfg Config) *Memory[T] {
	_, versioned := any(*new(T)).(models.Transaction)
	return &Memory[T]{keys: keys, cfg: cfg, versioned: versioned, routes: make(map[string]*memRoute[T])}
}

// newDefaultMemory returns an empty memory feed with the default settings, for the complete keys
// of this package: it cannot fail.
func newDefaultMemory[T any](keys Keys[T]) *Memory[T] {
	cfg, _ := NewConfig() // no option, no error
	return newMemory(keys, cfg)
}

// NewMemoryAccounts returns an empty memory feed of accounts (AccountKeys) with the default
// settings. For options, use NewMemory(AccountKeys(), opts...).
func NewMemoryAccounts() *Memory[models.Account] { return newDefaultMemory(AccountKeys()) }

// NewMemoryBeneficiaries returns an empty memory feed of beneficiaries (BeneficiaryKeys) with the
// default settings. For options, use NewMemory(BeneficiaryKeys(), opts...).
func NewMemoryBeneficiaries() *Memory[models.Beneficiary] {
	return newDefaultMemory(BeneficiaryKeys())
}

// NewMemoryTransactions returns an empty memory feed of transactions (TransactionKeys) with the
// default settings. For options, use NewMemory(TransactionKeys(), opts...).
func NewMemoryTransactions() *Memory[models.Transaction] {
	return newDefaultMemory(TransactionKeys())
}

// route returns the route of tenant, creating it when create is set (nil otherwise).
func (m *Memory[T]) route(tenant string, create bool) *memRoute[T] {
	m.mu.RLock()
	r := m.routes[tenant]
	m.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r = m.routes[tenant]; r == nil {
		r = &memRoute[T]{byID: make(map[uint64]int64), clash: make(map[string]int64), seed: maphash.MakeSeed(),
			raw: make(map[int64]T), superseded: make(map[int64]time.Time), max: NoHorizon, h: NoHorizon}
		m.routes[tenant] = r
	}
	return r
}

// Put implements Feed.
func (m *Memory[T]) Put(ctx context.Context, tenant string, items ...T) (err error) {
	defer func() { m.metrics.Put(ctx, len(items), err) }()
	if err := ctx.Err(); err != nil {
		return err
	}
	wants, err := m.wants(items)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	r := m.route(tenant, true)
	now := m.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slots = slices.Grow(r.slots, len(items)) // one batch: one growth
	for i, it := range items {
		r.put(m, it, wants[i], now)
	}
	return nil
}

// wants checks every item before anything is stored (Put is all-or-nothing) and returns the
// earliest served time of each.
func (m *Memory[T]) wants(items []T) ([]int64, error) {
	wants := make([]int64, len(items))
	for i, it := range items {
		w, err := m.keys.Want(it)
		if err != nil {
			return nil, fmt.Errorf("item %d of %d: %w", i+1, len(items), err)
		}
		wants[i] = w
	}
	return wants, nil
}

// encode returns the slot of item at served time st: its encoding's JSON, kept in the arena, or
// no JSON for an item kept raw: another type, an item models.Encode refuses (for the handler to
// refuse or quarantine), or one whose encoding would not carry st as its version.
func (m *Memory[T]) encode(r *memRoute[T], item *T, st int64) memSlot {
	enc, err := models.Encode(item)
	if err != nil || (m.versioned && enc.Version() != st) {
		return memSlot{st: st}
	}
	return memSlot{st: st, json: r.arena.add(enc.JSON()), unlinked: enc.UnlinkedWrite()}
}

// hashID hashes an id for memRoute.byID (a variable for the test of clashing hashes).
var hashID = maphash.String

// lookup returns the served time of the current slot of id.
func (r *memRoute[T]) lookup(m *Memory[T], id string) (int64, bool) {
	if st, ok := r.clash[id]; ok {
		return st, true
	}
	st, ok := r.byID[hashID(r.seed, id)]
	if !ok || r.idOf(m, r.slots[r.search(st)]) != id {
		return 0, false
	}
	return st, true
}

// index records st as the served time of id's current slot.
func (r *memRoute[T]) index(m *Memory[T], id string, st int64) {
	if _, ok := r.clash[id]; ok {
		r.clash[id] = st
		return
	}
	h := hashID(r.seed, id)
	if old, ok := r.byID[h]; ok && r.idOf(m, r.slots[r.search(old)]) != id {
		r.clash[id] = st // another id has this hash
		return
	}
	r.byID[h] = st
}

// idOf returns the id of the item of slot s.
func (r *memRoute[T]) idOf(m *Memory[T], s memSlot) string {
	if s.json != "" {
		return m.encoded(s).ID()
	}
	return m.keys.ID(r.raw[s.st])
}

// put stores one item whose earliest served time is want. The route's lock is held.
func (r *memRoute[T]) put(m *Memory[T], item T, want int64, now time.Time) {
	keys := m.keys
	id := keys.ID(item)
	if oldSt, ok := r.lookup(m, id); ok {
		i := r.search(oldSt)
		served := keys.Served(item, oldSt)
		e := m.encode(r, &served, oldSt)
		if r.same(m, r.slots[i], served, e.json) {
			return
		}
		if keys.InPlace {
			r.set(i, served, e)
			return
		}
		want = max(want, oldSt+1)
		if oldSt > r.h {
			r.slots = slices.Delete(r.slots, i, i+1) // never readable: no position to keep
			delete(r.raw, oldSt)
		} else {
			r.superseded[oldSt] = now
		}
	}
	st, at := r.free(max(want, r.h+1))
	served := keys.Served(item, st)
	r.slots = slices.Insert(r.slots, at, memSlot{st: st})
	r.set(at, served, m.encode(r, &served, st))
	r.index(m, id, st)
	r.max = max(r.max, st)
}

// set makes slot i hold served, encoded as e (no JSON: kept raw).
func (r *memRoute[T]) set(i int, served T, e memSlot) {
	s := &r.slots[i]
	s.json, s.unlinked = e.json, e.unlinked
	if e.json == "" {
		r.raw[s.st] = served
	} else {
		delete(r.raw, s.st)
	}
}

// same reports whether slot s already holds served (whose encoding's JSON is j): the same bytes,
// or equal by keys (a time in another location is the same instant).
func (r *memRoute[T]) same(m *Memory[T], s memSlot, served T, j string) bool {
	if j != "" && j == s.json {
		return true
	}
	old, err := r.item(m, s)
	return err == nil && m.keys.Same(old, served)
}

// item returns the item of slot s.
func (r *memRoute[T]) item(m *Memory[T], s memSlot) (T, error) {
	if s.json == "" {
		return r.raw[s.st], nil
	}
	var item T
	err := m.encoded(s).Decode(&item)
	return item, err
}

// free returns the first served time at or after st that no slot holds, and the index where its
// slot goes.
func (r *memRoute[T]) free(st int64) (int64, int) {
	at := r.search(st)
	for at < len(r.slots) && r.slots[at].st == st {
		st++
		at++
	}
	return st, at
}

// search returns the index of the first slot whose served time is at or after st.
func (r *memRoute[T]) search(st int64) int {
	i, _ := slices.BinarySearchFunc(r.slots, st, func(s memSlot, st int64) int {
		return cmp.Compare(s.st, st)
	})
	return i
}

// Load implements Feed.
func (m *Memory[T]) Load(ctx context.Context, tenant string, items []T) (err error) {
	defer func() { m.metrics.Put(ctx, len(items), err) }()
	if err := ctx.Err(); err != nil {
		return err
	}
	wants, err := m.wants(items)
	if err != nil {
		return err
	}
	r := m.route(tenant, true)
	now := m.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.slots) > 0 { // checked under the lock that Put takes too
		return fmt.Errorf("%w (tenant %q)", ErrNotEmpty, tenant)
	}
	r.slots = slices.Grow(r.slots, len(items))
	for i, it := range items {
		r.put(m, it, wants[i], now)
	}
	return nil
}

// Page implements Feed: the items of ListPage, decoded.
func (m *Memory[T]) Page(ctx context.Context, tenant string, q pagination.Query) ([]T, error) {
	page, err := m.ListPage(ctx, tenant, q)
	if err != nil {
		return nil, err
	}
	return Items(page)
}

// ListPage implements PageLister: the page of Page, as the stored encodings (Encoded) when every
// slot of the page has one, and as items otherwise (a page holding an invalid item, or a type
// models.Encode does not know).
func (m *Memory[T]) ListPage(ctx context.Context, tenant string, q pagination.Query) (connector.Page[T], error) {
	if err := ctx.Err(); err != nil {
		return connector.Page[T]{}, err
	}
	if q.Page < 1 || q.PageSize < 1 {
		return connector.Page[T]{}, fmt.Errorf("feed: page %d of size %d (want both at least 1)", q.Page, q.PageSize)
	}
	from := NoHorizon
	if !q.From.IsZero() {
		var ok bool
		if from, ok = UnixNano(q.From); !ok {
			return connector.Page[T]{}, fmt.Errorf("%w: from %s", ErrTimeOutOfRange, q.From)
		}
	}
	r := m.route(tenant, true)
	now := m.cfg.Now()
	r.mu.RLock()
	if r.h < r.max || r.poll.wants(from, now, m.cfg.Retention) {
		r.mu.RUnlock()
		r.mu.Lock()
		r.h = max(r.h, r.max)
		r.poll.note(from, now, m.cfg.Retention)
		r.mu.Unlock()
		r.mu.RLock()
	}
	defer r.mu.RUnlock()
	// Every slot is at or before h here: h was raised to max under the lock, and a slot put since
	// then (after h) is not served yet.
	first := r.search(from)
	end := r.search(r.h + 1)
	if r.h == NoHorizon {
		end = 0
	}
	listing := r.slots[first:end]
	off := min(q.Offset(), len(listing))
	n := min(q.PageSize, len(listing)-off)
	at := func(i int) memSlot { return listing[off+i] }
	if q.Sort.Direction == pagination.Descending {
		at = func(i int) memSlot { return listing[len(listing)-1-off-i] }
	}
	encs := make([]models.Encoded, n)
	for i := range n {
		if encs[i] = m.encoded(at(i)); encs[i].IsZero() {
			encs = nil
			break
		}
	}
	if encs != nil {
		return connector.Page[T]{Encoded: encs}, nil
	}
	items := make([]T, n)
	for i := range n {
		item, err := r.item(m, at(i))
		if err != nil {
			return connector.Page[T]{}, fmt.Errorf("feed: decoding a stored item: %w", err)
		}
		items[i] = item
	}
	return connector.Page[T]{Items: items}, nil
}

// Get implements Feed.
func (m *Memory[T]) Get(_ context.Context, tenant, id string) (T, bool, error) {
	var zero T
	r := m.route(tenant, false)
	if r == nil {
		return zero, false, nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.lookup(m, id)
	if !ok {
		return zero, false, nil
	}
	item, err := r.item(m, r.slots[r.search(st)])
	if err != nil {
		return zero, false, fmt.Errorf("feed: decoding item %q: %w", id, err)
	}
	return item, true, nil
}

// Prune implements Feed.
func (m *Memory[T]) Prune(ctx context.Context) (int, error) {
	m.mu.RLock()
	routes := make([]*memRoute[T], 0, len(m.routes))
	for _, r := range m.routes {
		routes = append(routes, r)
	}
	m.mu.RUnlock()
	now := m.cfg.Now()
	total := 0
	for _, r := range routes {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		r.mu.Lock()
		if floor, ok := r.poll.floor(now, m.cfg.Retention); ok {
			cutoff := PruneCutoff(floor)
			gone := map[int64]bool{}
			for st, at := range r.superseded {
				if now.Sub(at) >= m.cfg.Retention && st < cutoff {
					gone[st] = true
					delete(r.superseded, st)
					delete(r.raw, st)
				}
			}
			if len(gone) > 0 {
				r.slots = slices.DeleteFunc(r.slots, func(s memSlot) bool { return gone[s.st] })
				total += len(gone)
			}
		}
		r.mu.Unlock()
	}
	return total, nil
}

// PruneCutoff returns the served time before which superseded slots may be pruned, given the
// lowest …From of the pollers of the retention (Unix ns; NoHorizon for a poller from scratch): a
// second before it, for a poller's From is its last time truncated to the second.
func PruneCutoff(floor int64) int64 {
	if floor < NoHorizon+int64(time.Second) {
		return NoHorizon
	}
	return floor - int64(time.Second)
}

// Len returns the number of slots of tenant, superseded ones included.
func (m *Memory[T]) Len(tenant string) int {
	r := m.route(tenant, false)
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.slots)
}

// pollWindow remembers the lowest …From that list requests sent, over at least the last retention,
// in two buckets of one retention each: the current one and the one before.
type pollWindow struct {
	curStart          time.Time
	curMin, prevMin   int64
	prevSeen, curSeen bool
}

// wants reports whether a request with from at now would change the window.
func (p *pollWindow) wants(from int64, now time.Time, retention time.Duration) bool {
	return !p.curSeen || from < p.curMin || now.Sub(p.curStart) >= retention
}

// note records a request with from at now.
func (p *pollWindow) note(from int64, now time.Time, retention time.Duration) {
	if !p.curSeen || now.Sub(p.curStart) >= retention {
		p.prevMin, p.prevSeen = p.curMin, p.curSeen && now.Sub(p.curStart) < 2*retention
		p.curMin, p.curSeen, p.curStart = from, true, now
		return
	}
	p.curMin = min(p.curMin, from)
}

// floor returns the lowest from of the requests of the last retention (and maybe a little more),
// or false when none came.
func (p *pollWindow) floor(now time.Time, retention time.Duration) (int64, bool) {
	switch {
	case !p.curSeen || now.Sub(p.curStart) >= 2*retention:
		return 0, false
	case now.Sub(p.curStart) >= retention || !p.prevSeen:
		return p.curMin, true
	}
	return min(p.curMin, p.prevMin), true
}

// arena keeps the slots' JSON in large chunks, one after the other in the order items are put:
// a page of items put in time order is then one run of memory (copied at memory speed, where
// separate allocations would be scattered over the heap), and no allocation rounds a JSON up to
// its size class. A chunk's bytes are never written again once added; a chunk is freed when no
// slot refers to it any more (so pruned slots free their bytes only with their chunk's others).
type arena struct {
	chunk []byte
}

const arenaChunk = 256 << 10

// add returns a string holding json, kept in the arena.
func (a *arena) add(json string) string {
	n := len(json)
	if n > arenaChunk/4 {
		return json // a large item keeps its own allocation
	}
	if cap(a.chunk)-len(a.chunk) < n {
		// Chunks grow from 4 KiB to arenaChunk, so that a tenant with few items holds little.
		a.chunk = make([]byte, 0, min(max(2*cap(a.chunk), 4<<10), arenaChunk))
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, json...)
	return unsafe.String(&a.chunk[start], n)
}
