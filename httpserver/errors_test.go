package httpserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

func TestProviderErrorsMapToStatuses(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		wantStatus     int
		wantDetail     string
		wantRetryAfter string
	}{
		{"not found", connector.NotFound("account %q", "acc_7"), http.StatusNotFound, `not found: account "acc_7"`, ""},
		{"invalid request", connector.InvalidRequest("insufficient funds"), http.StatusBadRequest, "invalid request: insufficient funds", ""},
		{"conflict", connector.Conflict("duplicate"), http.StatusConflict, "conflict: duplicate", ""},
		{"wrapped sentinel", fmt.Errorf("psp said no: %w", connector.ErrInvalidRequest), http.StatusBadRequest, "invalid request", ""},
		{"rate limited", connector.RateLimited(1500*time.Millisecond, "slow down"), http.StatusTooManyRequests, "rate limited: slow down", "2"},
		{"rate limited without delay", connector.RateLimited(0, "slow down"), http.StatusTooManyRequests, "rate limited: slow down", ""},
		{"unavailable", connector.Unavailable(errors.New("dial tcp: timeout"), "psp down"), http.StatusServiceUnavailable, "upstream unavailable: psp down", ""},
		{"unavailable with delay", &connector.Error{Kind: connector.ErrUnavailable, Detail: "maintenance", RetryAfter: 30 * time.Second},
			http.StatusServiceUnavailable, "upstream unavailable: maintenance", "30"},
		{"not implemented", fmt.Errorf("no transactions here: %w", connector.ErrNotImplemented), http.StatusNotImplemented, "not implemented", ""},
		{"unknown error", errors.New("pq: password authentication failed for user psp"), http.StatusInternalServerError, "GET /transactions: internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFake()
			p.err = tt.err
			srv, logs := newServer(t, p)
			res := send(t, srv.URL, request{path: "/transactions"})
			e := errorBody(t, res, tt.wantStatus)
			assert.Equal(t, tt.wantDetail, e.Detail)
			assert.Equal(t, tt.wantRetryAfter, res.header.Get("Retry-After"))
			srv.Close()
			assert.Contains(t, logs.String(), jsonText(tt.err.Error()), "the provider error is logged")
		})
	}
}

func TestErrorsOfWriteRoutes(t *testing.T) {
	p := newFull()
	p.err = connector.RateLimited(time.Second, "psp quota")
	srv, _ := newServer(t, p)
	for _, req := range []request{
		{method: http.MethodPost, path: "/payouts", body: payoutBody},
		{method: http.MethodPost, path: "/transfers", body: transferBody},
		{method: http.MethodPost, path: "/bank-accounts", body: bankAccountBody},
		{path: "/payouts/po_1"},
		{path: "/transfers/tr_1"},
		{path: "/accounts/acc_01/balances"},
	} {
		t.Run(req.method+" "+req.path, func(t *testing.T) {
			res := send(t, srv.URL, req)
			assert.Equal(t, "rate limited: psp quota", errorBody(t, res, http.StatusTooManyRequests).Detail)
			assert.Equal(t, "1", res.header.Get("Retry-After"))
		})
	}
}

func TestPanicIsRecovered(t *testing.T) {
	p := newFake()
	srv, logs := newServer(t, p)

	p.set(func(f *fakeProvider) { f.panicValue = "provider exploded" })
	res := send(t, srv.URL, request{path: "/accounts"})
	e := errorBody(t, res, http.StatusInternalServerError)
	assert.NotContains(t, e.Detail, "exploded", "the panic value is logged, not sent")

	p.set(func(f *fakeProvider) { f.panicValue = nil })
	res = send(t, srv.URL, request{path: "/accounts"})
	assert.Equal(t, http.StatusOK, res.status, "the server keeps serving after a panic")

	srv.Close()
	out := logs.String()
	assert.Contains(t, out, `"level":"ERROR","msg":"panic while serving request"`)
	assert.Contains(t, out, "provider exploded")
	assert.Contains(t, out, "goroutine", "the stack is logged")
}

