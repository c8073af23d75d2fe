package httpserver_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

var update = flag.Bool("update", false, "rewrite the golden files of httpserver/testdata")

// TestGoldenJSON pins the exact bytes the handler writes for each object of the contract (field names
// and casing included: sourceAccountID on Transaction, sourceAccountId on Payout, accountID on
// Balances), and checks that each golden file decodes into the models type with unknown fields
// disallowed and encodes back to the same bytes.
func TestGoldenJSON(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	meta := models.Metadata{"psp": "acme", "reference": "R-1"}

	p := newFull()
	p.accounts = []models.Account{{ID: "acc_1", AccountName: "Main EUR account", CreatedAt: at, Metadata: meta}}
	p.beneficiaries = []models.Beneficiary{{ID: "ben_1", OwnerName: "Jane Doe", CreatedAt: at, Metadata: meta}}
	p.balances = map[string]models.Balances{"acc_1": {ID: "bal_1", AccountID: "acc_1", At: at, Balances: []models.Balance{
		{Amount: models.MustParseAmount("-123456789012345678901234567890"), Currency: "EUR/2"},
		{Amount: models.MustParseAmount("0"), Currency: "JPY/0"},
		{Amount: models.MustParseAmount("5"), Currency: "COIN"},
	}}}
	p.transactions = []models.Transaction{{
		ID: "tx_1", RelatedTransactionID: "tx_0", CreatedAt: at, UpdatedAt: at.Add(time.Minute), Currency: "USD/2",
		Scheme: "visa", Type: models.TransactionTypePayout, Status: models.TransactionStatusRefundedFailure,
		Amount: models.MustParseAmount("10000"), SourceAccountID: "acc_1", DestinationAccountID: "ben_1", Metadata: meta,
	}}
	p.alterPayout = func(po *models.Payout) { po.CreatedAt, po.UpdatedAt, po.Metadata = at, at.Add(time.Second), meta }
	p.alterTransfr = func(tr *models.Transfer) { tr.CreatedAt, tr.Metadata = at, meta }
	p.alterBank = func(b *models.BankAccount) { b.CreatedAt, b.AccountNumber, b.SwiftBicCode = at, "0001234", "BNPAFRPP" }
	srv, _ := newServer(t, p)

	tests := []struct {
		name       string
		req        request
		wantStatus int
		roundTrip  func(dec *json.Decoder) (any, error)
		mustHave   []string // contract field names whose casing is easy to get wrong
	}{
		{"account", request{path: "/accounts"}, http.StatusOK, decodeAs[[]models.Account], nil},
		{"beneficiary", request{path: "/beneficiaries"}, http.StatusOK, decodeAs[[]models.Beneficiary], nil},
		{"balances", request{path: "/accounts/acc_1/balances"}, http.StatusOK, decodeAs[models.Balances], []string{`"accountID":`}},
		{"transaction", request{path: "/transactions"}, http.StatusOK, decodeAs[[]models.Transaction],
			[]string{`"relatedTransactionID":`, `"sourceAccountID":`, `"destinationAccountID":`}},
		{"payout", request{method: http.MethodPost, path: "/payouts", body: payoutBody}, http.StatusCreated, decodeAs[models.Payout],
			[]string{`"idempotencyKey":`, `"sourceAccountId":`, `"destinationAccountId":`}},
		{"transfer", request{method: http.MethodPost, path: "/transfers", body: transferBody}, http.StatusCreated, decodeAs[models.Transfer],
			[]string{`"sourceAccountId":`, `"destinationAccountId":`}},
		{"bank_account", request{method: http.MethodPost, path: "/bank-accounts", body: bankAccountBody}, http.StatusCreated, decodeAs[models.BankAccount], []string{`"swiftBicCode":`}},
		{"error", request{path: "/accounts/acc_404/balances"}, http.StatusNotFound, decodeAs[models.Error], []string{`"Title":`, `"Detail":`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, srv.URL, tt.req)
			require.Equal(t, tt.wantStatus, res.status, "body: %s", res.body)
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))

			path := filepath.Join("testdata", tt.name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, res.body, 0o644))
			}
			golden, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./httpserver -run TestGoldenJSON -update to create it")
			assert.Equal(t, string(golden), string(res.body), "the answer differs from %s", path)
			for _, name := range tt.mustHave {
				assert.Contains(t, string(golden), name)
			}

			dec := json.NewDecoder(bytes.NewReader(golden))
			dec.DisallowUnknownFields()
			v, err := tt.roundTrip(dec)
			require.NoError(t, err, "%s must decode into the models type with no unknown field", path)
			again, err := json.Marshal(v)
			require.NoError(t, err)
			assert.JSONEq(t, string(golden), string(again), "%s must survive a decode/encode round trip", path)
		})
	}
}

func decodeAs[T any](dec *json.Decoder) (any, error) {
	var v T
	err := dec.Decode(&v)
	return v, err
}
