package httpserver

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Handler serves the Generic Connector HTTP API for one connector.Provider. Build it with New; it is
// safe for concurrent use. Mount it at the root of a server, or under a prefix with
// http.StripPrefix("/formance", h) when Formance's endpoint carries one. A path that is not clean is
// served as its clean route, never redirected (a redirect would leave the mount): "//transactions",
// which a Formance endpoint configured with a trailing slash produces, "/./transactions" and
// "/accounts/../transactions" are all served as "/transactions", with the same JSON answers.
//
// Routes and the provider method each one calls:
//
//	GET  /accounts                        ListAccounts        200, JSON array
//	GET  /accounts/{accountId}/balances   GetBalances         200
//	GET  /beneficiaries                   ListBeneficiaries   200, JSON array
//	GET  /transactions                    ListTransactions    200, JSON array
//	POST /payouts                         CreatePayout        201 (connector.PayoutCreator)
//	GET  /payouts/{payoutId}              GetPayout           200 (connector.PayoutGetter)
//	POST /transfers                       CreateTransfer      201 (connector.TransferCreator)
//	GET  /transfers/{transferId}          GetTransfer         200 (connector.TransferGetter)
//	POST /bank-accounts                   CreateBankAccount   201 (connector.BankAccountCreator)
//
// The three POST routes are idempotent. Payouts and transfers are keyed by their body's
// idempotencyKey, bank accounts by the Idempotency-Key header or, without one, by the body itself;
// keys are per tenant and per route. The provider is called at most once per key, whatever it
// returned: a created object or a final refusal is replayed byte for byte to every repeat; a
// provider error that says nothing happened at the PSP (connector.ErrUnavailable, ErrRateLimited)
// releases the key, so the next repeat calls the provider again; any other error, a panic, or a
// process that died during the call leaves the outcome unknown, and repeats get 423 Locked with
// Retry-After until the in-flight TTL ends (see connector.PayoutCreator and
// WithIdempotencyInFlightTTL). The rows of the payouts and transfers created here are served from
// GET /transactions with relatedTransactionID set to their idempotency key, so that Formance joins
// them to its payment initiations (see connector.PayoutCreator).
//
// Errors, always with a {"Title","Detail"} JSON body, and chosen by how Formance treats them (a 4xx
// other than 408, 421, 423, 425 and 429 is final for it; the rest are retried):
//   - 400 for a bad value of a known query parameter or a bad request body (or
//     connector.ErrInvalidRequest); 401 for a missing or wrong API key; 404 for an unknown route (or
//     connector.ErrNotFound); 409 from connector.ErrConflict, or for an idempotency key reused with
//     another body; 415 for a body that is not application/json; 408 (retried) for a body that
//     cannot be read to its end because the connection failed or timed out.
//   - 405 with an Allow header for a known path with another method, and for a write the provider
//     cannot do (a missing connector.PayoutCreator, TransferCreator or BankAccountCreator, or
//     connector.ErrNotImplemented from one): final, so Formance fails the payment initiation at once.
//   - 423 Locked with Retry-After for a write whose idempotency key is in flight or whose outcome is
//     unknown.
//   - 429 (over the tenant's rate limit, over the limits on failed authentications of
//     WithAuthFailureLimit, or from the provider) and 503 (from the provider, when the idempotency
//     store is down, or when it refuses a new key because it holds as much as it may for the tenant:
//     see idempotency.ErrStoreFull), with Retry-After when a delay is known.
//   - 501 for a read capability the provider does not implement (GET /payouts/{payoutId},
//     GET /transfers/{transferId}, which today's Formance does not call).
//   - 500 for a panic, an unknown provider error (Detail "internal error"; the error is logged) or
//     invalid provider output (Detail naming the route, item and field).
//
// The Detail of a provider error is only the provider's own message, never the chain that wraps it
// (which may carry the PSP's URL or credentials): the text of the *connector.Error of its kind
// (`not found: account "x" does not exist`), without its Cause, or else the bare sentinel's text
// ("not found"). The whole error is logged.
type Handler struct {
	provider connector.Provider
	cfg      config
	logger   *slog.Logger
	guard    *guard // runs each write once per idempotency key
	// cursorScope is unique to this handler, so that handlers sharing a CursorCache keep apart.
	cursorScope string
	handler     http.Handler // the middleware chain around the router

	// capabilities is what the optional capabilities (connector.PayoutCreator, …) are discovered
	// on: the provider, or the connector.CursorProvider that CursorPaged wraps.
	capabilities any
	tel          *telemetry // nil without WithMeterProvider or WithTracerProvider
}

