// Command mockpsp is a multi-tenant PSP simulator behind a pspconnect middleware: the local twin of
// the hosted mock PSP that Formance's Generic Connector tutorial uses.
//
//	go run ./examples/mockpsp
//
// serves the whole Generic Connector contract (extension routes included) on :8080, and an admin
// panel at http://localhost:8080/admin where a person creates accounts, generates payments, moves
// them through their lifecycle, prepares the connector install and watches Formance's polls arrive.
// Every API key (any key httpserver.CheckAPIKey accepts) is its own dataset, created by the first
// thing made with it. The data lives in memory, or in PostgreSQL with -postgres, where several
// processes on one database are one PSP behind several middleware replicas.
//
// Flags:
//
//	-addr :8080                   address to listen on
//	-seed-key K                   create the seed data below for the API key K at start
//	-seed-accounts N              internal accounts to create for K (each gets a balance)
//	-seed-beneficiaries N         beneficiaries to create for K
//	-seed-transactions N          transactions to create for K (first one funding pay-in per account)
//	-timestamp-precision D        truncate every time the PSP gives to D (e.g. 1s), like PSP APIs
//	                              that give whole seconds; 0 keeps full precision
//	-postgres URL                 keep the PSP's data, the feeds and the idempotency records in this
//	                              PostgreSQL database (tables created at start); the seed flags then
//	                              fill only a tenant that is still empty
//	-webhook-url URL              send a signed webhook to URL for every transaction the PSP creates
//	                              or changes (Generate, lifecycle actions, payouts and transfers from
//	                              Formance; not the seed), asynchronously, with retries
//	-webhook-secret SECRET        the webhooks' signing secret (default $MOCKPSP_WEBHOOK_SECRET);
//	                              required by -webhook-url and -webhook-receiver
//	-webhook-receiver             run the receiving side instead of the PSP: a middleware whose
//	                              transactions come only from the webhooks POSTed to /webhooks
//	-max-tenants N                the most API keys the PSP holds data for (default 1000); a write
//	                              creating data for one more is refused with 409
//	-request-log-size N           requests remembered per key, and for the stray requests that
//	                              reached no data (default 200)
//
// Webhooks are JSON events {"id", "object":"event", "type":"transaction.created" or
// "transaction.updated", "created", "account" (the tenant), "object_id", "data" (the transaction)},
// signed in the PSP-Signature header as "t=<unix>,v1=<hex HMAC-SHA256 of t.body>"
// (ingest.SignTimestampHMAC). See webhooks.go for the delivery and docs/mockpsp.md for a walk
// through on one machine.
//
// The files to read as a template for your own middleware are provider.go (the connector.Provider)
// and this one (the wiring); receiver.go for receiving webhooks. psp.go is the simulated PSP,
// state.go and pgstate.go where it keeps its data, webhooks.go how it sends webhooks; admin.go and
// web/ are the panel.
//
// This is an example and a test bed, not a production service: anyone who can reach it can read
// and change the dataset of any key they guess.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/examples/internal/ops"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/health"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/pgstore"
)

// config is the command line.
type config struct {
	Addr               string
	SeedKey            string
	SeedAccounts       int
	SeedBeneficiaries  int
	SeedTransactions   int
	TimestampPrecision time.Duration
	Postgres           string
	WebhookURL         string
	WebhookSecret      string
	WebhookReceiver    bool
	MaxTenants         int
	RequestLogSize     int

	// webhook tunes the delivery of webhooks (tests only; zero: the defaults).
	webhook webhookOptions
	// now, when set, is the system clock the PSP reads instead of time.Now (tests only).
	now func() time.Time
}

