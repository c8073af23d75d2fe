package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
)

// linkWait bounds how long a page of transactions waits for the payouts and transfers this handler
// is creating for the tenant, when the page holds a row that may be one of them.
const linkWait = 2 * time.Second

// linkedType is the transaction type of the rows of objects created by each linked write route.
var linkedType = map[string]models.TransactionType{
	routePayouts:   models.TransactionTypePayout,
	routeTransfers: models.TransactionTypeTransfer,
}

// linkTransactions fills relatedTransactionID on the rows of payouts and transfers created through
// this middleware: a row of type PAYOUT (TRANSFER) without relatedTransactionID whose id is that of
// a payout (transfer) that POST /payouts (/transfers) created gets the write's idempotencyKey.
// Formance keys the payment of a payout it created by that key, and joins a polled row to it only
// through relatedTransactionID = idempotencyKey and the same type; without it the row becomes a
// second payment and the payment initiation never leaves its first status.
//
// The links come from the idempotency store (Store.Linked), so they hold across restarts and
// replicas sharing a store. When the page holds such a row with no link yet while this handler is
// still creating a payout or transfer for the tenant (a provider that puts the row into its feed
// before CreatePayout returns), the page waits for those writes, up to linkWait. A store that
// cannot answer makes the page a 503: served without its link, the row would be stored by Formance
// as an unrelated payment for good.
//
// items is not modified: when a link is filled, the page is copied first (the provider may have
// handed over its own storage).
func (h *Handler) linkTransactions(r *http.Request, items []models.Transaction) ([]models.Transaction, error) {
	var ids []string
	for i := range items {
		tx := &items[i]
		if tx.RelatedTransactionID == "" && tx.ID != "" &&
			(tx.Type == models.TransactionTypePayout || tx.Type == models.TransactionTypeTransfer) {
			ids = append(ids, tx.ID)
		}
	}
	if len(ids) == 0 {
		return items, nil
	}
	links, err := h.lookupLinks(r, ids)
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return items, nil
	}
	out := items
	copied := false
	for i := range out {
		tx := out[i]
		if !h.applyLink(r, &tx, links) {
			continue
		}
		if !copied {
			out = append([]models.Transaction(nil), items...)
			copied = true
		}
		out[i] = tx
	}
	return out, nil
}

// applyLink sets the relatedTransactionID of tx, a row without one, from its link in links, and
// reports whether it did; a row of another type than its write's is left alone (and logged).
func (h *Handler) applyLink(r *http.Request, tx *models.Transaction, links map[string]idempotency.Link) bool {
	if tx.RelatedTransactionID != "" {
		return false
	}
	link, ok := links[tx.ID]
	if !ok {
		return false
	}
	if linkedType[link.Route] != tx.Type {
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "transaction of a created write has another type: not linked",
			slog.String("route", routeName(r)), slog.String("id", tx.ID), slog.String("type", string(tx.Type)),
			slog.String("created_by", link.Route))
		return false
	}
	tx.RelatedTransactionID = link.IdempotencyKey
	return true
}

