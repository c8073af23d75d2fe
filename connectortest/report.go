package connectortest

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Results of a check in a Report.
const (
	// ResultPassed: the check ran and found nothing.
	ResultPassed = "passed"
	// ResultFailed: the check has findings, or one of its sub-checks has.
	ResultFailed = "failed"
	// ResultSkipped: the check did not run; CheckResult.SkipReason says why.
	ResultSkipped = "skipped"
)

// Report is what Check found: every finding and the result of every check and sub-check.
type Report struct {
	// Target is the middleware checked: its BaseURL, or "in-process handler" (followed by the path
	// prefix of BaseURL, if any) for a Target.Handler.
	Target string `json:"target"`
	// Passed reports whether no check has a finding (skipped checks do not count).
	Passed bool `json:"passed"`
	// Findings lists every finding, in the order found.
	Findings []Finding `json:"findings"`
	// Checks lists every check and sub-check, depth first, in the order they ran: "auth", …,
	// "sync", "sync/pageSize=1", ….
	Checks []CheckResult `json:"checks"`
	// Seconds is how long the run took.
	Seconds float64 `json:"seconds"`

	root *node // the tree of checks, for Run
}

// Finding is one misbehaviour of the middleware.
type Finding struct {
	// Check is the full name of the (sub-)check that found it, e.g. "tiling/pageSize=25".
	Check string `json:"check"`
	// Request is the request the finding starts with, e.g.
	// "GET /transactions?page=2&pageSize=25&sort=updatedAt:asc", when it starts with one.
	Request string `json:"request,omitempty"`
	// Message says what is wrong, naming the request, the item and the rule broken.
	Message string `json:"message"`
}

// CheckResult is the result of one check or sub-check.
type CheckResult struct {
	// Name is the full name, e.g. "sync/inclusive-watermark/pageSize=7".
	Name string `json:"name"`
	// Result is ResultPassed, ResultFailed or ResultSkipped.
	Result string `json:"result"`
	// Findings counts the findings of the check and of its sub-checks.
	Findings int `json:"findings"`
	// SkipReason says why a skipped check did not run.
	SkipReason string `json:"skipReason,omitempty"`
	// Notes are what the check logged: what it could not check and why, answers worth knowing.
	Notes []string `json:"notes,omitempty"`
}

// Check runs the checks of Run against target outside of a Go test (for a command, a CI job or a
// health check) and returns what they found: the Report holds one Finding per misbehaviour, the same
// findings Run reports on a *testing.T. The error is about the run itself, not the middleware: an
// invalid target (wrapping ErrTarget, with an empty Report), or ctx ending before the checks did
// (ctx.Err(), with the Report of what ran; the requests that could not be sent are findings).
//
// Options.Changes and Options.ChangesDuringFetch are called from Check's goroutines, one at a time.
func Check(ctx context.Context, target Target, opts Options) (Report, error) {
	start := time.Now()
	c, err := dial(target)
	if err != nil {
		return Report{}, err
	}
	defer c.close()
	// A target that does not answer at all is not worth a report of one finding per request.
	probe := walkRequest(routeAccounts, 1, 1, zeroTime)
	if _, err := c.do(ctx, probe); err != nil {
		if ctx.Err() != nil {
			return Report{}, ctx.Err()
		}
		return Report{}, fmt.Errorf("%w: %s: no answer: %v", ErrTarget, probe, err)
	}
	root := &node{ctx: ctx}
	s := newSuite(c, opts)
	done := make(chan struct{})
	go func() { // a check may end its goroutine (FailNow); the root's never does
		defer close(done)
		s.runChecks(root)
	}()
	<-done
	rep := root.report(describeTarget(target), time.Since(start))
	return rep, ctx.Err()
}

func describeTarget(t Target) string {
	if t.Handler == nil {
		return t.BaseURL
	}
	if u, err := url.Parse(t.BaseURL); err == nil && strings.Trim(u.Path, "/") != "" {
		return "in-process handler under " + u.Path
	}
	return "in-process handler"
}

