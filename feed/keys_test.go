package feed_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/models"
)

// TestTransactionKeysCompareEveryField: TransactionKeys' Equal compares the fields one by one; a
// field added to models.Transaction must be added there too, or its changes would be dropped.
func TestTransactionKeysCompareEveryField(t *testing.T) {
	if n := reflect.TypeFor[models.Transaction]().NumField(); n != 12 {
		t.Fatalf("models.Transaction has %d fields: update feed.TransactionKeys' Equal (it knows 12)", n)
	}
	base := models.Transaction{ID: "a", CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0), Currency: "USD/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(5)}
	keys := feed.TransactionKeys()
	if !keys.Same(base, base) {
		t.Fatal("a transaction differs from itself")
	}
	same := base
	same.CreatedAt = same.CreatedAt.In(time.FixedZone("X", 7200))
	same.Metadata = models.Metadata{}
	same.Amount = models.MustParseAmount("5")
	if !keys.Same(base, same) {
		t.Error("the same instant in another zone, an empty metadata map and an equal amount must compare equal")
	}
	changes := []func(*models.Transaction){
		func(x *models.Transaction) { x.ID = "b" },
		func(x *models.Transaction) { x.RelatedTransactionID = "p" },
		func(x *models.Transaction) { x.CreatedAt = x.CreatedAt.Add(1) },
		func(x *models.Transaction) { x.UpdatedAt = x.UpdatedAt.Add(1) },
		func(x *models.Transaction) { x.Currency = "EUR/2" },
		func(x *models.Transaction) { x.Scheme = "visa" },
		func(x *models.Transaction) { x.Type = models.TransactionTypePayout },
		func(x *models.Transaction) { x.Status = models.TransactionStatusFailed },
		func(x *models.Transaction) { x.Amount = models.AmountFromInt64(6) },
		func(x *models.Transaction) { x.SourceAccountID = "s" },
		func(x *models.Transaction) { x.DestinationAccountID = "d" },
		func(x *models.Transaction) { x.Metadata = models.Metadata{"k": "v"} },
	}
	for i, change := range changes {
		other := base
		change(&other)
		if keys.Same(base, other) {
			t.Errorf("change %d (%+v) is not seen as a change", i, other)
		}
	}
}

type countingPruner struct{ calls chan struct{} }

func (c countingPruner) Prune(context.Context) (int, error) {
	c.calls <- struct{}{}
	return 1, nil
}

func TestPruneEveryCallsEachFeedUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, b := countingPruner{make(chan struct{}, 100)}, countingPruner{make(chan struct{}, 100)}
	done := make(chan struct{})
	go func() { feed.PruneEvery(ctx, time.Millisecond, nil, a, b); close(done) }()
	<-a.calls
	<-b.calls
	<-a.calls
	cancel()
	<-done
}
