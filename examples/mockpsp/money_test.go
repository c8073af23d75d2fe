package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/models"
)

// balanceOf returns an account's balance in asset as GET /accounts/{id}/balances reports it.
func balanceOf(c client, account string, asset models.Asset) string {
	c.t.Helper()
	var b models.Balances
	c.want(http.StatusOK, "GET", "/accounts/"+account+"/balances", nil, &b)
	for _, x := range b.Balances {
		if x.Currency == asset {
			return x.Amount.String()
		}
	}
	return "0"
}

func newAccount(c client, name, asset, opening string) string {
	c.t.Helper()
	var a models.Account
	c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": name, "asset": asset, "openingBalance": opening}, &a)
	return a.ID
}

// A payout is paid only from the funds an account has available: its balance, less what payouts in
// flight hold. A refusal is a final 400 naming the reason (Formance marks the payout FAILED), and
// creates nothing; a failed payout frees what it held.
func TestPayoutsNeedFunds(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "funds"}
	acc := newAccount(c, "Ops", "USD/2", "10000")
	c.want(http.StatusCreated, "POST", "/admin/api/beneficiaries", map[string]string{"ownerName": "Maria"}, nil)
	assert.Equal(t, "10000", balanceOf(c, acc, "USD/2"), "the opening balance")

	detail := c.errorDetail(http.StatusBadRequest, "POST", "/payouts", payoutBody("too-much", "20000", acc, "ben_0001"))
	assert.Contains(t, detail, "insufficient funds: account acc_0001 has 100.00 USD available, a payout needs 200.00 USD")

	var first models.Payout
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("first", "6000", acc, "ben_0001"), &first)
	assert.Equal(t, "10000", balanceOf(c, acc, "USD/2"), "a pending payout holds its money, it has not left yet")
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/payouts", payoutBody("second", "6000", acc, "ben_0001"))
	assert.Contains(t, detail, "has 40.00 USD available (balance 100.00 USD, of which 60.00 USD is held by payouts and transfers in flight)")

	assert.Equal(t, "FAILED", c.applyAction(first.ID, ActionFail))
	// The refused key keeps its answer (the library calls the provider once per key): a new key pays.
	c.errorDetail(http.StatusBadRequest, "POST", "/payouts", payoutBody("second", "6000", acc, "ben_0001"))
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("third", "6000", acc, "ben_0001"), nil)

	eur := payoutBody("in-euros", "100", acc, "ben_0001")
	eur["currency"] = "EUR/2"
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/payouts", eur)
	assert.Contains(t, detail, "account acc_0001 holds no EUR/2 (its asset is USD/2)")
	assert.Equal(t, 2, c.state().Totals["payouts"], "refused payouts create nothing")
}

// Generate never takes an account below zero unless asked, and its transfers stay within one asset.
func TestGenerateKeepsBalances(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "gen-money"}
	empty := newAccount(c, "Empty", "USD/2", "")
	c.want(http.StatusCreated, "POST", "/admin/api/beneficiaries", map[string]string{"ownerName": "Kenji"}, nil)

	detail := c.errorDetail(http.StatusBadRequest, "POST", "/admin/api/generate", map[string]any{"count": 3, "type": "PAYOUT"})
	assert.Contains(t, detail, "no account has funds")
	assert.Contains(t, detail, "allow negative balances")
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/admin/api/generate", map[string]any{"count": 1, "type": "PAYOUT", "accountId": empty, "amount": "500"})
	assert.Contains(t, detail, "insufficient funds: account acc_0001 has 0.00 USD available, payout 1 of the batch needs 5.00 USD")
	assert.Zero(t, c.state().Totals["transactions"], "a refused batch creates nothing")

	newAccount(c, "Funded USD", "USD/2", "50000")
	newAccount(c, "Funded EUR", "EUR/2", "50000")
	newAccount(c, "Other EUR", "EUR/2", "")
	var txs []models.Transaction
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 60}, &txs)
	require.Len(t, txs, 60)
	assets := map[string]models.Asset{}
	for _, a := range c.state().Accounts {
		assets[a.ID] = a.Asset
		for _, b := range a.Balances {
			assert.GreaterOrEqual(t, b.Amount.Sign(), 0, "%s holds %s %s", a.ID, b.Amount, b.Currency)
		}
	}
	types := map[models.TransactionType]int{}
	for _, tx := range txs {
		types[tx.Type]++
		if tx.Type == models.TransactionTypeTransfer {
			assert.Equal(t, assets[tx.SourceAccountID], assets[tx.DestinationAccountID], "%s moves between accounts of one asset", tx.ID)
			assert.Equal(t, assets[tx.SourceAccountID], tx.Currency)
		}
	}
	assert.Positive(t, types[models.TransactionTypePayout], "the mix still has payouts")
	assert.Positive(t, types[models.TransactionTypeTransfer], "the mix still has transfers")

	// Asked for, a payout may take an account below zero.
	overdraft := newAccount(c, "Overdraft", "USD/2", "")
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 1, "type": "PAYOUT", "accountId": overdraft,
		"amount": "500", "status": "SUCCEEDED", "allowNegative": true}, nil)
	assert.Equal(t, "-500", balanceOf(c, overdraft, "USD/2"))
}

