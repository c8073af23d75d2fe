package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/pspconnect/pspconnect/connector"
)

// statusClientClosedRequest is the non-standard status logged when the client went away before the
// answer was ready.
const statusClientClosedRequest = 499

// WriteError writes the contract's error body, {"Title": title, "Detail": detail}, with the given
// status and Content-Type application/json. A Detail longer than MaxDetailBytes is cut, and ends
// with its full length. An empty title becomes the status text ("Bad Request").
// The handler answers every error this way; it is exported for applications that add their own
// routes next to the handler and want the same error shape.
func WriteError(w http.ResponseWriter, status int, title, detail string) {
	detail = clip(detail, MaxDetailBytes) // a Detail may echo client input: never its whole size
	if title == "" {
		title = http.StatusText(status)
	}
	if title == "" && status == statusClientClosedRequest {
		title = "Client Closed Request"
	}
	// {"Title":…,"Detail":…} and a newline: the bytes encoding/json writes for a models.Error.
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	b := append((*buf)[:0], `{"Title":`...)
	b = appendJSONString(b, title)
	b = append(b, `,"Detail":`...)
	b = appendJSONString(b, detail)
	b = append(b, "}\n"...)
	*buf = b
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Shared header values: Header().Set would allocate a new one-element slice for each answer. Their
// length equals their capacity, so an Add by other code copies them rather than writing into them.
var (
	headerJSON    = []string{"application/json"}
	headerNoSniff = []string{"nosniff"}
)

// setJSONHeaders sets the headers of every JSON answer.
func setJSONHeaders(h http.Header) {
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNoSniff
}

// writeJSON writes v with the given status. v is encoded completely (into a recycled buffer) before
// anything is written, so an encoding failure still gets a clean 500.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	body := bytes.NewBuffer((*buf)[:0])
	enc := json.NewEncoder(body)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	*buf = body.Bytes()
	if err != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "cannot encode answer",
			slog.String("route", routeName(r)), slog.String("error", err.Error()))
		WriteError(w, http.StatusInternalServerError, "", routeName(r)+": internal error: the answer could not be encoded as JSON")
		return
	}
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(*buf)
}

// writeProviderError answers an error returned by the provider (or a custom authenticator). The
// sentinel kinds of package connector get their status (see connector.HTTPStatus); 429 and 503 carry
// Retry-After when the error has a delay. Any other error is a 500 with a generic Detail.
//
// The Detail is only the provider's own message, never the chain that wraps it, since a provider
// commonly wraps its PSP's error with the request it made (a URL with credentials, an account
// number): when the chain holds a *connector.Error of the answer's kind, the Detail is that error's
// text, "kind: detail" (e.g. `not found: account "x" does not exist`), without its Cause; when the
// chain only wraps a bare sentinel (fmt.Errorf("…: %w", connector.ErrNotFound)), the Detail is the
// sentinel's own text ("not found"). The whole error, chain and cause included, is logged on the
// server (attribute "error", and "cause" for a *connector.Error's Cause).
func writeProviderError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	ctx := r.Context()
	attrs := []slog.Attr{slog.String("route", routeName(r)), slog.String("error", err.Error())}
	var cerr *connector.Error
	if errors.As(err, &cerr) && cerr.Cause != nil {
		attrs = append(attrs, slog.String("cause", cerr.Cause.Error()))
	}

	status := connector.HTTPStatus(err)
	if status == http.StatusInternalServerError && ctx.Err() != nil &&
		(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client went away; nobody reads this answer.
		logger.LogAttrs(ctx, slog.LevelInfo, "client closed the request", attrs...)
		WriteError(w, statusClientClosedRequest, "", "the client closed the request")
		return
	}
	switch status {
	case http.StatusInternalServerError:
		logger.LogAttrs(ctx, slog.LevelError, "provider failed", attrs...)
		WriteError(w, status, "", routeName(r)+": internal error")
		return
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if d := connector.RetryAfter(err); d > 0 {
			w.Header().Set("Retry-After", retryAfterSeconds(d))
		}
		logger.LogAttrs(ctx, slog.LevelWarn, "provider asks to retry", attrs...)
	default:
		logger.LogAttrs(ctx, slog.LevelInfo, "provider refused request", attrs...)
	}
	WriteError(w, status, "", providerDetail(err, status))
}

// providerDetail returns the Detail of a provider error answered with status (not 500): the text of
// the first *connector.Error of the status's kind in err's chain, or else the kind's own text.
func providerDetail(err error, status int) string {
	var kind error
	switch status {
	case http.StatusNotFound:
		kind = connector.ErrNotFound
	case http.StatusBadRequest:
		kind = connector.ErrInvalidRequest
	case http.StatusConflict:
		kind = connector.ErrConflict
	case http.StatusTooManyRequests:
		kind = connector.ErrRateLimited
	case http.StatusServiceUnavailable:
		kind = connector.ErrUnavailable
	case http.StatusNotImplemented:
		kind = connector.ErrNotImplemented
	default:
		return http.StatusText(status)
	}
	cerr := connectorErrorOfKind(err, kind)
	if cerr == nil {
		return kind.Error()
	}
	// The sentinel's text rather than cerr.Kind.Error(): the same for a Kind that is the sentinel, and
	// nothing but the sentinel for a Kind that wraps it with more.
	if cerr.Detail == "" {
		return kind.Error()
	}
	return kind.Error() + ": " + cerr.Detail
}

// connectorErrorOfKind returns the first *connector.Error in err's tree (in the order errors.As
// walks it) whose Kind is kind, or nil. Its Cause is not searched: it is never sent.
func connectorErrorOfKind(err, kind error) *connector.Error {
	for err != nil {
		if cerr, ok := err.(*connector.Error); ok {
			if cerr != nil && errors.Is(cerr.Kind, kind) {
				return cerr
			}
			return nil
		}
		if x, ok := err.(interface{ As(any) bool }); ok {
			var cerr *connector.Error
			if x.As(&cerr) && cerr != nil && errors.Is(cerr.Kind, kind) {
				return cerr
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if cerr := connectorErrorOfKind(e, kind); cerr != nil {
					return cerr
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// retryAfterSeconds renders d as the whole number of seconds of a Retry-After header, rounded up.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// writeInvalidOutput answers 500 when the provider returned something that breaks the contract, and
// logs it at Error level: sending it would stall Formance's sync.
func (h *Handler) writeInvalidOutput(w http.ResponseWriter, r *http.Request, detail string) {
	detail = routeName(r) + ": " + detail
	observe(r).invalidItem(invalidRefused)
	h.logger.LogAttrs(r.Context(), slog.LevelError, "provider returned invalid output",
		slog.String("route", routeName(r)), slog.String("problem", detail))
	WriteError(w, http.StatusInternalServerError, "", detail)
}
