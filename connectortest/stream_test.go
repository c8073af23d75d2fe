package connectortest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// TestStreamDeliversWhatCycleDoes: Stream hands over, fetch by fetch, exactly what Cycle returns.
func TestStreamDeliversWhatCycleDoes(t *testing.T) {
	ds := Generate(GenSpec{Seed: 4, Accounts: 30, Beneficiaries: 40, Transactions: 300, Precision: time.Second, PerSecond: 8, Lifecycle: true})
	_, target1 := serveMemory(t, ds)
	_, target2 := serveMemory(t, ds)
	cycler, streamer := NewPoller(target1, 7), NewPoller(target2, 7)
	defer cycler.Close()
	defer streamer.Close()

	want, err := cycler.Cycle(t.Context())
	require.NoError(t, err)
	var got Cycle
	deliveries := 0
	err = streamer.Stream(t.Context(), func(d Delivery) error {
		deliveries++
		got.Fetches = append(got.Fetches, d.Fetch)
		got.Requests = append(got.Requests, d.Fetch.Requests...)
		got.Requests = append(got.Requests, d.BalanceRequests...)
		got.Accounts = append(got.Accounts, d.Accounts...)
		got.Balances = append(got.Balances, d.Balances...)
		got.Beneficiaries = append(got.Beneficiaries, d.Beneficiaries...)
		got.Transactions = append(got.Transactions, d.Transactions...)
		return nil
	})
	require.NoError(t, err)
	assert.Len(t, want.Transactions, 300)
	assert.Equal(t, len(want.Fetches), deliveries, "one delivery per fetch")
	assert.Equal(t, ids(want.Accounts, accountID), ids(got.Accounts, accountID))
	assert.Equal(t, ids(want.Transactions, txID), ids(got.Transactions, txID))
	assert.Equal(t, len(want.Balances), len(got.Balances))
	assert.Equal(t, want.Requests, got.Requests)
	assert.Equal(t, cycler.State(), streamer.State())
}

// TestStreamErrorFromFnKeepsTheRouteState: when fn refuses a delivery, Stream stops with its error
// and the route's state stays where it was, so the next cycle delivers the same items again.
func TestStreamErrorFromFnKeepsTheRouteState(t *testing.T) {
	ds := Generate(GenSpec{Seed: 5, Accounts: 3, Beneficiaries: 3, Transactions: 20})
	_, target := serveMemory(t, ds)
	poller := NewPoller(target, 10)
	defer poller.Close()
	refused := errors.New("store is down")
	err := poller.Stream(t.Context(), func(d Delivery) error {
		if len(d.Transactions) > 0 {
			return refused
		}
		return nil
	})
	require.ErrorIs(t, err, refused)
	state := poller.State()
	assert.True(t, state.Transactions.IsZero(), "the refused fetch did not move the state")
	assert.False(t, state.Accounts.IsZero(), "earlier routes moved on")

	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.Len(t, cy.Transactions, 20, "delivered again")
	assert.Empty(t, cy.Accounts)
}

// TestStreamDeliversTheFailingFetch: a fetch that fails is handed to fn with its requests and no
// items, then Stream returns the *FetchError.
func TestStreamDeliversTheFailingFetch(t *testing.T) {
	poller := NewPoller(Target{Handler: newRefServer(faultBadEnum).handler(), APIKey: testKey}, 25)
	defer poller.Close()
	var last Delivery
	err := poller.Stream(t.Context(), func(d Delivery) error { last = d; return nil })
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "/transactions", last.Fetch.Path)
	assert.Empty(t, last.Transactions)
	require.NotEmpty(t, last.Fetch.Requests)
	assert.Equal(t, fe.Request, last.Fetch.Requests[len(last.Fetch.Requests)-1])
}

func accountID(a models.Account) string { return a.ID }
func txID(t models.Transaction) string  { return t.ID + " " + string(t.Status) }
