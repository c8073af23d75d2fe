package httpserver_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
)

// countStatuses sends n requests with auth (and the extra headers, name and value, when set) from
// the given number of goroutines and counts the answers by status. Every 429 must carry a whole number of seconds in Retry-After.
func countStatuses(t *testing.T, url string, workers, n int, auth string, header ...string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req := newRequest(t, url, request{path: "/accounts", auth: auth})
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Add(header[i], header[i+1])
				}
				res := do(t, req)
				if res.status == http.StatusTooManyRequests {
					secs, err := strconv.Atoi(res.header.Get("Retry-After"))
					assert.NoError(t, err, "Retry-After %q", res.header.Get("Retry-After"))
					assert.GreaterOrEqual(t, secs, 1)
				}
				mu.Lock()
				counts[res.status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

func TestWrongKeyFloodGets429sWhileTheRightKeyIsServed(t *testing.T) {
	p := newFake()
	// A token every ten seconds after a burst of five: the test never waits for a refill.
	srv, logs := newServer(t, p, httpserver.WithAuthFailureLimit(0.1, 5),
		httpserver.WithAPIKeys(map[string]string{"key-b": "tenant-b"}))

	var flood map[int]int
	var wg sync.WaitGroup
	wg.Go(func() { flood = countStatuses(t, srv.URL, 4, 300, "Bearer wrong-key") })
	// The right keys, from the same address, during the flood and after it.
	for i := range 40 {
		key := testKey
		if i%2 == 1 {
			key = "key-b"
		}
		res := send(t, srv.URL, request{path: "/accounts", auth: "Bearer " + key})
		require.Equal(t, http.StatusOK, res.status, "request %d with a right key during the flood: %s", i, res.body)
	}
	wg.Wait()
	assert.Equal(t, 300, flood[http.StatusUnauthorized]+flood[http.StatusTooManyRequests], "only 401s and 429s: %v", flood)
	assert.GreaterOrEqual(t, flood[http.StatusUnauthorized], 5, "the burst is answered 401: %v", flood)
	// Past the burst, 429s (four concurrent requests may pass the check together before the last
	// failure is counted, and the bucket may get one token back during the test).
	assert.LessOrEqual(t, flood[http.StatusUnauthorized], 5+4+1, "past the burst, 429s: %v", flood)
	assert.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/accounts"}).status, "the right key after the flood")

	// A request over the limit is refused with the contract's body, saying why and for how long.
	res := send(t, srv.URL, request{path: "/accounts", auth: "-"})
	e := errorBody(t, res, http.StatusTooManyRequests)
	assert.Equal(t, "too many requests from this client address failed authentication (at most 0.1 per second, in bursts of up to 5): retry after "+
		res.header.Get("Retry-After")+" seconds", e.Detail)
	assert.NotContains(t, e.Detail, "127.0.0.1", "no network address in a Detail")

	srv.Close()
	warnings := strings.Count(logs.String(), `"msg":"too many failed authentications"`)
	assert.GreaterOrEqual(t, warnings, 1)
	assert.LessOrEqual(t, warnings, 10, "a flood logs one warning a second, not one per request")
	assert.NotContains(t, logs.String(), "wrong-key")
	assert.NotContains(t, logs.String(), testKey)
}

func TestAuthFailureLimitComesBeforeTheCustomAuthenticator(t *testing.T) {
	var calls atomic.Int64
	auth := httpserver.WithAuthenticator(func(_ *http.Request, token string) (string, error) {
		calls.Add(1)
		switch {
		case strings.HasPrefix(token, "good-"):
			return strings.TrimPrefix(token, "good-"), nil
		case token == "store-down":
			return "", connector.Unavailable(nil, "credential store down")
		}
		return "", fmt.Errorf("%w: unknown token", httpserver.ErrUnauthorized)
	})
	srv, _ := newServer(t, newFake(), auth, httpserver.WithAuthFailureLimit(0.1, 3))
	get := func(token string) response {
		return send(t, srv.URL, request{path: "/accounts", auth: "Bearer " + token})
	}

	// Accepted tokens and undecided ones give their tokens back: none of them counts.
	for i := range 10 {
		require.Equal(t, http.StatusOK, get(fmt.Sprintf("good-t%d", i)).status)
		require.Equal(t, http.StatusServiceUnavailable, get("store-down").status)
	}
	require.EqualValues(t, 20, calls.Load())

	for range 3 {
		require.Equal(t, http.StatusUnauthorized, get("bad").status)
	}
	require.EqualValues(t, 23, calls.Load())
	for _, token := range []string{"bad", "good-t1", "store-down"} {
		errorBody(t, get(token), http.StatusTooManyRequests)
	}
	assert.EqualValues(t, 23, calls.Load(), "over the limit, the authenticator is not called")
	// The configured key never reaches the limit, nor the authenticator.
	assert.Equal(t, http.StatusOK, get(testKey).status)
	assert.EqualValues(t, 23, calls.Load())
}

func TestAuthFailureLimitPerClientBehindAProxy(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	srv, _ := newServer(t, newFake(), httpserver.WithAuthFailureLimit(0.1, 3),
		httpserver.WithClientAddressHeader("X-Forwarded-For", loopback))

	flood := countStatuses(t, srv.URL, 1, 20, "Bearer wrong", "X-Forwarded-For", "203.0.113.7")
	assert.Equal(t, map[int]int{401: 3, 429: 17}, flood)
	// Another client behind the same proxy has its own budget.
	other := countStatuses(t, srv.URL, 1, 3, "Bearer wrong", "X-Forwarded-For", "198.51.100.1, 127.0.0.1")
	assert.Equal(t, map[int]int{401: 3}, other, "the rightmost address that is not a trusted proxy is the client")
	// A client cannot escape its bucket by writing another address to the left of its own.
	spoof := countStatuses(t, srv.URL, 1, 3, "Bearer wrong", "X-Forwarded-For", "192.0.2.99", "X-Forwarded-For", "203.0.113.7")
	assert.Equal(t, map[int]int{429: 3}, spoof)
	// IPv6 clients are counted by /64.
	v6 := countStatuses(t, srv.URL, 1, 6, "Bearer wrong", "X-Forwarded-For", "2001:db8:1:2::1")
	assert.Equal(t, map[int]int{401: 3, 429: 3}, v6)
	assert.Equal(t, map[int]int{429: 2}, countStatuses(t, srv.URL, 1, 2, "Bearer wrong", "X-Forwarded-For", "[2001:db8:1:2:ffff::9]:4431"))
}

func TestClientAddressHeaderIsIgnoredFromUntrustedConnections(t *testing.T) {
	for name, opts := range map[string][]httpserver.Option{
		"no header configured":    nil,
		"loopback is not a proxy": {httpserver.WithClientAddressHeader("X-Forwarded-For", netip.MustParsePrefix("10.0.0.0/8"))},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := newServer(t, newFake(), append(opts, httpserver.WithAuthFailureLimit(0.1, 3))...)
			counts := map[int]int{}
			for i := range 10 { // a new address each time: all are counted as the connection's
				req := newRequest(t, srv.URL, request{path: "/accounts", auth: "Bearer wrong"})
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
				counts[do(t, req).status]++
			}
			assert.Equal(t, map[int]int{401: 3, 429: 7}, counts)
		})
	}
}

