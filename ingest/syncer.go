package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/pspconnect/pspconnect/connector"
)

// Defaults of a Syncer.
const (
	// DefaultInterval is how long a job waits between two pulls when the PSP had nothing more.
	DefaultInterval = 10 * time.Second
	// DefaultAcquireInterval is how often a replica tries to take the lease of a job another one
	// holds.
	DefaultAcquireInterval = 5 * time.Second
	// DefaultRenewInterval is how often a running job renews its lease.
	DefaultRenewInterval = 5 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the wait after a failed pull (doubling, with
	// jitter), unless the PSP's Retry-After says otherwise.
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 5 * time.Minute
)

// Job is one tenant's route to keep in step: a Source pulled into a Sink. Build it with NewJob.
type Job struct {
	name, tenant, route string
	checkpoint          func(ctx context.Context) (string, error)
	step                func(ctx context.Context, lease Lease, checkpoint string) (stepResult, error)
	limiter             *connector.Limiter
}

// WithLimiter returns the job with its own bound on upstream calls, waited on before each Pull
// (one token per Pull: a Source whose Pull makes several upstream calls takes a limiter of its own
// in its client, e.g. connector.Limiter.Transport). PSPs limit per API key, so jobs of one tenant
// share one limiter and each tenant has its own. It replaces the Syncer's WithLimiter for this job.
func (j Job) WithLimiter(l *connector.Limiter) Job {
	j.limiter = l
	return j
}

type stepResult struct {
	checkpoint string
	more       bool
	items      int
	latest     time.Time
}

// pullError marks an error of the Source (the PSP), as opposed to the Sink (the database).
type pullError struct{ err error }

func (e pullError) Error() string { return "pull: " + e.err.Error() }
func (e pullError) Unwrap() error { return e.err }

// NewJob returns the job that pulls src into sink for tenant's route (a name such as
// "transactions"). Its name, "<length of tenant>:tenant/route", keys its checkpoint and its lease:
// the length keeps tenant "a/b" with route "c" apart from tenant "a" with route "b/c".
func NewJob[T any](tenant, route string, src Source[T], sink Sink[T]) Job {
	name := fmt.Sprintf("%d:%s/%s", len(tenant), tenant, route)
	return Job{
		name: name, tenant: tenant, route: route,
		checkpoint: func(ctx context.Context) (string, error) { return sink.Checkpoint(ctx, tenant, name) },
		step: func(ctx context.Context, lease Lease, checkpoint string) (stepResult, error) {
			b, err := src.Pull(ctx, tenant, checkpoint)
			if err != nil {
				return stepResult{}, pullError{err}
			}
			if err := sink.Commit(ctx, tenant, name, b.Items, b.Checkpoint, lease); err != nil {
				return stepResult{}, err
			}
			return stepResult{checkpoint: b.Checkpoint, more: b.More, items: len(b.Items), latest: b.Latest}, nil
		},
	}
}

// Name returns the job's name, "<length of tenant>:tenant/route".
func (j Job) Name() string { return j.name }

// Syncer runs jobs, each under its lease, until its context ends. Start it with the middleware
// (go syncer.Run(ctx)) and cancel the context to stop it: a pull in progress is cancelled and its
// batch not committed, so the next run resumes from the last checkpoint, and the items it pulls
// again are no-ops in the feed where they did not change.
type Syncer struct {
	elector Elector
	cfg     syncerConfig

	mu       sync.Mutex
	jobs     []Job
	caughtUp map[string]time.Time // job name -> start of its latest pull that had nothing more
	metrics  *syncMetrics         // nil without WithMeterProvider (telemetry.go)
}

type syncerConfig struct {
	limiter                *connector.Limiter
	logger                 *slog.Logger
	interval, acquire      time.Duration
	renew                  time.Duration
	backoffMin, backoffMax time.Duration
	meterProvider          metric.MeterProvider
}

// SyncerOption configures a Syncer.
type SyncerOption func(*syncerConfig) error

// WithLimiter bounds the Syncer's upstream calls, for all its jobs together (e.g.
// connector.NewLimiter(rate.Limit(25), 5) under a PSP's published limit of 25 requests a second),
// with one token per Pull. Job.WithLimiter sets one per job instead (per tenant, as PSPs limit by
// API key).
func WithLimiter(l *connector.Limiter) SyncerOption {
	return func(c *syncerConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil limiter", ErrInvalidConfig)
		}
		c.limiter = l
		return nil
	}
}

