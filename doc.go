// Package pspconnect is a library for writing Formance Generic Connector middlewares: the HTTP
// endpoint through which a Formance stack polls a Payment Service Provider it does not support
// natively for accounts, balances, beneficiaries and transactions, and asks it to create payouts and
// transfers.
//
// You implement a Provider, the library does the rest: routing, authentication, parameter parsing,
// sorting and paging that Formance's poller cannot lose data through, validation of every item before
// it reaches Formance, error bodies, and idempotent writes. This root package holds only this
// overview; the code lives in its sub-packages:
//
//   - connector: the Provider interface you implement (or CursorProvider, when your PSP pages by
//     cursor), optional capabilities (payouts, transfers, status reads, bank accounts) and the
//     errors a provider returns.
//   - models: the contract's objects and value types (Amount, Asset, TransactionStatus, …).
//   - feed: the store the list routes read (Memory in this process, feed/pgfeed in PostgreSQL): it
//     pages exactly as the poller needs, keeps items that share a timestamp from being skipped and
//     changes from being missed, and answers a list request in one line (feed.List).
//   - pagination: query parsing; FetchByCursor, which answers page numbers from an upstream that
//     pages by cursor; and Collection, the in-memory store that preceded feed.
//   - httpserver: New turns a Provider into the http.Handler you mount in your app (CursorPaged
//     turns a CursorProvider into a Provider).
//   - connectortest: Run proves a middleware against the contract and a faithful copy of Formance's
//     poller, in your own test suite.
//   - examples: runnable middlewares to copy (inmemory, cursorpsp, mockpsp).
//
// # A complete provider
//
// The provider below serves accounts and transactions from feeds in memory. A real one copies its
// PSP's data into the feeds as it learns it (Put, for the tenant the data belongs to), or calls its
// PSP in the same methods.
//
//	package main
//
//	import (
//		"context"
//		"log/slog"
//		"os"
//		"os/signal"
//		"syscall"
//		"time"
//
//		"github.com/pspconnect/pspconnect/connector"
//		"github.com/pspconnect/pspconnect/feed"
//		"github.com/pspconnect/pspconnect/httpserver"
//		"github.com/pspconnect/pspconnect/models"
//	)
//
//	type bank struct {
//		accounts     feed.Feed[models.Account]
//		transactions feed.Feed[models.Transaction]
//	}
//
//	func (b *bank) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
//		return feed.List(ctx, b.accounts, req)
//	}
//
//	func (b *bank) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
//		return connector.Page[models.Beneficiary]{}, nil // this PSP has no beneficiaries
//	}
//
//	func (b *bank) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
//		return feed.List(ctx, b.transactions, req)
//	}
//
//	func (b *bank) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
//		tenant, _ := connector.TenantFrom(ctx)
//		if _, ok, err := b.accounts.Get(ctx, tenant, accountID); err != nil {
//			return models.Balances{}, err
//		} else if !ok {
//			return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
//		}
//		return models.Balances{
//			ID: "bal_" + accountID, AccountID: accountID, At: time.Now().UTC(),
//			Balances: []models.Balance{{Amount: models.AmountFromInt64(10_000), Currency: "EUR/2"}},
//		}, nil
//	}
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM) // the caller owns signals
//		defer stop()
//		accounts, transactions := feed.NewMemoryAccounts(), feed.NewMemoryTransactions()
//		b := &bank{accounts: accounts, transactions: transactions}
//
//		// The data of the tenant that WithAPIKey's key authenticates as.
//		tenant := httpserver.DefaultTenant
//		created := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
//		if err := accounts.Put(ctx, tenant, models.Account{ID: "acc_1", AccountName: "Main", CreatedAt: created}); err != nil {
//			panic(err)
//		}
//		if err := transactions.Put(ctx, tenant, models.Transaction{
//			ID: "tx_1", CreatedAt: created, UpdatedAt: created, Currency: "EUR/2",
//			Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded,
//			Amount: models.AmountFromInt64(10_000), DestinationAccountID: "acc_1",
//		}); err != nil {
//			panic(err)
//		}
//
//		handler, err := httpserver.New(b, httpserver.WithAPIKey("change-me"))
//		if err != nil {
//			panic(err)
//		}
//		// Mount handler wherever you like, e.g. http.StripPrefix("/formance", handler).
//		_ = httpserver.ListenAndServe(ctx, ":8080", handler, slog.Default())
//	}
//
// The same provider, compiled and exercised, is this package's Example.
//
// # Proving it
//
// In the integrator's own tests, one call runs the whole conformance suite, including full syncs with
// a faithful copy of Formance's poller:
//
//	func TestMiddleware(t *testing.T) {
//		connectortest.Run(t, connectortest.Target{Handler: handler, APIKey: "change-me"}, connectortest.Options{})
//	}
package pspconnect
