package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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
)

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
// parameter, and keeps only items strictly after it.
type State struct {
	// Accounts is the createdAt of the last account kept.
	Accounts time.Time
	// Beneficiaries is the createdAt of the last beneficiary kept.
	Beneficiaries time.Time
	// Transactions is the updatedAt of the last transaction kept.
	Transactions time.Time
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
// A Poller is safe for concurrent use, but its cycles run one at a time.
type Poller struct {
	target   Target
	pageSize int

	mu       sync.Mutex // held during a cycle
	conn     *conn
	dialErr  error
	state    State
	maxPages int // MaxPagesPerFetch; lowered by tests
}

// NewPoller returns a Poller for target with Formance's pageSize setting; pageSize 0 or less means
// DefaultPollerPageSize. It starts from scratch (zero State), like a newly installed connector.
// When target.Handler is set, the first Cycle starts a test server for it: call Close when done.
func NewPoller(target Target, pageSize int) *Poller {
	if pageSize <= 0 {
		pageSize = DefaultPollerPageSize
	}
	return &Poller{target: target, pageSize: pageSize, maxPages: MaxPagesPerFetch}
}

// PageSize returns the page size the poller sends.
func (p *Poller) PageSize() int { return p.pageSize }

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

// Close stops the test server started for Target.Handler, if any. The Poller must not be used after.
func (p *Poller) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.close()
	}
}

func (p *Poller) connect() (*conn, error) {
	if p.conn == nil && p.dialErr == nil {
		p.conn, p.dialErr = dial(p.target)
	}
	return p.conn, p.dialErr
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
	c, err := p.connect()
	if err != nil {
		return err
	}
	for {
		before := p.state.Accounts
		items, f, err := fetchList(ctx, c, routeAccounts, p.pageSize, &p.state.Accounts, decodeAccount, p.maxPages)
		if err != nil {
			_ = fn(Delivery{Fetch: f})
			return err
		}
		d := Delivery{Fetch: f, Accounts: items}
		for _, a := range items {
			b, req, err := fetchBalances(ctx, c, a.ID)
			d.BalanceRequests = append(d.BalanceRequests, req)
			if err != nil {
				p.state.Accounts = before
				_ = fn(d)
				return err
			}
			d.Balances = append(d.Balances, b)
		}
		if err := fn(d); err != nil {
			p.state.Accounts = before
			return err
		}
		if !f.HasMore {
			break
		}
	}
	if err := streamRoute(ctx, p, c, routeBeneficiaries, &p.state.Beneficiaries, decodeBeneficiary,
		func(f Fetch, items []models.Beneficiary) error { return fn(Delivery{Fetch: f, Beneficiaries: items}) }); err != nil {
		return err
	}
	return streamRoute(ctx, p, c, routeTransactions, &p.state.Transactions, decodeTransaction,
		func(f Fetch, items []models.Transaction) error { return fn(Delivery{Fetch: f, Transactions: items}) })
}

