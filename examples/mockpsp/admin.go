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
	"net/http"
	"net/url"
	"slices"
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

// withDataset authenticates an admin request by its bearer key and passes the key's dataset on.
func (a *admin) withDataset(h func(w http.ResponseWriter, r *http.Request, key string, d *Dataset)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearerToken(r)
		if !ok {
			httpserver.WriteError(w, http.StatusUnauthorized, "Unauthorized",
				"send the API key of the dataset as \"Authorization: Bearer <key>\" (any non-empty key)")
			return
		}
		h(w, r, key, a.psp.Dataset(key))
	}
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
	Actions       []Action             `json:"allActions"`
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
	acc, err := d.CreateAccount(r.Context(), in.Name, models.Asset(strings.TrimSpace(in.Asset)), in.Metadata)
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
	in.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	ba, err := d.CreateBankAccount(r.Context(), in)
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ba)
}

// ---------------------------------------------------------------------------------------------------
// Generate

// generateInput is the Generate form. Amount is a string of minor units, like on the wire, so that
// "-5" and "10.50" get a clear message rather than a JSON error.
type generateInput struct {
	Count     int    `json:"count"`
	Type      string `json:"type"`
	AccountID string `json:"accountId"`
	Amount    string `json:"amount"`
	Asset     string `json:"asset"`
	Status    string `json:"status"`
}

func (in generateInput) spec() (GenerateSpec, error) {
	spec := GenerateSpec{Count: in.Count, AccountID: strings.TrimSpace(in.AccountID)}
	if t := strings.TrimSpace(in.Type); t != "" && !strings.EqualFold(t, "mix") {
		parsed, err := models.ParseTransactionType(strings.ToUpper(t))
		if err != nil {
			return spec, connector.InvalidRequest("bad type: %v", err)
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
			return spec, connector.InvalidRequest("bad status: %v", err)
		}
		spec.Status = st
	}
	return spec, nil
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
// with cURL. Query: stack, name, endpoint, pollingPeriod (default 20m). A pageSize parameter is
// refused with 400: it is no connector setting any more.
func (a *admin) install(w http.ResponseWriter, r *http.Request, key string, _ *Dataset) {
	q := r.URL.Query()
	if q.Has("pageSize") {
		writeAdminError(w, connector.InvalidRequest("pageSize is no longer a setting of the Generic Connector: "+
			"Formance always asks for pageSize=100 and ignores a pageSize in the config; remove the parameter"))
		return
	}
	cfg := connectorConfig{
		Name:          strings.TrimSpace(q.Get("name")),
		APIKey:        key,
		Endpoint:      strings.TrimSpace(q.Get("endpoint")),
		PollingPeriod: strings.TrimSpace(q.Get("pollingPeriod")),
	}
	if cfg.Name == "" {
		cfg.Name = "mockpsp"
	}
	if cfg.Endpoint == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		cfg.Endpoint = scheme + "://" + r.Host
	}
	if cfg.PollingPeriod == "" {
		cfg.PollingPeriod = defaultPollingPeriod
	}
	if err := checkHTTPURL("endpoint", cfg.Endpoint); err != nil {
		writeAdminError(w, err)
		return
	}
	period, err := time.ParseDuration(cfg.PollingPeriod)
	if err != nil || period <= 0 {
		writeAdminError(w, connector.InvalidRequest("bad pollingPeriod %q: want a duration such as 20m or 1h", cfg.PollingPeriod))
		return
	}
	stack := strings.TrimRight(strings.TrimSpace(q.Get("stack")), "/")
	if stack == "" {
		stack = "https://ORGANIZATION-STACK.REGION.formance.cloud"
	} else if err := checkHTTPURL("stack", stack); err != nil {
		writeAdminError(w, err)
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
		Note: pollingPeriodNote(cfg.PollingPeriod, period),
	})
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
