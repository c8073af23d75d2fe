package feed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// TestMemoryConstructorsNeedNoErrorCheck: the feeds of the contract's objects come ready in one
// expression, each serving its route's time field through feed.List.
func TestMemoryConstructorsNeedNoErrorCheck(t *testing.T) {
	ctx := connector.WithTenant(context.Background(), "t")
	at := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	byCreated := connector.ListRequest{Page: 1, PageSize: 10, Sort: pagination.Sort{Field: pagination.FieldCreatedAt, Direction: pagination.Ascending}}
	byUpdated := byCreated
	byUpdated.Sort.Field = pagination.FieldUpdatedAt

	accounts := feed.NewMemoryAccounts()
	if err := accounts.Put(ctx, "t", models.Account{ID: "a1", AccountName: "A", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if items, err := listed(ctx, accounts, byCreated); err != nil || len(items) != 1 || items[0].ID != "a1" {
		t.Fatalf("accounts: %v, %+v", err, items)
	}

	beneficiaries := feed.NewMemoryBeneficiaries()
	if err := beneficiaries.Put(ctx, "t", models.Beneficiary{ID: "b1", OwnerName: "B", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if items, err := listed(ctx, beneficiaries, byCreated); err != nil || len(items) != 1 || items[0].ID != "b1" {
		t.Fatalf("beneficiaries: %v, %+v", err, items)
	}

	transactions := feed.NewMemoryTransactions()
	tx := models.Transaction{ID: "t1", CreatedAt: at, UpdatedAt: at, Currency: "EUR/2", Type: models.TransactionTypePayin,
		Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(1)}
	changed := tx
	changed.Status, changed.UpdatedAt = models.TransactionStatusSucceeded, at.Add(time.Second)
	if err := transactions.Put(ctx, "t", tx); err != nil {
		t.Fatal(err)
	}
	// The first page raises the horizon, so the change gets a slot of its own (TransactionKeys).
	if _, err := feed.List(ctx, transactions, byUpdated); err != nil {
		t.Fatal(err)
	}
	if err := transactions.Put(ctx, "t", changed); err != nil {
		t.Fatal(err)
	}
	items, err := listed(ctx, transactions, byUpdated)
	if err != nil || len(items) != 2 || items[1].Status != models.TransactionStatusSucceeded {
		t.Fatalf("transactions: %v, %+v", err, items)
	}
}

// listed returns the items of feed.List's answer (which a memory feed gives encoded).
func listed[T any](ctx context.Context, f feed.Feed[T], req connector.ListRequest) ([]T, error) {
	page, err := feed.List(ctx, f, req)
	if err != nil {
		return nil, err
	}
	return feed.Items(page)
}

// TestNewMemoryWithOptions: options go through NewMemory, which reports a bad one.
func TestNewMemoryWithOptions(t *testing.T) {
	if _, err := feed.NewMemory(feed.TransactionKeys(), feed.WithRetention(-time.Hour)); !errors.Is(err, feed.ErrInvalidConfig) {
		t.Fatalf("NewMemory with a negative retention: got %v, want ErrInvalidConfig", err)
	}
	if _, err := feed.NewMemory(feed.Keys[models.Account]{}); !errors.Is(err, feed.ErrInvalidConfig) {
		t.Fatalf("NewMemory with empty Keys: got %v, want ErrInvalidConfig", err)
	}
	m, err := feed.NewMemory(feed.AccountKeys(), feed.WithRetention(time.Hour))
	if err != nil || m == nil {
		t.Fatalf("NewMemory with a valid option: %v", err)
	}
}
