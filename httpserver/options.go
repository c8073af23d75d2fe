package httpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/pagination"
)

// ErrInvalidConfig is wrapped by every error New returns for a bad configuration: a nil provider,
// an empty API key or tenant, a non-positive limit.
var ErrInvalidConfig = errors.New("httpserver: invalid configuration")

// ErrNoAuth is returned (wrapped) by New when neither an API key nor an authenticator is configured:
// the handler never serves unauthenticated requests. It wraps ErrInvalidConfig.
var ErrNoAuth = fmt.Errorf("%w: no API key and no authenticator (use WithAPIKey, WithAPIKeys or WithAuthenticator)", ErrInvalidConfig)

// DefaultMaxBodyBytes is the largest request body accepted unless WithMaxBodyBytes says otherwise.
const DefaultMaxBodyBytes int64 = 1 << 20

// DefaultTenant is the tenant of the key given with WithAPIKey.
const DefaultTenant = "default"

// Option configures a Handler; pass options to New.
type Option func(*config)

type config struct {
	keys          map[string]string // API key -> tenant
	authenticator func(r *http.Request, bearerToken string) (string, error)
	maxPageSize   int
	maxBodyBytes  int64
	logger        *slog.Logger
	cursors       *pagination.CursorCache
	idemStore     idempotency.Store
	inFlightTTL   time.Duration
	retention     time.Duration
	idemWait      time.Duration
	rateLimit     rate.Limit
	rateBurst     int
	errs          []error
}

func (c *config) addKey(key, tenant string) {
	switch {
	case key == "":
		c.reject("empty API key")
		return
	case tenant == "":
		c.reject("empty tenant name for an API key")
		return
	}
	if c.keys == nil {
		c.keys = make(map[string]string)
	}
	c.keys[key] = tenant
}

// WithAPIKey makes the handler accept requests carrying "Authorization: Bearer <key>", as the tenant
// DefaultTenant ("default"). This is the apiKey configured in the Formance connector. An empty key
// makes New fail. It can be combined with WithAPIKeys and WithAuthenticator.
func WithAPIKey(key string) Option {
	return func(c *config) { c.addKey(key, DefaultTenant) }
}

// WithAPIKeys makes the handler accept each key of keysToTenants, as the tenant it maps to. Use it
// when one middleware serves several Formance stacks or datasets, each with its own API key; the
// provider reads the tenant with connector.TenantFrom. An empty key or tenant makes New fail.
func WithAPIKeys(keysToTenants map[string]string) Option {
	return func(c *config) {
		for key, tenant := range keysToTenants {
			c.addKey(key, tenant)
		}
	}
}

// WithAuthenticator installs fn to authenticate requests whose bearer token matches no key given with
// WithAPIKey or WithAPIKeys (or every request, when there are none). The handler calls fn with the
// request and the token taken from "Authorization: Bearer <token>" (never empty) and passes the
// returned tenant to the provider.
//
// Any error rejects the request with 401, except errors wrapping connector.ErrUnavailable or
// connector.ErrRateLimited (your credential store is down), which answer 503 or 429 so that the
// client retries. The Detail sent is the error's message when it wraps ErrUnauthorized and a generic
// "invalid API key" otherwise (the error is then logged), so wrap ErrUnauthorized to explain a
// refusal and keep secrets out of its message.
func WithAuthenticator(fn func(r *http.Request, bearerToken string) (tenant string, err error)) Option {
	return func(c *config) {
		if fn == nil {
			c.reject("nil authenticator")
			return
		}
		c.authenticator = fn
	}
}

// WithMaxPageSize sets the largest pageSize a list request may ask for (default
// pagination.DefaultMaxPageSize). A larger pageSize is refused with 400, never capped: a page
// shorter than asked for tells Formance that the data is exhausted. n must be at least 1.
func WithMaxPageSize(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.reject("max page size %d (want at least 1)", n)
			return
		}
		c.maxPageSize = n
	}
}

// WithMaxBodyBytes sets the largest request body accepted (default DefaultMaxBodyBytes, 1 MiB). A
// larger body is refused with 400 naming the limit. n must be at least 1.
func WithMaxBodyBytes(n int64) Option {
	return func(c *config) {
		if n < 1 {
			c.reject("max body size %d (want at least 1)", n)
			return
		}
		c.maxBodyBytes = n
	}
}

// WithLogger sets the logger for request logs, provider errors, invalid provider output and panics
// (default slog.Default()). API keys and the Authorization header are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.reject("nil logger")
			return
		}
		c.logger = l
	}
}

// WithCursorCache sets the cache of page cursors used for providers that implement
// connector.CursorPaged (default pagination.NewCursorCache(0, 0), one per handler). Share one cache
// between handlers, or size it, with this option. Other providers never use it.
func WithCursorCache(c *pagination.CursorCache) Option {
	return func(cfg *config) {
		if c == nil {
			cfg.errs = append(cfg.errs, fmt.Errorf("%w: nil cursor cache", ErrInvalidConfig))
			return
		}
		cfg.cursors = c
	}
}

// reject records a bad option; New then fails with all of them, each wrapping ErrInvalidConfig.
func (c *config) reject(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
}

// durationOption is an option that sets a duration, refusing one that is not positive.
func durationOption(what string, d time.Duration, set func(*config)) Option {
	return func(c *config) {
		if d <= 0 {
			c.reject("%s %v (want a positive duration)", what, d)
			return
		}
		set(c)
	}
}
