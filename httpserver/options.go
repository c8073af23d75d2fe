package httpserver

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/pagination"
)

// ErrInvalidConfig is wrapped by every error New returns for a bad configuration: a nil provider,
// an API key that no request can match (see WithAPIKey), an empty tenant, a non-positive limit.
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
	quarantine    *Quarantine
	// The limits on failed authentications and where the client address comes from (authlimit.go).
	authFailRate, authFailGlobalRate   rate.Limit
	authFailBurst, authFailGlobalBurst int
	clientHeader                       string
	trustedProxies                     []netip.Prefix
	telemetry                          telemetryConfig // telemetry.go
	// completeRetryFirst is the first wait of the guard's retries of a failed Complete (tests
	// shorten it; default one second).
	completeRetryFirst time.Duration
	errs               []error
}

// MaxAPIKeyLength is the longest API key, in bytes, that WithAPIKey and WithAPIKeys accept. A key
// travels in the "Authorization: Bearer <key>" request header, and proxies and servers limit the size
// of a header line (8 KiB is a common limit for the whole line, 4 KiB for some); 4096 bytes is far
// more than any PSP or Formance API key needs.
const MaxAPIKeyLength = 4096

// keyCharset says, in errors about a key, which keys can match.
const keyCharset = "(the key travels in the HTTP header \"Authorization: Bearer <key>\", which can carry only printable ASCII without spaces)"

// addKey records key for tenant, or refuses it. option names the option that gave the key
// ("WithAPIKey" or "WithAPIKeys"), for the error. The errors never show the key, nor any part of it:
// only its length or the byte offset of the first character that no request header can carry.
func (c *config) addKey(option, key, tenant string) {
	which := "API key"
	if option != "WithAPIKey" {
		which = fmt.Sprintf("API key of tenant %q", tenant)
	}
	if tenant == "" {
		c.reject("%s: an API key maps to an empty tenant", option)
		return
	}
	if problem := keyProblem(which, key); problem != "" {
		c.reject("%s: %s", option, problem)
		return
	}
	if i := strings.IndexFunc(tenant, unicode.IsControl); i >= 0 {
		c.reject("%s: tenant %q has a control character at byte %d", option, tenant, i)
		return
	}
	if c.keys == nil {
		c.keys = make(map[string]string)
	}
	c.keys[key] = tenant
}

// ErrInvalidAPIKey is wrapped by the errors of CheckAPIKey.
var ErrInvalidAPIKey = errors.New("invalid API key")

// CheckAPIKey returns nil for a key that WithAPIKey and WithAPIKeys accept, and otherwise an error
// wrapping ErrInvalidAPIKey that says why: the key is empty, longer than MaxAPIKeyLength bytes, or
// holds a character no "Authorization: Bearer <key>" header can carry (white space, a control or a
// non-ASCII character), with the byte offset of that character. The error never shows the key.
//
// New applies the same rule to the keys it is given. Call it where keys come from elsewhere: in a
// WithAuthenticator function, or where a person types a key (an admin page, a configuration
// loader), so that a key no request could match is refused with its reason at once rather than
// answering 401 to every poll.
func CheckAPIKey(key string) error {
	if problem := keyProblem("the key", key); problem != "" {
		return fmt.Errorf("%w: %s", ErrInvalidAPIKey, problem)
	}
	return nil
}

// keyProblem says why no request can match key, naming the key as which ("API key", …), or returns
// "" for a usable key. It shows only the key's length or the offset of a bad character.
func keyProblem(which, key string) string {
	switch {
	case key == "":
		return "empty " + strings.TrimPrefix(which, "the ")
	case len(key) > MaxAPIKeyLength:
		return fmt.Sprintf("%s is %d bytes long, longer than MaxAPIKeyLength (%d bytes)", which, len(key), MaxAPIKeyLength)
	}
	if i, what := badKeyChar(key); i >= 0 {
		return fmt.Sprintf("%s has %s at byte %d %s", which, what, i, keyCharset)
	}
	return ""
}

// badKeyChar returns the byte offset of the first character of key that a bearer token cannot hold
// (anything but printable ASCII, 0x21 to 0x7E) and what it is, or -1. Such a key never matches: the
// token is read trimmed of white space and may not contain any, and a header cannot carry control
// characters.
func badKeyChar(key string) (int, string) {
	for i, r := range key {
		switch {
		case r >= 0x21 && r <= 0x7e:
			continue
		case unicode.IsControl(r):
			return i, "a control character"
		case unicode.IsSpace(r):
			return i, "white space"
		default:
			return i, "a non-ASCII character"
		}
	}
	return -1, ""
}

// WithAPIKey makes the handler accept requests carrying "Authorization: Bearer <key>", as the tenant
// DefaultTenant ("default"). This is the apiKey configured in the Formance connector. It can be
// combined with WithAPIKeys and WithAuthenticator.
//
// New fails (with an error wrapping ErrInvalidConfig) for a key that no request could ever match:
// an empty key, a key longer than MaxAPIKeyLength bytes, or a key with any character other than
// printable ASCII (0x21 to 0x7E), i.e. with white space (a trailing newline read from a file or an
// environment variable, a space), a control character or a non-ASCII character. The error gives the
// byte offset of the first such character, never the key.
func WithAPIKey(key string) Option {
	return func(c *config) { c.addKey("WithAPIKey", key, DefaultTenant) }
}

// WithAPIKeys makes the handler accept each key of keysToTenants, as the tenant it maps to. Use it
// when one middleware serves several Formance stacks or datasets, each with its own API key; the
// provider reads the tenant with connector.TenantFrom.
//
// New fails (with an error wrapping ErrInvalidConfig) for a key WithAPIKey would refuse (empty,
// longer than MaxAPIKeyLength bytes, or with a character outside printable ASCII), naming the tenant
// the key maps to and the byte offset of the character, never the key; and for an empty tenant or a
// tenant with a control character. Every bad entry is reported.
func WithAPIKeys(keysToTenants map[string]string) Option {
	return func(c *config) {
		// In a stable order (by tenant), so that the errors come in the same order every time.
		keys := slices.Collect(maps.Keys(keysToTenants))
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(strings.Compare(keysToTenants[a], keysToTenants[b]), strings.Compare(a, b))
		})
		for _, key := range keys {
			c.addKey("WithAPIKeys", key, keysToTenants[key])
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
// client retries; their Detail is, as for a provider error, only the text of the *connector.Error in
// the chain or else the sentinel's own text ("upstream unavailable"), never the chain that wraps it,
// and the whole error is logged. The Detail of a 401 is the error's message when it wraps
// ErrUnauthorized and a generic "invalid API key" otherwise (the error is then logged), so wrap
// ErrUnauthorized to explain a refusal and keep secrets out of its message.
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

// WithCursorCache sets the cache of page cursors used when the provider was built by CursorPaged
// (default pagination.NewCursorCache(0, 0), one per handler). Share one cache between handlers, or
// size it, with this option: each handler keeps its cursors apart. Other providers never use it.
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
