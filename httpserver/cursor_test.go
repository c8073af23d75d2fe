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

// cursorProvider is a connector.CursorProvider over a fakeProvider's data: its list methods page by
// cursor, like Stripe's starting_after (the cursor "after:<id>" starts right after that item), and
// each call is recorded with its cursor as arg. overfill makes it return one item too many. It keeps
// the fakeProvider's GetBalances, and fullProvider's writes when built with one (see
// TestCursorPagedProviderCapabilities).
type cursorProvider struct {
	*fakeProvider
	overfill bool
}

var _ connector.CursorProvider = (*cursorProvider)(nil)

// cursorPage pages items by cursor.
func cursorPage[T any](c *cursorProvider, ctx context.Context, method string, q connector.CursorRequest,
	items func(*fakeProvider) []T, at func(T) time.Time, id func(T) string,
) (connector.CursorPage[T], error) {
	// The request as a list call, for the tests that check what reached the provider.
	listed := connector.ListRequest{PageSize: q.PageSize, Sort: q.Sort, From: q.From}
	if err := c.record(ctx, call{method: method, query: listed, arg: q.Cursor}); err != nil {
		return connector.CursorPage[T]{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var kept []T
	for _, it := range items(c.fakeProvider) {
		if !at(it).Before(q.From) {
			kept = append(kept, it)
		}
	}
	start := 0
	if after, ok := strings.CutPrefix(q.Cursor, "after:"); ok {
		for i, it := range kept {
			if id(it) == after {
				start = i + 1
			}
		}
	}
	size := q.PageSize
	if c.overfill {
		size++
	}
	end := min(start+size, len(kept))
	page := connector.CursorPage[T]{Items: kept[start:end]}
	if end < len(kept) {
		page.Next = "after:" + id(kept[end-1])
	}
	return page, nil
}

func (c *cursorProvider) ListAccounts(ctx context.Context, q connector.CursorRequest) (connector.CursorPage[models.Account], error) {
	return cursorPage(c, ctx, "ListAccounts", q, func(f *fakeProvider) []models.Account { return f.accounts },
		func(a models.Account) time.Time { return a.CreatedAt }, func(a models.Account) string { return a.ID })
}

func (c *cursorProvider) ListBeneficiaries(ctx context.Context, q connector.CursorRequest) (connector.CursorPage[models.Beneficiary], error) {
	return cursorPage(c, ctx, "ListBeneficiaries", q, func(f *fakeProvider) []models.Beneficiary { return f.beneficiaries },
		func(b models.Beneficiary) time.Time { return b.CreatedAt }, func(b models.Beneficiary) string { return b.ID })
}

func (c *cursorProvider) ListTransactions(ctx context.Context, q connector.CursorRequest) (connector.CursorPage[models.Transaction], error) {
	return cursorPage(c, ctx, "ListTransactions", q, func(f *fakeProvider) []models.Transaction { return f.transactions },
		func(t models.Transaction) time.Time { return t.UpdatedAt }, txID)
}

func TestCursorPagedProvider(t *testing.T) {
	p := &cursorProvider{fakeProvider: newFake()}
	p.transactions = sample(18, transaction)
	cache := pagination.NewCursorCache(0, 0)
	srv, _ := newServer(t, httpserver.CursorPaged(p), httpserver.WithCursorCache(cache),
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
		srv, _ := newServer(t, httpserver.CursorPaged(p))
		res := send(t, srv.URL, request{path: "/transactions?page=3&pageSize=2"})
		assert.Equal(t, "rate limited: upstream quota", errorBody(t, res, http.StatusTooManyRequests).Detail)
		assert.Equal(t, "2", res.header.Get("Retry-After"))
	})

	t.Run("a page longer than asked for is a 500", func(t *testing.T) {
		p := &cursorProvider{fakeProvider: newFake(), overfill: true}
		srv, _ := newServer(t, httpserver.CursorPaged(p))
		res := send(t, srv.URL, request{path: "/transactions?pageSize=2"})
		e := errorBody(t, res, http.StatusInternalServerError)
		assert.Contains(t, e.Detail, "GET /transactions: provider broke the cursor paging contract: ")
		assert.Contains(t, e.Detail, "asked for 2 items, got 3")
	})

	t.Run("invalid items are caught as for page-numbered providers", func(t *testing.T) {
		p := &cursorProvider{fakeProvider: newFake()}
		p.transactions[4].Status = "PROCESSED"
		srv, _ := newServer(t, httpserver.CursorPaged(p))
		res := send(t, srv.URL, request{path: "/transactions?page=3&pageSize=2"})
		assert.Contains(t, errorBody(t, res, http.StatusInternalServerError).Detail,
			`GET /transactions: provider returned an invalid item: transaction "tx_04": field "status": "PROCESSED"`)
	})
}

// cursorWithPayouts is a CursorProvider that can also create and report payouts.
type cursorWithPayouts struct {
	*cursorProvider
	full *fullProvider
}

func (c cursorWithPayouts) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	return c.full.CreatePayout(ctx, req)
}

