package httpserver

import (
	"context"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// CursorPaged returns the connector.Provider that serves p, a provider whose PSP pages by cursor:
// serve it with New(CursorPaged(p), …). Formance asks for page numbers; each list request is
// answered by pagination.FetchByCursor, which calls p's list method from the cursor that starts
// the page asked for ("" for page 1) until the page is full or Next is "", and remembers the
// cursor of the next page. So a sequential walk costs one call of p per page, and a page without a
// remembered cursor is reached by walking from the nearest remembered page before it.
//
// Inside a handler built by New, the cursors are kept in the handler's cursor cache
// (WithCursorCache; by default one per handler, of pagination.NewCursorCache's default size), apart
// for every handler, tenant and route, and New discovers the optional capabilities
// (connector.PayoutCreator, …) on p itself. Called outside a handler, the Provider keeps no cursors
// (every page is reached by walking from page 1): same answers, more calls.
//
// Items are served with the times p returns, which loses items under Formance's poller when several
// share one timestamp (see connector.CursorProvider).
//
// A list method that returns more items than asked for, or no items with the very cursor it was
// given, breaks the contract: the request fails with a 500 whose Detail says so
// (pagination.ErrCursorOverflow, pagination.ErrCursorLoop). p's errors keep their status.
func CursorPaged(p connector.CursorProvider) connector.Provider {
	return &cursorPaged{p: p}
}

// cursorPaged is the Provider of CursorPaged.
type cursorPaged struct {
	p     connector.CursorProvider
	cache *pagination.CursorCache // nil: no cursors remembered
	scope string                  // the handler's scope, so that handlers sharing a cache keep apart
}

// The scopes of the list routes in the cursor cache.
const (
	scopeAccounts      = "/accounts"
	scopeBeneficiaries = "/beneficiaries"
	scopeTransactions  = "/transactions"
)

// ListAccounts implements connector.Provider with p's ListAccounts.
func (c *cursorPaged) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return listByCursor(ctx, c, scopeAccounts, req, c.p.ListAccounts)
}

// ListBeneficiaries implements connector.Provider with p's ListBeneficiaries.
func (c *cursorPaged) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return listByCursor(ctx, c, scopeBeneficiaries, req, c.p.ListBeneficiaries)
}

// ListTransactions implements connector.Provider with p's ListTransactions.
func (c *cursorPaged) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return listByCursor(ctx, c, scopeTransactions, req, c.p.ListTransactions)
}

// GetBalances implements connector.Provider with p's GetBalances.
func (c *cursorPaged) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	return c.p.GetBalances(ctx, accountID)
}

// listByCursor answers one page-numbered request from a cursor-paged list method.
func listByCursor[T any](ctx context.Context, c *cursorPaged, route string, req connector.ListRequest,
	list func(context.Context, connector.CursorRequest) (connector.CursorPage[T], error),
) (connector.Page[T], error) {
	tenant, _ := connector.TenantFrom(ctx)
	scope := c.scope + "\x00" + tenant + "\x00" + route
	items, err := pagination.FetchByCursor(ctx, c.cache, scope, req.Query(),
		func(ctx context.Context, q pagination.CursorQuery) ([]T, string, error) {
			page, err := list(ctx, connector.CursorRequest(q))
			return page.Items, page.Next, err
		})
	return connector.Page[T]{Items: items}, err
}

// bindCursors returns the provider a handler serves and the value its optional capabilities are
// discovered on: p itself, or, for a CursorPaged provider, a copy that keeps its cursors in cache
// under the handler's scope, and the CursorProvider it wraps.
func bindCursors(p connector.Provider, cache *pagination.CursorCache, scope string) (connector.Provider, any) {
	c, ok := p.(*cursorPaged)
	if !ok {
		return p, p
	}
	return &cursorPaged{p: c.p, cache: cache, scope: scope}, c.p
}
