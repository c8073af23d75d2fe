package httpserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// serveList serves a list route whose items are sorted and filtered by field: it parses the query,
// asks the provider for the page (a CursorPaged provider goes through the handler's cursor cache),
// completes the items with prepare (nil for none), checks the page and every item, and writes them
// as a bare JSON array with appendItem.
func serveList[T any](h *Handler, field pagination.Field,
	list func(context.Context, connector.ListRequest) (connector.Page[T], error),
	prepare func(*http.Request, []T) ([]T, error),
	id func(*T) string,
	version func(*T) int64,
	appendItem func([]byte, *T) ([]byte, error),
	relink func(*http.Request, []models.Encoded) (map[int][]byte, error),
) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.URL.RawQuery); n > MaxQueryBytes {
			WriteError(w, http.StatusBadRequest, "", fmt.Sprintf("query string of %d bytes: at most %d are accepted", n, MaxQueryBytes))
			return
		}
		if n := strings.Count(r.URL.RawQuery, "&") + strings.Count(r.URL.RawQuery, ";") + 1; n > MaxQueryParams {
			WriteError(w, http.StatusBadRequest, "", fmt.Sprintf("query string with %d parameters: at most %d are accepted", n, MaxQueryParams))
			return
		}
		q, err := pagination.ParseRawQuery(r.URL.RawQuery, field, h.cfg.maxPageSize)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "", err.Error()) // a malformed query string says so
			return
		}

		// A feed's page comes encoded and validated: it is written as it is stored.
		page, err := list(r.Context(), connector.ListRequest(q))
		if err == nil && page.Encoded != nil {
			serveEncoded(h, w, r, q, page.Encoded, relink, version != nil)
			return
		}
		fetch := firstThen(page.Items, err, func(q pagination.Query) ([]T, error) {
			page, err := list(r.Context(), connector.ListRequest(q))
			if err == nil && page.Encoded != nil {
				return decodeEncoded[T](page.Encoded)
			}
			return page.Items, err
		})

		seen := seenIDs.Get().(map[itemKey]int)
		defer func() { clear(seen); seenIDs.Put(seen) }()
		var items []T    // the answer
		var kept []T     // with a quarantine: the valid items, once one was left out
		leftOut := false // an item of this answer was left out
		for part := q; ; part.Page++ {
			got, err := fetch(part)
			if errors.Is(err, pagination.ErrCursorOverflow) || errors.Is(err, pagination.ErrCursorLoop) {
				h.writeInvalidOutput(w, r, "provider broke the cursor paging contract: "+err.Error())
				return
			}
			if err != nil {
				writeProviderError(w, r, h.logger, err)
				return
			}
			if len(got) > q.PageSize {
				h.writeInvalidOutput(w, r, fmt.Sprintf(
					"provider returned %d items for pageSize=%d (a page must hold at most pageSize items)", len(got), q.PageSize))
				return
			}
			if part.Page == q.Page {
				items = got
			}
			for i := range got {
				if err := models.Validate(&got[i]); err != nil {
					if h.cfg.quarantine == nil {
						h.writeInvalidOutput(w, r, invalidItem(err, i, len(got)))
						return
					}
					if !leftOut {
						leftOut = true
						kept = append(make([]T, 0, q.PageSize), items[:i]...)
					}
					h.quarantine(r, id(&got[i]), i, err)
					continue
				}
				k := itemKey{id: id(&got[i])}
				if version != nil {
					k.version = version(&got[i])
				}
				if first, dup := seen[k]; dup && part.Page == q.Page {
					h.writeInvalidOutput(w, r, fmt.Sprintf(
						"provider returned %s twice on one page (items %d and %d of %d)", k.describe(version != nil), first+1, i+1, len(got)))
					return
				} else if dup {
					continue // a fill page repeating an item (the data moved): it is served once
				}
				seen[k] = i
				if leftOut && len(kept) < q.PageSize {
					kept = append(kept, got[i])
				}
			}
			// Without a quarantined item the provider's page is the answer. With one, fill the
			// answer up from the following pages, so that it stays full unless the data ends.
			if !leftOut || len(kept) >= q.PageSize || len(got) < q.PageSize {
				break
			}
		}
		if leftOut {
			items = kept
		}

		if prepare != nil && len(items) > 0 {
			var err error
			if items, err = prepare(r, items); err != nil {
				h.linkUnavailable(w, r, err)
				return
			}
		}
		observe(r).served(len(items))
		writeItems(h, w, r, items, appendItem)
	}
}

