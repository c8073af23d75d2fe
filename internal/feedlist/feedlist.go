// Package feedlist holds what the module's feed tests share: a plain transaction to put, a query for
// a page of the updatedAt listing, and the whole listing of a tenant. It is used by feed/feedtest
// and the tests of feed/pgfeed and ingest/pgingest.
package feedlist

import (
	"context"
	"fmt"
	"time"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// Tx is a valid PAYIN of 1.00 USD/2 to acc_1, created and updated at at.
func Tx(id string, at time.Time, status models.TransactionStatus) models.Transaction {
	return models.Transaction{
		ID: id, CreatedAt: at, UpdatedAt: at, Currency: "USD/2", Type: models.TransactionTypePayin, Status: status,
		Amount: models.AmountFromInt64(100), DestinationAccountID: "acc_1",
	}
}

// Query is page page of pageSize items of the transactions listing (updatedAt, ascending) from
// from.
func Query(page, size int, from time.Time) pagination.Query {
	return pagination.Query{Page: page, PageSize: size, From: from,
		Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
}

// All returns the whole listing of tenant (every slot, superseded ones included), a thousand items
// a page. Like any list request, it raises the feed's horizon.
func All(ctx context.Context, f feed.Feed[models.Transaction], tenant string) ([]models.Transaction, error) {
	var out []models.Transaction
	for p := 1; ; p++ {
		items, err := f.Page(ctx, tenant, Query(p, 1000, time.Time{}))
		if err != nil {
			return nil, fmt.Errorf("listing of %q, page %d: %w", tenant, p, err)
		}
		out = append(out, items...)
		if len(items) < 1000 {
			return out, nil
		}
	}
}
