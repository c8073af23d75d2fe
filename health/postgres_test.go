package health_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/health"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/pgstore"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/internal/pgtest"
	"github.com/pspconnect/pspconnect/internal/testsupport"
)

// cluster is a throw-away PostgreSQL server of the test's own, so that the test can stop it and
// start it again without disturbing the shared test database.
type cluster struct {
	t       *testing.T
	bin     string // the directory of initdb and pg_ctl
	dir     string
	port    int
	asOwner func(name string, args ...string) *exec.Cmd
}

// newCluster initdb's and starts a server on a free loopback port, stopped at the end of the test.
// It needs the PostgreSQL server binaries (the shared test database's, found under
// /usr/lib/postgresql) and, as root, the postgres system user to run them.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	pgtest.DatabaseURL(t) // skips, with the reason, where the PostgreSQL tests do not run
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Skip("no /usr/lib/postgresql/*/bin/pg_ctl: cannot start a PostgreSQL server of the test's own")
	}
	c := &cluster{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	c.asOwner = exec.Command
	dir, err := os.MkdirTemp("", "pspconnect-health-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user: initdb refuses to run as root")
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.Chown(dir, uid, gid))
		c.asOwner = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	c.dir = dir
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c.port = l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	c.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	c.start()
	t.Cleanup(func() {
		_ = c.asOwner(filepath.Join(c.bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "stop").Run()
	})
	return c
}

func (c *cluster) run(tool string, args ...string) {
	c.t.Helper()
	out, err := c.asOwner(filepath.Join(c.bin, tool), args...).CombinedOutput()
	require.NoError(c.t, err, "%s %v: %s", tool, args, out)
}

func (c *cluster) start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"), "-w", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir), "start")
}

func (c *cluster) stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "stop")
}

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// TestReadinessFollowsPostgreSQL: readiness over the feed's, the idempotency store's and the
// elector's database fails while the server is stopped and passes again once it is back, with the
// same pool.
func TestReadinessFollowsPostgreSQL(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, c.url())
	require.NoError(t, err)
	defer pool.Close()
	transactions, err := pgfeed.Transactions(pool)
	require.NoError(t, err)
	require.NoError(t, transactions.Migrate(ctx))
	store, err := pgstore.New(pool)
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	elector, err := pgingest.NewElector(pool)
	require.NoError(t, err)
	require.NoError(t, elector.Migrate(ctx))

	logs := &testsupport.Buffer{}
	srv := httptest.NewServer(health.Readiness([]health.Check{
		health.Ping("feed", transactions), health.Ping("idempotency", store), health.Ping("elector", elector),
	}, health.WithTimeout(time.Second), health.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))))
	defer srv.Close()

	status, st := probe(t, srv.URL)
	require.Equal(t, http.StatusOK, status, "%+v", st)
	assert.Equal(t, map[string]string{"feed": "ok", "idempotency": "ok", "elector": "ok"}, st.Checks)

	c.stop()
	status, st = probe(t, srv.URL)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, health.StatusUnavailable, st.Status)
	for _, name := range []string{"feed", "idempotency", "elector"} {
		assert.NotEqual(t, "ok", st.Checks[name], name)
	}
	assert.Contains(t, logs.String(), "readiness check failed")

	c.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, st = probe(t, srv.URL)
		if status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Equal(t, http.StatusOK, status, "ready again once PostgreSQL is back: %+v", st)
	assert.Contains(t, logs.String(), "readiness check passes again")
}

// TestPingNeedsTheTables: a database that answers but was never migrated is not ready.
func TestPingNeedsTheTables(t *testing.T) {
	c := newCluster(t)
	pool, err := pgxpool.New(context.Background(), c.url())
	require.NoError(t, err)
	defer pool.Close()
	transactions, err := pgfeed.Transactions(pool)
	require.NoError(t, err)
	store, err := pgstore.New(pool)
	require.NoError(t, err)
	assert.Error(t, transactions.Ping(context.Background()))
	assert.Error(t, store.Ping(context.Background()))
	require.NoError(t, store.Migrate(context.Background()))
	assert.NoError(t, store.Ping(context.Background()))
}