// parseFlags reads the command line; it returns flag.ErrHelp for -h.
func parseFlags(args []string, output io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("mockpsp", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.Addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&cfg.SeedKey, "seed-key", "", "API key whose dataset gets the seed data at start")
	fs.IntVar(&cfg.SeedAccounts, "seed-accounts", 0, "internal accounts to create for -seed-key")
	fs.IntVar(&cfg.SeedBeneficiaries, "seed-beneficiaries", 0, "beneficiaries to create for -seed-key")
	fs.IntVar(&cfg.SeedTransactions, "seed-transactions", 0, "transactions to create for -seed-key")
	fs.DurationVar(&cfg.TimestampPrecision, "timestamp-precision", 0, "truncate every PSP time to this precision, e.g. 1s (0: full precision)")
	fs.StringVar(&cfg.Postgres, "postgres", "", "keep the PSP's data, the feeds and the idempotency records in the PostgreSQL database at `URL`, "+
		"e.g. postgres://user:password@localhost:5432/mockpsp (tables created at start; several processes on one database are one PSP; "+
		"the seed flags fill only an empty tenant). Empty: everything in memory")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "send a signed webhook to `URL` for every transaction the PSP creates or changes "+
		"(Generate, lifecycle actions, payouts and transfers from Formance; not the seed data), e.g. http://localhost:8081/webhooks. "+
		"Sent in the background, in order, retried with backoff on anything but a 2xx (8 attempts); "+
		fmt.Sprintf("at most %d events wait, newer ones are dropped when the queue is full", defaultWebhookQueue))
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "the `SECRET` webhooks are signed with "+
		"(HMAC-SHA256 of \"<unix time>.<body>\" in the "+webhookSignatureHeader+" header as t=<unix time>,v1=<hex>), "+
		"needed by -webhook-url and -webhook-receiver (default $"+webhookSecretEnv+", which keeps it out of the process list)")
	fs.BoolVar(&cfg.WebhookReceiver, "webhook-receiver", false, "run the receiving side of the webhooks instead of the PSP: "+
		"a middleware that takes the webhooks signed with -webhook-secret at POST "+webhookPath+" and serves the transactions they "+
		"carry on the Generic Connector routes (any API key the mock accepts)")
	fs.IntVar(&cfg.MaxTenants, "max-tenants", defaultMaxTenants, "the most API keys the PSP holds data for; "+
		"a write that would create data for one more key is refused with 409 (reads of unknown keys create nothing)")
	fs.IntVar(&cfg.RequestLogSize, "request-log-size", defaultRequestLogSize, "how many requests the panel's log remembers "+
		"per API key, and for the requests that reached no data (each entry's path, query and reason clipped to "+
		fmt.Sprint(maxLoggedField)+" bytes)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if cfg.WebhookSecret == "" { // read here, not as the flag's default, which -h would print
		cfg.WebhookSecret = os.Getenv(webhookSecretEnv)
	}
	switch {
	case fs.NArg() > 0:
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	case cfg.SeedAccounts < 0 || cfg.SeedBeneficiaries < 0 || cfg.SeedTransactions < 0:
		return config{}, errors.New("-seed-accounts, -seed-beneficiaries and -seed-transactions must not be negative")
	case cfg.SeedKey == "" && cfg.SeedAccounts+cfg.SeedBeneficiaries+cfg.SeedTransactions > 0:
		return config{}, errors.New("seed counts need -seed-key, the API key that gets the data")
	case cfg.SeedTransactions > 0 && cfg.SeedAccounts == 0:
		return config{}, errors.New("-seed-transactions needs -seed-accounts of at least 1")
	case cfg.MaxTenants < 1 || cfg.RequestLogSize < 1:
		return config{}, fmt.Errorf("-max-tenants (%d) and -request-log-size (%d) must be at least 1", cfg.MaxTenants, cfg.RequestLogSize)
	case cfg.TimestampPrecision < 0:
		return config{}, errors.New("-timestamp-precision must not be negative")
	case (cfg.WebhookURL != "" || cfg.WebhookReceiver) && cfg.WebhookSecret == "":
		return config{}, fmt.Errorf("-webhook-url and -webhook-receiver need -webhook-secret (or $%s)", webhookSecretEnv)
	case cfg.WebhookURL != "" && !isHTTPURL(cfg.WebhookURL):
		return config{}, fmt.Errorf("-webhook-url %q: want an absolute http(s) URL such as http://localhost:8081/webhooks", cfg.WebhookURL)
	case cfg.WebhookReceiver && (cfg.WebhookURL != "" || cfg.Postgres != "" || cfg.SeedKey != "" || cfg.TimestampPrecision != 0):
		return config{}, errors.New("-webhook-receiver runs no PSP: it takes neither -webhook-url, -postgres, the seed flags nor -timestamp-precision")
	}
	return cfg, nil
}

// webhookSecretEnv is the environment variable -webhook-secret defaults to.
const webhookSecretEnv = "MOCKPSP_WEBHOOK_SECRET"

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// authenticate accepts any API key that httpserver.CheckAPIKey accepts (the rule of
// httpserver.WithAPIKey: printable ASCII, at most httpserver.MaxAPIKeyLength bytes) and names its
// tenant after it (TenantOf): each key is its own dataset, and the key itself never appears in the
// request log. The admin panel refuses the same keys, with the same reason.
// A real middleware checks the key instead (or uses httpserver.WithAPIKey).
func authenticate(_ *http.Request, bearerToken string) (string, error) {
	if err := httpserver.CheckAPIKey(bearerToken); err != nil {
		return "", fmt.Errorf("%w: %w", httpserver.ErrUnauthorized, err)
	}
	return TenantOf(bearerToken), nil
}

