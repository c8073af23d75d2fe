// Package health serves the liveness and readiness probes of a middleware, to mount beside the
// connector's routes:
//
//	mux := http.NewServeMux()
//	mux.Handle("/", connectorHandler) // httpserver.New(…)
//	mux.Handle("GET /livez", health.Liveness())
//	mux.Handle("GET /readyz", health.Readiness([]health.Check{
//		health.Ping("feed", transactions),       // a *pgfeed.Feed
//		health.Ping("idempotency", store),       // a *pgstore.Store
//	}))
//
// Liveness answers 200 while the process serves HTTP: an orchestrator restarts the process when it
// stops answering. Readiness runs its checks (the databases of the feed and of the idempotency
// store, typically) and answers 503 while one fails, so that a load balancer sends Formance's
// requests to another replica meanwhile; it answers 200 again as soon as they pass. Neither probe
// asks for the API key: mount them where only the orchestrator reaches them, or outside the
// connector's prefix.
//
// It is not for checking the PSP: a PSP that is down makes the provider answer 503, which Formance
// retries; taking every replica out of the load balancer for it would only turn those answers into
// connection errors.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// DefaultTimeout bounds each readiness check unless WithTimeout says otherwise: well under the
// probe timeouts of orchestrators (Kubernetes' default is 1 s, often raised to a few seconds).
const DefaultTimeout = 2 * time.Second

// ErrInvalidCheck is wrapped by the error answered (and logged) for a check without a name or a
// function.
var ErrInvalidCheck = errors.New("health: invalid check")

// Check is one readiness check: Name names it in the answer and in the logs ("feed",
// "idempotency"), and Check returns nil when the dependency is usable. Check gets a context that
// ends after the readiness handler's timeout and must return by then.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Pinger is a dependency that checks itself: pgfeed.Feed, pgstore.Store, pgingest.Elector and
// pgingest.Sink implement it with one query on their database.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ping returns the check named name that calls p.Ping.
func Ping(name string, p Pinger) Check {
	return Check{Name: name, Check: p.Ping}
}

// Status is the JSON body of both probes: "ok" or "unavailable", and for readiness the result of
// each check by name: "ok", "timed out after 2s" or "failed (see the middleware's logs)". The error
// of a failed check is logged, never written in the answer, which unauthenticated callers read.
type Status struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// The values of Status.Status.
const (
	StatusOK          = "ok"
	StatusUnavailable = "unavailable"
)

// Liveness returns the liveness handler: 200 with {"status":"ok"} for any request.
func Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusOK, Status{Status: StatusOK})
	})
}

// Option configures Readiness.
type Option func(*config)

type config struct {
	timeout time.Duration
	logger  *slog.Logger
}

// WithTimeout bounds each check (default DefaultTimeout); a check still running then fails. A
// non-positive d keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithLogger sets the logger of failed checks (WARN, with the check's name and error) and of the
// return to ready (INFO). Default slog.Default(); slog.New(slog.DiscardHandler) silences them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// Readiness returns the readiness handler: it runs every check at once, each bounded by the
// timeout, and answers 200 with {"status":"ok","checks":{…}} when all pass, 503 with
// {"status":"unavailable","checks":{…}} otherwise (and for a check without a name or a function,
// which fails with ErrInvalidCheck). Without checks it answers 200, like Liveness.
func Readiness(checks []Check, opts ...Option) http.Handler {
	cfg := config{timeout: DefaultTimeout, logger: slog.Default()}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	checks = append([]Check(nil), checks...)
	var mu sync.Mutex
	failing := map[string]bool{} // the checks that failed last time, to log their recovery once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() { results[i] = run(r.Context(), c, cfg.timeout) })
		}
		wg.Wait()
		st := Status{Status: StatusOK, Checks: make(map[string]string, len(checks))}
		mu.Lock()
		for i, c := range checks {
			name := c.Name
			if name == "" {
				name = fmt.Sprintf("check %d", i+1)
			}
			err := results[i]
			switch {
			case err == nil:
				st.Checks[name] = StatusOK
				if failing[name] {
					delete(failing, name)
					cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "readiness check passes again", slog.String("check", name))
				}
				continue
			case errors.Is(err, context.DeadlineExceeded):
				st.Checks[name] = "timed out after " + cfg.timeout.String()
			default:
				st.Checks[name] = "failed (see the middleware's logs)"
			}
			st.Status = StatusUnavailable
			failing[name] = true
			cfg.logger.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
				slog.String("check", name), slog.String("error", err.Error()))
		}
		mu.Unlock()
		status := http.StatusOK
		if st.Status != StatusOK {
			status = http.StatusServiceUnavailable
		}
		write(w, status, st)
	})
}

// run runs one check within timeout, recovering a panic as a failure.
func run(parent context.Context, c Check, timeout time.Duration) error {
	if c.Name == "" || c.Check == nil {
		return fmt.Errorf("%w: a check needs a name and a function", ErrInvalidCheck)
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("health: check %q panicked: %v", c.Name, v)
			}
		}()
		done <- c.Check(ctx)
	}()
	select {
	case err := <-done:
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("health: check %q: %w", c.Name, context.DeadlineExceeded)
	}
}

func write(w http.ResponseWriter, status int, st Status) {
	body, _ := json.Marshal(st) // a struct of strings always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
