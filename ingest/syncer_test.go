package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/feedtest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

const testKey = "ingest-test-key"

var tenant = httpserver.DefaultTenant

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// shapes are the three upstream API shapes, each as a Source over one upstream.
func shapes(u *upstream) map[string]ingest.Source[models.Transaction] {
	return map[string]ingest.Source[models.Transaction]{
		"since": ingest.Since[models.Transaction, object]{
			Fetch: func(_ context.Context, _ string, since time.Time, cursor string) ([]object, string, error) {
				return u.ListUpdatedSince(since, cursor)
			},
			Map: toTransaction, Time: func(o object) time.Time { return o.Updated },
			Precision: time.Second, Lookback: time.Second,
		},
		"window": ingest.Window[models.Transaction, object]{
			Fetch: func(_ context.Context, _ string, from, to time.Time, page int) ([]object, bool, error) {
				return u.ListCreated(from, to, page)
			},
			Map:      toTransaction,
			Lookback: time.Hour, // changes reach objects created in the last hour (the test's changes are recent)
			Now:      func() time.Time { return u.Now().Add(time.Second) },
		},
		"events": ingest.Events[models.Transaction, event]{
			Fetch: func(_ context.Context, _, cursor string) ([]event, string, bool, error) { return u.ListEvents(cursor) },
			Map: func(_ context.Context, _ string, e event) ([]models.Transaction, error) {
				t, err := toTransaction(e.Object)
				return []models.Transaction{t}, err
			},
			Time: func(e event) time.Time { return e.At },
		},
	}
}

