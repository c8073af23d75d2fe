package feed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Errors returned by the feeds, wrapped with the item's position, id or tenant.
var (
	// ErrMissingID: an item has an empty id. Every item needs a unique, stable id.
	ErrMissingID = errors.New("feed: item has no ID")
	// ErrTimeOutOfRange: an item's time cannot be represented as Unix nanoseconds (before 1678,
	// after 2262, or the zero time.Time because it was never set).
	ErrTimeOutOfRange = errors.New("feed: item time is outside the years 1678 to 2262")
	// ErrNotEmpty: Load was called for a tenant and route that already hold items.
	ErrNotEmpty = errors.New("feed: the tenant's route already holds items")
	// ErrInvalidConfig: a feed was built with incomplete Keys or a bad option.
	ErrInvalidConfig = errors.New("feed: invalid configuration")
)

// DefaultRetention is how long a superseded slot stays in the listing at least (see the package
// doc, rule 6): longer than any fetch, and than a polling period of Formance.
const DefaultRetention = 24 * time.Hour

// Feed stores the items of one list route (accounts, beneficiaries or transactions) for every
// tenant, and serves them by the rules of the package doc. Implementations are safe for concurrent
// use by any number of writers and readers; pgfeed's are also safe across processes.
type Feed[T any] interface {
	// Put stores items for tenant, in order: arrival order is the tie order. A new id is inserted, a
	// known one with other content is a change (see the package doc), and an unchanged one is a
	// no-op, so re-putting the PSP's whole list is cheap. Put is all-or-nothing: an error (wrapping
	// ErrMissingID or ErrTimeOutOfRange, naming the item; or the database's) stores nothing. The
	// same id may appear several times: later items are changes to earlier ones.
	Put(ctx context.Context, tenant string, items ...T) error
	// Load is Put for the first import of a PSP's history into an empty tenant and route: the same
	// served times as Put, faster for large batches. It fails with ErrNotEmpty when the route of the
	// tenant already holds items.
	Load(ctx context.Context, tenant string, items []T) error
	// Page answers one list request of tenant: the slots whose served time is at or after q.From,
	// sorted by served time (descending when q.Sort says so), page q.Page of size q.PageSize, each
	// item with its served time (Keys.WithTime). It first raises the horizon H (see the package doc).
	Page(ctx context.Context, tenant string, q pagination.Query) ([]T, error)
	// Get returns the current version of the item with id, as Page serves it, and whether it exists.
	// It does not raise H.
	Get(ctx context.Context, tenant, id string) (T, bool, error)
	// Prune deletes the superseded slots that no poller can read any more (see the package doc,
	// rule 6) and returns how many it deleted. Call it now and then (hourly is plenty).
	Prune(ctx context.Context) (int, error)
}

// List answers a provider's list request from f, for the tenant of ctx (connector.TenantFrom):
// the one line a provider needs per route.
//
// A feed that is a PageLister (Memory and pgfeed's feeds) answers with its stored encodings, which
// the handler writes as they are.
func List[T any](ctx context.Context, f Feed[T], req connector.ListRequest) (connector.Page[T], error) {
	tenant, _ := connector.TenantFrom(ctx)
	if l, ok := f.(PageLister[T]); ok {
		return l.ListPage(ctx, tenant, req.Query())
	}
	items, err := f.Page(ctx, tenant, req.Query())
	if err != nil {
		return connector.Page[T]{}, err
	}
	return connector.Page[T]{Items: items}, nil
}

// Items returns the items of a page that List (or ListPage) answered: its Items, or its Encoded
// decoded. For a caller that reads a provider's answer itself (a test, say) rather than through the
// handler.
func Items[T any](page connector.Page[T]) ([]T, error) {
	if page.Encoded == nil {
		return page.Items, nil
	}
	out := make([]T, len(page.Encoded))
	for i, e := range page.Encoded {
		if err := e.Decode(&out[i]); err != nil {
			return nil, fmt.Errorf("feed: decoding item %d of a page: %w", i+1, err)
		}
	}
	return out, nil
}

// PageLister is a Feed that keeps its items encoded (models.Encode, validated once when stored) and
// answers a list request with those bytes: List calls ListPage instead of Page. ListPage answers
// what Page would, as connector.Page: the items' encodings in Encoded, or, when a slot of the page
// has none (an item models.Encode refuses, which the handler must refuse or quarantine, or a type
// it does not know), the items in Items.
type PageLister[T any] interface {
	ListPage(ctx context.Context, tenant string, q pagination.Query) (connector.Page[T], error)
}

// Keys tells a feed how to read and set the parts of an item it needs. The functions must be fast
// and must not block. Use AccountKeys, BeneficiaryKeys and TransactionKeys for the contract's
// objects.
type Keys[T any] struct {
	// ID returns the item's unique, stable id. Required.
	ID func(T) string
	// Time returns the item's time field: the one Formance sorts by (CreatedAt for accounts and
	// beneficiaries, UpdatedAt for transactions). Required.
	Time func(T) time.Time
	// WithTime returns a copy of the item with the time field set to the served time. Required.
	WithTime func(T, time.Time) T
	// Floor, when set, returns a lower bound of the served time (CreatedAt for transactions, so that
	// a transaction is never served with an updatedAt before its createdAt).
	Floor func(T) time.Time
	// Equal reports whether two versions are the same, so that putting an unchanged item again is a
	// no-op. Nil means reflect.DeepEqual.
	Equal func(a, b T) bool
	// InPlace makes a change keep the item's slot and served time (rule 5 of the package doc), for
	// routes whose changes Formance never reads (accounts and beneficiaries).
	InPlace bool
}

