package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/examples/internal/ops"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// exportEverything runs, against one Prometheus exporter, everything that records a metric of
// the library: the handler (requests, items served, an invalid item quarantined and one refused,
// idempotency outcomes, a rate-limit rejection, provider calls), the feeds and a Syncer (items,
// a failed pull, lag, jobs held). It returns the scrape of /metrics.
func exportEverything(t *testing.T) scrape {
	t.Helper()
	metrics, err := ops.NewMetrics()
	require.NoError(t, err)
	t.Cleanup(func() { _ = metrics.Shutdown(context.Background()) })
	mp := metrics.Provider
	p, err := NewInstrumentedProvider(time.Now, mp)
	require.NoError(t, err)
	require.NoError(t, seed(t.Context(), p, time.Now()))
	at := time.Now().UTC()
	require.NoError(t, p.transactions.Put(t.Context(), httpserver.DefaultTenant, models.Transaction{ID: "tx_bad", CreatedAt: at,
		UpdatedAt: at, Currency: "eur/2", Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(1)}))

	quiet := slog.New(slog.DiscardHandler)
	quarantining, err := newHandlerFor(p, "test-key", quiet, httpserver.WithMeterProvider(mp),
		httpserver.WithQuarantine(httpserver.NewQuarantine(0)), httpserver.WithRateLimit(rate.Every(time.Hour), 6))
	require.NoError(t, err)
	srv := httptest.NewServer(ops.Handler(quarantining, metrics))
	t.Cleanup(srv.Close)
	refusing, err := httpserver.New(flakyPayouts{p}, httpserver.WithAPIKey("test-key"), httpserver.WithLogger(quiet),
		httpserver.WithMeterProvider(mp))
	require.NoError(t, err)
	strict := httptest.NewServer(refusing)
	t.Cleanup(strict.Close)

	payout := `{"idempotencyKey":"po-dash","amount":"1000","currency":"EUR/2","sourceAccountId":"acc_main","destinationAccountId":"ben_acme"}`
	other := `{"idempotencyKey":"po-dash","amount":"2000","currency":"EUR/2","sourceAccountId":"acc_main","destinationAccountId":"ben_acme"}`
	for _, r := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/transactions?pageSize=100", "", http.StatusOK}, // tx_bad quarantined
		{"GET", "/accounts/acc_main/balances", "", http.StatusOK},
		{"POST", "/payouts", payout, http.StatusCreated},
		{"POST", "/payouts", payout, http.StatusCreated}, // replayed
		{"POST", "/payouts", other, http.StatusConflict}, // refused
		{"GET", "/accounts/nope/balances", "", http.StatusNotFound},
		{"GET", "/accounts", "", http.StatusTooManyRequests}, // the burst of 6 is spent
	} {
		require.Equal(t, r.status, call(t, srv, r.method, r.path, r.body), "%s %s", r.method, r.path)
	}
	require.Equal(t, http.StatusInternalServerError, call(t, strict, "GET", "/transactions?pageSize=100", ""), "tx_bad refused")
	unknown := `{"idempotencyKey":"po-unknown","amount":"1000","currency":"EUR/2","sourceAccountId":"acc_main","destinationAccountId":"ben_acme"}`
	require.Equal(t, http.StatusInternalServerError, call(t, strict, "POST", "/payouts", unknown))
	require.Error(t, p.transactions.Put(t.Context(), httpserver.DefaultTenant, models.Transaction{}), "a put the feed refuses")

	// A Syncer into a feed of its own: one batch, one failed pull, then caught up.
	mirror, err := feed.NewMemory(feed.TransactionKeys(), feed.WithMetrics(mp, "mirror"))
	require.NoError(t, err)
	var pulls atomic.Int64
	src := ingest.SourceFunc[models.Transaction](func(context.Context, string, string) (ingest.Batch[models.Transaction], error) {
		switch pulls.Add(1) {
		case 1:
			return ingest.Batch[models.Transaction]{Checkpoint: "1", More: true, Items: []models.Transaction{{ID: "m1", CreatedAt: at,
				UpdatedAt: at, Currency: "EUR/2", Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(1)}}}, nil
		case 2:
			return ingest.Batch[models.Transaction]{}, connector.ErrUnavailable
		}
		return ingest.Batch[models.Transaction]{Checkpoint: "1"}, nil
	})
	syncer, err := ingest.NewSyncer(ingest.NewLocalElector("dashboard"), ingest.WithMeterProvider(mp), ingest.WithLogger(quiet),
		ingest.WithIntervals(time.Hour, time.Millisecond, time.Second), ingest.WithBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	job := ingest.NewJob(httpserver.DefaultTenant, "transactions", src, ingest.NewFeedSink[models.Transaction](mirror))
	syncer.Add(job)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = syncer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { _, ok := syncer.CaughtUp(job.Name()); return ok }, 10*time.Second, time.Millisecond)

	return scrapeMetrics(t, srv.URL+ops.MetricsPath)
}

// libraryMetric matches a metric name of the library in a query or a document.
var libraryMetric = regexp.MustCompile(`\bpspconnect_[a-z0-9_]+`)

// exported reports whether name is a family of the scrape, or the name of a histogram whose
// name_bucket, name_count and name_sum are.
func exported(families map[string]bool, name string) bool {
	return families[name] || families[name+"_count"]
}

// flakyPayouts is the example's provider whose CreatePayout fails, for the key "po-unknown", with
// an error that does not say whether the PSP acted: the outcome is unknown.
type flakyPayouts struct{ *Provider }

func (f flakyPayouts) CreatePayout(ctx context.Context, req models.PayoutRequest) (models.Payout, error) {
	if req.IdempotencyKey == "po-unknown" {
		return models.Payout{}, errors.New("connection reset by the PSP")
	}
	return f.Provider.CreatePayout(ctx, req)
}

// TestDashboardQueriesUseExportedMetrics: every metric that docs/grafana-dashboard.json queries is
// one the library exports (as scraped from /metrics after exercising all of them), and so is every
// metric named in docs/operations.md; and every exported family is documented there.
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	families := exportEverything(t).families()
	var ours []string
	for name := range families {
		if strings.HasPrefix(name, "pspconnect_") {
			ours = append(ours, name)
		}
	}
	slices.Sort(ours)
	require.NotEmpty(t, ours)

	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	require.NoError(t, err)
	var dashboard struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dashboard), "the dashboard is JSON that Grafana imports")
	require.NotEmpty(t, dashboard.Panels)
	queried := map[string]bool{}
	for _, panel := range dashboard.Panels {
		require.NotEmpty(t, panel.Targets, "panel %q has no query", panel.Title)
		for _, target := range panel.Targets {
			names := libraryMetric.FindAllString(target.Expr, -1)
			assert.NotEmpty(t, names, "panel %q: query %q names no metric of the library", panel.Title, target.Expr)
			for _, name := range names {
				queried[name] = true
				assert.True(t, exported(families, name), "panel %q queries %s, which the library does not export (exported: %v)", panel.Title, name, ours)
			}
		}
	}

	doc, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, name := range libraryMetric.FindAllString(string(doc), -1) {
		documented[name] = true
		assert.True(t, exported(families, name), "docs/operations.md names %s, which the library does not export", name)
	}
	for _, name := range ours {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
		assert.True(t, documented[name] || documented[base], "%s is exported but not documented in docs/operations.md", name)
	}
}
