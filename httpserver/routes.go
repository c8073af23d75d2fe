package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// serveList serves a list route whose items are sorted and filtered by field: it parses the query,
// asks the provider for the page (through the cursor cache for a connector.CursorPaged provider),
// checks the page and every item, and writes them as a bare JSON array with appendItem.
func serveList[T any](h *Handler, field pagination.Field,
	list func(context.Context, connector.ListRequest) (connector.Page[T], error),
	id func(*T) string,
	appendItem func([]byte, *T) ([]byte, error),
) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		values, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "", fmt.Sprintf("malformed query string: %v", err))
			return
		}
		q, err := pagination.ParseQuery(values, field, h.cfg.maxPageSize)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "", err.Error())
			return
		}

		var items []T
		if _, cursorPaged := h.provider.(connector.CursorPaged); cursorPaged {
			tenant, _ := connector.TenantFrom(r.Context())
			scope := tenant + "\x00" + r.URL.Path
			items, err = pagination.FetchByCursor(r.Context(), h.cfg.cursors, scope, q,
				func(ctx context.Context, q pagination.Query) ([]T, string, error) {
					page, err := list(ctx, q)
					return page.Items, page.NextCursor, err
				})
		} else {
			var page connector.Page[T]
			page, err = list(r.Context(), q)
			items = page.Items
		}
		if errors.Is(err, pagination.ErrCursorOverflow) || errors.Is(err, pagination.ErrCursorLoop) {
			h.writeInvalidOutput(w, r, "provider broke the cursor paging contract: "+err.Error())
			return
		}
		if err != nil {
			writeProviderError(w, r, h.logger, err)
			return
		}

		if len(items) > q.PageSize {
			h.writeInvalidOutput(w, r, fmt.Sprintf(
				"provider returned %d items for pageSize=%d (a page must hold at most pageSize items)", len(items), q.PageSize))
			return
		}
		seen := seenIDs.Get().(map[string]int)
		defer func() { clear(seen); seenIDs.Put(seen) }()
		for i := range items {
			if err := models.Validate(&items[i]); err != nil {
				h.writeInvalidOutput(w, r, invalidItem(err, i, len(items)))
				return
			}
			itemID := id(&items[i])
			if first, dup := seen[itemID]; dup {
				h.writeInvalidOutput(w, r, fmt.Sprintf(
					"provider returned id %q twice on one page (items %d and %d of %d)", itemID, first+1, i+1, len(items)))
				return
			}
			seen[itemID] = i
		}
		writeItems(h, w, r, items, appendItem)
	}
}

// seenIDs recycles the maps that find an id repeated on a page.
var seenIDs = sync.Pool{New: func() any { return make(map[string]int) }}

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
	header := w.Header()
	setJSONHeaders(header)
	header.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
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

// notImplemented answers 501 for an optional capability the provider lacks.
func notImplemented(w http.ResponseWriter, does, iface string) {
	WriteError(w, http.StatusNotImplemented, "",
		fmt.Sprintf("this middleware does not %s: the provider does not implement connector.%s", does, iface))
}

