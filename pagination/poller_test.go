package pagination

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// poller is a small stand-in for Formance's Generic Connector poller, written from CONTRACT.md
// ("How the client polls", steps 1 to 4). Each request goes through ParseQuery, as on the wire.
type poller[T any] struct {
	field Field
	size  int // P
	list  func(Query) []T
	at    func(T) time.Time

	s        time.Time // S: the time of the last kept item; zero at first
	got      []T       // every kept item, in the order kept
	requests int
}

func newPoller[T any](field Field, size int, list func(Query) []T, at func(T) time.Time) *poller[T] {
	return &poller[T]{field: field, size: size, list: list, at: at}
}

// fetch performs one fetch (steps 1 to 3) and reports "has more".
func (p *poller[T]) fetch(t *testing.T) bool {
	t.Helper()
	var kept, last []T
	for page := 1; ; page++ {
		// Step 1: S in UTC with second precision, omitted while zero.
		v := url.Values{
			"page":     {strconv.Itoa(page)},
			"pageSize": {strconv.Itoa(p.size)},
			"sort":     {string(p.field) + ":asc"},
		}
		if !p.s.IsZero() {
			v.Set(FromParam(p.field), p.s.UTC().Truncate(time.Second).Format(time.RFC3339))
		}
		q, err := ParseQuery(v, p.field, 0)
		require.NoError(t, err)
		p.requests++
		last = p.list(q)
		require.LessOrEqual(t, len(last), p.size, "server answered more than pageSize")
		// Step 2: keep only items strictly after S, at full precision.
		for _, it := range last {
			if p.at(it).After(p.s) {
				kept = append(kept, it)
			}
		}
		// Step 3: stop on enough kept items or on a short page.
		if len(kept) >= p.size || len(last) < p.size {
			break
		}
	}
	hasMore := len(last) == p.size
	if len(kept) > p.size {
		kept, hasMore = kept[:p.size], true
	}
	if len(kept) > 0 {
		p.s = p.at(kept[len(kept)-1])
	}
	p.got = append(p.got, kept...)
	return hasMore
}

// sync runs fetches while "has more" (step 4), as the engine does before waiting pollingPeriod.
func (p *poller[T]) sync(t *testing.T) {
	t.Helper()
	for range 100000 {
		if !p.fetch(t) {
			return
		}
	}
	t.Fatal("poller did not settle after 100000 fetches")
}
