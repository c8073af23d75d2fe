package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

func TestAdminCreatesAndGenerates(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "admin-test"}

	var acc models.Account
	c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "Ops EUR", "asset": "EUR/2", "openingBalance": "5000000"}, &acc)
	assert.Equal(t, "Ops EUR", acc.AccountName)
	c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "Ops EUR 2", "asset": "EUR/2", "openingBalance": "5000000"}, nil)
	var ben models.Beneficiary
	c.want(http.StatusCreated, "POST", "/admin/api/beneficiaries", map[string]string{"ownerName": "Northwind"}, &ben)
	var bank models.BankAccount
	c.want(http.StatusCreated, "POST", "/admin/api/bank-accounts", map[string]string{"name": "Settlement", "iban": "FR7630006000011234567890189", "country": "FR"}, &bank)
	assert.Equal(t, "FR", bank.Country)

	var txs []models.Transaction
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 9}, &txs)
	require.Len(t, txs, 9)
	types := map[models.TransactionType]int{}
	for _, tx := range txs {
		types[tx.Type]++
		assert.Equal(t, models.Asset("EUR/2"), tx.Currency, "the account's asset by default")
		assert.Positive(t, tx.Amount.Sign())
	}
	assert.Equal(t, map[models.TransactionType]int{"PAYIN": 3, "PAYOUT": 3, "TRANSFER": 3}, types, "a mix of the three kinds")

	c.want(http.StatusCreated, "POST", "/admin/api/generate",
		map[string]any{"count": 2, "type": "PAYIN", "accountId": acc.ID, "amount": "1234", "asset": "USD/2", "status": "SUCCEEDED"}, &txs)
	for _, tx := range txs {
		assert.Equal(t, acc.ID, tx.DestinationAccountID)
		assert.Equal(t, "1234", tx.Amount.String())
		assert.Equal(t, models.TransactionStatusSucceeded, tx.Status)
	}

	st := c.state()
	assert.Equal(t, map[string]int{"accounts": 2, "beneficiaries": 1, "bankAccounts": 1, "transactions": 11, "payouts": 3, "transfers": 3}, st.Totals)
	var usd string
	for _, a := range st.Accounts {
		if a.ID == acc.ID {
			for _, b := range a.Balances {
				if b.Currency == "USD/2" {
					usd = b.Amount.String()
				}
			}
		}
	}
	assert.Equal(t, "2468", usd, "balances follow succeeded transactions")
	for _, p := range st.Payouts {
		assert.Equal(t, "panel", p.Origin)
	}
}

// Invalid input gets a 400 whose Detail says what is wrong, and creates nothing.
func TestAdminRejectsInvalidInput(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "invalid-test"}
	c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "Main"}, nil)
	st := c.state()
	require.Len(t, st.Accounts, 1)
	accountID := st.Accounts[0].ID
	var txs []models.Transaction
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 1, "type": "PAYIN", "status": "SUCCEEDED"}, &txs)
	succeeded := txs[0].ID
	before := c.state().Totals

	tests := []struct {
		name   string
		status int
		path   string
		body   any
		want   []string
	}{
		{"negative amount", 400, "/admin/api/generate", map[string]any{"count": 3, "amount": "-500"}, []string{"amount", "-500", "positive"}},
		{"decimal amount", 400, "/admin/api/generate", map[string]any{"count": 3, "amount": "10.50"}, []string{"amount", "10.50", "minor units"}},
		{"zero amount", 400, "/admin/api/generate", map[string]any{"count": 3, "amount": "0"}, []string{"amount", "positive"}},
		{"unknown account", 400, "/admin/api/generate", map[string]any{"count": 3, "accountId": "acc_9999"}, []string{"unknown account", "acc_9999"}},
		{"bad asset", 400, "/admin/api/generate", map[string]any{"count": 3, "asset": "usd/2"}, []string{"asset", "usd/2"}},
		{"zero count", 400, "/admin/api/generate", map[string]any{"count": 0}, []string{"count", "1000"}},
		{"huge count", 400, "/admin/api/generate", map[string]any{"count": 1001}, []string{"count", "1001"}},
		{"bad type", 400, "/admin/api/generate", map[string]any{"count": 3, "type": "GIFT"}, []string{"GIFT"}},
		{"payouts need a beneficiary", 400, "/admin/api/generate", map[string]any{"count": 3, "type": "PAYOUT"}, []string{"beneficiary"}},
		{"transfers need two accounts", 400, "/admin/api/generate", map[string]any{"count": 3, "type": "TRANSFER"}, []string{"two internal accounts"}},
		{"bad initial status", 400, "/admin/api/generate", map[string]any{"count": 3, "status": "REFUNDED"}, []string{"REFUNDED", "cannot start"}},
		{"unknown field", 400, "/admin/api/generate", map[string]any{"count": 3, "colour": "red"}, []string{"colour"}},
		{"account without name", 400, "/admin/api/accounts", map[string]string{"name": "  "}, []string{"name"}},
		{"account with bad asset", 400, "/admin/api/accounts", map[string]string{"name": "X", "asset": "dollars"}, []string{"asset", "dollars"}},
		{"beneficiary without name", 400, "/admin/api/beneficiaries", map[string]string{"ownerName": ""}, []string{"owner name"}},
		{"bank account with bad country", 400, "/admin/api/bank-accounts", map[string]string{"name": "B", "country": "France"}, []string{"country", "France", "upper-case ISO 3166-1 alpha-2"}},
		{"unknown action", 400, "/admin/api/transactions/" + succeeded + "/actions", map[string]string{"action": "explode"}, []string{`unknown action "explode"`}},
		{"action not possible for the status", 400, "/admin/api/transactions/" + succeeded + "/actions", map[string]string{"action": "capture"}, []string{succeeded, `"capture"`, "SUCCEEDED"}},
		{"unknown transaction", 404, "/admin/api/transactions/tx_9999/actions", map[string]string{"action": "refund"}, []string{"tx_9999"}},
		{"unknown admin route", 404, "/admin/api/nothing", nil, []string{"/admin/api/nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client{t: t, base: srv.URL, key: "invalid-test"}
			method := "POST"
			if tt.body == nil {
				method = "GET"
			}
			detail := c.errorDetail(tt.status, method, tt.path, tt.body)
			for _, s := range tt.want {
				assert.Contains(t, detail, s)
			}
			assert.Equal(t, before, c.state().Totals, "nothing created")
		})
	}
	after := c.state()
	assert.Equal(t, "SUCCEEDED", string(after.Transactions[0].Status), "refused actions change nothing")
	assert.Equal(t, accountID, after.Accounts[0].ID)
}

