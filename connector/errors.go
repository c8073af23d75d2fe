package connector

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors a provider returns (wrapped, with details) to say what went wrong. The handler maps
// each to one HTTP status; any other error becomes a 500. Build them with NotFound, InvalidRequest,
// Conflict, Unavailable and RateLimited, or wrap the sentinels yourself with fmt.Errorf("…: %w", …).
var (
	// ErrNotFound: the account, payout or transfer does not exist. HTTP 404.
	ErrNotFound = errors.New("not found")
	// ErrInvalidRequest: the PSP refused the request as invalid (unknown account, insufficient funds,
	// unsupported currency). Not safe to retry unchanged. HTTP 400.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrConflict: the request clashes with the PSP's state (an idempotency key reused with another body,
	// a duplicate). HTTP 409.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the PSP is down. Safe to retry. HTTP 503. For a write (CreatePayout, …) return
	// it only when the PSP certainly did not act: a timeout after the request was sent is an unknown
	// outcome (return the error as it is; see connector.PayoutCreator).
	ErrUnavailable = errors.New("upstream unavailable")
	// ErrRateLimited: the PSP is rate limiting us. Safe to retry later. HTTP 429, with Retry-After when
	// the error is a *Error with RetryAfter set.
	ErrRateLimited = errors.New("rate limited")
	// ErrNotImplemented: the provider does not offer this capability. HTTP 501 on the read routes, a
	// final 405 on the write routes (Formance retries a 501 for ever). The library answers it by
	// itself for missing optional interfaces.
	ErrNotImplemented = errors.New("not implemented")
)

// Error is a provider error with a kind (one of the sentinels above), a message for the integrator's
// client, and optionally the underlying cause and a retry delay. errors.Is(err, Kind) is true, and so
// is errors.Is(err, Cause's chain).
type Error struct {
	// Kind is one of ErrNotFound, ErrInvalidRequest, ErrConflict, ErrUnavailable, ErrRateLimited,
	// ErrNotImplemented.
	Kind error
	// Detail is shown to Formance as the error body's Detail. Keep secrets out of it.
	Detail string
	// RetryAfter, when positive, is sent as the Retry-After header (rate limits, unavailability).
	RetryAfter time.Duration
	// Cause is the underlying error, for logs and errors.Is; it is not sent to Formance.
	Cause error
}

// Error returns "kind: detail".
func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns the kind and the cause, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// NotFound returns an error of kind ErrNotFound whose detail is the formatted message.
func NotFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Detail: fmt.Sprintf(format, args...)}
}

// InvalidRequest returns an error of kind ErrInvalidRequest whose detail is the formatted message.
func InvalidRequest(format string, args ...any) error {
	return &Error{Kind: ErrInvalidRequest, Detail: fmt.Sprintf(format, args...)}
}

// Conflict returns an error of kind ErrConflict whose detail is the formatted message.
func Conflict(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Detail: fmt.Sprintf(format, args...)}
}

// Unavailable returns an error of kind ErrUnavailable that keeps cause for logs and errors.Is.
func Unavailable(cause error, format string, args ...any) error {
	return &Error{Kind: ErrUnavailable, Detail: fmt.Sprintf(format, args...), Cause: cause}
}

// RateLimited returns an error of kind ErrRateLimited asking the client to retry after retryAfter
// (zero: no hint).
func RateLimited(retryAfter time.Duration, format string, args ...any) error {
	return &Error{Kind: ErrRateLimited, Detail: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// HTTPStatus returns the HTTP status for a provider error: 404, 400, 409, 503, 429, 501 for the
// sentinel kinds, 499 when the request's context was cancelled, and 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// IsRetryable reports whether the error says a retry may succeed (ErrUnavailable, ErrRateLimited).
// The library does not store such answers for an idempotency key, so Formance's retry reaches the PSP
// again: for writes, return them only when the PSP did not act.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited)
}

// RetryAfter returns the retry delay carried by err (a *Error with RetryAfter set), or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