func (h *Handler) getBalances(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("accountId")
	b, err := h.provider.GetBalances(r.Context(), accountID)
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

func (h *Handler) createPayout(w http.ResponseWriter, r *http.Request) {
	creator, ok := h.provider.(connector.PayoutCreator)
	if !ok {
		notImplemented(w, "create payouts", "PayoutCreator")
		return
	}
	req, ok := decodeBody[models.PayoutRequest](w, r, "payout request", h.cfg.maxBodyBytes)
	if !ok {
		return
	}
	idempotent(h, w, r, routePayouts, "payout", req.IdempotencyKey, "idempotencyKey", req,
		func(ctx context.Context, w http.ResponseWriter) {
			p, err := creator.CreatePayout(ctx, req)
			if err != nil {
				writeProviderError(w, r, h.logger, err)
				return
			}
			if !h.checkIdempotencyKey(w, r, "payout", p.ID, &p.IdempotencyKey, req.IdempotencyKey) {
				return
			}
			h.writeResult(w, r, http.StatusCreated, "payout", p)
		})
}

func (h *Handler) getPayout(w http.ResponseWriter, r *http.Request) {
	getter, ok := h.provider.(connector.PayoutGetter)
	if !ok {
		notImplemented(w, "report payouts", "PayoutGetter")
		return
	}
	id := r.PathValue("payoutId")
	p, err := getter.GetPayout(r.Context(), id)
	if err != nil {
		writeProviderError(w, r, h.logger, err)
		return
	}
	if !h.checkID(w, r, "payout", p.ID, id) {
		return
	}
	h.writeResult(w, r, http.StatusOK, "payout", p)
}

func (h *Handler) createTransfer(w http.ResponseWriter, r *http.Request) {
	creator, ok := h.provider.(connector.TransferCreator)
	if !ok {
		notImplemented(w, "create transfers", "TransferCreator")
		return
	}
	req, ok := decodeBody[models.TransferRequest](w, r, "transfer request", h.cfg.maxBodyBytes)
	if !ok {
		return
	}
	idempotent(h, w, r, routeTransfers, "transfer", req.IdempotencyKey, "idempotencyKey", req,
		func(ctx context.Context, w http.ResponseWriter) {
			t, err := creator.CreateTransfer(ctx, req)
			if err != nil {
				writeProviderError(w, r, h.logger, err)
				return
			}
			if !h.checkIdempotencyKey(w, r, "transfer", t.ID, &t.IdempotencyKey, req.IdempotencyKey) {
				return
			}
			h.writeResult(w, r, http.StatusCreated, "transfer", t)
		})
}

func (h *Handler) getTransfer(w http.ResponseWriter, r *http.Request) {
	getter, ok := h.provider.(connector.TransferGetter)
	if !ok {
		notImplemented(w, "report transfers", "TransferGetter")
		return
	}
	id := r.PathValue("transferId")
	t, err := getter.GetTransfer(r.Context(), id)
	if err != nil {
		writeProviderError(w, r, h.logger, err)
		return
	}
	if !h.checkID(w, r, "transfer", t.ID, id) {
		return
	}
	h.writeResult(w, r, http.StatusOK, "transfer", t)
}

func (h *Handler) createBankAccount(w http.ResponseWriter, r *http.Request) {
	creator, ok := h.provider.(connector.BankAccountCreator)
	if !ok {
		notImplemented(w, "create bank accounts", "BankAccountCreator")
		return
	}
	req, ok := decodeBody[models.BankAccountRequest](w, r, "bank account request", h.cfg.maxBodyBytes)
	if !ok {
		return
	}
	// The body has no idempotency key: use the Idempotency-Key header, or else the body itself, so
	// that a retried registration of the same account returns the first answer.
	idempotent(h, w, r, routeBankAccounts, "bank account", r.Header.Get(IdempotencyKeyHeader), IdempotencyKeyHeader+" header", req,
		func(ctx context.Context, w http.ResponseWriter) {
			b, err := creator.CreateBankAccount(ctx, req)
			if err != nil {
				writeProviderError(w, r, h.logger, err)
				return
			}
			h.writeResult(w, r, http.StatusCreated, "bank account", b)
		})
}

// checkIdempotencyKey fills an empty idempotency key of a created payout or transfer from the
// request, and refuses (500) a different one: Formance matches the answer to its payment initiation
// by this key.
func (h *Handler) checkIdempotencyKey(w http.ResponseWriter, r *http.Request, object, id string, got *string, want string) bool {
	switch *got {
	case "":
		*got = want
		return true
	case want:
		return true
	}
	h.writeInvalidOutput(w, r, fmt.Sprintf(
		"provider returned %s %q with idempotencyKey %q for a request with idempotencyKey %q",
		object, id, *got, want))
	return false
}

// checkID refuses (500) an object whose id differs from the one asked for in the path.
func (h *Handler) checkID(w http.ResponseWriter, r *http.Request, object, got, want string) bool {
	if got == want {
		return true
	}
	h.writeInvalidOutput(w, r, fmt.Sprintf("provider returned %s %q when asked for %s %q", object, got, object, want))
	return false
}

// writeResult validates one object returned by the provider and writes it, or answers 500.
func (h *Handler) writeResult(w http.ResponseWriter, r *http.Request, status int, object string, v any) {
	if err := models.Validate(v); err != nil {
		h.writeInvalidOutput(w, r, fmt.Sprintf("provider returned an invalid %s: %v", object, err))
		return
	}
	h.writeJSON(w, r, status, v)
}
