package main

import (
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// This file is the admin side of the mock: the panel at /admin (static files embedded from web/) and
// the JSON API behind it at /admin/api. It is not part of what a middleware needs; it is how a person
// plays the PSP. The admin API authenticates with the same "Authorization: Bearer <key>" as the
// contract's routes: the key names the dataset.

//go:embed web
var webFiles embed.FS

// adminTableLimit is the most rows of each table the state endpoint returns (the newest ones).
const adminTableLimit = 500

// registerAdmin mounts the panel and its API on mux.
func registerAdmin(mux *http.ServeMux, psp *PSP) {
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	mux.Handle("/admin/", staticFiles(http.StripPrefix("/admin/", http.FileServerFS(static))))

	a := &admin{psp: psp}
	mux.HandleFunc("GET /admin/api/state", a.withDataset(a.state))
	mux.HandleFunc("POST /admin/api/accounts", a.withDataset(a.createAccount))
	mux.HandleFunc("POST /admin/api/beneficiaries", a.withDataset(a.createBeneficiary))
	mux.HandleFunc("POST /admin/api/bank-accounts", a.withDataset(a.createBankAccount))
	mux.HandleFunc("POST /admin/api/generate", a.withDataset(a.generate))
	mux.HandleFunc("POST /admin/api/transactions/{id}/actions", a.withDataset(a.applyAction))
	mux.HandleFunc("GET /admin/api/install", a.withDataset(a.install))
	mux.HandleFunc("GET /admin/api/export", a.withDataset(a.export))
	mux.HandleFunc("POST /admin/api/keys/check", a.checkKey)
	mux.HandleFunc("/admin/api/", func(w http.ResponseWriter, r *http.Request) {
		httpserver.WriteError(w, http.StatusNotFound, "Not Found", fmt.Sprintf("no admin route %s %s", r.Method, r.URL.Path))
	})
}

// staticFiles allows only GET and HEAD on the panel's files.
func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpserver.WriteError(w, http.StatusMethodNotAllowed, "Method Not Allowed", "the panel's files are read-only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type admin struct {
	psp *PSP
}

// withDataset authenticates an admin request by its bearer key and passes the key's dataset on. A
// key the contract's routes would refuse (httpserver.CheckAPIKey) is refused here too, with the
// reason: data made with it could never reach Formance.
func (a *admin) withDataset(h func(w http.ResponseWriter, r *http.Request, key string, d *Dataset)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearerToken(r)
		if !ok {
			httpserver.WriteError(w, http.StatusUnauthorized, "Unauthorized",
				"send the API key of the dataset as \"Authorization: Bearer <key>\"")
			return
		}
		if err := httpserver.CheckAPIKey(key); err != nil {
			httpserver.WriteError(w, http.StatusUnauthorized, "Unauthorized", keyRefusal(err))
			return
		}
		h(w, r, key, a.psp.Dataset(key))
	}
}

// keyRefusal says why the panel and the API refuse a key.
func keyRefusal(err error) string {
	return err.Error() + ": Formance's requests with it would all be refused (401), so the panel refuses it too"
}

type keyInput struct {
	Key string `json:"key"`
}

type keyView struct {
	Tenant  string `json:"tenant"`
	HasData bool   `json:"hasData"`
}

// checkKey answers whether the panel may use a key (POST /admin/api/keys/check {"key": "…"}): 200
// with its tenant, or 400 with the reason the contract's routes would refuse it. The key comes in
// the body, so that a key no header can carry (a non-ASCII character) still gets its reason.
func (a *admin) checkKey(w http.ResponseWriter, r *http.Request) {
	var in keyInput
	if !decodeInput(w, r, &in) {
		return
	}
	if err := httpserver.CheckAPIKey(in.Key); err != nil {
		writeFieldError(w, "key", connector.InvalidRequest("%s", keyRefusal(err)))
		return
	}
	has, err := a.psp.Dataset(in.Key).HasData(r.Context())
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, keyView{Tenant: TenantOf(in.Key), HasData: has})
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// writeAdminError answers err with the status of its kind (400 for invalid input, 404, …) and a
// Detail meant to be shown as is in the panel.
func writeAdminError(w http.ResponseWriter, err error) {
	status := connector.HTTPStatus(err)
	detail := err.Error()
	var ce *connector.Error
	if errors.As(err, &ce) && ce.Detail != "" {
		detail = ce.Detail
	}
	httpserver.WriteError(w, status, http.StatusText(status), detail)
}

