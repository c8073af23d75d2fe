package health_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/pspconnect/pspconnect/health"
)

// database stands for a *pgfeed.Feed or a *pgstore.Store, which implement health.Pinger.
type database struct{ up bool }

func (d *database) Ping(context.Context) error {
	if !d.up {
		return fmt.Errorf("connection refused")
	}
	return nil
}

// Mount the probes beside the connector's handler (here a stand-in for httpserver.New's).
func Example() {
	feedDB, storeDB := &database{up: true}, &database{up: false}
	mux := http.NewServeMux()
	mux.Handle("/", http.NotFoundHandler()) // the connector: httpserver.New(provider, …)
	mux.Handle("GET /livez", health.Liveness())
	mux.Handle("GET /readyz", health.Readiness([]health.Check{
		health.Ping("feed", feedDB),
		health.Ping("idempotency", storeDB),
	}, health.WithLogger(slog.New(slog.DiscardHandler))))

	for _, path := range []string{"/livez", "/readyz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Print(path, " ", rec.Code, " ", rec.Body.String())
	}
	// Output:
	// /livez 200 {"status":"ok"}
	// /readyz 503 {"status":"unavailable","checks":{"feed":"ok","idempotency":"failed (see the middleware's logs)"}}
}
