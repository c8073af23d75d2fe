package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/internal/testsupport"
	"github.com/pspconnect/pspconnect/models"
)

// testKey is the API key of the handlers built by newServer.
const testKey = "test-key-1"

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// call is one provider call recorded by fakeProvider.
type call struct {
	method string
	tenant string
	query  connector.ListRequest
	arg    string
}

// fakeProvider is an in-memory connector.Provider that implements only the required interface.
// Its lists are served in the order stored (tests store them sorted), filtered by From and cut into
// pages by page number. err and panicValue, when set, make every method fail or panic.
type fakeProvider struct {
	mu            sync.Mutex
	accounts      []models.Account
	beneficiaries []models.Beneficiary
	transactions  []models.Transaction
	balances      map[string]models.Balances
	err           error
	panicValue    any
	ignorePaging  bool                            // answer every item, whatever the page size
	hook          func(ctx context.Context) error // when set, called by every method; its error is returned
	calls         []call
	forget        bool // keep no calls (a soak makes too many)
}

func (f *fakeProvider) record(ctx context.Context, c call) error {
	f.mu.Lock()
	c.tenant, _ = connector.TenantFrom(ctx)
	if !f.forget {
		f.calls = append(f.calls, c)
	}
	panicValue, err, hook := f.panicValue, f.err, f.hook
	f.mu.Unlock()
	if panicValue != nil {
		panic(panicValue)
	}
	if hook != nil {
		return hook(ctx)
	}
	return err
}

func (f *fakeProvider) set(fn func(f *fakeProvider)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeProvider) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func pageOf[T any](items []T, q connector.ListRequest, at func(T) time.Time) []T {
	var kept []T
	for _, it := range items {
		if !at(it).Before(q.From) {
			kept = append(kept, it)
		}
	}
	start := min(q.Offset(), len(kept))
	end := min(start+q.PageSize, len(kept))
	return kept[start:end]
}

