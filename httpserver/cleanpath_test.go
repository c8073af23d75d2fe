package httpserver_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// noRedirects is a client that shows a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sendRaw sends r with noRedirects and checks that the answer is neither a redirect nor HTML.
func sendRaw(t *testing.T, baseURL string, r request) response {
	t.Helper()
	req := newRequest(t, baseURL, r)
	method := req.Method
	res, err := noRedirects.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.False(t, res.StatusCode >= 300 && res.StatusCode < 400,
		"%s %s answered %d (Location %q): a redirect", method, r.path, res.StatusCode, res.Header.Get("Location"))
	assert.Empty(t, res.Header.Get("Location"))
	assert.NotContains(t, res.Header.Get("Content-Type"), "text/html")
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"), "%s %s: body %s", method, r.path, b)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// newMountedServer serves a handler of p under http.StripPrefix("/formance", …), as an application
// whose Formance endpoint is https://host/formance does.
func newMountedServer(t *testing.T, p *fullProvider) (*httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	require.NoError(t, err)
	srv := httptest.NewServer(http.StripPrefix("/formance", h))
	t.Cleanup(srv.Close)
	return srv, logs
}

// TestUncleanPathIsServedInsideTheMount: a path that is not clean (a double slash, as an endpoint
// configured with a trailing slash produces, or dot segments) is served as its clean route, never
// redirected (a redirect would leave the mount) and never answered with HTML.
func TestUncleanPathIsServedInsideTheMount(t *testing.T) {
	p := newFull()
	srv, logs := newMountedServer(t, p)

	for _, path := range []string{
		"/formance/transactions",
		"/formance//transactions",
		"/formance/./transactions",
		"/formance/accounts/../transactions",
		"/formance///transactions",
		"/formance/.//transactions",
		"/formance/transactions/.",
	} {
		t.Run("GET "+path, func(t *testing.T) {
			before := len(p.recorded())
			res := sendRaw(t, srv.URL, request{path: path + "?pageSize=2"})
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			txs := decodeInto[[]models.Transaction](t, res)
			assert.Equal(t, []string{"tx_00", "tx_01"}, ids(txs, txID))
			calls := p.recorded()[before:]
			require.Len(t, calls, 1)
			assert.Equal(t, "ListTransactions", calls[0].method)
			assert.Equal(t, 2, calls[0].query.PageSize, "the query string is kept")
		})
	}

	t.Run("other list routes", func(t *testing.T) {
		for _, path := range []string{"/formance//accounts", "/formance//beneficiaries", "/formance/beneficiaries/../accounts"} {
			res := sendRaw(t, srv.URL, request{path: path})
			require.Equal(t, http.StatusOK, res.status, "%s: body %s", path, res.body)
			assert.True(t, strings.HasPrefix(string(res.body), "["), "%s: a JSON array: %s", path, res.body)
		}
	})

	t.Run("POST //payouts", func(t *testing.T) {
		res := sendRaw(t, srv.URL, request{method: http.MethodPost, path: "/formance//payouts", body: payoutBody})
		require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
		assert.Equal(t, "po_ik_9", decodeInto[models.Payout](t, res).ID)
	})

	t.Run("unknown route", func(t *testing.T) {
		for path, wantDetail := range map[string]string{
			"/formance//nope":         "no route GET /nope in the Generic Connector API",
			"/formance/./nope/":       "no route GET /nope/ in the Generic Connector API",
			"/formance/../../etc":     "no route GET /etc in the Generic Connector API",
			"/formance":               "no route GET / in the Generic Connector API",
			"/formance/":              "no route GET / in the Generic Connector API",
			"/formance//":             "no route GET / in the Generic Connector API",
			"/formance/transactions/": "no route GET /transactions/ in the Generic Connector API",
		} {
			before := len(p.recorded())
			res := sendRaw(t, srv.URL, request{path: path})
			assert.Equal(t, wantDetail, errorBody(t, res, http.StatusNotFound).Detail, path)
			assert.Empty(t, p.recorded()[before:], path)
		}
	})

	t.Run("known path, other method", func(t *testing.T) {
		res := sendRaw(t, srv.URL, request{method: http.MethodDelete, path: "/formance//transactions"})
		e := errorBody(t, res, http.StatusMethodNotAllowed)
		assert.Contains(t, e.Detail, "method DELETE is not allowed on /transactions")
		assert.Equal(t, "GET, HEAD", res.header.Get("Allow"))
	})

	t.Run("authentication still applies", func(t *testing.T) {
		before := len(p.recorded())
		for _, auth := range []string{"-", "Bearer wrong-key"} {
			res := sendRaw(t, srv.URL, request{path: "/formance//transactions", auth: auth})
			errorBody(t, res, http.StatusUnauthorized)
			assert.Equal(t, "Bearer", res.header.Get("WWW-Authenticate"))
		}
		assert.Empty(t, p.recorded()[before:])
	})

	srv.Close() // waits for the request logs
	out := logs.String()
	assert.Contains(t, out, `"msg":"request","method":"GET","path":"/transactions","query":"pageSize=2","status":200`,
		"the request log names the route served")
	assert.NotContains(t, out, `"status":30`)
}

// TestUncleanPathKeepsEscapedIDs: an id with an escaped slash (%2F) still reaches the provider
// unescaped and whole, whether the path around it is clean or not.
func TestUncleanPathKeepsEscapedIDs(t *testing.T) {
	p := newFull()
	p.balances["a/b"] = balances("a/b")
	p.balances["a/../b"] = balances("a/../b")
	srv, _ := newMountedServer(t, p)

	for path, wantID := range map[string]string{
		"/formance/accounts/a%2Fb/balances":                 "a/b",
		"/formance//accounts/a%2Fb/balances":                "a/b",
		"/formance/./accounts/a%2Fb/balances":               "a/b",
		"/formance/transactions/../accounts/a%2Fb/balances": "a/b",
		"/formance//accounts/a%2F..%2Fb/balances":           "a/../b",
		"/formance//accounts/acc_01/balances":               "acc_01",
	} {
		t.Run(path, func(t *testing.T) {
			before := len(p.recorded())
			res := sendRaw(t, srv.URL, request{path: path})
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			assert.Equal(t, wantID, decodeInto[models.Balances](t, res).AccountID)
			calls := p.recorded()[before:]
			require.Len(t, calls, 1)
			assert.Equal(t, call{method: "GetBalances", tenant: httpserver.DefaultTenant, arg: wantID}, calls[0])
		})
	}
}

// TestUncleanPathAtTheRoot: mounted at the root, the handler serves unclean paths as their clean
// route too (httptest.NewRecorder on the handler: no transport in between).
func TestUncleanPathAtTheRoot(t *testing.T) {
	h, err := httpserver.New(newFull(), httpserver.WithAPIKey(testKey), httpserver.WithLogger(discardLogger()))
	require.NoError(t, err)
	for path, wantStatus := range map[string]int{
		"//transactions":                  http.StatusOK,
		"/./accounts":                     http.StatusOK,
		"/accounts/../beneficiaries":      http.StatusOK,
		"//accounts//acc_01//balances":    http.StatusOK,
		"/accounts/acc_01/balances/../..": http.StatusOK, // /accounts
		"//nope":                          http.StatusNotFound,
	} {
		t.Run(path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://psp-bridge.example"+path, nil)
			req.Header.Set("Authorization", "Bearer "+testKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, wantStatus, rec.Code, "body: %s", rec.Body)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Empty(t, rec.Header().Get("Location"))
			assert.Equal(t, path, req.URL.Path, "the caller's request is not modified")
		})
	}
}
