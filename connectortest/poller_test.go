package connectortest

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// TestPollerFollowsTheContract replays, request by request, the fetches the contract describes on
// accounts with sub-second timestamps, two of which are equal, with pageSize 2: the cut between the
// equal ones loses acc_3, exactly as Formance does.
func TestPollerFollowsTheContract(t *testing.T) {
	base := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	p := NewLossyMemoryProvider()
	for i, ms := range []int{100, 200, 200, 1000, 1500, 1600} {
		require.NoError(t, p.PutAccounts(models.Account{ID: fmt.Sprintf("acc_%d", i+1), AccountName: "A", CreatedAt: at(ms)}))
	}
	_, target := serveProvider(t, p)
	poller := NewPoller(target, 2)
	defer poller.Close()

	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)

	assert.Equal(t, []string{"acc_1", "acc_2", "acc_4", "acc_5", "acc_6"}, ids(cy.Accounts, func(a models.Account) string { return a.ID }))
	assert.Equal(t, []string{"acc_1", "acc_2", "acc_4", "acc_5", "acc_6"}, ids(cy.Balances, func(b models.Balances) string { return b.AccountID }))
	assert.Empty(t, cy.Beneficiaries)
	assert.Empty(t, cy.Transactions)

	type fetch struct {
		queries []string
		kept    int
		hasMore bool
		after   time.Time
	}
	var got []fetch
	for _, f := range cy.Fetches {
		if f.Path != "/accounts" {
			continue
		}
		var qs []string
		for _, r := range f.Requests {
			qs = append(qs, r.Query)
		}
		got = append(got, fetch{qs, f.Kept, f.HasMore, f.After})
	}
	from0 := "&createdAtFrom=2024-01-01T10:00:00Z"
	from1 := "&createdAtFrom=2024-01-01T10:00:01Z"
	want := []fetch{
		// S is zero: no From. Two items kept, the page was full: has more.
		{[]string{"page=1&pageSize=2&sort=createdAt:asc"}, 2, true, at(200)},
		// S=10:00:00.2 sent as 10:00:00Z. acc_3 (also .200) is not after S; acc_4, acc_5, acc_6 are,
		// so the fetch cuts after acc_5: has more.
		{[]string{"page=1&pageSize=2&sort=createdAt:asc" + from0, "page=2&pageSize=2&sort=createdAt:asc" + from0, "page=3&pageSize=2&sort=createdAt:asc" + from0}, 2, true, at(1500)},
		// S=10:00:01.5 sent as 10:00:01Z: page 1 holds nothing new, page 2 acc_6 and is short: the end.
		{[]string{"page=1&pageSize=2&sort=createdAt:asc" + from1, "page=2&pageSize=2&sort=createdAt:asc" + from1}, 1, false, at(1600)},
	}
	assert.Equal(t, want, got)
	assert.True(t, poller.State().Accounts.Equal(at(1600)), "state %v", poller.State())
	assert.True(t, poller.State().Transactions.IsZero())

	// Balances are asked for right after the accounts fetch that delivered them.
	require.GreaterOrEqual(t, len(cy.Requests), 3)
	assert.Equal(t, "GET /accounts?page=1&pageSize=2&sort=createdAt:asc", cy.Requests[0].String())
	assert.Equal(t, "GET /accounts/acc_1/balances", cy.Requests[1].String())
	assert.Equal(t, "GET /accounts/acc_2/balances", cy.Requests[2].String())

	// Nothing new: the next cycle delivers nothing and keeps the state.
	cy, err = poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.True(t, cy.Empty())
	assert.True(t, poller.State().Accounts.Equal(at(1600)))
}

// TestPollerDecodesLikeTheClient: an item Formance's client cannot decode fails the fetch with an
// error naming the request, wrapping ErrUndecodable and the models error, and leaves the route's
// state where it was so that the same fetch is retried.
func TestPollerDecodesLikeTheClient(t *testing.T) {
	tests := []struct {
		fault fault
		path  string
		is    error
	}{
		{faultBadEnum, "/transactions", models.ErrInvalidEnum},
		{faultDecimalAmount, "/transactions", models.ErrInvalidAmount},
		{faultFloatAmount, "/transactions", models.ErrInvalidAmount},
		{faultLowercaseAsset, "/transactions", models.ErrInvalidAsset},
		{faultMissingField, "/accounts", models.ErrInvalid},
		{faultBadTime, "/accounts", ErrUndecodable},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			poller := NewPoller(Target{Handler: newRefServer(tt.fault).handler(), APIKey: testKey}, 25)
			defer poller.Close()
			before := poller.State()
			_, err := poller.Cycle(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrUndecodable)
			assert.ErrorIs(t, err, tt.is)
			var fe *FetchError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.path, fe.Request.Path)
			assert.Contains(t, err.Error(), "GET "+tt.path+"?page=1&pageSize=25")
			if tt.path == "/transactions" {
				assert.Equal(t, before.Transactions, poller.State().Transactions)
				assert.Contains(t, err.Error(), brokenTx)
			} else {
				assert.Equal(t, before.Accounts, poller.State().Accounts)
				assert.Contains(t, err.Error(), brokenAccount)
			}
		})
	}
}