func TestAuthFailureGlobalLimit(t *testing.T) {
	srv, _ := newServer(t, newFake(), httpserver.WithAuthFailureLimit(rate.Inf, 1), httpserver.WithAuthFailureGlobalLimit(0.1, 4),
		httpserver.WithClientAddressHeader("X-Real-IP", netip.MustParsePrefix("127.0.0.1/32")))
	counts := map[int]int{}
	var last response
	for i := range 10 { // ten addresses: one budget for all
		req := newRequest(t, srv.URL, request{path: "/accounts", auth: "-"})
		req.Header.Set("X-Real-IP", fmt.Sprintf("192.0.2.%d", i))
		last = do(t, req)
		counts[last.status]++
	}
	assert.Equal(t, map[int]int{401: 4, 429: 6}, counts)
	assert.Contains(t, errorBody(t, last, http.StatusTooManyRequests).Detail,
		"too many requests failed authentication, from all clients together (at most 0.1 per second, in bursts of up to 4)")
	assert.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/accounts"}).status, "the configured key is still served")
}

func TestAuthFailureOptionsAreChecked(t *testing.T) {
	for name, opt := range map[string]httpserver.Option{
		"zero limit":             httpserver.WithAuthFailureLimit(0, 1),
		"zero burst":             httpserver.WithAuthFailureLimit(1, 0),
		"negative global limit":  httpserver.WithAuthFailureGlobalLimit(-1, 5),
		"zero global burst":      httpserver.WithAuthFailureGlobalLimit(1, 0),
		"empty header":           httpserver.WithClientAddressHeader("", netip.MustParsePrefix("10.0.0.0/8")),
		"header with a space":    httpserver.WithClientAddressHeader("X Forwarded", netip.MustParsePrefix("10.0.0.0/8")),
		"header without proxies": httpserver.WithClientAddressHeader("X-Forwarded-For"),
		"invalid proxy prefix":   httpserver.WithClientAddressHeader("X-Forwarded-For", netip.Prefix{}),
	} {
		_, err := httpserver.New(newFake(), httpserver.WithAPIKey(testKey), opt)
		assert.ErrorIs(t, err, httpserver.ErrInvalidConfig, name)
	}
}
