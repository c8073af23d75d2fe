package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

const payoutBody = `{"idempotencyKey":"ik_9","amount":"10000","currency":"USD/2","sourceAccountId":"acc_01","destinationAccountId":"ben_01","description":"rent"}`

const transferBody = `{"idempotencyKey":"ik_8","amount":"250","currency":"EUR/2","sourceAccountId":"acc_01","destinationAccountId":"acc_02"}`

const bankAccountBody = `{"name":"Main account","iban":"FR7630006000011234567890189","country":"FR"}`

func TestEveryRouteServesItsProviderMethod(t *testing.T) {
	p := newFull()
	srv, _ := newServer(t, p)

	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCall   string
		check      func(t *testing.T, res response)
	}{
		{"accounts", request{path: "/accounts"}, http.StatusOK, "ListAccounts", func(t *testing.T, res response) {
			got := decodeInto[[]models.Account](t, res)
			assert.Equal(t, []string{"acc_00", "acc_01", "acc_02"}, ids(got, func(a models.Account) string { return a.ID }))
		}},
		{"balances", request{path: "/accounts/acc_01/balances"}, http.StatusOK, "GetBalances", func(t *testing.T, res response) {
			got := decodeInto[models.Balances](t, res)
			assert.Equal(t, "acc_01", got.AccountID)
			assert.Equal(t, "-2500", got.Balances[0].Amount.String())
		}},
		{"beneficiaries", request{path: "/beneficiaries"}, http.StatusOK, "ListBeneficiaries", func(t *testing.T, res response) {
			got := decodeInto[[]models.Beneficiary](t, res)
			assert.Equal(t, []string{"ben_00", "ben_01"}, ids(got, func(b models.Beneficiary) string { return b.ID }))
		}},
		{"transactions", request{path: "/transactions"}, http.StatusOK, "ListTransactions", func(t *testing.T, res response) {
			got := decodeInto[[]models.Transaction](t, res)
			assert.Equal(t, []string{"tx_00", "tx_01", "tx_02", "tx_03", "tx_04"}, ids(got, txID))
		}},
		{"create payout", request{method: http.MethodPost, path: "/payouts", body: payoutBody}, http.StatusCreated, "CreatePayout", func(t *testing.T, res response) {
			got := decodeInto[models.Payout](t, res)
			assert.Equal(t, "po_ik_9", got.ID)
			assert.Equal(t, "ik_9", got.IdempotencyKey)
			assert.Equal(t, "10000", got.Amount.String())
		}},
		{"get payout", request{path: "/payouts/po_1"}, http.StatusOK, "GetPayout", func(t *testing.T, res response) {
			assert.Equal(t, "po_1", decodeInto[models.Payout](t, res).ID)
		}},
		{"create transfer", request{method: http.MethodPost, path: "/transfers", body: transferBody}, http.StatusCreated, "CreateTransfer", func(t *testing.T, res response) {
			got := decodeInto[models.Transfer](t, res)
			assert.Equal(t, "tr_ik_8", got.ID)
			assert.Equal(t, models.Asset("EUR/2"), got.Currency)
		}},
		{"get transfer", request{path: "/transfers/tr_1"}, http.StatusOK, "GetTransfer", func(t *testing.T, res response) {
			assert.Equal(t, "tr_1", decodeInto[models.Transfer](t, res).ID)
		}},
		{"create bank account", request{method: http.MethodPost, path: "/bank-accounts", body: bankAccountBody}, http.StatusCreated, "CreateBankAccount", func(t *testing.T, res response) {
			got := decodeInto[models.BankAccount](t, res)
			assert.Equal(t, "Main account", got.Name)
			assert.Equal(t, "FR", got.Country)
		}},
		{"unknown account", request{path: "/accounts/acc_99/balances"}, http.StatusNotFound, "GetBalances", func(t *testing.T, res response) {
			assert.Contains(t, errorBody(t, res, http.StatusNotFound).Detail, `"acc_99"`)
		}},
		{"unknown payout", request{path: "/payouts/po_9"}, http.StatusNotFound, "GetPayout", func(t *testing.T, res response) {
			assert.Contains(t, errorBody(t, res, http.StatusNotFound).Detail, `"po_9"`)
		}},
		{"unknown transfer", request{path: "/transfers/tr_9"}, http.StatusNotFound, "GetTransfer", func(t *testing.T, res response) {
			assert.Contains(t, errorBody(t, res, http.StatusNotFound).Detail, `"tr_9"`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, tt.req)
			require.Equal(t, tt.wantStatus, res.status, "body: %s", res.body)
			calls := p.recorded()[before:]
			require.Len(t, calls, 1)
			assert.Equal(t, tt.wantCall, calls[0].method)
			assert.Equal(t, httpserver.DefaultTenant, calls[0].tenant)
			tt.check(t, res)
		})
	}
}