// WithLogger sets the logger of progress and failures (default slog.Default()). Every successful
// pull is logged at DEBUG ("ingested", with the job, tenant, route, items and the lag behind the
// PSP); a pull that brought items is logged at INFO instead at most once a minute per job, so that
// a production log at INFO shows that the sync moves without a line per pull. A failed step is
// logged at WARN when it is retryable (the PSP unavailable or rate limiting) and at ERROR
// otherwise, with the step and the error. slog.New(slog.DiscardHandler) silences them (in tests).
func WithLogger(l *slog.Logger) SyncerOption {
	return func(c *syncerConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
		}
		c.logger = l
		return nil
	}
}

// WithIntervals sets how long a job waits between pulls when the PSP had nothing more (default
// DefaultInterval), how often a replica tries to take a job another holds (DefaultAcquireInterval)
// and how often a running job renews its lease (DefaultRenewInterval; keep it well under the
// elector's lease TTL). Zero keeps a default; a negative duration is refused.
func WithIntervals(pull, acquire, renew time.Duration) SyncerOption {
	return func(c *syncerConfig) error {
		for _, d := range []time.Duration{pull, acquire, renew} {
			if d < 0 {
				return fmt.Errorf("%w: negative interval %v", ErrInvalidConfig, d)
			}
		}
		c.interval = cmpOr(pull, c.interval)
		c.acquire = cmpOr(acquire, c.acquire)
		c.renew = cmpOr(renew, c.renew)
		return nil
	}
}

// WithBackoff bounds the wait after a failed pull: it starts at min and doubles up to max, with
// jitter (default DefaultBackoffMin, DefaultBackoffMax). A Retry-After from the PSP
// (connector.ErrRateLimited with RetryAfter) is waited instead when it is longer.
func WithBackoff(min, max time.Duration) SyncerOption {
	return func(c *syncerConfig) error {
		if min <= 0 || max < min {
			return fmt.Errorf("%w: backoff from %v to %v (want 0 < min <= max)", ErrInvalidConfig, min, max)
		}
		c.backoffMin, c.backoffMax = min, max
		return nil
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// NewSyncer returns a Syncer whose jobs run under leases from elector. It fails with an error
// wrapping ErrInvalidConfig for a nil elector or a bad option.
func NewSyncer(elector Elector, opts ...SyncerOption) (*Syncer, error) {
	if elector == nil {
		return nil, fmt.Errorf("%w: nil elector", ErrInvalidConfig)
	}
	cfg := syncerConfig{logger: slog.Default(), interval: DefaultInterval, acquire: DefaultAcquireInterval,
		renew: DefaultRenewInterval, backoffMin: DefaultBackoffMin, backoffMax: DefaultBackoffMax}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Syncer{elector: elector, cfg: cfg, caughtUp: map[string]time.Time{}}
	var err error
	if s.metrics, err = newSyncMetrics(s); err != nil {
		return nil, fmt.Errorf("%w: metrics: %w", ErrInvalidConfig, err)
	}
	return s, nil
}

// CaughtUp returns, for the job named "tenant/route", when the latest pull that the PSP answered
// with nothing more started, and whether there was one (on this replica). The feed then holds the
// upstream as of that time at least: a test or a readiness probe waits until it is after the change
// it expects.
func (s *Syncer) CaughtUp(job string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.caughtUp[job]
	return t, ok
}

// Add adds jobs; call it before Run.
func (s *Syncer) Add(jobs ...Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, jobs...)
}

// Run runs every job until ctx ends, then waits for them to stop and returns nil (or the reason the
// Syncer cannot run: no job).
func (s *Syncer) Run(ctx context.Context) error {
	s.mu.Lock()
	jobs := append([]Job(nil), s.jobs...)
	s.mu.Unlock()
	if len(jobs) == 0 {
		return fmt.Errorf("%w: no job", ErrInvalidConfig)
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { s.runJob(ctx, j) })
	}
	wg.Wait()
	return nil
}