func (c cursorWithPayouts) GetPayout(ctx context.Context, id string) (models.Payout, error) {
	return c.full.GetPayout(ctx, id)
}

// TestCursorPagedProviderCapabilities: the handler finds the optional capabilities on the
// CursorProvider that CursorPaged wraps, and answers for the missing ones as for any provider.
func TestCursorPagedProviderCapabilities(t *testing.T) {
	full := newFull()
	p := cursorWithPayouts{cursorProvider: &cursorProvider{fakeProvider: full.fakeProvider}, full: full}
	srv, _ := newServer(t, httpserver.CursorPaged(p))

	res := send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payoutBody})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	assert.Equal(t, "ik_9", decodeInto[models.Payout](t, res).IdempotencyKey)
	res = send(t, srv.URL, request{path: "/payouts/po_1"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "po_1", decodeInto[models.Payout](t, res).ID)
	res = send(t, srv.URL, request{path: "/accounts/acc_01/balances"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "acc_01", decodeInto[models.Balances](t, res).AccountID)

	res = send(t, srv.URL, request{method: http.MethodPost, path: "/transfers",
		body: strings.Replace(payoutBody, `"ik_9"`, `"ik_tr"`, 1)})
	assert.Contains(t, errorBody(t, res, http.StatusMethodNotAllowed).Detail, "connector.TransferCreator")
	res = send(t, srv.URL, request{path: "/transfers/tr_1"})
	assert.Contains(t, errorBody(t, res, http.StatusNotImplemented).Detail, "connector.TransferGetter")

	plain, _ := newServer(t, httpserver.CursorPaged(&cursorProvider{fakeProvider: newFake()}))
	res = send(t, plain.URL, request{method: http.MethodPost, path: "/payouts", body: payoutBody})
	assert.Contains(t, errorBody(t, res, http.StatusMethodNotAllowed).Detail, "connector.PayoutCreator")
}

// TestCursorPagedOutsideAHandler: the Provider that CursorPaged returns answers page numbers on its
// own too, walking from the first page since it remembers no cursors.
func TestCursorPagedOutsideAHandler(t *testing.T) {
	c := &cursorProvider{fakeProvider: newFake()}
	c.transactions = sample(7, transaction)
	p := httpserver.CursorPaged(c)
	req := connector.ListRequest{Page: 3, PageSize: 3, Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
	page, err := p.ListTransactions(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, []string{"tx_06"}, ids(page.Items, txID))
	assert.Equal(t, []string{"", "after:tx_02", "after:tx_05"}, ids(c.recorded(), func(c call) string { return c.arg }))
}

func TestCursorPagedNilProvider(t *testing.T) {
	_, err := httpserver.New(httpserver.CursorPaged(nil), httpserver.WithAPIKey(testKey))
	assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
}
