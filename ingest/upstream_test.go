package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// upstream is a simulated PSP with second-precision timestamps, whose transactions change at
// random, and whose API fails now and then with a 429 (with Retry-After) or a 503.
type upstream struct {
	mu      sync.Mutex
	rng     *rand.Rand
	clock   time.Time
	objects map[string]object
	order   []string // creation order
	events  []event
	failP   int // one call in failP fails (0: never)
	calls   int
}

type object struct {
	ID        string
	Created   time.Time
	Updated   time.Time
	Status    models.TransactionStatus
	Amount    int64
	CreatedSe int // creation sequence
}

type event struct {
	Seq    int
	At     time.Time
	Object object
}

func newUpstream(seed uint64, failP int) *upstream {
	return &upstream{rng: rand.New(rand.NewPCG(seed, 3)), clock: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC),
		objects: map[string]object{}, failP: failP}
}

// now is the PSP's time, to the second.
func (u *upstream) now() time.Time { return u.clock.Truncate(time.Second) }

func (u *upstream) tick() { u.clock = u.clock.Add(time.Duration(u.rng.IntN(300)) * time.Millisecond) }

// Add creates n objects; Change changes n random objects created within the last `recent` objects
// (all when 0).
func (u *upstream) Add(n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for range n {
		u.tick()
		o := object{ID: fmt.Sprintf("tx_%05d", len(u.order)), Created: u.now(), Updated: u.now(),
			Status: models.TransactionStatusPending, Amount: int64(100 + len(u.order)), CreatedSe: len(u.order)}
		u.objects[o.ID] = o
		u.order = append(u.order, o.ID)
		u.events = append(u.events, event{Seq: len(u.events) + 1, At: u.now(), Object: o})
	}
}

var statuses = []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusFailed,
	models.TransactionStatusRefunded, models.TransactionStatusDispute}

func (u *upstream) Change(n, recent int) {
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
		u.events = append(u.events, event{Seq: len(u.events) + 1, At: u.now(), Object: o})
	}
}

// Final returns the current state of every object.
func (u *upstream) Final() map[string]object {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]object, len(u.objects))
	for k, v := range u.objects {
		out[k] = v
	}
	return out
}

// fail returns, now and then, the error of a PSP that rate limits or is down.
func (u *upstream) fail() error {
	u.calls++
	if u.failP == 0 || u.rng.IntN(u.failP) != 0 {
		return nil
	}
	if u.rng.IntN(2) == 0 {
		return connector.RateLimited(20*time.Millisecond, "upstream: 429 Too Many Requests")
	}
	return connector.Unavailable(nil, "upstream: 503 Service Unavailable")
}

const upstreamPage = 10

// ListUpdatedSince is an "updated since" list to the second, oldest update first, with a keyset
// cursor (the position after the last object returned).
func (u *upstream) ListUpdatedSince(since time.Time, cursor string) ([]object, string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail(); err != nil {
		return nil, "", err
	}
	var all []object
	for _, o := range u.objects {
		if !o.Updated.Before(since.Truncate(time.Second)) {
			all = append(all, o)
		}
	}
	slices.SortFunc(all, func(a, b object) int {
		if c := a.Updated.Compare(b.Updated); c != 0 {
			return c
		}
		return a.CreatedSe - b.CreatedSe
	})
	start := 0
	if cursor != "" {
		// keyset: after (updated, seq) of the cursor
		var at int64
		var seq int
		fmt.Sscanf(cursor, "%d/%d", &at, &seq)
		for start < len(all) && (all[start].Updated.Unix() < at || (all[start].Updated.Unix() == at && all[start].CreatedSe <= seq)) {
			start++
		}
	}
	end := min(start+upstreamPage, len(all))
	page := all[start:end]
	next := ""
	if end < len(all) {
		last := page[len(page)-1]
		next = fmt.Sprintf("%d/%d", last.Updated.Unix(), last.CreatedSe)
	}
	return page, next, nil
}

// ListCreated is a page-number list of the objects created in [from, to), oldest first: its pages
// shift when objects are created inside the range.
func (u *upstream) ListCreated(from, to time.Time, page int) ([]object, bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail(); err != nil {
		return nil, false, err
	}
	var in []object
	for _, id := range u.order {
		o := u.objects[id]
		if !o.Created.Before(from.Truncate(time.Second)) && o.Created.Before(to) {
			in = append(in, o)
		}
	}
	start := min((page-1)*upstreamPage, len(in))
	end := min(start+upstreamPage, len(in))
	return in[start:end], end < len(in), nil
}

// ListEvents returns the events after cursor (an event sequence number), oldest first.
func (u *upstream) ListEvents(cursor string) ([]event, string, bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail(); err != nil {
		return nil, "", false, err
	}
	after := 0
	if cursor != "" {
		after, _ = strconv.Atoi(cursor)
	}
	end := min(after+upstreamPage, len(u.events))
	evs := slices.Clone(u.events[after:end])
	return evs, strconv.Itoa(end), end < len(u.events), nil
}

func toTransaction(o object) (models.Transaction, error) {
	return models.Transaction{ID: o.ID, CreatedAt: o.Created, UpdatedAt: o.Updated, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: o.Status, Amount: models.AmountFromInt64(o.Amount),
		DestinationAccountID: "acc_1"}, nil
}

var _ = context.Background
