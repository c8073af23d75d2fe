package httpserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The default limits on requests that fail authentication (see WithAuthFailureLimit and
// WithAuthFailureGlobalLimit): far above what a client with a stale key does (Formance retries
// with a backoff of a second and more), far below a flood.
const (
	// DefaultAuthFailureRate and DefaultAuthFailureBurst limit the failed authentications of one
	// client address.
	DefaultAuthFailureRate  rate.Limit = 10
	DefaultAuthFailureBurst            = 100
	// DefaultAuthFailureGlobalRate and DefaultAuthFailureGlobalBurst limit the failed
	// authentications of all clients together.
	DefaultAuthFailureGlobalRate  rate.Limit = 100
	DefaultAuthFailureGlobalBurst            = 1000
)

// maxFailingClients bounds the number of client addresses whose failed authentications are
// counted one by one. Past it (a flood from many addresses), new addresses are held by the global
// limit only.
const maxFailingClients = 100_000

// WithAuthFailureLimit limits the requests of one client address that fail authentication to limit
// per second on average, in bursts of up to burst (default DefaultAuthFailureRate, 10 per second,
// and DefaultAuthFailureBurst, 100). A request that fails authentication is one whose bearer token
// is missing, malformed or not one of the keys given with WithAPIKey and WithAPIKeys, and that the
// custom authenticator (WithAuthenticator) refuses.
//
// The limit is checked before the expensive part of authentication: a request whose token is one
// of the configured keys is always served (the key is found by its SHA-256 digest, at the same cost
// whatever the number of keys), so a flood of wrong keys, even from the address of a real client,
// never refuses the right key. Any other request is checked against its client address's bucket
// and the global bucket (WithAuthFailureGlobalLimit) before the custom authenticator is called:
// when either is empty, the request is answered 429 Too Many Requests with a Retry-After header
// (whole seconds until a token is there) and the contract's error body, and the authenticator is
// not called. Only a failure takes a token from each bucket: a request the authenticator accepts
// does not count, nor one it cannot decide (connector.ErrUnavailable, connector.ErrRateLimited).
// Requests that fail at the same moment may pass the check together and take a bucket below zero;
// the wait that follows is longer. A client whose key is right but known only to the custom
// authenticator is refused while its address is over the limit.
//
// The client address is the connection's peer address (http.Request.RemoteAddr), IPv6 addresses
// counted by /64 network. Behind a proxy or load balancer every request comes from the proxy's
// address: name the header that carries the client address with WithClientAddressHeader.
//
// limit must be positive and burst at least 1; rate.Inf turns the per-address limit off.
func WithAuthFailureLimit(limit rate.Limit, burst int) Option {
	return rateOption("auth failure limit", limit, burst, func(c *config) { c.authFailRate, c.authFailBurst = limit, burst })
}

// WithAuthFailureGlobalLimit limits the requests that fail authentication, from all client
// addresses together, to limit per second on average, in bursts of up to burst (default
// DefaultAuthFailureGlobalRate, 100 per second, and DefaultAuthFailureGlobalBurst, 1000). It caps
// the work a flood from many addresses can cause (calls of the custom authenticator, log lines);
// over it, every request whose token is not one of the configured keys is answered 429 with
// Retry-After, whatever its address, while the configured keys are still served. See
// WithAuthFailureLimit for what counts as a failure.
//
// limit must be positive and burst at least 1; rate.Inf turns the global limit off.
func WithAuthFailureGlobalLimit(limit rate.Limit, burst int) Option {
	return rateOption("global auth failure limit", limit, burst, func(c *config) {
		c.authFailGlobalRate, c.authFailGlobalBurst = limit, burst
	})
}

// WithClientAddressHeader makes the limit on failed authentications (WithAuthFailureLimit) read the
// client address from header, e.g. "X-Forwarded-For", "X-Real-IP" or "Forwarded" (RFC 7239, its
// for= parameters), for requests whose connection comes from one of trustedProxies (e.g.
// netip.MustParsePrefix("10.0.0.0/8"), the network of your load balancers). The header of any
// other connection is ignored, so that a client cannot choose the address it is counted under by
// sending the header itself.
//
// The header's addresses are read from the right (the one added by the nearest proxy) and the
// client address is the first one that is not in trustedProxies; a list whose every address is a
// trusted proxy gives its leftmost one. A missing or unreadable header leaves the connection's
// address. Each header line and each comma-separated element counts, so that a header split across
// lines reads as one list.
//
// New fails with an error wrapping ErrInvalidConfig for an empty or invalid header name or when no
// trusted proxy is given (to trust every connection, give netip.MustParsePrefix("0.0.0.0/0") and
// netip.MustParsePrefix("::/0") explicitly).
func WithClientAddressHeader(header string, trustedProxies ...netip.Prefix) Option {
	return func(c *config) {
		switch {
		case header == "" || strings.ContainsFunc(header, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ':' }):
			c.reject("WithClientAddressHeader: header name %q is not a valid HTTP header name", header)
			return
		case len(trustedProxies) == 0:
			c.reject("WithClientAddressHeader: no trusted proxy (the header is read only on connections from trusted proxies)")
			return
		}
		for _, p := range trustedProxies {
			if !p.IsValid() {
				c.reject("WithClientAddressHeader: invalid trusted proxy prefix %v", p)
				return
			}
		}
		c.clientHeader = textproto.CanonicalMIMEHeaderKey(header)
		c.trustedProxies = make([]netip.Prefix, len(trustedProxies))
		for i, p := range trustedProxies {
			c.trustedProxies[i] = p.Masked()
		}
	}
}