// seenIDs recycles the maps that find an item repeated on a page.
var seenIDs = sync.Pool{New: func() any { return make(map[itemKey]int) }}

// itemKey identifies an item on a page: its id and, for transactions, its updatedAt (Unix ns). A
// page may hold two versions of one transaction (a lossless feed keeps a changed transaction's
// earlier slot in place, serving its earlier state, so that positions do not shift while Formance
// pages; Formance stores each state as an adjustment); the same version twice is a provider bug.
type itemKey struct {
	id      string
	version int64
}

func (k itemKey) describe(versioned bool) string {
	if !versioned {
		return fmt.Sprintf("id %q", k.id)
	}
	return fmt.Sprintf("id %q with updatedAt %s", k.id, time.Unix(0, k.version).UTC().Format(time.RFC3339Nano))
}

// writeItems writes a page as a bare JSON array ([] when empty, never null): the items appended
// one after the other into a recycled buffer, then written at once with their Content-Length. The
// bytes are those encoding/json would write; an item the appenders cannot write exactly (see
// errNotAppendable) sends the whole page through writeJSON instead.
func writeItems[T any](h *Handler, w http.ResponseWriter, r *http.Request, items []T, appendItem func([]byte, *T) ([]byte, error)) {
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	b := append((*buf)[:0], '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendItem(b, &items[i]); err != nil {
			*buf = b
			h.writeJSON(w, r, http.StatusOK, items)
			return
		}
	}
	b = append(b, ']', '\n')
	*buf = b
	writeBody(w, http.StatusOK, b)
}

// bodyBuffers recycles the buffers of list answers; buffers grown past maxPooledBody are dropped so
// that one huge page does not pin its memory.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

const maxPooledBody = 1 << 20

func putBodyBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBody {
		bodyBuffers.Put(b)
	}
}

// invalidItem describes an item of a list page that failed validation.
func invalidItem(err error, index, count int) string {
	var verr *models.ValidationError
	if errors.As(err, &verr) && verr.ID != "" {
		return "provider returned an invalid item: " + err.Error()
	}
	return fmt.Sprintf("provider returned an invalid item (item %d of %d on the page): %v", index+1, count, err)
}

// notImplemented answers 501 for an optional read capability the provider lacks. Formance retries
// a 501, which is harmless for the extension read routes it does not call.
func notImplemented(w http.ResponseWriter, does, iface string) {
	WriteError(w, http.StatusNotImplemented, "",
		fmt.Sprintf("this middleware does not %s: the provider does not implement connector.%s", does, iface))
}

// cannotWrite answers a write this middleware cannot do with 405, a final answer: Formance marks the
// payment initiation FAILED at once, where a 501 would be retried for ever. The path allows no
// method then (an empty Allow header).
func cannotWrite(w http.ResponseWriter, detail string) {
	w.Header().Set("Allow", "")
	WriteError(w, http.StatusMethodNotAllowed, "", detail)
}

func (h *Handler) getBalances(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("accountId")
	b, err := traced(h.tel, "GetBalances", h.provider.GetBalances)(r.Context(), accountID)
	if err != nil {
		writeProviderError(w, r, h.logger, err)
		return
	}
	switch b.AccountID {
	case "":
		b.AccountID = accountID
	case accountID:
	default:
		h.writeInvalidOutput(w, r, fmt.Sprintf(
			"provider returned balances of account %q when asked for account %q (accountID must equal the account id of the path)",
			b.AccountID, accountID))
		return
	}
	if b.Balances == nil {
		b.Balances = []models.Balance{} // an account without balances: [], never null
	}
	if err := models.Validate(b); err != nil {
		h.writeInvalidOutput(w, r, "provider returned invalid balances: "+err.Error())
		return
	}
	h.writeJSON(w, r, http.StatusOK, b)
}

// The routes of the write operations, as named in idempotency keys.
const (
	routePayouts      = "POST /payouts"
	routeTransfers    = "POST /transfers"
	routeBankAccounts = "POST /bank-accounts"
)

// writeSpec describes a write route to serveWrite: POST /payouts, /transfers or /bank-accounts.
type writeSpec[Req, Obj any] struct {
	route      string // as named in idempotency keys, e.g. routePayouts
	object     string // "payout", for Details
	does       string // "create payouts", for the Detail of a missing capability
	capability string // "PayoutCreator"
	// create is the provider's method, nil when the provider lacks the capability.
	create func(context.Context, Req) (Obj, error)
	// key returns the request's idempotency key and where it came from; "" keys by the body.
	key func(r *http.Request, req *Req) (key, source string)
	// created returns the created object's id and, for payouts and transfers, its idempotencyKey
	// field (nil for objects without one).
	created func(*Obj) (id string, idempotencyKey *string)
	// linked: the object has a transaction row that Formance must join to its payment initiation,
	// so the guard records the link from its id to the write (see linkTransactions).
	linked bool
}

