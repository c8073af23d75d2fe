package idempotency

import (
	"context"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/internal/hashindex"
)

// sweepInterval is how often MemoryStore.Begin deletes expired records on its way.
const sweepInterval = time.Minute

// fullSweepInterval is how often, at most, a Begin that finds its tenant at a bound deletes expired
// records to make room, so that a flood of refused keys does not scan the store each time.
const fullSweepInterval = time.Second

// The default bounds of a MemoryStore, per tenant (see WithMaxRecordsPerTenant and
// WithMaxBytesPerTenant).
const (
	// DefaultMaxRecordsPerTenant is the most records (in flight or completed) one tenant may have:
	// 100,000 writes within the retention (7 days by default).
	DefaultMaxRecordsPerTenant = 100_000
	// DefaultMaxBytesPerTenant is the most bytes one tenant's records and links may take: 128 MiB.
	DefaultMaxBytesPerTenant int64 = 128 << 20
)

// recordOverhead and linkOverhead are the bytes a record and a link take besides their strings and
// answer body (map entry, struct, times, token), counted against WithMaxBytesPerTenant.
const (
	recordOverhead = 200
	linkOverhead   = 120
)

// MemoryStore is a Store that keeps its records in the process's memory. It is the default store of
// package httpserver: zero setup, and right for a middleware that runs as one instance. Its records
// do not survive a restart and are not shared between instances; use pgstore for that. Expired
// records are deleted as new requests come in (at most once a minute), so memory use follows the
// number of writes within the retention period.
//
// Each tenant's records are bounded, in number and in bytes (WithMaxRecordsPerTenant,
// WithMaxBytesPerTenant), so that one tenant cannot fill the process's memory. The bounds are safe
// for money: no record is ever evicted before it expires, since forgetting a key whose answer is
// still replayed (or whose call is in flight) would let a repeat pay twice. Instead, a Begin for a
// new key of a tenant at a bound fails with a *StoreFullError (wrapping ErrStoreFull), nothing is
// recorded, and package httpserver answers 503 with Retry-After, which Formance retries, without
// calling the provider. Repeats of keys already held are answered as usual, and room comes back as
// records expire (completed ones after their retention) or are abandoned. An answer is always
// stored, even past the bytes bound (its provider call has happened): a tenant can go over it by
// the answers of its writes in flight.
type MemoryStore struct {
	now           func() time.Time
	linkRetention time.Duration
	maxRecords    int
	maxBytes      int64

	mu sync.Mutex
	// records and links are placed by a 64-bit hash of their key: one hash per call instead of
	// one per map operation and string of the key.
	records       *hashindex.Map[Key, memoryRecord]
	links         *hashindex.Map[linkKey, memoryLink]
	seed          maphash.Seed
	lastToken     uint64                  // tokens are this store's sequence numbers
	usage         map[string]*tenantUsage // by tenant; absent when a tenant holds nothing
	lastSweep     time.Time
	lastFullSweep time.Time
}

// tenantUsage is what one tenant's records and links take.
type tenantUsage struct {
	records int
	links   int
	bytes   int64
}

// linkKey identifies a created object: its tenant and id.
type linkKey struct{ tenant, id string }

type memoryLink struct {
	Link
	expiresAt time.Time
}

// size is what the link of key counts against its tenant's bytes.
func (l *memoryLink) size(key linkKey) int64 {
	return int64(linkOverhead + len(key.tenant) + len(key.id) + len(l.Route) + len(l.IdempotencyKey))
}

// memoryRecord is one record, held by value in MemoryStore.records: besides the map's key, it
// points only at its fingerprint and its answer's body, whose bytes hold no pointers.
type memoryRecord struct {
	fingerprint string
	status      int
	body        []byte // the answer's body, as Complete got it
	token       uint64 // 0 once completed
	createdAt   time.Time
	expiresAt   time.Time
}

// size is what the record of key counts against its tenant's bytes.
func (r *memoryRecord) size(key Key) int64 { return recordSize(key, len(r.fingerprint), len(r.body)) }

// recordSize is what a record of key, with a fingerprint and a body of the given lengths, counts
// against its tenant's bytes.
func recordSize(key Key, fingerprint, body int) int64 {
	return int64(recordOverhead + len(key.Tenant) + len(key.Route) + len(key.IdempotencyKey) + fingerprint + body)
}

var _ Store = (*MemoryStore)(nil)

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// WithClock makes the store read the time from now instead of time.Now, for tests of expiry.
func WithClock(now func() time.Time) MemoryOption {
	return func(s *MemoryStore) {
		if now != nil {
			s.now = now
		}
	}
}

