package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/examples/internal/ops"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// scrape is one read of a Prometheus text exposition: every sample as its series ("name{labels}")
// and value.
type scrape map[string]float64

// scrapeMetrics GETs url (a /metrics endpoint) and parses its samples.
func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "text/plain")
	out := scrape{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "sample line %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "sample line %q", line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// sum adds the samples of the metric name (exactly: not name_bucket for name) whose labels include
// every one of labels (`http_route="GET /transactions"`).
func (s scrape) sum(name string, labels ...string) float64 {
	var total float64
	for series, v := range s {
		metric, rest, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// families returns the metric names of the scrape.
func (s scrape) families() map[string]bool {
	out := map[string]bool{}
	for series := range s {
		name, _, _ := strings.Cut(series, "{")
		out[name] = true
	}
	return out
}

// call sends one request to srv with the example's API key and returns the status.
func call(t *testing.T, srv *httptest.Server, method, path, body string) int {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, r)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer test-key")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// TestMetricsEndpointMovesWithRequests scrapes the example's /metrics after real requests: the
// request histogram, the items served, an invalid item refused, an idempotent replay and the feeds'
// metrics move as they should, labelled with route templates only.
func TestMetricsEndpointMovesWithRequests(t *testing.T) {
	metrics, err := ops.NewMetrics()
	require.NoError(t, err)
	defer func() { _ = metrics.Shutdown(context.Background()) }()
	p, h, err := newHandler(t.Context(), "test-key", time.Now, slog.New(slog.DiscardHandler), metrics)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	before := scrapeMetrics(t, srv.URL+ops.MetricsPath)
	assert.EqualValues(t, 3, before.sum("pspconnect_feed_items", `route="transactions"`), "the seeded transactions")
	assert.EqualValues(t, 2, before.sum("pspconnect_feed_items", `route="accounts"`))

	require.Equal(t, http.StatusOK, call(t, srv, "GET", "/transactions?page=1&pageSize=100&sort=updatedAt:asc", ""))
	require.Equal(t, http.StatusOK, call(t, srv, "GET", "/accounts/acc_main/balances", ""))
	payout := `{"idempotencyKey":"po-key-1","amount":"1000","currency":"EUR/2","sourceAccountId":"acc_main","destinationAccountId":"ben_acme"}`
	require.Equal(t, http.StatusCreated, call(t, srv, "POST", "/payouts", payout))
	require.Equal(t, http.StatusCreated, call(t, srv, "POST", "/payouts", payout), "the replay")

	// One row the contract refuses, put in the feed behind the provider's checks: a lower-case
	// currency. The handler answers 500 naming it.
	at := time.Now().UTC()
	require.NoError(t, p.transactions.Put(t.Context(), httpserver.DefaultTenant, models.Transaction{ID: "tx_bad", CreatedAt: at, UpdatedAt: at, Currency: "eur/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(1)}))
	require.Equal(t, http.StatusInternalServerError, call(t, srv, "GET", "/transactions?page=1&pageSize=100&sort=updatedAt:asc", ""))

	after := scrapeMetrics(t, srv.URL+ops.MetricsPath)
	const duration = "pspconnect_http_server_duration_seconds"
	assert.EqualValues(t, 1, after.sum(duration+"_count", `http_route="GET /transactions"`, `http_response_status_code="200"`, `http_response_status_class="2xx"`))
	assert.EqualValues(t, 1, after.sum(duration+"_count", `http_route="GET /transactions"`, `http_response_status_class="5xx"`))
	assert.EqualValues(t, 1, after.sum(duration+"_count", `http_route="GET /accounts/{accountId}/balances"`))
	assert.EqualValues(t, 2, after.sum(duration+"_count", `http_route="POST /payouts"`, `http_response_status_code="201"`))
	assert.EqualValues(t, 2, after.sum(duration+"_bucket", `http_route="POST /payouts"`, `le="+Inf"`), "the histogram's buckets")
	assert.Positive(t, after.sum(duration+"_sum", `http_route="GET /transactions"`))
	assert.EqualValues(t, 3, after.sum("pspconnect_items_served_total", `http_route="GET /transactions"`),
		"the three seeded transactions; nothing served from the refused page")
	assert.EqualValues(t, 1, after.sum("pspconnect_items_invalid_total", `http_route="GET /transactions"`, `action="refused"`))
	assert.EqualValues(t, 1, after.sum("pspconnect_idempotency_requests_total", `http_route="POST /payouts"`, `outcome="new"`))
	assert.EqualValues(t, 1, after.sum("pspconnect_idempotency_requests_total", `http_route="POST /payouts"`, `outcome="replayed"`))
	assert.EqualValues(t, 1, after.sum("pspconnect_provider_duration_seconds_count", `provider_method="CreatePayout"`, `outcome="ok"`),
		"the provider was called once for the key")
	assert.EqualValues(t, 3+2, after.sum("pspconnect_feed_items", `route="transactions"`), "the payout's row and the bad row")
	assert.EqualValues(t, before.sum("pspconnect_feed_put_items_total", `route="transactions"`)+2,
		after.sum("pspconnect_feed_put_items_total", `route="transactions"`))
	for series := range after {
		assert.NotContains(t, series, "acc_main", "a raw path became a label value")
	}

	for _, path := range []string{ops.LivenessPath, ops.ReadinessPath} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, path)
	}
	// The connector's routes still ask for the key; the operations endpoints do not.
	res, err := http.Get(srv.URL + "/transactions")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}
