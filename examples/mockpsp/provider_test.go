package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

func payoutBody(key, amount, source, destination string) map[string]any {
	return map[string]any{"idempotencyKey": key, "amount": amount, "currency": "USD/2",
		"sourceAccountId": source, "destinationAccountId": destination, "description": "rent"}
}

// Payouts created by Formance are PENDING PAYOUT transactions that the panel settles or fails;
// retries with the same idempotency key never pay twice.
func TestPayoutLifecycle(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "payouts", SeedAccounts: 2, SeedBeneficiaries: 1})
	c := client{t: t, base: srv.URL, key: "payouts"}

	var p models.Payout
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("pi-1", "2500", "acc_0001", "ben_0001"), &p)
	assert.Equal(t, models.TransactionStatusPending, p.Status)
	assert.Equal(t, "pi-1", p.IdempotencyKey)
	assert.Equal(t, "rent", p.Description)

	// A retry answers the first result; the same key with another body is a conflict.
	var again models.Payout
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("pi-1", "2500", "acc_0001", "ben_0001"), &again)
	assert.Equal(t, p.ID, again.ID)
	detail := c.errorDetail(http.StatusConflict, "POST", "/payouts", payoutBody("pi-1", "9999", "acc_0001", "ben_0001"))
	assert.Contains(t, detail, "pi-1")
	// A refused request says why, and creates nothing.
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/payouts", payoutBody("pi-2", "100", "acc_9999", "ben_0001"))
	assert.Contains(t, detail, "acc_9999")
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("pi-3", "100", "acc_0001", "ben_0001"), nil)

	st := c.state()
	assert.Equal(t, 2, st.Totals["payouts"])
	assert.Equal(t, 2, st.Totals["transactions"], "one transaction per payout, retries included")
	assert.Equal(t, "formance", st.Payouts[1].Origin)
	assert.Equal(t, []Action{ActionSucceed, ActionFail, ActionCancel, ActionExpire}, st.Payouts[1].Actions)

	var txs []models.Transaction
	c.want(http.StatusOK, "GET", "/transactions", nil, &txs)
	require.Len(t, txs, 2)
	assert.Equal(t, p.ID, txs[0].ID, "a payout's id is its transaction's id")
	assert.Equal(t, models.TransactionTypePayout, txs[0].Type)
	assert.Equal(t, models.TransactionStatusPending, txs[0].Status)

	// Settling it from the panel shows in GET /payouts/{id} and moves the balance.
	assert.Equal(t, "SUCCEEDED", c.applyAction(p.ID, ActionSucceed))
	var got models.Payout
	c.want(http.StatusOK, "GET", "/payouts/"+p.ID, nil, &got)
	assert.Equal(t, models.TransactionStatusSucceeded, got.Status)
	assert.True(t, got.UpdatedAt.After(p.CreatedAt) || got.UpdatedAt.Equal(p.CreatedAt))
	var bal models.Balances
	c.want(http.StatusOK, "GET", "/accounts/acc_0001/balances", nil, &bal)
	assert.Equal(t, "acc_0001", bal.AccountID)
	assert.Equal(t, []models.Balance{{Amount: models.AmountFromInt64(seedOpeningBalance - 2500), Currency: "USD/2"}}, bal.Balances)

	c.errorDetail(http.StatusNotFound, "GET", "/payouts/tx_9999", nil)
	c.errorDetail(http.StatusNotFound, "GET", "/transfers/"+p.ID, nil)
}

func TestTransfersAndBankAccounts(t *testing.T) {
	// Seeded accounts rotate USD/2, EUR/2, GBP/2: acc_0001 and acc_0004 hold USD/2, acc_0002 EUR/2.
	srv, _ := startMock(t, config{SeedKey: "transfers", SeedAccounts: 4, SeedBeneficiaries: 1})
	c := client{t: t, base: srv.URL, key: "transfers"}
	body := map[string]any{"idempotencyKey": "tr-0", "amount": "700", "currency": "USD/2",
		"sourceAccountId": "acc_0001", "destinationAccountId": "acc_0002"}
	// A transfer moves money between accounts of one asset: refused (final 400), nothing created.
	detail := c.errorDetail(http.StatusBadRequest, "POST", "/transfers", body)
	assert.Contains(t, detail, "acc_0002 holds EUR/2, not USD/2")
	body["idempotencyKey"], body["currency"] = "tr-00", "EUR/2"
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/transfers", body)
	assert.Contains(t, detail, "insufficient funds: account acc_0001 holds no EUR/2 (its asset is USD/2)")
	assert.Zero(t, c.state().Totals["transfers"])

	body["idempotencyKey"], body["currency"], body["destinationAccountId"] = "tr-1", "USD/2", "acc_0004"
	var tr models.Transfer
	c.want(http.StatusCreated, "POST", "/transfers", body, &tr)
	assert.Equal(t, models.TransactionStatusPending, tr.Status)
	assert.Equal(t, "FAILED", c.applyAction(tr.ID, ActionFail))
	c.want(http.StatusOK, "GET", "/transfers/"+tr.ID, nil, &tr)
	assert.Equal(t, models.TransactionStatusFailed, tr.Status)

	body["idempotencyKey"], body["destinationAccountId"] = "tr-2", "ben_0001"
	detail = c.errorDetail(http.StatusBadRequest, "POST", "/transfers", body)
	assert.Contains(t, detail, "ben_0001")

	var ba models.BankAccount
	c.want(http.StatusCreated, "POST", "/bank-accounts", map[string]any{"name": "Payroll bank", "iban": "DE89370400440532013000", "country": "DE"}, &ba)
	assert.NotEmpty(t, ba.ID)
	st := c.state()
	require.Len(t, st.BankAccounts, 1)
	assert.Equal(t, "Payroll bank", st.BankAccounts[0].Name)

	// Payouts may pay a bank account registered by Formance.
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("po-bank", "100", "acc_0001", ba.ID), nil)
}