// WithMemoryLinkRetention sets how long the store keeps the link from a created payout or transfer to
// its write (default DefaultLinkRetention). A non-positive d keeps the default.
func WithMemoryLinkRetention(d time.Duration) MemoryOption {
	return func(s *MemoryStore) {
		if d > 0 {
			s.linkRetention = d
		}
	}
}

// WithMaxRecordsPerTenant sets the most records, in flight or completed, that one tenant may have
// (default DefaultMaxRecordsPerTenant). Past it, Begin refuses the tenant's new keys with a
// *StoreFullError until records expire; see MemoryStore. A non-positive n keeps the default.
func WithMaxRecordsPerTenant(n int) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxRecords = n
		}
	}
}

// WithMaxBytesPerTenant sets the most bytes that one tenant's records (keys, fingerprints, stored
// answers) and links may take (default DefaultMaxBytesPerTenant). Past it, Begin refuses the
// tenant's new keys with a *StoreFullError until records expire; see MemoryStore. A non-positive n
// keeps the default.
func WithMaxBytesPerTenant(n int64) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxBytes = n
		}
	}
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	s := &MemoryStore{
		now:           time.Now,
		linkRetention: DefaultLinkRetention,
		maxRecords:    DefaultMaxRecordsPerTenant,
		maxBytes:      DefaultMaxBytesPerTenant,
		seed:          maphash.MakeSeed(),
		usage:         make(map[string]*tenantUsage),
	}
	s.records = hashindex.New[Key, memoryRecord](func(k Key) uint64 {
		return hashindex.Strings(s.seed, k.Tenant, k.Route, k.IdempotencyKey)
	})
	s.links = hashindex.New[linkKey, memoryLink](func(k linkKey) uint64 { return hashindex.Strings(s.seed, k.tenant, k.id) })
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s
}

// Begin implements Store.
func (s *MemoryStore) Begin(ctx context.Context, key Key, fingerprint []byte, inFlightTTL time.Duration) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) >= sweepInterval {
		s.purgeLocked(now)
		s.lastSweep = now
	}

	rec, at, found := s.records.Find(key)
	if found && now.Before(rec.expiresAt) {
		out := Outcome{CreatedAt: rec.createdAt, ExpiresAt: rec.expiresAt}
		switch {
		case rec.fingerprint != string(fingerprint):
			out.Kind = Mismatch
		case rec.token != 0:
			out.Kind = InFlight
		default:
			out.Kind = Completed
			out.Answer = Answer{Status: rec.status, Body: rec.body} // shared: see Outcome.Answer
		}
		return out, nil
	}
	if found { // expired: replaced
		s.charge(key.Tenant, tenantUsage{records: -1, bytes: -rec.size(key)})
		at = s.records.Delete(at)
	}
	size := recordSize(key, len(fingerprint), 0)
	purged, err := s.roomFor(key.Tenant, size, now)
	if err != nil {
		return Outcome{}, err
	}
	if purged { // the records changed since Find: find the key's place again
		_, at, _ = s.records.Find(key)
	}
	// The record keeps its own copy of the key, not the request's memory it may be a part of, and
	// of the fingerprint: both in one string.
	n := len(key.IdempotencyKey)
	own := key.IdempotencyKey + string(fingerprint)
	key.IdempotencyKey = own[:n]
	s.lastToken++
	rec = memoryRecord{
		fingerprint: own[n:],
		token:       s.lastToken,
		createdAt:   now,
		expiresAt:   now.Add(inFlightTTL),
	}
	s.records.Set(at.Keep(key), rec)
	s.charge(key.Tenant, tenantUsage{records: 1, bytes: size})
	return Outcome{Kind: Acquired, Token: strconv.FormatUint(rec.token, 10), CreatedAt: rec.createdAt, ExpiresAt: rec.expiresAt}, nil
}

// owned returns the in-flight record of key owned by token, or an error wrapping ErrLeaseLost. An
// expired record still counts while nobody else acquired it and it was not purged.
func (s *MemoryStore) owned(key Key, token string) (memoryRecord, hashindex.Slot[Key], error) {
	rec, at, found := s.records.Find(key)
	n, err := strconv.ParseUint(token, 10, 64)
	if !found || err != nil || n == 0 || rec.token != n {
		return memoryRecord{}, at, fmt.Errorf("%w (%s)", ErrLeaseLost, key)
	}
	return rec, at, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key Key, token string, answer Answer, retention time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, at, err := s.owned(key, token)
	if err != nil {
		return err
	}
	rec.token = 0
	rec.status, rec.body = answer.Status, answer.Body // kept: see Store.Complete
	rec.expiresAt = now.Add(retention)
	s.records.Set(at, rec)
	s.charge(key.Tenant, tenantUsage{bytes: int64(len(answer.Body))})
	if answer.CreatedID != "" {
		// The link points at the record's own copy of the key (at.Key), not the caller's.
		link := memoryLink{
			Link:      Link{Route: key.Route, IdempotencyKey: at.Key().IdempotencyKey},
			expiresAt: now.Add(s.linkRetention),
		}
		lk := linkKey{key.Tenant, answer.CreatedID}
		old, at, replaced := s.links.Find(lk)
		added := tenantUsage{links: 1, bytes: link.size(lk)}
		if replaced {
			added = tenantUsage{bytes: link.size(lk) - old.size(lk)}
		} else {
			lk.id = strings.Clone(lk.id) // kept for the link retention: not a part of a larger string
			at = at.Keep(lk)
		}
		s.links.Set(at, link)
		s.charge(key.Tenant, added)
	}
	return nil
}