func (f *fakeProvider) ListAccounts(ctx context.Context, q connector.ListRequest) (connector.Page[models.Account], error) {
	if err := f.record(ctx, call{method: "ListAccounts", query: q}); err != nil {
		return connector.Page[models.Account]{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return connector.Page[models.Account]{Items: pageOf(f.accounts, q, func(a models.Account) time.Time { return a.CreatedAt })}, nil
}

func (f *fakeProvider) ListBeneficiaries(ctx context.Context, q connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	if err := f.record(ctx, call{method: "ListBeneficiaries", query: q}); err != nil {
		return connector.Page[models.Beneficiary]{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return connector.Page[models.Beneficiary]{Items: pageOf(f.beneficiaries, q, func(b models.Beneficiary) time.Time { return b.CreatedAt })}, nil
}

func (f *fakeProvider) ListTransactions(ctx context.Context, q connector.ListRequest) (connector.Page[models.Transaction], error) {
	if err := f.record(ctx, call{method: "ListTransactions", query: q}); err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ignorePaging {
		return connector.Page[models.Transaction]{Items: f.transactions}, nil
	}
	return connector.Page[models.Transaction]{Items: pageOf(f.transactions, q, func(t models.Transaction) time.Time { return t.UpdatedAt })}, nil
}

func (f *fakeProvider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	if err := f.record(ctx, call{method: "GetBalances", arg: accountID}); err != nil {
		return models.Balances{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.balances[accountID]
	if !ok {
		return models.Balances{}, connector.NotFound("account %q", accountID)
	}
	return b, nil
}

// fullProvider adds every optional capability to fakeProvider. Each write builds its answer from the
// request; the hooks, when set, alter the answer before it is returned (to make it invalid).
type fullProvider struct {
	*fakeProvider
	payouts      map[string]models.Payout
	transfers    map[string]models.Transfer
	alterPayout  func(*models.Payout)
	alterTransfr func(*models.Transfer)
	alterBank    func(*models.BankAccount)
}

var (
	_ connector.PayoutCreator      = (*fullProvider)(nil)
	_ connector.TransferCreator    = (*fullProvider)(nil)
	_ connector.PayoutGetter       = (*fullProvider)(nil)
	_ connector.TransferGetter     = (*fullProvider)(nil)
	_ connector.BankAccountCreator = (*fullProvider)(nil)
)

func (f *fullProvider) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	if err := f.record(ctx, call{method: "CreatePayout", arg: req.IdempotencyKey}); err != nil {
		return models.Payout{}, err
	}
	p := models.Payout{
		ID: "po_" + req.IdempotencyKey, IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusPending, CreatedAt: t0, Metadata: req.Metadata,
	}
	if f.alterPayout != nil {
		f.alterPayout(&p)
	}
	return p, nil
}

func (f *fullProvider) GetPayout(ctx context.Context, id string) (models.Payout, error) {
	if err := f.record(ctx, call{method: "GetPayout", arg: id}); err != nil {
		return models.Payout{}, err
	}
	p, ok := f.payouts[id]
	if !ok {
		return models.Payout{}, connector.NotFound("payout %q", id)
	}
	return p, nil
}

func (f *fullProvider) CreateTransfer(ctx context.Context, req models.TransferRequest) (models.Transfer, error) {
	if err := f.record(ctx, call{method: "CreateTransfer", arg: req.IdempotencyKey}); err != nil {
		return models.Transfer{}, err
	}
	t := models.Transfer{
		ID: "tr_" + req.IdempotencyKey, IdempotencyKey: req.IdempotencyKey, Amount: req.Amount, Currency: req.Currency,
		SourceAccountID: req.SourceAccountID, DestinationAccountID: req.DestinationAccountID,
		Description: req.Description, Status: models.TransactionStatusSucceeded, CreatedAt: t0, Metadata: req.Metadata,
	}
	if f.alterTransfr != nil {
		f.alterTransfr(&t)
	}
	return t, nil
}

func (f *fullProvider) GetTransfer(ctx context.Context, id string) (models.Transfer, error) {
	if err := f.record(ctx, call{method: "GetTransfer", arg: id}); err != nil {
		return models.Transfer{}, err
	}
	t, ok := f.transfers[id]
	if !ok {
		return models.Transfer{}, connector.NotFound("transfer %q", id)
	}
	return t, nil
}

func (f *fullProvider) CreateBankAccount(ctx context.Context, req models.BankAccountRequest) (models.BankAccount, error) {
	if err := f.record(ctx, call{method: "CreateBankAccount", arg: req.Name}); err != nil {
		return models.BankAccount{}, err
	}
	b := models.BankAccount{
		ID: "ba_1", Name: req.Name, CreatedAt: t0, AccountNumber: req.AccountNumber, IBAN: req.IBAN,
		SwiftBicCode: req.SwiftBicCode, Country: req.Country, Metadata: req.Metadata,
	}
	if f.alterBank != nil {
		f.alterBank(&b)
	}
	return b, nil
}

// Sample data.

func account(i int) models.Account {
	return models.Account{ID: fmt.Sprintf("acc_%02d", i), AccountName: fmt.Sprintf("Account %d", i), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
}

func beneficiary(i int) models.Beneficiary {
	return models.Beneficiary{ID: fmt.Sprintf("ben_%02d", i), OwnerName: fmt.Sprintf("Owner %d", i), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
}

func transaction(i int) models.Transaction {
	at := t0.Add(time.Duration(i) * time.Second)
	return models.Transaction{
		ID: fmt.Sprintf("tx_%02d", i), CreatedAt: at, UpdatedAt: at, Currency: "USD/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded,
		Amount: models.AmountFromInt64(int64(100 * (i + 1))), DestinationAccountID: "acc_01",
	}
}

func balances(accountID string) models.Balances {
	return models.Balances{
		ID: "bal_" + accountID, AccountID: accountID, At: t0,
		Balances: []models.Balance{{Amount: models.MustParseAmount("-2500"), Currency: "EUR/2"}},
	}
}

func sample[T any](n int, build func(int) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = build(i)
	}
	return out
}

func newFake() *fakeProvider {
	return &fakeProvider{
		accounts:      sample(3, account),
		beneficiaries: sample(2, beneficiary),
		transactions:  sample(5, transaction),
		balances:      map[string]models.Balances{"acc_01": balances("acc_01")},
	}
}

func newFull() *fullProvider {
	po := models.Payout{
		ID: "po_1", IdempotencyKey: "ik_1", Amount: models.AmountFromInt64(1000), Currency: "USD/2",
		SourceAccountID: "acc_01", DestinationAccountID: "ben_01", Status: models.TransactionStatusSucceeded, CreatedAt: t0,
	}
	tr := models.Transfer{
		ID: "tr_1", IdempotencyKey: "ik_2", Amount: models.AmountFromInt64(500), Currency: "USD/2",
		SourceAccountID: "acc_01", DestinationAccountID: "acc_02", Status: models.TransactionStatusPending, CreatedAt: t0,
	}
	return &fullProvider{
		fakeProvider: newFake(),
		payouts:      map[string]models.Payout{"po_1": po},
		transfers:    map[string]models.Transfer{"tr_1": tr},
	}
}

// Test plumbing.

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = testsupport.Buffer

// newServer serves p with the API key testKey (plus opts) on a test server, logging to the
// returned buffer.
func newServer(t *testing.T, p connector.Provider, opts ...httpserver.Option) (*httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts = append([]httpserver.Option{httpserver.WithAPIKey(testKey), httpserver.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)
	h, err := httpserver.New(p, opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, logs
}

// request describes one HTTP request; zero fields take defaults (auth with testKey, a JSON
// Content-Type when there is a body).
type request struct {
	method      string
	path        string
	body        string
	auth        string // the whole Authorization header; "" means "Bearer "+testKey, "-" none
	contentType string // "" means application/json when there is a body, "-" none
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, baseURL string, r request) response {
	t.Helper()
	return do(t, newRequest(t, baseURL, r))
}

// newRequest builds r for baseURL: the method (GET by default), the test key unless r.auth says
// otherwise ("-": none), and the Content-Type of a body.
func newRequest(t *testing.T, baseURL string, r request) *http.Request {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(method, baseURL+r.path, body)
	require.NoError(t, err)
	switch r.auth {
	case "":
		req.Header.Set("Authorization", "Bearer "+testKey)
	case "-":
	default:
		req.Header.Set("Authorization", r.auth)
	}
	switch {
	case r.contentType == "-":
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// errorBody checks that res is a contract error body with the given status and returns it.
func errorBody(t *testing.T, res response, status int) models.Error {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	var e models.Error
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&e), "error body %s", res.body)
	assert.Equal(t, http.StatusText(status), e.Title)
	assert.NotEmpty(t, e.Detail)
	return e
}

// decodeInto decodes a success body strictly into a value of type T.
func decodeInto[T any](t *testing.T, res response) T {
	t.Helper()
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	var v T
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v), "body %s", res.body)
	return v
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func txID(t models.Transaction) string { return t.ID }

// jsonText returns s as it appears inside a JSON string (as in the JSON logs).
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
