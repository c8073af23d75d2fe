package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

func TestParseFlags(t *testing.T) {
	t.Setenv(webhookSecretEnv, "")
	tests := []struct {
		args    []string
		want    config
		wantErr string
	}{
		{args: nil, want: config{Addr: ":8080"}},
		{
			args: []string{"-addr", "127.0.0.1:9000", "-seed-key", "demo", "-seed-accounts", "3", "-seed-beneficiaries", "2", "-seed-transactions", "50", "-timestamp-precision", "1s"},
			want: config{Addr: "127.0.0.1:9000", SeedKey: "demo", SeedAccounts: 3, SeedBeneficiaries: 2, SeedTransactions: 50, TimestampPrecision: time.Second},
		},
		{args: []string{"-seed-key", "demo"}, want: config{Addr: ":8080", SeedKey: "demo"}},
		{args: []string{"-postgres", "postgres://u:p@db:5432/mock"}, want: config{Addr: ":8080", Postgres: "postgres://u:p@db:5432/mock"}},
		{args: []string{"-seed-accounts", "2"}, wantErr: "-seed-key"},
		{args: []string{"-seed-key", "k", "-seed-accounts", "-1"}, wantErr: "negative"},
		{args: []string{"-seed-key", "k", "-seed-transactions", "5"}, wantErr: "-seed-accounts"},
		{args: []string{"-timestamp-precision", "-1s"}, wantErr: "negative"},
		{args: []string{"-timestamp-precision", "soon"}, wantErr: "invalid value"},
		{args: []string{"extra"}, wantErr: "unexpected arguments"},
		{
			args: []string{"-webhook-url", "http://localhost:8081/webhooks", "-webhook-secret", "s3"},
			want: config{Addr: ":8080", WebhookURL: "http://localhost:8081/webhooks", WebhookSecret: "s3"},
		},
		{
			args: []string{"-addr", ":8081", "-webhook-receiver", "-webhook-secret", "s3"},
			want: config{Addr: ":8081", WebhookReceiver: true, WebhookSecret: "s3"},
		},
		{args: []string{"-webhook-url", "http://localhost:8081/webhooks"}, wantErr: "-webhook-secret"},
		{args: []string{"-webhook-receiver"}, wantErr: "-webhook-secret"},
		{args: []string{"-webhook-url", "localhost:8081", "-webhook-secret", "s"}, wantErr: "absolute http(s) URL"},
		{args: []string{"-webhook-receiver", "-webhook-secret", "s", "-seed-key", "k"}, wantErr: "runs no PSP"},
		{args: []string{"-webhook-receiver", "-webhook-secret", "s", "-webhook-url", "http://x/y"}, wantErr: "runs no PSP"},
		{args: []string{"-max-tenants", "5", "-request-log-size", "7"}, want: config{Addr: ":8080", MaxTenants: 5, RequestLogSize: 7}},
		{args: []string{"-max-tenants", "0"}, wantErr: "-max-tenants (0)"},
		{args: []string{"-request-log-size", "-1"}, wantErr: "-request-log-size (-1)"},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.args, io.Discard)
		if tt.wantErr != "" {
			require.Error(t, err, "%q", tt.args)
			assert.Contains(t, err.Error(), tt.wantErr, "%q", tt.args)
			continue
		}
		require.NoError(t, err, "%q", tt.args)
		tt.want.MaxTenants = cmp.Or(tt.want.MaxTenants, defaultMaxTenants)
		tt.want.RequestLogSize = cmp.Or(tt.want.RequestLogSize, defaultRequestLogSize)
		assert.Equal(t, tt.want, got, "%q", tt.args)
	}
	var help bytes.Buffer
	_, err := parseFlags([]string{"-h"}, &help)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	assert.Contains(t, help.String(), "-postgres URL")
	assert.Contains(t, help.String(), "several processes on one database are one PSP")
	t.Setenv(webhookSecretEnv, "from-the-env")
	cfg, err := parseFlags([]string{"-webhook-receiver"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-the-env", cfg.WebhookSecret)
	help.Reset()
	_, err = parseFlags([]string{"-h"}, &help)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.NotContains(t, help.String(), "from-the-env", "-h never prints the secret")
	for _, flag := range []string{"-webhook-url URL", "-webhook-secret SECRET", "-webhook-receiver", webhookSignatureHeader, "dropped when the queue is full"} {
		assert.Contains(t, help.String(), flag)
	}
}

// The seed flags create exactly the numbers asked for, and every account has a balance.
func TestSeedCreatesExactCounts(t *testing.T) {
	tests := []struct {
		accounts, beneficiaries, transactions int
	}{
		{3, 2, 50},
		{5, 0, 2},    // fewer transactions than accounts: zero balances for the rest
		{2, 1, 2500}, // more than one Generate batch
		{12, 11, 0},  // names wrap around
		{1, 0, 10},   // pay-ins only: no beneficiary, no second account
		{0, 4, 0},    // beneficiaries only
	}
	for _, tt := range tests {
		cfg := config{SeedKey: "seed", SeedAccounts: tt.accounts, SeedBeneficiaries: tt.beneficiaries, SeedTransactions: tt.transactions, TimestampPrecision: time.Second}
		srv, _ := startMock(t, cfg)
		c := client{t: t, base: srv.URL, key: "seed"}
		totals := c.state().Totals
		assert.Equal(t, tt.accounts, totals["accounts"], "%+v", tt)
		assert.Equal(t, tt.beneficiaries, totals["beneficiaries"], "%+v", tt)
		assert.Equal(t, tt.transactions, totals["transactions"], "%+v", tt)

		var accounts []models.Account
		c.want(http.StatusOK, "GET", "/accounts?pageSize=1000", nil, &accounts)
		require.Len(t, accounts, tt.accounts)
		for _, a := range accounts {
			var b models.Balances
			c.want(http.StatusOK, "GET", "/accounts/"+a.ID+"/balances", nil, &b)
			assert.NotEmpty(t, b.Balances, "%s has a balance", a.ID)
		}
		// The first transactions fund one account each.
		var txs []models.Transaction
		c.want(http.StatusOK, "GET", "/transactions?pageSize=1000", nil, &txs)
		funded := map[string]bool{}
		for _, tx := range txs[:min(tt.accounts, tt.transactions)] {
			assert.Equal(t, models.TransactionTypePayin, tx.Type)
			assert.Equal(t, models.TransactionStatusSucceeded, tx.Status)
			funded[tx.DestinationAccountID] = true
		}
		assert.Len(t, funded, min(tt.accounts, tt.transactions))
	}
}

func TestClockTruncatesAndNeverGoesBack(t *testing.T) {
	base := time.Date(2025, 3, 1, 10, 0, 0, 700_000_000, time.UTC)
	now := base
	c := NewClock(time.Second)
	c.now = func() time.Time { return now }
	assert.Equal(t, base.Truncate(time.Second), c.Now())
	now = base.Add(-2 * time.Second) // the system clock steps back
	assert.Equal(t, base.Truncate(time.Second), c.Now())
	now = base.Add(time.Second)
	assert.Equal(t, base.Add(time.Second).Truncate(time.Second), c.Now())

	full := NewClock(0)
	full.now = func() time.Time { return base.Add(123 * time.Nanosecond) }
	assert.Equal(t, base.Add(123*time.Nanosecond), full.Now())
}

func TestAPIKeyNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	h, psp, err := newHandler(t.Context(), config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	t.Cleanup(psp.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const key = "sk_live_very-secret-key"
	c := client{t: t, base: srv.URL, key: key}
	status, _ := c.do(http.MethodGet, "/accounts", nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = c.do(http.MethodGet, "/accounts/acc_404/balances", nil)
	require.Equal(t, http.StatusNotFound, status)

	require.NotEmpty(t, logs.String())
	require.NotContains(t, logs.String(), key)
	require.Contains(t, logs.String(), TenantOf(key), "requests are logged under the derived tenant name")
	require.NotEqual(t, TenantOf(key), TenantOf(key+"x"))
}

// The balances' at is to the microsecond and never repeats, whatever the precision: Formance fails
// the balances run when one at comes back with another amount.
func TestBalancesAtNeverRepeats(t *testing.T) {
	second := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	srv, _ := startMock(t, config{SeedKey: "at", SeedAccounts: 1, SeedBeneficiaries: 1, TimestampPrecision: time.Second,
		now: func() time.Time { return second }}) // the clock stands still: every read is in one second
	c := client{t: t, base: srv.URL, key: "at"}
	seen := map[time.Time]string{}
	for i := range 5 {
		var b models.Balances
		c.want(http.StatusOK, "GET", "/accounts/acc_0001/balances", nil, &b)
		assert.Equal(t, b.At, b.At.Truncate(time.Microsecond), "to the microsecond")
		_, again := seen[b.At]
		assert.False(t, again, "read %d: at %s served before", i, b.At)
		seen[b.At] = b.Balances[0].Amount.String()
		c.want(http.StatusCreated, "POST", "/payouts", payoutBody(fmt.Sprint("at-", i), "100", "acc_0001", "ben_0001"), nil)
	}
}
