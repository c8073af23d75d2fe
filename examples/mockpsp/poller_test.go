package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

var precisions = []struct {
	name string
	d    time.Duration
}{
	{"full precision", 0},
	{"1s precision", time.Second},
}

// A poller that behaves like Formance's receives every item once, and every status change, while a
// person generates data and moves payments through their lifecycle from the admin panel, at full and
// at second precision (where many items share one timestamp).
func TestPollerSeesEveryItemAndChange(t *testing.T) {
	for _, prec := range precisions {
		for _, pageSize := range []int{25, 7} {
			t.Run(fmt.Sprintf("%s/pageSize=%d", prec.name, pageSize), func(t *testing.T) {
				const key = "poller"
				srv, _ := startMock(t, config{SeedKey: key, SeedAccounts: 4, SeedBeneficiaries: 3, SeedTransactions: 60, TimestampPrecision: prec.d})
				c := client{t: t, base: srv.URL, key: key}
				p := connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: key}, pageSize)

				cy := cycle(t, p)
				assertDelivered(t, cy, ids(c.state().Accounts, func(a accountView) string { return a.ID }),
					ids(c.state().Beneficiaries, func(b models.Beneficiary) string { return b.ID }), txStatuses(c.state()))
				assert.Len(t, cy.Balances, 4, "balances of every account")
				require.True(t, cycle(t, p).Empty(), "nothing new, nothing delivered")

				// New accounts, a beneficiary and transactions in flight.
				var acc1, acc2 models.Account
				var ben models.Beneficiary
				c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "New EUR", "asset": "EUR/2"}, &acc1)
				c.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]string{"name": "New GBP", "asset": "GBP/2"}, &acc2)
				c.want(http.StatusCreated, "POST", "/admin/api/beneficiaries", map[string]string{"ownerName": "Late payee"}, &ben)
				var a, b []models.Transaction
				c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 30, "status": "PENDING"}, &a)
				c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 10, "type": "PAYIN", "status": "AUTHORISATION"}, &b)
				want := map[string]string{}
				for _, tx := range append(a, b...) {
					want[tx.ID] = string(tx.Status)
				}
				assertDelivered(t, cycle(t, p), []string{acc1.ID, acc2.ID}, []string{ben.ID}, want)

				// Rounds of lifecycle actions: every transaction that can move, moves, until none can.
				// Each round's changes must all arrive in the next cycle, and nothing else.
				rounds := 0
				for ; rounds < 8; rounds++ {
					want := map[string]string{}
					for i, tx := range c.state().Transactions {
						if len(tx.Actions) == 0 || i%5 == 4 { // leave some alone this round
							continue
						}
						want[tx.ID] = c.applyAction(tx.ID, tx.Actions[(i+rounds)%len(tx.Actions)])
					}
					if rounds == 2 { // new data mixed with changes
						var more []models.Transaction
						c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 12}, &more)
						for _, tx := range more {
							want[tx.ID] = string(tx.Status)
						}
					}
					if len(want) == 0 {
						break
					}
					assertDelivered(t, cycle(t, p), nil, nil, want)
				}
				assert.Greater(t, rounds, 3, "several rounds of changes")

				// A payment changed twice between polls arrives once, in its latest state.
				var pay []models.Transaction
				c.want(http.StatusCreated, "POST", "/admin/api/generate", map[string]any{"count": 1, "type": "PAYIN", "status": "SUCCEEDED"}, &pay)
				assertDelivered(t, cycle(t, p), nil, nil, map[string]string{pay[0].ID: "SUCCEEDED"})
				c.applyAction(pay[0].ID, ActionDispute)
				c.applyAction(pay[0].ID, ActionWinDispute)
				assertDelivered(t, cycle(t, p), nil, nil, map[string]string{pay[0].ID: "DISPUTE_WON"})
				assert.True(t, cycle(t, p).Empty())
			})
		}
	}
}

// A large seed, with hundreds of items sharing one timestamp, arrives whole at any precision.
func TestPollerWithLargeSeed(t *testing.T) {
	for _, prec := range []time.Duration{time.Millisecond, time.Second, time.Minute} {
		t.Run(prec.String(), func(t *testing.T) {
			const key = "large"
			srv, _ := startMock(t, config{SeedKey: key, SeedAccounts: 40, SeedBeneficiaries: 30, SeedTransactions: 500, TimestampPrecision: prec})
			p := connectortest.NewPoller(connectortest.Target{BaseURL: srv.URL, APIKey: key}, 25)
			cy := cycle(t, p)
			assert.Len(t, uniqueIDs(ids(cy.Accounts, func(a models.Account) string { return a.ID })), 40)
			assert.Len(t, cy.Accounts, 40)
			assert.Len(t, uniqueIDs(ids(cy.Beneficiaries, func(b models.Beneficiary) string { return b.ID })), 30)
			assert.Len(t, cy.Beneficiaries, 30)
			assert.Len(t, uniqueIDs(ids(cy.Transactions, func(tx models.Transaction) string { return tx.ID })), 500)
			assert.Len(t, cy.Transactions, 500)
			assert.True(t, cycle(t, p).Empty())
		})
	}
}

