package pgingest_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
)

// replica is one replica of the middleware: a pool of its own, its elector, its sink (and feed),
// and its Syncer once started.
type replica struct {
	name    string
	pool    *pgxpool.Pool
	elector *pgingest.Elector
	sink    *pgingest.Sink[models.Transaction]

	cancel context.CancelFunc
	done   chan struct{}
}

func newReplica(t testing.TB, name string, pool *pgxpool.Pool, ttl time.Duration) *replica {
	t.Helper()
	return &replica{name: name, pool: pool, elector: newElector(t, pool, pgingest.WithLeaseTTL(ttl)), sink: newSink(t, pool)}
}

// start runs a Syncer of the jobs with short intervals (pull every 5ms, try to acquire every 20ms,
// renew every 50ms) until stop.
func (r *replica) start(t testing.TB, jobs ...ingest.Job) {
	t.Helper()
	s, err := ingest.NewSyncer(r.elector, ingest.WithLogger(discard()),
		ingest.WithIntervals(5*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond),
		ingest.WithBackoff(time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	s.Add(jobs...)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", r.name, err)
		}
	}()
	t.Cleanup(r.stop)
}

// stop cancels the Syncer's context and waits for Run to return.
func (r *replica) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

// pull is one Pull of an instrumented Source: which replica ran it, when, from which checkpoint.
type pull struct {
	replica    string
	job        string
	start, end time.Time
	from       int
}

// timeline records the pulls of every replica.
type timeline struct {
	mu    sync.Mutex
	pulls []pull
}

func (tl *timeline) add(p pull) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.pulls = append(tl.pulls, p)
}

func (tl *timeline) of(job string) []pull {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []pull
	for _, p := range tl.pulls {
		if p.job == job {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b pull) int { return a.start.Compare(b.start) })
	return out
}

// counterSource is an endless upstream per tenant: the checkpoint is the number of items read so
// far, and each pull returns the next five items, taking a couple of milliseconds like a PSP call.
func counterSource(tl *timeline, replica string) ingest.Source[models.Transaction] {
	return ingest.SourceFunc[models.Transaction](func(ctx context.Context, tenant, checkpoint string) (ingest.Batch[models.Transaction], error) {
		from := 0
		if checkpoint != "" {
			var err error
			if from, err = strconv.Atoi(checkpoint); err != nil {
				return ingest.Batch[models.Transaction]{}, err
			}
		}
		p := pull{replica: replica, job: jobName(tenant), start: time.Now(), from: from}
		defer func() { p.end = time.Now(); tl.add(p) }()
		select {
		case <-ctx.Done():
			return ingest.Batch[models.Transaction]{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		return ingest.Batch[models.Transaction]{Items: batch(from, 5), Checkpoint: strconv.Itoa(from + 5)}, nil
	})
}

// TestTwoReplicasRunEachJobOnce: two replicas on one database run Syncers of the same three jobs
// (one per tenant): at any moment each job runs on one replica at most (no two pulls of a job
// overlap in time), a job whose replica stops moves to the other within the acquire interval, and
// each tenant's feed holds every item read exactly once, up to its stored checkpoint.
func TestTwoReplicasRunEachJobOnce(t *testing.T) {
	schema := newSchema(t)
	tenants := []string{"t1", "t2", "t3"}
	var tl timeline
	replicas := []*replica{
		newReplica(t, "A", newPool(t, schema), time.Second),
		newReplica(t, "B", newPool(t, schema), time.Second),
	}
	for _, r := range replicas {
		var jobs []ingest.Job
		for _, tenant := range tenants {
			jobs = append(jobs, ingest.NewJob(tenant, "transactions", counterSource(&tl, r.name), r.sink))
		}
		r.start(t, jobs...)
	}
	time.Sleep(time.Second)

	// Stop the replica that runs the most jobs now.
	last := map[string]int{}
	for _, tenant := range tenants {
		ps := tl.of(jobName(tenant))
		require.NotEmpty(t, ps, "job of %s never ran", tenant)
		if ps[len(ps)-1].replica == "A" {
			last["A"]++
		} else {
			last["B"]++
		}
	}
	stopped, survivor := replicas[0], replicas[1]
	if last["B"] > last["A"] {
		stopped, survivor = survivor, stopped
	}
	stoppedAt := time.Now()
	stopped.stop()
	time.Sleep(time.Second)
	survivor.stop()

	for _, tenant := range tenants {
		job := jobName(tenant)
		ps := tl.of(job)
		for i := 1; i < len(ps); i++ {
			if ps[i].start.Before(ps[i-1].end) {
				t.Errorf("%s: a pull on %s started at %s while one on %s ran until %s", job, ps[i].replica,
					ps[i].start.Format("15:04:05.000000"), ps[i-1].replica, ps[i-1].end.Format("15:04:05.000000"))
			}
			if ps[i].from < ps[i-1].from {
				t.Errorf("%s: a pull on %s read from %d after one on %s read from %d", job, ps[i].replica, ps[i].from,
					ps[i-1].replica, ps[i-1].from)
			}
		}
		// After the stop, the survivor runs the job, soon.
		var firstAfter *pull
		for i := range ps {
			if ps[i].start.After(stoppedAt) && ps[i].replica == survivor.name {
				firstAfter = &ps[i]
				break
			}
		}
		if assert.NotNil(t, firstAfter, "%s never ran on %s after %s stopped", job, survivor.name, stopped.name) {
			assert.Less(t, firstAfter.start.Sub(stoppedAt), 500*time.Millisecond,
				"%s: the survivor took the job over late", job)
		}
		for _, p := range ps {
			if p.start.After(stoppedAt.Add(100*time.Millisecond)) && p.replica == stopped.name {
				t.Errorf("%s: a pull ran on the stopped replica at %s", job, p.start.Format("15:04:05.000000"))
			}
		}

		// The feed holds items 0…checkpoint-1, each once.
		cp, err := survivor.sink.Checkpoint(context.Background(), tenant, job)
		require.NoError(t, err)
		n, err := strconv.Atoi(cp)
		require.NoError(t, err)
		items := listing(t, survivor.sink.Feed(), tenant)
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("tx_%05d", i)
		}
		assert.Equal(t, want, ids, "%s: the feed must hold every item up to the checkpoint, once", tenant)
		byReplica := map[string]int{}
		for _, p := range ps {
			byReplica[p.replica]++
		}
		t.Logf("%s: %d items; pulls by replica %v", job, n, byReplica)
	}
}
