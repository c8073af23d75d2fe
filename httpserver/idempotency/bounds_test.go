package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
)

func payoutKey(tenant, key string) idempotency.Key {
	return idempotency.Key{Tenant: tenant, Route: "POST /payouts", IdempotencyKey: key}
}

func TestMemoryStoreRefusesNewKeysPastItsRecordBound(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now), idempotency.WithMaxRecordsPerTenant(3))
	ctx := context.Background()
	fp := []byte("fp")

	tokens := map[string]string{}
	for _, k := range []string{"a", "b", "c"} {
		out, err := s.Begin(ctx, payoutKey("t", k), fp, time.Hour)
		require.NoError(t, err)
		tokens[k] = out.Token
	}
	require.NoError(t, s.Complete(ctx, payoutKey("t", "a"), tokens["a"], idempotency.Answer{Status: 201, Body: []byte(`{"id":"po_a"}`)}, 2*time.Hour))

	_, err := s.Begin(ctx, payoutKey("t", "d"), fp, time.Hour)
	var full *idempotency.StoreFullError
	require.ErrorAs(t, err, &full)
	assert.ErrorIs(t, err, idempotency.ErrStoreFull)
	assert.Equal(t, idempotency.StoreFullError{Tenant: "t", Limit: "records", Max: 3}, *full)
	assert.Equal(t, `idempotency: store full: tenant "t" holds the most records it may (3): a new key is refused until older ones expire`, err.Error())

	// The keys held are still answered: nothing was forgotten to make room.
	out, err := s.Begin(ctx, payoutKey("t", "a"), fp, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Completed, out.Kind)
	assert.Equal(t, `{"id":"po_a"}`, string(out.Answer.Body))
	out, err = s.Begin(ctx, payoutKey("t", "b"), fp, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, idempotency.InFlight, out.Kind)
	// Another tenant has its own bound.
	_, err = s.Begin(ctx, payoutKey("u", "d"), fp, time.Hour)
	require.NoError(t, err)

	// An abandoned key makes room; so does an expired record, without a call to Purge.
	require.NoError(t, s.Abandon(ctx, payoutKey("t", "b"), tokens["b"]))
	out, err = s.Begin(ctx, payoutKey("t", "d"), fp, time.Hour)
	require.NoError(t, err)
	require.Equal(t, idempotency.Acquired, out.Kind)
	_, err = s.Begin(ctx, payoutKey("t", "e"), fp, time.Hour)
	require.ErrorIs(t, err, idempotency.ErrStoreFull)
	clock.Advance(time.Hour) // "c" and "d", in flight, expire; "a", completed, stays for its retention
	out, err = s.Begin(ctx, payoutKey("t", "e"), fp, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, out.Kind)
	records, _ := s.Usage("t")
	assert.Equal(t, 2, records, "a and e")
}

func TestMemoryStoreRefusesNewKeysPastItsByteBound(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now), idempotency.WithMaxBytesPerTenant(4096))
	ctx := context.Background()
	fp := []byte("fp")
	body := []byte(`{"id":"` + strings.Repeat("x", 1500) + `"}`)

	var stored int
	for i := range 10 {
		k := fmt.Sprintf("k%d", i)
		out, err := s.Begin(ctx, payoutKey("t", k), fp, time.Hour)
		if errors.Is(err, idempotency.ErrStoreFull) {
			var full *idempotency.StoreFullError
			require.ErrorAs(t, err, &full)
			assert.Equal(t, "bytes", full.Limit)
			assert.EqualValues(t, 4096, full.Max)
			break
		}
		require.NoError(t, err)
		// Complete always stores, even when the answer takes the tenant past the bound.
		require.NoError(t, s.Complete(ctx, payoutKey("t", k), out.Token, idempotency.Answer{Status: 201, Body: body, CreatedID: k}, 2*time.Hour))
		stored++
	}
	assert.Equal(t, 3, stored, "three answers of 1.5 KB fill 4 KB (the third one goes over)")
	_, bytes := s.Usage("t")
	assert.Greater(t, bytes, int64(4096))

	// When the answers expire the room comes back, but the links (kept far longer) still count.
	clock.Advance(3 * time.Hour)
	n, err := s.Purge(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	records, bytes := s.Usage("t")
	assert.Equal(t, 0, records)
	assert.Greater(t, bytes, int64(0), "the links of the created payouts")
	links, err := s.Linked(ctx, "t", []string{"k0", "k1", "k2"})
	require.NoError(t, err)
	assert.Len(t, links, 3)
	clock.Advance(idempotency.DefaultLinkRetention)
	_, err = s.Purge(ctx)
	require.NoError(t, err)
	records, bytes = s.Usage("t")
	assert.Equal(t, 0, records)
	assert.Zero(t, bytes, "nothing is left counted once everything expired")
}

// A memory store that lets each tenant hold at most 2 records: the third new key is refused, and
// the keys it holds are still answered.
func ExampleWithMaxRecordsPerTenant() {
	s := idempotency.NewMemoryStore(idempotency.WithMaxRecordsPerTenant(2))
	ctx := context.Background()
	for _, k := range []string{"po-1", "po-2", "po-3"} {
		out, err := s.Begin(ctx, payoutKey("acme", k), []byte("fp"), time.Hour)
		fmt.Println(k, out.Kind, errors.Is(err, idempotency.ErrStoreFull))
	}
	out, _ := s.Begin(ctx, payoutKey("acme", "po-1"), []byte("fp"), time.Hour)
	fmt.Println("po-1 again:", out.Kind)
	// Output:
	// po-1 Acquired false
	// po-2 Acquired false
	// po-3 OutcomeKind(0) true
	// po-1 again: InFlight
}
