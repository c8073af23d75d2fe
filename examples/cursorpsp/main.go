// Command cursorpsp is the middleware template for the common real-world case: a Stripe-like PSP
// whose API pages by cursor (starting_after), stamps objects with "created" to the second, reports
// transaction changes as events, and limits its callers' rate. It serves Formance's Generic
// Connector from such an upstream without making Formance wait for it and without losing an object
// or a change: a background Syncer per tenant (package ingest) mirrors the upstream's accounts,
// beneficiaries and transactions into feeds (package feed), and Formance's list requests are
// answered from the feeds alone (Provider explains the design; sources.go holds the three upstream
// pulls).
//
//	go run ./examples/cursorpsp
//
// starts a simulated upstream (Upstream, a Stripe-like API with a rate limit) on a local port, seeded
// with dense second-precision data and kept busy with new objects and status changes, the Syncer,
// and the middleware on :8080 (flag -addr), whose API key it prints (flag -api-key or
// PSPCONNECT_API_KEY). Interrupt it (SIGINT or SIGTERM) to stop: the server drains its requests, then
// the Syncer stops. To adapt it to a real PSP, replace Client's routes, the sources and the
// conversions, and the wiring of run below with your PSP's URL and keys. Beside the connector's
// routes it serves Prometheus-format metrics at /metrics (the handler's, the feeds' and the
// Syncers') and the health probes at /livez and /readyz (see docs/operations.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/examples/internal/ops"
	"github.com/pspconnect/pspconnect/httpserver"
)

// The simulated upstream's published rate limit, and the middleware's pace: a margin below it, so
// that network jitter bunching two calls together does not cost a 429.
const (
	upstreamRate  = rate.Limit(100)
	upstreamBurst = 20
	clientRate    = upstreamRate * 9 / 10
	clientBurst   = upstreamBurst / 2
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	apiKey := flag.String("api-key", envOr("PSPCONNECT_API_KEY", "dev-api-key"), "API key Formance must send as Authorization: Bearer <key>")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *apiKey, logger); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("middleware stopped", "error", err)
		os.Exit(1)
	}
}

// run starts the simulated upstream, the provider's Syncers and the middleware on addr, and serves
// until ctx ends; then it stops the server (draining requests in flight) and the Syncers, and
// returns.
func run(ctx context.Context, addr, apiKey string, logger *slog.Logger) error {
	const secretKey = "sk_test_example"
	up := NewUpstream(upstreamRate, upstreamBurst)
	ds := up.Dataset(secretKey)
	rng := rand.New(rand.NewPCG(1, 2))
	if err := seed(ds, rng, now()-3600, 40, 300, 3000); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upstream := &http.Server{Handler: up, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = upstream.Serve(ln) }()
	defer upstream.Close()
	go simulateActivity(ctx, ds, rng, logger)

	metrics, err := ops.NewMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = metrics.Shutdown(context.WithoutCancel(ctx)) }()
	client := NewClient("http://"+ln.Addr().String(), nil)
	p, err := NewProvider(client, map[string]string{httpserver.DefaultTenant: secretKey},
		Options{Rate: clientRate, Burst: clientBurst, Logger: logger, MeterProvider: metrics.Provider})
	if err != nil {
		return err
	}
	h, err := httpserver.New(p, httpserver.WithAPIKey(apiKey), httpserver.WithLogger(logger),
		httpserver.WithMeterProvider(metrics.Provider))
	if err != nil {
		return err
	}
	// The Syncers run beside the server and stop after it.
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	synced := make(chan error, 1)
	go func() { synced <- p.Run(syncCtx) }()
	defer func() {
		stopSync()
		if err := <-synced; err != nil {
			logger.Error("syncer", "error", err)
		}
		logger.Info("syncer stopped")
	}()

	fmt.Fprintf(os.Stderr, "\nSimulated upstream PSP: http://%s (secret key %s)\nInstall Formance's Generic Connector with:\n  endpoint: http://localhost%s\n  apiKey:   %s\n\n",
		ln.Addr(), secretKey, portOf(addr), apiKey)
	// Beside the connector: /metrics, /livez and /readyz (the feeds are in memory: ready while the
	// process serves).
	return httpserver.ListenAndServe(ctx, addr, ops.Handler(h, metrics), logger)
}

