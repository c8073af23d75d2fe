package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// The export is the whole dataset as the PSP holds it, as a file: accounts with their opening
// balance and their balances (as GET /accounts/{id}/balances reports them), beneficiaries, bank
// accounts, every transaction with its status history, payouts and transfers with their origin.
func TestExportHoldsTheWholeDataset(t *testing.T) {
	srv, _ := startMock(t, config{})
	c := client{t: t, base: srv.URL, key: "export"}
	ops := newAccount(c, "Ops", "EUR/2", "100000")
	other := newAccount(c, "Other", "EUR/2", "")
	c.want(http.StatusCreated, "POST", "/admin/api/beneficiaries", map[string]string{"ownerName": "Priya"}, nil)
	c.want(http.StatusCreated, "POST", "/admin/api/bank-accounts", map[string]string{"name": "Main", "iban": "DE89370400440532013000"}, nil)
	var payins []models.Transaction
	c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 2, "type": "PAYIN", "accountId": ops, "amount": "5000", "status": "PENDING"}, &payins)
	c.applyAction(payins[0].ID, ActionSucceed)
	c.applyAction(payins[0].ID, ActionDispute)
	c.applyAction(payins[0].ID, ActionLoseDispute)
	var payout models.Payout
	c.want(http.StatusCreated, "POST", "/payouts", map[string]any{"idempotencyKey": "pi-export", "amount": "3000", "currency": "EUR/2",
		"sourceAccountId": ops, "destinationAccountId": "ben_0001", "description": "supplier"}, &payout)
	var transfer models.Transfer
	c.want(http.StatusCreated, "POST", "/transfers", map[string]any{"idempotencyKey": "tr-export", "amount": "1000", "currency": "EUR/2",
		"sourceAccountId": ops, "destinationAccountId": other}, &transfer)
	c.applyAction(transfer.ID, ActionSucceed)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/admin/api/export", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer export")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, `attachment; filename="mockpsp-`+TenantOf("export")+`.json"`, res.Header.Get("Content-Disposition"))
	var v exportView
	require.NoError(t, json.NewDecoder(res.Body).Decode(&v))

	assert.Equal(t, TenantOf("export"), v.Tenant)
	require.Len(t, v.Accounts, 2)
	assert.Equal(t, "100000", v.Accounts[0].OpeningBalance.String())
	for _, a := range v.Accounts {
		var served models.Balances
		c.want(http.StatusOK, "GET", "/accounts/"+a.ID+"/balances", nil, &served)
		assert.Equal(t, served.Balances, a.Balances, "%s: the export's balances are the served ones", a.ID)
	}
	// ops: 1000.00 opening, the lost dispute gave the pay-in back, 10.00 transferred out, 30.00 held.
	assert.Equal(t, []models.Balance{{Amount: models.AmountFromInt64(99000), Currency: "EUR/2"}}, v.Accounts[0].Balances)
	assert.Equal(t, []models.Balance{{Amount: models.AmountFromInt64(3000), Currency: "EUR/2"}}, v.Accounts[0].Held)
	assert.Len(t, v.Beneficiaries, 1)
	require.Len(t, v.BankAccounts, 1)
	assert.Equal(t, "DE89370400440532013000", v.BankAccounts[0].IBAN)

	require.Len(t, v.Transactions, 4)
	byID := map[string]exportTransaction{}
	for _, tx := range v.Transactions {
		byID[tx.ID] = tx
	}
	var history []models.TransactionStatus
	for _, h := range byID[payins[0].ID].History {
		history = append(history, h.Status)
		assert.False(t, h.At.IsZero())
	}
	assert.Equal(t, []models.TransactionStatus{"PENDING", "SUCCEEDED", "DISPUTE", "DISPUTE_LOST"}, history)
	assert.Equal(t, models.TransactionStatusDisputeLost, byID[payins[0].ID].Status)
	assert.Len(t, byID[transfer.ID].History, 2)

	require.Len(t, v.Payouts, 1)
	assert.Equal(t, "pi-export", v.Payouts[0].IdempotencyKey)
	assert.Equal(t, "formance", v.Payouts[0].Origin)
	assert.Equal(t, "supplier", v.Payouts[0].Description)
	require.Len(t, v.Transfers, 1)
	assert.Equal(t, models.TransactionStatusSucceeded, v.Transfers[0].Status)
}
