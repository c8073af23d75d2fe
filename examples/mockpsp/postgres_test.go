package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/models"
)

// The environment of the PostgreSQL tests: scripts/test.sh starts a throw-away server and sets both.
const (
	postgresURLEnv     = "PSPCONNECT_TEST_POSTGRES_URL"
	requirePostgresEnv = "PSPCONNECT_REQUIRE_POSTGRES"
)

// testDatabaseURL returns the URL of the test database, or skips the test (fails it when
// PSPCONNECT_REQUIRE_POSTGRES=1) when there is none.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(postgresURLEnv)
	if u == "" {
		if os.Getenv(requirePostgresEnv) == "1" {
			t.Fatalf("%s is not set but %s=1: the PostgreSQL tests must run", postgresURLEnv, requirePostgresEnv)
		}
		t.Skipf("%s is not set: skipping the tests that need a PostgreSQL server (./scripts/test.sh starts one)", postgresURLEnv)
	}
	return u
}

// newSchema creates a schema of its own for the test, dropped at its end, and returns the -postgres
// URL of a database whose connections use it: the mock instances of one test share it, and tests
// never see each other's tables.
func newSchema(t *testing.T) string {
	t.Helper()
	base := testDatabaseURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "mockpsp_test_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), sql)
		return err
	}
	require.NoError(t, exec("CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()))
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + pgx.Identifier{schema}.Sanitize() + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	if u, err := url.Parse(base); err == nil && strings.HasPrefix(u.Scheme, "postgres") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " search_path=" + schema // a keyword/value connection string
}

// startPostgresMock serves one mock process on the database of dsn: its own handler and pool, as
// another replica would have.
func startPostgresMock(t *testing.T, dsn string, cfg config) *httptest.Server {
	t.Helper()
	cfg.Postgres = dsn
	srv, _ := startMock(t, cfg)
	return srv
}

// Two mock processes on one database are one PSP: what is created through one, with its link, is
// served by the other, and Formance's retries are answered once whichever replica gets them.
func TestPostgresInstancesAreOnePSP(t *testing.T) {
	dsn := newSchema(t)
	cfg := config{SeedKey: "shared", SeedAccounts: 2, SeedBeneficiaries: 1, SeedTransactions: 10, TimestampPrecision: time.Second}
	a := client{t: t, base: startPostgresMock(t, dsn, cfg).URL, key: "shared"}
	b := client{t: t, base: startPostgresMock(t, dsn, cfg).URL, key: "shared"}

	var p models.Payout
	a.want(http.StatusCreated, "POST", "/payouts", payoutBody("pi-shared", "2500", "acc_0001", "ben_0001"), &p)
	assert.Equal(t, models.TransactionStatusPending, p.Status)
	var again models.Payout
	b.want(http.StatusCreated, "POST", "/payouts", payoutBody("pi-shared", "2500", "acc_0001", "ben_0001"), &again)
	assert.Equal(t, p.ID, again.ID, "a retry on the other replica gets the first answer")
	b.errorDetail(http.StatusConflict, "POST", "/payouts", payoutBody("pi-shared", "9999", "acc_0001", "ben_0001"))

	// B lists the payout's row with its link to the payment initiation, and serves the payout with
	// the row's times.
	rows := b.listTransactions()
	row, ok := rows[p.ID]
	require.True(t, ok, "the payout %s created through A is listed by B", p.ID)
	assert.Equal(t, models.TransactionTypePayout, row.Type)
	assert.Equal(t, "pi-shared", row.RelatedTransactionID, "B links the row to the payout A created")
	assert.True(t, row.UpdatedAt.Equal(p.UpdatedAt) && row.CreatedAt.Equal(p.CreatedAt), "the POST answer has the row's times")
	var got models.Payout
	b.want(http.StatusOK, "GET", "/payouts/"+p.ID, nil, &got)
	assert.Equal(t, "pi-shared", got.IdempotencyKey)
	assert.True(t, row.UpdatedAt.Equal(got.UpdatedAt), "GET /payouts/{id} on B has the row's updatedAt")
	requireConsistent(t, b, map[string]models.Payout{p.ID: p}, nil)

	// Settled through B's panel, A reports it, with the balances moved once.
	assert.Equal(t, "SUCCEEDED", b.applyAction(p.ID, ActionSucceed))
	a.want(http.StatusOK, "GET", "/payouts/"+p.ID, nil, &got)
	assert.Equal(t, models.TransactionStatusSucceeded, got.Status)
	var balA, balB models.Balances
	a.want(http.StatusOK, "GET", "/accounts/acc_0001/balances", nil, &balA)
	b.want(http.StatusOK, "GET", "/accounts/acc_0001/balances", nil, &balB)
	assert.Equal(t, balA.Balances, balB.Balances)
	stA, stB := a.state(), b.state()
	assert.Equal(t, stA.Totals, stB.Totals)
	assert.Equal(t, 11, stA.Totals["transactions"], "ten seeded, one payout")
	assert.Equal(t, txStatuses(stA), txStatuses(stB))

	// A refused request changes nothing, on either instance.
	detail := b.errorDetail(http.StatusBadRequest, "POST", "/payouts", payoutBody("pi-bad", "100", "acc_9999", "ben_0001"))
	assert.Contains(t, detail, "acc_9999")
	a.errorDetail(http.StatusBadRequest, "POST", "/admin/api/transactions/"+p.ID+"/actions", map[string]string{"action": "succeed"})
	assert.Equal(t, stA.Totals, b.state().Totals)

	// Ids keep counting whichever instance creates, also when both create at once.
	var wg sync.WaitGroup
	created := make([]models.Account, 20)
	for i := range created {
		c := []client{a, b}[i%2]
		wg.Go(func() {
			status, body := c.do("POST", "/admin/api/accounts", map[string]string{"name": fmt.Sprint("Concurrent ", i)})
			if assert.Equal(t, http.StatusCreated, status, "%s", body) {
				assert.NoError(t, json.Unmarshal(body, &created[i]))
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, acc := range created {
		assert.False(t, seen[acc.ID], "%s given twice", acc.ID)
		seen[acc.ID] = true
	}
	var listed []models.Account
	a.want(http.StatusOK, "GET", "/accounts?pageSize=100", nil, &listed)
	assert.Len(t, listed, 22)
	assert.Equal(t, "acc_0022", listed[21].ID)
}

// Lifecycle actions and new data made through one instance reach the pollers of the other, and a
// poller whose requests alternate between the two replicas, each change once.
func TestPostgresPollersSeeChangesMadeThroughAnother(t *testing.T) {
	dsn := newSchema(t)
	const key = "pollers"
	cfg := config{SeedKey: key, SeedAccounts: 3, SeedBeneficiaries: 2, SeedTransactions: 40, TimestampPrecision: time.Second}
	srvA, srvB := startPostgresMock(t, dsn, cfg), startPostgresMock(t, dsn, cfg)
	a := client{t: t, base: srvA.URL, key: key}
	b := client{t: t, base: srvB.URL, key: key}
	onB := connectortest.NewPoller(connectortest.Target{BaseURL: srvB.URL, APIKey: key}, 25)
	defer onB.Close()
	both := connectortest.NewReplicaPoller([]connectortest.Target{{BaseURL: srvA.URL, APIKey: key}, {BaseURL: srvB.URL, APIKey: key}}, 7)
	defer both.Close()

	st := a.state()
	accounts := ids(st.Accounts, func(a accountView) string { return a.ID })
	beneficiaries := ids(st.Beneficiaries, func(b models.Beneficiary) string { return b.ID })
	for _, p := range []*connectortest.Poller{onB, both} {
		assertDelivered(t, cycle(t, p), accounts, beneficiaries, txStatuses(st))
	}

	for round := range 4 {
		actor, other := a, b
		if round%2 == 1 {
			actor, other = b, a
		}
		want := map[string]string{}
		for i, tx := range actor.state().Transactions {
			if len(tx.Actions) == 0 || i%3 == 2 {
				continue
			}
			want[tx.ID] = actor.applyAction(tx.ID, tx.Actions[(i+round)%len(tx.Actions)])
		}
		var more []models.Transaction
		other.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 5, "status": "PENDING"}, &more)
		for _, tx := range more {
			want[tx.ID] = string(tx.Status)
		}
		var acc models.Account
		other.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": fmt.Sprint("Round ", round)}, &acc)
		for _, p := range []*connectortest.Poller{onB, both} {
			assertDelivered(t, cycle(t, p), []string{acc.ID}, nil, want)
		}
	}
	for _, p := range []*connectortest.Poller{onB, both} {
		assert.True(t, cycle(t, p).Empty())
	}
}

// The library's conformance suite passes against one instance while another instance of the same
// database makes the changes.
func TestPostgresConformance(t *testing.T) {
	dsn := newSchema(t)
	const key = "conformance"
	cfg := config{SeedKey: key, SeedAccounts: 5, SeedBeneficiaries: 3, SeedTransactions: 80, TimestampPrecision: time.Second, Postgres: dsn}
	h, psp, err := newHandler(t.Context(), cfg, discardLogger())
	require.NoError(t, err)
	defer psp.Close()
	srv := httptest.NewServer(onlyKey(key, h))
	defer srv.Close()
	other := startPostgresMock(t, dsn, cfg)

	round := 0
	changes := func(ctx context.Context) error {
		round++
		if err := applyLifecycleRound(ctx, other.URL, key, round); err != nil {
			return err
		}
		return adminCall(ctx, other.URL, key, "POST", "/admin/api/generate", map[string]any{"count": 8}, nil)
	}
	connectortest.Run(t, connectortest.Target{BaseURL: srv.URL, APIKey: key}, connectortest.Options{Changes: changes,
		// A transfer moves money between accounts of one asset: acc_0004 holds USD/2, like acc_0001.
		WriteAccounts: connectortest.WriteAccounts{TransferDestination: "acc_0004"}})
	assert.Positive(t, round, "Changes ran")
}

// The seed flags fill an empty tenant once: processes started with the same -seed-key, at once or
// later, and with other counts, leave the data of the first one as it is.
func TestPostgresSeedsOnce(t *testing.T) {
	dsn := newSchema(t)
	cfg := config{SeedKey: "seed-once", SeedAccounts: 3, SeedBeneficiaries: 2, SeedTransactions: 25, TimestampPrecision: time.Second, Postgres: dsn}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			_, psp, err := newHandler(t.Context(), cfg, discardLogger())
			if err == nil {
				psp.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	bigger := cfg
	bigger.SeedAccounts, bigger.SeedTransactions = 7, 100
	srv := startPostgresMock(t, dsn, bigger)
	c := client{t: t, base: srv.URL, key: "seed-once"}
	totals := c.state().Totals
	assert.Equal(t, 3, totals["accounts"])
	assert.Equal(t, 2, totals["beneficiaries"])
	assert.Equal(t, 25, totals["transactions"])
	assert.Len(t, c.listTransactions(), 25)
	var accounts []models.Account
	c.want(http.StatusOK, "GET", "/accounts?pageSize=100", nil, &accounts)
	assert.Len(t, accounts, 3)
}

// A poller keeps going, losing nothing, when the instance it polls is replaced by a new process on
// the same database (a restart), with changes made meanwhile through another instance.
func TestPostgresRestartLosesNothing(t *testing.T) {
	dsn := newSchema(t)
	const key = "restart"
	cfg := config{SeedKey: key, SeedAccounts: 2, SeedBeneficiaries: 1, SeedTransactions: 30, TimestampPrecision: time.Second, Postgres: dsn}
	first, psp, err := newHandler(t.Context(), cfg, discardLogger())
	require.NoError(t, err)
	target := connectortest.NewSwappable(first)
	srv := httptest.NewServer(target)
	defer srv.Close()
	c := client{t: t, base: srv.URL, key: key}
	p := connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: key}, 10)
	defer p.Close()
	st := c.state()
	assertDelivered(t, cycle(t, p), ids(st.Accounts, func(a accountView) string { return a.ID }),
		ids(st.Beneficiaries, func(b models.Beneficiary) string { return b.ID }), txStatuses(st))

	target.Swap(nil) // down
	psp.Close()
	other := client{t: t, base: startPostgresMock(t, dsn, cfg).URL, key: key}
	want := map[string]string{}
	for i, tx := range other.state().Transactions {
		if len(tx.Actions) > 0 && i%2 == 0 {
			want[tx.ID] = other.applyAction(tx.ID, tx.Actions[0])
		}
	}
	require.NotEmpty(t, want)
	second, psp2, err := newHandler(t.Context(), cfg, discardLogger())
	require.NoError(t, err)
	defer psp2.Close()
	target.Swap(second)
	assertDelivered(t, cycle(t, p), nil, nil, want)
	assert.Equal(t, 30, c.state().Totals["transactions"], "the restart did not seed again")
}
