package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// screenshotsEnv, when set to a directory, makes TestBrowserTutorial save its screenshots there:
// mockpsp-admin.png (the whole panel), mockpsp-install.png (the Install view with the note on the
// minimum polling period) and mockpsp-phone.png (the panel at phone width). The docs use docs/.
const screenshotsEnv = "MOCKPSP_SCREENSHOTS"

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
	// The profile is cleaned up after the browser has exited (cleanups run last-in first-out); the
	// budget covers the whole tutorial, on a loaded machine under -race.
	profile := t.TempDir()
	parent, cancelTimeout := context.WithTimeout(context.Background(), 4*time.Minute)
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

// browser is one headless Chromium tab on the mock, with the helpers the tutorial's steps use.
type browser struct {
	t   *testing.T
	ctx context.Context
	srv string
}

// step runs actions as one step of the tutorial; on failure it reports what the page shows.
func (b browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("%s: %v\n--- the page shows:\n%s", what, err, page)
	}
}

// text returns the visible text of the first element matching the CSS selector.
func (b browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, "reading %s", sel)
	return s
}

// eval returns the value of a JavaScript expression (a promise is awaited).
func eval[T any](b browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "evaluating %s", js)
	return v
}

// until waits for a JavaScript condition to hold.
func until(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second))
}

// shows waits until the element matching sel shows text.
func shows(sel, text string) chromedp.Action[chromedp.Void] {
	return until(fmt.Sprintf(`(document.querySelector(%s)?.innerText || "").includes(%s)`, jsString(sel), jsString(text)))
}

func row(table, id string) chromedp.CSS {
	return chromedp.CSS(`#` + table + ` tbody tr[data-id="` + id + `"]`)
}

func (b browser) screenshot(name string, shot chromedp.Action[[]byte]) {
	b.t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return
	}
	_, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`getSelection().removeAllRanges(), true`))
	require.NoError(b.t, err)
	png, err := chromedp.Run(b.ctx, shot)
	require.NoError(b.t, err)
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot saved to %s", path)
}

