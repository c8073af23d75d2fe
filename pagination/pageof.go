package pagination

import (
	"slices"
	"strings"
	"time"
)

// PageOf answers one list request from an in-memory slice, without keeping any state: it keeps the
// items whose time (at) is at or after q.From (all of them when From is zero), sorts them by (time, id)
// in q.Sort.Direction (descending reverses both), and returns page q.Page of size q.PageSize. The
// result holds exactly q.PageSize items unless the data is exhausted, and is an empty, non-nil slice
// past the end. items is not modified; items with equal time and id keep their input order.
//
// PageOf sorts on every call, which is fine for small data (a few thousand items). It serves the real
// times, and breaks ties by id, which is NOT lossless under Formance's poller when the PSP's timestamps
// are coarse: the poller only compares times, so items that share one timestamp across the cut of a
// fetch are skipped forever, and a change that does not move the time forward is never fetched. When
// several items may share a timestamp, use a Collection, which serves unique timestamps.
func PageOf[T any](items []T, q Query, id func(T) string, at func(T) time.Time) []T {
	kept := make([]T, 0, len(items))
	for _, it := range items {
		if q.From.IsZero() || !at(it).Before(q.From) {
			kept = append(kept, it)
		}
	}
	sign := 1
	if q.Sort.Direction == Descending {
		sign = -1
	}
	slices.SortStableFunc(kept, func(a, b T) int {
		if c := at(a).Compare(at(b)); c != 0 {
			return sign * c
		}
		return sign * strings.Compare(id(a), id(b))
	})
	off, size := window(q, len(kept))
	return append(make([]T, 0, size), kept[off:off+size]...)
}
