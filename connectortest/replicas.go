package connectortest

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
)

// replicas holds one connection per target of a Poller and hands out the next one for each
// request. It is used under the Poller's lock only.
type replicas struct {
	conns []*conn
	next  int // index of the target of the next request
}

// dialAll connects to every target, in order. On error it closes what it opened; the error names
// the target when there are several.
func dialAll(targets []Target) (*replicas, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: PollerOptions.Targets is empty", ErrTarget)
	}
	rp := &replicas{conns: make([]*conn, 0, len(targets))}
	for i, t := range targets {
		c, err := dial(t)
		if err != nil {
			rp.close()
			if len(targets) > 1 {
				err = fmt.Errorf("target %d: %w", i, err)
			}
			return nil, err
		}
		rp.conns = append(rp.conns, c)
	}
	return rp, nil
}

// do sends r to the next target in turn and returns the answer and the target's index.
func (rp *replicas) do(ctx context.Context, r request) (response, int, error) {
	i := rp.next
	rp.next = (i + 1) % len(rp.conns)
	res, err := rp.conns[i].do(ctx, r)
	return res, i, err
}

// fetchError is the *FetchError of entry; with several targets, its message names the target.
func (rp *replicas) fetchError(entry Request, err error) error {
	if len(rp.conns) > 1 {
		err = fmt.Errorf("target %d: %w", entry.Target, err)
	}
	return &FetchError{Request: entry, Err: err}
}

func (rp *replicas) close() {
	for _, c := range rp.conns {
		c.close()
	}
}

// Swappable is an http.Handler that serves through another one, which can be replaced at any time,
// for instance between two pages of a fetch: the way to restart an in-process middleware under a
// Poller without changing its address. Build a Target with Handler set to a *Swappable and, from a
// PollerOptions.BetweenPages or BetweenFetches hook (or between cycles), Swap in a new instance of
// the middleware, built as the process would be on start-up (same PSP, fresh in-memory state):
//
//	sw := connectortest.NewSwappable(newMiddleware())
//	p := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
//		Targets: []connectortest.Target{{Handler: sw, APIKey: key}},
//		BetweenPages: func(context.Context, string, int) error {
//			sw.Swap(newMiddleware()) // a restart between every two pages
//			return nil
//		},
//	})
//
// Requests already being served finish on the handler they started on; the next ones go to the
// new one. While no handler is set (the zero Swappable, or after Swap(nil): a replica that is down)
// every request is answered 503 Service Unavailable, which Formance retries. Swappable is safe for
// concurrent use.
type Swappable struct {
	h atomic.Pointer[http.Handler]
}

// NewSwappable returns a Swappable serving through h (nil: down, see Swappable).
func NewSwappable(h http.Handler) *Swappable {
	s := &Swappable{}
	s.Swap(h)
	return s
}

// Swap makes h serve the next requests and returns the handler it replaces (nil when there was
// none). A nil h takes the target down: 503 to every request until the next Swap.
func (s *Swappable) Swap(h http.Handler) http.Handler {
	var next *http.Handler
	if h != nil {
		next = &h
	}
	if old := s.h.Swap(next); old != nil {
		return *old
	}
	return nil
}

// ServeHTTP serves r through the current handler, or answers 503 when there is none.
func (s *Swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.h.Load()
	if h == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"Title":"Service Unavailable","Detail":"the middleware is restarting"}`))
		return
	}
	(*h).ServeHTTP(w, r)
}
