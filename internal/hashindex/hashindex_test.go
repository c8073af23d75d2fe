package hashindex

import (
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMapAgreesWithAMap drives a Map and a plain map with the same random sets, deletes and
// lookups, with a real hash, with every key hashing alike and with a few hashes, and compares them
// after every step: clashing keys must never see or overwrite one another's entries, whichever of
// them came first or left first.
func TestMapAgreesWithAMap(t *testing.T) {
	seed := maphash.MakeSeed()
	for name, hash := range map[string]func(string) uint64{
		"maphash":     func(k string) uint64 { return maphash.String(seed, k) },
		"one hash":    func(string) uint64 { return 1 },
		"four hashes": func(k string) uint64 { return uint64(len(k) % 4) },
	} {
		t.Run(name, func(t *testing.T) {
			m := New[string, int](hash)
			want := map[string]int{}
			rng := rand.New(rand.NewPCG(3, 4))
			for step := range 20000 {
				k := "k" + strconv.Itoa(rng.IntN(40))
				v, s, ok := m.Find(k)
				wv, wok := want[k]
				require.Equal(t, wok, ok, "step %d: %s found", step, k)
				require.Equal(t, wok, s.Found())
				require.Equal(t, wv, v, "step %d: %s", step, k)
				if rng.IntN(3) == 0 && ok {
					s = m.Delete(s)
					delete(want, k)
					if rng.IntN(2) == 0 { // put back at once, through the slot Delete returned
						m.Set(s, step)
						want[k] = step
					}
				} else {
					m.Set(s, step)
					want[k] = step
				}
				require.Equal(t, len(want), m.Len(), "step %d", step)
			}
			got := map[string]int{}
			m.All(func(k string, v int) bool { got[k] = v; return true })
			assert.Equal(t, want, got)

			n := m.DeleteFunc(func(_ string, v int) bool { return v%2 == 0 })
			even := 0
			for k, v := range want {
				if v%2 == 0 {
					delete(want, k)
					even++
				}
			}
			assert.Equal(t, even, n)
			for k, wv := range want {
				v, _, ok := m.Find(k)
				assert.True(t, ok, k)
				assert.Equal(t, wv, v, k)
			}
			assert.Equal(t, len(want), m.Len())
		})
	}
}

func TestAllStopsWhenYieldSaysSo(t *testing.T) {
	m := New[string, int](func(string) uint64 { return 1 })
	for i := range 5 {
		_, s, _ := m.Find(strconv.Itoa(i))
		m.Set(s, i)
	}
	calls := 0
	m.All(func(string, int) bool { calls++; return calls < 3 })
	assert.Equal(t, 3, calls)
}

func TestSetHashOnlyWhenEmpty(t *testing.T) {
	m := New[string, int](func(string) uint64 { return 1 })
	m.SetHash(func(string) uint64 { return 2 })
	_, s, _ := m.Find("a")
	m.Set(s, 1)
	assert.Panics(t, func() { m.SetHash(func(string) uint64 { return 3 }) })
}

// TestFindGivesTheKeptKey: the slot of a found entry holds the key Set kept (see Keep), not the
// one Find was asked with, in main and in clash alike.
func TestFindGivesTheKeptKey(t *testing.T) {
	for name, hash := range map[string]func(string) uint64{
		"main":  func(k string) uint64 { return uint64(len(k)) },
		"clash": func(string) uint64 { return 7 },
	} {
		t.Run(name, func(t *testing.T) {
			m := New[string, int](hash)
			_, s, _ := m.Find("other")
			m.Set(s, 0)
			asked := strings.Repeat("key", 3)
			kept := strings.Clone(asked)
			_, s, ok := m.Find(asked)
			require.False(t, ok)
			m.Set(s.Keep(kept), 1)
			again := strings.Clone(asked)
			v, s, ok := m.Find(again)
			require.True(t, ok)
			assert.Equal(t, 1, v)
			assert.Same(t, unsafe.StringData(kept), unsafe.StringData(s.Key()), "the kept copy")
		})
	}
}

// TestDeletedPlacesAreUsedAgain: entries deleted make room for new ones, so a map whose entries
// come and go does not grow, and a deleted entry holds on to nothing.
func TestDeletedPlacesAreUsedAgain(t *testing.T) {
	seed := maphash.MakeSeed()
	m := New[string, *int](func(k string) uint64 { return maphash.String(seed, k) })
	for round := range 5 {
		slots := make([]Slot[string], 0, 1000)
		for i := range 1000 {
			_, s, _ := m.Find(strconv.Itoa(round) + "/" + strconv.Itoa(i))
			slots = append(slots, m.Set(s, new(int)))
		}
		for _, s := range slots {
			m.Delete(s)
		}
		require.Zero(t, m.Len())
	}
	assert.Equal(t, (1000+1<<pageBits-1)>>pageBits, len(m.pages), "pages of the first round only")
	for _, p := range m.pages {
		for _, e := range p {
			assert.Nil(t, e.val, "a deleted entry is cleared")
		}
	}
}

// TestDeleteFuncGivesBackTheMemoryOfAPeak: a DeleteFunc that leaves a map of many pages mostly
// empty moves what is left into as few pages as it needs, every entry still found with its value,
// in main and in clash, and the map goes on working.
func TestDeleteFuncGivesBackTheMemoryOfAPeak(t *testing.T) {
	seed := maphash.MakeSeed()
	m := New[string, int](func(k string) uint64 {
		if len(k) > 4 && k[:4] == "same" {
			return 1 // these keys clash
		}
		return maphash.String(seed, k)
	})
	want := map[string]int{}
	for i := range 20 * (1 << pageBits) {
		k := strconv.Itoa(i)
		if i%500 == 0 {
			k = "same" + k
		}
		_, s, _ := m.Find(k)
		m.Set(s, i)
		want[k] = i
	}
	require.Equal(t, 20, len(m.pages))
	n := m.DeleteFunc(func(_ string, v int) bool { return v%10 != 0 })
	for k, v := range want {
		if v%10 != 0 {
			delete(want, k)
		}
	}
	require.Equal(t, len(want), m.Len())
	assert.Equal(t, 20*(1<<pageBits)-len(want), n)
	assert.Equal(t, (len(want)+1<<pageBits-1)>>pageBits, len(m.pages), "compacted")
	assert.Empty(t, m.free)
	assert.NotEmpty(t, m.clash, "clashing keys kept")
	for k, v := range want {
		got, s, ok := m.Find(k)
		require.True(t, ok, k)
		require.Equal(t, v, got, k)
		m.Set(s, v+1)
	}
	got := map[string]int{}
	m.All(func(k string, v int) bool { got[k] = v - 1; return true })
	assert.Equal(t, want, got)

	m.DeleteFunc(func(_ string, v int) bool { return v != 1 }) // all but the entry of 0
	assert.Equal(t, 1, m.Len())
	assert.Len(t, m.pages, 1, "compacted again")
	v, _, ok := m.Find("same0")
	assert.True(t, ok)
	assert.Equal(t, 1, v)
}