// Bank accounts: IBANs are checked (country prefix, length, characters, mod 97) and country codes
// kept exactly as given or refused, on the contract's route and in the panel alike.
func TestBankAccountsAreChecked(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "banks"}
	for _, path := range []string{"/bank-accounts", "/admin/api/bank-accounts"} {
		for _, iban := range []string{"DE89370400440532013000", "FR7630006000011234567890189", "GB82WEST12345698765432", "NL91ABNA0417164300"} {
			var ba models.BankAccount
			c.want(http.StatusCreated, "POST", path, map[string]string{"name": "B", "iban": iban, "country": iban[:2]}, &ba)
			assert.Equal(t, iban, ba.IBAN, "kept as given")
			assert.Equal(t, iban[:2], ba.Country)
		}
		refused := []struct{ body, want string }{
			{`{"name":"B","iban":"FR7630006000011234567890188"}`, "check digits 76 are wrong"},
			{`{"name":"B","iban":"FR76300060000112345678901"}`, "an IBAN from FR has 27 characters, this one has 25"},
			{`{"name":"B","iban":"XX7630006000011234567890189"}`, `"XX" is not the prefix of a country`},
			{`{"name":"B","iban":"FR76 3000 6000 0112 3456 7890 189"}`, "without spaces"},
			{`{"name":"B","iban":"fr7630006000011234567890189"}`, "upper-case letters and digits only"},
			{`{"name":"B","country":"fr"}`, `"fr"`}, // refused, not upper-cased
			{`{"name":"B","country":"fr"}`, `ISO 3166-1 alpha-2`},
			{`{"name":"B","country":"ZZ"}`, `"ZZ" is not an ISO 3166-1 alpha-2 country code`},
			{`{"name":"B","iban":"DE89370400440532013000","country":"FR"}`, "country FR does not match the IBAN, which is from DE"},
		}
		for _, r := range refused {
			detail := c.errorDetail(http.StatusBadRequest, "POST", path, rawJSON(r.body))
			assert.Contains(t, detail, r.want, "%s %s", path, r.body)
		}
	}
	assert.Equal(t, 8, c.state().Totals["bankAccounts"], "refused ones create nothing")
}