func TestEmptyListIsAnEmptyArray(t *testing.T) {
	p := &fakeProvider{}
	srv, _ := newServer(t, p)
	for _, path := range []string{"/accounts", "/beneficiaries", "/transactions"} {
		t.Run(path, func(t *testing.T) {
			res := send(t, srv.URL, request{path: path})
			require.Equal(t, http.StatusOK, res.status)
			assert.Equal(t, "[]\n", string(res.body))
		})
	}
}

func TestBalancesWithoutAccountIDOrBalances(t *testing.T) {
	p := newFake()
	p.balances["acc_02"] = models.Balances{ID: "bal_2", At: t0} // no AccountID, no balances
	srv, _ := newServer(t, p)

	res := send(t, srv.URL, request{path: "/accounts/acc_02/balances"})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.JSONEq(t, `{"id":"bal_2","accountID":"acc_02","at":"2024-03-01T10:00:00Z","balances":[]}`, string(res.body))
}

func TestQueryReachesProvider(t *testing.T) {
	p := newFake()
	srv, _ := newServer(t, p)

	tests := []struct {
		path string
		want connector.ListRequest
	}{
		{"/accounts", connector.ListRequest{Page: 1, PageSize: pagination.DefaultPageSize,
			Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}}},
		{"/accounts?page=3&pageSize=25&sort=createdAt:asc&createdAtFrom=2024-03-01T10:00:01Z", connector.ListRequest{Page: 3, PageSize: 25,
			Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}, From: t0.Add(time.Second)}},
		{"/beneficiaries?pageSize=7&createdAtFrom=2024-03-01T11:00:00.5%2B01:00", connector.ListRequest{Page: 1, PageSize: 7,
			Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}, From: t0.Add(500 * time.Millisecond)}},
		{"/transactions?page=2&pageSize=1000&sort=updatedAt:desc&updatedAtFrom=2024-03-01T10:00:00Z&other=ignored", connector.ListRequest{Page: 2, PageSize: 1000,
			Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Descending}, From: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, request{path: tt.path})
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			calls := p.recorded()[before:]
			require.Len(t, calls, 1)
			got := calls[0].query
			assert.Equal(t, tt.want.Page, got.Page)
			assert.Equal(t, tt.want.PageSize, got.PageSize)
			assert.Equal(t, tt.want.Sort, got.Sort)
			assert.True(t, tt.want.From.Equal(got.From), "From: want %v, got %v", tt.want.From, got.From)
		})
	}
}

func TestListPagesAndFilter(t *testing.T) {
	p := newFake()
	p.transactions = sample(7, transaction)
	srv, _ := newServer(t, p)

	tests := []struct {
		query string
		want  []string
	}{
		{"?page=1&pageSize=3", []string{"tx_00", "tx_01", "tx_02"}},
		{"?page=3&pageSize=3", []string{"tx_06"}},
		{"?page=4&pageSize=3", []string{}},
		{"?pageSize=3&updatedAtFrom=2024-03-01T10:00:05Z", []string{"tx_05", "tx_06"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := send(t, srv.URL, request{path: "/transactions" + tt.query})
			require.Equal(t, http.StatusOK, res.status)
			assert.Equal(t, tt.want, ids(decodeInto[[]models.Transaction](t, res), txID))
		})
	}
}

