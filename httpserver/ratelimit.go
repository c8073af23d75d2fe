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
// count. Without this option there is no inbound limit.
//
// Formance polls every list route at once when a polling period ends and follows "has more" without
// pause, so leave room for bursts: e.g. WithRateLimit(20, 50). limit must be positive (rate.Inf
// disables the limit) and burst at least 1.
func WithRateLimit(limit rate.Limit, burst int) Option {
	return func(c *config) {
		if limit <= 0 || burst < 1 {
			c.reject("rate limit %v per second with burst %d (want a positive limit and a burst of at least 1)", limit, burst)
			return
		}
		c.rateLimit, c.rateBurst = limit, burst
	}
}

// tenantLimiters holds one token bucket per tenant. Buckets idle long enough to be full again are
// deleted (a new one behaves the same), so the map stays as small as the set of active tenants.
type tenantLimiters struct {
	limit rate.Limit
	burst int
	idle  time.Duration // after this long unused, a bucket is full again

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
	if now.Sub(t.lastSweep) >= limiterSweepInterval {
		for name, l := range t.limiters {
			if now.Sub(l.lastUsed) >= t.idle {
				delete(t.limiters, name)
			}
		}
		t.lastSweep = now
	}
	l, ok := t.limiters[tenant]
	if !ok {
		l = &tenantLimiter{limiter: rate.NewLimiter(t.limit, t.burst)}
		t.limiters[tenant] = l
	}
	l.lastUsed = now
	res := l.limiter.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
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
