package feed_test

import (
	"testing"

	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/feed/feedtest"
	"github.com/pspconnect/pspconnect/models"
)

func TestMemoryConformance(t *testing.T) {
	feedtest.Run(t, func(t *testing.T, opts ...feed.Option) feedtest.Store {
		txs, err := feed.NewMemory(feed.TransactionKeys(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		accounts, err := feed.NewMemory(feed.AccountKeys(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return feedtest.Store{
			Transactions: func() feed.Feed[models.Transaction] { return txs },
			Accounts:     func() feed.Feed[models.Account] { return accounts },
		}
	})
}
