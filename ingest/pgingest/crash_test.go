package pgingest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
)

// The change log of the crash tests: event k sets transaction k mod logIDs to version k (its
// Amount), at a time that grows with k. A pull from checkpoint k returns the events [k, k+logBatch):
// large batches, so that pgfeed writes them with COPY, and each id at most once per batch.
const (
	logIDs    = 2500
	logBatch  = 2500
	logEvents = 5 * logBatch
)

func logEvent(k int) models.Transaction {
	t := tx(fmt.Sprintf("tx_%05d", k%logIDs), t0.Add(time.Duration(k)*time.Millisecond), models.TransactionStatusPending)
	t.CreatedAt = t0.Add(time.Duration(k%logIDs) * time.Millisecond)
	t.Amount = models.AmountFromInt64(int64(k))
	if k >= logIDs {
		t.Status = models.TransactionStatusSucceeded
	}
	return t
}

func changeLog(tl *timeline, replica string) ingest.Source[models.Transaction] {
	return ingest.SourceFunc[models.Transaction](func(ctx context.Context, tenant, checkpoint string) (ingest.Batch[models.Transaction], error) {
		from := 0
		if checkpoint != "" {
			var err error
			if from, err = strconv.Atoi(checkpoint); err != nil {
				return ingest.Batch[models.Transaction]{}, err
			}
		}
		tl.add(pull{replica: replica, job: jobName(tenant), start: time.Now(), end: time.Now(), from: from})
		end := min(from+logBatch, logEvents)
		items := make([]models.Transaction, 0, end-from)
		for k := from; k < end; k++ {
			items = append(items, logEvent(k))
		}
		return ingest.Batch[models.Transaction]{Items: items, Checkpoint: strconv.Itoa(end), More: end < logEvents}, nil
	})
}

// readAfterCommit raises the feed's horizon after each commit, as a poller reading between two
// batches would: every committed version is then readable, and the feed keeps a slot for each
// (otherwise a change to a never-read version replaces it, and a batch applied twice could hide
// in the count). So the listing holds one slot per version committed, and a version committed
// twice shows as two slots.
type readAfterCommit struct {
	*pgingest.Sink[models.Transaction]
}

func (s readAfterCommit) Commit(ctx context.Context, tenant, job string, items []models.Transaction, checkpoint string, lease ingest.Lease) error {
	if err := s.Sink.Commit(ctx, tenant, job, items, checkpoint, lease); err != nil {
		return err
	}
	_, err := s.Feed().Page(context.WithoutCancel(ctx), tenant, query(1, 1, time.Time{}))
	return err
}

// hook is a pgx tracer that calls its functions at the start of each COPY (pgfeed's insert of a
// large batch, inside PutTx) and of each checkpoint write (after PutTx, before the commit), with
// their number on the pool.
type hook struct {
	mu                  sync.Mutex
	copies, checkpoints int
	onCopy              func(n int, conn *pgx.Conn)
	onCheckpoint        func(n int, conn *pgx.Conn)
}

func (h *hook) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if sql := strings.TrimSpace(data.SQL); strings.HasPrefix(sql, "INSERT") && strings.Contains(sql, "_checkpoints") {
		h.mu.Lock()
		h.checkpoints++
		n := h.checkpoints
		h.mu.Unlock()
		if h.onCheckpoint != nil {
			h.onCheckpoint(n, conn)
		}
	}
	return ctx
}

func (h *hook) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (h *hook) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	h.mu.Lock()
	h.copies++
	n := h.copies
	h.mu.Unlock()
	if h.onCopy != nil {
		h.onCopy(n, conn)
	}
	return ctx
}

func (h *hook) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// kill ends the replica's process, as far as the database can tell: the connection in use is
// terminated by the server (its transaction is rolled back) and the pool is closed, so that the
// replica cannot release its lease either. It is called from the replica's own goroutine, inside a
// query: it returns once the pool refuses new connections (pgxpool.Close itself waits for the
// connection in use, which is released only after the hook returns).
func kill(t *testing.T, pool *pgxpool.Pool, conn *pgx.Conn) {
	admin, err := pgx.Connect(context.Background(), testDatabaseURL(t))
	if err != nil {
		t.Errorf("kill: %v", err)
		return
	}
	defer admin.Close(context.Background())
	var gone bool
	if err := admin.QueryRow(context.Background(), "SELECT pg_terminate_backend($1, 5000)", conn.PgConn().PID()).Scan(&gone); err != nil || !gone {
		t.Errorf("kill: terminate backend %d: %v, %v", conn.PgConn().PID(), gone, err)
	}
	go pool.Close()
	for {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			return // closed
		}
		c.Release()
		time.Sleep(time.Millisecond)
	}
}

