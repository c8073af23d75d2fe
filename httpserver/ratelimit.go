package httpserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
)

// limiterSweepInterval is how often the per-tenant limiters are scanned for idle ones.
const limiterSweepInterval = time.Minute

// WithRateLimit limits each tenant (each API key's tenant, see WithAPIKeys) to limit requests per
// second on average, with bursts of up to burst requests. A request over the limit is answered 429
// with a Retry-After header (whole seconds until a request would be allowed) and the contract's
// error body, before its body is read or the provider is called. Requests refused with 401 do not
// count (WithAuthFailureLimit limits those). Without this option there is no per-tenant limit.
//
// Formance polls every list route at once when a polling period ends and follows "has more" without
// pause, so leave room for bursts: e.g. WithRateLimit(20, 50). limit must be positive (rate.Inf
// disables the limit) and burst at least 1.
func WithRateLimit(limit rate.Limit, burst int) Option {
	return rateOption("rate limit", limit, burst, func(c *config) { c.rateLimit, c.rateBurst = limit, burst })
}

// rateOption is an option that sets a token bucket, refusing a limit that is not positive or a burst
// below 1.
func rateOption(what string, limit rate.Limit, burst int, set func(*config)) Option {
	return func(c *config) {
		if limit <= 0 || burst < 1 {
			c.reject("%s %v per second with burst %d (want a positive limit and a burst of at least 1)", what, limit, burst)
			return
		}
		set(c)
	}
}

// tenantLimiters holds one token bucket per tenant (or per client address, for the limit on failed
// authentications). Buckets idle long enough to be full again are deleted (a new one behaves the
// same), so the map stays as small as the set of active tenants. With maxKeys > 0 it never holds
// more buckets than that: a new key that finds the map full (once the idle buckets are gone) gets
// no bucket of its own.
type tenantLimiters struct {
	limit   rate.Limit
	burst   int
	idle    time.Duration // after this long unused, a bucket is full again
	maxKeys int           // 0: no bound

	mu        sync.Mutex
	limiters  map[string]*tenantLimiter
	lastSweep time.Time
}

type tenantLimiter struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

func newTenantLimiters(limit rate.Limit, burst int) *tenantLimiters {
	idle := limiterSweepInterval
	if limit != rate.Inf {
		idle = max(idle, time.Duration(float64(burst)/float64(limit)*float64(time.Second)))
	}
	return &tenantLimiters{limit: limit, burst: burst, idle: idle, limiters: make(map[string]*tenantLimiter)}
}

// allow takes one token from tenant's bucket, or returns false and how long until one is available.
func (t *tenantLimiters) allow(tenant string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.bucketLocked(tenant, now)
	if l == nil {
		return true, 0
	}
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// wait returns how long until key's bucket has a token (0 when it has one now), taking nothing. A
// key without a bucket has a full one.
func (t *tenantLimiters) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.limiters[key]
	if !ok {
		return 0
	}
	return tokenWait(l.limiter, now)
}

// tokenWait returns how long until l has a token at now, taking nothing.
func tokenWait(l *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - l.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return max(time.Duration(missing/float64(l.Limit())*float64(time.Second)), time.Nanosecond)
}

// bucketLocked returns key's bucket, created when missing, marked as used at now; or nil when the
// map is full.
func (t *tenantLimiters) bucketLocked(key string, now time.Time) *rate.Limiter {
	if now.Sub(t.lastSweep) >= limiterSweepInterval {
		t.sweepLocked(now)
	}
	l, ok := t.limiters[key]
	if !ok {
		if t.maxKeys > 0 && len(t.limiters) >= t.maxKeys {
			if t.sweepLocked(now); len(t.limiters) >= t.maxKeys {
				return nil
			}
		}
		l = &tenantLimiter{limiter: rate.NewLimiter(t.limit, t.burst)}
		t.limiters[key] = l
	}
	l.lastUsed = now
	return l.limiter
}

func (t *tenantLimiters) sweepLocked(now time.Time) {
	for name, l := range t.limiters {
		if now.Sub(l.lastUsed) >= t.idle {
			delete(t.limiters, name)
		}
	}
	t.lastSweep = now
}

// size returns the number of buckets held.
func (t *tenantLimiters) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.limiters)
}

// limitRate answers 429 with Retry-After to the requests of a tenant over its rate limit. It runs
// after authentication, which put the tenant in the context.
func limitRate(limiters *tenantLimiters, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tenant, _ := connector.TenantFrom(r.Context())
			ok, delay := limiters.allow(tenant, time.Now())
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			observe(r).rateLimited()
			logger.LogAttrs(r.Context(), slog.LevelWarn, "rate limit exceeded",
				slog.String("route", routeName(r)), slog.String("tenant", tenant), slog.Duration("retry_after", delay))
			w.Header().Set("Retry-After", retryAfterSeconds(delay))
			WriteError(w, http.StatusTooManyRequests, "", fmt.Sprintf(
				"rate limit exceeded: this API key may make %s requests per second on average, in bursts of up to %d; retry after %s seconds",
				strconv.FormatFloat(float64(limiters.limit), 'f', -1, 64), limiters.burst, retryAfterSeconds(delay)))
		})
	}
}
