package httpserver_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestAPIKeyAuthentication(t *testing.T) {
	p := newFake()
	srv, logs := newServer(t, p)

	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantDetail string
	}{
		{"no header", "-", http.StatusUnauthorized, "missing Authorization header"},
		{"basic scheme", "Basic dGVzdDp0ZXN0", http.StatusUnauthorized, "malformed Authorization header"},
		{"bearer without token", "Bearer", http.StatusUnauthorized, "malformed Authorization header"},
		{"bearer with blank token", "Bearer   ", http.StatusUnauthorized, "malformed Authorization header"},
		{"token with a space", "Bearer " + testKey + " extra", http.StatusUnauthorized, "malformed Authorization header"},
		{"bare key", testKey, http.StatusUnauthorized, "malformed Authorization header"},
		{"wrong key", "Bearer wrong-key", http.StatusUnauthorized, "invalid API key"},
		{"prefix of the key", "Bearer " + testKey[:4], http.StatusUnauthorized, "invalid API key"},
		{"key with a suffix", "Bearer " + testKey + "x", http.StatusUnauthorized, "invalid API key"},
		{"right key", "Bearer " + testKey, http.StatusOK, ""},
		{"scheme in lower case", "bearer " + testKey, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, request{path: "/accounts", auth: tt.auth})
			if tt.wantStatus == http.StatusOK {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				assert.Len(t, p.recorded()[before:], 1)
				return
			}
			e := errorBody(t, res, tt.wantStatus)
			assert.Contains(t, e.Detail, tt.wantDetail)
			assert.Equal(t, "Bearer", res.header.Get("WWW-Authenticate"))
			assert.Empty(t, p.recorded()[before:], "the provider must not be called")
		})
	}
	srv.Close() // waits for the request logs
	assert.NotContains(t, logs.String(), testKey, "API keys must never be logged")
}

func TestSeveralKeysSelectTheTenant(t *testing.T) {
	p := newFake()
	srv, _ := newServer(t, p, httpserver.WithAPIKeys(map[string]string{"key-a": "tenant-a", "key-b": "tenant-b"}))

	for key, tenant := range map[string]string{"key-a": "tenant-a", "key-b": "tenant-b", testKey: httpserver.DefaultTenant} {
		t.Run(tenant, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, request{path: "/accounts/acc_01/balances", auth: "Bearer " + key})
			require.Equal(t, http.StatusOK, res.status)
			calls := p.recorded()[before:]
			require.Len(t, calls, 1)
			assert.Equal(t, tenant, calls[0].tenant)
		})
	}
}

