package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/internal/jsonscan"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// DefaultPollerPageSize is the page size NewPoller uses when given 0 or less: the default of the
// Formance connector configuration.
const DefaultPollerPageSize = 25

// MaxPagesPerFetch bounds the pages one fetch of a Poller reads before it gives up with ErrRunaway.
// Formance has no such bound; a server that ignores the page parameter would keep it busy forever.
const MaxPagesPerFetch = 10000

// Errors of a polling cycle, wrapped in a *FetchError that names the request.
var (
	// ErrUnexpectedStatus: the middleware answered a status other than 200. Formance treats the whole
	// fetch as failed and retries it.
	ErrUnexpectedStatus = errors.New("unexpected status")
	// ErrUndecodable: Formance's client could not decode the answer or one of its items (not a JSON
	// array, unknown enum value, amount that is not an integer string, malformed time, missing required
	// field). The whole fetch fails and Formance retries it forever: one bad item stalls the sync.
	// The error also wraps the models error (models.ErrInvalidEnum and friends) when there is one.
	ErrUndecodable = errors.New("undecodable answer")
	// ErrRunaway: one fetch read MaxPagesPerFetch pages without reaching a page shorter than the page
	// size; the middleware probably ignores the page parameter.
	ErrRunaway = errors.New("fetch does not end")
	// ErrStalled: a fetch reported "has more" but left the route's state where it was (or, with
	// InclusiveWatermark, at one time S for MaxFetchesAtOneTime fetches in a row): Formance would
	// run the same fetch again at once, for ever. Only an InclusiveWatermark poller over a listing
	// that is not sorted, or whose tie order moves, gets there.
	ErrStalled = errors.New("fetch makes no progress")
)

// MaxFetchesAtOneTime bounds the fetches in a row, within one cycle, that leave an
// InclusiveWatermark poller's time S unchanged before the cycle fails with ErrStalled.
const MaxFetchesAtOneTime = 1000

// FetchError is the error of a polling cycle: the request that failed and why (wrapping
// ErrUnexpectedStatus, ErrUndecodable, ErrRunaway or a transport error).
type FetchError struct {
	// Request is the request that failed.
	Request Request
	// Err says why.
	Err error
}

// Error names the request and the failure.
func (e *FetchError) Error() string { return e.Request.String() + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *FetchError) Unwrap() error { return e.Err }

// Request is one request a Poller sent, for the request log.
type Request struct {
	// Method is "GET".
	Method string
	// Path is the route, without the target's prefix, e.g. "/accounts" or "/accounts/acc_1/balances".
	Path string
	// Query is the query string in readable (unescaped) form, in Formance's parameter order, e.g.
	// "page=1&pageSize=25&sort=createdAt:asc&createdAtFrom=2024-01-01T10:00:00Z".
	Query string
	// Status is the HTTP status of the answer, 0 when there was none.
	Status int
	// Items is the number of items in the answer: list items for a list route, balances for a
	// balances route; 0 when it could not be decoded.
	Items int
	// Target is the index, in the Poller's targets, of the target the request was sent to: always 0
	// for a Poller over one target (NewPoller). It is not part of String.
	Target int
}

// String returns "GET /path?query".
func (r Request) String() string {
	if r.Query == "" {
		return r.Method + " " + r.Path
	}
	return r.Method + " " + r.Path + "?" + r.Query
}

// Fetch is one fetch of one list route: the pages read, from page 1, until the poller had a full
// page of new items or a page came back short.
type Fetch struct {
	// Path is the list route: "/accounts", "/beneficiaries" or "/transactions".
	Path string
	// Before is the poller's state S for this route when the fetch started (zero on the first fetch),
	// After when it ended: the time field of the last item kept, or Before when none was kept.
	Before, After time.Time
	// Kept is the number of items the fetch delivered.
	Kept int
	// HasMore reports whether the engine fetched again at once.
	HasMore bool
	// BeforeMark and AfterMark are the route's Mark when the fetch started and when it ended: always
	// zero for a Poller with ExclusiveWatermark (today's client).
	BeforeMark, AfterMark Mark
	// Requests lists the pages read, in order.
	Requests []Request
}