func TestAdminNeedsAKey(t *testing.T) {
	srv, _ := startMock(t, config{})
	for _, path := range []string{"/admin/api/state", "/admin/api/install"} {
		c := client{t: t, base: srv.URL}
		detail := c.errorDetail(http.StatusUnauthorized, "GET", path, nil)
		assert.Contains(t, detail, "Bearer")
	}
}

// Every key is its own dataset, through the admin API and through the contract's routes.
func TestKeysAreIsolated(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "alice", SeedAccounts: 3, SeedBeneficiaries: 2, SeedTransactions: 10})
	alice := client{t: t, base: srv.URL, key: "alice"}
	bob := client{t: t, base: srv.URL, key: "bob"}

	var accounts []models.Account
	alice.want(http.StatusOK, "GET", "/accounts?pageSize=100", nil, &accounts)
	require.Len(t, accounts, 3)
	bob.want(http.StatusOK, "GET", "/accounts?pageSize=100", nil, &accounts)
	assert.Empty(t, accounts)
	var txs []models.Transaction
	bob.want(http.StatusOK, "GET", "/transactions", nil, &txs)
	assert.Empty(t, txs)

	// The same ids exist in both datasets without clashing.
	bob.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "Bob's"}, nil)
	alice.want(http.StatusOK, "GET", "/accounts?pageSize=100", nil, &accounts)
	require.Len(t, accounts, 3)
	for _, a := range accounts {
		assert.NotEqual(t, "Bob's", a.AccountName)
	}
	bob.errorDetail(http.StatusNotFound, "GET", "/accounts/acc_0002/balances", nil)
	assert.Equal(t, 1, bob.state().Totals["accounts"])
	assert.Equal(t, 3, alice.state().Totals["accounts"])
}

// The panel's request log shows the requests made with the key, and only those.
func TestRequestLog(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "log-test", SeedAccounts: 1})
	c := client{t: t, base: srv.URL, key: "log-test"}
	c.want(http.StatusOK, "GET", "/accounts?page=1&pageSize=25&sort=createdAt:asc&createdAtFrom=2024-01-01T10:00:00Z", nil, nil)
	c.errorDetail(http.StatusNotFound, "GET", "/accounts/nope/balances", nil)
	other := client{t: t, base: srv.URL, key: "someone-else"}
	other.want(http.StatusOK, "GET", "/beneficiaries", nil, nil)

	reqs := c.state().Requests
	require.Len(t, reqs, 2)
	assert.Equal(t, "/accounts/nope/balances", reqs[0].Path, "newest first")
	assert.Equal(t, 404, reqs[0].Status)
	assert.Equal(t, "/accounts", reqs[1].Path)
	assert.Equal(t, "GET", reqs[1].Method)
	assert.Equal(t, 200, reqs[1].Status)
	assert.Equal(t, "page=1&pageSize=25&sort=createdAt:asc&createdAtFrom=2024-01-01T10:00:00Z", reqs[1].Query)
	assert.WithinDuration(t, time.Now(), reqs[1].At, time.Minute)
}

func TestRequestLogKeepsTheLastRequests(t *testing.T) {
	l := requestLog{size: defaultRequestLogSize}
	for i := range defaultRequestLogSize + 5 {
		l.add(RequestLogEntry{Status: i})
	}
	got := l.recent()
	require.Len(t, got, defaultRequestLogSize)
	assert.Equal(t, defaultRequestLogSize+4, got[0].Status, "newest first")
	assert.Equal(t, 5, got[len(got)-1].Status, "the oldest ones dropped")
}

