package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
)

const key = "cmd-test-key"

// runCheck runs "pspconnect check args…" and returns the exit code, stdout and stderr.
func runCheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"check"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// memoryServer serves generated data from connectortest.MemoryProvider through httpserver, with
// opts (a key by default), over a test server; wrap, when set, wraps the handler.
func memoryServer(t *testing.T, wrap func(http.Handler) http.Handler, opts ...httpserver.Option) (*connectortest.MemoryProvider, *connectortest.Dataset, string) {
	t.Helper()
	ds := connectortest.Generate(connectortest.GenSpec{Seed: 3, Accounts: 30, Beneficiaries: 30, Transactions: 150, Precision: time.Second, PerSecond: 10, Lifecycle: true})
	p := connectortest.NewMemoryProvider()
	require.NoError(t, p.Load(ds))
	if len(opts) == 0 {
		opts = []httpserver.Option{httpserver.WithAPIKey(key)}
	}
	h, err := httpserver.New(p, append(opts, httpserver.WithLogger(slog.New(slog.DiscardHandler)))...)
	require.NoError(t, err)
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return p, ds, srv.URL
}

// TestCheckInMemoryExample builds examples/inmemory, starts it as a deployed middleware would run,
// and checks it: every check passes and the command exits 0.
func TestCheckInMemoryExample(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not in PATH: cannot build examples/inmemory")
	}
	bin := filepath.Join(t.TempDir(), "inmemory")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/pspconnect/pspconnect/examples/inmemory")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proc := exec.CommandContext(ctx, bin, "-addr", addr, "-api-key", key)
	proc.Stdout, proc.Stderr = io.Discard, io.Discard
	require.NoError(t, proc.Start())
	t.Cleanup(func() { cancel(); _ = proc.Wait() })
	url := "http://" + addr
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "/accounts")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusUnauthorized
	}, 10*time.Second, 20*time.Millisecond, "examples/inmemory did not start")

	code, stdout, stderr := runCheck(t, "-url", url, "-key", key)
	require.Equal(t, exitPassed, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.True(t, strings.HasPrefix(stdout, "connectortest: "+url+" passed every check (10 checks)\n"), stdout)
	assert.Contains(t, stdout, "skipped changes: not checked: Options.Changes and Options.ChangesDuringFetch are not set")
	assert.Contains(t, stdout, "\n  PASSED   writes\n")
}

