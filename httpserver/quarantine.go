package httpserver

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// DefaultQuarantineSize is how many distinct invalid items a Quarantine lists unless
// NewQuarantine says otherwise.
const DefaultQuarantineSize = 10_000

// Quarantine lists the invalid items a handler left out of its list answers (see WithQuarantine),
// so that the integrator can find them, fix them at the source, and serve them again. It is safe
// for concurrent use, and may be shared by several handlers.
//
// By default (without WithQuarantine) one invalid item makes its page a 500 that names it. That is
// the safe default, since nothing invalid reaches Formance and nothing is skipped, but Formance
// retries a failed list fetch for ever, so the route stalls until someone fixes the row. With a
// Quarantine the route goes on: the item is left out of the page (which is filled up from the
// items after it, so that it stays full), logged at ERROR with the route, tenant, id and field, and
// listed here.
//
// Left out means skipped: Formance's position moves past the item. Once the row is fixed, it
// reaches Formance only when it is served again at a time after Formance's position, e.g. Put again
// into a pagination.Collection or a feed, which serves a changed item at a new time. An account or
// a beneficiary is stored by Formance in its first version only, so fix those before they are
// first served if you can: the quarantine is a way to keep the sync going while you do, not a
// replacement for valid data.
type Quarantine struct {
	max int

	mu      sync.Mutex
	items   map[quarantineKey]*QuarantinedItem
	dropped int64 // distinct items not listed because the quarantine was full
	total   int64 // items left out of answers, repeats included
}

type quarantineKey struct{ tenant, route, id string }

// QuarantinedItem is one invalid item left out of list answers.
type QuarantinedItem struct {
	// Tenant is the tenant whose list held the item.
	Tenant string
	// Route is the list route, e.g. "GET /transactions".
	Route string
	// ID is the item's id; empty when the item had none (then Index tells which one it was).
	ID string
	// Problem says what is wrong, naming the object, its id and each faulty field, as the 500 of
	// the default would.
	Problem string
	// Fields are the names of the faulty fields.
	Fields []string
	// FirstSeen and LastSeen are when the item was first and last left out.
	FirstSeen, LastSeen time.Time
	// Count is how many answers left it out.
	Count int64
}

// NewQuarantine returns an empty quarantine that lists up to max distinct items (0 means
// DefaultQuarantineSize); past that, further items are still left out and counted, but not listed.
func NewQuarantine(max int) *Quarantine {
	if max <= 0 {
		max = DefaultQuarantineSize
	}
	return &Quarantine{max: max, items: make(map[quarantineKey]*QuarantinedItem)}
}

// Items returns the listed items, oldest first.
func (q *Quarantine) Items() []QuarantinedItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]QuarantinedItem, 0, len(q.items))
	for _, it := range q.items {
		c := *it
		c.Fields = slices.Clone(it.Fields)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b QuarantinedItem) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.Tenant+"\x00"+a.Route+"\x00"+a.ID, b.Tenant+"\x00"+b.Route+"\x00"+b.ID)
	})
	return out
}

// Total returns how many times an item was left out of an answer, repeats included.
func (q *Quarantine) Total() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// Dropped returns how many distinct items were left out but not listed, because the quarantine was
// full.
func (q *Quarantine) Dropped() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Release removes an item from the list, once it is fixed. It reports whether it was listed.
func (q *Quarantine) Release(tenant, route, id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := quarantineKey{tenant, route, id}
	_, ok := q.items[k]
	delete(q.items, k)
	return ok
}

// add records one item left out of an answer and reports whether it is new.
func (q *Quarantine) add(tenant, route, id string, err error) bool {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.total++
	k := quarantineKey{tenant, route, id}
	if it, ok := q.items[k]; ok {
		it.LastSeen, it.Problem, it.Fields = now, err.Error(), problemFields(err)
		it.Count++
		return false
	}
	if len(q.items) >= q.max {
		q.dropped++
		return true
	}
	q.items[k] = &QuarantinedItem{Tenant: tenant, Route: route, ID: id, Problem: err.Error(), Fields: problemFields(err),
		FirstSeen: now, LastSeen: now, Count: 1}
	return true
}

func problemFields(err error) []string {
	var verr *models.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	fields := make([]string, len(verr.Problems))
	for i, p := range verr.Problems {
		fields[i] = p.Field
	}
	return fields
}

// WithQuarantine makes the list routes leave invalid items out of their answers, list them in q and
// go on, instead of answering 500 (the default). See Quarantine for what that means for Formance.
// Only items that fail validation are left out; a page longer than asked for or an id repeated on
// one page is still a 500 (the provider is broken, not a row).
//
// A page stays full: when items are left out, the handler asks the provider for the pages after it
// and fills the answer from them, so that Formance never reads a short page as the end of the data.
// An item may then be served both at the end of one page and at the start of the next; Formance
// stores it once.
func WithQuarantine(q *Quarantine) Option {
	return func(c *config) {
		if q == nil {
			c.reject("nil quarantine")
			return
		}
		c.quarantine = q
	}
}

// quarantine records an invalid item of a list answer and logs it at ERROR.
func (h *Handler) quarantine(r *http.Request, itemID string, index int, err error) {
	tenant, _ := connector.TenantFrom(r.Context())
	route := routeName(r)
	isNew := h.cfg.quarantine.add(tenant, route, itemID, err)
	observe(r).invalidItem(invalidQuarantined)
	attrs := []slog.Attr{slog.String("route", route), slog.String("tenant", tenant), slog.String("id", itemID),
		slog.Any("fields", problemFields(err)), slog.String("problem", err.Error()), slog.Bool("first_time", isNew)}
	if itemID == "" {
		attrs = append(attrs, slog.Int("index", index))
	}
	h.logger.LogAttrs(r.Context(), slog.LevelError, "invalid item left out of the answer (quarantined)", attrs...)
}
