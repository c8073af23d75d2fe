package pgfeed_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/models"
)

// bank is a provider that answers Formance's transaction list from a PostgreSQL feed.
type bank struct {
	transactions *pgfeed.Feed[models.Transaction]
}

func (b *bank) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, b.transactions, req)
}

// Every replica of the middleware opens the feed on the same database, migrates it at start,
// writes what it learns from the PSP and serves Formance from it. One of them (or all) prunes.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // the application's pool: the feed never closes it
	txs, err := pgfeed.Transactions(pool)
	if err != nil {
		log.Fatal(err)
	}
	if err := txs.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	go feed.PruneEvery(ctx, time.Hour, nil, txs)

	// What the PSP reported, in its order: a new transaction, then its settlement.
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	tx := models.Transaction{ID: "tx_1", CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(1250)}
	if err := txs.Put(ctx, "tenant-a", tx); err != nil {
		log.Fatal(err)
	}
	tx.Status, tx.UpdatedAt = models.TransactionStatusSucceeded, at.Add(time.Minute)
	if err := txs.Put(ctx, "tenant-a", tx); err != nil {
		log.Fatal(err)
	}
	_ = &bank{transactions: txs} // mounted with httpserver.New
}
