package httpserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// oneAccountPSP is a minimal provider: one account, no beneficiaries, no transactions.
type oneAccountPSP struct{}

func (oneAccountPSP) ListAccounts(_ context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	acc := models.Account{ID: "acc_1", AccountName: "Main", CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	if req.Page > 1 || acc.CreatedAt.Before(req.From) {
		return connector.Page[models.Account]{}, nil
	}
	return connector.Page[models.Account]{Items: []models.Account{acc}}, nil
}

func (oneAccountPSP) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil
}

func (oneAccountPSP) ListTransactions(context.Context, connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{}, nil
}

func (oneAccountPSP) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	if accountID != "acc_1" {
		return models.Balances{}, connector.NotFound("account %q", accountID)
	}
	return models.Balances{ID: "bal_1", At: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		Balances: []models.Balance{{Amount: models.AmountFromInt64(10000), Currency: "USD/2"}}}, nil
}

func ExampleNew() {
	h, err := httpserver.New(oneAccountPSP{},
		httpserver.WithAPIKey("s3cret"),
		httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		panic(err)
	}
	// Formance's endpoint is https://…/formance: mount the handler under that prefix.
	mux := http.NewServeMux()
	mux.Handle("/formance/", http.StripPrefix("/formance", h))
	srv := httptest.NewServer(mux) // in production: httpserver.ListenAndServe(ctx, ":8080", mux, logger)
	defer srv.Close()

	for _, path := range []string{"/formance/accounts?page=1&pageSize=25&sort=createdAt:asc", "/formance/accounts/acc_1/balances", "/formance/payouts/po_1"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d %s", res.StatusCode, body)
	}
	// Output:
	// 200 [{"id":"acc_1","accountName":"Main","createdAt":"2024-01-01T00:00:00Z"}]
	// 200 {"id":"bal_1","accountID":"acc_1","at":"2024-01-02T00:00:00Z","balances":[{"amount":"10000","currency":"USD/2"}]}
	// 501 {"Title":"Not Implemented","Detail":"this middleware does not report payouts: the provider does not implement connector.PayoutGetter"}
}
