package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// The list routes write their items with models' appenders instead of encoding/json's reflection:
// the same bytes (compact JSON, no HTML escaping, fields in struct order, omitempty honoured, map
// keys sorted; see TestAppendersMatchEncodingJSON), several times faster, without allocating. An
// item they cannot write exactly as encoding/json would (a time that RFC 3339 cannot carry) makes
// the caller encode the page with encoding/json instead. A page a feed answers with its stored
// encodings (connector.Page.Encoded) is copied as is (see writeEncoded).

// errNotAppendable reports an item the appenders leave to encoding/json.
var errNotAppendable = models.ErrNotEncodable

func appendAccount(b []byte, a *models.Account) ([]byte, error) { return models.AppendAccount(b, a) }

func appendBeneficiary(b []byte, v *models.Beneficiary) ([]byte, error) {
	return models.AppendBeneficiary(b, v)
}

func appendTransaction(b []byte, t *models.Transaction) ([]byte, error) {
	return models.AppendTransaction(b, t)
}

func appendJSONString(b []byte, s string) []byte { return models.AppendJSONString(b, s) }

// firstThen returns a fetch whose first call answers items and err (a page already asked for) and
// whose later calls are fetch's.
func firstThen[T any](items []T, err error, fetch func(pagination.Query) ([]T, error)) func(pagination.Query) ([]T, error) {
	used := false
	return func(q pagination.Query) ([]T, error) {
		if !used {
			used = true
			return items, err
		}
		return fetch(q)
	}
}

// decodeEncoded decodes a feed's encoded page into items, for the paths that need them (a
// quarantine filling a page up, a cursor-paged provider).
func decodeEncoded[T any](encs []models.Encoded) ([]T, error) {
	out := make([]T, len(encs))
	for i, e := range encs {
		if e.IsZero() {
			return nil, errZeroEncoded
		}
		if err := e.Decode(&out[i]); err != nil {
			return nil, fmt.Errorf("decoding item %d of an encoded page: %w", i+1, err)
		}
	}
	return out, nil
}

// errZeroEncoded: a provider put the zero models.Encoded in a page, which is no item.
var errZeroEncoded = errors.New("a page's Encoded holds the zero models.Encoded (no item)")

// serveEncoded writes a page a feed answered with its stored encodings (connector.Page.Encoded):
// every item was validated when it was stored (only models.Encode makes an Encoded), so the page is
// checked for its size and for repeated items only, and its bytes are copied. relink (nil for
// none) returns the items that must be written otherwise, by index (transactions linked to the
// writes that created them, see linkEncoded).
func serveEncoded(h *Handler, w http.ResponseWriter, r *http.Request, q pagination.Query, encs []models.Encoded,
	relink func(*http.Request, []models.Encoded) (map[int][]byte, error), versioned bool,
) {
	if len(encs) > q.PageSize {
		h.writeInvalidOutput(w, r, fmt.Sprintf(
			"provider returned %d items for pageSize=%d (a page must hold at most pageSize items)", len(encs), q.PageSize))
		return
	}
	if problem := repeatedEncoded(encs, versioned); problem != "" {
		h.writeInvalidOutput(w, r, problem)
		return
	}
	var replaced map[int][]byte
	if relink != nil {
		var err error
		if replaced, err = relink(r, encs); err != nil {
			h.linkUnavailable(w, r, err)
			return
		}
	}
	n := 3 + len(encs)
	for _, e := range encs {
		n += e.Len()
	}
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	b := slices.Grow((*buf)[:0], n)
	b = append(b, '[')
	for i, e := range encs {
		if e.IsZero() {
			*buf = b
			h.writeInvalidOutput(w, r, "provider returned an invalid page: "+errZeroEncoded.Error())
			return
		}
		if i > 0 {
			b = append(b, ',')
		}
		if j, ok := replaced[i]; ok {
			b = append(b, j...)
			continue
		}
		b = e.AppendTo(b)
	}
	b = append(b, ']', '\n')
	*buf = b
	observe(r).served(len(encs))
	writeBody(w, http.StatusOK, b)
}

// repeatedEncoded describes an item repeated on an encoded page, or returns "". Versioned items
// (transactions) whose versions strictly rise or fall, as a feed's do, cannot repeat; other pages
// are checked with a map.
func repeatedEncoded(encs []models.Encoded, versioned bool) string {
	if versioned && monotonic(encs) {
		return ""
	}
	seen := seenIDs.Get().(map[itemKey]int)
	defer func() { clear(seen); seenIDs.Put(seen) }()
	for i, e := range encs {
		k := itemKey{id: e.ID()}
		if versioned {
			k.version = e.Version()
		}
		if first, dup := seen[k]; dup {
			return fmt.Sprintf("provider returned %s twice on one page (items %d and %d of %d)", k.describe(versioned), first+1, i+1, len(encs))
		}
		seen[k] = i
	}
	return ""
}

// monotonic reports whether the versions of encs strictly rise, or strictly fall.
func monotonic(encs []models.Encoded) bool {
	up, down := true, true
	for i := 1; i < len(encs); i++ {
		a, b := encs[i-1].Version(), encs[i].Version()
		up = up && a < b
		down = down && a > b
	}
	return up || down
}

// writeObject writes a payout or a transfer with models.AppendPayout (encoding/json's bytes, without
// its reflection), and anything else, or a payout the appender leaves to encoding/json, with
// writeJSON.
func writeObject(h *Handler, w http.ResponseWriter, r *http.Request, status int, obj any) {
	var p *models.Payout
	switch x := obj.(type) {
	case *models.Payout:
		p = x
	case *models.Transfer:
		p = (*models.Payout)(x)
	}
	if p == nil {
		h.writeJSON(w, r, status, obj)
		return
	}
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	b, err := models.AppendPayout((*buf)[:0], p)
	*buf = b
	if err != nil {
		h.writeJSON(w, r, status, obj)
		return
	}
	b = append(b, '\n')
	*buf = b
	writeBody(w, status, b)
}

// writeBody writes the complete JSON answer b with status, its JSON headers and Content-Length.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	if rec, ok := w.(*recorder); ok && rec.writeJSONBody(status, b) {
		return
	}
	header := w.Header()
	setJSONHeaders(header)
	header.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