func TestBadQueryParameters(t *testing.T) {
	p := newFake()
	srv, _ := newServer(t, p, httpserver.WithMaxPageSize(50))

	tests := []struct {
		name       string
		path       string
		wantDetail string
	}{
		{"page zero", "/accounts?page=0", `page="0"`},
		{"page negative", "/accounts?page=-1", `page="-1"`},
		{"page not a number", "/beneficiaries?page=abc", `page="abc"`},
		{"page overflow", "/transactions?page=99999999999999999999", `page="99999999999999999999"`},
		{"pageSize zero", "/transactions?pageSize=0", `pageSize="0"`},
		{"pageSize above max", "/transactions?pageSize=51", "at most 50"},
		{"pageSize not a number", "/accounts?pageSize=ten", `pageSize="ten"`},
		{"duplicate page", "/accounts?page=1&page=2", "given more than once"},
		{"duplicate pageSize", "/transactions?pageSize=5&pageSize=5", "pageSize"},
		{"duplicate from", "/transactions?updatedAtFrom=2024-01-01T00:00:00Z&updatedAtFrom=2024-01-02T00:00:00Z", "updatedAtFrom"},
		{"sort unknown field", "/accounts?sort=name:asc", "unknown sort field"},
		{"sort by the other route's field", "/transactions?sort=createdAt:asc", "unknown sort field"},
		{"sort unknown direction", "/transactions?sort=updatedAt:up", "unknown sort direction"},
		{"createdAtFrom with a space", "/accounts?createdAtFrom=2024-01-01+10:00:00", "createdAtFrom"},
		{"createdAtFrom a bare date", "/beneficiaries?createdAtFrom=2024-01-01", "RFC 3339"},
		{"updatedAtFrom a unix number", "/transactions?updatedAtFrom=1704103200", "updatedAtFrom"},
		{"updatedAtFrom empty", "/transactions?updatedAtFrom=", "updatedAtFrom"},
		{"malformed query string", "/accounts?page=%zz", "malformed query string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, request{path: tt.path})
			e := errorBody(t, res, http.StatusBadRequest)
			assert.Contains(t, e.Detail, tt.wantDetail)
			assert.Len(t, p.recorded()[before:], 0, "the provider must not be called")
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	srv, _ := newServer(t, newFull())

	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantAllow  string
	}{
		{"unknown path", request{path: "/nope"}, http.StatusNotFound, ""},
		{"root", request{path: "/"}, http.StatusNotFound, ""},
		{"trailing slash", request{path: "/accounts/"}, http.StatusNotFound, ""},
		{"account without balances", request{path: "/accounts/acc_01"}, http.StatusNotFound, ""},
		{"post accounts", request{method: http.MethodPost, path: "/accounts", body: "{}"}, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"delete transactions", request{method: http.MethodDelete, path: "/transactions"}, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"put balances", request{method: http.MethodPut, path: "/accounts/acc_01/balances"}, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"get payouts", request{path: "/payouts"}, http.StatusMethodNotAllowed, "POST"},
		{"delete payout", request{method: http.MethodDelete, path: "/payouts/po_1"}, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"post transfer id", request{method: http.MethodPost, path: "/transfers/tr_1", body: "{}"}, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"get bank accounts", request{path: "/bank-accounts"}, http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, srv.URL, tt.req)
			e := errorBody(t, res, tt.wantStatus)
			assert.Equal(t, tt.wantAllow, res.header.Get("Allow"))
			assert.Contains(t, e.Detail, tt.req.path)
		})
	}

	t.Run("unauthenticated unknown path is 401", func(t *testing.T) {
		res := send(t, srv.URL, request{path: "/nope", auth: "-"})
		errorBody(t, res, http.StatusUnauthorized)
	})
}