// Cycle is what one polling cycle delivered, in the order Formance received it.
type Cycle struct {
	// Accounts, Balances, Beneficiaries and Transactions hold the items delivered, in order. A
	// transaction delivered twice (because it changed) appears twice.
	Accounts      []models.Account
	Balances      []models.Balances
	Beneficiaries []models.Beneficiary
	Transactions  []models.Transaction
	// Fetches lists the fetches of the list routes, in order.
	Fetches []Fetch
	// Requests lists every request, balances included, in order.
	Requests []Request
}

// Empty reports whether the cycle delivered no account, beneficiary or transaction.
func (c Cycle) Empty() bool {
	return len(c.Accounts) == 0 && len(c.Beneficiaries) == 0 && len(c.Transactions) == 0
}

// State is a Poller's memory between fetches: for each list route, the time field of the last item
// it kept (zero before the first one). Formance sends it, truncated to the second, as the …From
// parameter, and keeps only items strictly after it. A Poller with InclusiveWatermark also keeps,
// per route, a Mark: the id of that last item and the page it was on.
type State struct {
	// Accounts is the createdAt of the last account kept.
	Accounts time.Time
	// Beneficiaries is the createdAt of the last beneficiary kept.
	Beneficiaries time.Time
	// Transactions is the updatedAt of the last transaction kept.
	Transactions time.Time

	// AccountsMark, BeneficiariesMark and TransactionsMark are the rest of the inclusive-watermark
	// state of each route (see InclusiveWatermark); they stay zero with ExclusiveWatermark.
	AccountsMark, BeneficiariesMark, TransactionsMark Mark
}

// Mark is the part of an inclusive-watermark poller's state that goes with the time S of a route
// (see InclusiveWatermark).
type Mark struct {
	// ID is the id of the last item kept, the one whose time is S.
	ID string
	// Page is the page, in the listing of the query with …From set to S's second, on which that
	// item was read; the next fetch starts there. 0 before the first item is kept.
	Page int
}

// WatermarkMode selects how a Poller keeps its place in a list route between two fetches.
type WatermarkMode int

const (
	// ExclusiveWatermark is today's Formance client (see the contract, "How the client polls"): the
	// state is the time S of the last item kept, every fetch starts again at page 1 with
	// …From = S truncated to the second, and keeps only the items strictly after S. Items that share
	// S with the last one kept but were cut from the fetch are never seen.
	ExclusiveWatermark WatermarkMode = iota
	// InclusiveWatermark is the variant proposed upstream: the state keeps, with S, the id of the last
	// item kept and the page it was on (Mark). A fetch sends the same …From (S truncated to the second)
	// but starts at that page, skips the items up to the last id kept (those before S, and those at S
	// listed before it), and then keeps every item at S or after: the inclusive watermark. If the last
	// id kept is not met before an item after S (it changed and moved, or vanished), the items at S
	// are skipped as today's client skips them. The page restarts at 1 whenever the new S falls in
	// another second than the old one (the …From of the next query changes), and stays otherwise.
	// Stopping, cutting at the page size and "has more" are today's. A middleware whose listing is
	// sorted with a stable tie order and does not shift while the poller pages loses nothing under
	// either mode.
	InclusiveWatermark
)

// String returns "exclusive watermark" or "inclusive watermark".
func (m WatermarkMode) String() string {
	if m == InclusiveWatermark {
		return "inclusive watermark"
	}
	return "exclusive watermark"
}