func TestAbortHandlerPanicAbortsTheConnection(t *testing.T) {
	p := newFake()
	srv, _ := newServer(t, p)

	p.set(func(f *fakeProvider) { f.panicValue = http.ErrAbortHandler })
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/accounts", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		res.Body.Close()
	}
	require.Error(t, err, "http.ErrAbortHandler must abort the answer, not become a 500")

	p.set(func(f *fakeProvider) { f.panicValue = nil })
	assert.Equal(t, http.StatusOK, send(t, srv.URL, request{path: "/accounts"}).status)
}

// TestInvalidProviderOutput checks that nothing the provider returns reaches the client unless it is
// valid, and that the 500 names the route, the item and the field.
func TestInvalidProviderOutput(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(p *fullProvider)
		req        request
		wantDetail string // exact, or a prefix when wantPrefix
		wantPrefix bool
	}{
		{
			name: "transaction with an old status",
			setup: func(p *fullProvider) {
				tx := transaction(19)
				tx.Status = "PROCESSED"
				p.transactions = append(p.transactions, tx)
			},
			req:        request{path: "/transactions"},
			wantDetail: `GET /transactions: provider returned an invalid item: transaction "tx_19": field "status": "PROCESSED" is not a valid transaction status (want one of PENDING, `,
			wantPrefix: true,
		},
		{
			name: "transaction without amount",
			setup: func(p *fullProvider) {
				p.transactions[2].Amount = models.Amount{}
			},
			req:        request{path: "/transactions"},
			wantDetail: `GET /transactions: provider returned an invalid item: transaction "tx_02": field "amount": is required (an integer in minor units, as a decimal string)`,
		},
		{
			name: "transaction with a negative amount",
			setup: func(p *fullProvider) {
				p.transactions[1].Amount = models.AmountFromInt64(-5)
			},
			req:        request{path: "/transactions"},
			wantDetail: `GET /transactions: provider returned an invalid item: transaction "tx_01": field "amount": must not be negative, got "-5"`,
		},
		{
			name: "transaction with a bad asset",
			setup: func(p *fullProvider) {
				p.transactions[0].Currency = "usd/2"
			},
			req:        request{path: "/transactions"},
			wantDetail: `GET /transactions: provider returned an invalid item: transaction "tx_00": field "currency": "usd/2": code must start with an upper-case letter A-Z`,
			wantPrefix: true,
		},
		{
			name: "transaction with a bad type",
			setup: func(p *fullProvider) {
				p.transactions[3].Type = "DEPOSIT"
			},
			req:        request{path: "/transactions"},
			wantDetail: `GET /transactions: provider returned an invalid item: transaction "tx_03": field "type": "DEPOSIT" is not a valid transaction type`,
			wantPrefix: true,
		},
		{
			name: "account without id",
			setup: func(p *fullProvider) {
				p.accounts[1].ID = ""
			},
			req:        request{path: "/accounts"},
			wantDetail: `GET /accounts: provider returned an invalid item (item 2 of 3 on the page): account: field "id": is required`,
		},
		{
			name: "account without creation time",
			setup: func(p *fullProvider) {
				p.accounts = []models.Account{{ID: "acc_x", AccountName: "X"}}
			},
			req:        request{path: "/accounts"},
			wantDetail: `GET /accounts: provider returned an invalid item: account "acc_x": field "createdAt": is required (an RFC 3339 date-time, got the zero time)`,
		},
		{
			name: "beneficiary without owner name",
			setup: func(p *fullProvider) {
				p.beneficiaries[0].OwnerName = ""
			},
			req:        request{path: "/beneficiaries"},
			wantDetail: `GET /beneficiaries: provider returned an invalid item: beneficiary "ben_00": field "ownerName": is required`,
		},
		{
			name: "more items than pageSize",
			setup: func(p *fullProvider) {
				p.transactions = sample(5, transaction)
				p.ignorePaging = true
			},
			req:        request{path: "/transactions?pageSize=3"},
			wantDetail: "GET /transactions: provider returned 5 items for pageSize=3 (a page must hold at most pageSize items)",
		},
		{
			name: "duplicate id on one page",
			setup: func(p *fullProvider) {
				p.beneficiaries[1].ID = p.beneficiaries[0].ID
			},
			req:        request{path: "/beneficiaries"},
			wantDetail: `GET /beneficiaries: provider returned id "ben_00" twice on one page (items 1 and 2 of 2)`,
		},
		{
			name: "balance with a bad currency",
			setup: func(p *fullProvider) {
				b := balances("acc_01")
				b.Balances = append(b.Balances, models.Balance{Amount: models.AmountFromInt64(3), Currency: "eur/2"})
				p.balances["acc_01"] = b
			},
			req:        request{path: "/accounts/acc_01/balances"},
			wantDetail: `GET /accounts/acc_01/balances: provider returned invalid balances: balances "bal_acc_01": field "balances[1].currency": "eur/2": code must start with an upper-case letter A-Z`,
			wantPrefix: true,
		},
		{
			name: "balance without amount",
			setup: func(p *fullProvider) {
				b := balances("acc_01")
				b.Balances[0].Amount = models.Amount{}
				p.balances["acc_01"] = b
			},
			req:        request{path: "/accounts/acc_01/balances"},
			wantDetail: `GET /accounts/acc_01/balances: provider returned invalid balances: balances "bal_acc_01": field "balances[0].amount": is required (an integer in minor units, as a decimal string)`,
		},
		{
			name: "balances of another account",
			setup: func(p *fullProvider) {
				p.balances["acc_01"] = balances("acc_02")
			},
			req:        request{path: "/accounts/acc_01/balances"},
			wantDetail: `GET /accounts/acc_01/balances: provider returned balances of account "acc_02" when asked for account "acc_01" (accountID must equal the account id of the path)`,
		},
		{
			name: "created payout with another idempotency key",
			setup: func(p *fullProvider) {
				p.alterPayout = func(po *models.Payout) { po.IdempotencyKey = "ik_other" }
			},
			req:        request{method: http.MethodPost, path: "/payouts", body: payoutBody},
			wantDetail: `POST /payouts: provider returned payout "po_ik_9" with idempotencyKey "ik_other" for a request with idempotencyKey "ik_9" (the PSP accepted the payout: this answer is replayed to every retry with this idempotencyKey, and the provider is not called again)`,
		},
		{
			name: "created payout with an invalid status",
			setup: func(p *fullProvider) {
				p.alterPayout = func(po *models.Payout) { po.Status = "PROCESSING" }
			},
			req:        request{method: http.MethodPost, path: "/payouts", body: payoutBody},
			wantDetail: `POST /payouts: provider returned an invalid payout: payout "po_ik_9": field "status": "PROCESSING" is not a valid transaction status`,
			wantPrefix: true,
		},
		{
			name: "fetched payout with another id",
			setup: func(p *fullProvider) {
				po := p.payouts["po_1"]
				po.ID = "po_2"
				p.payouts["po_1"] = po
			},
			req:        request{path: "/payouts/po_1"},
			wantDetail: `GET /payouts/po_1: provider returned payout "po_2" when asked for payout "po_1"`,
		},
		{
			name: "fetched payout without amount",
			setup: func(p *fullProvider) {
				po := p.payouts["po_1"]
				po.Amount = models.Amount{}
				p.payouts["po_1"] = po
			},
			req:        request{path: "/payouts/po_1"},
			wantDetail: `GET /payouts/po_1: provider returned an invalid payout: payout "po_1": field "amount": is required (an integer in minor units, as a decimal string)`,
		},
		{
			name: "created transfer with another idempotency key",
			setup: func(p *fullProvider) {
				p.alterTransfr = func(tr *models.Transfer) { tr.IdempotencyKey = "ik_x" }
			},
			req:        request{method: http.MethodPost, path: "/transfers", body: transferBody},
			wantDetail: `POST /transfers: provider returned transfer "tr_ik_8" with idempotencyKey "ik_x" for a request with idempotencyKey "ik_8" (the PSP accepted the transfer: this answer is replayed to every retry with this idempotencyKey, and the provider is not called again)`,
		},
		{
			name: "created transfer without id",
			setup: func(p *fullProvider) {
				p.alterTransfr = func(tr *models.Transfer) { tr.ID = "" }
			},
			req:        request{method: http.MethodPost, path: "/transfers", body: transferBody},
			wantDetail: `POST /transfers: provider returned an invalid transfer: transfer "ik_8": field "id": is required (the PSP accepted the transfer: this answer is replayed to every retry with this idempotencyKey, and the provider is not called again)`,
		},
		{
			name: "fetched transfer with a bad currency",
			setup: func(p *fullProvider) {
				tr := p.transfers["tr_1"]
				tr.Currency = "US D"
				p.transfers["tr_1"] = tr
			},
			req:        request{path: "/transfers/tr_1"},
			wantDetail: `GET /transfers/tr_1: provider returned an invalid transfer: transfer "tr_1": field "currency": `,
			wantPrefix: true,
		},
		{
			name: "created bank account with a bad country",
			setup: func(p *fullProvider) {
				p.alterBank = func(b *models.BankAccount) { b.Country = "France" }
			},
			req:        request{method: http.MethodPost, path: "/bank-accounts", body: bankAccountBody},
			wantDetail: `POST /bank-accounts: provider returned an invalid bank account: bank account "ba_1": field "country": "France" is not an ISO 3166-1 alpha-2 country code (e.g. "FR") (the PSP accepted the bank account: this answer is replayed to every retry with this Idempotency-Key header, and the provider is not called again)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFull()
			tt.setup(p)
			srv, logs := newServer(t, p)
			res := send(t, srv.URL, tt.req)
			e := errorBody(t, res, http.StatusInternalServerError)
			if tt.wantPrefix {
				assert.True(t, len(e.Detail) >= len(tt.wantDetail) && e.Detail[:len(tt.wantDetail)] == tt.wantDetail,
					"Detail\n got: %s\nwant: %s…", e.Detail, tt.wantDetail)
			} else {
				assert.Equal(t, tt.wantDetail, e.Detail)
			}
			srv.Close()
			assert.Contains(t, logs.String(), `"level":"ERROR","msg":"provider returned invalid output"`)
		})
	}
}

func TestCreatedObjectsGetTheRequestIdempotencyKey(t *testing.T) {
	p := newFull()
	p.alterPayout = func(po *models.Payout) { po.IdempotencyKey = "" }
	p.alterTransfr = func(tr *models.Transfer) { tr.IdempotencyKey = "" }
	srv, _ := newServer(t, p)

	res := send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payoutBody})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	assert.Equal(t, "ik_9", decodeInto[models.Payout](t, res).IdempotencyKey)

	res = send(t, srv.URL, request{method: http.MethodPost, path: "/transfers", body: transferBody})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	assert.Equal(t, "ik_8", decodeInto[models.Transfer](t, res).IdempotencyKey)
}

func TestClientGoneIsNotAnError(t *testing.T) {
	p := newFake()
	started := make(chan struct{})
	p.hook = func(ctx context.Context) error {
		close(started)
		<-ctx.Done() // the provider waits on its PSP until the client goes away
		return fmt.Errorf("calling the PSP: %w", ctx.Err())
	}
	srv, logs := newServer(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/transactions", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	go func() {
		<-started
		cancel()
	}()
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		res.Body.Close()
	}
	require.ErrorIs(t, err, context.Canceled)

	srv.Close() // waits for the handler to finish
	out := logs.String()
	assert.Contains(t, out, `"msg":"client closed the request"`)
	assert.Contains(t, out, `"status":499`)
	assert.NotContains(t, out, `"level":"ERROR"`)
}
