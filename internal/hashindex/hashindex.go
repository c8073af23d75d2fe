// Package hashindex is a map that holds its entries under a 64-bit hash of their key, for keys
// made of strings: one hash per operation, computed once by the caller's function, and an 8-byte
// key for the map to hash and compare, where a key of three strings costs three string hashes at
// every operation. The hash only picks where an entry goes: the whole key is kept and compared, and
// an entry whose hash another key's entry holds is kept in a second, ordinary map. Not safe for
// concurrent use.
package hashindex

import "hash/maphash"

// Map maps keys K to values V.
type Map[K comparable, V any] struct {
	hash  func(K) uint64
	main  map[uint64]entry[K, V]
	clash map[K]V
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns an empty map placing its keys by hash.
func New[K comparable, V any](hash func(K) uint64) *Map[K, V] {
	return &Map[K, V]{hash: hash, main: make(map[uint64]entry[K, V]), clash: make(map[K]V)}
}

// SetHash replaces the hash function of an empty map (tests make keys clash with it).
func (m *Map[K, V]) SetHash(hash func(K) uint64) {
	if m.Len() > 0 {
		panic("hashindex: SetHash on a map with entries")
	}
	m.hash = hash
}

// Slot is where Find found a key's entry, or where Set puts it. The slot of an entry in the map
// stays valid until the entry is deleted; the slot of a key not found is valid until the map next
// changes.
type Slot[K comparable] struct {
	key  K
	hash uint64
	in   place
}

type place uint8

const (
	freeMain  place = iota // not found; its hash is free in main
	takenMain              // not found; its hash is held by another key
	inMain                 // found in main
	inClash                // found in clash
)

// Keep returns the slot with key, equal to the slot's key, as the copy a Set keeps (for a key
// whose strings point into memory the map should not hold on to).
func (s Slot[K]) Keep(key K) Slot[K] {
	if key != s.key {
		panic("hashindex: Keep with another key")
	}
	s.key = key
	return s
}

// Found reports whether the slot holds the key's entry.
func (s Slot[K]) Found() bool { return s.in >= inMain }

// Find returns key's value and slot; ok reports whether it has an entry.
func (m *Map[K, V]) Find(key K) (v V, s Slot[K], ok bool) {
	s = Slot[K]{key: key, hash: m.hash(key)}
	if len(m.clash) > 0 {
		if v, ok := m.clash[key]; ok {
			s.in = inClash
			return v, s, true
		}
	}
	e, ok := m.main[s.hash]
	switch {
	case !ok:
		return v, s, false
	case e.key != key:
		s.in = takenMain
		return v, s, false
	}
	s.in = inMain
	return e.val, s, true
}

// Set sets the value at s (from Find, see Slot) and returns the slot of the entry.
func (m *Map[K, V]) Set(s Slot[K], v V) Slot[K] {
	switch s.in {
	case takenMain, inClash:
		m.clash[s.key] = v
		s.in = inClash
	default:
		m.main[s.hash] = entry[K, V]{key: s.key, val: v}
		s.in = inMain
	}
	return s
}

// Delete deletes the entry at s (found) and returns the slot where the key would go again.
func (m *Map[K, V]) Delete(s Slot[K]) Slot[K] {
	switch s.in {
	case inClash:
		delete(m.clash, s.key)
		if _, taken := m.main[s.hash]; taken {
			s.in = takenMain
			return s
		}
	case inMain:
		delete(m.main, s.hash)
	}
	s.in = freeMain
	return s
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return len(m.main) + len(m.clash) }

// All calls yield for every entry, in no order, until it returns false.
func (m *Map[K, V]) All(yield func(K, V) bool) {
	for _, e := range m.main {
		if !yield(e.key, e.val) {
			return
		}
	}
	for k, v := range m.clash {
		if !yield(k, v) {
			return
		}
	}
}

// DeleteFunc deletes every entry for which del returns true and returns how many it deleted.
func (m *Map[K, V]) DeleteFunc(del func(K, V) bool) int {
	n := 0
	for h, e := range m.main {
		if del(e.key, e.val) {
			delete(m.main, h)
			n++
		}
	}
	for k, v := range m.clash {
		if del(k, v) {
			delete(m.clash, k)
			n++
		}
	}
	return n
}

// Strings hashes parts with seed, each part followed by a zero byte, so that moving bytes from one
// part to the next changes the hash (which only picks an entry's place: the key is compared).
func Strings(seed maphash.Seed, parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, p := range parts {
		h.WriteString(p)
		h.WriteByte(0)
	}
	return h.Sum64()
}
