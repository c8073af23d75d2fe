package pagination

import (
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// Keys tells a Collection how to read and set the parts of an item it needs.
type Keys[T any] struct {
	// ID returns the item's unique id.
	ID func(T) string
	// Time returns the item's time field (CreatedAt for accounts, UpdatedAt for transactions).
	Time func(T) time.Time
	// WithTime returns a copy of the item with the time field set to t (the served time).
	WithTime func(T, time.Time) T
	// Equal reports whether two versions of an item are the same; nil means reflect.DeepEqual.
	Equal func(a, b T) bool
}

// CollectionOption configures a Collection.
type CollectionOption func(*collectionConfig)

type collectionConfig struct {
	resolution time.Duration
	tieBreak   bool
}

// DefaultResolution is the default tie-breaking resolution of a Collection.
const DefaultResolution = time.Microsecond

// WithResolution sets the tie-breaking resolution (TODO doc).
func WithResolution(d time.Duration) CollectionOption {
	return func(c *collectionConfig) { c.resolution = d }
}

// WithoutTieBreaking turns tie-breaking off (TODO doc).
func WithoutTieBreaking() CollectionOption {
	return func(c *collectionConfig) { c.tieBreak = false }
}

// Collection (TODO doc; stub being implemented).
type Collection[T any] struct {
	keys Keys[T]
	cfg  collectionConfig
}

// NewCollection (TODO).
func NewCollection[T any](keys Keys[T], opts ...CollectionOption) *Collection[T] {
	panic("unimplemented")
}

// NewAccounts returns a Collection of accounts keyed by ID and paged by CreatedAt.
func NewAccounts(opts ...CollectionOption) *Collection[models.Account] { panic("unimplemented") }

// NewBeneficiaries returns a Collection of beneficiaries keyed by ID and paged by CreatedAt.
func NewBeneficiaries(opts ...CollectionOption) *Collection[models.Beneficiary] {
	panic("unimplemented")
}

// NewTransactions returns a Collection of transactions keyed by ID and paged by UpdatedAt.
func NewTransactions(opts ...CollectionOption) *Collection[models.Transaction] {
	panic("unimplemented")
}

// Put (TODO).
func (c *Collection[T]) Put(items ...T) error { panic("unimplemented") }

// Get (TODO).
func (c *Collection[T]) Get(id string) (T, bool) { panic("unimplemented") }

// Len (TODO).
func (c *Collection[T]) Len() int { panic("unimplemented") }

// All (TODO).
func (c *Collection[T]) All() []T { panic("unimplemented") }

// Page (TODO).
func (c *Collection[T]) Page(q Query) []T { panic("unimplemented") }