// serveWrite serves a write route: one path for payouts, transfers and bank accounts, so that every
// rule holds for all three. The provider is called at most once per idempotency key (see guard),
// and what it returned decides what repeats get (see writeOutcome).
func serveWrite[Req, Obj any](h *Handler, spec writeSpec[Req, Obj]) http.HandlerFunc {
	what := spec.object + " request"
	return func(w http.ResponseWriter, r *http.Request) {
		if spec.create == nil {
			cannotWrite(w, fmt.Sprintf("this middleware does not %s: the provider does not implement connector.%s", spec.does, spec.capability))
			return
		}
		wr := &writeRequest[Req, Obj]{h: h, spec: &spec, r: r}
		if !decodeBody(w, r, what, h.cfg.maxBodyBytes, &wr.req) {
			return
		}
		wr.key, wr.source = spec.key(r, &wr.req)
		idempotent(h, w, r, spec.route, spec.object, wr.key, wr.source, &wr.req, &wr.fp, wr)
	}
}

// writeRequest is one request of a write route, in one allocation: its decoded body, its
// fingerprint and the created object, and what its provider call needs (see call).
type writeRequest[Req, Obj any] struct {
	h           *Handler
	spec        *writeSpec[Req, Obj]
	r           *http.Request
	req         Req
	key, source string // the idempotency key and where it came from
	fp          [sha256.Size]byte
	obj         Obj
}

// call is the provider call of the write, made by the guard once the key is acquired: it writes
// the answer to w and says what it means.
func (wr *writeRequest[Req, Obj]) call(ctx context.Context, w http.ResponseWriter) callResult {
	h, spec, r := wr.h, wr.spec, wr.r
	obj, err := spec.create(ctx, wr.req)
	if err != nil {
		return h.writeCreateError(w, r, spec.does, err)
	}
	wr.obj = obj
	id, objKey := spec.created(&wr.obj)
	res := callResult{outcome: outcomeFinal}
	if spec.linked {
		res.createdID = id
	}
	// From here the outcome is known: the PSP made the object. Whatever is wrong with the
	// record, the answer is stored and replayed, and the provider is not called again.
	problem := ""
	if objKey != nil {
		problem = checkIdempotencyKey(spec.object, id, objKey, wr.key)
	}
	if problem == "" {
		if err := models.Validate(&wr.obj); err != nil {
			problem = fmt.Sprintf("provider returned an invalid %s: %v", spec.object, err)
		}
	}
	if problem != "" {
		h.writeInvalidOutput(w, r, problem+fmt.Sprintf(
			" (the PSP accepted the %s: this answer is replayed to every retry with this %s, and the provider is not called again)",
			spec.object, wr.source))
		return res
	}
	writeObject(h, w, r, http.StatusCreated, &wr.obj)
	return res
}

// writeCreateError answers an error of a write's provider call and says what it means for the key:
// ErrUnavailable and ErrRateLimited say nothing happened at the PSP (released: the retry calls the
// provider again); ErrInvalidRequest, ErrNotFound, ErrConflict and ErrNotImplemented are final
// refusals (stored; ErrNotImplemented answers 405, which Formance does not retry); any other error
// leaves the outcome unknown (the key stays blocked until its in-flight TTL).
func (h *Handler) writeCreateError(w http.ResponseWriter, r *http.Request, does string, err error) callResult {
	switch {
	case connector.IsRetryable(err):
		writeProviderError(w, r, h.logger, err)
		return callResult{outcome: outcomeRetry}
	case errors.Is(err, connector.ErrNotImplemented):
		h.logger.LogAttrs(r.Context(), slog.LevelInfo, "provider refused request",
			slog.String("route", routeName(r)), slog.String("error", err.Error()))
		cannotWrite(w, fmt.Sprintf("this middleware does not %s here: %s", does, providerDetail(err, http.StatusNotImplemented)))
		return callResult{outcome: outcomeFinal}
	case errors.Is(err, connector.ErrInvalidRequest), errors.Is(err, connector.ErrNotFound), errors.Is(err, connector.ErrConflict):
		writeProviderError(w, r, h.logger, err)
		return callResult{outcome: outcomeFinal}
	}
	writeProviderError(w, r, h.logger, err)
	return callResult{outcome: outcomeUnknown}
}

