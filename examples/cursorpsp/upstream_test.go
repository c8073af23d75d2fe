package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
)

func newUpstreamClient(t *testing.T, up *Upstream) *Client {
	t.Helper()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return NewClient(srv.URL, srv.Client())
}

func TestUpstreamListsByCreatedWithStartingAfter(t *testing.T) {
	up := NewUpstream(rate.Inf, 1)
	ds := up.Dataset("sk")
	for _, at := range []int64{t0, t0, t0 + 1, t0 + 1, t0 + 1, t0 + 5} {
		_, err := ds.AddBeneficiary("b", at)
		require.NoError(t, err)
	}
	_, err := ds.AddBeneficiary("late", t0)
	require.ErrorIs(t, err, ErrOutOfOrder)
	c := newUpstreamClient(t, up)
	ctx := context.Background()
	ids := func(l list[UpstreamBeneficiary]) []string {
		var out []string
		for _, b := range l.Data {
			out = append(out, b.ID)
		}
		return out
	}

	l, err := c.Beneficiaries(ctx, "sk", 2, 0, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"ba_000001", "ba_000002"}, ids(l))
	assert.True(t, l.HasMore)
	l, err = c.Beneficiaries(ctx, "sk", 2, 0, "ba_000002")
	require.NoError(t, err)
	assert.Equal(t, []string{"ba_000003", "ba_000004"}, ids(l))
	l, err = c.Beneficiaries(ctx, "sk", 10, t0+1, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"ba_000003", "ba_000004", "ba_000005", "ba_000006"}, ids(l), "created[gte] is inclusive")
	assert.False(t, l.HasMore)
	l, err = c.Beneficiaries(ctx, "sk", 10, t0+1, "ba_000001")
	require.NoError(t, err)
	assert.Equal(t, []string{"ba_000003", "ba_000004", "ba_000005", "ba_000006"}, ids(l), "both bounds apply")

	_, err = c.Beneficiaries(ctx, "sk", 10, 0, "ba_999999")
	require.Error(t, err)
	_, err = c.Beneficiaries(ctx, "unknown", 10, 0, "")
	require.Error(t, err)
	assert.Equal(t, 5, up.Calls("sk", "/v1/beneficiaries"))
}

func TestUpstreamTransactionsMoveOnChange(t *testing.T) {
	up := NewUpstream(rate.Inf, 1)
	ds := up.Dataset("sk")
	var ids []string
	for range 4 {
		tx, err := ds.AddTransaction(UpstreamTransaction{Created: t0, Amount: 1, Currency: "eur", Type: "payin", Status: "pending"})
		require.NoError(t, err)
		ids = append(ids, tx.ID)
	}
	_, err := ds.SetStatus(ids[0], "succeeded", t0) // same second: moves to the end of it
	require.NoError(t, err)
	_, err = ds.SetStatus(ids[1], "failed", t0+2)
	require.NoError(t, err)
	_, err = ds.SetStatus(ids[2], "failed", t0+1)
	require.ErrorIs(t, err, ErrOutOfOrder, "changes happen in time order")
	_, err = ds.SetStatus("txn_nope", "failed", t0+3)
	require.ErrorIs(t, err, ErrNoSuchObject)

	c := newUpstreamClient(t, up)
	ctx := context.Background()
	var got []string
	page := ""
	for {
		l, err := c.Transactions(ctx, "sk", 1, 0, page)
		require.NoError(t, err)
		for _, tx := range l.Data {
			got = append(got, tx.ID+" "+tx.Status)
		}
		if !l.HasMore {
			require.Nil(t, l.NextPage)
			break
		}
		page = *l.NextPage
	}
	assert.Equal(t, []string{ids[2] + " pending", ids[3] + " pending", ids[0] + " succeeded", ids[1] + " failed"}, got)
	l, err := c.Transactions(ctx, "sk", 10, t0+1, "")
	require.NoError(t, err)
	require.Len(t, l.Data, 1)
	assert.Equal(t, ids[1], l.Data[0].ID, "updated[gte]")
}

func TestUpstreamErrorsMapToProviderErrors(t *testing.T) {
	up := NewUpstream(0.001, 1)
	ds := up.Dataset("sk")
	a, err := ds.AddAccount("a", t0, UpstreamMoney{Amount: -5, Currency: "jpy"})
	require.NoError(t, err)
	c := newUpstreamClient(t, up)
	ctx := context.Background()
	b, err := c.Balance(ctx, "sk", a.ID)
	require.NoError(t, err)
	assert.Equal(t, []UpstreamMoney{{Amount: -5, Currency: "jpy"}}, b.Available)
	_, err = c.Balance(ctx, "sk", a.ID) // the burst of 1 is spent
	require.ErrorIs(t, err, connector.ErrRateLimited)
	assert.Equal(t, http.StatusTooManyRequests, connector.HTTPStatus(err))
	assert.Positive(t, connector.RetryAfter(err))

	up2 := NewUpstream(rate.Inf, 1)
	up2.Dataset("sk")
	c2 := newUpstreamClient(t, up2)
	_, err = c2.Balance(ctx, "sk", "acct_nope")
	require.ErrorIs(t, err, connector.ErrNotFound)
	_, err = c2.Accounts(ctx, "wrong", 10, 0, "")
	require.Error(t, err)
	assert.Equal(t, http.StatusInternalServerError, connector.HTTPStatus(err), "a refused key is the middleware's misconfiguration")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c2.Accounts(cancelled, "sk", 10, 0, "")
	require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, connector.ErrRateLimited), "%v", err)
}

func TestConversions(t *testing.T) {
	assert.Equal(t, "EUR/2", string(asset("eur")))
	assert.Equal(t, "JPY/0", string(asset("jpy")))
	assert.Equal(t, "KWD/3", string(asset("kwd")))
	tx := toTransaction(UpstreamTransaction{ID: "txn_1", Created: t0, Updated: t0 + 3, Amount: 250, Currency: "usd",
		Type: "payout", Status: "canceled", Source: "acct_1", Metadata: map[string]string{"k": "v"}})
	assert.Equal(t, "PAYOUT", string(tx.Type))
	assert.Equal(t, "CANCELLED", string(tx.Status))
	assert.Equal(t, "250", tx.Amount.String())
	assert.Equal(t, fromUnix(t0+3), tx.UpdatedAt)
	assert.Equal(t, "OTHER", string(transactionType("adjustment")))
	assert.Equal(t, "OTHER", string(transactionStatus("in_transit")))
	assert.Equal(t, "DISPUTE", string(transactionStatus("disputed")))
}
