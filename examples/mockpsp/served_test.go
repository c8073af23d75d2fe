package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// listTransactions reads the whole GET /transactions listing, page by page, as Formance's first poll
// does, and returns the latest version of each transaction by id. A changed transaction is listed
// in each of its versions (the feed keeps an earlier slot in place, see package feed), each later
// one with a later updatedAt: the last one listed is the current one.
func (c client) listTransactions() map[string]models.Transaction {
	c.t.Helper()
	out := map[string]models.Transaction{}
	for page := 1; ; page++ {
		var txs []models.Transaction
		c.want(http.StatusOK, "GET", fmt.Sprintf("/transactions?page=%d&pageSize=100&sort=updatedAt:asc", page), nil, &txs)
		for _, tx := range txs {
			if prev, dup := out[tx.ID]; dup {
				require.True(c.t, tx.UpdatedAt.After(prev.UpdatedAt), "%s listed twice with updatedAt %s", tx.ID, tx.UpdatedAt.Format(time.RFC3339Nano))
			}
			out[tx.ID] = tx
		}
		if len(txs) < 100 {
			return out
		}
	}
}

// requireConsistent checks that no served transaction has its updatedAt before its createdAt, and that
// each payout and transfer (the POST answer when given, and GET /payouts/{id} or /transfers/{id})
// carries the createdAt and updatedAt of its row in GET /transactions, whose id and type are its own.
func requireConsistent(t *testing.T, c client, payouts, transfers map[string]models.Payout) map[string]models.Transaction {
	t.Helper()
	rows := c.listTransactions()
	for id, tx := range rows {
		require.False(t, tx.UpdatedAt.Before(tx.CreatedAt), "%s: updatedAt %s before createdAt %s", id,
			tx.UpdatedAt.Format(time.RFC3339Nano), tx.CreatedAt.Format(time.RFC3339Nano))
	}
	check := func(kind string, typ models.TransactionType, answers map[string]models.Payout) {
		for id, answered := range answers {
			row, ok := rows[id]
			require.True(t, ok, "the %s %s is a row of GET /transactions with its id", kind, id)
			assert.Equal(t, typ, row.Type, "%s %s", kind, id)
			var got models.Payout
			c.want(http.StatusOK, "GET", "/"+kind+"s/"+id, nil, &got)
			for what, p := range map[string]models.Payout{"GET /" + kind + "s/" + id: got, "the answer to POST /" + kind + "s": answered} {
				if p.ID == "" {
					continue // no POST answer to compare (generated from the panel, or changed since)
				}
				assert.True(t, row.CreatedAt.Equal(p.CreatedAt), "%s: createdAt %s, the row has %s", what,
					p.CreatedAt.Format(time.RFC3339Nano), row.CreatedAt.Format(time.RFC3339Nano))
				assert.True(t, row.UpdatedAt.Equal(p.UpdatedAt), "%s: updatedAt %s, the row has %s", what,
					p.UpdatedAt.Format(time.RFC3339Nano), row.UpdatedAt.Format(time.RFC3339Nano))
			}
			assert.Equal(t, row.Status, got.Status, "%s %s", kind, id)
		}
	}
	check("payout", models.TransactionTypePayout, payouts)
	check("transfer", models.TransactionTypeTransfer, transfers)
	return rows
}

// A payout or transfer read from GET /payouts/{id} (or /transfers/{id}), or answered by POST, has the
// same createdAt and updatedAt as its row in GET /transactions, before and after lifecycle actions,
// and no served transaction has its updatedAt before its createdAt: at full (nanosecond) precision,
// where the served updatedAt is truncated to the microsecond, and at 1s.
func TestPayoutTimesMatchTheirTransactions(t *testing.T) {
	for _, precision := range []time.Duration{0, time.Second} {
		t.Run("precision="+precisionName(precision), func(t *testing.T) {
			srv, _ := startMock(t, config{SeedKey: "times", SeedAccounts: 4, SeedBeneficiaries: 1, SeedTransactions: 30, TimestampPrecision: precision})
			c := client{t: t, base: srv.URL, key: "times"}

			payouts, transfers := map[string]models.Payout{}, map[string]models.Payout{}
			for i := range 5 {
				var p models.Payout
				c.want(http.StatusCreated, "POST", "/payouts", payoutBody(fmt.Sprintf("pi-%d", i), "100", "acc_0001", "ben_0001"), &p)
				payouts[p.ID] = p
				var tr models.Transfer
				c.want(http.StatusCreated, "POST", "/transfers", map[string]any{"idempotencyKey": fmt.Sprintf("tr-%d", i), "amount": "50",
					"currency": "USD/2", "sourceAccountId": "acc_0001", "destinationAccountId": "acc_0004"}, &tr)
				transfers[tr.ID] = models.Payout(tr)
			}
			// The payouts and transfers generated from the panel too, with no POST answer.
			for _, o := range c.state().Payouts {
				if _, ok := payouts[o.ID]; !ok {
					payouts[o.ID] = models.Payout{}
				}
			}
			for _, o := range c.state().Transfers {
				if _, ok := transfers[o.ID]; !ok {
					transfers[o.ID] = models.Payout{}
				}
			}
			before := requireConsistent(t, c, payouts, transfers)

			// Lifecycle actions move the rows; GET /payouts/{id} follows, with the same times.
			var firstPayout, firstTransfer string
			for id, p := range payouts {
				if p.IdempotencyKey == "pi-0" {
					firstPayout = id
				}
			}
			for id, p := range transfers {
				if p.IdempotencyKey == "tr-0" {
					firstTransfer = id
				}
			}
			assert.Equal(t, "SUCCEEDED", c.applyAction(firstPayout, ActionSucceed))
			assert.Equal(t, "FAILED", c.applyAction(firstTransfer, ActionFail))
			payouts[firstPayout], transfers[firstTransfer] = models.Payout{}, models.Payout{} // the POST answers are outdated
			after := requireConsistent(t, c, payouts, transfers)
			assert.True(t, after[firstPayout].UpdatedAt.After(before[firstPayout].UpdatedAt), "the action moved updatedAt forward")
			assert.Equal(t, models.TransactionStatusSucceeded, after[firstPayout].Status)
			assert.Equal(t, models.TransactionStatusFailed, after[firstTransfer].Status)
		})
	}
}