// TestPollerErrors: a non-200 answer, a wrong key and an unusable target are errors of the cycle.
func TestPollerErrors(t *testing.T) {
	t.Run("500", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeErr(w, 500, "Internal Server Error", "boom") })
		poller := NewPoller(Target{Handler: h, APIKey: testKey}, 0)
		defer poller.Close()
		assert.Equal(t, DefaultPollerPageSize, poller.PageSize())
		_, err := poller.Cycle(t.Context())
		assert.ErrorIs(t, err, ErrUnexpectedStatus)
		assert.ErrorContains(t, err, "GET /accounts?page=1&pageSize=25&sort=createdAt:asc: unexpected status 500")
	})
	t.Run("wrong key", func(t *testing.T) {
		poller := NewPoller(Target{Handler: newRefServer(faultNone).handler(), APIKey: "nope"}, 25)
		defer poller.Close()
		_, err := poller.Cycle(t.Context())
		assert.ErrorIs(t, err, ErrUnexpectedStatus)
		assert.ErrorContains(t, err, "401")
	})
	t.Run("no target", func(t *testing.T) {
		_, err := NewPoller(Target{}, 25).Cycle(t.Context())
		assert.ErrorIs(t, err, ErrTarget)
		_, err = NewPoller(Target{BaseURL: "localhost:8080"}, 25).Cycle(t.Context())
		assert.ErrorIs(t, err, ErrTarget)
	})
	t.Run("page ignored", func(t *testing.T) {
		// Every page is the same full page: the fetch never ends by itself.
		h := http.NewServeMux()
		h.HandleFunc("GET /accounts", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 200, []models.Account{{ID: "acc_1", AccountName: "A", CreatedAt: time.Unix(1, 0).UTC()}})
		})
		h.HandleFunc("GET /accounts/{id}/balances", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, models.Balances{ID: "b", AccountID: r.PathValue("id"), At: time.Unix(1, 0).UTC(), Balances: []models.Balance{}})
		})
		poller := NewPoller(Target{Handler: h, APIKey: testKey}, 1)
		poller.maxPages = 50
		defer poller.Close()
		_, err := poller.Cycle(t.Context())
		assert.ErrorIs(t, err, ErrRunaway)
		assert.ErrorContains(t, err, "GET /accounts?page=51&pageSize=1&sort=createdAt:asc&createdAtFrom=1970-01-01T00:00:01Z: fetch does not end: 50 pages read")
	})
}

// TestPollerSetState resumes from a given state: only later items arrive.
func TestPollerSetState(t *testing.T) {
	ds := Generate(GenSpec{Seed: 1, Accounts: 50, Beneficiaries: 1, Transactions: 1})
	_, target := serveMemory(t, ds)
	poller := NewPoller(target, 10)
	defer poller.Close()
	cut := ds.Accounts[29].CreatedAt
	poller.SetState(State{Accounts: cut, Beneficiaries: ds.Beneficiaries[0].CreatedAt, Transactions: ds.Transactions[0].UpdatedAt})
	cy, err := poller.Cycle(t.Context())
	require.NoError(t, err)
	assert.Len(t, cy.Accounts, 20)
	assert.Equal(t, "acc_0031", cy.Accounts[0].ID)
	assert.Empty(t, cy.Beneficiaries)
	assert.Empty(t, cy.Transactions)
}

func TestFetchErrorUnwrap(t *testing.T) {
	inner := errors.New("inner")
	err := &FetchError{Request: Request{Method: "GET", Path: "/accounts", Query: "page=1"}, Err: inner}
	assert.ErrorIs(t, err, inner)
	assert.Equal(t, "GET /accounts?page=1: inner", err.Error())
}
