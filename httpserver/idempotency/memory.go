package idempotency

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// sweepInterval is how often MemoryStore.Begin deletes expired records on its way.
const sweepInterval = time.Minute

// MemoryStore is a Store that keeps its records in the process's memory. It is the default store of
// package httpserver: zero setup, and right for a middleware that runs as one instance. Its records
// do not survive a restart and are not shared between instances; use pgstore for that. Expired
// records are deleted as new requests come in (at most once a minute), so memory use follows the
// number of writes within the retention period.
type MemoryStore struct {
	now           func() time.Time
	linkRetention time.Duration

	mu        sync.Mutex
	records   map[Key]*memoryRecord
	links     map[linkKey]memoryLink
	lastSweep time.Time
}

// linkKey identifies a created object: its tenant and id.
type linkKey struct{ tenant, id string }

type memoryLink struct {
	Link
	expiresAt time.Time
}

type memoryRecord struct {
	fingerprint []byte
	token       string // "" once completed
	answer      Answer
	createdAt   time.Time
	expiresAt   time.Time
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

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	s := &MemoryStore{
		now:           time.Now,
		linkRetention: DefaultLinkRetention,
		records:       make(map[Key]*memoryRecord),
		links:         make(map[linkKey]memoryLink),
	}
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

	if rec, ok := s.records[key]; ok && now.Before(rec.expiresAt) {
		out := Outcome{CreatedAt: rec.createdAt, ExpiresAt: rec.expiresAt}
		switch {
		case !bytes.Equal(rec.fingerprint, fingerprint):
			out.Kind = Mismatch
		case rec.token != "":
			out.Kind = InFlight
		default:
			out.Kind = Completed
			out.Answer = Answer{Status: rec.answer.Status, Body: slices.Clone(rec.answer.Body)}
		}
		return out, nil
	}
	rec := &memoryRecord{
		fingerprint: slices.Clone(fingerprint),
		token:       NewToken(),
		createdAt:   now,
		expiresAt:   now.Add(inFlightTTL),
	}
	s.records[key] = rec
	return Outcome{Kind: Acquired, Token: rec.token, CreatedAt: rec.createdAt, ExpiresAt: rec.expiresAt}, nil
}

// owned returns the in-flight record of key owned by token, or an error wrapping ErrLeaseLost. An
// expired record still counts while nobody else acquired it and it was not purged.
func (s *MemoryStore) owned(key Key, token string) (*memoryRecord, error) {
	rec, ok := s.records[key]
	if !ok || token == "" || rec.token != token {
		return nil, fmt.Errorf("%w (%s)", ErrLeaseLost, key)
	}
	return rec, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key Key, token string, answer Answer, retention time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.owned(key, token)
	if err != nil {
		return err
	}
	rec.token = ""
	rec.answer = Answer{Status: answer.Status, Body: slices.Clone(answer.Body)}
	rec.expiresAt = now.Add(retention)
	if answer.CreatedID != "" {
		s.links[linkKey{key.Tenant, answer.CreatedID}] = memoryLink{
			Link:      Link{Route: key.Route, IdempotencyKey: key.IdempotencyKey},
			expiresAt: now.Add(s.linkRetention),
		}
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
	var found map[string]Link
	for _, id := range ids {
		if l, ok := s.links[linkKey{tenant, id}]; ok && now.Before(l.expiresAt) {
			if found == nil {
				found = make(map[string]Link)
			}
			found[id] = l.Link
		}
	}
	return found, nil
}

// Abandon implements Store.
func (s *MemoryStore) Abandon(_ context.Context, key Key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.owned(key, token); err != nil {
		return err
	}
	delete(s.records, key)
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
	n := 0
	for key, rec := range s.records {
		if !now.Before(rec.expiresAt) {
			delete(s.records, key)
			n++
		}
	}
	for key, l := range s.links {
		if !now.Before(l.expiresAt) {
			delete(s.links, key)
		}
	}
	return n
}

// Len returns the number of records held, expired ones not yet purged included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
