package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/models"
)

// requireBrowserEnv makes a missing Chromium a failure instead of a skip (CI sets it).
const requireBrowserEnv = "PSPCONNECT_REQUIRE_BROWSER"

// screenshotEnv, when set to a file path, makes TestBrowserPanel save a screenshot of the panel
// there (the docs use docs/mockpsp-admin.png).
const screenshotEnv = "MOCKPSP_SCREENSHOT"

// findChromium returns the path of a Chromium or Chrome binary, or skips the test (fails it when
// PSPCONNECT_REQUIRE_BROWSER=1).
func findChromium(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, c := range candidates {
		if path, err := exec.LookPath(c); err == nil {
			return path
		}
	}
	reason := "no Chromium found (looked for " + strings.Join(candidates, ", ") + "); install it (apt-get install chromium) to run the browser test"
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires it", reason, requireBrowserEnv)
	}
	t.Skip(reason)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a tab's context.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	profile := t.TempDir() // cleaned up after the browser has exited (cleanups run last-in first-out)
	parent, cancelTimeout := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancelTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 1000),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// Start the browser on ctx itself, so that it lives as long as ctx and the steps can run with
	// their own timeouts.
	require.NoError(t, chromedp.Do(ctx), "starting Chromium at %s", path)
	return ctx
}

