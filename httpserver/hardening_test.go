package httpserver_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// everyRoute is one request to each route of the API, with a valid body for the writes.
var everyRoute = []request{
	{path: "/accounts"},
	{path: "/accounts/acc_01/balances"},
	{path: "/beneficiaries"},
	{path: "/transactions"},
	{method: http.MethodPost, path: "/payouts", body: payoutBody},
	{path: "/payouts/po_1"},
	{method: http.MethodPost, path: "/transfers", body: transferBody},
	{path: "/transfers/tr_1"},
	{method: http.MethodPost, path: "/bank-accounts", body: bankAccountBody},
}

func routeLabel(r request) string {
	if r.method == "" {
		return "GET " + r.path
	}
	return r.method + " " + r.path
}

func TestEveryRouteRequiresAuthentication(t *testing.T) {
	p := newFull()
	srv, logs := newServer(t, p)
	for _, route := range everyRoute {
		for _, auth := range []string{"-", "Bearer wrong-key", "Basic " + testKey, testKey, "Bearer " + testKey + "-suffix"} {
			t.Run(routeLabel(route)+" with "+auth, func(t *testing.T) {
				req := route
				req.auth = auth
				res := send(t, srv.URL, req)
				errorBody(t, res, http.StatusUnauthorized)
				assert.Equal(t, "Bearer", res.header.Get("WWW-Authenticate"))
			})
		}
	}
	assert.Empty(t, p.recorded(), "no route reaches the provider without a valid key")
	srv.Close()
	assert.NotContains(t, logs.String(), testKey, "API keys, right or wrong, are never logged")
	assert.NotContains(t, logs.String(), "wrong-key")
}

func TestEveryRouteRunsAsTheAuthenticatedTenant(t *testing.T) {
	p := newFull()
	srv, _ := newServer(t, p, httpserver.WithAPIKeys(map[string]string{"key-a": "tenant-a", "key-b": "tenant-b"}))
	for _, route := range everyRoute {
		for key, tenant := range map[string]string{"key-a": "tenant-a", "key-b": "tenant-b"} {
			t.Run(routeLabel(route)+" as "+tenant, func(t *testing.T) {
				before := len(p.recorded())
				req := route
				req.auth = "Bearer " + key
				res := send(t, srv.URL, req)
				require.Less(t, res.status, 300, "body: %s", res.body)
				calls := p.recorded()[before:]
				require.Len(t, calls, 1, "each tenant's first write is its own provider call")
				assert.Equal(t, tenant, calls[0].tenant)
			})
		}
	}
}

func TestErrorBodiesHoldNoStackTraceOrSecret(t *testing.T) {
	const secret = "sk_live_hunter2"
	for _, tt := range []struct {
		name string
		set  func(f *fakeProvider)
	}{
		{"panic", func(f *fakeProvider) { f.panicValue = "PSP client crashed with key " + secret }},
		{"unknown error", func(f *fakeProvider) { f.err = errors.New("POST https://psp.example/v1?api_key=" + secret + ": EOF") }},
		{"cause of an unavailable error", func(f *fakeProvider) {
			f.err = connector.Unavailable(errors.New("dial with token "+secret), "PSP unreachable")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newFull()
			p.set(tt.set)
			srv, logs := newServer(t, p)
			for _, route := range everyRoute {
				res := send(t, srv.URL, route)
				require.GreaterOrEqual(t, res.status, 500, "%s: %s", routeLabel(route), res.body)
				body := string(res.body)
				assert.NotContains(t, body, secret, routeLabel(route))
				assert.NotContains(t, body, "goroutine", routeLabel(route))
				assert.NotContains(t, body, ".go:", routeLabel(route))
			}
			srv.Close()
			assert.NotContains(t, logs.String(), testKey)
			assert.NotContains(t, logs.String(), "Bearer")
		})
	}
}

func TestBodyLimitOnEveryWriteRoute(t *testing.T) {
	p := newFull()
	srv, _ := newServer(t, p, httpserver.WithMaxBodyBytes(64))
	for _, route := range everyRoute {
		if route.method != http.MethodPost {
			continue
		}
		req := route
		req.body = `{"name":"` + strings.Repeat("x", 100) + `"}`
		assert.Contains(t, errorBody(t, send(t, srv.URL, req), http.StatusBadRequest).Detail, "larger than the limit of 64 bytes")
	}
	assert.Empty(t, p.recorded())
}

// TestBodyReadFailureIsRetryableAndNamesNoAddress: a client that stops sending its body before the
// end gets, once the server's read timeout passes, a 408 (which Formance retries) whose Detail
// carries no error text, so no network address.
func TestBodyReadFailureIsRetryableAndNamesNoAddress(t *testing.T) {
	p := newWriteProvider(nil)
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(discardLogger()))
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /payouts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		testKey, len(payoutBody), payoutBody[:10])
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode, "body: %s", body)
	var e models.Error
	require.NoError(t, json.Unmarshal(body, &e))
	assert.Equal(t, "cannot read the request body: the connection failed or timed out before the whole body arrived; nothing was done, send the request again", e.Detail)
	assert.NotContains(t, e.Detail, "127.0.0.1")
	assert.Zero(t, p.n.Load(), "the provider is not called")
}
