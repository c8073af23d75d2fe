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
			start := time.Now()
			next.ServeHTTP(sw, r)
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
				attrs = append(attrs, slog.String("reason", errorReason(sw.errBody)))
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
type authenticator struct {
	keys   []apiKey
	custom func(r *http.Request, bearerToken string) (string, error)
	logger *slog.Logger
}

var (
	errMissingAuth   = fmt.Errorf("%w: missing Authorization header (want \"Authorization: Bearer <API key>\")", ErrUnauthorized)
	errMalformedAuth = fmt.Errorf("%w: malformed Authorization header (want \"Authorization: Bearer <API key>\")", ErrUnauthorized)
	errWrongKey      = fmt.Errorf("%w: invalid API key", ErrUnauthorized)
)

// tenant returns the tenant of the request's bearer token, or an error: wrapping ErrUnauthorized
// for a refused request, or a provider-style error (connector.ErrUnavailable, …) from a custom
// authenticator that could not decide.
func (a *authenticator) tenant(r *http.Request) (string, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", errMissingAuth
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", errMalformedAuth
	}
	// Compare digests, so that neither the length nor the content of a key shows in the timing, and
	// go through every key whatever matches.
	digest := sha256.Sum256([]byte(token))
	match := -1
	for i := range a.keys {
		if subtle.ConstantTimeCompare(digest[:], a.keys[i].digest[:]) == 1 {
			match = i
		}
	}
	if match >= 0 {
		return a.keys[match].tenant, nil
	}
	if a.custom == nil {
		return "", errWrongKey
	}
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

// authenticate answers 401 (with WWW-Authenticate: Bearer) to requests without a valid bearer token
// and puts the tenant of the others in their context (connector.WithTenant).
func authenticate(a *authenticator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tenant, err := a.tenant(r)
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
// when reading passes the limit (http.MaxBytesReader), which the JSON decoding reports as a 400.
func limitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				WriteError(w, http.StatusBadRequest, "", bodyTooLarge(limit))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func bodyTooLarge(limit int64) string {
	return fmt.Sprintf("request body is larger than the limit of %d bytes", limit)
}
