package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The PSP holds data for at most -max-tenants keys: a write that would create one more is refused
// with 409 naming the flag, reads of new keys create nothing, a refused first write takes no place,
// and the keys already held go on working.
func TestTenantsAreCapped(t *testing.T) {
	srv, _ := startMock(t, config{MaxTenants: 2})
	checkTenantCap(t, srv.URL, srv.URL)
}

// With -postgres the cap counts the tenants of the database, whichever process created them.
func TestPostgresTenantsAreCapped(t *testing.T) {
	dsn := newSchema(t)
	a := startPostgresMock(t, dsn, config{MaxTenants: 2})
	b := startPostgresMock(t, dsn, config{MaxTenants: 2})
	checkTenantCap(t, a.URL, b.URL)
}

// checkTenantCap runs the cap's checks with -max-tenants 2, creating the first tenant through base1
// and everything else through base2 (the same server, or another process on one database).
func checkTenantCap(t *testing.T, base1, base2 string) {
	account := map[string]string{"name": "Ops", "asset": "USD/2"}
	for i, key := range []string{"tenant-a", "tenant-b"} {
		base := base2
		if i == 0 {
			base = base1
		}
		// Reads and a refused write of a new key first: none of them takes a place.
		c := client{t: t, base: base, key: "reader-" + key}
		c.want(http.StatusOK, "GET", "/admin/api/state", nil, nil)
		c.want(http.StatusOK, "GET", "/accounts", nil, nil)
		c.errorDetail(http.StatusBadRequest, "POST", "/admin/api/accounts", map[string]string{"name": ""})
		c.errorDetail(http.StatusBadRequest, "POST", "/payouts", payoutBody("p", "100", "acc_0001", "ben_0001"))
		client{t: t, base: base, key: key}.want(http.StatusCreated, "POST", "/admin/api/accounts", account, nil)
	}
	third := client{t: t, base: base2, key: "tenant-c"}
	detail := third.errorDetail(http.StatusConflict, "POST", "/admin/api/accounts", account)
	assert.Contains(t, detail, "holds data for 2 API keys, its maximum (-max-tenants)")
	detail = third.errorDetail(http.StatusConflict, "POST", "/bank-accounts", map[string]string{"name": "B"})
	assert.Contains(t, detail, "-max-tenants", "the contract's write routes say it too")
	assert.Zero(t, third.state().Totals["accounts"])

	a := client{t: t, base: base2, key: "tenant-a"}
	a.want(http.StatusCreated, "POST", "/admin/api/accounts", account, nil)
	assert.Equal(t, 2, a.state().Totals["accounts"], "a key with data goes on working at the cap")
}

// Each key's request log keeps -request-log-size entries, the log of stray requests too, and each
// entry's path and query are clipped, marked with their full size.
func TestRequestLogIsBounded(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "logged", SeedAccounts: 1, RequestLogSize: 5})
	c := client{t: t, base: srv.URL, key: "logged"}
	for i := range 8 {
		c.want(http.StatusOK, "GET", fmt.Sprintf("/accounts?page=%d", i+1), nil, nil)
	}
	long := "sort=createdAt:asc&x=" + strings.Repeat("y", 1500) // under the library's query limit: served
	c.want(http.StatusOK, "GET", "/accounts?"+long, nil, nil)
	huge := "x=" + strings.Repeat("z", 60_000) // refused by the library (400), logged all the same
	c.errorDetail(http.StatusBadRequest, "GET", "/accounts?"+huge, nil)
	for i := range 7 {
		status, _, _ := rawGet(t, srv.URL, "/accounts?"+huge, fmt.Sprintf("Bearer wrong %d", i), "")
		require.Equal(t, http.StatusUnauthorized, status)
	}

	st := c.state()
	require.Len(t, st.Requests, 5, "at most -request-log-size entries per key")
	assert.Equal(t, http.StatusBadRequest, st.Requests[0].Status, "newest first")
	assert.Equal(t, "page=6", st.Requests[4].Query, "the oldest ones dropped (pages 1 to 5)")
	for _, e := range st.Requests[:2] {
		assert.LessOrEqual(t, len(e.Query), maxLoggedField+len("…(60002 bytes)"), "query clipped")
		assert.Regexp(t, `…\(\d+ bytes\)$`, e.Query, "marked with its full size")
	}
	assert.Contains(t, st.Requests[1].Query, fmt.Sprintf("…(%d bytes)", len(long)))
	require.Len(t, st.Stray, 5, "the stray log is bounded too")
	for _, e := range st.Stray {
		assert.LessOrEqual(t, len(e.Query)+len(e.Path)+len(e.Reason), 3*(maxLoggedField+20))
	}
}

// A payout's description and metadata are bounded before anything is stored: a final 400 that names
// the field and the bound, and nothing created.
func TestStoredPayoutsAreBounded(t *testing.T) {
	srv, _ := startMock(t, config{SeedKey: "big", SeedAccounts: 1, SeedBeneficiaries: 1})
	c := client{t: t, base: srv.URL, key: "big"}
	manyKeys := map[string]string{}
	for i := range maxMetadataKeys + 1 {
		manyKeys[fmt.Sprint("k", i)] = "v"
	}
	tests := []struct {
		name  string
		edit  func(body map[string]any)
		wants []string
	}{
		{"long description", func(b map[string]any) { b["description"] = strings.Repeat("d", 200_000) },
			[]string{"description is 200000 bytes long", fmt.Sprint(maxDescriptionBytes)}},
		{"too many metadata keys", func(b map[string]any) { b["metadata"] = manyKeys },
			[]string{"metadata has 33 keys", fmt.Sprint(maxMetadataKeys)}},
		// Above this PSP's bound but within the library's (models.MaxRequestMetadataBytes), which
		// refuses larger metadata before the provider is called.
		{"large metadata", func(b map[string]any) { b["metadata"] = map[string]string{"note": strings.Repeat("m", 10_000)} },
			[]string{"metadata holds 10004 bytes", fmt.Sprint(maxMetadataBytes)}},
	}
	for i, tt := range tests {
		body := payoutBody(fmt.Sprint("big-", i), "100", "acc_0001", "ben_0001")
		tt.edit(body)
		detail := c.errorDetail(http.StatusBadRequest, "POST", "/payouts", body)
		for _, want := range tt.wants {
			assert.Contains(t, detail, want, tt.name)
		}
		assert.Less(t, len(detail), 1024, "%s: the Detail does not echo the input", tt.name)
	}
	c.want(http.StatusCreated, "POST", "/payouts", payoutBody("small", "100", "acc_0001", "ben_0001"), nil)
	assert.Equal(t, 1, c.state().Totals["payouts"], "only the bounded payout was stored")
}
