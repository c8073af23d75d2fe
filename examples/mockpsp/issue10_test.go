package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// Issue 10, point 1: a poller reading a busy second page by page by offset must not lose the item at
// the page boundary when an earlier item of that second changes between two pages. Started with
// -seed-key k -seed-accounts 1 -seed-transactions 60 -timestamp-precision 1s, the 60 transactions
// share one second; page 1 of updatedAtFrom=<that second> is read, tx_0010 (on page 1) fails, and
// page 2 must start right after page 1's last item. With a pagination.Collection the changed
// tx_0010 moved to the end of the listing, every later item shifted one place left, and the first
// item of page 2 (tx_0026) was served by neither page.
func TestChangeBetweenPagesLosesNothing(t *testing.T) {
	cfg, err := parseFlags([]string{"-seed-key", "k", "-seed-accounts", "1", "-seed-transactions", "60", "-timestamp-precision", "1s"}, io.Discard)
	require.NoError(t, err)
	// Every time in one second, so that the 60 transactions share it whatever the machine's speed.
	second := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cfg.now = func() time.Time { return second.Add(500 * time.Millisecond) }
	srv, _ := startMock(t, cfg)
	c := client{t: t, base: srv.URL, key: "k"}
	page := func(n int, from string) []models.Transaction {
		t.Helper()
		path := fmt.Sprintf("/transactions?page=%d&pageSize=25&sort=updatedAt:asc", n)
		if from != "" {
			path += "&updatedAtFrom=" + url.QueryEscape(from)
		}
		var txs []models.Transaction
		c.want(http.StatusOK, "GET", path, nil, &txs)
		return txs
	}

	first := page(1, "")
	require.Len(t, first, 25)
	s := first[24].UpdatedAt
	from := s.UTC().Truncate(time.Second).Format(time.RFC3339)
	p1 := page(1, from)
	require.Len(t, p1, 25)
	var whole []models.Transaction // the listing of that range before the change, to know what follows p1
	c.want(http.StatusOK, "GET", "/transactions?page=1&pageSize=1000&sort=updatedAt:asc&updatedAtFrom="+url.QueryEscape(from), nil, &whole)
	require.Greater(t, len(whole), 26, "the range holds more than two pages' worth")
	require.Equal(t, p1[24].ID, whole[24].ID)
	onPage1 := false
	for _, tx := range p1 {
		onPage1 = onPage1 || tx.ID == "tx_0010"
	}
	require.True(t, onPage1, "tx_0010 is on page 1 of %s", from)

	require.Equal(t, "FAILED", c.applyAction("tx_0010", ActionFail))

	p2 := page(2, from)
	require.NotEmpty(t, p2)
	require.Equal(t, whole[25].ID, p2[0].ID, "page 2 starts right after page 1's last item %s", p1[24].ID)
	require.Equal(t, "tx_0026", p2[0].ID)
	served := map[string]bool{}
	for _, tx := range append(p1, p2...) {
		served[tx.ID] = true
	}
	for _, tx := range whole[:len(p1)+len(p2)] {
		require.True(t, served[tx.ID], "%s, listed before the change, is served by page 1 or 2", tx.ID)
	}
}