// Check reports an error wrapping ErrInvalidConfig when a required function is missing.
func (k Keys[T]) Check() error {
	if k.ID == nil || k.Time == nil || k.WithTime == nil {
		return fmt.Errorf("%w: Keys needs ID, Time and WithTime", ErrInvalidConfig)
	}
	return nil
}

// Same reports whether a and b are equal by k.Equal, or reflect.DeepEqual without one.
func (k Keys[T]) Same(a, b T) bool {
	if k.Equal != nil {
		return k.Equal(a, b)
	}
	return reflect.DeepEqual(a, b)
}

// Want returns the earliest served time item may have, in Unix nanoseconds: its time, raised to its
// floor. It fails with ErrTimeOutOfRange or ErrMissingID, naming the item.
func (k Keys[T]) Want(item T) (int64, error) {
	id := k.ID(item)
	if id == "" {
		return 0, ErrMissingID
	}
	ns, ok := UnixNano(k.Time(item))
	if !ok {
		return 0, fmt.Errorf("%w: item %q has time %s", ErrTimeOutOfRange, id, k.Time(item))
	}
	if k.Floor != nil {
		f, ok := UnixNano(k.Floor(item))
		if !ok {
			return 0, fmt.Errorf("%w: item %q has a floor time of %s", ErrTimeOutOfRange, id, k.Floor(item))
		}
		ns = max(ns, f)
	}
	return ns, nil
}

// Served returns item with its served time st (Unix nanoseconds) applied.
func (k Keys[T]) Served(item T, st int64) T {
	return k.WithTime(item, time.Unix(0, st).UTC())
}

// UnixNano returns t in Unix nanoseconds, or false when t is outside what int64 nanoseconds hold
// (the zero time.Time among them).
func UnixNano(t time.Time) (int64, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64-1)
)

// NoHorizon is the horizon H of a tenant and route nobody has read yet: every served time is after
// it.
const NoHorizon int64 = math.MinInt64

// AccountKeys are the Keys of accounts: sorted by CreatedAt, changed in place.
func AccountKeys() Keys[models.Account] {
	return Keys[models.Account]{
		ID:       func(a models.Account) string { return a.ID },
		Time:     func(a models.Account) time.Time { return a.CreatedAt },
		WithTime: func(a models.Account, t time.Time) models.Account { a.CreatedAt = t; return a },
		Equal:    equalMetadataItems(func(a models.Account) models.Metadata { return a.Metadata }),
		InPlace:  true,
	}
}

// BeneficiaryKeys are the Keys of beneficiaries: sorted by CreatedAt, changed in place.
func BeneficiaryKeys() Keys[models.Beneficiary] {
	return Keys[models.Beneficiary]{
		ID:       func(b models.Beneficiary) string { return b.ID },
		Time:     func(b models.Beneficiary) time.Time { return b.CreatedAt },
		WithTime: func(b models.Beneficiary, t time.Time) models.Beneficiary { b.CreatedAt = t; return b },
		Equal:    equalMetadataItems(func(b models.Beneficiary) models.Metadata { return b.Metadata }),
		InPlace:  true,
	}
}

// TransactionKeys are the Keys of transactions: sorted by UpdatedAt, never served before their
// CreatedAt, and a change gets a new slot.
func TransactionKeys() Keys[models.Transaction] {
	return Keys[models.Transaction]{
		ID:       func(t models.Transaction) string { return t.ID },
		Time:     func(t models.Transaction) time.Time { return t.UpdatedAt },
		WithTime: func(tx models.Transaction, t time.Time) models.Transaction { tx.UpdatedAt = t; return tx },
		Floor:    func(t models.Transaction) time.Time { return t.CreatedAt },
		Equal:    equalTransactions,
	}
}

// equalMetadataItems compares two items field by field with reflect.DeepEqual, except that a nil
// and an empty metadata map are the same (they are the same on the wire) and times compare with
// Equal (a monotonic clock reading or another location is the same instant).
func equalMetadataItems[T any](meta func(T) models.Metadata) func(a, b T) bool {
	return func(a, b T) bool {
		if !sameMetadata(meta(a), meta(b)) {
			return false
		}
		return reflect.DeepEqual(normalize(a), normalize(b))
	}
}

func equalTransactions(a, b models.Transaction) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) || !sameMetadata(a.Metadata, b.Metadata) ||
		a.Amount.Cmp(b.Amount) != 0 {
		return false
	}
	return a.ID == b.ID && a.RelatedTransactionID == b.RelatedTransactionID && a.Currency == b.Currency &&
		a.Scheme == b.Scheme && a.Type == b.Type && a.Status == b.Status && a.SourceAccountID == b.SourceAccountID &&
		a.DestinationAccountID == b.DestinationAccountID
}

func sameMetadata(a, b models.Metadata) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// normalize returns v with its time fields in UTC without a monotonic reading and its metadata
// cleared (compared apart), for reflect.DeepEqual.
func normalize[T any](v T) T {
	switch x := any(&v).(type) {
	case *models.Account:
		x.CreatedAt, x.Metadata = x.CreatedAt.UTC().Round(0), nil
	case *models.Beneficiary:
		x.CreatedAt, x.Metadata = x.CreatedAt.UTC().Round(0), nil
	}
	return v
}
