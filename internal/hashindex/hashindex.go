// Package hashindex is a map that holds its entries under a 64-bit hash of their key, for keys
// made of strings: one hash per operation, computed once by the caller's function, and an 8-byte
// key for the map to hash and compare, where a key of three strings costs three string hashes at
// every operation. The hash only picks where an entry goes: the whole key is kept and compared, and
// an entry whose hash another key's entry holds is indexed in a second, ordinary map.
//
// The index maps hold only the position of an entry, which lives in pages of entries that never
// move: a lookup probes 16-byte map slots whatever the size of an entry, a new entry goes at the
// end of the newest page (or in the place of a deleted one), and the map's growth copies positions,
// not entries. Not safe for concurrent use.
package hashindex

import "hash/maphash"

// pageBits sets the entries of a page: 1<<pageBits.
const pageBits = 8

// Map maps keys K to values V.
type Map[K comparable, V any] struct {
	hash  func(K) uint64
	main  map[uint64]int32 // hash -> position of the key's entry
	clash map[K]int32      // key -> position, for keys whose hash another key holds in main
	pages []*[1 << pageBits]entry[K, V]
	free  []int32 // positions of deleted entries, used again first
	end   int32   // positions used so far, free ones included (a map holds fewer than 2^31 entries)
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns an empty map placing its keys by hash.
func New[K comparable, V any](hash func(K) uint64) *Map[K, V] {
	return &Map[K, V]{hash: hash, main: make(map[uint64]int32), clash: make(map[K]int32)}
}

// SetHash replaces the hash function of an empty map (tests make keys clash with it).
func (m *Map[K, V]) SetHash(hash func(K) uint64) {
	if m.Len() > 0 {
		panic("hashindex: SetHash on a map with entries")
	}
	m.hash = hash
}

// Slot is where Find found a key's entry, or where Set puts it. The slot of an entry in the map
// stays valid until the entry is deleted or DeleteFunc runs; the slot of a key not found is valid
// until the map next changes.
type Slot[K comparable] struct {
	key  K
	hash uint64
	pos  int32 // the entry's position, when found
	in   place
}

type place uint8

const (
	freeMain  place = iota // not found; its hash is free in main
	takenMain              // not found; its hash is held by another key
	inMain                 // found, indexed in main
	inClash                // found, indexed in clash
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

// Key returns the slot's key: for a slot of an entry, the copy the map keeps (see Keep).
func (s Slot[K]) Key() K { return s.key }

func (m *Map[K, V]) at(pos int32) *entry[K, V] {
	return &m.pages[pos>>pageBits][pos&(1<<pageBits-1)]
}

// Find returns key's value and slot; ok reports whether it has an entry.
func (m *Map[K, V]) Find(key K) (v V, s Slot[K], ok bool) {
	s = Slot[K]{key: key, hash: m.hash(key)}
	if len(m.clash) > 0 {
		if pos, ok := m.clash[key]; ok {
			e := m.at(pos)
			s.key, s.pos, s.in = e.key, pos, inClash
			return e.val, s, true
		}
	}
	pos, ok := m.main[s.hash]
	if !ok {
		return v, s, false
	}
	e := m.at(pos)
	if e.key != key {
		s.in = takenMain
		return v, s, false
	}
	s.key, s.pos, s.in = e.key, pos, inMain
	return e.val, s, true
}

// Set sets the value at s (from Find, see Slot) and returns the slot of the entry.
func (m *Map[K, V]) Set(s Slot[K], v V) Slot[K] {
	switch s.in {
	case inMain, inClash:
		m.at(s.pos).val = v
		return s
	case takenMain:
		s.pos = m.place(s.key, v)
		m.clash[s.key] = s.pos
		s.in = inClash
	default:
		s.pos = m.place(s.key, v)
		m.main[s.hash] = s.pos
		s.in = inMain
	}
	return s
}

// place stores a new entry and returns its position.
func (m *Map[K, V]) place(key K, v V) int32 {
	var pos int32
	if n := len(m.free); n > 0 {
		pos = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		if int(m.end>>pageBits) == len(m.pages) {
			m.pages = append(m.pages, new([1 << pageBits]entry[K, V]))
		}
		pos = m.end
		m.end++
	}
	*m.at(pos) = entry[K, V]{key: key, val: v}
	return pos
}

// Delete deletes the entry at s (found) and returns the slot where the key would go again.
func (m *Map[K, V]) Delete(s Slot[K]) Slot[K] {
	switch s.in {
	case inClash:
		delete(m.clash, s.key)
		m.release(s.pos)
		if _, taken := m.main[s.hash]; taken {
			s.in = takenMain
			return s
		}
	case inMain:
		delete(m.main, s.hash)
		m.release(s.pos)
	}
	s.in = freeMain
	return s
}

// release clears the entry at pos, so that it holds on to nothing, for a later place.
func (m *Map[K, V]) release(pos int32) {
	*m.at(pos) = entry[K, V]{}
	m.free = append(m.free, pos)
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return len(m.main) + len(m.clash) }

// All calls yield for every entry, in no order, until it returns false.
func (m *Map[K, V]) All(yield func(K, V) bool) {
	for _, pos := range m.main {
		if e := m.at(pos); !yield(e.key, e.val) {
			return
		}
	}
	for _, pos := range m.clash {
		if e := m.at(pos); !yield(e.key, e.val) {
			return
		}
	}
}

// DeleteFunc deletes every entry for which del returns true and returns how many it deleted. When
// it leaves the map mostly empty, it moves the entries left into new pages and index maps, so that
// the memory of a past peak is given back (Go's maps never shrink); a slot from before a DeleteFunc
// is therefore not valid after it.
func (m *Map[K, V]) DeleteFunc(del func(K, V) bool) int {
	n := 0
	for h, pos := range m.main {
		if e := m.at(pos); del(e.key, e.val) {
			delete(m.main, h)
			m.release(pos)
			n++
		}
	}
	for k, pos := range m.clash {
		if e := m.at(pos); del(e.key, e.val) {
			delete(m.clash, k)
			m.release(pos)
			n++
		}
	}
	if n > 0 && len(m.pages) > 1 && m.Len() <= int(m.end)/compactBelow {
		m.compact()
	}
	return n
}

// compactBelow: DeleteFunc compacts a map of more than one page left with at most 1/compactBelow of
// the entries it has room for.
const compactBelow = 4

// compact moves the entries into new pages, in positions 0 to Len()-1, and new index maps of their
// size.
func (m *Map[K, V]) compact() {
	fresh := Map[K, V]{hash: m.hash, main: make(map[uint64]int32, len(m.main)), clash: make(map[K]int32, len(m.clash))}
	for h, pos := range m.main {
		e := m.at(pos)
		fresh.main[h] = fresh.place(e.key, e.val)
	}
	for k, pos := range m.clash {
		e := m.at(pos)
		fresh.clash[k] = fresh.place(e.key, e.val)
	}
	*m = fresh
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
