package httpserver_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
)

// leakySecret is a credential that a provider's error chain carries (in a wrapped URL, in a cause);
// it must never reach Formance.
const leakySecret = "sk_live_SECRET"

// upstreamURL is what a provider typically wraps its PSP's error with: the request it made.
const upstreamURL = "GET https://psp.example/v1?api_key=" + leakySecret

// TestDetailIsOnlyTheProviderMessage: the Detail of a provider error is the *connector.Error's own
// text, or the bare sentinel's text, never the chain that wraps it (which may hold the PSP's URL and
// credentials), nor a *connector.Error's Cause. The full chain is logged on the server.
func TestDetailIsOnlyTheProviderMessage(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantDetail string
	}{
		{"404 connector error", fmt.Errorf("%s: %w", upstreamURL, connector.NotFound("account %q does not exist", "x")),
			http.StatusNotFound, `not found: account "x" does not exist`},
		{"400 connector error", fmt.Errorf("%s: %w", upstreamURL, connector.InvalidRequest("insufficient funds")),
			http.StatusBadRequest, "invalid request: insufficient funds"},
		{"409 connector error", fmt.Errorf("%s: %w", upstreamURL, connector.Conflict("duplicate payout")),
			http.StatusConflict, "conflict: duplicate payout"},
		{"503 connector error", fmt.Errorf("%s: %w", upstreamURL, connector.Unavailable(errors.New("dial tcp: timeout"), "psp down")),
			http.StatusServiceUnavailable, "upstream unavailable: psp down"},
		{"429 connector error", fmt.Errorf("%s: %w", upstreamURL, connector.RateLimited(0, "slow down")),
			http.StatusTooManyRequests, "rate limited: slow down"},
		{"404 bare sentinel", fmt.Errorf("%s: %w", upstreamURL, connector.ErrNotFound), http.StatusNotFound, "not found"},
		{"400 bare sentinel", fmt.Errorf("%s: %w", upstreamURL, connector.ErrInvalidRequest), http.StatusBadRequest, "invalid request"},
		{"409 bare sentinel", fmt.Errorf("%s: %w", upstreamURL, connector.ErrConflict), http.StatusConflict, "conflict"},
		{"503 bare sentinel", fmt.Errorf("%s: %w", upstreamURL, connector.ErrUnavailable), http.StatusServiceUnavailable, "upstream unavailable"},
		{"429 bare sentinel", fmt.Errorf("%s: %w", upstreamURL, connector.ErrRateLimited), http.StatusTooManyRequests, "rate limited"},
		{"secret in the cause", connector.Unavailable(errors.New(upstreamURL+": connection reset"), "psp down"),
			http.StatusServiceUnavailable, "upstream unavailable: psp down"},
		{"secret in the cause, wrapped twice", fmt.Errorf("create payout: %w",
			fmt.Errorf("%s: %w", upstreamURL, &connector.Error{Kind: connector.ErrInvalidRequest, Detail: "bad iban", Cause: errors.New(leakySecret)})),
			http.StatusBadRequest, "invalid request: bad iban"},
		{"sentinel next to a connector error of another kind", fmt.Errorf("%s: %w (then %w)", upstreamURL, connector.ErrNotFound, connector.Conflict("dup")),
			http.StatusNotFound, "not found"},
		{"joined errors", errors.Join(errors.New(upstreamURL), connector.Conflict("duplicate payout")),
			http.StatusConflict, "conflict: duplicate payout"},
	}
	routes := []request{
		{path: "/transactions"},
		{path: "/accounts"},
		{method: http.MethodPost, path: "/payouts", body: payoutBody},
	}
	for _, tt := range tests {
		for _, route := range routes {
			method := route.method
			if method == "" {
				method = http.MethodGet
			}
			t.Run(tt.name+"/"+method+" "+route.path, func(t *testing.T) {
				p := newFull()
				p.err = tt.err
				srv, logs := newServer(t, p)
				res := send(t, srv.URL, route)
				assert.NotContains(t, string(res.body), leakySecret)
				assert.NotContains(t, string(res.body), "psp.example")
				e := errorBody(t, res, tt.wantStatus)
				assert.Equal(t, tt.wantDetail, e.Detail)
				srv.Close() // waits for the logs
				assert.Contains(t, logs.String(), `"error":"`+jsonText(tt.err.Error())+`"`, "the full chain is logged")
			})
		}
	}
}

// TestNotImplementedDetail: a provider list method that says ErrNotImplemented answers 501 with only
// the sentinel's text. (Writes answer ErrNotImplemented their own way, see routes.go.)
func TestNotImplementedDetail(t *testing.T) {
	p := newFake()
	p.err = fmt.Errorf("%s: %w", upstreamURL, connector.ErrNotImplemented)
	srv, _ := newServer(t, p)
	res := send(t, srv.URL, request{path: "/transactions"})
	assert.NotContains(t, string(res.body), leakySecret)
	assert.Equal(t, "not implemented", errorBody(t, res, http.StatusNotImplemented).Detail)
}

// TestDetailKeepsRetryAfter: trimming the Detail keeps the Retry-After of a wrapped error.
func TestDetailKeepsRetryAfter(t *testing.T) {
	p := newFake()
	p.err = fmt.Errorf("%s: %w", upstreamURL, connector.RateLimited(3*time.Second, "quota"))
	srv, _ := newServer(t, p)
	res := send(t, srv.URL, request{path: "/beneficiaries"})
	assert.Equal(t, "rate limited: quota", errorBody(t, res, http.StatusTooManyRequests).Detail)
	assert.Equal(t, "3", res.header.Get("Retry-After"))
}

// TestAuthenticatorErrorDetail: an authenticator that cannot decide answers like a provider, with
// only the provider message as Detail; its 401 refusals keep the documented message.
func TestAuthenticatorErrorDetail(t *testing.T) {
	auth := func(_ *http.Request, token string) (string, error) {
		switch token {
		case "store-down":
			return "", fmt.Errorf("redis://:%s@cache:6379: %w", leakySecret, connector.ErrUnavailable)
		case "store-slow":
			return "", fmt.Errorf("redis://:%s@cache:6379: %w", leakySecret, connector.RateLimited(time.Second, "credential store busy"))
		case "revoked":
			return "", fmt.Errorf("%w: token revoked", httpserver.ErrUnauthorized)
		}
		return "", errors.New("lookup failed: " + leakySecret)
	}
	srv, logs := newServer(t, newFake(), httpserver.WithAuthenticator(auth))
	for _, tt := range []struct {
		token      string
		wantStatus int
		wantDetail string
	}{
		{"store-down", http.StatusServiceUnavailable, "upstream unavailable"},
		{"store-slow", http.StatusTooManyRequests, "rate limited: credential store busy"},
		{"revoked", http.StatusUnauthorized, "unauthorized: token revoked"},
		{"other", http.StatusUnauthorized, "unauthorized: invalid API key"},
	} {
		t.Run(tt.token, func(t *testing.T) {
			res := send(t, srv.URL, request{path: "/accounts", auth: "Bearer " + tt.token})
			assert.NotContains(t, string(res.body), leakySecret)
			assert.Equal(t, tt.wantDetail, errorBody(t, res, tt.wantStatus).Detail)
		})
	}
	srv.Close()
	out := logs.String()
	require.Contains(t, out, leakySecret, "the authenticator's errors are logged")
	assert.Equal(t, 3, strings.Count(out, leakySecret), "each failing authenticator call is logged once")
}
