package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	ctx := t.Context()
	p := NewProvider(clock.now)
	require.NoError(t, seed(ctx, p, clock.now()))
	// More data than the sample, with shared timestamps, so pages are cut inside a timestamp.
	for i := range 60 {
		at := clock.now()
		require.NoError(t, p.AddAccount(ctx, models.Account{ID: fmt.Sprintf("acc_%03d", i), AccountName: fmt.Sprintf("Account %d", i), CreatedAt: at},
			models.Balance{Amount: models.AmountFromInt64(int64(i) * 100), Currency: "EUR/2"}))
		require.NoError(t, p.AddBeneficiary(ctx, models.Beneficiary{ID: fmt.Sprintf("ben_%03d", i), OwnerName: fmt.Sprintf("Owner %d", i), CreatedAt: at}))
		require.NoError(t, p.PutTransaction(ctx, models.Transaction{
			ID: fmt.Sprintf("tx_%03d", i), CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
			Type: models.TransactionTypePayin, Status: models.TransactionStatusPending,
			Amount: models.AmountFromInt64(int64(1000 + i)), DestinationAccountID: "acc_main",
		}))
	}
	h, err := newHandlerFor(p, "test-key", slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	round := 0
	changes := func(ctx context.Context) error {
		round++
		// A status change within the second, and a brand-new transaction.
		if err := p.SetTransactionStatus(ctx, fmt.Sprintf("tx_%03d", round), models.TransactionStatusSucceeded); err != nil {
			return err
		}
		at := clock.now()
		return p.PutTransaction(ctx, models.Transaction{
			ID: fmt.Sprintf("tx_new_%d", round), CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
			Type: models.TransactionTypePayin, Status: models.TransactionStatusPending,
			Amount: models.AmountFromInt64(500), DestinationAccountID: "acc_main",
		})
	}
	connectortest.Run(t, connectortest.Target{Handler: h, APIKey: "test-key"}, connectortest.Options{Changes: changes})
}

// A payout answered by POST /payouts and read from GET /payouts/{id} has the createdAt and updatedAt
// of its row in GET /transactions (same id, type PAYOUT), before and after its status changes, and no
// served transaction has its updatedAt before its createdAt. The clock gives nanoseconds, so the
// served times are the clock's own unless two readings collide.
func TestPayoutTimesMatchTheirTransaction(t *testing.T) {
	p := NewProvider(time.Now)
	require.NoError(t, seed(t.Context(), p, time.Now()))
	h, err := newHandlerFor(p, "test-key", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	call := func(method, path string, body any, status int, out any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, r)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer test-key")
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, status, res.StatusCode, "%s %s answered %s", method, path, data)
		require.NoError(t, json.Unmarshal(data, out), "%s %s answered %s", method, path, data)
	}
	listAll := func() map[string]models.Transaction {
		t.Helper()
		rows := map[string]models.Transaction{}
		for page := 1; ; page++ {
			var txs []models.Transaction
			call("GET", fmt.Sprintf("/transactions?page=%d&pageSize=100&sort=updatedAt:asc", page), nil, http.StatusOK, &txs)
			for _, tx := range txs {
				require.False(t, tx.UpdatedAt.Before(tx.CreatedAt), "%s: updatedAt %s before createdAt %s", tx.ID,
					tx.UpdatedAt.Format(time.RFC3339Nano), tx.CreatedAt.Format(time.RFC3339Nano))
				rows[tx.ID] = tx
			}
			if len(txs) < 100 {
				return rows
			}
		}
	}
	sameTimes := func(what string, row models.Transaction, p models.Payout) {
		t.Helper()
		assert.True(t, row.CreatedAt.Equal(p.CreatedAt), "%s: createdAt %s, the row has %s", what,
			p.CreatedAt.Format(time.RFC3339Nano), row.CreatedAt.Format(time.RFC3339Nano))
		assert.True(t, row.UpdatedAt.Equal(p.UpdatedAt), "%s: updatedAt %s, the row has %s", what,
			p.UpdatedAt.Format(time.RFC3339Nano), row.UpdatedAt.Format(time.RFC3339Nano))
	}

	var ids []string
	for i := range 5 {
		var created models.Payout
		call("POST", "/payouts", map[string]any{"idempotencyKey": fmt.Sprintf("pi-%d", i), "amount": "2500", "currency": "EUR/2",
			"sourceAccountId": "acc_main", "destinationAccountId": "ben_acme"}, http.StatusCreated, &created)
		ids = append(ids, created.ID)
		rows := listAll()
		row, ok := rows[created.ID]
		require.True(t, ok, "the payout %s is a row of GET /transactions with its id", created.ID)
		assert.Equal(t, models.TransactionTypePayout, row.Type)
		sameTimes("POST /payouts", row, created)
		var got models.Payout
		call("GET", "/payouts/"+created.ID, nil, http.StatusOK, &got)
		sameTimes("GET /payouts/"+created.ID, row, got)
	}

	before := listAll()
	require.NoError(t, p.SetTransactionStatus(t.Context(), ids[0], models.TransactionStatusSucceeded))
	after := listAll()
	assert.True(t, after[ids[0]].UpdatedAt.After(before[ids[0]].UpdatedAt), "the change moved updatedAt forward")
	for _, id := range ids {
		var got models.Payout
		call("GET", "/payouts/"+id, nil, http.StatusOK, &got)
		sameTimes("GET /payouts/"+id, after[id], got)
		assert.Equal(t, after[id].Status, got.Status)
	}
	assert.Equal(t, models.TransactionStatusSucceeded, after[ids[0]].Status)
}
