package httpserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/connector"
)

// ErrUnauthorized is wrapped by the errors behind every 401 answer. A custom authenticator (see
// WithAuthenticator) wraps it to refuse a request with its own message.
var ErrUnauthorized = errors.New("unauthorized")

// chain wraps h in the middlewares, the first one outermost.
func chain(h http.Handler, middlewares ...func(http.Handler) http.Handler) http.Handler {
	for i := len(middlewares) - 1; i >= 0; i-- {
		h = middlewares[i](h)
	}
	return h
}

// statusWriter records the status and size of an answer for the logging and recovery middlewares,
// and carries the tenant that authentication found out to the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	tenant string
	// errBody is the start of an error answer's body, for the reason in the request log.
	errBody []byte
}

func trackWriter(w http.ResponseWriter) *statusWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw
	}
	return &statusWriter{ResponseWriter: w}
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= http.StatusBadRequest && w.errBody == nil {
		w.errBody = append([]byte{}, b[:min(len(b), maxLoggedError)]...)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request: method, path, query, route template, status, size,
// duration, tenant and, for an error answer, its reason (the Detail of its body). A successful
// GET (a poll) is logged at DEBUG, another success (a write) at INFO, a 4xx answer at WARN and a
// 5xx at ERROR, so that a production logger at INFO shows every failure and every write but not
// Formance's polls. It never logs headers, so neither the Authorization header nor the API key.
// router finds the route template (see routeLabel).
func logRequests(logger *slog.Logger, router http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := trackWriter(w)
			var start time.Time
			logging := logger.Enabled(r.Context(), slog.LevelError) // the highest level of a request line
			if logging {
				start = time.Now()
			}
			next.ServeHTTP(sw, r)
			if !logging {
				return
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			level := requestLogLevel(r.Method, status)
			if !logger.Enabled(r.Context(), level) {
				return
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", clip(r.URL.Path, maxLoggedInput)),
				slog.String("query", clip(r.URL.RawQuery, maxLoggedInput)),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("tenant", sw.tenant),
				slog.String("route", routeLabel(router, r)),
			}
			if status >= http.StatusBadRequest {
				attrs = append(attrs, slog.String("reason", clip(errorReason(sw.errBody), maxLoggedInput)))
			}
			logger.LogAttrs(r.Context(), level, "request", attrs...)
		})
	}
}

// recoverPanics turns a panic in a provider or handler into a 500 with a JSON error body, logs the
// panic with its stack at Error level, and lets the server go on serving. http.ErrAbortHandler is
// re-panicked, as net/http expects. When the answer had already started, the connection is aborted
// so that the client sees a failure rather than a truncated body.
func recoverPanics(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := trackWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				logger.LogAttrs(r.Context(), slog.LevelError, "panic while serving request",
					slog.String("route", routeName(r)),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())),
				)
				if sw.status != 0 {
					panic(http.ErrAbortHandler)
				}
				WriteError(sw, http.StatusInternalServerError, "", "internal error: the request handler panicked (see the middleware's logs)")
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// apiKey is one configured key, kept only as its SHA-256 digest.
type apiKey struct {
	digest [sha256.Size]byte
	tenant string
}

// authenticator checks bearer tokens against the configured keys, then the custom authenticator.
// The configured keys are indexed by the SHA-256 digest of the key, so that finding a key costs the
// same whatever the number of tenants.
type authenticator struct {
	keys     map[[sha256.Size]byte]apiKey
	custom   func(r *http.Request, bearerToken string) (string, error)
	failures *failureLimits
	logger   *slog.Logger
}

var (
	errMissingAuth   = fmt.Errorf("%w: missing Authorization header (want \"Authorization: Bearer <API key>\")", ErrUnauthorized)
	errMalformedAuth = fmt.Errorf("%w: malformed Authorization header (want \"Authorization: Bearer <API key>\")", ErrUnauthorized)
	errWrongKey      = fmt.Errorf("%w: invalid API key", ErrUnauthorized)
)

