package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Since is the Source of a PSP list with an "updated since" filter, whatever its precision
// (nanoseconds, seconds, or only a date): the integrator writes Fetch (one upstream page) and Map
// (one object). Each pass reads every page updated at or after its start, following the PSP's
// cursor; the next pass starts at the latest time seen before this pass began, minus Lookback,
// truncated down to Precision. So it re-reads inclusively what a coarse filter or an eventually
// consistent PSP may have hidden, and every change made while this pass ran (a change behind the
// cursor, in the cursor's own second, is not in this pass, but its time is after the start of the
// pass, so the next one reads it).
// The re-read items are no-ops in the feed where they did not change (it compares content), so
// nothing is doubled. Use it when the filter's list keeps its order by cursor (keyset paging): an
// item updated during the pass moves after the cursor and is read in the same pass.
type Since[T, U any] struct {
	// Fetch returns the upstream objects updated at or after since, one page starting at cursor (""
	// for the first page), and the cursor of the next page ("" after the last page).
	Fetch func(ctx context.Context, tenant string, since time.Time, cursor string) (page []U, next string, err error)
	// Map turns one upstream object into the feed's item.
	Map func(U) (T, error)
	// Time returns the object's updated time, as the PSP reports it.
	Time func(U) time.Time
	// Lookback re-reads this much before the latest time seen: the PSP's eventual consistency (an
	// object visible some seconds after its timestamp). Default 0.
	Lookback time.Duration
	// Precision is the filter's precision: the start of a pass is truncated down to it (time.Second
	// for a filter in seconds, 24*time.Hour for a date). Default: none.
	Precision time.Duration
	// Start is where the first pass starts (zero: the PSP's whole history).
	Start time.Time
}

type sinceCheckpoint struct {
	Since  time.Time `json:"since"`
	Cursor string    `json:"cursor,omitempty"`
	Max    time.Time `json:"max,omitzero"`
	// Before is the latest time seen before the current pass began: where the next pass starts.
	Before time.Time `json:"before,omitzero"`
}

// Pull implements Source.
func (s Since[T, U]) Pull(ctx context.Context, tenant, checkpoint string) (Batch[T], error) {
	cp := sinceCheckpoint{Since: s.Start}
	if err := decodeCheckpoint(checkpoint, &cp); err != nil {
		return Batch[T]{}, err
	}
	if cp.Cursor == "" { // a pass begins
		cp.Before = cp.Max
	}
	page, next, err := s.Fetch(ctx, tenant, cp.Since, cp.Cursor)
	if err != nil {
		return Batch[T]{}, err
	}
	items := make([]T, 0, len(page))
	for i, u := range page {
		it, err := s.Map(u)
		if err != nil {
			return Batch[T]{}, fmt.Errorf("ingest: mapping object %d of the page: %w", i+1, err)
		}
		items = append(items, it)
		if t := s.Time(u); t.After(cp.Max) {
			cp.Max = t
		}
	}
	b := Batch[T]{Items: items, Latest: cp.Max}
	if next != "" {
		cp.Cursor, b.More = next, true
	} else { // the pass is done: the next one starts a lookback before this one began
		cp.Cursor = ""
		if !cp.Before.IsZero() {
			start := cp.Before.Add(-s.Lookback)
			if s.Precision > 0 {
				start = start.Truncate(s.Precision)
			}
			if start.After(cp.Since) {
				cp.Since = start
			}
		}
	}
	b.Checkpoint, err = encodeCheckpoint(cp)
	return b, err
}

