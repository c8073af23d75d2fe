package httpserver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
)

// TestClientInputIsBoundedInLogsAndDetails: a 60 KB query on a wrong key logs a line under 1 KB; a
// 69 KB account id comes back in a Detail under 1 KB that says how long it was; a query string over
// the bounds is refused with 400 before it is parsed.
func TestClientInputIsBoundedInLogsAndDetails(t *testing.T) {
	logs := &bytes.Buffer{}
	h, err := httpserver.New(newFake(), httpserver.WithAPIKey(testKey), httpserver.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	require.NoError(t, err)
	srv := newHTTPServer(t, h)

	huge := strings.Repeat("x", 60<<10)
	res := send(t, srv.URL, request{path: "/transactions?q=" + huge, auth: "Bearer wrong"})
	assert.Equal(t, http.StatusUnauthorized, res.status)
	srv.Close()
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		assert.Less(t, len(line), 1024, "a log line: %.200s…", line)
	}
	assert.Contains(t, logs.String(), "(61442 bytes)", "the cut field says how long it was")

	srv = newHTTPServer(t, h)
	id := strings.Repeat("a", 69<<10)
	res = send(t, srv.URL, request{path: "/accounts/" + id + "/balances"})
	e := errorBody(t, res, http.StatusNotFound)
	assert.Less(t, len(e.Detail), 1100)
	assert.Contains(t, e.Detail, "bytes)")
	assert.Less(t, len(res.body), 1300)

	e = errorBody(t, send(t, srv.URL, request{path: "/transactions?" + strings.Repeat("page=1&", 10000) + "pageSize=1"}), http.StatusBadRequest)
	assert.Contains(t, e.Detail, "bytes: at most 2048 are accepted")
	e = errorBody(t, send(t, srv.URL, request{path: "/transactions?" + strings.Repeat("a=1&", 30) + "pageSize=1"}), http.StatusBadRequest)
	assert.Contains(t, e.Detail, "31 parameters: at most 20 are accepted")
	res = send(t, srv.URL, request{path: "/transactions?page=1&pageSize=100&sort=updatedAt:asc&updatedAtFrom=2024-03-01T10:00:00Z"})
	assert.Equal(t, http.StatusOK, res.status, "Formance's own query is served")
}

func newHTTPServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestEveryLogLineIsBounded: whatever logs client input (the request log, a provider error naming
// a 69 KB id, the guard naming a 69 KB idempotency key), each line stays under 1 KB.
func TestEveryLogLineIsBounded(t *testing.T) {
	logs := &syncBuffer{}
	p := newWriteProvider(func(context.Context, int64) error { return errors.New("PSP said no to " + strings.Repeat("k", 69<<10)) })
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	require.NoError(t, err)
	srv := newHTTPServer(t, h)

	id := strings.Repeat("a", 69<<10)
	errorBody(t, send(t, srv.URL, request{path: "/accounts/" + id + "/balances"}), http.StatusNotFound)
	res := postPayout(t, srv.URL, payoutWithKey(strings.Repeat("i", 69<<10)))
	e := errorBody(t, res, http.StatusInternalServerError)
	assert.Less(t, len(e.Detail), 1024)
	errorBody(t, postPayout(t, srv.URL, payoutWithKey(strings.Repeat("i", 69<<10))), http.StatusLocked)
	srv.Close()

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 6, "request logs, the provider's errors, the blocked key")
	for _, line := range lines {
		assert.Less(t, len(line), 1024, "a log line: %.300s…", line)
	}
	for _, msg := range []string{`"msg":"provider refused request"`, `"msg":"write failed with an unknown outcome: the key stays blocked"`} {
		assert.Contains(t, logs.String(), msg)
	}
	assert.Contains(t, logs.String(), "(70675 bytes)", "a clipped field says how long it was")
}
