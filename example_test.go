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
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// bank is the provider of the package documentation, kept here so that it compiles and runs.
type bank struct {
	accounts     feed.Feed[models.Account]
	transactions feed.Feed[models.Transaction]
}

func (b *bank) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	return feed.List(ctx, b.accounts, req)
}

func (b *bank) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil // this PSP has no beneficiaries
}

func (b *bank) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, b.transactions, req)
}

func (b *bank) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	tenant, _ := connector.TenantFrom(ctx)
	if _, ok, err := b.accounts.Get(ctx, tenant, accountID); err != nil {
		return models.Balances{}, err
	} else if !ok {
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
	ctx := context.Background()
	accounts, transactions := feed.NewMemoryAccounts(), feed.NewMemoryTransactions()
	b := &bank{accounts: accounts, transactions: transactions}

	// The data of the tenant that WithAPIKey's key authenticates as.
	tenant := httpserver.DefaultTenant
	created := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	if err := accounts.Put(ctx, tenant, models.Account{ID: "acc_1", AccountName: "Main", CreatedAt: created}); err != nil {
		panic(err)
	}
	if err := transactions.Put(ctx, tenant, models.Transaction{
		ID: "tx_1", CreatedAt: created, UpdatedAt: created, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded,
		Amount: models.AmountFromInt64(10_000), DestinationAccountID: "acc_1",
	}); err != nil {
		panic(err)
	}

	handler, err := httpserver.New(b, httpserver.WithAPIKey("change-me"))
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/formance", handler))
	defer srv.Close()

	for _, path := range []string{
		"/formance/accounts?page=1&pageSize=25&sort=createdAt:asc",
		"/formance/transactions?page=1&pageSize=25&sort=updatedAt:asc&updatedAtFrom=2024-01-01T10:00:00Z",
		"/formance/accounts/acc_9/balances",
	} {
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
	// 200 [{"id":"tx_1","createdAt":"2024-01-01T10:00:00Z","updatedAt":"2024-01-01T10:00:00Z","currency":"EUR/2","type":"PAYIN","status":"SUCCEEDED","amount":"10000","destinationAccountID":"acc_1"}]
	// 404 {"Title":"Not Found","Detail":"not found: account \"acc_9\" does not exist"}
}