// Poller polls a middleware exactly as Formance's generic connector does (see the contract, "How the
// client polls"). Each call to Cycle is one polling period: for each list route, fetches one after
// the other while the previous one reported "has more"; accounts first, with the balances of every
// account fetched after each accounts fetch, then beneficiaries, then transactions.
//
// One fetch with page size P, for a route sorted by F (createdAt or updatedAt) and the state S:
// GET route?page=N&pageSize=P&sort=F:asc&FFrom=S for N = 1, 2, …, with S in UTC at second precision
// (fractions dropped) and FFrom omitted while S is zero; it keeps, in order, the items whose F is
// strictly after S at full precision, and stops once it kept P items or a page came back with fewer
// than P items. It delivers the first P kept items, sets S to the F of the last one, and has more when
// it had to cut or when the last page was full.
//
// Items are decoded the way Formance's Go client decodes them: field names case-insensitively,
// times with time.Time, amounts as integer strings, assets in UMN form, types and statuses among the
// contract's values, required fields present. One item that does not decode fails the fetch.
//
// That is today's client, ExclusiveWatermark. PollerOptions.Watermark selects InclusiveWatermark
// instead, the variant proposed upstream, whose state also keeps the id of the last item kept and
// the page it was on, and whose fetches start at that page and keep the items at S listed after that
// id: it no longer skips items that share one time across a cut, and it spares the re-reading of a
// busy second from page 1.
//
// A Poller is safe for concurrent use, but its cycles run one at a time.
//
// # Replicas, restarts and changes during a fetch
//
// Formance sends each request on its own: behind a load balancer, the pages of one fetch may be
// answered by different replicas of the middleware, a middleware may restart between two pages, and
// the PSP's data may change while the client pages. NewPollerWithOptions builds a Poller that tests
// these cases (the requests and the bookkeeping stay exactly those described above):
//
//   - Replicas: PollerOptions.Targets lists several targets (or NewReplicaPoller). Each request, a
//     list page or a balances request, goes to the next target in turn, round-robin, starting with
//     the first and continuing from one cycle to the next: with two targets, page 1 of a fetch goes
//     to one replica and page 2 to the other. Request.Target tells which target got each request.
//     Any state the middleware keeps between two pages (a cursor cache, a snapshot) must therefore be
//     shared by the replicas, or the pages must not depend on it.
//   - Changes during a fetch: PollerOptions.BetweenPages is called after each page of a fetch when
//     the fetch goes on, before the next page is requested. Changing the data there reproduces the
//     contract's "The listing must not shift under the client while it pages": within a busy second
//     the client reads pages 1, 2, … of the same range by offset, so a changed item that moves to
//     the end of the listing between two pages makes the item at the page boundary vanish.
//     PollerOptions.BetweenFetches is called between two fetches of one cycle.
//   - Restarts: serve each replica's handler through a Swappable and Swap in a new handler (a new
//     process, with empty in-memory state) from BetweenPages or BetweenFetches. For a deployed target
//     (Target.BaseURL), restart the process itself from the hook, and return once it serves again.
//   - Between cycles: nothing is needed, the caller runs its changes (or restarts) between two calls
//     of Cycle, like Options.Changes does for Run.
//
// To prove that nothing is lost, compare what the cycles delivered with the data the PSP holds at
// the end (see ExamplePoller_replicas).
type Poller struct {
	targets        []Target
	pageSize       int
	mode           WatermarkMode
	betweenPages   func(ctx context.Context, route string, page int) error
	betweenFetches func(ctx context.Context, done Fetch) error

	mu       sync.Mutex // held during a cycle
	conn     *conn      // a borrowed connection (newBorrowedPoller), used as the only target
	rp       *replicas  // the connections, one per target, once connected
	dialErr  error
	state    State
	maxPages int // MaxPagesPerFetch; lowered by tests
	light    bool
}

// NewPoller returns a Poller for target with Formance's pageSize setting; pageSize 0 or less means
// DefaultPollerPageSize. It starts from scratch (zero State), like a newly installed connector.
// When target.Handler is set, the first Cycle starts a test server for it: call Close when done.
func NewPoller(target Target, pageSize int) *Poller {
	return NewPollerWithOptions(PollerOptions{Targets: []Target{target}, PageSize: pageSize})
}

// PollerOptions configures a Poller built with NewPollerWithOptions. The zero value of each field
// gives the behaviour of NewPoller.
type PollerOptions struct {
	// Targets are the replicas of the middleware, all serving the same data. Each request goes to
	// the next target in turn (round-robin per request, across pages, fetches and cycles), starting
	// with Targets[0]. One target gives NewPoller's Poller. Empty is an error of the first Cycle
	// (wrapping ErrTarget), as is an unusable target (the error then names its index).
	Targets []Target
	// PageSize is Formance's page size; 0 or less means DefaultPollerPageSize.
	PageSize int
	// Watermark selects today's client (ExclusiveWatermark, the zero value) or the variant proposed
	// upstream (InclusiveWatermark).
	Watermark WatermarkMode
	// BetweenPages, when set, is called inside a fetch of route ("/accounts", "/beneficiaries" or
	// "/transactions") after page number page (1, 2, …) was read and the fetch decided to go on,
	// right before page+1 is requested. It is not called after the last page of a fetch. Use it to
	// change the data, or restart a target, in the middle of a fetch.
	//
	// An error ends the cycle: Cycle and Stream return it unchanged (not wrapped in a FetchError),
	// page+1 is not requested, nothing of the fetch is delivered and the route's state stays as it
	// was before the fetch, as for a fetch that failed.
	BetweenPages func(ctx context.Context, route string, page int) error
	// BetweenFetches, when set, is called between two fetches of one cycle, after the fetch done
	// (and, for accounts, its balances) was delivered and the state moved, before the next request:
	// between two fetches of one route when done.HasMore, and between routes. It is not called after
	// the cycle's last fetch; between cycles the caller does what it wants between its calls of Cycle.
	//
	// An error ends the cycle: Cycle and Stream return it unchanged. The fetch done stays delivered
	// and its route's state moved.
	BetweenFetches func(ctx context.Context, done Fetch) error
	// Light makes the Poller decode only what its algorithm needs of each listed item: the id and
	// the time field (createdAt for accounts and beneficiaries, updatedAt for transactions). The
	// delivered items hold those two fields and nothing else, and are not validated. It is for
	// benchmarks that measure the server rather than the client (Formance's client decodes and
	// checks everything, as the Poller does without Light). A page it cannot read that way (not
	// an array of objects with a string id and an RFC 3339 time) is decoded in full, as without
	// Light, and its errors reported the same way.
	Light bool
}