// Concurrent retries of one payout create it once.
func TestConcurrentPayoutRetries(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "race", SeedAccounts: 1, SeedBeneficiaries: 1})
	body, err := json.Marshal(payoutBody("same", "100", "acc_0001", "ben_0001"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	ids := make([]string, 10)
	errs := make([]error, 10)
	for i := range ids {
		wg.Go(func() {
			req, err := http.NewRequest("POST", srv.URL+"/payouts", bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Authorization", "Bearer race")
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			var p models.Payout
			errs[i] = json.NewDecoder(res.Body).Decode(&p)
			if res.StatusCode != http.StatusCreated {
				errs[i] = fmt.Errorf("status %d", res.StatusCode)
			}
			ids[i] = p.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], id)
	}
	assert.Equal(t, 1, client{t: t, base: srv.URL, key: "race"}.state().Totals["payouts"])
}

func TestBalancesFollowTheLifecycle(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "balances"}
	var acc models.Account
	c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "Main", "asset": "GBP/2"}, &acc)
	balance := func() string {
		var b models.Balances
		c.want(http.StatusOK, "GET", "/accounts/"+acc.ID+"/balances", nil, &b)
		require.Len(t, b.Balances, 1)
		assert.Equal(t, models.Asset("GBP/2"), b.Balances[0].Currency)
		return b.Balances[0].Amount.String()
	}
	assert.Equal(t, "0", balance(), "a new account reports a zero balance in its asset")

	var txs []models.Transaction
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 1, "type": "PAYIN", "amount": "5000", "status": "AUTHORISATION"}, &txs)
	id := txs[0].ID
	steps := []struct {
		action Action
		status string
		want   string
	}{
		{ActionCapture, "CAPTURE", "5000"},
		{ActionDispute, "DISPUTE", "5000"},
		{ActionLoseDispute, "DISPUTE_LOST", "0"},
	}
	assert.Equal(t, "0", balance())
	for _, s := range steps {
		assert.Equal(t, s.status, c.applyAction(id, s.action))
		assert.Equal(t, s.want, balance(), "after %s", s.action)
	}
}

// The simulated PSP deduplicates by idempotency key itself, like a PSP whose API takes one: when the
// library calls the provider again for a key (after its in-flight time-out, once a process died
// during the first call), no second payout is created.
func TestPSPDeduplicatesByIdempotencyKey(t *testing.T) {
	psp, err := NewMemoryPSP(NewClock(0))
	require.NoError(t, err)
	d := psp.Dataset("dedup")
	_, err = d.Seed(t.Context(), 4, 1, 0)
	require.NoError(t, err)
	req := models.PayoutRequest{IdempotencyKey: "pi-1", Amount: models.AmountFromInt64(100), Currency: "USD/2",
		SourceAccountID: "acc_0001", DestinationAccountID: "ben_0001", Description: "rent", Metadata: models.Metadata{"k": "v"}}
	first, err := d.CreatePayout(t.Context(), req)
	require.NoError(t, err)
	again, err := d.CreatePayout(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	other := req
	other.Amount = models.AmountFromInt64(999)
	_, err = d.CreatePayout(t.Context(), other)
	assert.ErrorIs(t, err, connector.ErrConflict)
	assert.Contains(t, err.Error(), first.ID)

	// Transfers have keys of their own, and the panel's generated payouts never match a key.
	tr, err := d.CreateTransfer(t.Context(), models.TransferRequest{IdempotencyKey: "pi-1", Amount: models.AmountFromInt64(5),
		Currency: "USD/2", SourceAccountID: "acc_0001", DestinationAccountID: "acc_0004"})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, tr.ID)
	var payouts int
	require.NoError(t, d.view(t.Context(), func(st *tenantState) error { payouts = len(st.PayoutIDs); return nil }))
	assert.Equal(t, 1, payouts)
}
