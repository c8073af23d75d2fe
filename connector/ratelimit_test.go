package connector_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
)

// slow is the rate of the limiters under test: one token every ten seconds.
const slow = rate.Limit(0.1)

// shortDeadline returns a context whose deadline passes long before the next token of a limiter
// refilling at the slow rate, and leaves plenty of time for a call allowed at once.
func shortDeadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLimiterAllowsTheBurstThenRefusesBeforeTheDeadline(t *testing.T) {
	l := connector.NewLimiter(slow, 3)
	for i := range 3 {
		require.NoError(t, l.Wait(shortDeadline(t)), "call %d is within the burst", i+1)
	}
	err := l.Wait(shortDeadline(t))
	require.ErrorIs(t, err, connector.ErrRateLimited)
	assert.Equal(t, 429, connector.HTTPStatus(err))
	assert.True(t, connector.IsRetryable(err))
	retry := connector.RetryAfter(err)
	assert.Greater(t, retry, 5*time.Second, "the next token comes about ten seconds after the burst")
	assert.LessOrEqual(t, retry, 10*time.Second)
}

func TestLimiterWaitEndsWithTheContext(t *testing.T) {
	l := connector.NewLimiter(slow, 1)
	require.NoError(t, l.Wait(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }() // no deadline: it waits for the token, until cancelled
	cancel()
	err := <-done
	require.ErrorIs(t, err, connector.ErrRateLimited)
	assert.ErrorIs(t, err, context.Canceled, "the cause is the context's error")

	ended, cancelEnded := context.WithCancel(context.Background())
	cancelEnded()
	err = connector.NewLimiter(rate.Inf, 1).Wait(ended)
	assert.ErrorIs(t, err, context.Canceled, "an ended context makes no call, even without a limit")
}

func TestLimiterWithoutLimit(t *testing.T) {
	l := connector.NewLimiter(rate.Inf, 0)
	ctx := shortDeadline(t)
	for range 1000 {
		require.NoError(t, l.Wait(ctx))
	}
}

func TestNewLimiterRefusesANonPositiveLimit(t *testing.T) {
	assert.Panics(t, func() { connector.NewLimiter(0, 1) })
	assert.Panics(t, func() { connector.NewLimiter(-1, 1) })
	l := connector.NewLimiter(slow, 0) // a burst below 1 is 1
	require.NoError(t, l.Wait(shortDeadline(t)))
	assert.ErrorIs(t, l.Wait(shortDeadline(t)), connector.ErrRateLimited)
}

// closeTracker is a request body that records whether it was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

func TestRateLimitedTransport(t *testing.T) {
	var served atomic.Int32
	psp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(psp.Close)
	client := &http.Client{Transport: connector.NewRateLimitedTransport(nil, slow, 2)}

	get := func(ctx context.Context, body io.ReadCloser) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, psp.URL, body)
		require.NoError(t, err)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	require.NoError(t, get(shortDeadline(t), nil))
	require.NoError(t, get(shortDeadline(t), nil))

	body := &closeTracker{Reader: strings.NewReader("{}")}
	err := get(shortDeadline(t), body)
	require.ErrorIs(t, err, connector.ErrRateLimited, "the client's error wraps the limiter's")
	assert.Positive(t, connector.RetryAfter(err))
	assert.True(t, body.closed.Load(), "the transport closes the body of a request it does not send")
	assert.EqualValues(t, 2, served.Load(), "the third request never reached the PSP")
}

func TestSharedLimiterCountsEveryClient(t *testing.T) {
	var served atomic.Int32
	psp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	t.Cleanup(psp.Close)
	l := connector.NewLimiter(slow, 2)
	a := &http.Client{Transport: l.Transport(nil)}
	b := &http.Client{Transport: l.Transport(http.DefaultTransport)}

	var errs []error
	for _, c := range []*http.Client{a, b, a, b} {
		req, err := http.NewRequestWithContext(shortDeadline(t), http.MethodGet, psp.URL, nil)
		require.NoError(t, err)
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errs = append(errs, err)
	}
	assert.NoError(t, errors.Join(errs[:2]...))
	assert.ErrorIs(t, errs[2], connector.ErrRateLimited)
	assert.ErrorIs(t, errs[3], connector.ErrRateLimited)
	assert.EqualValues(t, 2, served.Load())
}

func TestRetryAfterFromResponse(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-4", 0},
		{"1.5", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{"99999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			res := &http.Response{Header: http.Header{}}
			if tt.header != "" {
				res.Header.Set("Retry-After", tt.header)
			}
			assert.Equal(t, tt.want, connector.RetryAfterFromResponse(res))
		})
	}
	assert.Zero(t, connector.RetryAfterFromResponse(nil))
}
