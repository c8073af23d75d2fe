package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// startMock serves the whole mock (contract routes and admin) on a test server.
func startMock(t *testing.T, cfg config) (*httptest.Server, *PSP) {
	t.Helper()
	h, psp, err := newHandler(t.Context(), cfg, discardLogger())
	require.NoError(t, err)
	t.Cleanup(psp.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, psp
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// client calls the mock over HTTP with one API key.
type client struct {
	t    *testing.T
	base string
	key  string
}

// do sends a request and returns the status and the body.
func (c client) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, r)
	require.NoError(c.t, err)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return res.StatusCode, data
}

// want sends a request, requires the status and decodes the answer into out (when not nil).
func (c client) want(status int, method, path string, body, out any) {
	c.t.Helper()
	got, data := c.do(method, path, body)
	require.Equal(c.t, status, got, "%s %s answered %s", method, path, data)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(data, out), "%s %s answered %s", method, path, data)
	}
}

// errorDetail sends a request that must fail with status and returns the Detail of its error body.
func (c client) errorDetail(status int, method, path string, body any) string {
	c.t.Helper()
	var e struct{ Title, Detail string }
	c.want(status, method, path, body, &e)
	require.NotEmpty(c.t, e.Detail, "error body of %s %s", method, path)
	return e.Detail
}

// state returns the admin state of the client's key.
func (c client) state() stateView {
	c.t.Helper()
	var v stateView
	c.want(http.StatusOK, "GET", "/admin/api/state", nil, &v)
	return v
}

// applyAction applies a lifecycle action through the admin API and returns the new status.
func (c client) applyAction(txID string, action Action) string {
	c.t.Helper()
	var tx transactionView
	c.want(http.StatusOK, "POST", "/admin/api/transactions/"+txID+"/actions", map[string]string{"action": string(action)}, &tx)
	return string(tx.Status)
}