func TestInstallView(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "team-o'brien"}
	var v installView
	c.want(http.StatusOK, "GET", "/admin/api/install?stack=https://acme-dev.eu-west-1.formance.cloud/&name=mock&endpoint=https://tunnel.example.com&pollingPeriod=10s", nil, &v)
	assert.Equal(t, connectorConfig{Name: "mock", APIKey: "team-o'brien", Endpoint: "https://tunnel.example.com", PollingPeriod: "10s"}, v.Config)
	var fromJSON map[string]any
	require.NoError(t, json.Unmarshal([]byte(v.ConfigJSON), &fromJSON))
	assert.Equal(t, map[string]any{"name": "mock", "apiKey": "team-o'brien", "endpoint": "https://tunnel.example.com", "pollingPeriod": "10s"}, fromJSON,
		"exactly the connector's settings: no pageSize")
	assert.Contains(t, v.Curl, "'https://acme-dev.eu-west-1.formance.cloud/api/payments/v3/connectors/install/generic'")
	assert.Contains(t, v.Curl, `"apiKey":"team-o'\''brien"`, "the body is shell-quoted")
	assert.Contains(t, v.Fctl, "fctl payments connectors install generic mock.json")
	for what, s := range map[string]string{"config": v.ConfigJSON, "fctl": v.Fctl, "curl": v.Curl} {
		assert.NotContains(t, s, "pageSize", what)
	}
	// 10s is below a default stack's minimum: the note says so and how a self-hosted stack lowers it.
	assert.Contains(t, v.Note, "refuses a polling period below 20m")
	assert.Contains(t, v.Note, "10s")
	assert.Contains(t, v.Note, "self-hosted")
	assert.Contains(t, v.Note, "connector-polling-period-minimum")

	c.want(http.StatusOK, "GET", "/admin/api/install", nil, &v)
	assert.Equal(t, srv.URL, v.Config.Endpoint, "the endpoint defaults to this server")
	assert.Equal(t, "mockpsp", v.Config.Name)
	assert.Equal(t, "20m", v.Config.PollingPeriod, "the default is the minimum of a default stack")
	assert.Empty(t, v.Note, "no note for a period a default stack accepts")
	for _, period := range []string{"20m", "30m", "1h", "1200s"} {
		c.want(http.StatusOK, "GET", "/admin/api/install?pollingPeriod="+period, nil, &v)
		assert.Empty(t, v.Note, period)
	}
	for _, period := range []string{"30s", "19m59s", "1ms"} {
		c.want(http.StatusOK, "GET", "/admin/api/install?pollingPeriod="+period, nil, &v)
		assert.Contains(t, v.Note, "connector-polling-period-minimum", period)
	}

	// pageSize is no setting any more: any pageSize parameter is refused, saying why.
	for _, q := range []string{"pageSize=25", "pageSize=100", "pageSize=", "pollingPeriod=20m&pageSize=50"} {
		detail := c.errorDetail(http.StatusBadRequest, "GET", "/admin/api/install?"+q, nil)
		assert.Contains(t, detail, "pageSize is no longer a setting", q)
		assert.Contains(t, detail, "pageSize=100", q)
	}
	for _, q := range []string{"pollingPeriod=soon", "pollingPeriod=-5m", "pollingPeriod=0s", "endpoint=localhost:8080", "stack=ftp://x"} {
		var e fieldError
		c.want(http.StatusBadRequest, "GET", "/admin/api/install?"+q, nil, &e)
		name, value, _ := strings.Cut(q, "=")
		assert.Equal(t, name, e.Field, "the error names the field, so that the panel marks it alone")
		assert.Contains(t, e.Detail, value, "the Detail quotes the value")
	}
}

func TestPanelIsServed(t *testing.T) {
	srv, _ := startMock(t, config{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(srv.URL + "/admin")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusMovedPermanently, res.StatusCode)
	assert.Equal(t, "/admin/", res.Header.Get("Location"))

	for path, want := range map[string]string{"/admin/": `id="api-key"`, "/admin/app.js": "/admin/api/", "/admin/style.css": ".status-SUCCEEDED"} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, res.StatusCode, path)
		assert.Contains(t, string(body), want, path)
	}
	req, err := http.NewRequest("POST", srv.URL+"/admin/", nil)
	require.NoError(t, err)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

// The panel reads every list of a new, empty dataset as an array.
func TestEmptyStateHasNoNullLists(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "empty"}
	status, body := c.do("GET", "/admin/api/state", nil)
	require.Equal(t, http.StatusOK, status)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	for _, name := range []string{"accounts", "beneficiaries", "bankAccounts", "transactions", "payouts", "transfers", "requests"} {
		assert.Equal(t, "[]", string(raw[name]), name)
	}
}
