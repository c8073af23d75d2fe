package connectortest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunUnderPathPrefix: the endpoint Formance is configured with may carry a path prefix, both
// for a running server (BaseURL) and for a handler mounted under a prefix (Handler plus BaseURL's
// path).
func TestRunUnderPathPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/formance/", http.StripPrefix("/formance", newRefServer(faultNone).handler()))
	t.Run("BaseURL", func(t *testing.T) {
		srv := httptest.NewServer(mux)
		defer srv.Close()
		Run(t, Target{BaseURL: srv.URL + "/formance/", APIKey: testKey}, Options{PageSizes: []int{7}})
	})
	t.Run("Handler", func(t *testing.T) {
		Run(t, Target{Handler: mux, BaseURL: "/formance", APIKey: testKey}, Options{PageSizes: []int{7}})
	})
	t.Run("missing prefix", func(t *testing.T) {
		// Without the prefix every route is a 404: the run fails from the first check on.
		rec := runRecorded(t, Target{Handler: mux, APIKey: testKey}, Options{PageSizes: []int{7}})
		assert.Contains(t, rec.failedChecks(), "schema")
		assertFinding(t, rec, "schema", "GET /accounts?page=1&pageSize=1000&sort=createdAt:asc: answered 404, want 200")
	})
}

func TestRunBadTarget(t *testing.T) {
	rec := runRecorded(t, Target{APIKey: testKey}, Options{})
	assert.True(t, rec.Failed())
	assert.Empty(t, rec.children(), "no check runs without a target")
	assert.Contains(t, rec.dump(), "set Target.Handler or Target.BaseURL")

	_, err := dial(Target{BaseURL: "ftp://example.com"})
	assert.ErrorIs(t, err, ErrTarget)
	_, err = dial(Target{BaseURL: "http://example.com/x?y=1"})
	assert.ErrorIs(t, err, ErrTarget)
}

// TestRunOptions: MaxPageSize sets the page size the parameters check expects to be refused, a
// failing Changes fails the changes check, and SkipWrites turns the writes check off.
func TestRunOptions(t *testing.T) {
	s := newRefServer(faultNone) // accepts pageSize up to 1000
	rec := runRecorded(t, Target{Handler: s.handler(), APIKey: testKey}, Options{
		PageSizes:   []int{25},
		MaxPageSize: 50,
		Changes:     func(context.Context) error { return errors.New("boom") },
		SkipWrites:  true,
	})
	require.Equal(t, []string{"changes", "parameters"}, rec.failedChecks(), rec.dump())
	assertFinding(t, rec, "parameters", "GET /accounts?page=1&pageSize=51&sort=createdAt:asc: answered 200, want 400", "above the maximum 50")
	assertFinding(t, rec, "changes", "Options.Changes: boom")
	assert.Contains(t, rec.dump(), "writes not checked: Options.SkipWrites is set")

	rec = runRecorded(t, Target{Handler: s.handler(), APIKey: testKey}, Options{PageSizes: []int{25}, MaxPageSize: -1, SkipWrites: true})
	assert.Empty(t, rec.failedChecks(), rec.dump())
}
