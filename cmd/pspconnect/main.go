// Command pspconnect checks a deployed Generic Connector middleware, whatever its language, with the
// conformance suite of package connectortest:
//
//	go run github.com/pspconnect/pspconnect/cmd/pspconnect check -url https://psp-bridge.example.com/formance -key "$KEY"
//
// It walks the middleware through the contract over HTTP, replays Formance's poller (today's client
// and the inclusive-watermark variant), and prints a report that starts with a summary and names,
// for every finding, the request (route and query) and the item. It exits 0 when every check
// passed, 1 when there are findings, and 2 when the run could not be made (bad flags, an unusable
// URL, the -timeout reached). -json prints the report as JSON, for CI. Run
// "pspconnect check -h" for every flag.
//
// The checks create a few payouts and transfers of 100 minor units (use -skip-writes against a
// middleware connected to a real PSP), and expect the data to hold still during the run unless -live
// says it moves on its own. -changes and -changes-during-fetch give the command a way to change the
// middleware's data (a shell command each); without them the checks of changes are skipped, and the
// report says so.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/models"
)

// Exit codes.
const (
	exitPassed   = 0 // every check passed
	exitFindings = 1 // the middleware has findings
	exitUsage    = 2 // the run could not be made: bad flags, bad target, timeout
)

// keyEnv is the environment variable read for the API key when -key is not given.
const keyEnv = "PSPCONNECT_API_KEY"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `pspconnect checks a middleware that serves Formance's Generic Connector API.

Usage:
  pspconnect check -url URL -key KEY [flags]

Run "pspconnect check -h" for the flags of check.
`

// run is the command: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitPassed
	}
	fmt.Fprintf(stderr, "pspconnect: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// checkFlags are the flags of "pspconnect check".
type checkFlags struct {
	url, key                       string
	json, notes                    bool
	pageSizes                      string
	maxPageSize                    int
	skipWrites, live, openTenancy  bool
	timeout, requestTimeout        time.Duration
	changes, changesDuringFetch    string
	source, payoutDest, transferTo string
	currency                       string
}

func newCheckFlags(stderr io.Writer) (*flag.FlagSet, *checkFlags) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &checkFlags{}
	fs.StringVar(&f.url, "url", "", "the middleware's endpoint, as Formance is configured with it, e.g. https://psp-bridge.example.com/formance (required)")
	fs.StringVar(&f.key, "key", "", "the API key Formance sends as \"Authorization: Bearer <key>\" (default: the "+keyEnv+" environment variable, which keeps the key out of the process list)")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON on stdout, for CI: {target, passed, findings: [{check, request, message}], checks: [{name, result, findings, skipReason, notes}], seconds}")
	fs.BoolVar(&f.notes, "v", false, "also print what each check logged (what it could not check and why)")
	fs.StringVar(&f.pageSizes, "page-sizes", joinInts(connectortest.DefaultPageSizes()), "comma-separated page sizes of the order, tiling, sync and changes checks; pageSize 1 reads every item one request at a time, so keep it for datasets of a few thousand items")
	fs.IntVar(&f.maxPageSize, "max-page-size", 1000, "the largest pageSize the middleware accepts: a pageSize one above must be refused with 400, full listings are read this many at a time, and pageSizes 250, 1000 and this one are checked for a silent cap; -1 when the middleware has no maximum or it is not known")
	fs.BoolVar(&f.skipWrites, "skip-writes", false, "do not check POST /payouts and POST /transfers: by default a handful of payouts and transfers of 100 minor units are created, so set this against a middleware connected to a real PSP")
	fs.BoolVar(&f.live, "live", false, "the data moves on its own during the run (a PSP sandbox, a mock others use): check only what holds on moving data, and do not report that it changed")
	fs.BoolVar(&f.openTenancy, "open-tenancy", false, "every API key is its own dataset (like Formance's mock PSP): another key may get 401 or an empty dataset, never the key's data")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "the longest the whole run may take")
	fs.DurationVar(&f.requestTimeout, "request-timeout", 10*time.Second, "the longest one request may take (Formance's client gives up after 10s)")
	fs.StringVar(&f.changes, "changes", "", "a shell command (run with sh -c) that changes the middleware's data as its PSP does, e.g. moves a few transactions to a new status and adds items; run between two polling cycles, once per page size. Without it and -changes-during-fetch the changes checks are skipped")
	fs.StringVar(&f.changesDuringFetch, "changes-during-fetch", "", "a shell command (run with sh -c) that changes the data between two pages of one fetch, with PSPCONNECT_ROUTE (/accounts, /beneficiaries or /transactions) and PSPCONNECT_PAGE (the page just read) in its environment; at most 6 times per sync")
	fs.StringVar(&f.source, "source", "", "the account payouts and transfers are made from (default: the first account listed)")
	fs.StringVar(&f.payoutDest, "payout-destination", "", "the beneficiary (or account) payouts are made to (default: the first beneficiary listed)")
	fs.StringVar(&f.transferTo, "transfer-destination", "", "the account transfers are made to (default: the second account listed)")
	fs.StringVar(&f.currency, "currency", "USD/2", "the asset of the payouts and transfers")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprint(out, `Usage: pspconnect check -url URL -key KEY [flags]

Checks that the middleware at URL serves Formance's Generic Connector contract so that Formance
loses nothing: auth with wrong keys, the schema of every item, parameters, order, tiling (and a
silently capped pageSize), syncs with Formance's poller (today's client and the inclusive-watermark
variant), changes (with -changes, -changes-during-fetch), engine facts (ids, assets, balances),
stable data, and writes. The report starts with a summary and names, for every finding, the request
and the item.

Exit status: 0 every check passed, 1 findings, 2 the run could not be made (flags, URL, timeout).

Flags:
`)
		fs.PrintDefaults()
	}
	return fs, f
}