// NewPollerWithOptions returns a Poller configured by o (see PollerOptions and, in Poller's doc,
// "Replicas, restarts and changes during a fetch"). It starts from scratch (zero State). When a
// target has a Handler, the first Cycle starts a test server for it: call Close when done.
//
// The hooks run inside the cycle, which holds the Poller: they must not call the Poller's methods
// (State, SetState, Cycle, Stream, Close), which would wait forever. They get the cycle's context.
func NewPollerWithOptions(o PollerOptions) *Poller {
	pageSize := o.PageSize
	if pageSize <= 0 {
		pageSize = DefaultPollerPageSize
	}
	return &Poller{
		targets:        slices.Clone(o.Targets),
		pageSize:       pageSize,
		mode:           o.Watermark,
		betweenPages:   o.BetweenPages,
		betweenFetches: o.BetweenFetches,
		maxPages:       MaxPagesPerFetch,
		light:          o.Light,
	}
}

// NewReplicaPoller returns a Poller that sends each request to the next of targets in turn, the
// replicas of one middleware serving the same data: NewPollerWithOptions with Targets and PageSize.
func NewReplicaPoller(targets []Target, pageSize int) *Poller {
	return NewPollerWithOptions(PollerOptions{Targets: targets, PageSize: pageSize})
}

// PageSize returns the page size the poller sends.
func (p *Poller) PageSize() int { return p.pageSize }

// Watermark returns the poller's mode: ExclusiveWatermark (today's client) or InclusiveWatermark.
func (p *Poller) Watermark() WatermarkMode { return p.mode }

// State returns the poller's current state S for each route.
func (p *Poller) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// SetState replaces the poller's state, for example to resume where an earlier poller stopped.
func (p *Poller) SetState(s State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = s
}

// Close stops the test servers started for the targets' Handlers, if any. The Poller must not be
// used after.
func (p *Poller) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.rp != nil:
		p.rp.close()
	case p.conn != nil:
		p.conn.close()
	}
}

// connect dials every target once, on the first cycle.
func (p *Poller) connect() (*replicas, error) {
	if p.rp != nil || p.dialErr != nil {
		return p.rp, p.dialErr
	}
	if p.conn != nil {
		p.rp = &replicas{conns: []*conn{p.conn}}
		return p.rp, nil
	}
	p.rp, p.dialErr = dialAll(p.targets)
	return p.rp, p.dialErr
}

// Cycle runs one polling cycle and returns what it delivered. On error it returns what was delivered
// before the failing fetch, with a *FetchError; the state of the failing route is left as it was
// before that fetch, as Formance leaves it (it retries the same fetch on its next cycle).
//
// Cycle keeps everything it delivered in memory; to sync a large dataset in constant memory, use
// Stream.
func (p *Poller) Cycle(ctx context.Context) (Cycle, error) {
	var cy Cycle
	err := p.Stream(ctx, func(d Delivery) error {
		cy.Fetches = append(cy.Fetches, d.Fetch)
		cy.Requests = append(cy.Requests, d.Fetch.Requests...)
		cy.Requests = append(cy.Requests, d.BalanceRequests...)
		cy.Accounts = append(cy.Accounts, d.Accounts...)
		cy.Balances = append(cy.Balances, d.Balances...)
		cy.Beneficiaries = append(cy.Beneficiaries, d.Beneficiaries...)
		cy.Transactions = append(cy.Transactions, d.Transactions...)
		return nil
	})
	return cy, err
}

