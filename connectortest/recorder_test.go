package connectortest

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// recorder is the tb that Check runs the checks with (a node of its report), used directly by tests
// that run the checks against broken targets and assert on what they report, with the queries
// below.
type recorder = node

func newRecorder(ctx context.Context) *recorder { return &node{ctx: ctx} }

// walk calls f for n and every sub-check below it, parents first.
func (n *node) walk(f func(c *node, entries []entry)) {
	entries, _, _, _ := n.snapshot()
	f(n, entries)
	for _, e := range entries {
		if e.child != nil {
			e.child.walk(f)
		}
	}
}

// children returns the direct sub-checks.
func (n *node) children() []*node {
	entries, _, _, _ := n.snapshot()
	var out []*node
	for _, e := range entries {
		if e.child != nil {
			out = append(out, e.child)
		}
	}
	return out
}

// skips returns the full names of the sub-checks that were skipped, with their reasons.
func (n *node) skips() map[string]string {
	out := make(map[string]string)
	n.walk(func(c *node, _ []entry) {
		if _, _, skipped, reason := c.snapshot(); skipped {
			out[c.full] = reason
		}
	})
	return out
}

// failedChecks returns the names of the direct sub-checks that failed, e.g. ["order", "sync"].
func (n *node) failedChecks() []string {
	var out []string
	for _, c := range n.children() {
		if c.Failed() {
			out = append(out, c.full)
		}
	}
	slices.Sort(out)
	return out
}

// messages returns every finding of the sub-check named check and its own sub-checks, each
// prefixed with the sub-check's full name.
func (n *node) messages(check string) []string {
	var out []string
	for _, c := range n.children() {
		if c.full != check {
			continue
		}
		c.walk(func(c *node, entries []entry) {
			for _, e := range entries {
				if e.child == nil && e.finding {
					out = append(out, c.full+": "+e.msg)
				}
			}
		})
	}
	return out
}

// logLines returns every log line of the sub-check with the full name check (e.g.
// "writes/payouts") and its own sub-checks.
func (n *node) logLines(check string) []string {
	var out []string
	n.walk(func(c *node, entries []entry) {
		if c.full != check && !strings.HasPrefix(c.full, check+"/") {
			return
		}
		for _, e := range entries {
			if e.child == nil && !e.finding {
				out = append(out, e.msg)
			}
		}
	})
	return out
}

// dump returns every finding and log line, for failure messages.
func (n *node) dump() string {
	var b strings.Builder
	n.walk(func(c *node, entries []entry) {
		for _, e := range entries {
			switch {
			case e.child != nil:
			case e.finding:
				fmt.Fprintf(&b, "ERROR %s: %s\n", c.full, e.msg)
			default:
				fmt.Fprintf(&b, "log   %s: %s\n", c.full, e.msg)
			}
		}
		if _, _, skipped, reason := c.snapshot(); skipped {
			fmt.Fprintf(&b, "SKIP  %s: %s\n", c.full, reason)
		}
	})
	return b.String()
}
