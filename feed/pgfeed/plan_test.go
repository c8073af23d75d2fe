package pgfeed

import (
	"math/rand/v2"
	"testing"
)

// TestOccupancyFindsTheFirstFreeTime compares occupancy with a plain set: served times stored in
// the database (read only within the spans asked for), taken and released by a batch.
func TestOccupancyFindsTheFirstFreeTime(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 3))
		low, high := int64(rng.IntN(50)), int64(50+rng.IntN(400))
		stored := map[int64]bool{}
		for range rng.IntN(300) {
			stored[low+int64(rng.IntN(int(high-low+1)))] = true
		}
		taken := map[int64]bool{}
		for st := range stored {
			taken[st] = true
		}
		o := occupancy{low: low, high: high, taken: map[int64]struct{}{}}
		o.load = func(spans []span) ([]int64, error) {
			var out []int64
			for i, s := range spans {
				if s.lo < low || s.hi > high || s.lo > s.hi || (i > 0 && s.lo <= spans[i-1].hi+1) {
					t.Fatalf("seed %d: load of span %+v outside [%d, %d] or not merged: %+v", seed, s, low, high, spans)
				}
				for st := s.lo; st <= s.hi; st++ {
					if stored[st] {
						out = append(out, st)
					}
				}
			}
			return out, nil
		}
		if rng.IntN(2) == 0 {
			var spans []span
			for range rng.IntN(10) {
				c := low + int64(rng.IntN(int(high-low+1)))
				spans = append(spans, span{c, c + int64(rng.IntN(100))})
			}
			if err := o.add(spans); err != nil {
				t.Fatal(err)
			}
		}
		var mine []int64
		for step := range 400 {
			if len(mine) > 0 && rng.IntN(4) == 0 {
				i := rng.IntN(len(mine))
				st := mine[i]
				mine = append(mine[:i], mine[i+1:]...)
				o.release(st)
				delete(taken, st)
				continue
			}
			if rng.IntN(10) == 0 { // a stored slot deleted by the batch
				for st := range stored {
					if taken[st] {
						o.release(st)
						delete(taken, st)
						break
					}
				}
				continue
			}
			c := low - 20 + int64(rng.IntN(int(high-low+60)))
			want := c
			for taken[want] {
				want++
			}
			got, err := o.take(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("seed %d step %d: take(%d) = %d, want %d", seed, step, c, got, want)
			}
			taken[got] = true
			mine = append(mine, got)
		}
	}
}

func TestMergeJoinsTouchingSpans(t *testing.T) {
	got := merge([]span{{10, 12}, {1, 3}, {4, 5}, {11, 20}, {30, 30}})
	want := []span{{1, 5}, {10, 20}, {30, 30}}
	if len(got) != len(want) {
		t.Fatalf("merge = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("merge = %v, want %v", got, want)
		}
	}
}
