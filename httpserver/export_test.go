package httpserver

import "time"

// WithCompleteRetryForTest shortens the first wait of the background retries of a failed Complete.
func WithCompleteRetryForTest(d time.Duration) Option {
	return func(c *config) { c.completeRetryFirst = d }
}
