package connectortest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// DefaultPageSizes are the page sizes Run checks unless Options.PageSizes says otherwise: the
// extremes and Formance's defaults (25 in the connector configuration, 100 in the contract).
var DefaultPageSizes = []int{1, 7, 25, 100}

// Options tunes Run. The zero value checks everything with the defaults.
type Options struct {
	// PageSizes are the page sizes the order, tiling and sync checks use, one sub-test each
	// (default DefaultPageSizes). Page size 1 walks every item one request at a time: keep datasets
	// of a few thousand items at most.
	PageSizes []int

	// Changes, when set, is called by the sync check between two polling cycles, once for every page
	// size (each sync starts from scratch), to change the middleware's data: add items, change
	// transactions' statuses. The check then compares full listings taken before and after the call,
	// and expects every new item, and every transaction whose content changed, to arrive in the next
	// polling cycle in its latest state, and nothing else. An error fails the sync check.
	Changes func(ctx context.Context) error

	// WriteAccounts chooses the accounts the writes check pays from and to. By default it uses the
	// first account listed as the source, the first beneficiary as the payout destination and the
	// second account as the transfer destination.
	WriteAccounts WriteAccounts

	// SkipWrites turns the writes check off, for a middleware connected to a real PSP where payouts
	// would move money. The writes check creates a handful of payouts and transfers of 100 minor units.
	SkipWrites bool

	// MaxPageSize is the largest pageSize the middleware accepts (default
	// pagination.DefaultMaxPageSize, the default of package httpserver). The parameters check expects
	// a 400 for MaxPageSize+1, and full listings are read with this page size. A negative value says
	// the middleware has no maximum: that probe is skipped and listings are read 1000 at a time.
	MaxPageSize int
}

// WriteAccounts are the ids the writes check uses. Empty fields take the defaults of
// Options.WriteAccounts.
type WriteAccounts struct {
	// Source is the internal account payouts and transfers are made from.
	Source string
	// PayoutDestination is the beneficiary (or account) payouts are made to.
	PayoutDestination string
	// TransferDestination is the internal account transfers are made to.
	TransferDestination string
	// Currency is the asset of the writes (default "USD/2").
	Currency models.Asset
}

// Run checks that the middleware target serves the Generic Connector contract so that Formance's
// poller loses nothing, reporting each finding on t. The checks run in this order, each a sub-test:
//
//   - auth: every route answers 401 with an error body without the API key and with a wrong one.
//   - schema: every item of every list, and the balances of every account, has exactly the
//     contract's fields with valid values (names and casing, required fields, enums, integer amounts
//     as strings, UMN assets, RFC 3339 times, balances' accountID equal to the path's account id).
//   - parameters: malformed page, pageSize, sort and …From parameters answer 400 with an error body.
//   - order/pageSize=N: every page size lists items ascending by the route's time field, and the
//     …From filter is inclusive.
//   - tiling/pageSize=N: pages 1, 2, … tile the full listing: no gap, no repeat, no page longer than
//     pageSize, and no short page before the end.
//   - sync/pageSize=N: a Poller syncing from scratch receives every item exactly once, a second cycle
//     receives nothing, and, with Options.Changes, every change arrives in the next cycle.
//   - writes: POST /payouts and POST /transfers are idempotent by idempotencyKey, also under 20
//     concurrent duplicates, which must each get the first payout or a status Formance retries (408,
//     421, 423, 425, 429 or a 5xx; any other 4xx, 409 included, makes Formance mark the payout FAILED
//     while its first copy may still move money); they refuse a reused key with another body (409)
//     and a body without a required field (400), and GET /payouts/{id} returns what was created. A
//     route whose first create answers a final 4xx (405, 403, 404, 422, …) does not offer writes and
//     is not checked further; a 501 or any other 5xx is a finding, since Formance retries it for ever.
//     Then GET /transactions is listed in full: the transaction with the id of a payout (transfer)
//     the check created, if listed, must have type PAYOUT (TRANSFER) and relatedTransactionID equal
//     to the idempotencyKey sent, or Formance keeps it as a second, unrelated payment and the payment
//     initiation stays PENDING for ever. A created payout that is not listed is logged.
//
// The data must not change during Run except through Options.Changes; the writes check creates
// payouts and transfers at the end. Run needs at least one account; the writes check needs a
// beneficiary or a second account unless Options.WriteAccounts names them.
//
// Findings name the request, the item and the rule, e.g.
// "GET /transactions?page=2&pageSize=25&sort=updatedAt:asc: tx_0019 also on page 1".
func Run(t *testing.T, target Target, opts Options) {
	t.Helper()
	run(testingT{t}, target, opts)
}

// tb is the part of *testing.T the checks use, so that this package's own tests can run them
// against a recorder.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
	Logf(format string, args ...any)
	Failed() bool
	Context() context.Context
	// Run runs f as a sub-test named name and reports whether it passed.
	Run(name string, f func(t tb)) bool
}

// testingT adapts *testing.T to tb.
type testingT struct{ *testing.T }

func (t testingT) Run(name string, f func(t tb)) bool {
	return t.T.Run(name, func(st *testing.T) { f(testingT{st}) })
}

