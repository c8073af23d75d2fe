package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
)

// rawGet sends GET path with exactly this Authorization header value (none when empty) and returns
// the status and the body.
func rawGet(t *testing.T, base, path, authorization, accept string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, string(body)
}

// The panel refuses exactly the keys the contract's routes refuse, with the library's reason; a key
// the routes accept is accepted by both.
func TestPanelRefusesWhatTheAPIRefuses(t *testing.T) {
	srv, _ := startMock(t, config{})
	keys := []string{
		"acme-test", strings.Repeat("k", 300), strings.Repeat("k", httpserver.MaxAPIKeyLength), // accepted
		"Acme Test", "tab\tkey", "s3crét", strings.Repeat("k", httpserver.MaxAPIKeyLength+1), // refused
	}
	for _, key := range keys {
		want := httpserver.CheckAPIKey(key)
		anon := client{t: t, base: srv.URL}
		status, data := anon.do(http.MethodPost, "/admin/api/keys/check", map[string]string{"key": key})
		apiStatus, _, apiBody := rawGet(t, srv.URL, "/accounts", "Bearer "+key, "")
		if want == nil {
			assert.Equal(t, http.StatusOK, status, "key of %d bytes: %s", len(key), data)
			assert.Equal(t, http.StatusOK, apiStatus, "key of %d bytes: %s", len(key), apiBody)
			continue
		}
		assert.Equal(t, http.StatusBadRequest, status, "the panel refuses %q", clipLogged(key))
		var e fieldError
		require.NoError(t, json.Unmarshal(data, &e))
		assert.Equal(t, "key", e.Field)
		assert.Contains(t, e.Detail, want.Error(), "the panel gives the library's reason")
		assert.Equal(t, http.StatusUnauthorized, apiStatus, "the API refuses %q too: %s", clipLogged(key), apiBody)
		if len(key) > 8 {
			assert.NotContains(t, string(data), key, "the reason never shows the key")
		}
	}
	// The admin API behind the panel refuses such a key as well, with the reason.
	detail := client{t: t, base: srv.URL, key: strings.Repeat("k", httpserver.MaxAPIKeyLength+1)}.errorDetail(http.StatusUnauthorized, "GET", "/admin/api/state", nil)
	assert.Contains(t, detail, "4097 bytes long")
	assert.Contains(t, detail, "the panel refuses it too")
}

// Requests that reach no dataset (refused, or with a key that holds no data) are in the log every
// panel shows, with the status, the reason and the key's first characters only; once a key holds
// data, its requests are in its own log.
func TestStrayRequestsAreLogged(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "acme-test", SeedAccounts: 1})
	owner := client{t: t, base: srv.URL, key: "acme-test"}

	status, _, _ := rawGet(t, srv.URL, "/transactions?page=1&pageSize=100", "Bearer Acme Test", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _, _ = rawGet(t, srv.URL, "/accounts?pageSize=100", "Bearer acme-tset", "") // a typo: no data
	require.Equal(t, http.StatusOK, status)
	status, _, _ = rawGet(t, srv.URL, "/accounts", "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	owner.want(http.StatusOK, "GET", "/accounts", nil, nil)

	st := owner.state()
	require.Len(t, st.Requests, 1, "the key's own log has its own request only")
	assert.Equal(t, "/accounts", st.Requests[0].Path)
	assert.Empty(t, st.Requests[0].Key)
	require.Len(t, st.Stray, 3)
	missing, typo, refused := st.Stray[0], st.Stray[1], st.Stray[2] // newest first
	assert.Equal(t, http.StatusUnauthorized, refused.Status)
	assert.Equal(t, "/transactions", refused.Path)
	assert.Equal(t, "Acme…(9 characters)", refused.Key, "only the key's first characters")
	assert.Contains(t, refused.Reason, "malformed Authorization header")
	assert.Equal(t, http.StatusOK, typo.Status)
	assert.Equal(t, "acme…(9 characters)", typo.Key)
	assert.Contains(t, typo.Reason, "no data for this key")
	assert.Equal(t, "", missing.Key)
	assert.Contains(t, missing.Reason, "missing Authorization header")

	// The typo'd key's own panel shows the same stray requests, and no request of its own.
	typoed := client{t: t, base: srv.URL, key: "acme-tset"}
	tst := typoed.state()
	assert.Empty(t, tst.Requests)
	assert.Len(t, tst.Stray, 3)
	assert.Zero(t, tst.Totals["accounts"], "reading the panel of a new key creates nothing")
}

// GET / leads to the panel, /favicon.ico is an icon: neither is a 401 nor a logged request.
func TestRootAndFavicon(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "k-root", SeedAccounts: 1})
	status, header, _ := rawGet(t, srv.URL, "/", "", "text/html,application/xhtml+xml")
	assert.Equal(t, http.StatusFound, status)
	assert.Equal(t, "/admin/", header.Get("Location"))
	status, header, body := rawGet(t, srv.URL, "/", "", "application/json")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, header.Get("Content-Type"), "application/json")
	assert.Contains(t, body, `"admin":"/admin/"`)
	status, header, body = rawGet(t, srv.URL, "/favicon.ico", "", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "image/svg+xml", header.Get("Content-Type"))
	assert.Contains(t, body, "<svg")
	st := client{t: t, base: srv.URL, key: "k-root"}.state()
	assert.Empty(t, st.Requests)
	assert.Empty(t, st.Stray, "neither / nor the icon is a logged request")
}
