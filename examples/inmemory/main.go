// Command inmemory is the smallest useful pspconnect middleware: a few accounts, a beneficiary and
// some transactions held in memory, served to Formance's Generic Connector.
//
//	go run ./examples/inmemory
//
// It listens on :8080 (flag -addr) and logs the endpoint and API key to give Formance (flag -api-key,
// or the PSPCONNECT_API_KEY environment variable). Copy provider.go as the template of your own
// middleware. Beside the connector's routes it serves Prometheus-format metrics at /metrics and the
// health probes at /livez and /readyz (see docs/operations.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pspconnect/pspconnect/examples/internal/ops"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	apiKey := flag.String("api-key", envOr("PSPCONNECT_API_KEY", "dev-api-key"), "API key Formance must send as Authorization: Bearer <key>")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *apiKey, logger); err != nil {
		logger.Error("middleware stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, apiKey string, logger *slog.Logger) error {
	metrics, err := ops.NewMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = metrics.Shutdown(context.WithoutCancel(ctx)) }()
	p, handler, err := newHandler(ctx, apiKey, time.Now, logger, metrics)
	if err != nil {
		return err
	}
	go prune(ctx, p, time.Hour, logger)
	// The key is printed once for the person starting the example, never written to the request log.
	fmt.Fprintf(os.Stderr, "\nInstall Formance's Generic Connector with:\n  endpoint: http://localhost%s\n  apiKey:   %s\n\n", portOf(addr), apiKey)
	return httpserver.ListenAndServe(ctx, addr, handler, logger)
}

// newHandler builds the provider with its sample data, with its metrics recorded by metrics, and
// serves it with the operations endpoints beside it (see package ops): /metrics, /livez, /readyz
// (in memory there is no database to check: ready while the process serves).
func newHandler(ctx context.Context, apiKey string, now func() time.Time, logger *slog.Logger, metrics *ops.Metrics) (*Provider, http.Handler, error) {
	p, err := NewInstrumentedProvider(now, metrics.Provider)
	if err != nil {
		return nil, nil, err
	}
	if err := seed(ctx, p, now()); err != nil {
		return nil, nil, fmt.Errorf("seed data: %w", err)
	}
	h, err := newHandlerFor(p, apiKey, logger, httpserver.WithMeterProvider(metrics.Provider))
	if err != nil {
		return nil, nil, err
	}
	return p, ops.Handler(h, metrics), nil
}

// prune deletes, every interval until ctx ends, the earlier states of changed transactions that
// the feed no longer needs to keep (see Provider.Prune): without it they stay in memory for ever.
func prune(ctx context.Context, p *Provider, interval time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := p.Prune(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("pruning the transactions feed", "error", err)
		}
	}
}

// newHandlerFor serves p to Formance with one API key, and opts.
func newHandlerFor(p *Provider, apiKey string, logger *slog.Logger, opts ...httpserver.Option) (http.Handler, error) {
	return httpserver.New(p, append([]httpserver.Option{httpserver.WithAPIKey(apiKey), httpserver.WithLogger(logger)}, opts...)...)
}

// seed stores the sample data: two accounts with balances, one beneficiary, three transactions, for
// the tenant of ctx (httpserver.DefaultTenant outside a request: the tenant of WithAPIKey's key).
func seed(ctx context.Context, p *Provider, now time.Time) error {
	start := now.UTC().Add(-time.Hour).Truncate(time.Second)
	accounts := []struct {
		account models.Account
		balance models.Balance
	}{
		{models.Account{ID: "acc_main", AccountName: "Main EUR account", CreatedAt: start}, models.Balance{Amount: models.AmountFromInt64(1_250_000), Currency: "EUR/2"}},
		{models.Account{ID: "acc_fees", AccountName: "Fees", CreatedAt: start}, models.Balance{Amount: models.AmountFromInt64(-1_500), Currency: "EUR/2"}},
	}
	for _, a := range accounts {
		if err := p.AddAccount(ctx, a.account, a.balance); err != nil {
			return err
		}
	}
	if err := p.AddBeneficiary(ctx, models.Beneficiary{ID: "ben_acme", OwnerName: "ACME Supplies Ltd", CreatedAt: start.Add(time.Minute)}); err != nil {
		return err
	}
	txs := []models.Transaction{
		{ID: "tx_0001", Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(1_000_000), DestinationAccountID: "acc_main"},
		{ID: "tx_0002", Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(250_000), DestinationAccountID: "acc_main"},
		{ID: "tx_0003", Type: models.TransactionTypeTransfer, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(1_500), SourceAccountID: "acc_main", DestinationAccountID: "acc_fees"},
	}
	for i, tx := range txs {
		// Same second on purpose: the feed serves them at distinct times, so the poller keeps them apart.
		tx.CreatedAt = start.Add(2 * time.Minute)
		tx.UpdatedAt = tx.CreatedAt
		tx.Currency = "EUR/2"
		tx.Scheme = "sepa"
		tx.Metadata = models.Metadata{"sample": fmt.Sprint(i + 1)}
		if err := p.PutTransaction(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i:]
		}
	}
	return ":" + addr
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
