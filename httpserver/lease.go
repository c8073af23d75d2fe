package httpserver

import (
	"context"
	"sync"
	"time"
)

// leaseContext is the context of a write's provider call: the values of detached (the request's
// context without its cancellation) and the end of the key's in-flight lease as its deadline. It
// behaves as context.WithDeadline(detached, deadline), but makes that context, and its timer, only
// when it is first needed: when the provider asks for Done (an HTTP client does, for instance), or
// for Err past the deadline. A provider that never looks costs no timer.
type leaseContext struct {
	context.Context // detached: Value
	deadline        time.Time

	mu      sync.Mutex
	timed   context.Context // context.WithDeadline(detached, deadline), once made
	cancel  context.CancelFunc
	stopped bool // the call returned: the context is done
}

func newLeaseContext(detached context.Context, deadline time.Time) *leaseContext {
	return &leaseContext{Context: detached, deadline: deadline}
}

// withDeadline returns the timed context, made on the first call.
func (c *leaseContext) withDeadline() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timed == nil {
		c.timed, c.cancel = context.WithDeadline(c.Context, c.deadline)
		if c.stopped {
			c.cancel()
		}
	}
	return c.timed
}

func (c *leaseContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *leaseContext) Done() <-chan struct{} { return c.withDeadline().Done() }

func (c *leaseContext) Err() error {
	c.mu.Lock()
	timed, stopped := c.timed, c.stopped
	c.mu.Unlock()
	if timed == nil && !stopped && time.Now().Before(c.deadline) {
		return nil
	}
	return c.withDeadline().Err() // Canceled after stop, DeadlineExceeded past the deadline
}

// AfterFunc lets context.WithCancel and the others cancel a child of this context when the lease
// ends without a goroutine of their own (see context.AfterFunc).
func (c *leaseContext) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(c.withDeadline(), f)
}

func (c *leaseContext) String() string { return "httpserver.leaseContext" }

// stop ends the context when the provider call returns, as the cancel of context.WithDeadline
// does, and releases the timer if one was made.
func (c *leaseContext) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
}