// newHandler wires the mock: the PSP (in memory, or in PostgreSQL with -postgres, tables migrated
// here), the seed data, the admin panel and its API under /admin, and every other path to the
// pspconnect handler serving the contract, with each request recorded in its tenant's request log.
// Close the PSP when done with the handler.
func newHandler(ctx context.Context, cfg config, logger *slog.Logger) (http.Handler, *PSP, error) {
	clock := NewClock(cfg.TimestampPrecision)
	if cfg.now != nil {
		clock.now = cfg.now
	}
	opts := []httpserver.Option{httpserver.WithAuthenticator(authenticate), httpserver.WithLogger(logger)}
	var (
		psp  *PSP
		idem *pgstore.Store
		err  error
	)
	limits := pspLimits{maxTenants: cmp.Or(cfg.MaxTenants, defaultMaxTenants), requestLog: cmp.Or(cfg.RequestLogSize, defaultRequestLogSize)}
	if cfg.Postgres == "" {
		psp, err = newMemoryPSP(clock, limits)
	} else {
		psp, idem, err = openPostgres(ctx, cfg.Postgres, clock, limits)
	}
	if err != nil {
		return nil, nil, err
	}
	if idem != nil { // shared by every process on the database, like the PSP's data
		opts = append(opts, httpserver.WithIdempotencyStore(idem))
	}
	if cfg.WebhookURL != "" {
		psp.sendWebhooks(newWebhookSender(cfg.WebhookURL, []byte(cfg.WebhookSecret), cfg.webhook, logger))
	}
	fail := func(err error) (http.Handler, *PSP, error) {
		psp.Close()
		return nil, nil, err
	}
	if cfg.SeedKey != "" {
		seeded, err := psp.Dataset(cfg.SeedKey).Seed(ctx, cfg.SeedAccounts, cfg.SeedBeneficiaries, cfg.SeedTransactions)
		if err != nil {
			return fail(fmt.Errorf("seeding %q: %w", cfg.SeedKey, err))
		}
		if !seeded {
			logger.Info("seed skipped: the tenant of -seed-key already holds data", slog.String("tenant", TenantOf(cfg.SeedKey)))
		}
	}
	// /metrics (Prometheus format), /livez and /readyz beside the routes (see docs/operations.md);
	// readiness pings the database with -postgres.
	metrics, err := ops.NewMetrics()
	if err != nil {
		return fail(err)
	}
	opts = append(opts, httpserver.WithMeterProvider(metrics.Provider))
	var checks []health.Check
	if p, ok := psp.feeds.transactions.(health.Pinger); ok { // pgfeed, with -postgres
		checks = append(checks, health.Ping("feed", p))
	}
	if idem != nil {
		checks = append(checks, health.Ping("idempotency", idem))
	}
	api, err := httpserver.New(NewProvider(psp), opts...)
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	registerAdmin(mux, psp)
	mux.HandleFunc("GET /{$}", home)
	mux.HandleFunc("GET /favicon.ico", favicon)
	mux.Handle("/", recordRequests(psp, api))
	return ops.Handler(mux, metrics, checks...), psp, nil
}

// openPostgres opens a pool on the database at url, creates the tables of the PSP's state, of the
// feeds and of the idempotency store when they do not exist, and returns the PSP on them (which
// closes the pool when closed) and the idempotency store for httpserver.WithIdempotencyStore.
func openPostgres(ctx context.Context, url string, clock *Clock, limits pspLimits) (*PSP, *pgstore.Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("-postgres: %w", err)
	}
	fail := func(err error) (*PSP, *pgstore.Store, error) {
		pool.Close()
		return nil, nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		return fail(fmt.Errorf("-postgres: connecting: %w", err))
	}
	f, err := newPGFeeds(pool)
	if err != nil {
		return fail(err)
	}
	store := newPGStore(pool, f, limits.maxTenants)
	store.owned = true
	if err := store.migrate(ctx); err != nil {
		return fail(err)
	}
	idem, err := pgstore.New(pool)
	if err != nil {
		return fail(err)
	}
	if err := idem.Migrate(ctx); err != nil {
		return fail(err)
	}
	return newPSP(clock, store, f.feeds(), limits), idem, nil
}

