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

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// DefaultPageSizes returns the page sizes Run checks unless Options.PageSizes says otherwise (a
// new slice each call, so callers cannot change the default of others): the
// extremes and Formance's defaults (25 in the connector configuration, 100 in the contract).
func DefaultPageSizes() []int { return []int{1, 7, 25, 100} }

// CapProbePageSizes are the large page sizes the tiling check also walks, to catch a middleware that
// silently answers fewer items than pageSize asks for (a cap at 100, say, which Formance's own
// pageSize=100 never shows): those up to the maximum page size, and the maximum itself (see
// Options.MaxPageSize).
var CapProbePageSizes = []int{250, 1000}

// MaxChangesDuringFetch is the number of times, at most, the changes check calls
// Options.ChangesDuringFetch in one sync.
const MaxChangesDuringFetch = 6

// Options tunes Run and Check. The zero value checks everything with the defaults, except changes:
// without Options.Changes and Options.ChangesDuringFetch the changes check is skipped (and says so).
type Options struct {
	// PageSizes are the page sizes the order, tiling, sync and changes checks use, one sub-test each
	// (default DefaultPageSizes()). Page size 1 walks every item one request at a time: keep datasets
	// of a few thousand items at most. The tiling check also walks CapProbePageSizes.
	PageSizes []int

	// Changes, when set, is called by the changes check between two polling cycles, once for every
	// page size, to change the middleware's data the way its PSP does: add items, move transactions
	// to a new status. For each page size the check syncs from scratch, calls Changes, compares full
	// listings taken before and after the call, and expects every new item, and every transaction
	// whose content changed, to arrive in the next polling cycle in its latest state, and nothing
	// else. An error fails the check. Without Changes (and without ChangesDuringFetch) the changes
	// check is skipped: a middleware that loses changes, such as a status change within the second
	// of the previous one, then passes Run.
	Changes func(ctx context.Context) error

	// ChangesDuringFetch, when set, is called by the changes check in the middle of fetches, the
	// case the contract warns about ("the listing must not shift under the client while it pages"):
	// for every page size a Poller syncs from scratch and calls it between two pages of one fetch
	// (PollerOptions.BetweenPages), with the route being paged ("/accounts", "/beneficiaries" or
	// "/transactions") and the number of the page just read, at most MaxChangesDuringFetch times per
	// sync, the first times a fetch goes on to another page. It should change the data the way the
	// PSP does, preferably items of route (move transactions of route to a new status, add items).
	// The check then polls until the data is quiet and expects every item of the final listing to
	// have arrived, in its latest state, each account and beneficiary once: a middleware that answers
	// by offset from a listing in which a changed transaction moves to the end loses the item at the
	// page boundary. An error fails the check. Changes and ChangesDuringFetch may be the same code.
	ChangesDuringFetch func(ctx context.Context, route string, page int) error

	// WriteAccounts chooses the accounts the writes check pays from and to. By default it uses the
	// first account listed as the source, the first beneficiary as the payout destination and the
	// second account as the transfer destination.
	WriteAccounts WriteAccounts

	// SkipWrites turns the writes check off, for a middleware connected to a real PSP where payouts
	// would move money. The writes check creates a handful of payouts and transfers of 100 minor units.
	SkipWrites bool

	// MaxPageSize is the largest pageSize the middleware accepts (default
	// pagination.DefaultMaxPageSize, the default of package httpserver). The parameters check expects
	// a 400 for MaxPageSize+1, full listings are read with this page size, and the tiling check walks
	// it besides the CapProbePageSizes below it. A negative value says the middleware has no maximum
	// (or it is not known): that probe is skipped, listings are read 1000 at a time, and the tiling
	// check also walks the largest of 5000 and 10000 the middleware accepts.
	MaxPageSize int

	// Live says that the target's data moves on its own while Run reads it: a PSP sandbox, a running
	// server whose statuses move, a mock PSP others use. Run then checks only what holds on moving
	// data: auth, parameters and the schema of every item; that pages are sorted, never longer than
	// pageSize, never short before the end, and never hold items before …From; that a sync from
	// scratch receives every item listed before it started (in that version or a later one) and no
	// account or beneficiary twice; the engine facts; and the writes. It does not compare walks with
	// the full listing, expect a quiet second cycle, or report that the data changed during the run.
	Live bool

	// OpenTenancy says that every API key is its own dataset, as on Formance's public mock PSP, so a
	// key the middleware never saw is not refused but opens an empty dataset. The auth check then
	// still expects 401 without an Authorization header, with an empty bearer token and with the
	// Basic scheme, but accepts, for another key (a prefix, an extension or another case of the key,
	// or a second Authorization header), either 401 or the empty dataset: 200 with empty lists, and
	// 404 (or another 4xx) for the balances of an account of the key's dataset and for writes. An
	// answer that shows any item of the key's dataset to another key is a finding.
	OpenTenancy bool
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
// poller loses nothing, and reports on t: first, when anything was found, one error that
// summarises the findings (how many per check and the first of them), then one sub-test per check
// holding its findings and notes. The checks run in this order:
//
//   - auth: every route answers 401 with an error body without the API key and with wrong keys: a
//     made-up key, a prefix of the key (its first character alone, and all but its last), the key
//     with one more character, the key in another case, an empty bearer token, the key with the
//     Basic scheme, and a wrong key followed by the right one in a second Authorization header
//     (401 or 400). See Options.OpenTenancy for servers where every key is its own dataset.
//   - schema: every item of every list, and the balances of every account, has exactly the
//     contract's fields with valid values (names and casing, required fields, enums, integer amounts
//     as strings, UMN assets, RFC 3339 times, balances' accountID equal to the path's account id).
//   - parameters: malformed page, pageSize, sort and …From parameters answer 400 with an error body.
//   - order/pageSize=N: every page size lists items ascending by the route's time field, and the
//     …From filter is inclusive.
//   - tiling/pageSize=N: pages 1, 2, … tile the full listing: no gap, no repeat, no page longer than
//     pageSize, and no short page before the end; also at CapProbePageSizes and the maximum page
//     size, which catches a pageSize silently capped below the maximum.
//   - sync/pageSize=N: a Poller (today's client) syncing from scratch receives every item exactly
//     once and a second cycle receives nothing; sync/inclusive-watermark/pageSize=N does the same
//     with the variant proposed upstream (InclusiveWatermark).
//   - changes: with Options.Changes, every change made between two polling cycles arrives in the
//     next one ("changes/between cycles/pageSize=N"); with Options.ChangesDuringFetch, nothing is
//     lost through changes made between the pages of one fetch ("changes/during a fetch/pageSize=N").
//     Without either, the check is skipped, with the reason.
//   - engine: what Formance's engine refuses though its client decodes it: an id that is both an
//     account and a beneficiary (they share one id space: the second is never stored), an asset that
//     does not match Formance's pattern ^[A-Z][A-Z0-9]{0,16}(_[A-Z]{1,16})?(/[0-9]{1,6})?$ (USDC.E/6,
//     a code of 18 characters), and balances of one account that repeat an "at" (to the
//     microsecond) with other amounts for one asset, within one answer or across two polls (the
//     balances run fails).
//   - stable: the data did not change during the run other than through Options.Changes and
//     Options.ChangesDuringFetch: otherwise the findings of the other checks may come from the
//     moving data rather than from the middleware (see Options.Live).
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
// The data must not change during Run except through Options.Changes and Options.ChangesDuringFetch
// (or set Options.Live); the writes check creates payouts and transfers at the end. Run needs at
// least one account; the writes check needs a beneficiary or a second account unless
// Options.WriteAccounts names them.
//
// Findings name the request, the item and the rule, e.g.
// "GET /transactions?page=2&pageSize=25&sort=updatedAt:asc: tx_0019 also on page 1".
//
// Run reads nothing from the middleware's logs and cannot quiet them: a handler that logs every
// request (httpserver does, at INFO, to slog.Default() unless told otherwise) should be given a
// quiet logger in the test, e.g. httpserver.WithLogger(slog.New(slog.DiscardHandler)). Run's own
// test server for Target.Handler logs nothing. Run runs the checks with Check and then reports what
// it found, so their output comes together, after anything the handler printed.
func Run(t *testing.T, target Target, opts Options) {
	t.Helper()
	rep, err := Check(t.Context(), target, opts)
	if rep.root == nil {
		t.Fatalf("connectortest.Run: %v", err)
	}
	if !rep.Passed {
		t.Errorf("%s", rep.Summary())
	}
	rep.root.replay(testingT{t})
	if err != nil {
		t.Errorf("connectortest.Run: %v", err)
	}
}

// tb is the part of *testing.T the checks use, so that they can run on a collector (Check) or, in
// this package's own tests, on a recorder.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
	Logf(format string, args ...any)
	// Skipf records why the (sub-)check is not run and ends it, like testing.T.Skipf.
	Skipf(format string, args ...any)
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
	ctx       context.Context // the run's: for what is read once and shared by several checks
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

	// stableMu guards latest and drift: the last full listings the suite read, and what changed
	// between two readings without the suite changing anything (see checkStable).
	stableMu sync.Mutex
	latest   map[string]*listing
	latestAt string // what read latest, for messages
	drift    []string
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

// run runs every check on t.
func run(t tb, target Target, opts Options) {
	t.Helper()
	c, err := dial(target)
	if err != nil {
		t.Errorf("connectortest.Run: %v", err)
		t.FailNow()
	}
	defer c.close()
	s := newSuite(c, opts)
	s.runChecks(t)
}

func (s *suite) runChecks(t tb) {
	s.ctx = t.Context()
	t.Run("auth", s.checkAuth)
	t.Run("schema", s.checkSchema)
	t.Run("parameters", s.checkParameters)
	t.Run("order", func(t tb) {
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkOrder(t, p) })
		}
	})
	t.Run("tiling", func(t tb) {
		for _, p := range s.tilingSizes(t.Context()) {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkTiling(t, p) })
		}
	})
	t.Run("sync", func(t tb) {
		for _, p := range s.pageSizes {
			t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkSync(t, p, ExclusiveWatermark) })
		}
		t.Run("inclusive-watermark", func(t tb) {
			for _, p := range s.pageSizes {
				t.Run(fmt.Sprintf("pageSize=%d", p), func(t tb) { s.checkSync(t, p, InclusiveWatermark) })
			}
		})
	})
	t.Run("changes", s.checkChanges)
	t.Run("engine", s.checkEngine)
	t.Run("stable", s.checkStable)
	t.Run("writes", s.checkWrites)
}