// failureLimits holds the buckets of failed authentications: one per client address and a global
// one (each nil when turned off).
type failureLimits struct {
	clients *tenantLimiters
	global  *rate.Limiter

	header         string // the header carrying the client address ("" for the peer address)
	trustedProxies []netip.Prefix

	logger     *slog.Logger
	lastLogged atomic.Int64 // UnixNano of the last warning, so that a flood logs one line a second
	refused    atomic.Int64 // refusals since that warning
}

func newFailureLimits(cfg config) *failureLimits {
	l := &failureLimits{header: cfg.clientHeader, trustedProxies: cfg.trustedProxies, logger: cfg.logger}
	if cfg.authFailRate != rate.Inf {
		l.clients = newTenantLimiters(cfg.authFailRate, cfg.authFailBurst)
		l.clients.maxKeys = maxFailingClients
	}
	if cfg.authFailGlobalRate != rate.Inf {
		l.global = rate.NewLimiter(cfg.authFailGlobalRate, cfg.authFailGlobalBurst)
	}
	return l
}

// check returns, when the request's client bucket or the global bucket has no token left, the 429
// Detail and the wait until a token is there; it takes nothing. Only failures take tokens (see
// failed), so requests that the custom authenticator accepts never count; concurrent requests may
// pass the check together and take the bucket a little below zero, which makes the next wait longer.
// client is the key of the request's bucket, for failed ("" when there is no per-client limit).
func (l *failureLimits) check(r *http.Request, now time.Time) (client, refusal string, delay time.Duration) {
	if l.clients != nil {
		client = l.clientKey(r)
		if delay = l.clients.wait(client, now); delay > 0 {
			return client, fmt.Sprintf("too many requests from this client address failed authentication (at most %s per second, in bursts of up to %d): retry after %s seconds",
				formatRate(l.clients.limit), l.clients.burst, retryAfterSeconds(delay)), delay
		}
	}
	if l.global != nil {
		if delay = tokenWait(l.global, now); delay > 0 {
			return client, fmt.Sprintf("too many requests failed authentication, from all clients together (at most %s per second, in bursts of up to %d): retry after %s seconds",
				formatRate(l.global.Limit()), l.global.Burst(), retryAfterSeconds(delay)), delay
		}
	}
	return client, "", 0
}

// failed counts a failed authentication from client (as check returned it): one token from its
// bucket and one from the global bucket.
func (l *failureLimits) failed(client string, now time.Time) {
	if l.clients != nil {
		l.clients.mu.Lock()
		if b := l.clients.bucketLocked(client, now); b != nil {
			b.ReserveN(now, 1) // may go below zero: the wait grows
		}
		l.clients.mu.Unlock()
	}
	if l.global != nil {
		l.global.ReserveN(now, 1)
	}
}

// off reports whether both limits are turned off.
func (l *failureLimits) off() bool { return l.clients == nil && l.global == nil }

// warn logs a refusal, at most once a second, with the number of refusals since the last line.
func (l *failureLimits) warn(r *http.Request, client string, now time.Time, delay time.Duration) {
	n := l.refused.Add(1)
	last := l.lastLogged.Load()
	if now.UnixNano()-last < int64(time.Second) || !l.lastLogged.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	l.refused.Add(-n)
	if client == "" { // no per-client limit: the address was not needed yet
		client = l.clientKey(r)
	}
	l.logger.LogAttrs(r.Context(), slog.LevelWarn, "too many failed authentications",
		slog.String("route", clip(routeName(r), maxLoggedInput)), slog.String("client", client),
		slog.Int64("refused", n), slog.Duration("retry_after", delay))
}

func formatRate(l rate.Limit) string { return strconv.FormatFloat(float64(l), 'f', -1, 64) }

// clientKey returns the address the request's failed authentications are counted under: its
// client address, IPv6 addresses cut to their /64 network.
func (l *failureLimits) clientKey(r *http.Request) string {
	addr := l.clientAddr(r)
	if !addr.IsValid() {
		return r.RemoteAddr // not an IP address (a Unix socket, a test): count it as it is
	}
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// clientAddr returns the client address of r: its peer's, or, when the peer is a trusted proxy,
// the one its header names.
func (l *failureLimits) clientAddr(r *http.Request) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if l.header == "" || !peer.IsValid() || !l.trusted(peer) {
		return peer
	}
	var elems []string
	for _, line := range r.Header[l.header] {
		elems = append(elems, strings.Split(line, ",")...)
	}
	addr := peer
	for i := len(elems) - 1; i >= 0; i-- {
		a := parseAddr(forwardedFor(l.header, elems[i]))
		if !a.IsValid() {
			break // unreadable: stop at the last address known
		}
		addr = a
		if !l.trusted(a) {
			break
		}
	}
	return addr
}

func (l *failureLimits) trusted(a netip.Addr) bool {
	for _, p := range l.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the address part of one element of header: the for= parameter of a
// Forwarded element, the element itself otherwise.
func forwardedFor(header, elem string) string {
	elem = strings.TrimSpace(elem)
	if header != "Forwarded" {
		return elem
	}
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
		if strings.EqualFold(k, "for") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// parseAddr reads "ip", "ip:port", "[ipv6]" or "[ipv6]:port", IPv4-mapped IPv6 addresses as IPv4;
// anything else gives the zero Addr.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}