// node is a tb that collects what one check reports, and the tree of its sub-checks.
type node struct {
	name   string // the sub-test's own name
	full   string // "sync/pageSize=7"
	ctx    context.Context
	parent *node

	mu         sync.Mutex
	entries    []entry // events and sub-checks, in order
	failed     bool
	skipped    bool
	skipReason string
}

// entry is one event of a node, or one of its sub-checks.
type entry struct {
	finding bool // an error; otherwise a note (unless child is set)
	msg     string
	child   *node
}

var _ tb = (*node)(nil)

func (n *node) Helper() {}

func (n *node) Errorf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failed = true
	n.entries = append(n.entries, entry{finding: true, msg: fmt.Sprintf(format, args...)})
}

func (n *node) FailNow() {
	n.mu.Lock()
	n.failed = true
	n.mu.Unlock()
	runtime.Goexit()
}

func (n *node) Logf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.entries = append(n.entries, entry{msg: fmt.Sprintf(format, args...)})
}

func (n *node) Skipf(format string, args ...any) {
	n.mu.Lock()
	n.skipped = true
	n.skipReason = fmt.Sprintf(format, args...)
	n.mu.Unlock()
	runtime.Goexit()
}

func (n *node) Failed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.failed
}

func (n *node) Context() context.Context { return n.ctx }

// Run runs f on its own goroutine, like testing.T.Run, so that FailNow and Skipf end only the
// sub-check.
func (n *node) Run(name string, f func(t tb)) bool {
	sub := &node{name: name, full: name, ctx: n.ctx, parent: n}
	if n.full != "" {
		sub.full = n.full + "/" + name
	}
	n.mu.Lock()
	n.entries = append(n.entries, entry{child: sub})
	n.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(sub)
	}()
	<-done
	if sub.Failed() {
		n.mu.Lock()
		n.failed = true
		n.mu.Unlock()
	}
	return !sub.Failed()
}

// snapshot returns a copy of the node's state, safe to read once the checks are done.
func (n *node) snapshot() (entries []entry, failed, skipped bool, reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]entry(nil), n.entries...), n.failed, n.skipped, n.skipReason
}

// report builds the Report of a finished run.
func (n *node) report(target string, took time.Duration) Report {
	rep := Report{Target: target, Seconds: took.Seconds(), root: n, Findings: []Finding{}, Checks: []CheckResult{}}
	var visit func(c *node) int
	visit = func(c *node) int {
		entries, failed, skipped, reason := c.snapshot()
		i := len(rep.Checks)
		if c.parent != nil {
			rep.Checks = append(rep.Checks, CheckResult{Name: c.full})
		}
		count := 0
		var notes []string
		for _, e := range entries {
			switch {
			case e.child != nil:
				count += visit(e.child)
			case e.finding:
				count++
				rep.Findings = append(rep.Findings, Finding{Check: c.full, Request: requestOf(e.msg), Message: e.msg})
			default:
				notes = append(notes, e.msg)
			}
		}
		if c.parent != nil {
			r := &rep.Checks[i]
			r.Findings, r.Notes = count, notes
			switch {
			case failed || count > 0:
				r.Result = ResultFailed
			case skipped:
				r.Result, r.SkipReason = ResultSkipped, reason
			default:
				r.Result = ResultPassed
			}
		}
		return count
	}
	visit(n)
	rep.Passed = len(rep.Findings) == 0 && !n.Failed()
	return rep
}

// requestOf returns the request a message starts with ("GET /accounts?page=1&…"), or "".
func requestOf(msg string) string {
	if !strings.HasPrefix(msg, "GET /") && !strings.HasPrefix(msg, "POST /") {
		return ""
	}
	r, _, _ := strings.Cut(msg, ": ")
	if i := strings.Index(r, " ("); i > 0 { // "POST /payouts (idempotencyKey=…)"
		r = r[:i]
	}
	if i := strings.Index(r, " with"); i > 0 { // "GET /accounts?… with a wrong API key"
		r = r[:i]
	}
	return r
}

// replay reports the node's events on t, as they were found, its sub-checks as sub-tests, and its
// skip.
func (n *node) replay(t tb) {
	t.Helper()
	entries, _, skipped, reason := n.snapshot()
	for _, e := range entries {
		switch {
		case e.child != nil:
			c := e.child
			t.Run(c.name, func(t tb) { c.replay(t) })
		case e.finding:
			t.Errorf("%s", e.msg)
		default:
			t.Logf("%s", e.msg)
		}
	}
	if skipped {
		t.Skipf("%s", reason)
	}
}