// Delivery is what one fetch of a polling cycle delivered, in the order Formance received it: the
// items of the fetch's route (only the slice of Fetch.Path is set) and, for an accounts fetch, the
// balances of every account delivered, asked for right after the fetch.
type Delivery struct {
	// Fetch describes the fetch: route, state before and after, pages read.
	Fetch Fetch
	// Accounts, Beneficiaries or Transactions are the items delivered, depending on Fetch.Path.
	Accounts      []models.Account
	Beneficiaries []models.Beneficiary
	Transactions  []models.Transaction
	// Balances are the balances of each account of Accounts, in order, and BalanceRequests the
	// requests that read them.
	Balances        []models.Balances
	BalanceRequests []Request
}

// Stream runs one polling cycle exactly like Cycle, but hands each fetch's delivery to fn as soon as
// the fetch is done instead of keeping it, so that a sync of any size runs in constant memory (the
// delivery's slices are not reused: fn may keep them).
//
// fn is called once per fetch, in order, including for the fetch that fails, with what it delivered
// before failing (nothing, or for an accounts fetch the accounts and the balances read before a
// balances request failed); Stream then returns the *FetchError, and the state of that route is left
// as it was before the fetch. When fn returns an error, Stream stops and returns it, and the state of
// the fetch's route is also left as it was before that fetch, as if Formance had failed to store it.
func (p *Poller) Stream(ctx context.Context, fn func(Delivery) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	rp, err := p.connect()
	if err != nil {
		return err
	}
	fc := fetchConfig{rp: rp, pageSize: p.pageSize, maxPages: p.maxPages, betweenPages: p.betweenPages, mode: p.mode, light: p.light}
	var stall stallGuard
	for {
		before, beforeMark := p.state.Accounts, p.state.AccountsMark
		items, f, err := fetchList(ctx, fc, routeAccounts, &p.state.Accounts, &p.state.AccountsMark, decodeAccount)
		if err != nil {
			_ = fn(Delivery{Fetch: f})
			return err
		}
		d := Delivery{Fetch: f, Accounts: items}
		for _, a := range items {
			b, req, err := fetchBalances(ctx, rp, a.ID)
			d.BalanceRequests = append(d.BalanceRequests, req)
			if err != nil {
				p.state.Accounts, p.state.AccountsMark = before, beforeMark
				_ = fn(d)
				return err
			}
			d.Balances = append(d.Balances, b)
		}
		if err := fn(d); err != nil {
			p.state.Accounts, p.state.AccountsMark = before, beforeMark
			return err
		}
		if err := stall.check(rp, f); err != nil {
			return err
		}
		// Beneficiaries follow, whether or not accounts have more.
		if err := p.between(ctx, f); err != nil {
			return err
		}
		if !f.HasMore {
			break
		}
	}
	if err := streamRoute(ctx, p, fc, routeBeneficiaries, &p.state.Beneficiaries, &p.state.BeneficiariesMark, decodeBeneficiary, false,
		func(f Fetch, items []models.Beneficiary) error { return fn(Delivery{Fetch: f, Beneficiaries: items}) }); err != nil {
		return err
	}
	return streamRoute(ctx, p, fc, routeTransactions, &p.state.Transactions, &p.state.TransactionsMark, decodeTransaction, true,
		func(f Fetch, items []models.Transaction) error { return fn(Delivery{Fetch: f, Transactions: items}) })
}

// between calls the BetweenFetches hook, if any, after the fetch done.
func (p *Poller) between(ctx context.Context, done Fetch) error {
	if p.betweenFetches == nil {
		return nil
	}
	return p.betweenFetches(ctx, done)
}

// streamRoute runs the fetches of one route without balances while they have more, handing each to
// deliver. last reports whether the route is the cycle's last: no BetweenFetches after its last fetch.
func streamRoute[T any](ctx context.Context, p *Poller, fc fetchConfig, rs routeSpec, s *time.Time, m *Mark, decode decoder[T], last bool, deliver func(Fetch, []T) error) error {
	var stall stallGuard
	for {
		before, beforeMark := *s, *m
		items, f, err := fetchList(ctx, fc, rs, s, m, decode)
		if err != nil {
			_ = deliver(f, nil)
			return err
		}
		if err := deliver(f, items); err != nil {
			*s, *m = before, beforeMark
			return err
		}
		if err := stall.check(fc.rp, f); err != nil {
			return err
		}
		if !f.HasMore && last {
			return nil
		}
		if err := p.between(ctx, f); err != nil {
			return err
		}
		if !f.HasMore {
			return nil
		}
	}
}

