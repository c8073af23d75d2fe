package connectortest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// runRecorded runs the checks against target on a recorder and returns it.
func runRecorded(t *testing.T, target Target, opts Options) *recorder {
	t.Helper()
	rec := newRecorder(t.Context())
	done := make(chan struct{})
	go func() { // run may call FailNow on the recorder, which ends its goroutine
		defer close(done)
		run(rec, target, opts)
	}()
	<-done
	return rec
}

// refChanges is an Options.Changes for refServer: it moves three transactions to a new status, with
// a new updatedAt unless keepUpdatedAt.
func refChanges(s *refServer, keepUpdatedAt bool) func(context.Context) error {
	n := 0
	return func(context.Context) error {
		for range 3 {
			n++
			s.setStatus(itemID("tx", n*7, 120), models.TransactionStatusRefunded, !keepUpdatedAt)
		}
		return nil
	}
}

// TestRunReferenceServer: the hand-written reference server, without faults, passes every check,
// so each fault below is what makes its check fail.
func TestRunReferenceServer(t *testing.T) {
	s := newRefServer(faultNone)
	Run(t, Target{Handler: s.handler(), APIKey: testKey}, Options{PageSizes: []int{1, 7, 25}, Changes: refChanges(s, false)})
}

// TestRunFaults: for every check, a deliberately broken target makes exactly the listed checks fail,
// and the findings of the first one name the fault: route, query and item.
func TestRunFaults(t *testing.T) {
	tests := []struct {
		fault fault
		// aim is the check the fault is aimed at.
		aim string
		// also lists the other checks that must fail, and no other may: some faults also lose or
		// duplicate data at Formance, which the sync check rightly reports.
		also []string
		// want are substrings of one finding of the aimed check.
		want    []string
		changes bool // run with a Changes hook that forgets to move updatedAt
	}{
		{fault: faultNoAuth, aim: "auth",
			want: []string{"GET /accounts?page=1&pageSize=1&sort=createdAt:asc without Authorization header: answered 200, want 401"}},
		{fault: faultPlain401, aim: "auth",
			want: []string{"GET /transactions?page=1&pageSize=1&sort=updatedAt:asc with a wrong API key: 401 as it should, but error body is not {\"Title\": ..., \"Detail\": ...}", "unauthorized"}},
		{fault: faultParam500, aim: "parameters",
			want: []string{"GET /accounts?page=0&pageSize=10&sort=createdAt:asc: answered 500, want 400"}},
		{fault: faultLenientParams, aim: "parameters",
			want: []string{"GET /transactions?page=1&pageSize=10&sort=updatedAt:asc&updatedAtFrom=1700000000: answered 200, want 400"}},
		{fault: faultUnsorted, aim: "order", also: []string{"sync"},
			want: []string{"GET /accounts?page=1&pageSize=7&sort=createdAt:asc: acc_0039", "comes after acc_0040", "not sorted ascending by createdAt"}},
		{fault: faultExclusiveFrom, aim: "order",
			want: []string{"GET /accounts?page=1..", "&createdAtFrom=2024-01-01T00:00:20Z: acc_0021 (createdAt 2024-01-01T00:00:20Z) missing", "inclusive"}},
		{fault: faultCappedPageSize, aim: "tiling", also: []string{"sync"},
			want: []string{"GET /accounts?page=1&pageSize=25&sort=createdAt:asc: 20 items, fewer than pageSize=25, yet page 2 has", "silently capped at 20"}},
		{fault: faultDuplicateAcross, aim: "tiling", also: []string{"sync"},
			want: []string{"GET /accounts?page=2&pageSize=7&sort=createdAt:asc: acc_0007 also on page 1"}},
		{fault: faultBadEnum, aim: "schema", also: []string{"sync"},
			want: []string{"GET /transactions?page=1&pageSize=1000&sort=updatedAt:asc: transaction tx_0003: field \"status\": \"PROCESSED\" is not a transaction status"}},
		{fault: faultFloatAmount, aim: "schema", also: []string{"sync"},
			want: []string{"transaction tx_0003: field \"amount\": must be a JSON string holding an integer in minor units", "got 10.5"}},
		{fault: faultDecimalAmount, aim: "schema", also: []string{"sync"},
			want: []string{"transaction tx_0003: field \"amount\": \"10.00\" is not an integer in minor units"}},
		{fault: faultLowercaseAsset, aim: "schema", also: []string{"engine", "sync"},
			want: []string{"transaction tx_0003: field \"currency\": \"usd/2\" is not a UMN asset"}},
		{fault: faultWrongCasing, aim: "schema",
			want: []string{"transaction tx_0003: field \"sourceAccountId\": wrong casing: the contract names it \"sourceAccountID\""}},
		{fault: faultUnknownField, aim: "schema",
			want: []string{"GET /accounts?page=1&pageSize=1000&sort=createdAt:asc: account acc_0002: field \"colour\": unknown field"}},
		{fault: faultMissingField, aim: "schema", also: []string{"sync"},
			want: []string{"account acc_0002: field \"accountName\": is required but missing"}},
		{fault: faultBadTime, aim: "schema", also: []string{"sync"},
			want: []string{"account acc_0002: field \"createdAt\": \"2024-01-01 10:00:00\" is not an RFC 3339 date-time"}},
		{fault: faultBalancesMismatch, aim: "schema",
			want: []string{"GET /accounts/acc_0001/balances: field \"accountID\" is \"acc_9999\", want \"acc_0001\""}},
		{fault: faultMissingBalances, aim: "schema", also: []string{"sync"},
			want: []string{"GET /accounts/acc_0003/balances: answered 404, want 200: every listed account must have balances"}},
		{fault: faultIgnoreIdempotency, aim: "writes",
			want: []string{"POST /payouts (idempotencyKey=", "sent again: answered payout po_2, but the first answer was po_1: a retried payout would move money twice"}},
		{fault: faultAcceptConflict, aim: "writes",
			want: []string{"with another amount (101 instead of 100): answered 200 with the first payout, want 409"}},
		{fault: faultAcceptMissingFields, aim: "writes",
			want: []string{"POST /payouts without \"amount\": answered", "want 400: \"amount\" is required"}},
		{fault: faultInFlight409, aim: "writes",
			want: []string{"POST /payouts (idempotencyKey=", "-payout-concurrent) sent 20 times at once: 19 answered 409, a final error: Formance would mark the payout FAILED while the first request may still move money",
				"423 Locked with Retry-After"}},
		{fault: faultPayouts501, aim: "writes",
			want: []string{"POST /payouts (idempotencyKey=", "answered 501: Formance retries every 5xx (501 included) for ever, so the payment initiation would never end",
				"must answer a final 4xx, e.g. 405, whose Detail names the missing capability"}},
		{fault: faultRowWithoutLink, aim: "writes",
			want: []string{"GET /transactions?page=1&pageSize=1000&sort=updatedAt:asc: transaction po_1, the row of payout po_1 created by POST /payouts (idempotencyKey=",
				"carries type \"PAYOUT\" and no relatedTransactionID, want type \"PAYOUT\" and relatedTransactionID \"connectortest-",
				"Formance keeps it as a second, unrelated payment and the payment initiation stays PENDING for ever"}},
		{fault: faultRowWrongType, aim: "writes",
			want: []string{"transaction tr_3, the row of transfer tr_3 created by POST /transfers (idempotencyKey=",
				"carries type \"PAYOUT\" and relatedTransactionID \"connectortest-", "-transfer-1\", want type \"TRANSFER\" and relatedTransactionID \"connectortest-"}},
		{fault: faultCapped100, aim: "tiling",
			want: []string{"GET /transactions?page=1&pageSize=250&sort=updatedAt:asc: 100 items, fewer than pageSize=250, and page 2 is empty, yet the full listing",
				"has 120 items, 20 of them on no page", "pageSize is silently capped at 100"}},
		{fault: faultPrefixKey, aim: "auth",
			want: []string{"GET /accounts?page=1&pageSize=1&sort=createdAt:asc with only the first character of the API key: answered 200, want 401: the middleware serves anyone"}},
		{fault: faultKeySuffix, aim: "auth",
			want: []string{"GET /transactions?page=1&pageSize=1&sort=updatedAt:asc with the API key followed by one more character: answered 200, want 401"}},
		{fault: faultKeyCase, aim: "auth",
			want: []string{"GET /beneficiaries?page=1&pageSize=1&sort=createdAt:asc with the API key in another case: answered 200, want 401"}},
		{fault: faultAnyScheme, aim: "auth",
			want: []string{"GET /accounts/acc_0001/balances with the API key under the Basic scheme (\"Authorization: Basic <key>\"): answered 200, want 401"}},
		{fault: faultLastAuthHeader, aim: "auth",
			want: []string{"GET /accounts?page=1&pageSize=1&sort=createdAt:asc with two Authorization headers, a wrong key first and the API key second: answered 200, want 401"}},
		{fault: faultSharedID, aim: "engine",
			want: []string{"GET /beneficiaries?page=1&pageSize=1000&sort=createdAt:asc: beneficiary acc_0002 has the id of an account (GET /accounts?page=1&pageSize=1000&sort=createdAt:asc)", "one id space"}},
		{fault: faultDottedAsset, aim: "engine", also: []string{"schema", "sync"},
			want: []string{"GET /transactions?page=1&pageSize=1000&sort=updatedAt:asc: transaction tx_0003: asset \"USDC.E/6\" does not match Formance's pattern"}},
		{fault: faultLongAsset, aim: "engine",
			want: []string{"transaction tx_0003: asset \"ABCDEFGHIJKLMNOPQR/2\" does not match Formance's pattern ^[A-Z][A-Z0-9]{0,16}(_[A-Z]{1,16})?(/[0-9]{1,6})?$", "its engine refuses it"}},
		{fault: faultBalancesFixedAt, aim: "engine",
			want: []string{"GET /accounts/acc_0001/balances: asked twice, answered \"at\" 2024-01-01T00:00:00Z both times, with amount", "Formance keys a balance by (account, at to the microsecond, asset)"}},
		{fault: faultNone, changes: true, aim: "changes",
			want: []string{"polling cycle after Options.Changes: transaction tx_0008", "never arrived: it changed, but its updatedAt is 2024-01-01T00:00:07Z, not after S=2024-01-01T00:01:59Z", "a change must move updatedAt strictly forward", "(it kept its previous time)"}},
	}
	for _, tt := range tests {
		name := string(tt.fault)
		if tt.changes {
			name = "change without a new updatedAt"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newRefServer(tt.fault)
			opts := Options{PageSizes: []int{7, 25}}
			if tt.changes {
				opts.Changes = refChanges(s, true)
			}
			rec := runRecorded(t, Target{Handler: s.handler(), APIKey: testKey}, opts)
			failing := append([]string{tt.aim}, tt.also...)
			slices.Sort(failing)
			require.Equal(t, failing, rec.failedChecks(), "failing checks; findings:\n%s", rec.dump())
			assertFinding(t, rec, tt.aim, tt.want...)
		})
	}
}

