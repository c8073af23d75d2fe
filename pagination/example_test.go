package pagination_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Three accounts created within the same second, as a PSP with second-precision timestamps reports
// them: the Collection serves each with its own timestamp, in arrival order, inside that second.
func ExampleCollection() {
	accounts := pagination.NewAccounts()
	second := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, id := range []string{"acc_b", "acc_a", "acc_c"} {
		if err := accounts.Put(models.Account{ID: id, AccountName: id, CreatedAt: second}); err != nil {
			panic(err)
		}
	}
	page := accounts.Page(pagination.Query{Page: 1, PageSize: 2, Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}})
	for _, a := range page {
		fmt.Println(a.ID, a.CreatedAt.Format(time.RFC3339Nano))
	}
	// Output:
	// acc_b 2024-01-01T10:00:00Z
	// acc_a 2024-01-01T10:00:00.000000001Z
}

func ExampleParseQuery() {
	q, err := pagination.ParseQuery(url.Values{
		"page": {"2"}, "pageSize": {"25"}, "sort": {"updatedAt:asc"}, "updatedAtFrom": {"2024-01-01T10:00:00Z"},
	}, pagination.FieldUpdatedAt, 0)
	fmt.Println(q.Page, q.PageSize, q.Sort, q.From.Format(time.RFC3339), q.Offset(), err)

	_, err = pagination.ParseQuery(url.Values{"pageSize": {"5000"}}, pagination.FieldUpdatedAt, 1000)
	fmt.Println(err)
	// Output:
	// 2 25 updatedAt:asc 2024-01-01T10:00:00Z 25 <nil>
	// query parameter pageSize="5000": must be at most 1000 (this server refuses larger pages rather than silently answering fewer items)
}

// An upstream API that pages by cursor (here: the cursor is the index of the next item). Walking
// Formance's pages 1, 2, 3 in order costs one upstream call per page.
func ExampleFetchByCursor() {
	items := []string{"a", "b", "c", "d", "e"}
	calls := 0
	fetch := func(_ context.Context, q pagination.CursorQuery) ([]string, string, error) {
		calls++
		start := 0
		if q.Cursor != "" {
			start, _ = strconv.Atoi(q.Cursor)
		}
		end := min(start+q.PageSize, len(items))
		next := ""
		if end < len(items) {
			next = strconv.Itoa(end)
		}
		return items[start:end], next, nil
	}
	cache := pagination.NewCursorCache(0, 0)
	for page := 1; page <= 3; page++ {
		q := pagination.Query{Page: page, PageSize: 2, Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}}
		got, err := pagination.FetchByCursor(context.Background(), cache, "tenant\x00/accounts", q, fetch)
		fmt.Println(page, got, err)
	}
	fmt.Println("upstream calls:", calls)
	// Output:
	// 1 [a b] <nil>
	// 2 [c d] <nil>
	// 3 [e] <nil>
	// upstream calls: 3
}
