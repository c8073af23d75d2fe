package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// This file holds what the Syncer pulls: one ingest.Source per route, built with the adapter of
// package ingest that fits the upstream's API, each making exactly one upstream call per pull (the
// Syncer waits on the tenant's limiter once per pull). To adapt the template, write these three
// against your PSP's API.

// accountSource pulls the accounts of one secret key with ingest.Since: the upstream lists them
// oldest first, filtered by created[gte] (whole seconds) and paged by starting_after, the keyset
// paging Since needs. A pass reads every page from the start of the second of the latest account
// seen: accounts created later in that second come after the cursor, and re-reading the second
// costs nothing in the feed.
func accountSource(c *Client, secretKey string, pageSize int) ingest.Source[models.Account] {
	return ingest.Since[models.Account, UpstreamAccount]{
		Fetch: func(ctx context.Context, _ string, since time.Time, cursor string) ([]UpstreamAccount, string, error) {
			res, err := c.Accounts(ctx, secretKey, pageSize, unixSeconds(since), cursor)
			if err != nil {
				return nil, "", err
			}
			return res.Data, nextCursor(res, func(a UpstreamAccount) string { return a.ID }), nil
		},
		Map:       func(a UpstreamAccount) (models.Account, error) { return toAccount(a), nil },
		Time:      func(a UpstreamAccount) time.Time { return fromUnix(a.Created) },
		Precision: time.Second,
	}
}

// beneficiarySource pulls the beneficiaries of one secret key, like accountSource.
func beneficiarySource(c *Client, secretKey string, pageSize int) ingest.Source[models.Beneficiary] {
	return ingest.Since[models.Beneficiary, UpstreamBeneficiary]{
		Fetch: func(ctx context.Context, _ string, since time.Time, cursor string) ([]UpstreamBeneficiary, string, error) {
			res, err := c.Beneficiaries(ctx, secretKey, pageSize, unixSeconds(since), cursor)
			if err != nil {
				return nil, "", err
			}
			return res.Data, nextCursor(res, func(b UpstreamBeneficiary) string { return b.ID }), nil
		},
		Map:       func(b UpstreamBeneficiary) (models.Beneficiary, error) { return toBeneficiary(b), nil },
		Time:      func(b UpstreamBeneficiary) time.Time { return fromUnix(b.Created) },
		Precision: time.Second,
	}
}

// nextCursor returns the starting_after of the next call: the id of the last object, or "" at the end.
func nextCursor[T any](res list[T], id func(T) string) string {
	if !res.HasMore || len(res.Data) == 0 {
		return ""
	}
	return id(res.Data[len(res.Data)-1])
}

// seekPrefix marks a checkpoint of the walk back to the oldest event (see transactionSource).
const seekPrefix = "seek:"

// transactionSource pulls the transactions of one secret key with ingest.Events: each event
// carries the transaction as it was after one change, so every status reaches the feed, in the
// order of the events.
//
// ingest.Events wants the events after a cursor, oldest first. The upstream lists events newest
// first; ending_before=E gives the ones just after E (listed newest first: reversed here), and the
// checkpoint is the id of the newest event stored. The start has no such cursor: the first pulls
// walk back from the newest event with starting_after, one page per pull and storing nothing
// (checkpoint "seek:<oldest id seen>"), until the page that holds the oldest event, which is the
// first batch. That reads the history twice, once; with a PSP that keeps events for a limited time
// (Stripe: 30 days), import the objects older than that from their listing first.
func transactionSource(c *Client, secretKey string, pageSize int) ingest.Source[models.Transaction] {
	return ingest.Events[models.Transaction, UpstreamEvent]{
		Fetch: func(ctx context.Context, _, cursor string) ([]UpstreamEvent, string, bool, error) {
			if cursor == "" || strings.HasPrefix(cursor, seekPrefix) {
				res, err := c.Events(ctx, secretKey, pageSize, strings.TrimPrefix(cursor, seekPrefix), "")
				if err != nil {
					return nil, "", false, err
				}
				switch {
				case len(res.Data) == 0 && cursor == "":
					return nil, "", false, nil // no event yet: look again at the next interval
				case len(res.Data) == 0: // nothing before the cursor any more: start the walk again
					return nil, "", true, nil
				case res.HasMore: // older events remain: walk on
					return nil, seekPrefix + res.Data[len(res.Data)-1].ID, true, nil
				}
				events := oldestFirst(res.Data) // the oldest page: the first batch
				return events, events[len(events)-1].ID, true, nil
			}
			res, err := c.Events(ctx, secretKey, pageSize, "", cursor)
			if err != nil {
				return nil, "", false, err
			}
			events := oldestFirst(res.Data)
			next := cursor
			if len(events) > 0 {
				next = events[len(events)-1].ID
			}
			return events, next, res.HasMore, nil
		},
		Map: func(_ context.Context, _ string, e UpstreamEvent) ([]models.Transaction, error) {
			switch e.Type {
			case "transaction.created", "transaction.updated":
				return []models.Transaction{toTransaction(e.Data.Object)}, nil
			}
			return nil, nil // an event of no interest
		},
		Time: func(e UpstreamEvent) time.Time { return fromUnix(e.Created) },
	}
}

func oldestFirst(events []UpstreamEvent) []UpstreamEvent {
	out := slices.Clone(events)
	slices.Reverse(out)
	return out
}

// ---------------------------------------------------------------------------------------------------
// Progress: when has a job caught up?

// progress follows one job: the Source's Pull says whether the upstream had more, the Sink's Commit
// that the batch was stored. The Syncer runs one job's pulls and commits one after the other.
type progress struct {
	route string

	mu       sync.Mutex
	started  time.Time     // start of the last pull that returned
	done     bool          // that pull reported nothing more
	caughtUp time.Time     // start of the last committed pull that reported nothing more
	changed  chan struct{} // closed when caughtUp moves
}

func newProgress(route string) *progress {
	return &progress{route: route, changed: make(chan struct{})}
}

// pulled records a pull that started at started and returned.
func (p *progress) pulled(started time.Time, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started, p.done = started, done
}

// committed records that the last pull's batch was stored.
func (p *progress) committed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		p.caughtUp = p.started
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// wait waits until a pull started at or after since has caught up and been committed.
func (p *progress) wait(ctx context.Context, since time.Time) error {
	for {
		p.mu.Lock()
		ok, changed := !p.caughtUp.Before(since), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// trackedJob returns the job pulling src into sink for the tenant's route, with its progress
// recorded in t.progress.
func trackedJob[T any](t *tenant, route string, src ingest.Source[T], sink ingest.Sink[T]) ingest.Job {
	pr := newProgress(route)
	t.progress = append(t.progress, pr)
	tracked := ingest.SourceFunc[T](func(ctx context.Context, tenant, checkpoint string) (ingest.Batch[T], error) {
		started := time.Now()
		b, err := src.Pull(ctx, tenant, checkpoint)
		pr.pulled(started, err == nil && !b.More)
		return b, err
	})
	return ingest.NewJob(t.name, route, tracked, trackedSink[T]{Sink: sink, progress: pr})
}

// trackedSink records each successful Commit in its job's progress.
type trackedSink[T any] struct {
	ingest.Sink[T]
	progress *progress
}

func (s trackedSink[T]) Commit(ctx context.Context, tenant, job string, items []T, checkpoint string, lease ingest.Lease) error {
	if err := s.Sink.Commit(ctx, tenant, job, items, checkpoint, lease); err != nil {
		return err
	}
	s.progress.committed()
	return nil
}