// configured returns the tenant of the request's bearer token when the token is one of the
// configured keys: the cheap part of authentication. Otherwise it returns the token ("" when the
// header has none) and the error that refuses the request unless the custom authenticator accepts
// the token.
func (a *authenticator) configured(r *http.Request) (tenant, token string, err error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", "", errMissingAuth
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", "", errMalformedAuth
	}
	if len(token) <= MaxAPIKeyLength && len(a.keys) > 0 { // a longer token is no configured key: not worth hashing
		// Look the digest up, then compare the one candidate in constant time: neither the length
		// nor the content of a key shows in the timing, and the cost does not grow with the keys.
		digest := sha256.Sum256([]byte(token))
		if k, found := a.keys[digest]; found && subtle.ConstantTimeCompare(digest[:], k.digest[:]) == 1 {
			return k.tenant, "", nil
		}
	}
	return "", token, errWrongKey
}

// customTenant asks the custom authenticator about a token that is none of the configured keys. It
// returns the tenant, or an error: wrapping ErrUnauthorized for a refused request, or a
// provider-style error (connector.ErrUnavailable, …) when the authenticator could not decide.
func (a *authenticator) customTenant(r *http.Request, token string) (string, error) {
	tenant, err := a.custom(r, token)
	switch {
	case err == nil:
		return tenant, nil
	case errors.Is(err, ErrUnauthorized), errors.Is(err, connector.ErrUnavailable), errors.Is(err, connector.ErrRateLimited):
		return "", err
	}
	a.logger.LogAttrs(r.Context(), slog.LevelWarn, "authenticator refused request",
		slog.String("route", routeName(r)), slog.String("error", err.Error()))
	return "", errWrongKey
}

// unconfigured decides a request whose token is none of the configured keys (err says why): over
// the limits on failed authentications it answers 429 itself (answered is true); otherwise it asks
// the custom authenticator, when there is one and a token, and counts a failure.
func (a *authenticator) unconfigured(w http.ResponseWriter, r *http.Request, token string, err error) (tenant string, answered bool, _ error) {
	var now time.Time
	var client string
	limited := !a.failures.off()
	if limited {
		now = time.Now()
		var refusal string
		var delay time.Duration
		if client, refusal, delay = a.failures.check(r, now); refusal != "" {
			a.failures.warn(r, client, now, delay)
			w.Header().Set("Retry-After", retryAfterSeconds(delay))
			WriteError(w, http.StatusTooManyRequests, "", refusal)
			return "", true, nil
		}
	}
	if token != "" && a.custom != nil {
		tenant, err = a.customTenant(r, token)
	}
	if limited && errors.Is(err, ErrUnauthorized) { // not when accepted, nor when undecided
		a.failures.failed(client, now)
	}
	return tenant, false, err
}

// authenticate answers 401 (with WWW-Authenticate: Bearer) to requests without a valid bearer token
// and puts the tenant of the others in their context (connector.WithTenant). A request whose token
// is none of the configured keys is counted against the limits on failed authentications before
// the custom authenticator is asked (see WithAuthFailureLimit), and answered 429 over them.
func authenticate(a *authenticator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tenant, token, err := a.configured(r)
			if err != nil {
				var answered bool
				if tenant, answered, err = a.unconfigured(w, r, token, err); answered {
					return
				}
			}
			if err != nil {
				if errors.Is(err, ErrUnauthorized) {
					w.Header().Set("WWW-Authenticate", "Bearer")
					WriteError(w, http.StatusUnauthorized, "", err.Error())
					return
				}
				writeProviderError(w, r, a.logger, err)
				return
			}
			if sw, ok := w.(*statusWriter); ok {
				sw.tenant = tenant // for the request log
			}
			next.ServeHTTP(w, r.WithContext(connector.WithTenant(r.Context(), tenant)))
		})
	}
}

// limitBody refuses bodies larger than limit bytes: at once when Content-Length says so, otherwise
// when reading passes the limit (http.MaxBytesReader), which the JSON decoding reports as a 400. A
// body of known length needs no reader in front: net/http ends it at its Content-Length, which is
// within the limit here.
func limitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				WriteError(w, http.StatusBadRequest, "", bodyTooLarge(limit))
				return
			}
			if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func bodyTooLarge(limit int64) string {
	return fmt.Sprintf("request body is larger than the limit of %d bytes", limit)
}