// assertFinding asserts that one finding of check contains every part of want.
func assertFinding(t *testing.T, rec *recorder, check string, want ...string) {
	t.Helper()
	msgs := rec.messages(check)
	for _, m := range msgs {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(m, w)
		}
		if ok {
			return
		}
	}
	assert.Fail(t, "no finding names the fault", "check %q, want a finding containing %q; findings:\n%s", check, want, strings.Join(msgs, "\n"))
}

// TestRunCoarseTimestamps: second-precision timestamps, about 3 items a second, pageSize 25.
// Served as they are (NewLossyMemoryProvider), Formance's poller loses accounts that share a
// second across a page cut, and the sync check names them; served from feeds (NewMemoryProvider)
// nothing is lost.
func TestRunCoarseTimestamps(t *testing.T) {
	spec := GenSpec{Seed: 11, Accounts: 300, Beneficiaries: 30, Transactions: 30, Precision: time.Second, PerSecond: 3}

	t.Run("served as they are loses items", func(t *testing.T) {
		p := NewLossyMemoryProvider()
		require.NoError(t, p.Load(Generate(spec)))
		_, target := serveProvider(t, p)
		rec := runRecorded(t, target, Options{PageSizes: []int{25}, SkipWrites: true})
		require.Equal(t, []string{"sync"}, rec.failedChecks(), "findings:\n%s", rec.dump())
		assertFinding(t, rec, "sync", "pageSize=25: first polling cycle (from scratch): account acc_", "never arrived",
			"cut its result after another account with the same createdAt and set S to that time")
	})
	t.Run("tie-breaking loses nothing", func(t *testing.T) {
		_, target := serveMemory(t, Generate(spec))
		rec := runRecorded(t, target, Options{PageSizes: []int{25}, SkipWrites: true})
		assert.Empty(t, rec.failedChecks(), "findings:\n%s", rec.dump())
	})
}