// New returns the handler serving p. At least one of WithAPIKey, WithAPIKeys or WithAuthenticator
// is required (otherwise the error wraps ErrNoAuth). New fails with an error wrapping
// ErrInvalidConfig for a nil provider or a bad option (an empty key, a non-positive limit, …).
//
// New discovers the provider's optional capabilities (connector.PayoutCreator, …) by type assertion,
// on the connector.CursorProvider itself for a provider built by CursorPaged. The write routes of
// the capabilities it lacks answer 405 (final for Formance), the read routes 501.
func New(p connector.Provider, opts ...Option) (*Handler, error) {
	if c, ok := p.(*cursorPaged); p == nil || ok && c.p == nil {
		return nil, fmt.Errorf("%w: nil provider", ErrInvalidConfig)
	}
	cfg := config{
		maxPageSize:  pagination.DefaultMaxPageSize,
		maxBodyBytes: DefaultMaxBodyBytes,
		logger:       slog.Default(),
		inFlightTTL:  idempotency.DefaultInFlightTTL,
		retention:    idempotency.DefaultRetention,
		idemWait:     DefaultIdempotencyWait,

		authFailRate:        DefaultAuthFailureRate,
		authFailBurst:       DefaultAuthFailureBurst,
		authFailGlobalRate:  DefaultAuthFailureGlobalRate,
		authFailGlobalBurst: DefaultAuthFailureGlobalBurst,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, err
	}
	cfg.logger = boundLogger(cfg.logger) // no log attribute grows with client input
	if len(cfg.keys) == 0 && cfg.authenticator == nil {
		return nil, ErrNoAuth
	}
	if _, ok := p.(*cursorPaged); ok && cfg.cursors == nil {
		cfg.cursors = pagination.NewCursorCache(0, 0)
	}

	if cfg.idemStore == nil {
		cfg.idemStore = idempotency.NewMemoryStore()
	}

	h := &Handler{cfg: cfg, logger: cfg.logger, guard: newGuard(cfg),
		cursorScope: strconv.FormatUint(handlerCount.Add(1), 10)}
	h.provider, h.capabilities = bindCursors(p, cfg.cursors, h.cursorScope)
	var err error
	if h.tel, err = newTelemetry(cfg.telemetry); err != nil {
		return nil, fmt.Errorf("%w: telemetry: %w", ErrInvalidConfig, err)
	}
	router := h.routes()
	h.tel.setRouter(router)
	auth := &authenticator{custom: cfg.authenticator, logger: cfg.logger, failures: newFailureLimits(cfg),
		keys: make(map[[sha256.Size]byte]apiKey, len(cfg.keys))}
	for key, tenant := range cfg.keys {
		digest := sha256.Sum256([]byte(key))
		auth.keys[digest] = apiKey{digest: digest, tenant: tenant}
	}

	// The middlewares, outermost first. Logging sees the final status, including the 500 written by
	// panic recovery; authentication runs before any body is read, and the per-tenant rate limit
	// right after it.
	var middlewares []func(http.Handler) http.Handler
	if h.tel != nil {
		middlewares = append(middlewares, h.tel.middleware)
	}
	middlewares = append(middlewares,
		logRequests(cfg.logger, router),
		recoverPanics(cfg.logger),
		authenticate(auth),
	)
	if cfg.rateBurst > 0 {
		middlewares = append(middlewares, limitRate(newTenantLimiters(cfg.rateLimit, cfg.rateBurst), cfg.logger))
	}
	middlewares = append(middlewares, limitBody(cfg.maxBodyBytes))
	h.handler = chain(router, middlewares...)
	return h, nil
}

// handlerCount numbers the handlers of the process, for their cursor scopes.
var handlerCount atomic.Uint64

// ServeHTTP serves one request of the Generic Connector API. A path that is not clean is served as
// its clean route (see cleanRequest) before the middlewares run, so the request log, authentication
// and every error Detail see the route that is served.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.handler.ServeHTTP(w, cleanRequest(r))
}

