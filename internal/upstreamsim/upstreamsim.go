// Package upstreamsim is a simulated PSP for the tests of packages ingest and ingest/pgingest: its
// timestamps are to the second, its transactions change at random, and its API fails now and then
// with a 429 (with Retry-After) or a 503. It serves the three list shapes ingest adapts: an
// "updated since" list with a keyset cursor, a page-numbered list of a creation window, and an
// event log. It is not for use outside the module's tests.
package upstreamsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// Start is the PSP's clock when it is created.
var Start = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// PageSize is the number of objects (or events) a list call returns at most.
const PageSize = 10

// Upstream is the simulated PSP. Its methods are safe for concurrent use.
type Upstream struct {
	mu      sync.Mutex
	rng     *rand.Rand
	clock   time.Time
	objects map[string]Object
	order   []string // creation order
	events  []Event
	failP   int // one call in failP fails (0: never)
}

// Object is one transaction at the PSP.
type Object struct {
	ID      string
	Created time.Time
	Updated time.Time
	Status  models.TransactionStatus
	Amount  int64
	Seq     int // creation sequence
}

// Event is one entry of the PSP's event log: an object as it was created or changed.
type Event struct {
	Seq    int
	At     time.Time
	Object Object
}

// New returns an empty PSP whose randomness (when it moves its clock, which objects change and to
// what, which calls fail) comes from rng, and one of whose list calls in failP fails (0: never).
func New(rng *rand.Rand, failP int) *Upstream {
	return &Upstream{rng: rng, clock: Start, objects: map[string]Object{}, failP: failP}
}

// Now is the PSP's time, to the second.
func (u *Upstream) Now() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.now()
}

func (u *Upstream) now() time.Time { return u.clock.Truncate(time.Second) }

func (u *Upstream) tick() { u.clock = u.clock.Add(time.Duration(u.rng.IntN(300)) * time.Millisecond) }

// Add creates n PENDING objects.
func (u *Upstream) Add(n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range n {
		u.tick()
		o := Object{ID: fmt.Sprintf("tx_%05d", len(u.order)), Created: u.now(), Updated: u.now(),
			Status: models.TransactionStatusPending, Amount: int64(100 + len(u.order)), Seq: len(u.order)}
		u.objects[o.ID] = o
		u.order = append(u.order, o.ID)
		u.events = append(u.events, Event{Seq: len(u.events) + 1, At: u.now(), Object: o})
	}
}

var statuses = []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusFailed,
	models.TransactionStatusRefunded, models.TransactionStatusDispute}

// Change gives n random objects, among the last recent ones created (all when recent is 0), a
// random final status.
func (u *Upstream) Change(n, recent int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range n {
		u.tick()
		lo := 0
		if recent > 0 && len(u.order) > recent {
			lo = len(u.order) - recent
		}
		o := u.objects[u.order[lo+u.rng.IntN(len(u.order)-lo)]]
		o.Status = statuses[u.rng.IntN(len(statuses))]
		o.Updated = u.now()
		u.objects[o.ID] = o
		u.events = append(u.events, Event{Seq: len(u.events) + 1, At: u.now(), Object: o})
	}
}

// Final returns the current state of every object, by id.
func (u *Upstream) Final() map[string]Object {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]Object, len(u.objects))
	for k, v := range u.objects {
		out[k] = v
	}
	return out
}

// fail returns, now and then, the error of a PSP that rate limits or is down.
func (u *Upstream) fail() error {
	if u.failP == 0 || u.rng.IntN(u.failP) != 0 {
		return nil
	}
	if u.rng.IntN(2) == 0 {
		return connector.RateLimited(20*time.Millisecond, "upstream: 429 Too Many Requests")
	}
	return connector.Unavailable(nil, "upstream: 503 Service Unavailable")
}

// ListUpdatedSince is an "updated since" list to the second, oldest update first, PageSize objects
// a page after the keyset cursor (the position after the last object returned; "" for the first).
func (u *Upstream) ListUpdatedSince(since time.Time, cursor string) ([]Object, string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail(); err != nil {
		return nil, "", err
	}
	var all []Object
	for _, o := range u.objects {
		if !o.Updated.Before(since.Truncate(time.Second)) {
			all = append(all, o)
		}
	}
	slices.SortFunc(all, func(a, b Object) int {
		if c := a.Updated.Compare(b.Updated); c != 0 {
			return c
		}
		return a.Seq - b.Seq
	})
	start := 0
	if cursor != "" { // keyset: after (updated, seq) of the cursor
		var at int64
		var seq int
		if _, err := fmt.Sscanf(cursor, "%d/%d", &at, &seq); err != nil {
			return nil, "", err
		}
		for start < len(all) && (all[start].Updated.Unix() < at || all[start].Updated.Unix() == at && all[start].Seq <= seq) {
			start++
		}
	}
	end := min(start+PageSize, len(all))
	page, next := all[start:end], ""
	if end < len(all) {
		last := page[len(page)-1]
		next = fmt.Sprintf("%d/%d", last.Updated.Unix(), last.Seq)
	}
	return page, next, nil
}

// ListCreated is a page-number list of the objects created in [from, to), oldest first: its pages
// shift when objects are created inside the range. It also says whether more pages follow.
func (u *Upstream) ListCreated(from, to time.Time, page int) ([]Object, bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail(); err != nil {
		return nil, false, err
	}
	var in []Object
	for _, id := range u.order {
		o := u.objects[id]
		if !o.Created.Before(from.Truncate(time.Second)) && o.Created.Before(to) {
			in = append(in, o)
		}
	}
	start := min((page-1)*PageSize, len(in))
	end := min(start+PageSize, len(in))
	return in[start:end], end < len(in), nil
}

// ListEvents returns the events after cursor (an event sequence number; "" for the start), oldest
// first, the cursor after them, and whether more follow.
func (u *Upstream) ListEvents(cursor string) ([]Event, string, bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail(); err != nil {
		return nil, "", false, err
	}
	after := 0
	if cursor != "" {
		var err error
		if after, err = strconv.Atoi(cursor); err != nil {
			return nil, "", false, err
		}
	}
	end := min(after+PageSize, len(u.events))
	evs := slices.Clone(u.events[after:end])
	return evs, strconv.Itoa(end), end < len(u.events), nil
}

// Transaction is the object as the middleware serves it: a PAYIN in EUR/2 to acc_1.
func (o Object) Transaction() models.Transaction {
	return models.Transaction{ID: o.ID, CreatedAt: o.Created, UpdatedAt: o.Updated, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: o.Status, Amount: models.AmountFromInt64(o.Amount),
		DestinationAccountID: "acc_1"}
}
