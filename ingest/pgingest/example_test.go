package pgingest_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
)

// Every replica of the middleware runs the same code on the same database: one Syncer per replica,
// each job running on one replica at a time, the items and the checkpoint committed together.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	txs, err := pgfeed.Transactions(pool)
	if err != nil {
		log.Fatal(err)
	}
	var opts []pgingest.Option
	if pod := os.Getenv("POD_NAME"); pod != "" { // a stable name: a restarted pod takes its jobs back at once
		opts = append(opts, pgingest.WithHolder(pod))
	}
	elector, err := pgingest.NewElector(pool, opts...)
	if err != nil {
		log.Fatal(err)
	}
	sink, err := pgingest.NewSink(pool, txs)
	if err != nil {
		log.Fatal(err)
	}
	for _, migrate := range []func(context.Context) error{txs.Migrate, sink.Migrate} {
		if err := migrate(ctx); err != nil {
			log.Fatal(err)
		}
	}

	// The PSP's list of transactions updated since a time, to the second.
	source := ingest.Since[models.Transaction, models.Transaction]{
		Fetch: func(ctx context.Context, tenant string, since time.Time, cursor string) ([]models.Transaction, string, error) {
			return nil, "", nil // one call to the PSP
		},
		Map:       func(t models.Transaction) (models.Transaction, error) { return t, nil },
		Time:      func(t models.Transaction) time.Time { return t.UpdatedAt },
		Precision: time.Second,
	}
	syncer, err := ingest.NewSyncer(elector)
	if err != nil {
		log.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		syncer.Add(ingest.NewJob(tenant, pgfeed.RouteTransactions, source, sink))
	}
	go func() { _ = syncer.Run(ctx) }()
	// … serve httpserver.New(provider) whose ListTransactions returns feed.List(ctx, txs, req).
}