// stallGuard counts the fetches of one route in a row that left S unchanged.
type stallGuard struct{ sameS int }

// check returns an ErrStalled *FetchError when the fetch f, which has more, made no progress.
func (g *stallGuard) check(rp *replicas, f Fetch) error {
	if !f.HasMore || len(f.Requests) == 0 {
		return nil
	}
	if !f.After.Equal(f.Before) {
		g.sameS = 0
		return nil
	}
	g.sameS++
	switch {
	case f.AfterMark == f.BeforeMark:
		return rp.fetchError(f.Requests[len(f.Requests)-1], fmt.Errorf("%w: the fetch from %s kept %d items, reported \"has more\", and left the state where it was (S=%s, last id %q): the poller would run it again for ever (is the listing sorted ascending with a stable tie order?)",
			ErrStalled, f.Requests[0], f.Kept, formatTime(f.After), f.AfterMark.ID))
	case g.sameS >= MaxFetchesAtOneTime:
		return rp.fetchError(f.Requests[len(f.Requests)-1], fmt.Errorf("%w: %d fetches in a row left S at %s (is the tie order of equal times stable?)", ErrStalled, g.sameS, formatTime(f.After)))
	}
	return nil
}

// listRequest is the request of one page as Formance writes it.
func listRequest(rs routeSpec, page, pageSize int, s time.Time) request {
	r := request{method: "GET", path: rs.path, params: []param{
		{"page", strconv.Itoa(page)},
		{"pageSize", strconv.Itoa(pageSize)},
		{"sort", string(rs.field) + ":asc"},
	}}
	if !s.IsZero() {
		r.params = append(r.params, param{pagination.FromParam(rs.field), formatFrom(s)})
	}
	return r
}

// formatFrom writes S as Formance does: UTC, RFC 3339, fractions of a second dropped.
func formatFrom(s time.Time) string { return s.UTC().Format(time.RFC3339) }

func logEntry(r request, status, items int) Request {
	return Request{Method: r.method, Path: r.path, Query: r.displayQuery(), Status: status, Items: items}
}

// targetEntry is logEntry for a request sent to target number ti.
func targetEntry(r request, ti, status, items int) Request {
	e := logEntry(r, status, items)
	e.Target = ti
	return e
}

// fetchConfig is what every fetch of a cycle shares.
type fetchConfig struct {
	rp           *replicas
	pageSize     int
	maxPages     int
	betweenPages func(ctx context.Context, route string, page int) error
	mode         WatermarkMode
	light        bool // PollerOptions.Light
}