// fieldError is the body of an admin error about one form field: the contract's {"Title","Detail"}
// and the field's name, so that the panel marks that field only.
type fieldError struct {
	Title  string
	Detail string
	Field  string
}

// writeFieldError answers err like writeAdminError, naming the form field it is about.
func writeFieldError(w http.ResponseWriter, field string, err error) {
	status := connector.HTTPStatus(err)
	detail := err.Error()
	var ce *connector.Error
	if errors.As(err, &ce) && ce.Detail != "" {
		detail = ce.Detail
	}
	writeJSON(w, status, fieldError{Title: http.StatusText(status), Detail: detail, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		httpserver.WriteError(w, http.StatusInternalServerError, "Internal Server Error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// decodeInput reads a JSON body into dst, refusing unknown fields, and answers 400 when it cannot.
func decodeInput(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("extra data after the JSON object")
	}
	if err != nil {
		httpserver.WriteError(w, http.StatusBadRequest, "Bad Request", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// ---------------------------------------------------------------------------------------------------
// State

type stateView struct {
	Tenant        string               `json:"tenant"`
	Precision     string               `json:"timestampPrecision"`
	Totals        map[string]int       `json:"totals"`
	Accounts      []accountView        `json:"accounts"`
	Beneficiaries []models.Beneficiary `json:"beneficiaries"`
	BankAccounts  []models.BankAccount `json:"bankAccounts"`
	Transactions  []transactionView    `json:"transactions"`
	Payouts       []orderView          `json:"payouts"`
	Transfers     []orderView          `json:"transfers"`
	Requests      []RequestLogEntry    `json:"requests"`
	// Stray are the requests that reached no dataset (refused, or with a key without data), for
	// every key: only the start of each key is shown.
	Stray   []RequestLogEntry `json:"strayRequests"`
	Actions []Action          `json:"allActions"`
}

type accountView struct {
	models.Account
	Asset    models.Asset     `json:"asset"`
	Balances []models.Balance `json:"balances"`
}

type transactionView struct {
	models.Transaction
	Actions []Action `json:"actions"`
}

type orderView struct {
	models.Payout
	Origin  string   `json:"origin"`
	Actions []Action `json:"actions"`
}

func (a *admin) state(w http.ResponseWriter, r *http.Request, key string, d *Dataset) {
	var v stateView
	if err := d.view(r.Context(), func(st *tenantState) error { v = st.adminView(adminTableLimit); return nil }); err != nil {
		writeAdminError(w, err)
		return
	}
	v.Tenant = TenantOf(key)
	v.Precision = precisionName(d.psp.clock.Precision())
	v.Requests = d.Requests()
	v.Stray = d.psp.StrayRequests()
	v.Actions = Actions()
	writeJSON(w, http.StatusOK, v)
}

// adminView returns the tables of the panel, newest first (the transactions most recently changed
// first), at most limit rows each, with the PSP's own times. Every list is non-nil: the panel gets []
// rather than null.
func (st *tenantState) adminView(limit int) stateView {
	v := stateView{
		Accounts:      []accountView{},
		Beneficiaries: newest(st.Beneficiaries, limit),
		BankAccounts:  newest(st.BankAccounts, limit),
		Transactions:  []transactionView{},
		Totals: map[string]int{
			"accounts": len(st.Accounts), "beneficiaries": len(st.Beneficiaries), "bankAccounts": len(st.BankAccounts),
			"transactions": len(st.Transactions), "payouts": len(st.PayoutIDs), "transfers": len(st.TransferIDs),
		},
	}
	for _, acc := range newest(st.Accounts, limit) {
		v.Accounts = append(v.Accounts, accountView{Account: acc.Account, Asset: acc.Asset, Balances: st.balancesOf(acc.Account.ID, acc.Asset)})
	}
	txs := slices.Collect(maps.Values(st.Transactions))
	slices.SortFunc(txs, func(a, b storedTransaction) int { return cmp.Compare(b.Seq, a.Seq) })
	for _, s := range txs[:min(limit, len(txs))] {
		v.Transactions = append(v.Transactions, transactionView{Transaction: s.Tx, Actions: AllowedActions(s.Tx.Type, s.Tx.Status)})
	}
	v.Payouts = st.orderViews(st.PayoutIDs, st.Payouts, limit)
	v.Transfers = st.orderViews(st.TransferIDs, st.Transfers, limit)
	return v
}

// newest returns the last limit items of a list in creation order, newest first.
func newest[T any](list []T, limit int) []T {
	out := slices.Clone(list[len(list)-min(limit, len(list)):])
	slices.Reverse(out)
	if out == nil {
		out = []T{}
	}
	return out
}

func (st *tenantState) orderViews(ids []string, orders map[string]order, limit int) []orderView {
	out := []orderView{}
	for i := len(ids) - 1; i >= 0 && len(out) < limit; i-- {
		s, ok := st.Transactions[ids[i]]
		if !ok {
			continue
		}
		o := orders[ids[i]]
		out = append(out, orderView{Payout: payoutOf(s.Tx, o), Origin: o.Origin, Actions: AllowedActions(s.Tx.Type, s.Tx.Status)})
	}
	return out
}

func precisionName(p time.Duration) string {
	if p <= 0 {
		return "full (nanoseconds)"
	}
	return p.String()
}

// ---------------------------------------------------------------------------------------------------
// New

type newAccountInput struct {
	Name     string          `json:"name"`
	Asset    string          `json:"asset"`
	Opening  string          `json:"openingBalance"` // minor units; empty: none
	Metadata models.Metadata `json:"metadata"`
}

func (a *admin) createAccount(w http.ResponseWriter, r *http.Request, _ string, d *Dataset) {
	var in newAccountInput
	if !decodeInput(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Asset) == "" {
		in.Asset = "USD/2"
	}
	var opening models.Amount
	if s := strings.TrimSpace(in.Opening); s != "" {
		var err error
		if opening, err = models.ParseAmount(s); err != nil {
			writeFieldError(w, "openingBalance", connector.InvalidRequest(
				"opening balance %q: want an integer in minor units, e.g. 100000 for 1000.00 USD/2 (negative for an overdraft)", s))
			return
		}
	}
	acc, err := d.CreateAccount(r.Context(), in.Name, models.Asset(strings.TrimSpace(in.Asset)), opening, in.Metadata)
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, acc)
}

type newBeneficiaryInput struct {
	OwnerName string          `json:"ownerName"`
	Metadata  models.Metadata `json:"metadata"`
}

func (a *admin) createBeneficiary(w http.ResponseWriter, r *http.Request, _ string, d *Dataset) {
	var in newBeneficiaryInput
	if !decodeInput(w, r, &in) {
		return
	}
	b, err := d.CreateBeneficiary(r.Context(), in.OwnerName, in.Metadata)
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, b)
}

func (a *admin) createBankAccount(w http.ResponseWriter, r *http.Request, _ string, d *Dataset) {
	var in models.BankAccountRequest
	if !decodeInput(w, r, &in) {
		return
	}
	ba, err := d.CreateBankAccount(r.Context(), in)
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ba)
}

// ---------------------------------------------------------------------------------------------------
// Generate

// generateInput is the Generate form. Count is what the person typed, as a JSON number or string, and
// Amount a string of minor units, like on the wire, so that "abc", "-5" and "10.50" are refused as
// typed rather than with a JSON error.
type generateInput struct {
	Count         json.RawMessage `json:"count"`
	AllowNegative bool            `json:"allowNegative"`
	Type          string          `json:"type"`
	AccountID     string          `json:"accountId"`
	Amount        string          `json:"amount"`
	Asset         string          `json:"asset"`
	Status        string          `json:"status"`
}

func (in generateInput) spec() (GenerateSpec, error) {
	spec := GenerateSpec{AccountID: strings.TrimSpace(in.AccountID), AllowNegative: in.AllowNegative}
	count, err := parseCount(in.Count)
	if err != nil {
		return spec, err
	}
	spec.Count = count
	if t := strings.TrimSpace(in.Type); t != "" && !strings.EqualFold(t, "mix") {
		parsed, err := models.ParseTransactionType(strings.ToUpper(t))
		if err != nil {
			return spec, connector.InvalidRequest("%v", err) // the error names the type and the value
		}
		spec.Type = parsed
	}
	if s := strings.TrimSpace(in.Amount); s != "" {
		amount, err := models.ParseAmount(s)
		if err != nil {
			return spec, connector.InvalidRequest("bad amount %q: want a positive integer in minor units, e.g. 1050 for 10.50 USD/2", s)
		}
		spec.Amount = amount
	}
	if s := strings.TrimSpace(in.Asset); s != "" {
		spec.Asset = models.Asset(s)
	}
	if s := strings.TrimSpace(in.Status); s != "" {
		st, err := models.ParseTransactionStatus(strings.ToUpper(s))
		if err != nil {
			return spec, connector.InvalidRequest("%v", err)
		}
		spec.Status = st
	}
	return spec, nil
}

// parseCount reads Generate's count, a JSON number or a string of digits (what the form holds).
func parseCount(raw json.RawMessage) (int, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return 0, connector.InvalidRequest("count is missing: want a whole number from 1 to %d", maxGenerate)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = text // a JSON number (or anything else), as written
	}
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, connector.InvalidRequest("count %q is not a whole number: want one from 1 to %d", s, maxGenerate)
	}
	if n < 1 || n > maxGenerate {
		return 0, connector.InvalidRequest("count %d is out of range: want a whole number from 1 to %d", n, maxGenerate)
	}
	return n, nil
}

func (a *admin) generate(w http.ResponseWriter, r *http.Request, _ string, d *Dataset) {
	var in generateInput
	if !decodeInput(w, r, &in) {
		return
	}
	spec, err := in.spec()
	if err == nil {
		var txs []models.Transaction
		if txs, err = d.Generate(r.Context(), spec); err == nil {
			writeJSON(w, http.StatusCreated, txs)
			return
		}
	}
	writeAdminError(w, err)
}

// ---------------------------------------------------------------------------------------------------
// Lifecycle

type actionInput struct {
	Action string `json:"action"`
}

func (a *admin) applyAction(w http.ResponseWriter, r *http.Request, _ string, d *Dataset) {
	var in actionInput
	if !decodeInput(w, r, &in) {
		return
	}
	tx, err := d.Apply(r.Context(), r.PathValue("id"), Action(strings.TrimSpace(in.Action)))
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, transactionView{Transaction: tx, Actions: AllowedActions(tx.Type, tx.Status)})
}