// recordRequests remembers each request to the contract's routes: in the request log of its key's
// dataset when the key holds data, otherwise in the log of stray requests, with the start of the key
// and the reason nothing was served (the Detail of a refusal, or "no data for this key"), so that the
// panel shows why nothing arrives from a Formance stack configured with a wrong key.
func recordRequests(psp *PSP, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		query, err := url.QueryUnescape(r.URL.RawQuery)
		if err != nil {
			query = r.URL.RawQuery
		}
		e := RequestLogEntry{
			At: start.UTC(), Method: r.Method, Path: r.URL.Path, Query: query, Status: sw.status,
			DurationMs: float64(time.Since(start).Microseconds()) / 1000,
		}
		key, _ := bearerToken(r)
		e.Key = keyHint(key)
		if sw.status == http.StatusUnauthorized || httpserver.CheckAPIKey(key) != nil {
			e.Reason = cmp.Or(sw.detail(), "refused")
			psp.LogStray(e)
			return
		}
		d := psp.Dataset(key)
		if has, err := d.HasData(r.Context()); err != nil || !has {
			e.Reason = "no data for this key: nothing was ever created with it (a typo in the connector's apiKey?)"
			psp.LogStray(e)
			return
		}
		e.Key = ""
		d.LogRequest(e)
	})
}

// home answers GET /: a browser goes to the panel, any other client gets a JSON pointer to it.
func home(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/admin/", http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"admin":  "/admin/",
		"detail": "this is a mock PSP: the admin panel is at /admin/, the Generic Connector routes (GET /accounts, …) need \"Authorization: Bearer <API key>\"",
	})
}

// favicon answers GET /favicon.ico with the panel's icon, so that a browser's request for it is
// neither a 401 nor a line in a request log.
func favicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "max-age=86400")
	_, _ = io.WriteString(w, faviconSVG)
}

const faviconSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1l7 7-7 7-7-7z" fill="#3b5bdb"/></svg>`

// statusWriter remembers the status of an answer and, for an error, the start of its body (to log
// its Detail).
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        []byte // the first maxCapturedBody bytes of a 4xx or 5xx answer
}

const maxCapturedBody = 2048

func (w *statusWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	if w.status >= 400 && len(w.body) < maxCapturedBody {
		w.body = append(w.body, b[:min(len(b), maxCapturedBody-len(w.body))]...)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// detail returns the Detail of the error body written, or "".
func (w *statusWriter) detail() string {
	var e struct{ Detail string }
	if json.Unmarshal(w.body, &e) != nil {
		return ""
	}
	return e.Detail
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockpsp:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.WebhookReceiver {
		h, err := newReceiverHandler([]byte(cfg.WebhookSecret), logger)
		if err != nil {
			logger.Error("cannot start", "error", err)
			os.Exit(1)
		}
		base := baseURL(cfg.Addr)
		logger.Info("webhook receiver ready", slog.String("webhooks", base+webhookPath), slog.String("endpoint", base),
			slog.String("apiKey", "the API key used on the mock"))
		if err := httpserver.ListenAndServe(ctx, cfg.Addr, h, logger); err != nil {
			logger.Error("server stopped", "error", err)
			os.Exit(1)
		}
		return
	}
	h, psp, err := newHandler(ctx, cfg, logger)
	if err != nil {
		logger.Error("cannot start", "error", err)
		os.Exit(1)
	}
	defer psp.Close()
	// Accounts and beneficiaries change in place; transactions leave superseded slots to prune.
	go feed.PruneEvery(ctx, time.Hour, logger, psp.feeds.transactions)
	base := baseURL(cfg.Addr)
	key := cfg.SeedKey
	if key == "" {
		key = "any key of printable ASCII, e.g. my-company-test"
	}
	logger.Info("mock PSP ready",
		slog.String("endpoint", base), slog.String("admin", base+"/admin"), slog.String("apiKey", key),
		slog.String("timestampPrecision", precisionName(cfg.TimestampPrecision)), slog.String("storage", storageName(cfg)),
		slog.String("webhooks", webhooksName(cfg)))
	if err := httpserver.ListenAndServe(ctx, cfg.Addr, h, logger); err != nil {
		logger.Error("server stopped", "error", err)
		psp.Close()
		os.Exit(1)
	}
}

// storageName says where the data lives, for the start-up log (never the URL: it may hold a password).
func storageName(cfg config) string {
	if cfg.Postgres == "" {
		return "memory"
	}
	return "postgres"
}

// webhooksName says where webhooks go, for the start-up log.
func webhooksName(cfg config) string {
	if cfg.WebhookURL == "" {
		return "off"
	}
	return cfg.WebhookURL
}

// baseURL turns a listen address into the URL to open locally.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