// cleanRequest returns r, or, when r's path is not clean, a shallow copy of r whose URL has the clean
// path: "//transactions", "/./transactions" and "/accounts/../transactions" become "/transactions".
// http.ServeMux would answer such a path with a redirect to the clean path (with an HTML body), which
// under http.StripPrefix sends the client out of the mount: "/formance//transactions" redirected to
// "/transactions". A double slash is what a Formance endpoint configured with a trailing slash
// produces ("https://host/formance/" + "/transactions"), so serving the clean route is the useful
// answer.
//
// The cleaning is ServeMux's own (path.Clean, keeping a trailing slash, "" becoming "/"), applied to
// the escaped path as ServeMux does, so the route served is the one the redirect would have led to,
// and an escaped id ("/accounts/a%2Fb/balances") still reaches the provider whole and unescaped.
// CONNECT requests are left alone, as ServeMux leaves them.
func cleanRequest(r *http.Request) *http.Request {
	if r.Method == http.MethodConnect || r.URL == nil {
		return r
	}
	escaped := r.URL.EscapedPath()
	if escaped == "*" { // "OPTIONS *": ServeMux answers it by itself
		return r
	}
	clean := cleanPath(escaped)
	if clean == escaped {
		return r
	}
	unescaped, err := url.PathUnescape(clean)
	if err != nil {
		// EscapedPath is always a valid escaping, and cleaning only drops segments and slashes.
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = unescaped
	if r.URL.RawPath != "" {
		r2.URL.RawPath = clean
	}
	return r2
}

// cleanPath is ServeMux's cleaning of a path: the canonical path of p, with a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	// path.Clean drops a trailing slash (except for the root); put it back.
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

// route is one route of the API.
type route struct {
	method string
	path   string
	serve  http.HandlerFunc
}

// routes builds the router: every route of the contract, a JSON 405 for a known path with another
// method, and a JSON 404 for anything else.
func (h *Handler) routes() http.Handler {
	routes := []route{
		{http.MethodGet, "/accounts", serveList(h, pagination.FieldCreatedAt, traced(h.tel, "ListAccounts", h.provider.ListAccounts), nil,
			func(a *models.Account) string { return a.ID }, nil, appendAccount, nil)},
		{http.MethodGet, "/accounts/{accountId}/balances", h.getBalances},
		{http.MethodGet, "/beneficiaries", serveList(h, pagination.FieldCreatedAt, traced(h.tel, "ListBeneficiaries", h.provider.ListBeneficiaries), nil,
			func(b *models.Beneficiary) string { return b.ID }, nil, appendBeneficiary, nil)},
		{http.MethodGet, "/transactions", serveList(h, pagination.FieldUpdatedAt, traced(h.tel, "ListTransactions", h.provider.ListTransactions), h.linkTransactions,
			func(t *models.Transaction) string { return t.ID },
			func(t *models.Transaction) int64 { return t.UpdatedAt.UnixNano() }, appendTransaction, h.linkEncoded)},
		{http.MethodPost, "/payouts", h.writeRoute(routePayouts)},
		{http.MethodGet, "/payouts/{payoutId}", h.getRoute("/payouts/{payoutId}")},
		{http.MethodPost, "/transfers", h.writeRoute(routeTransfers)},
		{http.MethodGet, "/transfers/{transferId}", h.getRoute("/transfers/{transferId}")},
		{http.MethodPost, "/bank-accounts", h.writeRoute(routeBankAccounts)},
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, rt.serve)
		if _, seen := allowed[rt.path]; !seen {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead) // ServeMux serves HEAD with GET
		}
	}
	for _, path := range paths {
		methods := allowed[path]
		slices.Sort(methods)
		mux.Handle(path, methodNotAllowed(strings.Join(methods, ", ")))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "", fmt.Sprintf("no route %s %s in the Generic Connector API", r.Method, r.URL.Path))
	}))
	return mux
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		WriteError(w, http.StatusMethodNotAllowed, "",
			fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	})
}

// routeName names the request in error details and logs, e.g. "GET /transactions". Under a prefix
// mount the path is the one after the prefix, i.e. the contract's route. A method or path longer
// than maxLoggedInput bytes is clipped.
func routeName(r *http.Request) string {
	return clip(r.Method, maxLoggedInput) + " " + clip(r.URL.Path, maxLoggedInput) // a path may hold an id of any size
}