// rawJSON is a request body sent exactly as written.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// Generate's count is refused as typed, and error texts say each thing once.
func TestAdminErrorsQuoteTheInput(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "typed", SeedAccounts: 1})
	c := client{t: t, base: srv.URL, key: "typed"}
	detail := c.errorDetail(http.StatusBadRequest, "POST", "/admin/api/generate", map[string]any{"count": "abc"})
	assert.Contains(t, detail, `count "abc" is not a whole number`)
	assert.NotContains(t, detail, "-1")
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/admin/api/generate", map[string]any{"count": "0"})
	assert.Contains(t, detail, "count 0 is out of range")
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": " 3 ", "type": "PAYIN"}, nil)

	for _, tt := range []struct{ path, field, value string }{
		{"/admin/api/accounts", "asset", "usd"},
		{"/admin/api/generate", "type", "refund"},
		{"/admin/api/generate", "status", "done"},
	} {
		body := map[string]any{"count": 1, tt.field: tt.value}
		if tt.path == "/admin/api/accounts" {
			body = map[string]any{"name": "X", tt.field: tt.value}
		}
		detail := c.errorDetail(http.StatusBadRequest, "POST", tt.path, body)
		assert.Contains(t, strings.ToLower(detail), strings.ToLower(tt.value))
		assert.LessOrEqual(t, strings.Count(detail, "(want"), 1, "%s: said once: %s", tt.field, detail)
		assert.NotContains(t, detail, tt.field+": invalid value", "no prefix repeating the field: %s", detail)
		assert.NotContains(t, detail, "bad ", detail)
	}
	var e fieldError
	c.want(http.StatusBadRequest, "POST", "/admin/api/accounts", map[string]string{"name": "X", "openingBalance": "10.50"}, &e)
	assert.Equal(t, "openingBalance", e.Field)
	assert.Contains(t, e.Detail, `opening balance "10.50"`)
}

// The payouts and transfers Formance creates are transaction rows linked to their payment initiation
// (relatedTransactionID = the idempotency key, the same type), and each lifecycle change of the row
// reaches the poller with that link: the payment initiation follows the PSP.
func TestFormanceWritesAreLinkedRows(t *testing.T) {
	for _, precision := range precisions {
		t.Run(precision.name, func(t *testing.T) {
			srv, _ := startMock(t, config{SeedKey: "linked", SeedAccounts: 4, SeedBeneficiaries: 1, TimestampPrecision: precision.d})
			c := client{t: t, base: srv.URL, key: "linked"}
			poller := connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: "linked"}, 100)
			_, err := poller.Cycle(t.Context())
			require.NoError(t, err)

			var payout models.Payout
			c.want(http.StatusCreated, "POST", "/payouts", payoutBody("pi-payout", "2500", "acc_0001", "ben_0001"), &payout)
			var transfer models.Transfer
			c.want(http.StatusCreated, "POST", "/transfers", map[string]any{"idempotencyKey": "pi-transfer", "amount": "700",
				"currency": "USD/2", "sourceAccountId": "acc_0001", "destinationAccountId": "acc_0004"}, &transfer)
			want := map[string]struct {
				key string
				typ models.TransactionType
			}{payout.ID: {"pi-payout", models.TransactionTypePayout}, transfer.ID: {"pi-transfer", models.TransactionTypeTransfer}}

			check := func(status models.TransactionStatus) {
				t.Helper()
				cy, err := poller.Cycle(t.Context())
				require.NoError(t, err)
				seen := 0
				for _, tx := range cy.Transactions {
					w, ok := want[tx.ID]
					if !ok {
						continue
					}
					seen++
					assert.Equal(t, w.key, tx.RelatedTransactionID, "%s is joined to its payment initiation", tx.ID)
					assert.Equal(t, w.typ, tx.Type)
					assert.Equal(t, status, tx.Status)
				}
				assert.Equal(t, 2, seen, "both rows arrive with status %s", status)
			}
			check(models.TransactionStatusPending)
			assert.Equal(t, "SUCCEEDED", c.applyAction(payout.ID, ActionSucceed))
			assert.Equal(t, "SUCCEEDED", c.applyAction(transfer.ID, ActionSucceed))
			check(models.TransactionStatusSucceeded)
			assert.Equal(t, fmt.Sprint(seedOpeningBalance+0-2500-700), balanceOf(c, "acc_0001", "USD/2"))
			assert.Equal(t, fmt.Sprint(seedOpeningBalance+700), balanceOf(c, "acc_0004", "USD/2"))
		})
	}
}