// Linked implements Store.
func (s *MemoryStore) Linked(ctx context.Context, tenant string, ids []string) (map[string]Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasLinksLocked(tenant) {
		return nil, nil // most pages of a tenant without writes: no lookups
	}
	var found map[string]Link
	for _, id := range ids {
		if l, _, ok := s.links.Find(linkKey{tenant, id}); ok && now.Before(l.expiresAt) {
			if found == nil {
				found = make(map[string]Link)
			}
			found[id] = l.Link
		}
	}
	return found, nil
}

// HasLinks reports whether the store holds a link (see Store.Linked) for tenant, expired ones not
// yet purged included. The handler asks it before looking up the links of a page's rows: a tenant
// that never created a payout or transfer through the middleware needs no lookup.
func (s *MemoryStore) HasLinks(tenant string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasLinksLocked(tenant)
}

func (s *MemoryStore) hasLinksLocked(tenant string) bool {
	u := s.usage[tenant]
	return u != nil && u.links > 0
}

// Abandon implements Store.
func (s *MemoryStore) Abandon(_ context.Context, key Key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, at, err := s.owned(key, token)
	if err != nil {
		return err
	}
	s.records.Delete(at)
	s.charge(key.Tenant, tenantUsage{records: -1, bytes: -rec.size(key)})
	return nil
}

// Purge implements Store.
func (s *MemoryStore) Purge(context.Context) (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purgeLocked(now), nil
}

func (s *MemoryStore) purgeLocked(now time.Time) int {
	n := s.records.DeleteFunc(func(key Key, rec memoryRecord) bool {
		if now.Before(rec.expiresAt) {
			return false
		}
		s.charge(key.Tenant, tenantUsage{records: -1, bytes: -rec.size(key)})
		return true
	})
	s.links.DeleteFunc(func(key linkKey, l memoryLink) bool {
		if now.Before(l.expiresAt) {
			return false
		}
		s.charge(key.tenant, tenantUsage{links: -1, bytes: -l.size(key)})
		return true
	})
	return n
}

// charge adds d (negative to take away) to tenant's usage.
func (s *MemoryStore) charge(tenant string, d tenantUsage) {
	u := s.usage[tenant]
	if u == nil {
		u = &tenantUsage{}
		s.usage[tenant] = u
	}
	u.records += d.records
	u.links += d.links
	u.bytes += d.bytes
	if *u == (tenantUsage{}) {
		delete(s.usage, tenant)
	}
}

// roomFor returns nil when tenant may add a record of size bytes, or a *StoreFullError. A tenant at
// a bound gets its expired records deleted first (at most once per fullSweepInterval); purged
// reports whether that happened.
func (s *MemoryStore) roomFor(tenant string, size int64, now time.Time) (purged bool, err error) {
	err = s.overLimit(tenant, size)
	if err != nil && now.Sub(s.lastFullSweep) >= fullSweepInterval {
		s.purgeLocked(now)
		s.lastFullSweep = now
		purged = true
		err = s.overLimit(tenant, size)
	}
	return purged, err
}

func (s *MemoryStore) overLimit(tenant string, size int64) error {
	u := s.usage[tenant]
	if u == nil {
		u = &tenantUsage{}
	}
	switch {
	case u.records >= s.maxRecords:
		return &StoreFullError{Tenant: tenant, Limit: "records", Max: int64(s.maxRecords)}
	case u.bytes+size > s.maxBytes:
		return &StoreFullError{Tenant: tenant, Limit: "bytes", Max: s.maxBytes}
	}
	return nil
}

// Usage returns the number of records tenant holds and the bytes its records and links take, as
// counted against the bounds (expired ones not yet purged included), e.g. for a gauge.
func (s *MemoryStore) Usage(tenant string) (records int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.usage[tenant]; u != nil {
		return u.records, u.bytes
	}
	return 0, 0
}

// Len returns the number of records held, expired ones not yet purged included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records.Len()
}
