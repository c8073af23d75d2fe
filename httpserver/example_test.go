package httpserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
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

// cursorPSP is a connector.CursorProvider over a PSP whose lists page by cursor: here the cursor is
// the index of the next account, as a string.
type cursorPSP struct {
	accounts []models.Account
	calls    atomic.Int64 // list calls, as a PSP would count them
}

func (p *cursorPSP) ListAccounts(_ context.Context, req connector.CursorRequest) (connector.CursorPage[models.Account], error) {
	p.calls.Add(1)
	start := 0
	if req.Cursor != "" {
		start, _ = strconv.Atoi(req.Cursor)
	}
	for start < len(p.accounts) && p.accounts[start].CreatedAt.Before(req.From) {
		start++ // a real PSP applies req.From in its query (created[gte]=…)
	}
	end := min(start+req.PageSize, len(p.accounts))
	page := connector.CursorPage[models.Account]{Items: p.accounts[start:end]}
	if end < len(p.accounts) {
		page.Next = strconv.Itoa(end)
	}
	return page, nil
}

func (p *cursorPSP) ListBeneficiaries(context.Context, connector.CursorRequest) (connector.CursorPage[models.Beneficiary], error) {
	return connector.CursorPage[models.Beneficiary]{}, nil
}

func (p *cursorPSP) ListTransactions(context.Context, connector.CursorRequest) (connector.CursorPage[models.Transaction], error) {
	return connector.CursorPage[models.Transaction]{}, nil
}

func (p *cursorPSP) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	return models.Balances{}, connector.NotFound("account %q", accountID)
}

// A PSP that pages by cursor implements connector.CursorProvider; CursorPaged makes it the Provider
// that New serves. Formance walks pages 1, 2, 3: one PSP call per page.
func ExampleCursorPaged() {
	psp := &cursorPSP{}
	for i := range 5 {
		psp.accounts = append(psp.accounts, models.Account{ID: fmt.Sprintf("acc_%d", i), AccountName: "Account",
			CreatedAt: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC)})
	}
	h, err := httpserver.New(httpserver.CursorPaged(psp),
		httpserver.WithAPIKey("s3cret"),
		httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		panic(err)
	}
	for page := 1; page <= 3; page++ {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/accounts?page=%d&pageSize=2&sort=createdAt:asc", page), nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Printf("page %d: %d %s", page, rec.Code, rec.Body)
	}
	fmt.Println("PSP calls:", psp.calls.Load())
	// Output:
	// page 1: 200 [{"id":"acc_0","accountName":"Account","createdAt":"2024-01-01T00:00:00Z"},{"id":"acc_1","accountName":"Account","createdAt":"2024-01-01T00:00:01Z"}]
	// page 2: 200 [{"id":"acc_2","accountName":"Account","createdAt":"2024-01-01T00:00:02Z"},{"id":"acc_3","accountName":"Account","createdAt":"2024-01-01T00:00:03Z"}]
	// page 3: 200 [{"id":"acc_4","accountName":"Account","createdAt":"2024-01-01T00:00:04Z"}]
	// PSP calls: 3
}