// Window is the Source of a PSP list paged by page number whose pages shift as new items arrive
// (a page 2 read after a new item arrived starts one item earlier): each pass freezes a window
// [from, to) with to set when the pass starts, and reads its pages 1, 2, … until a short one, so
// that new items, which fall after to, shift nothing. The next pass starts at to minus Lookback.
// The list must be filtered and sorted by a time that does not change for an item (its creation):
// a list by update time shifts when an item inside the window is updated during the pass.
type Window[T, U any] struct {
	// Fetch returns page number page (from 1) of the upstream objects whose time is in [from, to),
	// and whether more pages follow.
	Fetch func(ctx context.Context, tenant string, from, to time.Time, page int) (objects []U, more bool, err error)
	// Map turns one upstream object into the feed's item.
	Map func(U) (T, error)
	// Lookback re-reads this much before the end of the last window (eventual consistency).
	Lookback time.Duration
	// Settle keeps the end of a window this much before now, for a PSP whose objects appear some
	// time after their timestamp. Default 0.
	Settle time.Duration
	// Start is where the first window starts (zero: the PSP's whole history).
	Start time.Time
	// Now reads the clock (default time.Now).
	Now func() time.Time
}

type windowCheckpoint struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"` // zero between passes
	Page int       `json:"page,omitempty"`
}

// Pull implements Source.
func (w Window[T, U]) Pull(ctx context.Context, tenant, checkpoint string) (Batch[T], error) {
	cp := windowCheckpoint{From: w.Start}
	if err := decodeCheckpoint(checkpoint, &cp); err != nil {
		return Batch[T]{}, err
	}
	if cp.To.IsZero() { // a new pass: freeze its window
		now := time.Now
		if w.Now != nil {
			now = w.Now
		}
		cp.To, cp.Page = now().Add(-w.Settle), 1
	}
	objects, more, err := w.Fetch(ctx, tenant, cp.From, cp.To, cp.Page)
	if err != nil {
		return Batch[T]{}, err
	}
	items := make([]T, 0, len(objects))
	for i, u := range objects {
		it, err := w.Map(u)
		if err != nil {
			return Batch[T]{}, fmt.Errorf("ingest: mapping object %d of page %d: %w", i+1, cp.Page, err)
		}
		items = append(items, it)
	}
	b := Batch[T]{Items: items, Latest: cp.To, More: more}
	if more {
		cp.Page++
	} else {
		cp = windowCheckpoint{From: cp.To.Add(-w.Lookback)}
	}
	b.Checkpoint, err = encodeCheckpoint(cp)
	return b, err
}

// Events is the Source of a PSP that reports changes only through an events endpoint (newest-first
// object lists with no "updated since" filter, such as Stripe's, Column's or Increase's): Fetch reads
// the events after a cursor, and Map turns one event into the items it changes (the object it
// carries, or the object fetched again by id for events that carry only an id). The checkpoint is
// the PSP's cursor.
type Events[T, E any] struct {
	// Fetch returns the events after cursor ("" for the start), oldest first, the cursor after the
	// last one returned (the same cursor when there is none), and whether more are waiting.
	Fetch func(ctx context.Context, tenant, cursor string) (events []E, next string, more bool, err error)
	// Map returns the items event changes (none for an event of no interest).
	Map func(ctx context.Context, tenant string, event E) ([]T, error)
	// Time, when set, returns the event's time, for the lag the Syncer logs.
	Time func(E) time.Time
}

// Pull implements Source.
func (e Events[T, E]) Pull(ctx context.Context, tenant, checkpoint string) (Batch[T], error) {
	events, next, more, err := e.Fetch(ctx, tenant, checkpoint)
	if err != nil {
		return Batch[T]{}, err
	}
	b := Batch[T]{Checkpoint: next, More: more}
	for i, ev := range events {
		items, err := e.Map(ctx, tenant, ev)
		if err != nil {
			return Batch[T]{}, fmt.Errorf("ingest: mapping event %d of %d: %w", i+1, len(events), err)
		}
		b.Items = append(b.Items, items...)
		if e.Time != nil && e.Time(ev).After(b.Latest) {
			b.Latest = e.Time(ev)
		}
	}
	return b, nil
}

func decodeCheckpoint(s string, v any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%w %q: %w", ErrBadCheckpoint, s, err)
	}
	return nil
}

func encodeCheckpoint(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", errors.Join(ErrBadCheckpoint, err)
	}
	return string(b), nil
}
