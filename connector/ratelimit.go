package connector

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces a provider's calls to its upstream PSP so that they never exceed the PSP's published
// rate limit, however Formance polls: a polling period ending, "has more" pages followed without
// pause, and balance requests for every account all arrive at once. Build one per PSP limit (per API
// key, usually) and share it between every client that counts against that limit. It is safe for
// concurrent use.
//
// Wrap the PSP's HTTP client with Transport, or call Wait before each call of an SDK that does not
// take an http.Client.
type Limiter struct {
	limiter *rate.Limiter
}

// NewLimiter returns a limiter allowing limit calls per second on average, in bursts of up to burst
// calls (rate.Inf: no limit). A burst below 1 is taken as 1. It panics when limit is not positive,
// like time.NewTicker for a non-positive period: that is a programming error, not a runtime
// condition.
func NewLimiter(limit rate.Limit, burst int) *Limiter {
	if limit <= 0 {
		panic(fmt.Sprintf("connector.NewLimiter: limit %v per second is not positive", limit))
	}
	return &Limiter{limiter: rate.NewLimiter(limit, max(burst, 1))}
}

// Wait blocks until one call is allowed, and returns nil. It returns at once, with an error wrapping
// ErrRateLimited whose RetryAfter is the delay needed, when ctx's deadline would pass first; and, if
// ctx ends while waiting, an error wrapping both ErrRateLimited and ctx.Err(). Either way the call
// must not be made: return the error from the provider method and the handler answers 429 with
// Retry-After, which Formance retries. Waiting gives back nothing; an error gives back the slot.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &Error{Kind: ErrRateLimited, Detail: "upstream call not made: the request ended", Cause: err}
	}
	now := time.Now()
	res := l.limiter.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Sub(now) < delay {
		res.CancelAt(now)
		return &Error{Kind: ErrRateLimited, RetryAfter: delay,
			Detail: fmt.Sprintf("upstream rate limit: the next call is allowed in %v, after this request's deadline", delay.Round(time.Millisecond))}
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		res.Cancel()
		return &Error{Kind: ErrRateLimited, RetryAfter: max(time.Until(now.Add(delay)), 0),
			Detail: "upstream call not made: the request ended while waiting for the upstream rate limit", Cause: ctx.Err()}
	}
}

// Transport returns an http.RoundTripper that waits on l (with the request's context) before each
// request it passes to next, or http.DefaultTransport when next is nil. Use it as the Transport of
// the http.Client of the PSP's API. When the wait fails the request is not sent and the error (see
// Wait) reaches the caller wrapped in a *url.Error, so errors.Is(err, ErrRateLimited) holds.
func (l *Limiter) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &limitedTransport{limiter: l, next: next}
}

// NewRateLimitedTransport is NewLimiter(limit, burst).Transport(next): a transport with a limiter of
// its own.
func NewRateLimitedTransport(next http.RoundTripper, limit rate.Limit, burst int) http.RoundTripper {
	return NewLimiter(limit, burst).Transport(next)
}

type limitedTransport struct {
	limiter *Limiter
	next    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(req.Context()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// RetryAfterFromResponse reads the Retry-After header of a PSP's answer (429 or 503) in seconds, and
// returns 0 when it is absent or not a number of seconds. Use it to fill Error.RetryAfter, so that
// Formance waits as long as the PSP asked.
func RetryAfterFromResponse(res *http.Response) time.Duration {
	if res == nil {
		return 0
	}
	secs, err := strconv.ParseInt(res.Header.Get("Retry-After"), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
}