// runJob takes the job's lease whenever it can and runs the job while it holds it.
func (s *Syncer) runJob(ctx context.Context, j Job) {
	log := s.cfg.logger.With(slog.String("job", j.name), slog.String("tenant", j.tenant), slog.String("route", j.route))
	for ctx.Err() == nil {
		lease, ok, err := s.elector.Acquire(ctx, j.name)
		switch {
		case err != nil && ctx.Err() == nil:
			log.LogAttrs(ctx, slog.LevelWarn, "cannot acquire the job's lease", slog.String("error", err.Error()))
		case ok:
			log.LogAttrs(ctx, slog.LevelInfo, "job started on this replica", slog.String("holder", lease.Holder()))
			s.runHeld(ctx, log, j, lease)
			_ = lease.Release(context.WithoutCancel(ctx))
			continue
		}
		sleep(ctx, s.cfg.acquire)
	}
}

// runHeld runs the job while this replica holds lease. The lease is renewed every renew interval
// by a goroutine of its own, also while the job sleeps or backs off; when it is lost, the job's
// context is cancelled, which stops a pull in progress (its batch is not committed).
func (s *Syncer) runHeld(parent context.Context, log *slog.Logger, j Job, lease Lease) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer s.metrics.hold(s, j)()
	renewing := make(chan struct{})
	defer func() { <-renewing }()
	go func() {
		defer close(renewing)
		t := time.NewTicker(s.cfg.renew)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := lease.Renew(ctx); err != nil && ctx.Err() == nil {
				level := slog.LevelWarn
				if !errors.Is(err, ErrLeaseLost) {
					level = slog.LevelError // the database is down: the lease will lapse, stop now
				}
				log.LogAttrs(ctx, level, "job stopped on this replica: lease not renewed", slog.String("error", err.Error()))
				cancel()
				return
			}
		}
	}()
	backoff := s.cfg.backoffMin
	var summary pullSummary
	retry := func(err error, attrs ...slog.Attr) {
		wait := backoff/2 + rand.N(backoff/2+1)
		if d := connector.RetryAfter(err); d > wait {
			wait = d
		}
		s.metrics.failed(ctx, j, attrs)
		level := slog.LevelError
		if connector.IsRetryable(err) {
			level = slog.LevelWarn
		}
		log.LogAttrs(ctx, level, "sync step failed, retrying", append(attrs,
			slog.String("error", err.Error()), slog.Duration("retry_in", wait))...)
		backoff = min(2*backoff, s.cfg.backoffMax)
		sleep(ctx, wait)
	}
	checkpoint, err := j.checkpoint(ctx)
	for err != nil {
		if ctx.Err() != nil {
			return
		}
		retry(err, slog.String("step", "read checkpoint"))
		checkpoint, err = j.checkpoint(ctx)
	}
	for ctx.Err() == nil {
		if limiter := cmp.Or(j.limiter, s.cfg.limiter); limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				retry(err, slog.String("step", "rate limit"))
				continue
			}
		}
		started := time.Now()
		res, err := j.step(ctx, lease, checkpoint)
		switch {
		case ctx.Err() != nil:
			return // stopping: the batch was not committed, the checkpoint stays
		case errors.Is(err, ErrLeaseLost):
			log.LogAttrs(ctx, slog.LevelWarn, "job stopped on this replica: lease lost", slog.String("error", err.Error()))
			return
		case err != nil:
			var pe pullError
			step := "commit"
			if errors.As(err, &pe) {
				step = "pull"
			}
			retry(err, slog.String("step", step))
			continue
		}
		backoff = s.cfg.backoffMin
		checkpoint = res.checkpoint
		s.metrics.ingested(ctx, j, res.items)
		attrs := []slog.Attr{slog.Int("items", res.items), slog.Bool("more", res.more)}
		if !res.latest.IsZero() {
			attrs = append(attrs, slog.Duration("lag", time.Since(res.latest)))
		}
		log.LogAttrs(ctx, summary.level(res.items), "ingested", attrs...)
		if !res.more {
			s.mu.Lock()
			s.caughtUp[j.name] = started
			s.mu.Unlock()
			sleep(ctx, s.cfg.interval)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
