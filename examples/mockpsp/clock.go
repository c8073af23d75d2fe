package main

import (
	"sync"
	"time"
)

// Clock is the one source of time of the simulated PSP. Every timestamp the PSP gives (createdAt,
// updatedAt, balances' at) comes from Now, truncated to the configured precision the way many PSP
// APIs give whole seconds, and never going backwards.
//
// A coarse precision is exactly what makes a naive middleware lose data under Formance's poller
// (several items share one second); the provider stays lossless because it serves its lists through
// the feeds (package feed).
type Clock struct {
	precision time.Duration
	now       func() time.Time

	mu          sync.Mutex
	last        time.Time
	lastInstant time.Time
}

// NewClock returns a Clock that truncates every time to precision; 0 keeps the full precision of the
// system clock.
func NewClock(precision time.Duration) *Clock {
	return &Clock{precision: precision, now: time.Now}
}

// Now returns the current time in UTC, truncated to the precision, and never earlier than a time it
// returned before.
func (c *Clock) Now() time.Time {
	t := c.now().UTC().Round(0) // drop the monotonic reading: these times are data, not timers
	if c.precision > 0 {
		t = t.Truncate(c.precision)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}

// Precision returns the precision the clock truncates to (0: none).
func (c *Clock) Precision() time.Duration { return c.precision }

// Instant returns the current time in UTC to the microsecond, whatever the precision, and strictly
// after any instant it returned before. It is the `at` of the balances: Formance keys a balance by
// (account, at to the microsecond, asset) and fails the balances run when one `at` comes back with
// another amount, which a truncated time (two polls in one second around a payment) would do.
func (c *Clock) Instant() time.Time {
	t := c.now().UTC().Round(0).Truncate(time.Microsecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.lastInstant) {
		t = c.lastInstant.Add(time.Microsecond)
	}
	c.lastInstant = t
	return t
}