func check(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := newCheckFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPassed
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "pspconnect check: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (flags come before arguments; see -h)", fs.Arg(0))
	}
	if f.url == "" {
		return fail("-url is required (see -h)")
	}
	if f.key == "" {
		f.key = os.Getenv(keyEnv)
	}
	if f.key == "" {
		return fail("-key (or %s) is required: the API key the middleware expects", keyEnv)
	}
	sizes, err := parseInts(f.pageSizes)
	if err != nil {
		return fail("-page-sizes: %v", err)
	}
	if f.maxPageSize == 0 || f.maxPageSize < -1 {
		return fail("-max-page-size must be positive, or -1 for none")
	}
	opts := connectortest.Options{
		PageSizes:   sizes,
		MaxPageSize: f.maxPageSize,
		SkipWrites:  f.skipWrites,
		Live:        f.live,
		OpenTenancy: f.openTenancy,
		WriteAccounts: connectortest.WriteAccounts{
			Source: f.source, PayoutDestination: f.payoutDest, TransferDestination: f.transferTo,
			Currency: models.Asset(f.currency),
		},
	}
	if err := models.Asset(f.currency).Validate(); err != nil {
		return fail("-currency: %v", err)
	}
	if f.changes != "" {
		cmd := f.changes
		opts.Changes = func(ctx context.Context) error { return shell(ctx, cmd, nil) }
	}
	if f.changesDuringFetch != "" {
		cmd := f.changesDuringFetch
		opts.ChangesDuringFetch = func(ctx context.Context, route string, page int) error {
			return shell(ctx, cmd, []string{"PSPCONNECT_ROUTE=" + route, "PSPCONNECT_PAGE=" + strconv.Itoa(page)})
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	target := connectortest.Target{BaseURL: f.url, APIKey: f.key, Client: &http.Client{Timeout: f.requestTimeout}}
	rep, err := connectortest.Check(ctx, target, opts)
	if err != nil && errors.Is(err, connectortest.ErrTarget) {
		return fail("%v", err)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(rep); werr != nil {
			return fail("writing the report: %v", werr)
		}
	} else if werr := rep.WriteText(stdout, f.notes); werr != nil {
		return fail("writing the report: %v", werr)
	}
	if err != nil {
		return fail("the run did not finish: %v (see -timeout); the report above holds what ran", err)
	}
	if !rep.Passed {
		return exitFindings
	}
	return exitPassed
}

// shell runs cmd with sh -c and the extra environment; an error carries the start of its output.
func shell(ctx context.Context, cmd string, env []string) error {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		s := strings.TrimSpace(string(out))
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		if s != "" {
			return fmt.Errorf("command %q: %w: %s", cmd, err, s)
		}
		return fmt.Errorf("command %q: %w", cmd, err)
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a page size (a positive integer)", part)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no page size given")
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
