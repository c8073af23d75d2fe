package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/pagination"
)

// listItem is one item of a list answer, read leniently: its id and time field when they can be read.
type listItem struct {
	id   string
	at   time.Time
	atOK bool
	raw  json.RawMessage
	page int // 1-based page it was on
	// key identifies the item in a listing: its id for accounts and beneficiaries, its id and
	// updatedAt for transactions, whose listing may hold earlier versions of a changed transaction
	// (a lossless server keeps the earlier slot in place while a poller pages; see CONTRACT.md).
	key string
}

func (it listItem) label(rs routeSpec) string {
	id := it.id
	if id == "" {
		id = "(no id)"
	}
	if !it.atOK {
		return id
	}
	return fmt.Sprintf("%s (%s %s)", id, rs.field, it.at.Format(time.RFC3339Nano))
}

// listPage is one page of a walk.
type listPage struct {
	req   request
	items []listItem
}

// listing is a walk over all pages of a list route with one page size and one …From value.
type listing struct {
	route    routeSpec
	pageSize int
	from     time.Time
	pages    []listPage
	items    []listItem // every item of every page, in order
}

// errWalk is wrapped by walk errors: a request without a usable answer.
var errWalk = errors.New("walk failed")

// maxStalePages is the number of consecutive pages holding only items already seen after which a
// walk over moving data (Options.Live) gives up.
const maxStalePages = 3

// maxWalkItems bounds a walk, in case a server keeps answering.
const maxWalkItems = 2_000_000

// walk reads page 1, 2, … of rs with pageSize and from (omitted when zero) until a page comes back
// empty. It does not stop at a short page: what follows one is what tiling checks. It stops with an
// error at a request without a 200 JSON-array answer, and at a non-empty page holding only items
// already seen (the server ignores page).
func walk(ctx context.Context, c *conn, rs routeSpec, pageSize int, from time.Time) (*listing, error) {
	l := &listing{route: rs, pageSize: pageSize, from: from}
	seen := make(map[string]bool)
	stale := 0 // consecutive pages without a new item
	for page := 1; ; page++ {
		r := walkRequest(rs, page, pageSize, from)
		raws, err := getList(ctx, c, r)
		if err != nil {
			return l, err
		}
		lp := listPage{req: r}
		fresh := false
		for _, raw := range raws {
			it := readItem(raw, rs.field)
			it.page = page
			if !seen[it.key] || it.id == "" {
				fresh = true
			}
			seen[it.key] = true
			lp.items = append(lp.items, it)
		}
		l.pages = append(l.pages, lp)
		l.items = append(l.items, lp.items...)
		if len(raws) == 0 {
			return l, nil
		}
		if fresh {
			stale = 0
		} else if stale++; !c.tolerateStale || stale >= maxStalePages {
			return l, fmt.Errorf("%w: %s: every item was already on an earlier page (is the page parameter ignored?)", errWalk, r)
		}
		if len(l.items) > maxWalkItems {
			return l, fmt.Errorf("%w: %s: more than %d items, giving up", errWalk, r, maxWalkItems)
		}
	}
}

func walkRequest(rs routeSpec, page, pageSize int, from time.Time) request {
	r := request{method: "GET", path: rs.path, params: []param{
		{"page", strconv.Itoa(page)},
		{"pageSize", strconv.Itoa(pageSize)},
		{"sort", string(rs.field) + ":asc"},
	}}
	if !from.IsZero() {
		r.params = append(r.params, param{pagination.FromParam(rs.field), formatFrom(from)})
	}
	return r
}

// getList sends r and returns the items of a 200 JSON-array answer.
func getList(ctx context.Context, c *conn, r request) ([]json.RawMessage, error) {
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errWalk, r, err)
	}
	if res.status != 200 {
		return nil, fmt.Errorf("%w: %s: answered %d, want 200: %s", errWalk, r, res.status, bodySnippet(res.body))
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(res.body, &raws); err != nil || raws == nil {
		return nil, fmt.Errorf("%w: %s: the answer is not a JSON array (the contract answers a bare array, no envelope): %s", errWalk, r, bodySnippet(res.body))
	}
	return raws, nil
}

// readItem reads the id and the time field of one raw item, leniently (the schema check is strict).
func readItem(raw json.RawMessage, field pagination.Field) listItem {
	var v struct {
		ID        string `json:"id"`
		CreatedAt string `json:"createdAt"`
		UpdatedAt string `json:"updatedAt"`
	}
	_ = json.Unmarshal(raw, &v) // a field of the wrong type is left empty
	it := listItem{raw: raw, id: strings.TrimSpace(v.ID)}
	s := v.CreatedAt
	if field == pagination.FieldUpdatedAt {
		s = v.UpdatedAt
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		it.at, it.atOK = t, true
		s = t.UTC().Format(time.RFC3339Nano)
	}
	it.key = it.id
	if field == pagination.FieldUpdatedAt {
		it.key = it.id + "\x00" + s
	}
	return it
}
