package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/health"
	"github.com/pspconnect/pspconnect/internal/testsupport"
)

// probe GETs url and returns the status and the decoded body.
func probe(t *testing.T, url string) (int, health.Status) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var st health.Status
	require.NoError(t, json.Unmarshal(body, &st), "%s", body)
	return res.StatusCode, st
}

func TestLiveness(t *testing.T) {
	srv := httptest.NewServer(health.Liveness())
	defer srv.Close()
	status, st := probe(t, srv.URL)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, health.StatusOK, st.Status)
}

func TestReadinessFollowsItsChecks(t *testing.T) {
	var down atomic.Bool
	db := health.Check{Name: "feed", Check: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp 10.0.0.7:5432: connection refused (password=hunter2)")
		}
		return nil
	}}
	other := health.Check{Name: "idempotency", Check: func(context.Context) error { return nil }}
	logs := &testsupport.Buffer{}
	srv := httptest.NewServer(health.Readiness([]health.Check{db, other}, health.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))))
	defer srv.Close()

	status, st := probe(t, srv.URL)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, health.Status{Status: health.StatusOK, Checks: map[string]string{"feed": "ok", "idempotency": "ok"}}, st)

	down.Store(true)
	status, st = probe(t, srv.URL)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, health.StatusUnavailable, st.Status)
	assert.Equal(t, "failed (see the middleware's logs)", st.Checks["feed"])
	assert.Equal(t, "ok", st.Checks["idempotency"])
	assert.Contains(t, logs.String(), `level=WARN msg="readiness check failed" check=feed error="dial tcp`)

	down.Store(false)
	status, _ = probe(t, srv.URL)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, logs.String(), `msg="readiness check passes again" check=feed`)
}

func TestReadinessNeverShowsTheError(t *testing.T) {
	srv := httptest.NewServer(health.Readiness([]health.Check{{Name: "feed", Check: func(context.Context) error {
		return errors.New("postgres://app:s3cret@db/payments: refused")
	}}}, health.WithLogger(slog.New(slog.DiscardHandler))))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.NotContains(t, string(body), "s3cret")
	assert.NotContains(t, string(body), "postgres://")
}

func TestReadinessTimesOutASlowCheck(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := health.Check{Name: "feed", Check: func(ctx context.Context) error {
		select { // a check that ignores its context
		case <-release:
		case <-time.After(time.Minute):
		}
		return nil
	}}
	srv := httptest.NewServer(health.Readiness([]health.Check{slow}, health.WithTimeout(50*time.Millisecond),
		health.WithLogger(slog.New(slog.DiscardHandler))))
	defer srv.Close()
	start := time.Now()
	status, st := probe(t, srv.URL)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "timed out after 50ms", st.Checks["feed"])
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestReadinessRefusesABadCheckAndSurvivesAPanic(t *testing.T) {
	srv := httptest.NewServer(health.Readiness([]health.Check{
		{Name: "nil function"},
		{Name: "panics", Check: func(context.Context) error { panic("boom") }},
	}, health.WithLogger(slog.New(slog.DiscardHandler))))
	defer srv.Close()
	status, st := probe(t, srv.URL)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "failed (see the middleware's logs)", st.Checks["nil function"])
	assert.Equal(t, "failed (see the middleware's logs)", st.Checks["panics"])
}

func TestReadinessWithoutChecksIsReady(t *testing.T) {
	srv := httptest.NewServer(health.Readiness(nil))
	defer srv.Close()
	status, st := probe(t, srv.URL)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, health.StatusOK, st.Status)
}