func TestCustomAuthenticator(t *testing.T) {
	p := newFake()
	auth := func(r *http.Request, token string) (string, error) {
		switch {
		case strings.HasPrefix(token, "tok-"):
			return strings.TrimPrefix(token, "tok-"), nil
		case token == "revoked":
			return "", fmt.Errorf("%w: token revoked on 2024-01-01", httpserver.ErrUnauthorized)
		case token == "store-down":
			return "", connector.Unavailable(errors.New("dial tcp 10.0.0.7:5432"), "credential store unavailable")
		}
		return "", errors.New("lookup failed: password=hunter2")
	}
	srv, logs := newServer(t, p, httpserver.WithAuthenticator(auth))

	tests := []struct {
		name       string
		token      string
		wantStatus int
		wantTenant string
		wantDetail string
	}{
		{"configured key wins", testKey, http.StatusOK, httpserver.DefaultTenant, ""},
		{"authenticator accepts", "tok-acme", http.StatusOK, "acme", ""},
		{"authenticator refuses with a reason", "revoked", http.StatusUnauthorized, "", "unauthorized: token revoked on 2024-01-01"},
		{"authenticator fails: generic 401", "other", http.StatusUnauthorized, "", "unauthorized: invalid API key"},
		{"authenticator unavailable: 503", "store-down", http.StatusServiceUnavailable, "", "upstream unavailable: credential store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, request{path: "/transactions", auth: "Bearer " + tt.token})
			calls := p.recorded()[before:]
			if tt.wantStatus == http.StatusOK {
				require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
				require.Len(t, calls, 1)
				assert.Equal(t, tt.wantTenant, calls[0].tenant)
				return
			}
			e := errorBody(t, res, tt.wantStatus)
			assert.Equal(t, tt.wantDetail, e.Detail)
			assert.Empty(t, calls)
		})
	}
	srv.Close()
	assert.Contains(t, logs.String(), "hunter2", "the authenticator's error is logged, not sent")
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		p       connector.Provider
		opts    []httpserver.Option
		wantErr error
	}{
		{"nil provider", nil, []httpserver.Option{httpserver.WithAPIKey("k")}, httpserver.ErrInvalidConfig},
		{"no authentication", newFake(), nil, httpserver.ErrNoAuth},
		{"empty key", newFake(), []httpserver.Option{httpserver.WithAPIKey("")}, httpserver.ErrInvalidConfig},
		{"empty key in map", newFake(), []httpserver.Option{httpserver.WithAPIKeys(map[string]string{"": "t"})}, httpserver.ErrInvalidConfig},
		{"empty tenant", newFake(), []httpserver.Option{httpserver.WithAPIKeys(map[string]string{"k": ""})}, httpserver.ErrInvalidConfig},
		{"empty key map", newFake(), []httpserver.Option{httpserver.WithAPIKeys(nil)}, httpserver.ErrNoAuth},
		{"nil authenticator", newFake(), []httpserver.Option{httpserver.WithAuthenticator(nil)}, httpserver.ErrInvalidConfig},
		{"zero max page size", newFake(), []httpserver.Option{httpserver.WithAPIKey("k"), httpserver.WithMaxPageSize(0)}, httpserver.ErrInvalidConfig},
		{"negative body limit", newFake(), []httpserver.Option{httpserver.WithAPIKey("k"), httpserver.WithMaxBodyBytes(-1)}, httpserver.ErrInvalidConfig},
		{"nil logger", newFake(), []httpserver.Option{httpserver.WithAPIKey("k"), httpserver.WithLogger(nil)}, httpserver.ErrInvalidConfig},
		{"nil cursor cache", newFake(), []httpserver.Option{httpserver.WithAPIKey("k"), httpserver.WithCursorCache(nil)}, httpserver.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := httpserver.New(tt.p, tt.opts...)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
			assert.Nil(t, h)
		})
	}

	t.Run("authenticator alone is enough", func(t *testing.T) {
		h, err := httpserver.New(newFake(), httpserver.WithLogger(discardLogger()),
			httpserver.WithAuthenticator(func(*http.Request, string) (string, error) { return "t", nil }))
		require.NoError(t, err)
		srv := httptest.NewServer(h)
		defer srv.Close()
		res := send(t, srv.URL, request{path: "/accounts", auth: "Bearer anything"})
		assert.Equal(t, http.StatusOK, res.status)
	})
}

func TestRequestLog(t *testing.T) {
	srv, logs := newServer(t, newFake(), httpserver.WithAPIKeys(map[string]string{"key-a": "tenant-a"}))
	res := send(t, srv.URL, request{path: "/transactions?pageSize=2", auth: "Bearer key-a"})
	require.Equal(t, http.StatusOK, res.status)
	res = send(t, srv.URL, request{path: "/accounts", auth: "Bearer not-a-key"})
	require.Equal(t, http.StatusUnauthorized, res.status)
	srv.Close() // waits until both requests are logged

	out := logs.String()
	assert.Contains(t, out, `"msg":"request","method":"GET","path":"/transactions","query":"pageSize=2","status":200`)
	assert.Contains(t, out, `"tenant":"tenant-a"`)
	assert.Contains(t, out, `"path":"/accounts","query":"","status":401`)
	assert.NotContains(t, out, "key-a")
	assert.NotContains(t, out, "not-a-key")
	assert.NotContains(t, out, "Bearer")
}