// TestCheckBrokenServers: against broken middlewares the command exits 1 and its report names the
// check, the request and the item; -json gives the same findings as valid JSON.
func TestCheckBrokenServers(t *testing.T) {
	t.Run("any key accepted", func(t *testing.T) {
		_, _, url := memoryServer(t, nil, httpserver.WithAuthenticator(func(*http.Request, string) (string, error) { return httpserver.DefaultTenant, nil }))
		code, stdout, stderr := runCheck(t, "-url", url, "-key", key, "-page-sizes", "25")
		require.Equal(t, exitFindings, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		lines := strings.Split(stdout, "\n")
		assert.Regexp(t, `^connectortest: http://127\.0\.0\.1:\d+: \d+ findings in 1 of 10 checks$`, lines[0])
		assert.Regexp(t, `^  auth: \d+ findings$`, lines[1])
		assert.Contains(t, stdout, "GET /accounts?page=1&pageSize=1&sort=createdAt:asc with a wrong API key: answered 200, want 401: the middleware serves anyone (it shows the API key's data: acc_0001)")
		assert.Contains(t, stdout, "\n  FAILED   auth (")
	})

	// capped answers at most 100 items whatever pageSize asks for.
	capped := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if n, err := strconv.Atoi(q.Get("pageSize")); err == nil && n > 100 {
				page, _ := strconv.Atoi(q.Get("page"))
				// The page asked for, answered 100 items long from where it starts.
				q.Set("page", "1")
				q.Set("pageSize", "100")
				r.URL.RawQuery = q.Encode()
				if page > 1 {
					writeEmpty(w)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	t.Run("pageSize silently capped at 100", func(t *testing.T) {
		_, _, url := memoryServer(t, capped)
		code, stdout, stderr := runCheck(t, "-url", url, "-key", key, "-page-sizes", "7,25", "-skip-writes")
		require.Equal(t, exitFindings, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Contains(t, stdout, "\ntiling/pageSize=250:\n  - GET /transactions?page=1&pageSize=250&sort=updatedAt:asc: 100 items, fewer than pageSize=250, and page 2 is empty, yet the full listing")
		assert.Contains(t, stdout, "pageSize is silently capped at 100")
		assert.Contains(t, stdout, "the first: tx_")
	})
	t.Run("json", func(t *testing.T) {
		_, _, url := memoryServer(t, capped)
		code, stdout, stderr := runCheck(t, "-url", url, "-key", key, "-page-sizes", "25", "-skip-writes", "-json")
		require.Equal(t, exitFindings, code, "stderr:\n%s", stderr)
		var rep connectortest.Report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
		assert.False(t, rep.Passed)
		assert.Equal(t, url, rep.Target)
		var found bool
		for _, f := range rep.Findings {
			if f.Check == "tiling/pageSize=250" && f.Request == "GET /transactions?page=1&pageSize=250&sort=updatedAt:asc" {
				found = strings.Contains(f.Message, "silently capped at 100")
			}
		}
		assert.True(t, found, "findings: %+v", rep.Findings)
		var results = map[string]string{}
		for _, c := range rep.Checks {
			results[c.Name] = c.Result
		}
		assert.Equal(t, connectortest.ResultFailed, results["tiling"])
		assert.Equal(t, connectortest.ResultPassed, results["sync"])
		assert.Equal(t, connectortest.ResultSkipped, results["writes"])
		assert.Equal(t, connectortest.ResultSkipped, results["changes"])
	})
	t.Run("nothing listening", func(t *testing.T) { // not a finding: the run cannot be made
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		url := "http://" + l.Addr().String()
		require.NoError(t, l.Close())
		code, stdout, stderr := runCheck(t, "-url", url, "-key", key, "-page-sizes", "25")
		require.Equal(t, exitUsage, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "pspconnect check: connectortest: invalid target: GET /accounts?page=1&pageSize=1&sort=createdAt:asc: no answer: ")
		assert.Contains(t, stderr, "connection refused")
	})
}

func writeEmpty(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("[]"))
}

// TestCheckChangeCommands: -changes and -changes-during-fetch run shell commands that change the
// middleware's data (here by appending to a file the server reads before each request), and the
// changes checks run instead of being skipped.
func TestCheckChangeCommands(t *testing.T) {
	dir := t.TempDir()
	between, during := filepath.Join(dir, "between"), filepath.Join(dir, "during")
	var p *connectortest.MemoryProvider
	var ds *connectortest.Dataset
	var mu sync.Mutex
	applied := map[string]int{}
	apply := func() error { // the PSP's changes, one per line the commands wrote
		mu.Lock()
		defer mu.Unlock()
		for _, file := range []string{between, during} {
			data, err := os.ReadFile(file)
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				return err
			}
			for _, route := range strings.Split(strings.TrimSpace(string(data)), "\n")[applied[file]:] {
				applied[file]++
				if err := p.PutTransactions(ds.Advance(3)...); err != nil {
					return err
				}
				if route == "/accounts" {
					err = p.Load(ds.More(1, 0, 0))
				} else {
					err = p.Load(ds.More(0, 0, 1))
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
	p, ds, url := memoryServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := apply(); err != nil {
				httpserver.WriteError(w, 500, "", err.Error())
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	t.Setenv(keyEnv, key) // the key from the environment
	code, stdout, stderr := runCheck(t, "-url", url, "-page-sizes", "7,25", "-skip-writes", "-json",
		"-changes", fmt.Sprintf("echo change >> %q", between),
		"-changes-during-fetch", fmt.Sprintf(`echo "$PSPCONNECT_ROUTE" >> %q`, during))
	var rep connectortest.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, exitPassed, code, "%s", rep.Summary())
	results := map[string]string{}
	for _, c := range rep.Checks {
		results[c.Name] = c.Result
	}
	assert.Equal(t, connectortest.ResultPassed, results["changes/between cycles/pageSize=7"])
	assert.Equal(t, connectortest.ResultPassed, results["changes/during a fetch/pageSize=7"])
	assert.Equal(t, 2, applied[between], "once per page size")
	assert.Positive(t, applied[during])
}

// TestCheckFlags: -h documents every flag; bad flags and unusable targets exit 2 without a report.
func TestCheckFlags(t *testing.T) {
	code, _, stderr := runCheck(t, "-h")
	assert.Equal(t, exitPassed, code)
	for _, name := range []string{"url", "key", "json", "v", "page-sizes", "max-page-size", "skip-writes", "live", "open-tenancy",
		"timeout", "request-timeout", "changes", "changes-during-fetch", "source", "payout-destination", "transfer-destination", "currency"} {
		assert.Regexp(t, `\n  -`+name+`[ \t\n]`, stderr, "flag -%s documented", name)
	}
	assert.Contains(t, stderr, "Exit status: 0 every check passed, 1 findings, 2 the run could not be made")

	t.Setenv(keyEnv, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-url is required"},
		{[]string{"-url", "http://localhost:1"}, "-key (or PSPCONNECT_API_KEY) is required"},
		{[]string{"-url", "http://localhost:1", "-key", "k", "-page-sizes", "7,x"}, `-page-sizes: "x" is not a page size`},
		{[]string{"-url", "http://localhost:1", "-key", "k", "-max-page-size", "0"}, "-max-page-size must be positive"},
		{[]string{"-url", "http://localhost:1", "-key", "k", "-currency", "usd"}, "-currency: "},
		{[]string{"-url", "ftp://example.com", "-key", "k"}, "not an absolute http or https URL"},
		{[]string{"-url", "http://localhost:1", "-key", "k", "extra"}, `unexpected argument "extra"`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		code, stdout, stderr := runCheck(t, tc.args...)
		assert.Equal(t, exitUsage, code, "%v", tc.args)
		assert.Empty(t, stdout, "%v", tc.args)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}

	var out, errOut bytes.Buffer
	assert.Equal(t, exitUsage, run(t.Context(), nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "pspconnect check -url URL -key KEY")
	assert.Equal(t, exitUsage, run(t.Context(), []string{"lint"}, &out, &errOut))
	assert.Contains(t, errOut.String(), `unknown command "lint"`)

	t.Run("timeout", func(t *testing.T) {
		_, _, url := memoryServer(t, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(50 * time.Millisecond)
				next.ServeHTTP(w, r)
			})
		})
		code, stdout, stderr := runCheck(t, "-url", url, "-key", key, "-timeout", "300ms", "-skip-writes")
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, stderr, "the run did not finish: context deadline exceeded")
		assert.Contains(t, stdout, "connectortest: ", "the report of what ran is printed")
	})
}