// ---------------------------------------------------------------------------------------------------
// Install

// connectorConfig is the configuration of Formance's Generic Connector, as given to
// "fctl payments connectors install generic <file>" or to the Payments API. There is no pageSize:
// today's connector always asks for pageSize=100 and ignores a pageSize key.
type connectorConfig struct {
	Name          string `json:"name"`
	APIKey        string `json:"apiKey"`
	Endpoint      string `json:"endpoint"`
	PollingPeriod string `json:"pollingPeriod"`
}

type installView struct {
	Config     connectorConfig `json:"config"`
	ConfigJSON string          `json:"configJSON"`
	Fctl       string          `json:"fctl"`
	Curl       string          `json:"curl"`
	// Note is a warning to show with the config, empty when there is none: set when the polling
	// period is below the minimum of a default stack.
	Note string `json:"note"`
	// DockerEndpoint is the endpoint for a stack running in Docker on this machine.
	DockerEndpoint string `json:"dockerEndpoint"`
}

// installPath is the Payments API route that installs a Generic Connector on a stack.
const installPath = "/api/payments/v3/connectors/install/generic"

// defaultPollingPeriod is the Install view's polling period when none is given: the minimum a
// default stack accepts, so that the config installs anywhere as it is.
const defaultPollingPeriod = "20m"