func startSyncer(t *testing.T, ctx context.Context, elector ingest.Elector, jobs ...ingest.Job) (stop func()) {
	t.Helper()
	s, err := ingest.NewSyncer(elector, ingest.WithLogger(discard()),
		ingest.WithIntervals(2*time.Millisecond, 5*time.Millisecond, 20*time.Millisecond),
		ingest.WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s.Add(jobs...)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// caughtUp waits until the feed holds the final state of every upstream object.
func caughtUp(t *testing.T, f feed.Feed[models.Transaction], final map[string]object) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		behind := ""
		for id, o := range final {
			got, ok, err := f.Get(context.Background(), tenant, id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || got.Status != o.Status {
				behind = fmt.Sprintf("%s: feed has %v/%s, upstream %s", id, ok, got.Status, o.Status)
				break
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the syncer did not catch up with the upstream: %s", behind)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSyncerKeepsTheFeedInStep: for each API shape, with random changes, 429s and 503s upstream, a
// syncer restarted mid-run, and Formance's poller polling the feed the whole time at 1 s precision
// and pageSize 25 and 100: every item and every final status reaches the poller, and re-reads after
// the restart write nothing twice (no more slots than upstream versions).
func TestSyncerKeepsTheFeedInStep(t *testing.T) {
	for _, shape := range []string{"since", "window", "events"} {
		for _, pageSize := range []int{25, 100} {
			t.Run(fmt.Sprintf("%s/pageSize=%d", shape, pageSize), func(t *testing.T) {
				u := newUpstream(uint64(pageSize), 5)
				u.Add(120)
				txs := feed.NewMemoryTransactions()
				sink := ingest.NewFeedSink[models.Transaction](txs)
				job := ingest.NewJob(tenant, "transactions", shapes(u)[shape], sink)
				elector := ingest.NewLocalElector("test")
				stop := startSyncer(t, context.Background(), elector, job)

				h, err := httpserver.New(feedtest.TransactionsProvider(txs), httpserver.WithAPIKey(testKey), httpserver.WithLogger(discard()))
				if err != nil {
					t.Fatal(err)
				}
				poller := connectortest.NewPoller(connectortest.Target{Handler: h, APIKey: testKey}, pageSize)
				defer poller.Close()
				last := map[string]models.Transaction{}
				cycle := func() {
					cy, err := poller.Cycle(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					for _, tx := range cy.Transactions {
						last[tx.ID] = tx
					}
				}
				versions := 120
				for round := range 40 {
					u.Add(2)
					u.Change(4, 30)
					versions += 6
					if round == 20 { // the middleware restarts: a new syncer resumes from the checkpoint
						stop()
						stop = startSyncer(t, context.Background(), elector, job)
					}
					cycle()
					time.Sleep(2 * time.Millisecond)
				}
				final := u.Final()
				caughtUp(t, txs, final)
				stop()
				for range 3 {
					cycle()
				}
				lost, stale := 0, 0
				for id, o := range final {
					got, ok := last[id]
					switch {
					case !ok:
						lost++
						if lost < 4 {
							t.Errorf("%s never reached the poller", id)
						}
					case got.Status != o.Status:
						stale++
						if stale < 4 {
							t.Errorf("%s reached the poller last as %s, its final status is %s", id, got.Status, o.Status)
						}
					}
				}
				if n := txs.Len(tenant); n > versions {
					t.Errorf("the feed holds %d slots for %d upstream versions: something was written twice", n, versions)
				}
				if lost+stale > 0 {
					t.Errorf("%d of %d lost, %d stale", lost, len(final), stale)
				}
			})
		}
	}
}

// TestOneJobPerElector: two syncers sharing one elector never run the same job at once, and the
// second takes the job over once the first stops.
func TestOneJobPerElector(t *testing.T) {
	var mu sync.Mutex
	running, maxRunning, calls := 0, 0, 0
	src := ingest.SourceFunc[models.Transaction](func(ctx context.Context, _, cp string) (ingest.Batch[models.Transaction], error) {
		mu.Lock()
		running++
		calls++
		maxRunning = max(maxRunning, running)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return ingest.Batch[models.Transaction]{Checkpoint: cp}, nil
	})
	txs := feed.NewMemoryTransactions()
	job := ingest.NewJob(tenant, "transactions", src, ingest.NewFeedSink[models.Transaction](txs))
	elector := ingest.NewLocalElector("test")
	stopA := startSyncer(t, context.Background(), elector, job)
	stopB := startSyncer(t, context.Background(), elector, job)
	time.Sleep(100 * time.Millisecond)
	stopA()
	mu.Lock()
	before := calls
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	stopB()
	mu.Lock()
	defer mu.Unlock()
	if maxRunning != 1 {
		t.Errorf("%d pulls of one job ran at once, want 1", maxRunning)
	}
	if calls <= before {
		t.Errorf("after the first syncer stopped, the second did not take the job over (%d calls before, %d after)", before, calls)
	}
}

// TestJobLimiterAndCaughtUp: a job's own limiter bounds its pulls, and CaughtUp reports when the
// latest pull with nothing more started.
func TestJobLimiterAndCaughtUp(t *testing.T) {
	var pulls atomic.Int64
	src := ingest.SourceFunc[models.Transaction](func(ctx context.Context, _, cp string) (ingest.Batch[models.Transaction], error) {
		pulls.Add(1)
		return ingest.Batch[models.Transaction]{Checkpoint: cp, More: true}, nil // always more: only the limiter paces it
	})
	txs := feed.NewMemoryTransactions()
	job := ingest.NewJob(tenant, "transactions", src, ingest.NewFeedSink[models.Transaction](txs)).
		WithLimiter(connector.NewLimiter(rate.Limit(50), 1))
	stop := startSyncer(t, context.Background(), ingest.NewLocalElector("test"), job)
	time.Sleep(300 * time.Millisecond)
	stop()
	if n := pulls.Load(); n > 25 || n < 5 {
		t.Errorf("%d pulls in 300 ms at 50 a second: the job's limiter does not pace them", n)
	}

	idle := ingest.SourceFunc[models.Transaction](func(ctx context.Context, _, cp string) (ingest.Batch[models.Transaction], error) {
		return ingest.Batch[models.Transaction]{Checkpoint: cp}, nil
	})
	s, err := ingest.NewSyncer(ingest.NewLocalElector("test"), ingest.WithLogger(discard()), ingest.WithIntervals(time.Millisecond, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	j := ingest.NewJob(tenant, "accounts", idle, ingest.NewFeedSink[models.Transaction](txs))
	s.Add(j)
	before := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if at, ok := s.CaughtUp(j.Name()); ok && !at.Before(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CaughtUp never reported the job")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}
