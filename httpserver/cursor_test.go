package httpserver_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// cursorProvider pages transactions by cursor, like Stripe's starting_after: the cursor "after:<id>"
// starts right after that transaction. It ignores req.Page. overfill makes it return one item too many.
type cursorProvider struct {
	*fakeProvider
	overfill bool
}

func (c *cursorProvider) PagesByCursor() {}

func (c *cursorProvider) ListTransactions(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
	if err := c.record(ctx, call{method: "ListTransactions", query: q, arg: q.Cursor}); err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var kept []models.Transaction
	for _, tx := range c.transactions {
		if !tx.UpdatedAt.Before(q.From) {
			kept = append(kept, tx)
		}
	}
	start := 0
	if after, ok := strings.CutPrefix(q.Cursor, "after:"); ok {
		for i, tx := range kept {
			if tx.ID == after {
				start = i + 1
			}
		}
	}
	size := q.PageSize
	if c.overfill {
		size++
	}
	end := min(start+size, len(kept))
	page := connector.Page[models.Transaction]{Items: kept[start:end]}
	if end < len(kept) {
		page.NextCursor = "after:" + kept[end-1].ID
	}
	return page, nil
}

var _ connector.CursorPaged = (*cursorProvider)(nil)

func TestCursorPagedProvider(t *testing.T) {
	p := &cursorProvider{fakeProvider: newFake()}
	p.transactions = sample(18, transaction)
	cache := pagination.NewCursorCache(0, 0)
	srv, _ := newServer(t, p, httpserver.WithCursorCache(cache),
		httpserver.WithAPIKeys(map[string]string{"key-b": "tenant-b"}))

	get := func(t *testing.T, key, query string) ([]string, []call) {
		t.Helper()
		before := len(p.recorded())
		res := send(t, srv.URL, request{path: "/transactions" + query, auth: "Bearer " + key})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		return ids(decodeInto[[]models.Transaction](t, res), txID), p.recorded()[before:]
	}
	cursors := func(calls []call) []string {
		return ids(calls, func(c call) string { return c.arg })
	}

	t.Run("sequential walk: one upstream call per page", func(t *testing.T) {
		wantPages := [][]string{
			{"tx_00", "tx_01", "tx_02", "tx_03", "tx_04"},
			{"tx_05", "tx_06", "tx_07", "tx_08", "tx_09"},
			{"tx_10", "tx_11", "tx_12", "tx_13", "tx_14"},
			{"tx_15", "tx_16", "tx_17"},
		}
		wantCursors := []string{"", "after:tx_04", "after:tx_09", "after:tx_14"}
		for i, want := range wantPages {
			got, calls := get(t, testKey, "?pageSize=5&page="+strconv.Itoa(i+1))
			assert.Equal(t, want, got, "page %d", i+1)
			assert.Equal(t, []string{wantCursors[i]}, cursors(calls), "page %d", i+1)
		}
		got, _ := get(t, testKey, "?pageSize=5&page=5")
		assert.Empty(t, got)
	})

	t.Run("another tenant does not share the cursors", func(t *testing.T) {
		got, calls := get(t, "key-b", "?pageSize=5&page=2")
		assert.Equal(t, []string{"tx_05", "tx_06", "tx_07", "tx_08", "tx_09"}, got)
		assert.Equal(t, []string{"", "after:tx_04"}, cursors(calls), "walks from page 1")
		for _, c := range calls {
			assert.Equal(t, "tenant-b", c.tenant)
		}
	})

	t.Run("after the cache is cleared pages are still right", func(t *testing.T) {
		cache.Clear()
		got, calls := get(t, testKey, "?pageSize=5&page=3")
		assert.Equal(t, []string{"tx_10", "tx_11", "tx_12", "tx_13", "tx_14"}, got)
		assert.Equal(t, []string{"", "after:tx_04", "after:tx_09"}, cursors(calls))

		got, calls = get(t, testKey, "?pageSize=5&page=4")
		assert.Equal(t, []string{"tx_15", "tx_16", "tx_17"}, got)
		assert.Equal(t, []string{"after:tx_14"}, cursors(calls))
	})

	t.Run("updatedAtFrom is passed on and keys the cache", func(t *testing.T) {
		got, calls := get(t, testKey, "?pageSize=5&page=2&updatedAtFrom=2024-03-01T10:00:10Z")
		assert.Equal(t, []string{"tx_15", "tx_16", "tx_17"}, got)
		assert.Equal(t, []string{"", "after:tx_14"}, cursors(calls))
		assert.True(t, calls[0].query.From.Equal(t0.Add(10*time.Second)))
	})

	t.Run("accounts go through the cursor path too", func(t *testing.T) {
		before := len(p.recorded())
		res := send(t, srv.URL, request{path: "/accounts?pageSize=2"})
		require.Equal(t, http.StatusOK, res.status)
		assert.Len(t, decodeInto[[]models.Account](t, res), 2)
		assert.Len(t, p.recorded()[before:], 1)
	})
}

func TestCursorPagedProviderErrors(t *testing.T) {
	t.Run("provider error keeps its status", func(t *testing.T) {
		p := &cursorProvider{fakeProvider: newFake()}
		p.err = connector.RateLimited(2*time.Second, "upstream quota")
		srv, _ := newServer(t, p)
		res := send(t, srv.URL, request{path: "/transactions?page=3&pageSize=2"})
		assert.Equal(t, "rate limited: upstream quota", errorBody(t, res, http.StatusTooManyRequests).Detail)
		assert.Equal(t, "2", res.header.Get("Retry-After"))
	})

	t.Run("a page longer than asked for is a 500", func(t *testing.T) {
		p := &cursorProvider{fakeProvider: newFake(), overfill: true}
		srv, _ := newServer(t, p)
		res := send(t, srv.URL, request{path: "/transactions?pageSize=2"})
		e := errorBody(t, res, http.StatusInternalServerError)
		assert.Contains(t, e.Detail, "GET /transactions: provider broke the cursor paging contract: ")
		assert.Contains(t, e.Detail, "asked for 2 items, got 3")
	})

	t.Run("invalid items are caught as for page-numbered providers", func(t *testing.T) {
		p := &cursorProvider{fakeProvider: newFake()}
		p.transactions[4].Status = "PROCESSED"
		srv, _ := newServer(t, p)
		res := send(t, srv.URL, request{path: "/transactions?page=3&pageSize=2"})
		assert.Contains(t, errorBody(t, res, http.StatusInternalServerError).Detail,
			`GET /transactions: provider returned an invalid item: transaction "tx_04": field "status": "PROCESSED"`)
	})
}