// streamRoute runs the fetches of one route without balances while they have more, handing each to
// deliver.
func streamRoute[T any](ctx context.Context, p *Poller, c *conn, rs routeSpec, s *time.Time, decode decoder[T], deliver func(Fetch, []T) error) error {
	for {
		before := *s
		items, f, err := fetchList(ctx, c, rs, p.pageSize, s, decode, p.maxPages)
		if err != nil {
			_ = deliver(f, nil)
			return err
		}
		if err := deliver(f, items); err != nil {
			*s = before
			return err
		}
		if !f.HasMore {
			return nil
		}
	}
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

// fetchList runs one fetch of a list route and moves *s forward.
func fetchList[T any](ctx context.Context, c *conn, rs routeSpec, pageSize int, s *time.Time, decode decoder[T], maxPages int) ([]T, Fetch, error) {
	if maxPages <= 0 {
		maxPages = MaxPagesPerFetch
	}
	f := Fetch{Path: rs.path, Before: *s, After: *s}
	// kept holds the first pageSize items kept, keptCount counts them all, last is the time of the
	// last one held.
	kept := make([]T, 0, pageSize)
	keptCount := 0
	var last time.Time
	lastLen := 0
	for page := 1; ; page++ {
		if page > maxPages {
			r := listRequest(rs, page, pageSize, *s)
			return nil, f, &FetchError{Request: logEntry(r, 0, 0), Err: fmt.Errorf("%w: %d pages read without a page shorter than pageSize=%d (is the page parameter ignored?)", ErrRunaway, maxPages, pageSize)}
		}
		r := listRequest(rs, page, pageSize, *s)
		res, err := c.do(ctx, r)
		if err != nil {
			entry := logEntry(r, 0, 0)
			f.Requests = append(f.Requests, entry)
			return nil, f, &FetchError{Request: entry, Err: err}
		}
		if res.status != 200 {
			entry := logEntry(r, res.status, 0)
			f.Requests = append(f.Requests, entry)
			return nil, f, &FetchError{Request: entry, Err: fmt.Errorf("%w %d: %s", ErrUnexpectedStatus, res.status, bodySnippet(res.body))}
		}
		items, ok := decode.page(res.body, pageSize)
		if !ok {
			// Decode item by item to name the failing one, exactly as the client reports it.
			var raws []json.RawMessage
			if err := json.Unmarshal(res.body, &raws); err != nil {
				entry := logEntry(r, res.status, 0)
				f.Requests = append(f.Requests, entry)
				return nil, f, &FetchError{Request: entry, Err: fmt.Errorf("%w: not a JSON array of %ss: %v", ErrUndecodable, rs.object, err)}
			}
			items = make([]T, len(raws))
			for i, raw := range raws {
				item, err := decode.item(raw)
				if err != nil {
					entry := logEntry(r, res.status, len(raws))
					f.Requests = append(f.Requests, entry)
					return nil, f, &FetchError{Request: entry, Err: fmt.Errorf("%w: item %d: %w", ErrUndecodable, i, err)}
				}
				items[i] = item
			}
		}
		f.Requests = append(f.Requests, logEntry(r, res.status, len(items)))
		for i := range items {
			at := decode.at(&items[i])
			if !at.After(*s) {
				continue
			}
			keptCount++
			if len(kept) < pageSize {
				kept = append(kept, items[i])
				last = at
			}
		}
		lastLen = len(items)
		if keptCount >= pageSize || len(items) < pageSize {
			break
		}
	}
	f.HasMore = keptCount > pageSize || lastLen == pageSize
	if len(kept) > 0 {
		*s = last
	}
	f.After = *s
	f.Kept = len(kept)
	return kept, f, nil
}

func fetchBalances(ctx context.Context, c *conn, accountID string) (models.Balances, Request, error) {
	r := request{method: "GET", path: balancesPath(accountID)}
	res, err := c.do(ctx, r)
	if err != nil {
		entry := logEntry(r, 0, 0)
		return models.Balances{}, entry, &FetchError{Request: entry, Err: err}
	}
	if res.status != 200 {
		entry := logEntry(r, res.status, 0)
		return models.Balances{}, entry, &FetchError{Request: entry, Err: fmt.Errorf("%w %d: %s", ErrUnexpectedStatus, res.status, bodySnippet(res.body))}
	}
	var b models.Balances
	if err := json.Unmarshal(res.body, &b); err != nil {
		entry := logEntry(r, res.status, 0)
		return b, entry, &FetchError{Request: entry, Err: fmt.Errorf("%w: %w", ErrUndecodable, err)}
	}
	entry := logEntry(r, res.status, len(b.Balances))
	if err := models.Validate(b); err != nil {
		return b, entry, &FetchError{Request: entry, Err: fmt.Errorf("%w: %w", ErrUndecodable, err)}
	}
	return b, entry, nil
}

func balancesPath(accountID string) string { return "/accounts/" + accountID + "/balances" }

// decoder decodes the items of one list route like Formance's Go client and checks the contract's
// required fields: what, the object's name in messages, and at, the item's time field.
type decoder[T any] struct {
	what string
	at   func(*T) time.Time
}

var (
	decodeAccount     = decoder[models.Account]{"account", func(a *models.Account) time.Time { return a.CreatedAt }}
	decodeBeneficiary = decoder[models.Beneficiary]{"beneficiary", func(b *models.Beneficiary) time.Time { return b.CreatedAt }}
	decodeTransaction = decoder[models.Transaction]{"transaction", func(t *models.Transaction) time.Time { return t.UpdatedAt }}
)

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
