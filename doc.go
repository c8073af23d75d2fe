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
//   - connector: the Provider interface you implement, optional capabilities (payouts, transfers,
//     status reads, bank accounts) and the errors a provider returns.
//   - models: the contract's objects and value types (Amount, Asset, TransactionStatus, …).
//   - pagination: query parsing, and Collection, an in-memory store that pages exactly as the poller
//     needs and keeps items that share a timestamp from being skipped.
//   - httpserver: New turns a Provider into the http.Handler you mount in your app.
//   - connectortest: Run proves a middleware against the contract and a faithful copy of Formance's
//     poller, in your own test suite.
//   - examples: runnable middlewares to copy (inmemory, mockpsp).
//
// # A complete provider
//
// The provider below serves accounts and transactions from memory. A real one calls its PSP in the
// same methods, or keeps a local copy of the PSP's data in pagination collections.
//
//	package main
//
//	import (
//		"context"
//		"log/slog"
//		"time"
//
//		"github.com/pspconnect/pspconnect/connector"
//		"github.com/pspconnect/pspconnect/httpserver"
//		"github.com/pspconnect/pspconnect/models"
//		"github.com/pspconnect/pspconnect/pagination"
//	)
//
//	type bank struct {
//		accounts     *pagination.Collection[models.Account]
//		transactions *pagination.Collection[models.Transaction]
//	}
//
//	func (b *bank) ListAccounts(_ context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
//		return connector.Page[models.Account]{Items: b.accounts.Page(req)}, nil
//	}
//
//	func (b *bank) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
//		return connector.Page[models.Beneficiary]{}, nil // this PSP has no beneficiaries
//	}
//
//	func (b *bank) ListTransactions(_ context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
//		return connector.Page[models.Transaction]{Items: b.transactions.Page(req)}, nil
//	}
//
//	func (b *bank) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
//		if _, ok := b.accounts.Get(accountID); !ok {
//			return models.Balances{}, connector.NotFound("account %q does not exist", accountID)
//		}
//		return models.Balances{
//			ID: "bal_" + accountID, AccountID: accountID, At: time.Now().UTC(),
//			Balances: []models.Balance{{Amount: models.AmountFromInt64(10_000), Currency: "EUR/2"}},
//		}, nil
//	}
//
//	func main() {
//		b := &bank{accounts: pagination.NewAccounts(), transactions: pagination.NewTransactions()}
//		created := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
//		_ = b.accounts.Put(models.Account{ID: "acc_1", AccountName: "Main", CreatedAt: created})
//		_ = b.transactions.Put(models.Transaction{
//			ID: "tx_1", CreatedAt: created, UpdatedAt: created, Currency: "EUR/2",
//			Type: models.TransactionTypePayIn, Status: models.TransactionStatusSucceeded,
//			Amount: models.AmountFromInt64(10_000), DestinationAccountID: "acc_1",
//		})
//
//		handler, err := httpserver.New(b, httpserver.WithAPIKey("change-me"))
//		if err != nil {
//			panic(err)
//		}
//		// Mount handler wherever you like, e.g. http.StripPrefix("/formance", handler).
//		_ = httpserver.ListenAndServe(context.Background(), ":8080", handler, slog.Default())
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