// TestBrowserTutorial walks Formance's Generic Connector tutorial in the real panel, in headless
// Chromium, as a newcomer would, with a poller that behaves like Formance on the other side; each
// step asserts what the page shows. The test script runs it with PSPCONNECT_REQUIRE_BROWSER=1.
func TestBrowserTutorial(t *testing.T) {
	chromium := findChromium(t)
	srv, _ := startMock(t, config{})
	const key = "browser-test"
	b := browser{t: t, ctx: newBrowser(t, chromium), srv: srv.URL}
	formance := client{t: t, base: srv.URL, key: key}
	poller := connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: key}, 100)

	// 1. The address the mock prints at start leads to the panel.
	b.step("open the mock's address",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("welcome")),
	)
	assert.Equal(t, "/admin/", eval[string](b, `location.pathname`), "GET / leads to the panel")

	// 2. A key the middleware would refuse is refused here, with the reason.
	b.step("a key with a space is refused",
		setField("api-key", "Acme Test"),
		chromedp.Click(chromedp.ID("use-key")),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="error"]`)),
	)
	assert.Contains(t, b.text("#message"), "This key cannot be used")
	assert.Contains(t, b.text("#message"), "white space at byte 4")
	assert.True(t, eval[bool](b, `document.getElementById("workspace").hidden`), "no dataset opens for a refused key")
	assert.True(t, eval[bool](b, `document.getElementById("api-key").classList.contains("invalid")`))

	b.step("a valid key opens its dataset",
		setField("api-key", key),
		chromedp.Click(chromedp.ID("use-key")),
		chromedp.WaitVisible(chromedp.ID("workspace")),
		chromedp.WaitNotVisible(chromedp.ID("welcome")),
		chromedp.WaitNotVisible(chromedp.ID("message")),
		shows("#live", "No request with this key yet"),
	)

	// 3. New: accounts (one with an opening balance), a beneficiary, a bank account.
	b.step("create accounts with New",
		chromedp.Click(chromedp.ID("btn-new")),
		chromedp.WaitVisible(chromedp.ID("panel-new")),
		setField("acc-name", "Operating EUR"),
		setField("acc-asset", "EUR/2"),
		setField("acc-opening", "500000"),
		chromedp.Click(chromedp.ID("acc-submit")),
		chromedp.WaitVisible(row("accounts-table", "acc_0001")),
		setField("acc-name", "Reserve EUR"),
		setField("acc-asset", "EUR/2"),
		chromedp.Click(chromedp.ID("acc-submit")),
		chromedp.WaitVisible(row("accounts-table", "acc_0002")),
		setField("ben-name", "Northwind Traders"),
		chromedp.Click(chromedp.ID("ben-submit")),
		chromedp.WaitVisible(row("beneficiaries-table", "ben_0001")),
	)
	assert.Contains(t, b.text(`#accounts-table tr[data-id="acc_0001"]`), "5000.00 EUR", "the opening balance")
	assert.Contains(t, b.text(`#accounts-table tr[data-id="acc_0002"]`), "0.00 EUR")
	assert.Equal(t, "", eval[string](b, `document.getElementById("acc-name").value`), "the form clears after a create")
	assert.Equal(t, "USD/2", eval[string](b, `document.getElementById("acc-asset").value`), "back to its default")

	b.step("a mistyped IBAN marks that field only",
		setField("bank-name", "Settlement account"),
		setField("bank-iban", "FR7630006000011234567890188"),
		chromedp.Click(chromedp.ID("bank-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="error"]`)),
	)
	assert.Contains(t, b.text("#message"), "check digits 76 are wrong")
	b.step("the IBAN pasted in groups of four is created",
		setField("bank-iban", "FR76 3000 6000 0112 3456 7890 189"),
		setField("bank-country", "FR"),
		chromedp.Click(chromedp.ID("bank-submit")),
		chromedp.WaitVisible(row("bank-accounts-table", "bank_0001")),
	)
	assert.Contains(t, b.text("#bank-accounts-table"), "FR7630006000011234567890189")
	assert.Equal(t, "", eval[string](b, `document.getElementById("bank-iban").value`))

	// 4. Generate: refused input is quoted as typed; batches never drive an account negative.
	b.step("a count that is no number is refused as typed",
		chromedp.Click(chromedp.ID("btn-generate")),
		chromedp.WaitVisible(chromedp.ID("panel-generate")),
		setField("gen-count", "abc"),
		chromedp.Click(chromedp.ID("gen-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="error"]`)),
	)
	assert.Contains(t, b.text("#message"), `count "abc" is not a whole number`)
	b.step("generate six succeeded pay-ins",
		setField("gen-count", "6"),
		setField("gen-type", "PAYIN"),
		setField("gen-status", "SUCCEEDED"),
		chromedp.Click(chromedp.ID("gen-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="ok"]`)),
		chromedp.WaitVisible(row("transactions-table", "tx_0006")),
	)
	assert.Contains(t, b.text("#message"), "Generated 6 transactions")
	assert.Equal(t, "10", eval[string](b, `document.getElementById("gen-count").value`), "the form clears after a batch")
	b.step("generate a mix",
		setField("gen-count", "12"),
		chromedp.Click(chromedp.ID("gen-submit")),
		chromedp.WaitVisible(row("transactions-table", "tx_0018")),
	)
	assert.Zero(t, eval[int](b, `document.querySelectorAll("#accounts-table .balances .neg").length`), "no balance went negative")

	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.Len(t, cy.Accounts, 2, "Formance's first poll brings every account")
	assert.Len(t, cy.Beneficiaries, 1)
	assert.Len(t, cy.Transactions, 18)

	// 5. Lifecycle actions: the next poll brings each change.
	b.step("refund a payment, lose a dispute on another",
		chromedp.Click(chromedp.CSS(`#transactions-table tr[data-id="tx_0003"] button[data-action="refund"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#transactions-table tr[data-id="tx_0003"][data-status="REFUNDED"]`)),
		chromedp.Click(chromedp.CSS(`#transactions-table tr[data-id="tx_0005"] button[data-action="dispute"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#transactions-table tr[data-id="tx_0005"][data-status="DISPUTE"]`)),
		chromedp.Click(chromedp.CSS(`#transactions-table tr[data-id="tx_0005"] button[data-action="lose_dispute"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#transactions-table tr[data-id="tx_0005"][data-status="DISPUTE_LOST"]`)),
	)
	assert.Contains(t, b.text("#message"), "tx_0005 is now DISPUTE_LOST")
	cy, err = poller.Cycle(t.Context())
	require.NoError(t, err)
	got := map[string]models.TransactionStatus{}
	for _, tx := range cy.Transactions {
		got[tx.ID] = tx.Status
	}
	assert.Equal(t, map[string]models.TransactionStatus{"tx_0003": "REFUNDED", "tx_0005": "DISPUTE_LOST"}, got, "only the changes arrive")

	// 6. Payouts from Formance: one without the funds is refused (Formance's FAILED path), one
	// with them is settled from the panel and its row follows the payment initiation.
	detail := formance.errorDetail(http.StatusBadRequest, "POST", "/payouts", map[string]any{"idempotencyKey": "pi-too-much",
		"amount": "99999999", "currency": "EUR/2", "sourceAccountId": "acc_0002", "destinationAccountId": "ben_0001"})
	assert.Contains(t, detail, "insufficient funds: account acc_0002")
	var payout models.Payout
	formance.want(http.StatusCreated, "POST", "/payouts", map[string]any{"idempotencyKey": "pi-rent",
		"amount": "12500", "currency": "EUR/2", "sourceAccountId": "acc_0001", "destinationAccountId": "ben_0001"}, &payout)
	b.step("the refused payout is in the request log, the other in the payouts table",
		shows("#requests-table", "/payouts"),
		until(`[...document.querySelectorAll("#requests-table tbody tr")].some(r => r.innerText.includes("/payouts") && r.innerText.includes("400"))`),
		chromedp.WaitVisible(row("payouts-table", payout.ID)),
	)
	assert.Contains(t, b.text(`#payouts-table tr[data-id="`+payout.ID+`"]`), "Formance")
	b.step("settle the payout from the panel",
		chromedp.Click(chromedp.CSS(`#payouts-table tr[data-id="`+payout.ID+`"] button[data-action="succeed"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#payouts-table tr[data-id="`+payout.ID+`"][data-status="SUCCEEDED"]`)),
	)
	assert.Equal(t, "Succeed", b.text(`#transactions-table button[data-action="succeed"]`), "one label per action in every table")
	cy, err = poller.Cycle(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, cy.Transactions)
	last := cy.Transactions[len(cy.Transactions)-1]
	assert.Equal(t, payout.ID, last.ID)
	assert.Equal(t, "pi-rent", last.RelatedTransactionID, "the row joins its payment initiation")
	assert.Equal(t, models.TransactionStatusSucceeded, last.Status)

	// 7. The Install view: no page size, 20m, the note on the minimum for a shorter period, the
	// Docker hint, and bad input marking only its field.
	b.step("open the Install view",
		chromedp.Click(chromedp.ID("btn-install")),
		chromedp.WaitVisible(chromedp.ID("panel-install")),
		setField("install-stack", "https://acme-sandbox.eu-west-1.formance.cloud"),
		shows("#install-curl", "acme-sandbox"),
	)
	assert.Contains(t, b.text("#install-config"), `"apiKey": "`+key+`"`)
	assert.Contains(t, b.text("#install-config"), `"pollingPeriod": "20m"`)
	assert.Contains(t, b.text("#install-curl"), "/api/payments/v3/connectors/install/generic")
	for _, sel := range []string{"#install-config", "#install-fctl", "#install-curl"} {
		assert.NotContains(t, b.text(sel), "pageSize", sel)
	}
	assert.True(t, eval[bool](b, `document.getElementById("install-note").hidden`), "no note for 20m")
	assert.Contains(t, b.text("#panel-install .hint"), "connector-polling-period-minimum")
	port := strings.TrimPrefix(srv.URL[strings.LastIndex(srv.URL, ":"):], ":")
	assert.Contains(t, b.text("#docker-endpoint"), "http://host.docker.internal:"+port)

	b.step("a 30s polling period shows the note on the minimum",
		setField("install-polling", "30s"),
		shows("#install-config", `"30s"`),
		chromedp.WaitVisible(chromedp.ID("install-note")),
	)
	note := b.text("#install-note")
	assert.Contains(t, note, "refuses a polling period below 20m")
	assert.Contains(t, note, "connector-polling-period-minimum")
	b.screenshot("mockpsp-install.png", chromedp.Screenshot(chromedp.ID("panel-install")))

	b.step("a bad polling period marks that field and shows no stale config",
		setField("install-polling", "soon"),
		chromedp.WaitVisible(chromedp.CSS(`#message[data-kind="error"]`)),
		shows("#install-config", "Fix the marked field"),
	)
	assert.Contains(t, b.text("#message"), `polling period "soon"`)
	assert.Equal(t, []string{"pollingPeriod"}, eval[[]string](b, `[...document.querySelectorAll("#install .invalid")].map(e => e.name)`))
	assert.NotContains(t, b.text("#install-curl"), `"30s"`, "no config from stale values")
	b.step("fixing it brings the config back and clears the error",
		setField("install-polling", "30s"),
		shows("#install-config", `"30s"`),
		chromedp.WaitNotVisible(chromedp.ID("message")),
	)
	assert.Zero(t, eval[int](b, `document.querySelectorAll("#install .invalid").length`))
	b.step("the Docker endpoint is one click",
		chromedp.Click(chromedp.ID("use-docker")),
		shows("#install-config", "host.docker.internal:"+port),
	)
	b.step("close the Install view", chromedp.Click(chromedp.ID("btn-install")), chromedp.WaitNotVisible(chromedp.ID("panel-install")))

	// 8. A stack configured with a refused key, and one with a typo'd key: both are visible.
	status, _, _ := rawGet(t, srv.URL, "/transactions?page=1&pageSize=100&sort=updatedAt:asc", "Bearer Acme Test", "application/json")
	require.Equal(t, http.StatusUnauthorized, status)
	_, err = connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: "browser-tset"}, 100).Cycle(t.Context())
	require.NoError(t, err)
	b.step("the request log shows the refused poll and the typo'd key",
		shows("#stray-table", "401"),
		shows("#stray-table", "no data for this key"),
	)
	stray := b.text("#stray-table")
	assert.Contains(t, stray, "Acme…(9 characters)")
	assert.Contains(t, stray, "malformed Authorization header")
	assert.Contains(t, stray, "brow…(12 characters)")
	assert.NotContains(t, stray, "Acme Test", "never the whole key")
	assert.NotContains(t, stray, "browser-tset")

	// 9. Live refresh keeps the person's selection and scroll position.
	selected := eval[string](b, `(() => {
		const r = document.createRange();
		r.selectNodeContents(document.querySelector('#transactions-table tbody tr code'));
		getSelection().removeAllRanges(); getSelection().addRange(r);
		window.scrollTo(0, 300);
		return getSelection().toString();
	})()`)
	require.NotEmpty(t, selected)
	before := b.text("#count-transactions")
	formance.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 1, "type": "PAYIN"}, nil)
	b.step("a refresh with new data", until(`document.getElementById("count-transactions").innerText !== `+jsString(before)))
	assert.Equal(t, selected, eval[string](b, `getSelection().toString()`), "the selection survives the refresh")
	assert.Equal(t, 300, eval[int](b, `Math.round(window.scrollY)`), "so does the scroll position")
	b.step("the table catches up once nothing is selected",
		chromedp.Evaluate[chromedp.Void](`getSelection().removeAllRanges()`),
		chromedp.WaitVisible(row("transactions-table", "tx_0020")),
	)

	// 10. Export: the whole dataset, to reconcile with what Formance shows.
	b.step("export the dataset",
		chromedp.Click(chromedp.ID("btn-export")),
		shows("#message", "Exported 2 accounts"),
	)
	totals := formance.state().Totals
	assert.Contains(t, b.text("#message"), fmt.Sprintf("20 transactions, %d payouts and %d transfers", totals["payouts"], totals["transfers"]))
	var exported exportView
	require.NoError(t, json.Unmarshal([]byte(eval[string](b, `fetch(document.getElementById("export-link").href).then(r => r.text())`)), &exported))
	assert.Equal(t, TenantOf(key), exported.Tenant)
	assert.Len(t, exported.Transactions, 20)
	for _, tx := range exported.Transactions {
		if tx.ID == "tx_0005" {
			var statuses []models.TransactionStatus
			for _, h := range tx.History {
				statuses = append(statuses, h.Status)
			}
			assert.Equal(t, []models.TransactionStatus{"SUCCEEDED", "DISPUTE", "DISPUTE_LOST"}, statuses)
		}
	}
	require.Len(t, exported.Payouts, totals["payouts"])
	i := slices.IndexFunc(exported.Payouts, func(o orderView) bool { return o.ID == payout.ID })
	require.GreaterOrEqual(t, i, 0, "the payout from Formance is exported")
	assert.Equal(t, "pi-rent", exported.Payouts[i].IdempotencyKey)
	assert.Equal(t, "formance", exported.Payouts[i].Origin)
	assert.Equal(t, models.TransactionStatusSucceeded, exported.Payouts[i].Status)
	b.screenshot("mockpsp-admin.png", chromedp.FullScreenshot(100))

	// 11. At phone width the page never scrolls sideways, and action buttons stay on one line.
	b.step("phone width", chromedp.EmulateViewport(390, 844), chromedp.Sleep(300*time.Millisecond))
	assert.LessOrEqual(t, eval[int](b, `document.documentElement.scrollWidth`), 390, "no sideways scroll of the page")
	assert.Zero(t, eval[int](b, `[...document.querySelectorAll(".actions")].filter(a => a.children.length &&
		a.offsetHeight > a.children[0].offsetHeight * 1.5).length`), "action buttons never wrap")
	b.step("scroll to the transactions", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.getElementById("transactions-table").closest(".card").offsetTop - 8)`))
	b.screenshot("mockpsp-phone.png", chromedp.CaptureScreenshot())
	b.step("back to desktop width", chromedp.EmulateViewport(1440, 1000))
}