func newSuite(c *conn, opts Options) *suite {
	s := &suite{c: c, opts: opts, pageSizes: slices.Clone(opts.PageSizes)}
	if len(s.pageSizes) == 0 {
		s.pageSizes = DefaultPageSizes()
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
	c.tolerateStale = opts.Live
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.runID = "connectortest-" + hex.EncodeToString(b[:])
	return s
}

// tilingSizes returns the page sizes of the tiling check: Options.PageSizes, then the
// CapProbePageSizes up to the maximum page size and the maximum itself or, without a known maximum,
// the largest of 5000 and 10000 the middleware accepts.
func (s *suite) tilingSizes(ctx context.Context) []int {
	sizes := slices.Clone(s.pageSizes)
	add := func(n int) {
		if n > 0 && !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	max := s.opts.MaxPageSize
	for _, n := range CapProbePageSizes {
		if max < 0 || n <= max {
			add(n)
		}
	}
	if max > 0 {
		add(max)
	} else {
		largest := 0
		for _, n := range []int{5000, 10000} {
			if res, err := s.c.do(ctx, walkRequest(routeAccounts, 1, n, zeroTime)); err == nil && res.status == 200 {
				largest = n
			}
		}
		add(largest)
	}
	return sizes
}

// reference returns the full listings of the three list routes, read once with the largest page
// size, or fails t.
func (s *suite) reference(t tb) map[string]*listing {
	t.Helper()
	s.refOnce.Do(func() {
		s.ref, s.refErr = s.snapshot(s.ctx)
		if s.refErr == nil {
			s.observe("the full listings read at the start", s.ref)
		}
	})
	if s.refErr != nil {
		hint := ""
		if s.opts.MaxPageSize > 0 {
			hint = fmt.Sprintf(" (Options.MaxPageSize, the largest pageSize Run expects the middleware to accept, is %d: set it to the middleware's maximum, or to -1 when unknown)", s.opts.MaxPageSize)
		}
		t.Errorf("reading the full listings (pageSize=%d): %v%s", s.refSize, s.refErr, hint)
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