func uniqueIDs(ids []string) map[string]bool {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

func cycle(t *testing.T, p *connectortest.Poller) connectortest.Cycle {
	t.Helper()
	cy, err := p.Cycle(t.Context())
	require.NoError(t, err)
	return cy
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func txStatuses(st stateView) map[string]string {
	out := map[string]string{}
	for _, tx := range st.Transactions {
		out[tx.ID] = string(tx.Status)
	}
	return out
}

// assertDelivered checks that a cycle delivered exactly these accounts and beneficiaries, and exactly
// these transactions in these statuses, each once.
func assertDelivered(t *testing.T, cy connectortest.Cycle, accounts, beneficiaries []string, transactions map[string]string) {
	t.Helper()
	assert.ElementsMatch(t, accounts, ids(cy.Accounts, func(a models.Account) string { return a.ID }), "accounts delivered")
	assert.ElementsMatch(t, beneficiaries, ids(cy.Beneficiaries, func(b models.Beneficiary) string { return b.ID }), "beneficiaries delivered")
	got := map[string]string{}
	for _, tx := range cy.Transactions {
		_, dup := got[tx.ID]
		assert.False(t, dup, "transaction %s delivered twice in one cycle", tx.ID)
		got[tx.ID] = string(tx.Status)
	}
	if len(transactions) == 0 {
		transactions = map[string]string{}
	}
	assert.Equal(t, transactions, got, "transactions delivered, with their statuses")
}

// TestConformance runs the library's conformance suite against the mock at both precisions, with
// lifecycle changes made through the admin API between polls.
func TestConformance(t *testing.T) {
	for _, prec := range precisions {
		t.Run(prec.name, func(t *testing.T) {
			const key = "conformance"
			h, psp, err := newHandler(t.Context(), config{SeedKey: key, SeedAccounts: 5, SeedBeneficiaries: 3, SeedTransactions: 80, TimestampPrecision: prec.d}, discardLogger())
			require.NoError(t, err)
			defer psp.Close()
			// The mock accepts any key by design (each key is a dataset); Run's auth check expects a
			// wrong key to be refused, so the test server admits only this test's key.
			srv := httptest.NewServer(onlyKey(key, h))
			defer srv.Close()

			round := 0
			changes := func(ctx context.Context) error {
				round++
				if err := applyLifecycleRound(ctx, srv.URL, key, round); err != nil {
					return err
				}
				if err := adminCall(ctx, srv.URL, key, "POST", "/admin/api/accounts", map[string]string{"name": fmt.Sprint("Round ", round)}, nil); err != nil {
					return err
				}
				return adminCall(ctx, srv.URL, key, "POST", "/admin/api/generate", map[string]any{"count": 8}, nil)
			}
			connectortest.Run(t, connectortest.Target{BaseURL: srv.URL, APIKey: key}, connectortest.Options{Changes: changes,
				// A transfer moves money between accounts of one asset: acc_0004 holds USD/2, like acc_0001.
				WriteAccounts: connectortest.WriteAccounts{TransferDestination: "acc_0004"}})
			assert.Equal(t, 4, round, "Changes ran once per page size")
		})
	}
}

// applyLifecycleRound applies, through the admin API at base, one of its available lifecycle
// actions to each of up to 15 transactions of key's dataset, a different one each round.
func applyLifecycleRound(ctx context.Context, base, key string, round int) error {
	var st stateView
	if err := adminCall(ctx, base, key, "GET", "/admin/api/state", nil, &st); err != nil {
		return err
	}
	moved := 0
	for i, tx := range st.Transactions {
		if len(tx.Actions) == 0 || moved == 15 {
			continue
		}
		body := map[string]string{"action": string(tx.Actions[(i+round)%len(tx.Actions)])}
		if err := adminCall(ctx, base, key, "POST", "/admin/api/transactions/"+tx.ID+"/actions", body, nil); err != nil {
			return err
		}
		moved++
	}
	return nil
}

// onlyKey refuses every bearer token but key with 401, like a middleware with one configured key.
func onlyKey(key string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, _ := bearerToken(r); got != key {
			w.Header().Set("WWW-Authenticate", "Bearer")
			httpserver.WriteError(w, http.StatusUnauthorized, "", "invalid API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminCall calls the admin API without a *testing.T, for use inside connectortest's callbacks.
func adminCall(ctx context.Context, base, key, method, path string, body, out any) error {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		var e struct{ Detail string }
		_ = json.NewDecoder(res.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, e.Detail)
	}
	if out != nil {
		return json.NewDecoder(res.Body).Decode(out)
	}
	return nil
}
