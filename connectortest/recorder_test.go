package connectortest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// recorder is a tb that records findings instead of failing the real test, so that tests can run
// the checks against broken targets and assert on what they report.
type recorder struct {
	name   string
	ctx    context.Context
	parent *recorder

	mu         sync.Mutex
	failed     bool
	skipped    bool
	skipReason string
	errors     []string
	logs       []string
	children   []*recorder
}

func newRecorder(ctx context.Context) *recorder { return &recorder{ctx: ctx} }

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.skipReason = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// skipped returns the full names of the sub-tests that were skipped, with their reasons.
func (r *recorder) skips() map[string]string {
	out := make(map[string]string)
	var visit func(c *recorder)
	visit = func(c *recorder) {
		c.mu.Lock()
		if c.skipped {
			out[c.name] = c.skipReason
		}
		c.mu.Unlock()
		for _, cc := range c.children {
			visit(cc)
		}
	}
	visit(r)
	return out
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) Context() context.Context { return r.ctx }

// Run runs f on its own goroutine, like testing.T.Run, so that FailNow ends only the sub-test.
func (r *recorder) Run(name string, f func(t tb)) bool {
	sub := &recorder{name: name, ctx: r.ctx, parent: r}
	if r.name != "" {
		sub.name = r.name + "/" + name
	}
	r.mu.Lock()
	r.children = append(r.children, sub)
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(sub)
	}()
	<-done
	if sub.Failed() {
		r.mu.Lock()
		r.failed = true
		r.mu.Unlock()
	}
	return !sub.Failed()
}

// failedChecks returns the names of the direct sub-tests that failed, e.g. ["order", "sync"].
func (r *recorder) failedChecks() []string {
	var out []string
	for _, c := range r.children {
		if c.Failed() {
			out = append(out, c.name)
		}
	}
	slices.Sort(out)
	return out
}

// messages returns every finding of the sub-test named check and its own sub-tests, each prefixed
// with the sub-test's full name.
func (r *recorder) messages(check string) []string {
	var out []string
	var visit func(c *recorder)
	visit = func(c *recorder) {
		for _, e := range c.errors {
			out = append(out, c.name+": "+e)
		}
		for _, cc := range c.children {
			visit(cc)
		}
	}
	for _, c := range r.children {
		if c.name == check {
			visit(c)
		}
	}
	return out
}

// logLines returns every log line of the sub-test with the full name check (e.g. "writes/payouts")
// and its own sub-tests.
func (r *recorder) logLines(check string) []string {
	var out []string
	var visit func(c *recorder, in bool)
	visit = func(c *recorder, in bool) {
		in = in || c.name == check
		if in {
			out = append(out, c.logs...)
		}
		for _, cc := range c.children {
			visit(cc, in)
		}
	}
	visit(r, false)
	return out
}

// dump returns every finding and log line, for failure messages.
func (r *recorder) dump() string {
	var b strings.Builder
	var visit func(c *recorder)
	visit = func(c *recorder) {
		for _, e := range c.errors {
			fmt.Fprintf(&b, "ERROR %s: %s\n", c.name, e)
		}
		for _, l := range c.logs {
			fmt.Fprintf(&b, "log   %s: %s\n", c.name, l)
		}
		if c.skipped {
			fmt.Fprintf(&b, "SKIP  %s: %s\n", c.name, c.skipReason)
		}
		for _, cc := range c.children {
			visit(cc)
		}
	}
	visit(r)
	return b.String()
}