// setField sets the value of the form field with this id (an input or a select), like a person
// typing or choosing it.
func setField(id, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(e => {
		e.value = %s;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return e.value;
	})(document.getElementById(%s))`, jsString(value), jsString(id))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		got, err := chromedp.Evaluate[string](js)(ctx, t)
		if err == nil && got != value {
			err = fmt.Errorf("field %s holds %q after setting %q", id, got, value)
		}
		return chromedp.Void{}, err
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserPanel drives the real panel in headless Chromium as a person would, and checks that
// what they do reaches a poller that behaves like Formance.
func TestBrowserPanel(t *testing.T) {
	chromium := findChromium(t)
	srv, _ := startMock(t, config{})
	const key = "browser-test"
	ctx := newBrowser(t, chromium)
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(stepCtx, steps...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\n--- the page shows:\n%s", what, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "reading %s", sel)
		return s
	}
	row := func(table, id string) chromedp.CSS {
		return chromedp.CSS(`#` + table + ` tbody tr[data-id="` + id + `"]`)
	}

	step("open the panel and enter the key",
		chromedp.Navigate(srv.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.ID("welcome")),
		chromedp.SendKeys(chromedp.ID("api-key"), key),
		chromedp.Click(chromedp.ID("use-key")),
		chromedp.WaitVisible(chromedp.ID("workspace")),
		chromedp.WaitNotVisible(chromedp.ID("welcome")),
	)

	step("create two accounts and a beneficiary with New",
		chromedp.Click(chromedp.ID("btn-new")),
		chromedp.WaitVisible(chromedp.ID("panel-new")),
		setField("acc-name", "Operating EUR"),
		setField("acc-asset", "EUR/2"),
		chromedp.Click(chromedp.ID("acc-submit")),
		chromedp.WaitVisible(row("accounts-table", "acc_0001")),
		setField("acc-name", "Operating USD"),
		setField("acc-asset", "USD/2"),
		chromedp.Click(chromedp.ID("acc-submit")),
		chromedp.WaitVisible(row("accounts-table", "acc_0002")),
		setField("ben-name", "Northwind Traders"),
		chromedp.Click(chromedp.ID("ben-submit")),
		chromedp.WaitVisible(row("beneficiaries-table", "ben_0001")),
	)
	assert.Contains(t, text("#accounts-table"), "Operating EUR")
	assert.Contains(t, text("#accounts-table"), "0.00 EUR", "a new account shows a zero balance")

	step("invalid input shows a clear message",
		chromedp.Click(chromedp.ID("btn-generate")),
		chromedp.WaitVisible(chromedp.ID("panel-generate")),
		setField("gen-amount", "-5"),
		chromedp.Click(chromedp.ID("gen-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="error"]`)),
	)
	assert.Contains(t, text("#message"), "amount")
	assert.Contains(t, text("#message"), "-5")

	step("generate six succeeded pay-ins",
		setField("gen-amount", ""),
		setField("gen-count", "6"),
		setField("gen-type", "PAYIN"),
		setField("gen-status", "SUCCEEDED"),
		chromedp.Click(chromedp.ID("gen-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="ok"]`)),
		chromedp.WaitVisible(row("transactions-table", "tx_0006")),
	)
	assert.Contains(t, text("#message"), "Generated 6 transactions")
	assert.NotContains(t, text("#transactions-table"), "tx_0007", "the refused batch created nothing")

	// Formance's first poll brings everything.
	p := connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: key}, 25)
	cy, err := p.Cycle(t.Context())
	require.NoError(t, err)
	assert.Len(t, cy.Accounts, 2)
	assert.Len(t, cy.Beneficiaries, 1)
	assert.Len(t, cy.Transactions, 6)

	step("refund a payment",
		chromedp.Click(chromedp.CSS(`#transactions-table tr[data-id="tx_0003"] button[data-action="refund"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#transactions-table tr[data-id="tx_0003"][data-status="REFUNDED"]`)),
	)
	assert.Contains(t, text("#message"), "tx_0003 is now REFUNDED")

	cy, err = p.Cycle(t.Context())
	require.NoError(t, err)
	require.Len(t, cy.Transactions, 1, "only the refunded payment arrives")
	assert.Equal(t, "tx_0003", cy.Transactions[0].ID)
	assert.Equal(t, models.TransactionStatusRefunded, cy.Transactions[0].Status)

	step("the request log shows the polls",
		chromedp.Click(chromedp.ID("btn-refresh")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#requests-table").innerText.includes("/transactions")`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	assert.Contains(t, text("#requests-table"), "/accounts/acc_0001/balances")
	assert.Contains(t, text("#live"), "Last request")

	step("the Install view shows the config for the key, with a 20m polling period and no page size",
		chromedp.Click(chromedp.ID("btn-install")),
		chromedp.WaitVisible(chromedp.ID("panel-install")),
		setField("install-stack", "https://acme-sandbox.eu-west-1.formance.cloud"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#install-curl").textContent.includes("acme-sandbox")`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	assert.Contains(t, text("#install-config"), `"apiKey": "`+key+`"`)
	assert.Contains(t, text("#install-config"), `"pollingPeriod": "20m"`)
	assert.Contains(t, text("#install-curl"), "/api/payments/v3/connectors/install/generic")
	for _, sel := range []string{"#install-config", "#install-fctl", "#install-curl"} {
		assert.NotContains(t, text(sel), "pageSize", sel)
	}
	visible := func(js string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		require.NoError(t, err)
		return v
	}
	assert.False(t, visible(`document.getElementById("install-page-size") !== null || document.querySelector('#install [name="pageSize"]') !== null`),
		"the form has no page size field")
	assert.False(t, visible(`!document.getElementById("install-note").hidden`), "no note for 20m")
	assert.Contains(t, text("#panel-install .hint"), "connector-polling-period-minimum")

	step("a polling period below 20m shows the note",
		setField("install-polling", "10s"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#install-config").textContent.includes('"10s"')`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.WaitVisible(chromedp.ID("install-note")),
	)
	note := text("#install-note")
	assert.Contains(t, note, "refuses a polling period below 20m")
	assert.Contains(t, note, "self-hosted")
	assert.Contains(t, note, "connector-polling-period-minimum")
	assert.NotContains(t, text("#install-curl"), "pageSize")

	step("back to 20m hides the note",
		setField("install-polling", "20m"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#install-config").textContent.includes('"20m"')`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.WaitNotVisible(chromedp.ID("install-note")),
	)

	if path := os.Getenv(screenshotEnv); path != "" {
		takeScreenshot(t, ctx, srv.URL, key, path)
	}
}

// takeScreenshot adds a little variety to the data (a payout from "Formance", a dispute, a bank
// account, a few more polls) and saves a full-page PNG of the panel.
func takeScreenshot(t *testing.T, ctx context.Context, base, key, path string) {
	c := client{t: t, base: base, key: key}
	c.want(http.StatusCreated, "POST", "/admin/api/bank-accounts", map[string]string{"name": "Settlement account", "iban": "FR7630006000011234567890189", "country": "FR"}, nil)
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 6}, nil)
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("formance-pi-42", "12500", "acc_0001", "ben_0001"), nil)
	c.applyAction("tx_0005", ActionDispute)
	p := connectortest.NewPoller(connectortest.Target{BaseURL: base, APIKey: key}, 25)
	_, err := p.Cycle(t.Context())
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("btn-install")), // close the Install view
		chromedp.Click(chromedp.ID("btn-refresh")),
		chromedp.WaitVisible(chromedp.CSS(`#payouts-table tr[data-id] .origin-formance`)),
	))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("message").hidden = true`))
	require.NoError(t, err)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot saved to %s", path)
}
