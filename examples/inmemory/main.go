// Command inmemory is the smallest useful pspconnect middleware: a few accounts, a beneficiary and
// some transactions held in memory, served to Formance's Generic Connector.
//
//	go run ./examples/inmemory
//
// It listens on :8080 (flag -addr) and logs the endpoint and API key to give Formance (flag -api-key,
// or the PSPCONNECT_API_KEY environment variable). Copy provider.go as the template of your own
// middleware.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	apiKey := flag.String("api-key", envOr("PSPCONNECT_API_KEY", "dev-api-key"), "API key Formance must send as Authorization: Bearer <key>")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), *addr, *apiKey, logger); err != nil {
		logger.Error("middleware stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, apiKey string, logger *slog.Logger) error {
	handler, err := newHandler(apiKey, time.Now, logger)
	if err != nil {
		return err
	}
	// The key is printed once for the person starting the example, never written to the request log.
	fmt.Fprintf(os.Stderr, "\nInstall Formance's Generic Connector with:\n  endpoint: http://localhost%s\n  apiKey:   %s\n\n", portOf(addr), apiKey)
	return httpserver.ListenAndServe(ctx, addr, handler, logger)
}

// newHandler builds the provider with its sample data and wraps it in the library's handler.
func newHandler(apiKey string, now func() time.Time, logger *slog.Logger) (http.Handler, error) {
	p := NewProvider(now)
	if err := seed(p, now()); err != nil {
		return nil, fmt.Errorf("seed data: %w", err)
	}
	return newHandlerFor(p, apiKey, logger)
}

// newHandlerFor serves p to Formance with one API key.
func newHandlerFor(p *Provider, apiKey string, logger *slog.Logger) (http.Handler, error) {
	return httpserver.New(p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(logger))
}

// seed stores the sample data: two accounts with balances, one beneficiary, three transactions.
func seed(p *Provider, now time.Time) error {
	start := now.UTC().Add(-time.Hour).Truncate(time.Second)
	accounts := []struct {
		account models.Account
		balance models.Balance
	}{
		{models.Account{ID: "acc_main", AccountName: "Main EUR account", CreatedAt: start}, models.Balance{Amount: models.AmountFromInt64(1_250_000), Currency: "EUR/2"}},
		{models.Account{ID: "acc_fees", AccountName: "Fees", CreatedAt: start}, models.Balance{Amount: models.AmountFromInt64(-1_500), Currency: "EUR/2"}},
	}
	for _, a := range accounts {
		if err := p.AddAccount(a.account, a.balance); err != nil {
			return err
		}
	}
	if err := p.AddBeneficiary(models.Beneficiary{ID: "ben_acme", OwnerName: "ACME Supplies Ltd", CreatedAt: start.Add(time.Minute)}); err != nil {
		return err
	}
	txs := []models.Transaction{
		{ID: "tx_0001", Type: models.TransactionTypePayIn, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(1_000_000), DestinationAccountID: "acc_main"},
		{ID: "tx_0002", Type: models.TransactionTypePayIn, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(250_000), DestinationAccountID: "acc_main"},
		{ID: "tx_0003", Type: models.TransactionTypeTransfer, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(1_500), SourceAccountID: "acc_main", DestinationAccountID: "acc_fees"},
	}
	for i, tx := range txs {
		// Same second on purpose: pagination.Collection keeps them apart for the poller.
		tx.CreatedAt = start.Add(2 * time.Minute)
		tx.UpdatedAt = tx.CreatedAt
		tx.Currency = "EUR/2"
		tx.Scheme = "sepa"
		tx.Metadata = models.Metadata{"sample": fmt.Sprint(i + 1)}
		if err := p.PutTransaction(tx); err != nil {
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
