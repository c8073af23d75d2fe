package pspconnect_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// bank is the provider of the package documentation, kept here so that it compiles and runs.
type bank struct {
	accounts     *pagination.Collection[models.Account]
	transactions *pagination.Collection[models.Transaction]
}

func (b *bank) ListAccounts(_ context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{Items: b.accounts.Page(req)}, nil
}

func (b *bank) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil // this PSP has no beneficiaries
}

func (b *bank) ListTransactions(_ context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{Items: b.transactions.Page(req)}, nil
}

func (b *bank) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	if _, ok := b.accounts.Get(accountID); !ok {
		return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
	}
	return models.Balances{
		ID: "bal_" + accountID, AccountID: accountID, At: time.Now().UTC(),
		Balances: []models.Balance{{Amount: models.AmountFromInt64(10_000), Currency: "EUR/2"}},
	}, nil
}

// Example builds the provider of the package documentation, serves it and polls it once the way
// Formance does.
func Example() {
	b := &bank{accounts: pagination.NewAccounts(), transactions: pagination.NewTransactions()}
	created := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	_ = b.accounts.Put(models.Account{ID: "acc_1", AccountName: "Main", CreatedAt: created})
	_ = b.transactions.Put(models.Transaction{
		ID: "tx_1", CreatedAt: created, UpdatedAt: created, Currency: "EUR/2",
		Type: models.TransactionTypePayIn, Status: models.TransactionStatusSucceeded,
		Amount: models.AmountFromInt64(10_000), DestinationAccountID: "acc_1",
	})

	handler, err := httpserver.New(b, httpserver.WithAPIKey("change-me"))
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/formance", handler))
	defer srv.Close()

	for _, path := range []string{"/formance/accounts?page=1&pageSize=25&sort=createdAt:asc", "/formance/accounts/acc_9/balances"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer change-me")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 [{"id":"acc_1","accountName":"Main","createdAt":"2024-01-01T10:00:00Z"}]
	// 404 {"Title":"Not Found","Detail":"not found: account \"acc_9\" does not exist"}
}
