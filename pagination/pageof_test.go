package pagination

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type rec struct {
	ID string
	At time.Time
}

func recID(r rec) string    { return r.ID }
func recAt(r rec) time.Time { return r.At }
func ids(rs []rec) []string { return mapSlice(rs, recID) }
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

var t0 = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func TestPageOf(t *testing.T) {
	// Deliberately unsorted, with ties on time, and one time given in another zone.
	paris := time.FixedZone("CET", 3600)
	items := []rec{
		{"d", sec(2)},
		{"b", sec(1)},
		{"a", sec(1)},
		{"e", sec(3).In(paris)},
		{"c", sec(1)},
		{"z", sec(0)},
	}
	orig := append([]rec(nil), items...)
	asc := Sort{Field: FieldCreatedAt, Direction: Ascending}
	desc := Sort{Field: FieldCreatedAt, Direction: Descending}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"all, ascending, ties by id", Query{Page: 1, PageSize: 10, Sort: asc}, []string{"z", "a", "b", "c", "d", "e"}},
		{"first page", Query{Page: 1, PageSize: 2, Sort: asc}, []string{"z", "a"}},
		{"second page", Query{Page: 2, PageSize: 2, Sort: asc}, []string{"b", "c"}},
		{"last page, short", Query{Page: 2, PageSize: 4, Sort: asc}, []string{"d", "e"}},
		{"past the end", Query{Page: 4, PageSize: 2, Sort: asc}, []string{}},
		{"far past the end", Query{Page: math.MaxInt, PageSize: 1000, Sort: asc}, []string{}},
		{"from is inclusive", Query{Page: 1, PageSize: 10, Sort: asc, From: sec(1)}, []string{"a", "b", "c", "d", "e"}},
		{"from between seconds", Query{Page: 1, PageSize: 10, Sort: asc, From: sec(1).Add(time.Nanosecond)}, []string{"d", "e"}},
		{"from in another zone", Query{Page: 1, PageSize: 10, Sort: asc, From: sec(3).In(paris)}, []string{"e"}},
		{"from after everything", Query{Page: 1, PageSize: 10, Sort: asc, From: sec(4)}, []string{}},
		{"descending reverses time and id", Query{Page: 1, PageSize: 10, Sort: desc}, []string{"e", "d", "c", "b", "a", "z"}},
		{"descending second page", Query{Page: 2, PageSize: 2, Sort: desc}, []string{"c", "b"}},
		{"descending with from", Query{Page: 1, PageSize: 10, Sort: desc, From: sec(1)}, []string{"e", "d", "c", "b", "a"}},
		{"page size 1", Query{Page: 6, PageSize: 1, Sort: asc}, []string{"e"}},
		{"invalid page", Query{Page: 0, PageSize: 10, Sort: asc}, []string{}},
		{"invalid page size", Query{Page: 1, PageSize: 0, Sort: asc}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PageOf(items, tt.q, recID, recAt)
			require.NotNil(t, got)
			assert.Equal(t, tt.want, ids(got))
			assert.Equal(t, orig, items, "PageOf must not modify its input")
		})
	}
}

func TestPageOfWalkCoversEverythingOnce(t *testing.T) {
	var items []rec
	for i := range 53 {
		items = append(items, rec{ID: string(rune('A'+i%26)) + string(rune('a'+i/26)), At: sec(i % 7)})
	}
	for _, size := range []int{1, 2, 7, 10, 53, 100} {
		var seen []string
		for page := 1; ; page++ {
			got := PageOf(items, Query{Page: page, PageSize: size, Sort: Sort{Field: FieldCreatedAt, Direction: Ascending}}, recID, recAt)
			seen = append(seen, ids(got)...)
			if len(got) < size {
				break
			}
		}
		assert.Len(t, seen, len(items), "page size %d", size)
		assert.ElementsMatch(t, ids(items), seen, "page size %d", size)
	}
}

func TestPageOfEmptyInput(t *testing.T) {
	got := PageOf(nil, Query{Page: 1, PageSize: 10}, recID, recAt)
	require.NotNil(t, got)
	assert.Empty(t, got)
}