// suite holds what the checks share.
type suite struct {
	c         *conn
	opts      Options
	pageSizes []int
	refSize   int    // page size of full listings
	runID     string // makes idempotency keys unique across runs

	refOnce sync.Once
	ref     map[string]*listing // full listings by route path, read once before any change
	refErr  error

	walksMu sync.Mutex
	walks   map[walkKey]walkResult // walks without From, shared by the order and tiling checks
}

type walkKey struct {
	path     string
	pageSize int
}

type walkResult struct {
	l   *listing
	err error
}

// walkAll returns the walk of rs at pageSize without From, read once: the data does not change
// before the sync check.
func (s *suite) walkAll(ctx context.Context, rs routeSpec, pageSize int) (*listing, error) {
	s.walksMu.Lock()
	defer s.walksMu.Unlock()
	k := walkKey{rs.path, pageSize}
	if r, ok := s.walks[k]; ok {
		return r.l, r.err
	}
	l, err := walk(ctx, s.c, rs, pageSize, zeroTime)
	if s.walks == nil {
		s.walks = make(map[walkKey]walkResult)
	}
	s.walks[k] = walkResult{l, err}
	return l, err
}

func run(t tb, target Target, opts Options) {
	t.Helper()
	c, err := dial(target)
	require.NoError(t, err, "connectortest.Run")
	defer c.close()
	s := newSuite(c, opts)
	t.Run("auth", s.checkAuth)
	t.Run("schema", s.checkSchema)
	t.Run("parameters", s.checkParameters)
	t.Run("order", func(t tb) {
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkOrder(t, p) })
		}
	})
	t.Run("tiling", func(t tb) {
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkTiling(t, p) })
		}
	})
	t.Run("sync", func(t tb) {
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkSync(t, p) })
		}
	})
	t.Run("writes", s.checkWrites)
}

func newSuite(c *conn, opts Options) *suite {
	s := &suite{c: c, opts: opts, pageSizes: slices.Clone(opts.PageSizes)}
	if len(s.pageSizes) == 0 {
		s.pageSizes = slices.Clone(DefaultPageSizes)
	}
	switch {
	case opts.MaxPageSize > 0:
		s.refSize = opts.MaxPageSize
	case opts.MaxPageSize == 0:
		s.refSize = pagination.DefaultMaxPageSize
		s.opts.MaxPageSize = pagination.DefaultMaxPageSize
	default:
		s.refSize = 1000
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.runID = "connectortest-" + hex.EncodeToString(b[:])
	return s
}

// reference returns the full listings of the three list routes, read once with the largest page
// size, or fails t.
func (s *suite) reference(t tb) map[string]*listing {
	t.Helper()
	s.refOnce.Do(func() { s.ref, s.refErr = s.snapshot(context.WithoutCancel(t.Context())) })
	if s.refErr != nil {
		t.Errorf("reading the full listings (pageSize=%d): %v", s.refSize, s.refErr)
		t.FailNow()
	}
	return s.ref
}

// snapshot reads the full listing of every list route.
func (s *suite) snapshot(ctx context.Context) (map[string]*listing, error) {
	out := make(map[string]*listing, len(listRoutes))
	for _, rs := range listRoutes {
		l, _, err := walkFull(ctx, s.c, rs, s.refSize, zeroTime)
		if err != nil {
			return nil, err
		}
		out[rs.path] = l
	}
	return out, nil
}

// walkFull reads all pages of rs with pageSize and from. A server that silently caps the page size at
// some c < pageSize would hide everything after its first c items (page 2 starts at pageSize), so
// when page 1 is short, page 2 with a page size of c is probed: if it holds new items, the listing is
// read again c at a time and c is returned as capped (0 otherwise). The tiling check reports the cap.
func walkFull(ctx context.Context, c *conn, rs routeSpec, pageSize int, from time.Time) (l *listing, capped int, err error) {
	l, err = walk(ctx, c, rs, pageSize, from)
	if err != nil || len(l.pages) == 0 {
		return l, 0, err
	}
	first := len(l.pages[0].items)
	if first == 0 || first >= pageSize {
		return l, 0, nil
	}
	probe, err := getList(ctx, c, walkRequest(rs, 2, first, from))
	if err != nil {
		return l, 0, nil // the page-size checks report it
	}
	seen := make(map[string]bool, len(l.items))
	for _, it := range l.items {
		seen[it.key] = true
	}
	for _, raw := range probe {
		if it := readItem(raw, rs.field); it.id != "" && !seen[it.key] {
			l, err = walk(ctx, c, rs, first, from)
			return l, first, err
		}
	}
	return l, 0, nil
}

// findings reports at most max findings of one kind on t, then counts the rest and reports the
// count on flush, so that one systematic fault does not bury the others.
type findings struct {
	t          tb
	max        int
	n          int
	suppressed int
}

func newFindings(t tb) *findings { return &findings{t: t, max: 10} }

func (f *findings) errorf(format string, args ...any) {
	f.t.Helper()
	f.n++
	if f.n > f.max {
		f.suppressed++
		return
	}
	f.t.Errorf(format, args...)
}

func (f *findings) flush(what string) {
	f.t.Helper()
	if f.suppressed > 0 {
		f.t.Errorf("%s: %d more findings like the ones above", what, f.suppressed)
	}
	f.n, f.suppressed = 0, 0
}