// stackMinimumPollingPeriod is the shortest polling period a Formance stack accepts at install with
// its default settings (Formance's own default period is 30m). A self-hosted stack lowers it with the
// connector-polling-period-minimum setting of its Payments service.
const stackMinimumPollingPeriod = 20 * time.Minute

// pollingPeriodNote says, for a period below stackMinimumPollingPeriod, that a default stack refuses it
// and how a self-hosted stack accepts it; it is empty for any other period.
func pollingPeriodNote(period string, d time.Duration) string {
	if d >= stackMinimumPollingPeriod {
		return ""
	}
	return fmt.Sprintf("A default Formance stack refuses a polling period below 20m, so installing with %s fails there. "+
		"A self-hosted stack accepts it once its minimum is lowered with the connector-polling-period-minimum setting "+
		"of its Payments service (for example --connector-polling-period-minimum=%s), which suits local testing. "+
		"Otherwise use 20m or more.", period, period)
}

// install answers the Install view: the connector config for the key in use, as JSON, with fctl and
// with cURL. Query: stack, name, endpoint, pollingPeriod (default 20m). A bad value is refused with
// 400 naming the field (Field in the error body), so that the panel marks that field only and shows
// no config built from stale values. A pageSize parameter is refused: it is no connector setting any
// more.
func (a *admin) install(w http.ResponseWriter, r *http.Request, key string, _ *Dataset) {
	q := r.URL.Query()
	if q.Has("pageSize") {
		writeFieldError(w, "pageSize", connector.InvalidRequest("pageSize is no longer a setting of the Generic Connector: "+
			"Formance always asks for pageSize=100 and ignores a pageSize in the config; remove the parameter"))
		return
	}
	cfg := connectorConfig{
		Name:          strings.TrimSpace(q.Get("name")),
		APIKey:        key,
		Endpoint:      strings.TrimSpace(q.Get("endpoint")),
		PollingPeriod: strings.TrimSpace(q.Get("pollingPeriod")),
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	cfg.Name = cmp.Or(cfg.Name, "mockpsp")
	cfg.Endpoint = cmp.Or(cfg.Endpoint, scheme+"://"+r.Host)
	cfg.PollingPeriod = cmp.Or(cfg.PollingPeriod, defaultPollingPeriod)
	if strings.ContainsAny(cfg.Name, " /\\\"'") {
		writeFieldError(w, "name", connector.InvalidRequest("connector name %q: use letters, digits, - and _ only (it also names the config file)", cfg.Name))
		return
	}
	if err := checkHTTPURL("endpoint", cfg.Endpoint); err != nil {
		writeFieldError(w, "endpoint", err)
		return
	}
	period, err := time.ParseDuration(cfg.PollingPeriod)
	if err != nil || period <= 0 {
		writeFieldError(w, "pollingPeriod", connector.InvalidRequest("polling period %q: want a duration such as 20m, 1h or 30s", cfg.PollingPeriod))
		return
	}
	stack := strings.TrimRight(strings.TrimSpace(q.Get("stack")), "/")
	if stack == "" {
		stack = "https://ORGANIZATION-STACK.REGION.formance.cloud"
	} else if err := checkHTTPURL("stack", stack); err != nil {
		writeFieldError(w, "stack", err)
		return
	}
	pretty, _ := json.MarshalIndent(cfg, "", "  ")
	compact, _ := json.Marshal(cfg)
	writeJSON(w, http.StatusOK, installView{
		Config:     cfg,
		ConfigJSON: string(pretty),
		Fctl:       "fctl payments connectors install generic " + cfg.Name + ".json",
		Curl: "curl -X POST " + shellQuote(stack+installPath) + " \\\n" +
			"  -H \"Authorization: Bearer $FORMANCE_TOKEN\" \\\n" +
			"  -H 'Content-Type: application/json' \\\n" +
			"  -d " + shellQuote(string(compact)),
		Note:           pollingPeriodNote(cfg.PollingPeriod, period),
		DockerEndpoint: dockerEndpoint(scheme, r.Host),
	})
}

// dockerEndpoint is the endpoint a Formance stack running in Docker on this machine uses to reach
// this server: host.docker.internal and this server's port (localhost there is the container).
func dockerEndpoint(scheme, host string) string {
	port := ""
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = ":" + p
	}
	return scheme + "://host.docker.internal" + port
}

func checkHTTPURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return connector.InvalidRequest("bad %s %q: want an absolute http(s) URL such as https://psp.example.com", field, s)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ---------------------------------------------------------------------------------------------------
// Export

// exportView is a tenant's whole dataset as the PSP holds it (its own times), for reconciling what
// Formance shows against the PSP: GET /admin/api/export.
type exportView struct {
	Tenant             string               `json:"tenant"`
	ExportedAt         time.Time            `json:"exportedAt"`
	TimestampPrecision string               `json:"timestampPrecision"`
	Accounts           []exportAccount      `json:"accounts"`
	Beneficiaries      []models.Beneficiary `json:"beneficiaries"`
	BankAccounts       []models.BankAccount `json:"bankAccounts"`
	Transactions       []exportTransaction  `json:"transactions"`
	// Payouts and Transfers are newest first, with their idempotency key, description and origin
	// ("formance": POST /payouts or /transfers, whose transaction row is served with
	// relatedTransactionID = the idempotency key; "panel": Generate).
	Payouts   []orderView `json:"payouts"`
	Transfers []orderView `json:"transfers"`
}

type exportAccount struct {
	models.Account
	Asset models.Asset `json:"asset"`
	// OpeningBalance is the balance the account was opened with, in Asset (absent: none).
	OpeningBalance models.Amount `json:"openingBalance,omitzero"`
	// Balances is what GET /accounts/{id}/balances reports now; Held what payouts and transfers in
	// flight hold of it.
	Balances []models.Balance `json:"balances"`
	Held     []models.Balance `json:"held"`
}

