package ingest

import (
	"context"
	"fmt"
	"sync"

	"github.com/pspconnect/pspconnect/feed"
)

// LocalElector runs every job in this process: the elector of a single-replica middleware (with the
// memory feed). Two Syncers sharing one LocalElector never run the same job at once.
type LocalElector struct {
	mu   sync.Mutex
	held map[string]*localLease
	name string
}

// NewLocalElector returns an elector of jobs of this process; holder names it in logs.
func NewLocalElector(holder string) *LocalElector {
	return &LocalElector{held: map[string]*localLease{}, name: holder}
}

type localLease struct {
	e   *LocalElector
	job string
}

// Acquire implements Elector.
func (e *LocalElector) Acquire(_ context.Context, job string) (Lease, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, taken := e.held[job]; taken {
		return nil, false, nil
	}
	l := &localLease{e: e, job: job}
	e.held[job] = l
	return l, true, nil
}

func (l *localLease) Renew(context.Context) error {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	if l.e.held[l.job] != l {
		return fmt.Errorf("%w (job %q)", ErrLeaseLost, l.job)
	}
	return nil
}

func (l *localLease) Release(context.Context) error {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	if l.e.held[l.job] == l {
		delete(l.e.held, l.job)
	}
	return nil
}

func (l *localLease) Holder() string { return l.e.name }

// FeedSink is a Sink into any feed.Feed, with the checkpoints in memory: for the memory feed (a
// restart starts again from the first checkpoint, and re-puts what it pulls, which the feed treats
// as no-ops where nothing changed). Put and the checkpoint are not one transaction; use pgingest's
// sink with pgfeed for that.
type FeedSink[T any] struct {
	Feed feed.Feed[T]

	mu          sync.Mutex
	checkpoints map[[2]string]string
}

// NewFeedSink returns a sink into f.
func NewFeedSink[T any](f feed.Feed[T]) *FeedSink[T] {
	return &FeedSink[T]{Feed: f, checkpoints: map[[2]string]string{}}
}

// Checkpoint implements Sink.
func (s *FeedSink[T]) Checkpoint(_ context.Context, tenant, job string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoints[[2]string{tenant, job}], nil
}

// Commit implements Sink: the items are put, then, when that worked and the lease is still held,
// the checkpoint is stored.
func (s *FeedSink[T]) Commit(ctx context.Context, tenant, job string, items []T, checkpoint string, lease Lease) error {
	if err := lease.Renew(ctx); err != nil {
		return err
	}
	if err := s.Feed.Put(ctx, tenant, items...); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoints[[2]string{tenant, job}] = checkpoint
	return nil
}