// TestRunWritesVariants: correct middlewares that differ from the default refServer pass the writes
// check, which logs what it could not check.
func TestRunWritesVariants(t *testing.T) {
	type logLine struct {
		check string   // the sub-test, e.g. "writes/payouts"
		want  []string // substrings of one of its log lines
	}
	concurrent423 := func(object string) logLine {
		return logLine{"writes/" + object + "s", []string{"-" + object + "-concurrent) sent 20 times at once: answered 19 × 423, asking for a retry"}}
	}
	tests := []struct {
		name    string
		variant fault
		logs    []logLine
		missing string // no log line of writes contains it
	}{
		{name: "in-flight duplicates answered 423, rows linked", variant: faultNone,
			logs: []logLine{concurrent423("payout"), concurrent423("transfer")}, missing: "is not checked"},
		{name: "payouts not offered (405)", variant: variantPayouts405,
			logs: []logLine{
				{"writes/payouts", []string{"POST /payouts (idempotencyKey=", "answered 405, a final error: the middleware does not offer payouts; not checked"}},
				concurrent423("transfer"), // transfers are still checked
			},
			missing: "is not checked"},
		{name: "no transaction rows for payouts and transfers", variant: variantNoRows,
			logs: []logLine{
				{"writes/payouts", []string{"created payout po_1, but no transaction po_1 is listed by GET /transactions", "its link to Formance's payment is not checked"}},
				{"writes/transfers", []string{"created transfer tr_4, but no transaction tr_4 is listed"}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRefServer(tt.variant)
			rec := runRecorded(t, Target{Handler: s.handler(), APIKey: testKey}, Options{PageSizes: []int{25}})
			require.Empty(t, rec.failedChecks(), "findings:\n%s", rec.dump())
			for _, ll := range tt.logs {
				logs := rec.logLines(ll.check)
				assert.True(t, slices.ContainsFunc(logs, func(l string) bool {
					for _, w := range ll.want {
						if !strings.Contains(l, w) {
							return false
						}
					}
					return true
				}), "want a log line of %s containing %q; log:\n%s", ll.check, ll.want, strings.Join(logs, "\n"))
			}
			if tt.missing != "" {
				for _, l := range rec.logLines("writes") {
					assert.NotContains(t, l, tt.missing)
				}
			}
		})
	}
}
