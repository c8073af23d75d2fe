package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

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
// checked for its size and for repeated items only, and its bytes are copied. The items that
// prepare must see (needsPrepare: a payout or transfer transaction not yet linked) are decoded,
// prepared and encoded again; the others are written as stored.
func serveEncoded[T any](h *Handler, w http.ResponseWriter, r *http.Request, q pagination.Query, encs []models.Encoded,
	prepare func(*http.Request, []T) ([]T, error), appendItem func([]byte, *T) ([]byte, error),
	needsPrepare func(models.Encoded) bool, versioned bool,
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
	var prepared []T // the items prepare saw, in page order
	var at []int     // their indexes in encs
	if prepare != nil && needsPrepare != nil {
		for i, e := range encs {
			if needsPrepare(e) {
				at = append(at, i)
			}
		}
		if len(at) > 0 {
			sub := make([]models.Encoded, len(at))
			for j, i := range at {
				sub[j] = encs[i]
			}
			items, err := decodeEncoded[T](sub)
			if err != nil {
				h.writeInvalidOutput(w, r, "provider returned an encoded page: "+err.Error())
				return
			}
			if prepared, err = prepare(r, items); err != nil {
				h.linkUnavailable(w, r, err)
				return
			}
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
		if i > 0 {
			b = append(b, ',')
		}
		if len(at) > 0 && at[0] == i {
			var err error
			if b, err = appendItem(b, &prepared[0]); err != nil {
				*buf = b
				h.writeInvalidOutput(w, r, fmt.Sprintf("cannot encode item %d of %d after linking it: %v", i+1, len(encs), err))
				return
			}
			at, prepared = at[1:], prepared[1:]
			continue
		}
		if e.IsZero() {
			*buf = b
			h.writeInvalidOutput(w, r, "provider returned an invalid page: "+errZeroEncoded.Error())
			return
		}
		b = e.AppendTo(b)
	}
	b = append(b, ']', '\n')
	*buf = b
	header := w.Header()
	setJSONHeaders(header)
	header.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
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

// unlinkedWrite reports whether an encoded transaction may need linkTransactions: a payout or a
// transfer without a relatedTransactionID (which, when set, follows the id). It may say yes for
// a transaction that needs nothing (a metadata key "type" with such a value), never no for one
// that does.
func unlinkedWrite(e models.Encoded) bool {
	j := e.JSON()
	if !strings.Contains(j, `,"type":"PAYOUT"`) && !strings.Contains(j, `,"type":"TRANSFER"`) {
		return false
	}
	const prefix = `{"id":"`
	if !strings.HasPrefix(j, prefix) {
		return true
	}
	for i := len(prefix); i < len(j); i++ {
		switch j[i] {
		case '\\':
			i++
		case '"':
			return !strings.HasPrefix(j[i+1:], `,"relatedTransactionID":`)
		}
	}
	return true
}
