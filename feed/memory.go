package feed

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

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
// arrives in time order. Items are stored as given (a shallow copy): do not modify their maps after
// Put, and treat the maps of returned items as read-only.
type Memory[T any] struct {
	keys    Keys[T]
	cfg     Config
	metrics *Metrics // nil without WithMetrics

	mu     sync.RWMutex
	routes map[string]*memRoute[T] // by tenant
}

// memRoute is the route of one tenant.
type memRoute[T any] struct {
	mu    sync.RWMutex
	slots []*memSlot[T] // sorted by served time
	byID  map[string]*memSlot[T]
	max   int64 // the latest served time assigned
	h     int64 // the horizon: every slot at or before it may have been read
	poll  pollWindow
}

// memSlot is one slot: an item version with its served time applied.
type memSlot[T any] struct {
	st           int64
	id           string
	item         T
	supersededAt time.Time // zero while the slot holds the current version
}

var _ Feed[models.Transaction] = (*Memory[models.Transaction])(nil)

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
	return &Memory[T]{keys: keys, cfg: cfg, routes: make(map[string]*memRoute[T])}
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
		r = &memRoute[T]{byID: make(map[string]*memSlot[T]), max: NoHorizon, h: NoHorizon}
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
	for i, it := range items {
		r.put(m.keys, it, wants[i], now)
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

// put stores one item whose earliest served time is want. The route's lock is held.
func (r *memRoute[T]) put(keys Keys[T], item T, want int64, now time.Time) {
	id := keys.ID(item)
	old := r.byID[id]
	if old != nil {
		served := keys.Served(item, old.st)
		if keys.Same(old.item, served) {
			return
		}
		if keys.InPlace {
			old.item = served
			return
		}
		want = max(want, old.st+1)
		if old.st > r.h {
			r.remove(old) // never readable: no position to keep
		} else {
			old.supersededAt = now
		}
	}
	st, at := r.free(max(want, r.h+1))
	s := &memSlot[T]{st: st, id: id, item: keys.Served(item, st)}
	r.slots = slices.Insert(r.slots, at, s)
	r.byID[id] = s
	r.max = max(r.max, st)
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
	i, _ := slices.BinarySearchFunc(r.slots, st, func(s *memSlot[T], st int64) int {
		switch {
		case s.st < st:
			return -1
		case s.st > st:
			return 1
		}
		return 0
	})
	return i
}

func (r *memRoute[T]) remove(s *memSlot[T]) {
	if i := r.search(s.st); i < len(r.slots) && r.slots[i] == s {
		r.slots = slices.Delete(r.slots, i, i+1)
	}
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
	for i, it := range items {
		r.put(m.keys, it, wants[i], now)
	}
	return nil
}

// Page implements Feed.
func (m *Memory[T]) Page(ctx context.Context, tenant string, q pagination.Query) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Page < 1 || q.PageSize < 1 {
		return nil, fmt.Errorf("feed: page %d of size %d (want both at least 1)", q.Page, q.PageSize)
	}
	from := NoHorizon
	if !q.From.IsZero() {
		var ok bool
		if from, ok = UnixNano(q.From); !ok {
			return nil, fmt.Errorf("%w: from %s", ErrTimeOutOfRange, q.From)
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
	out := make([]T, n)
	if q.Sort.Direction == pagination.Descending {
		for i := range n {
			out[i] = listing[len(listing)-1-off-i].item
		}
		return out, nil
	}
	for i := range n {
		out[i] = listing[off+i].item
	}
	return out, nil
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
	s, ok := r.byID[id]
	if !ok {
		return zero, false, nil
	}
	return s.item, true, nil
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
		floor, ok := r.poll.floor(now, m.cfg.Retention)
		if ok {
			cutoff := PruneCutoff(floor)
			before := len(r.slots)
			r.slots = slices.DeleteFunc(r.slots, func(s *memSlot[T]) bool {
				return !s.supersededAt.IsZero() && now.Sub(s.supersededAt) >= m.cfg.Retention && s.st < cutoff
			})
			total += before - len(r.slots)
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