// fetchList runs one fetch of a list route and moves *s (and, with InclusiveWatermark, *m) forward.
func fetchList[T any](ctx context.Context, fc fetchConfig, rs routeSpec, s *time.Time, m *Mark, decode decoder[T]) ([]T, Fetch, error) {
	pageSize, maxPages := fc.pageSize, fc.maxPages
	if maxPages <= 0 {
		maxPages = MaxPagesPerFetch
	}
	inclusive := fc.mode == InclusiveWatermark
	f := Fetch{Path: rs.path, Before: *s, After: *s, BeforeMark: *m, AfterMark: *m}
	start := 1
	if inclusive && m.Page > 0 {
		start = m.Page
	}
	// pastLast: the items from here on are new (inclusive mode: the last id kept was met, or an item
	// after S was).
	pastLast := !inclusive || m.ID == ""
	// kept holds the first pageSize items kept, keptCount counts them all, last, lastPage and lastID
	// are the time, page and id of the last one held.
	kept := make([]T, 0, pageSize)
	keptCount := 0
	var last time.Time
	lastPage, lastID := 0, ""
	lastLen := 0
	for page := start; ; page++ {
		if page-start >= maxPages {
			r := listRequest(rs, page, pageSize, *s)
			return nil, f, &FetchError{Request: logEntry(r, 0, 0), Err: fmt.Errorf("%w: %d pages read without a page shorter than pageSize=%d (is the page parameter ignored?)", ErrRunaway, maxPages, pageSize)}
		}
		if page > start && fc.betweenPages != nil {
			if err := fc.betweenPages(ctx, rs.path, page-1); err != nil {
				return nil, f, err
			}
		}
		r := listRequest(rs, page, pageSize, *s)
		res, ti, err := fc.rp.do(ctx, r)
		if err != nil {
			entry := targetEntry(r, ti, 0, 0)
			f.Requests = append(f.Requests, entry)
			return nil, f, fc.rp.fetchError(entry, err)
		}
		if res.status != 200 {
			entry := targetEntry(r, ti, res.status, 0)
			f.Requests = append(f.Requests, entry)
			return nil, f, fc.rp.fetchError(entry, fmt.Errorf("%w %d: %s", ErrUnexpectedStatus, res.status, bodySnippet(res.body)))
		}
		var items []T
		ok := false
		if fc.light {
			items, ok = decode.light(res.body, pageSize)
		}
		if !ok {
			items, ok = decode.page(res.body, pageSize)
		}
		if !ok {
			// Decode item by item to name the failing one, exactly as the client reports it.
			var raws []json.RawMessage
			if err := json.Unmarshal(res.body, &raws); err != nil {
				entry := targetEntry(r, ti, res.status, 0)
				f.Requests = append(f.Requests, entry)
				return nil, f, fc.rp.fetchError(entry, fmt.Errorf("%w: not a JSON array of %ss: %v", ErrUndecodable, rs.object, err))
			}
			items = make([]T, len(raws))
			for i, raw := range raws {
				item, err := decode.item(raw)
				if err != nil {
					entry := targetEntry(r, ti, res.status, len(raws))
					f.Requests = append(f.Requests, entry)
					return nil, f, fc.rp.fetchError(entry, fmt.Errorf("%w: item %d: %w", ErrUndecodable, i, err))
				}
				items[i] = item
			}
		}
		f.Requests = append(f.Requests, targetEntry(r, ti, res.status, len(items)))
		for i := range items {
			at := decode.at(&items[i])
			switch {
			case !inclusive:
				if !at.After(*s) {
					continue
				}
			case !pastLast:
				// Up to the last id kept: skip what is not after S, and the last id itself.
				if !at.After(*s) {
					if at.Equal(*s) && decode.id(&items[i]) == m.ID {
						pastLast = true
					}
					continue
				}
				pastLast = true
			case at.Before(*s):
				continue
			}
			keptCount++
			if len(kept) < pageSize {
				kept = append(kept, items[i])
				last, lastPage, lastID = at, page, decode.id(&items[i])
			}
		}
		lastLen = len(items)
		if keptCount >= pageSize || len(items) < pageSize {
			break
		}
	}
	f.HasMore = keptCount > pageSize || lastLen == pageSize
	if len(kept) > 0 {
		if inclusive {
			// The page stays valid only while the next query is the same: same …From.
			if f.Before.IsZero() || formatFrom(last) != formatFrom(f.Before) {
				lastPage = 1
			}
			*m = Mark{ID: lastID, Page: lastPage}
		}
		*s = last
	}
	f.After, f.AfterMark = *s, *m
	f.Kept = len(kept)
	return kept, f, nil
}

func fetchBalances(ctx context.Context, rp *replicas, accountID string) (models.Balances, Request, error) {
	r := request{method: "GET", path: balancesPath(accountID)}
	res, ti, err := rp.do(ctx, r)
	if err != nil {
		entry := targetEntry(r, ti, 0, 0)
		return models.Balances{}, entry, rp.fetchError(entry, err)
	}
	if res.status != 200 {
		entry := targetEntry(r, ti, res.status, 0)
		return models.Balances{}, entry, rp.fetchError(entry, fmt.Errorf("%w %d: %s", ErrUnexpectedStatus, res.status, bodySnippet(res.body)))
	}
	var b models.Balances
	if err := json.Unmarshal(res.body, &b); err != nil {
		entry := targetEntry(r, ti, res.status, 0)
		return b, entry, rp.fetchError(entry, fmt.Errorf("%w: %w", ErrUndecodable, err))
	}
	entry := targetEntry(r, ti, res.status, len(b.Balances))
	if err := models.Validate(b); err != nil {
		return b, entry, rp.fetchError(entry, fmt.Errorf("%w: %w", ErrUndecodable, err))
	}
	return b, entry, nil
}