// linkEncoded is linkTransactions for an encoded page: it returns, by index in encs, the encoding
// of each row it linked (decoded, linked and encoded again); the other rows keep their bytes.
func (h *Handler) linkEncoded(r *http.Request, encs []models.Encoded) (map[int][]byte, error) {
	unlinked := false
	for _, e := range encs {
		unlinked = unlinked || e.UnlinkedWrite()
	}
	if !unlinked || h.guard.holdsNoLinks(r) {
		return nil, nil // and the rows' bytes are not read before they are copied
	}
	ids := linkIDs.Get().(*[]string)
	defer func() { clear(*ids); linkIDs.Put(ids) }()
	*ids = (*ids)[:0]
	for _, e := range encs {
		if e.UnlinkedWrite() {
			*ids = append(*ids, e.ID())
		}
	}
	if len(*ids) == 0 {
		return nil, nil
	}
	links, err := h.lookupLinks(r, *ids)
	if err != nil || len(links) == 0 {
		return nil, err
	}
	out := map[int][]byte{}
	for i, e := range encs {
		id := e.ID()
		if _, ok := links[id]; !ok || !e.UnlinkedWrite() {
			continue
		}
		var tx models.Transaction
		if err := e.Decode(&tx); err != nil {
			return nil, fmt.Errorf("decoding transaction %q of an encoded page: %w", id, err)
		}
		if !h.applyLink(r, &tx, links) {
			continue
		}
		b, err := models.AppendTransaction(nil, &tx)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// linkIDs recycles the id lists of linkEncoded.
var linkIDs = sync.Pool{New: func() any { return new([]string) }}

// lookupLinks returns the links of the rows with ids (see linkTransactions), waiting for this
// handler's writes in progress for the tenant when some are missing.
func (h *Handler) lookupLinks(r *http.Request, ids []string) (map[string]idempotency.Link, error) {
	tenant, _ := connector.TenantFrom(r.Context())
	ctx, cancel := h.guard.storeContext(context.WithoutCancel(r.Context()))
	defer cancel()
	// The writes in flight are taken before the store is read: a write that completes in between
	// has stored its link by then (Complete comes before its flight ends), and one still in flight
	// is waited for. Taken after, a write completing between the two reads would be in neither.
	pending := h.guard.pendingWrites(tenant)
	links, err := h.guard.store.Linked(ctx, tenant, ids)
	if err != nil {
		return nil, err
	}
	if len(links) < len(ids) && len(pending) > 0 {
		h.guard.waitFor(r, pending, linkWait)
		if links, err = h.guard.store.Linked(ctx, tenant, ids); err != nil {
			return nil, err
		}
	}
	return links, nil
}

// holdsNoLinks reports whether the tenant of r is known to have no link to fill: the store is this
// process's MemoryStore, it holds no link for the tenant, and this handler is creating no payout or
// transfer for it. The writes in flight are looked at first, as in lookupLinks: a write that ended
// before has stored its link.
func (g *guard) holdsNoLinks(r *http.Request) bool {
	if !g.local {
		return false
	}
	tenant, _ := connector.TenantFrom(r.Context())
	return !g.writesPending(tenant) && !g.store.(*idempotency.MemoryStore).HasLinks(tenant)
}

// linkedFlight reports whether key is that of a payout or transfer of tenant.
func linkedFlight(key idempotency.Key, tenant string) bool {
	return key.Tenant == tenant && linkedType[key.Route] != ""
}

// writesPending reports whether this handler is creating a payout or transfer for tenant.
func (g *guard) writesPending(tenant string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	pending := false
	g.flights.All(func(k idempotency.Key, _ *flight) bool {
		pending = linkedFlight(k, tenant)
		return !pending
	})
	return pending
}

// pendingWrites returns the channels closed when the payouts and transfers this handler is
// creating for tenant end.
func (g *guard) pendingWrites(tenant string) []<-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	var pending []<-chan struct{}
	g.flights.All(func(k idempotency.Key, f *flight) bool {
		if linkedFlight(k, tenant) {
			pending = append(pending, f.doneLocked())
		}
		return true
	})
	return pending
}

// waitFor waits until every flight is done, at most d, or until the client goes away.
func (g *guard) waitFor(r *http.Request, flights []<-chan struct{}, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, done := range flights {
		select {
		case <-done:
		case <-timer.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// linkUnavailable answers a page of transactions whose links cannot be read.
func (h *Handler) linkUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.logger.LogAttrs(r.Context(), slog.LevelError, "idempotency store failed",
		slog.String("route", routeName(r)), slog.String("error", err.Error()))
	w.Header().Set("Retry-After", retryAfterSeconds(inFlightRetryAfter))
	WriteError(w, http.StatusServiceUnavailable, "", fmt.Sprintf(
		"%s: cannot read which payouts and transfers this middleware created (the idempotency store is unavailable), so their rows cannot be linked to their payment initiations; retry later",
		routeName(r)))
}