type exportTransaction struct {
	models.Transaction
	// History is every status the transaction had, oldest first, with the time it was given.
	History []statusChange `json:"history"`
}

// export answers the whole dataset of the key as a JSON file download.
func (a *admin) export(w http.ResponseWriter, r *http.Request, key string, d *Dataset) {
	v := exportView{Tenant: TenantOf(key), ExportedAt: time.Now().UTC(), TimestampPrecision: precisionName(d.psp.clock.Precision())}
	err := d.view(r.Context(), func(st *tenantState) error { st.export(&v); return nil })
	if err != nil {
		writeAdminError(w, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="mockpsp-`+v.Tenant+`.json"`)
	writeJSON(w, http.StatusOK, v)
}

func (st *tenantState) export(v *exportView) {
	v.Accounts = []exportAccount{}
	for _, acc := range st.Accounts {
		held := []models.Balance{}
		for asset, amount := range st.Held[acc.Account.ID] {
			if amount.Sign() != 0 {
				held = append(held, models.Balance{Amount: amount, Currency: asset})
			}
		}
		slices.SortFunc(held, func(a, b models.Balance) int { return cmp.Compare(a.Currency, b.Currency) })
		v.Accounts = append(v.Accounts, exportAccount{Account: acc.Account, Asset: acc.Asset, OpeningBalance: acc.Opening,
			Balances: st.balancesOf(acc.Account.ID, acc.Asset), Held: held})
	}
	v.Beneficiaries = append([]models.Beneficiary{}, st.Beneficiaries...)
	v.BankAccounts = append([]models.BankAccount{}, st.BankAccounts...)
	txs := slices.Collect(maps.Values(st.Transactions))
	slices.SortFunc(txs, func(a, b storedTransaction) int { // in creation order
		return cmp.Or(a.Tx.CreatedAt.Compare(b.Tx.CreatedAt), cmp.Compare(len(a.Tx.ID), len(b.Tx.ID)), cmp.Compare(a.Tx.ID, b.Tx.ID))
	})
	v.Transactions = []exportTransaction{}
	for _, s := range txs {
		v.Transactions = append(v.Transactions, exportTransaction{Transaction: s.Tx, History: s.History})
	}
	v.Payouts = st.orderViews(st.PayoutIDs, st.Payouts, len(st.PayoutIDs))
	v.Transfers = st.orderViews(st.TransferIDs, st.Transfers, len(st.TransferIDs))
}
