package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The mock serves /metrics, /livez and /readyz beside the connector routes, without an API key, and
// its metrics follow the polls it answers.
func TestOperationsEndpoints(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "ops", SeedAccounts: 2, SeedTransactions: 7})
	anon := client{t: t, base: srv.URL}
	for _, path := range []string{"/livez", "/readyz"} {
		status, body := anon.do("GET", path, nil)
		assert.Equal(t, http.StatusOK, status, "%s: %s", path, body)
	}
	served := func() float64 {
		status, body := anon.do("GET", "/metrics", nil)
		require.Equal(t, http.StatusOK, status)
		total := 0.0
		for line := range strings.Lines(string(body)) {
			if strings.HasPrefix(line, "pspconnect_items_served_total{") && strings.Contains(line, `http_route="GET /transactions"`) {
				v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
				require.NoError(t, err, line)
				total += v
			}
		}
		return total
	}
	before := served()
	c := client{t: t, base: srv.URL, key: "ops"}
	require.Len(t, c.listTransactions(), 7)
	assert.Equal(t, before+7, served(), "the seven transactions served are counted under the route template")
}