// serveGet serves GET /payouts/{payoutId} or /transfers/{transferId}: the provider's object, whose
// id must be the one asked for.
func serveGet[Obj any](h *Handler, object, does, capability, param string, get func(context.Context, string) (Obj, error), idOf func(*Obj) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if get == nil {
			notImplemented(w, does, capability)
			return
		}
		id := r.PathValue(param)
		obj, err := get(r.Context(), id)
		if err != nil {
			writeProviderError(w, r, h.logger, err)
			return
		}
		if got := idOf(&obj); got != id {
			h.writeInvalidOutput(w, r, fmt.Sprintf("provider returned %s %q when asked for %s %q", object, got, object, id))
			return
		}
		if err := models.Validate(&obj); err != nil {
			h.writeInvalidOutput(w, r, fmt.Sprintf("provider returned an invalid %s: %v", object, err))
			return
		}
		h.writeJSON(w, r, http.StatusOK, &obj)
	}
}

// checkIdempotencyKey fills an empty idempotency key of a created payout or transfer from the
// request, and describes a different one: Formance matches the answer to its payment initiation by
// this key.
func checkIdempotencyKey(object, id string, got *string, want string) string {
	switch *got {
	case "":
		*got = want
		return ""
	case want:
		return ""
	}
	return fmt.Sprintf("provider returned %s %q with idempotencyKey %q for a request with idempotencyKey %q", object, id, *got, want)
}

// writeRoute returns the handler of a write route, built from the provider's capabilities.
func (h *Handler) writeRoute(route string) http.HandlerFunc {
	switch route {
	case routePayouts:
		spec := writeSpec[models.PayoutRequest, models.Payout]{
			route: route, object: "payout", does: "create payouts", capability: "PayoutCreator", linked: true,
			key: func(_ *http.Request, req *models.PayoutRequest) (string, string) {
				return req.IdempotencyKey, "idempotencyKey"
			},
			created: func(p *models.Payout) (string, *string) { return p.ID, &p.IdempotencyKey },
		}
		if c, ok := h.capabilities.(connector.PayoutCreator); ok {
			spec.create = traced(h.tel, "CreatePayout", c.CreatePayout)
		}
		return serveWrite(h, spec)
	case routeTransfers:
		spec := writeSpec[models.TransferRequest, models.Transfer]{
			route: route, object: "transfer", does: "create transfers", capability: "TransferCreator", linked: true,
			key: func(_ *http.Request, req *models.TransferRequest) (string, string) {
				return req.IdempotencyKey, "idempotencyKey"
			},
			created: func(t *models.Transfer) (string, *string) { return t.ID, &t.IdempotencyKey },
		}
		if c, ok := h.capabilities.(connector.TransferCreator); ok {
			spec.create = traced(h.tel, "CreateTransfer", c.CreateTransfer)
		}
		return serveWrite(h, spec)
	}
	// POST /bank-accounts: the body has no idempotency key, so the Idempotency-Key header, or else
	// the body itself, keys it, and a retried registration of the same account gets the first answer.
	spec := writeSpec[models.BankAccountRequest, models.BankAccount]{
		route: routeBankAccounts, object: "bank account", does: "create bank accounts", capability: "BankAccountCreator",
		key: func(r *http.Request, _ *models.BankAccountRequest) (string, string) {
			return r.Header.Get(IdempotencyKeyHeader), IdempotencyKeyHeader + " header"
		},
		created: func(b *models.BankAccount) (string, *string) { return b.ID, nil },
	}
	if c, ok := h.capabilities.(connector.BankAccountCreator); ok {
		spec.create = traced(h.tel, "CreateBankAccount", c.CreateBankAccount)
	}
	return serveWrite(h, spec)
}

// getRoute returns the handler of GET /payouts/{payoutId} or GET /transfers/{transferId}.
func (h *Handler) getRoute(path string) http.HandlerFunc {
	if path == "/payouts/{payoutId}" {
		var get func(context.Context, string) (models.Payout, error)
		if g, ok := h.capabilities.(connector.PayoutGetter); ok {
			get = traced(h.tel, "GetPayout", g.GetPayout)
		}
		return serveGet(h, "payout", "report payouts", "PayoutGetter", "payoutId", get, func(p *models.Payout) string { return p.ID })
	}
	var get func(context.Context, string) (models.Transfer, error)
	if g, ok := h.capabilities.(connector.TransferGetter); ok {
		get = traced(h.tel, "GetTransfer", g.GetTransfer)
	}
	return serveGet(h, "transfer", "report transfers", "TransferGetter", "transferId", get, func(t *models.Transfer) string { return t.ID })
}