func balancesPath(accountID string) string { return "/accounts/" + accountID + "/balances" }

// decoder decodes the items of one list route like Formance's Go client and checks the contract's
// required fields: what, the object's name in messages, and at, the item's time field.
type decoder[T any] struct {
	what string
	at   func(*T) time.Time
	id   func(*T) string
	// field is the time field's JSON name and make builds an item of an id and that time, for
	// PollerOptions.Light.
	field string
	make  func(id string, at time.Time) T
}

var (
	decodeAccount = decoder[models.Account]{"account",
		func(a *models.Account) time.Time { return a.CreatedAt }, func(a *models.Account) string { return a.ID },
		"createdAt", func(id string, at time.Time) models.Account { return models.Account{ID: id, CreatedAt: at} }}
	decodeBeneficiary = decoder[models.Beneficiary]{"beneficiary",
		func(b *models.Beneficiary) time.Time { return b.CreatedAt }, func(b *models.Beneficiary) string { return b.ID },
		"createdAt", func(id string, at time.Time) models.Beneficiary { return models.Beneficiary{ID: id, CreatedAt: at} }}
	decodeTransaction = decoder[models.Transaction]{"transaction",
		func(t *models.Transaction) time.Time { return t.UpdatedAt }, func(t *models.Transaction) string { return t.ID },
		"updatedAt", func(id string, at time.Time) models.Transaction { return models.Transaction{ID: id, UpdatedAt: at} }}
)

// light reads a page for PollerOptions.Light: each item's id and time field only, with a small
// scanner of JSON that skips every other value. It reports false for anything it cannot read so
// (the caller then decodes the page in full).
func (d decoder[T]) light(body []byte, pageSize int) ([]T, bool) {
	sc := jsonscan.Scanner{B: body}
	if !sc.Consume('[') {
		return nil, false
	}
	items := make([]T, 0, pageSize)
	if sc.Consume(']') {
		return items, sc.End()
	}
	for {
		id, at, ok := d.lightItem(&sc)
		if !ok {
			return nil, false
		}
		items = append(items, d.make(id, at))
		if sc.Consume(']') {
			return items, sc.End()
		}
		if !sc.Consume(',') {
			return nil, false
		}
	}
}

// lightItem reads one object: its "id" and time field, skipping the rest.
func (d decoder[T]) lightItem(sc *jsonscan.Scanner) (id string, at time.Time, ok bool) {
	if !sc.Consume('{') {
		return "", at, false
	}
	var haveID, haveAt bool
	for first := true; ; first = false {
		if sc.Consume('}') {
			return id, at, haveID && haveAt
		}
		if !first && !sc.Consume(',') {
			return "", at, false
		}
		key, ok := sc.Plain(false)
		if !ok || !sc.Consume(':') {
			return "", at, false
		}
		switch key {
		case "id":
			if id, ok = sc.Plain(false); !ok || id == "" {
				return "", at, false
			}
			haveID = true
		case d.field:
			v, ok := sc.Plain(false)
			if !ok {
				return "", at, false
			}
			if at, ok = parseRFC3339(v); !ok {
				return "", at, false
			}
			haveAt = true
		default:
			if !sc.SkipValue() {
				return "", at, false
			}
		}
	}
}

func parseRFC3339(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// page decodes a whole answer in one pass and reports whether it is a JSON array of valid items. When
// it is not, the caller decodes item by item (item) to report the first failure as the client does.
func (d decoder[T]) page(body []byte, pageSize int) ([]T, bool) {
	items := make([]T, 0, pageSize) // Unmarshal appends to it: no growing for a full page
	if json.Unmarshal(body, &items) != nil {
		return nil, false
	}
	for i := range items {
		if models.Validate(&items[i]) != nil {
			return nil, false
		}
	}
	return items, true
}

// item decodes one item and checks it.
func (d decoder[T]) item(raw json.RawMessage) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		id := rawID(raw)
		if id != "" {
			return v, fmt.Errorf("%s %q: %w", d.what, id, err)
		}
		return v, fmt.Errorf("%s: %w", d.what, err)
	}
	if err := models.Validate(v); err != nil {
		return v, err
	}
	return v, nil
}

// rawID returns the "id" string of a raw JSON object, or "".
func rawID(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(m["id"], &id) != nil {
		return ""
	}
	return strings.TrimSpace(id)
}
