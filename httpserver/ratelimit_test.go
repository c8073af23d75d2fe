package httpserver_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/httpserver"
)

func TestRateLimitPerTenant(t *testing.T) {
	p := newFake()
	// One request every ten seconds after a burst of two: the test never waits for a refill.
	srv, logs := newServer(t, p, httpserver.WithRateLimit(0.1, 2),
		httpserver.WithAPIKeys(map[string]string{"key-a": "tenant-a", "key-b": "tenant-b"}))
	get := func(auth string) response {
		return send(t, srv.URL, request{path: "/accounts", auth: auth})
	}

	for range 5 {
		require.Equal(t, http.StatusUnauthorized, get("Bearer wrong").status)
	}
	assert.Equal(t, http.StatusOK, get("Bearer key-a").status, "refused requests do not count")
	assert.Equal(t, http.StatusOK, get("Bearer key-a").status)

	before := len(p.recorded())
	res := get("Bearer key-a")
	e := errorBody(t, res, http.StatusTooManyRequests)
	assert.Equal(t, "rate limit exceeded: this API key may make 0.1 requests per second on average, in bursts of up to 2; retry after "+
		res.header.Get("Retry-After")+" seconds", e.Detail)
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.True(t, retry > 5 && retry <= 10, "Retry-After %d: the next token comes in about ten seconds", retry)
	assert.Len(t, p.recorded(), before, "the provider is not called over the limit")

	assert.Equal(t, http.StatusOK, get("Bearer key-b").status, "another tenant has its own limit")

	// Writes are limited the same way, before their body is read.
	res = send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payoutBody, auth: "Bearer key-a"})
	errorBody(t, res, http.StatusTooManyRequests)

	srv.Close()
	assert.Contains(t, logs.String(), `"msg":"rate limit exceeded"`)
	assert.Contains(t, logs.String(), `"tenant":"tenant-a"`)
	assert.NotContains(t, logs.String(), "key-a")
}

func TestWithoutRateLimitEveryRequestPasses(t *testing.T) {
	srv, _ := newServer(t, newFake())
	for range 50 {
		require.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/accounts"}).status)
	}
	srv2, _ := newServer(t, newFake(), httpserver.WithRateLimit(rate.Inf, 1))
	for range 50 {
		require.Equal(t, http.StatusOK, send(t, srv2.URL, request{path: "/accounts"}).status)
	}
}

func TestRateLimitOptionIsChecked(t *testing.T) {
	for _, tt := range []struct {
		limit rate.Limit
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}} {
		_, err := httpserver.New(newFake(), httpserver.WithAPIKey("k"), httpserver.WithRateLimit(tt.limit, tt.burst))
		assert.ErrorIs(t, err, httpserver.ErrInvalidConfig, "limit %v burst %d", tt.limit, tt.burst)
	}
}