// TestCrashMidCommit: a replica dies in the middle of its third commit: its context is cancelled
// inside PutTx (a stop), or its connection is killed and its pool closed inside PutTx or just after
// it, before the transaction commits (a killed process, which cannot release its lease). Nothing
// of that batch is stored: the feed holds exactly the versions before the stored checkpoint. A
// replica started on a new pool then takes the job over (at once after a stop, after the lease's
// TTL after a kill), resumes from the stored checkpoint, and in the end the feed holds every version
// of the change log exactly once, with the latest version of each transaction current.
func TestCrashMidCommit(t *testing.T) {
	const ttl = time.Second
	for _, death := range []string{"cancelled during PutTx", "killed during PutTx", "killed after PutTx"} {
		t.Run(death, func(t *testing.T) {
			schema := newSchema(t)
			var tl timeline
			h := &hook{}
			crashed := make(chan struct{})
			var crashedAt time.Time
			first := newReplica(t, "first", newPool(t, schema, func(c *pgxpool.Config) { c.ConnConfig.Tracer = h }), ttl)
			crash := func(conn *pgx.Conn) {
				crashedAt = time.Now()
				if strings.HasPrefix(death, "cancelled") {
					first.cancel()
				} else {
					kill(t, first.pool, conn)
				}
				close(crashed)
			}
			switch death {
			case "cancelled during PutTx", "killed during PutTx":
				h.onCopy = func(n int, conn *pgx.Conn) {
					if n == 3 {
						crash(conn)
					}
				}
			case "killed after PutTx":
				h.onCheckpoint = func(n int, conn *pgx.Conn) {
					if n == 3 {
						crash(conn)
					}
				}
			}
			first.start(t, ingest.NewJob("t1", "transactions", changeLog(&tl, first.name), readAfterCommit{first.sink}))
			select {
			case <-crashed:
			case <-time.After(30 * time.Second):
				t.Fatal("the first replica never reached its third commit")
			}
			first.stop()

			// What the crash left: the versions before the checkpoint, nothing of the third batch,
			// and the lease: released after a stop, still held after a kill.
			checker := newSink(t, newPool(t, schema))
			cp, err := checker.Checkpoint(context.Background(), "t1", job)
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(2*logBatch), cp, "the checkpoint after the crash")
			assertVersions(t, checker, 2*logBatch)
			var holders int
			require.NoError(t, newPool(t, schema).QueryRow(context.Background(),
				"SELECT count(*) FROM pspconnect_ingest_leases WHERE job = $1", job).Scan(&holders))
			killed := strings.HasPrefix(death, "killed")
			if killed {
				require.Equal(t, 1, holders, "a killed replica cannot release its lease")
			} else {
				require.Zero(t, holders, "a stopped replica releases its lease")
			}

			second := newReplica(t, "second", newPool(t, schema), ttl)
			started := time.Now()
			second.start(t, ingest.NewJob("t1", "transactions", changeLog(&tl, second.name), readAfterCommit{second.sink}))
			require.True(t, waitFor(ttl+30*time.Second, func() bool {
				cp, err := checker.Checkpoint(context.Background(), "t1", job)
				return err == nil && cp == strconv.Itoa(logEvents)
			}), "the second replica did not finish the change log")
			second.stop()

			var resumed *pull
			for _, p := range tl.of(job) {
				if p.replica == second.name {
					resumed = &p
					break
				}
			}
			require.NotNil(t, resumed)
			assert.Equal(t, 2*logBatch, resumed.from, "the second replica must resume from the stored checkpoint")
			if killed { // the lease expires at most a TTL after the crash
				assert.Less(t, resumed.start.Sub(crashedAt), ttl+time.Second, "takeover after a kill: within the TTL plus a bound")
			} else {
				assert.Less(t, resumed.start.Sub(started), 500*time.Millisecond, "takeover after a stop: at once")
			}
			t.Logf("the second replica resumed %v after its start, %v after the crash",
				resumed.start.Sub(started).Round(time.Millisecond), resumed.start.Sub(crashedAt).Round(time.Millisecond))
			assertVersions(t, checker, logEvents)
		})
	}
}

// assertVersions checks that the feed of t1 holds exactly one slot for each version of the change
// log before event n, and that each transaction's current version is its latest one.
func assertVersions(t *testing.T, s *pgingest.Sink[models.Transaction], n int) {
	t.Helper()
	items := listing(t, s.Feed(), "t1")
	seen := map[string]int{} // "id/version" → slots
	for _, it := range items {
		seen[it.ID+"/"+it.Amount.String()]++
	}
	missing, doubled, extra := 0, 0, 0
	for k := range n {
		switch c := seen[fmt.Sprintf("tx_%05d/%d", k%logIDs, k)]; {
		case c == 0:
			missing++
		case c > 1:
			doubled++
		}
	}
	extra = len(seen) - (n - missing)
	assert.Equal(t, n, len(items), "slots in the listing for %d versions", n)
	assert.Zero(t, missing, "versions missing")
	assert.Zero(t, doubled, "versions stored in several slots")
	assert.Zero(t, extra, "versions stored beyond the checkpoint")
	current := map[string]string{} // the last slot of each id in the listing is its current version
	for _, it := range items {
		current[it.ID] = it.Amount.String()
	}
	for id := range min(n, logIDs) {
		latest := strconv.Itoa(id + (n-1-id)/logIDs*logIDs)
		if got := current[fmt.Sprintf("tx_%05d", id)]; got != latest {
			t.Errorf("tx_%05d: the listing ends with version %s, want %s", id, got, latest)
			return
		}
	}
	for _, id := range []int{0, logIDs / 2, logIDs - 1} {
		latest := strconv.Itoa(id + (n-1-id)/logIDs*logIDs)
		got, ok, err := s.Feed().Get(context.Background(), "t1", fmt.Sprintf("tx_%05d", id))
		require.NoError(t, err)
		assert.True(t, ok && got.Amount.String() == latest, "tx_%05d: current version %v (found %v), want %s", id, got.Amount, ok, latest)
	}
}
