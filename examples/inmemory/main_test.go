package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/models"
)

// coarseClock is a PSP clock that gives times at one precision and moves one step every fifth
// reading, so that many items share a timestamp: the case that loses data in a plain middleware.
type coarseClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
	n    int
}

func (c *coarseClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n%5 == 0 {
		c.t = c.t.Add(c.step)
	}
	return c.t
}

func TestInMemoryExamplePassesConformance(t *testing.T) {
	for _, precision := range []time.Duration{time.Nanosecond, time.Millisecond, time.Second} {
		t.Run("precision="+precision.String(), func(t *testing.T) {
			testConformance(t, &coarseClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), step: precision})
		})
	}
}

func testConformance(t *testing.T, clock *coarseClock) {
	p := NewProvider(clock.now)
	require.NoError(t, seed(p, clock.now()))
	// More data than the sample, with shared timestamps, so pages are cut inside a timestamp.
	for i := range 60 {
		at := clock.now()
		require.NoError(t, p.AddAccount(models.Account{ID: fmt.Sprintf("acc_%03d", i), AccountName: fmt.Sprintf("Account %d", i), CreatedAt: at},
			models.Balance{Amount: models.AmountFromInt64(int64(i) * 100), Currency: "EUR/2"}))
		require.NoError(t, p.AddBeneficiary(models.Beneficiary{ID: fmt.Sprintf("ben_%03d", i), OwnerName: fmt.Sprintf("Owner %d", i), CreatedAt: at}))
		require.NoError(t, p.PutTransaction(models.Transaction{
			ID: fmt.Sprintf("tx_%03d", i), CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
			Type: models.TransactionTypePayIn, Status: models.TransactionStatusPending,
			Amount: models.AmountFromInt64(int64(1000 + i)), DestinationAccountID: "acc_main",
		}))
	}
	h, err := newHandlerFor(p, "test-key", slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	round := 0
	changes := func(context.Context) error {
		round++
		// A status change within the second, and a brand-new transaction.
		if err := p.SetTransactionStatus(fmt.Sprintf("tx_%03d", round), models.TransactionStatusSucceeded); err != nil {
			return err
		}
		at := clock.now()
		return p.PutTransaction(models.Transaction{
			ID: fmt.Sprintf("tx_new_%d", round), CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
			Type: models.TransactionTypePayIn, Status: models.TransactionStatusPending,
			Amount: models.AmountFromInt64(500), DestinationAccountID: "acc_main",
		})
	}
	connectortest.Run(t, connectortest.Target{Handler: h, APIKey: "test-key"}, connectortest.Options{Changes: changes})
}