// seed fills ds with accounts, beneficiaries and transactions created from the Unix second start on,
// several per second (the case that loses data when times are passed through as they are), and moves
// about a third of the transactions on to a final status as time goes by, some within the second
// they were created.
func seed(ds *Dataset, rng *rand.Rand, start int64, accounts, beneficiaries, transactions int) error {
	var accountIDs []string
	at := start
	for i := range accounts {
		a, err := ds.AddAccount(fmt.Sprintf("Account %d", i+1), at, UpstreamMoney{Amount: rng.Int64N(1_000_000), Currency: []string{"eur", "usd", "jpy"}[i%3]})
		if err != nil {
			return err
		}
		accountIDs = append(accountIDs, a.ID)
		at += int64(rng.IntN(2))
	}
	at = start
	for i := range beneficiaries {
		if _, err := ds.AddBeneficiary(fmt.Sprintf("Beneficiary %d", i+1), at); err != nil {
			return err
		}
		at += int64(rng.IntN(2)) // about two a second
	}
	at = start
	var pending []string
	for range transactions {
		t, err := newTransaction(ds, rng, accountIDs, at)
		if err != nil {
			return err
		}
		pending = append(pending, t.ID)
		if rng.IntN(3) == 0 {
			// An earlier transaction, sometimes created in this very second, reaches its final status.
			i := rng.IntN(len(pending))
			if _, err := ds.SetStatus(pending[i], upstreamStatuses[rng.IntN(len(upstreamStatuses))], at); err != nil {
				return err
			}
			pending = append(pending[:i], pending[i+1:]...)
		}
		if rng.IntN(3) == 0 {
			at++ // about three a second
		}
	}
	return nil
}

var upstreamStatuses = []string{"succeeded", "failed", "canceled", "refunded", "disputed"}

func newTransaction(ds *Dataset, rng *rand.Rand, accountIDs []string, at int64) (UpstreamTransaction, error) {
	t := UpstreamTransaction{
		Created: at, Amount: 1 + rng.Int64N(500_000), Currency: []string{"eur", "usd", "jpy", "kwd"}[rng.IntN(4)],
		Type: []string{"payin", "payout", "transfer"}[rng.IntN(3)], Status: "pending",
	}
	if len(accountIDs) > 0 {
		t.Destination = accountIDs[rng.IntN(len(accountIDs))]
	}
	if rng.IntN(4) == 0 {
		t.Metadata = map[string]string{"order": fmt.Sprintf("ord_%d", rng.IntN(1_000_000))}
	}
	return ds.AddTransaction(t)
}

// advance moves up to n pending transactions to a final status at the Unix second at.
func advance(ds *Dataset, rng *rand.Rand, n int, at int64) error {
	for _, t := range ds.Transactions() {
		if n == 0 {
			break
		}
		if t.Status != "pending" || rng.IntN(2) == 0 {
			continue
		}
		if _, err := ds.SetStatus(t.ID, upstreamStatuses[rng.IntN(len(upstreamStatuses))], at); err != nil {
			return err
		}
		n--
	}
	return nil
}

// simulateActivity adds objects and changes statuses every second until ctx ends, as a busy PSP would.
func simulateActivity(ctx context.Context, ds *Dataset, rng *rand.Rand, logger *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := now()
		var err error
		for range rng.IntN(4) {
			_, err = newTransaction(ds, rng, nil, at)
		}
		if err == nil && rng.IntN(3) == 0 {
			_, err = ds.AddBeneficiary("New beneficiary", at)
		}
		if err == nil {
			err = advance(ds, rng, rng.IntN(3), at)
		}
		if err != nil {
			logger.Warn("simulated activity", "error", err)
		}
	}
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
