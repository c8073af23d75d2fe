package pgstore_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pgDataEnv names the data directory of the test cluster (the one PSPCONNECT_TEST_POSTGRES_URL
// reaches), for the tests that stop it and start it again. Set it only for a cluster of the
// test's own: stopping it fails every other test using it at the time.
const pgDataEnv = "PSPCONNECT_TEST_POSTGRES_PGDATA"

// cluster stops and starts the test's PostgreSQL server with pg_ctl (as the postgres user when the
// test runs as root, since PostgreSQL refuses to run as root).
type cluster struct {
	pgCtl   string
	dataDir string
	opts    string // the server's command-line options, from postmaster.opts
}

func testCluster(t *testing.T) *cluster {
	t.Helper()
	testDatabaseURL(t)
	dir := os.Getenv(pgDataEnv)
	if dir == "" {
		t.Skipf("%s is not set: skipping the test that stops and starts the PostgreSQL server (give the data directory of a cluster of the test's own)", pgDataEnv)
	}
	pgCtl, err := exec.LookPath("pg_ctl")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
		if len(found) == 0 {
			t.Fatalf("%s is set but pg_ctl is not found (in PATH or /usr/lib/postgresql/*/bin)", pgDataEnv)
		}
		pgCtl = found[len(found)-1]
	}
	// postmaster.opts holds the server binary and its options, each quoted: pg_ctl's -o takes them
	// back as they are, so that the server starts again on the same port and socket directory.
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.opts"))
	require.NoError(t, err, "reading the server's options")
	_, opts, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	opts = strings.TrimSpace(strings.ReplaceAll(opts, `"-D" "`+dir+`"`, "")) // pg_ctl gives -D itself
	c := &cluster{pgCtl: pgCtl, dataDir: dir, opts: opts}
	t.Cleanup(func() { c.run(t, "start") }) // whatever happened, leave the server running
	return c
}

func (c *cluster) run(t *testing.T, action string) {
	t.Helper()
	args := []string{"-D", c.dataDir, "-w", "-t", "60"}
	switch action {
	case "stop":
		args = append(args, "-m", "fast", "stop")
	case "start":
		if c.pgCtlCommand("-D", c.dataDir, "status").Run() == nil {
			return // running
		}
		args = append(args, "-l", filepath.Join(c.dataDir, "pspconnect-restart-test.log"), "-o", c.opts, "start")
	}
	out, err := c.pgCtlCommand(args...).CombinedOutput()
	require.NoError(t, err, "pg_ctl %s: %s", action, out)
}

func (c *cluster) pgCtlCommand(args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", c.pgCtl}, args...)...)
	}
	return exec.Command(c.pgCtl, args...)
}

func TestAnswerStoredWhenPostgreSQLComesBackAfterStoppingMidCall(t *testing.T) {
	pg := testCluster(t)
	schema := newSchema(t)
	p := &psp{entered: make(chan struct{}, 1), release: make(chan struct{})}
	url, _ := instance(t, schema, p)
	client := &http.Client{Timeout: 30 * time.Second}

	firstDone := make(chan answer, 1)
	go func() { firstDone <- post(t, client, url, payoutBody) }()
	select {
	case <-p.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider was never called")
	}
	// The provider is answering; the database goes away before its answer can be stored.
	pg.run(t, "stop")
	close(p.release)
	first := <-firstDone
	created := payoutID(t, first)
	assert.Equal(t, "po_1", created, "the client gets the provider's answer although it could not be stored")

	// While the database is down, a repeat cannot be decided: 503, which Formance retries. It stays
	// down long enough for the background retries of the answer to fail a few times (after 1 s and
	// 3 s: the next one comes 4 s later).
	for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		down := post(t, client, url, payoutBody)
		require.Equal(t, http.StatusServiceUnavailable, down.status, "body: %s", down.body)
		assert.Contains(t, down.body, "the idempotency store is unavailable; nothing was sent to the PSP")
	}

	pg.run(t, "start")
	// Once it is back the record is completed in the background, and repeats get the first answer;
	// before that they are told to wait (423) or to retry (503), never a second provider call.
	deadline := time.Now().Add(90 * time.Second)
	var replay answer
	seen := map[int]int{}
	for {
		replay = post(t, client, url, payoutBody)
		seen[replay.status]++
		if replay.status == http.StatusCreated || time.Now().After(deadline) {
			break
		}
		require.Contains(t, []int{http.StatusLocked, http.StatusServiceUnavailable}, replay.status, "body: %s", replay.body)
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("repeats after the restart, by status: %v", seen)
	require.Equal(t, http.StatusCreated, replay.status, "the record was not completed within 90 s of the restart: %s", replay.body)
	assert.Equal(t, first.body, replay.body, "the repeat gets the first answer, byte for byte")
	assert.True(t, replay.replayed)
	assert.EqualValues(t, 1, p.calls.Load(), "the provider was called once")

	conn, err := pgx.Connect(context.Background(), testDatabaseURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var state string
	var status int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT state, status FROM "+pgx.Identifier{schema, "pspconnect_idempotency"}.Sanitize()+" WHERE idempotency_key = 'ik_1'").Scan(&state, &status))
	assert.Equal(t, "completed", state)
	assert.Equal(t, http.StatusCreated, status)
	var link string
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT created_id FROM "+pgx.Identifier{schema, "pspconnect_idempotency_links"}.Sanitize()).Scan(&link))
	assert.Equal(t, created, link, "the link of the created payout is stored with the answer")
}