func TestMountedUnderPrefix(t *testing.T) {
	p := newFull()
	p.transactions = append(p.transactions, models.Transaction{ID: "tx_bad", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour),
		Currency: "USD/2", Type: models.TransactionTypeOther, Status: "PROCESSED", Amount: models.AmountFromInt64(1)})
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(discardLogger()))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/formance/", http.StripPrefix("/formance", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	res := send(t, srv.URL, request{path: "/formance/accounts?pageSize=2"})
	require.Equal(t, http.StatusOK, res.status)
	assert.Len(t, decodeInto[[]models.Account](t, res), 2)

	res = send(t, srv.URL, request{path: "/formance/accounts/acc_01/balances"})
	require.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "acc_01", decodeInto[models.Balances](t, res).AccountID)

	res = send(t, srv.URL, request{method: http.MethodPost, path: "/formance/payouts", body: payoutBody})
	require.Equal(t, http.StatusCreated, res.status)

	res = send(t, srv.URL, request{path: "/formance/payouts/po_1"})
	require.Equal(t, http.StatusOK, res.status)

	res = send(t, srv.URL, request{path: "/formance/nope"})
	assert.Contains(t, errorBody(t, res, http.StatusNotFound).Detail, "GET /nope")

	res = send(t, srv.URL, request{method: http.MethodPost, path: "/formance/accounts", body: "{}"})
	errorBody(t, res, http.StatusMethodNotAllowed)
	assert.Equal(t, "GET, HEAD", res.header.Get("Allow"))

	res = send(t, srv.URL, request{path: "/formance/transactions"})
	assert.Contains(t, errorBody(t, res, http.StatusInternalServerError).Detail,
		`GET /transactions: provider returned an invalid item: transaction "tx_bad": field "status"`)

	res = send(t, srv.URL, request{path: "/formance/accounts", auth: "-"})
	errorBody(t, res, http.StatusUnauthorized)
}

// TestMissingCapabilities: a missing read capability answers 501 (harmless: Formance does not call
// the extension read routes); a missing write capability answers 405, a final answer, because
// Formance retries a 501 for ever and the payment initiation would never end.
func TestMissingCapabilities(t *testing.T) {
	p := newFake() // only the required Provider interface
	srv, _ := newServer(t, p)

	tests := []struct {
		req        request
		wantStatus int
		wantDetail string
	}{
		{request{method: http.MethodPost, path: "/payouts", body: payoutBody}, http.StatusMethodNotAllowed,
			"this middleware does not create payouts: the provider does not implement connector.PayoutCreator"},
		{request{path: "/payouts/po_1"}, http.StatusNotImplemented,
			"this middleware does not report payouts: the provider does not implement connector.PayoutGetter"},
		{request{method: http.MethodPost, path: "/transfers", body: transferBody}, http.StatusMethodNotAllowed,
			"this middleware does not create transfers: the provider does not implement connector.TransferCreator"},
		{request{path: "/transfers/tr_1"}, http.StatusNotImplemented,
			"this middleware does not report transfers: the provider does not implement connector.TransferGetter"},
		{request{method: http.MethodPost, path: "/bank-accounts", body: bankAccountBody}, http.StatusMethodNotAllowed,
			"this middleware does not create bank accounts: the provider does not implement connector.BankAccountCreator"},
	}
	for _, tt := range tests {
		t.Run(tt.req.method+" "+tt.req.path, func(t *testing.T) {
			res := send(t, srv.URL, tt.req)
			assert.Equal(t, tt.wantDetail, errorBody(t, res, tt.wantStatus).Detail)
			if tt.wantStatus == http.StatusMethodNotAllowed {
				assert.Equal(t, []string{""}, res.header.Values("Allow"), "the path allows no method")
			}
		})
	}
	assert.Empty(t, p.recorded())
}

func TestHeadIsServedLikeGet(t *testing.T) {
	srv, _ := newServer(t, newFake())
	res := send(t, srv.URL, request{method: http.MethodHead, path: "/accounts"})
	assert.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	assert.Empty(t, res.body)
}