// summaryExamples is the number of findings Summary shows for each check.
const summaryExamples = 3

// Summary returns the findings in a few lines: how many in all and per check, with the first of
// each check, and the checks skipped with their reasons. It starts with "the data changed during
// the run" when the stable check says so, since that may explain the other findings.
func (r Report) Summary() string {
	var b strings.Builder
	top := r.topChecks()
	failing := 0
	for _, c := range top {
		if c.Result == ResultFailed {
			failing++
		}
	}
	if r.Passed {
		fmt.Fprintf(&b, "connectortest: %s passed every check (%d checks)", r.Target, len(top))
	} else {
		fmt.Fprintf(&b, "connectortest: %s: %d %s in %d of %d checks", r.Target, len(r.Findings), plural(len(r.Findings), "finding", "findings"), failing, len(top))
	}
	for _, f := range r.Findings {
		if topName(f.Check) == "stable" && strings.HasPrefix(f.Message, driftPrefix) {
			b.WriteString("\n  NOTE: the data changed during the run: the other findings may come from the moving data rather than from the middleware (see the stable check; set Options.Live, or -live, for a target whose data moves on its own)")
			break
		}
	}
	for _, c := range top {
		if c.Result != ResultFailed {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %d %s", c.Name, c.Findings, plural(c.Findings, "finding", "findings"))
		shown := 0
		for _, f := range r.Findings {
			if topName(f.Check) != c.Name {
				continue
			}
			if shown == summaryExamples {
				fmt.Fprintf(&b, "\n    … and %d more", c.Findings-shown)
				break
			}
			where := ""
			if f.Check != c.Name {
				where = strings.TrimPrefix(f.Check, c.Name+"/") + ": "
			}
			fmt.Fprintf(&b, "\n    - %s%s", where, f.Message)
			shown++
		}
	}
	for _, c := range r.Checks {
		if c.Result == ResultSkipped {
			fmt.Fprintf(&b, "\n  skipped %s: %s", c.Name, c.SkipReason)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func topName(full string) string {
	name, _, _ := strings.Cut(full, "/")
	return name
}

// topChecks returns the results of the top-level checks.
func (r Report) topChecks() []CheckResult {
	var out []CheckResult
	for _, c := range r.Checks {
		if !strings.Contains(c.Name, "/") {
			out = append(out, c)
		}
	}
	return out
}

// WriteText writes the report for a person: the Summary, then every finding grouped by the check
// that found it and, with notes set, what each check logged.
func (r Report) WriteText(w io.Writer, notes bool) error {
	var b strings.Builder
	b.WriteString(r.Summary())
	b.WriteString("\n")
	if !r.Passed {
		b.WriteString("\nFindings:\n")
		last := ""
		for _, f := range r.Findings {
			if f.Check != last {
				fmt.Fprintf(&b, "\n%s:\n", f.Check)
				last = f.Check
			}
			fmt.Fprintf(&b, "  - %s\n", f.Message)
		}
	}
	b.WriteString("\nChecks:\n")
	for _, c := range r.Checks {
		depth := strings.Count(c.Name, "/")
		name := c.Name[strings.LastIndex(c.Name, "/")+1:]
		line := fmt.Sprintf("%s%-8s %s", strings.Repeat("  ", depth+1), strings.ToUpper(c.Result), name)
		switch c.Result {
		case ResultFailed:
			line += fmt.Sprintf(" (%d %s)", c.Findings, plural(c.Findings, "finding", "findings"))
		case ResultSkipped:
			line += ": " + c.SkipReason
		}
		b.WriteString(line + "\n")
		if notes {
			for _, n := range c.Notes {
				fmt.Fprintf(&b, "%s  note: %s\n", strings.Repeat("  ", depth+1), n)
			}
		}
	}
	fmt.Fprintf(&b, "\n(%.1fs)\n", r.Seconds)
	_, err := io.WriteString(w, b.String())
	return err
}
