package idempotency_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/httpserver/idempotency/storetest"
	"github.com/pspconnect/pspconnect/models"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) idempotency.Store { return idempotency.NewMemoryStore() })
}

// fakeClock is a clock that moves only when told.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestMemoryStoreSweepsExpiredRecordsOnBegin(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now))
	ctx := context.Background()
	fp := []byte("fp")

	for _, k := range []string{"a", "b", "c"} {
		out, err := s.Begin(ctx, idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: k}, fp, time.Hour)
		require.NoError(t, err)
		require.NoError(t, s.Complete(ctx, idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: k}, out.Token,
			idempotency.Answer{Status: 201}, 2*time.Hour))
	}
	require.Equal(t, 3, s.Len())

	clock.Advance(3 * time.Hour)
	_, err := s.Begin(ctx, idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: "d"}, fp, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Len(), "the expired records are swept by a later Begin, without a call to Purge")
}

func TestMemoryStoreExpiryFollowsItsClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now))
	ctx := context.Background()
	key := idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: "k"}

	out, err := s.Begin(ctx, key, []byte("fp"), idempotency.DefaultInFlightTTL)
	require.NoError(t, err)
	assert.Equal(t, clock.now.Add(24*time.Hour), out.ExpiresAt)

	clock.Advance(idempotency.DefaultInFlightTTL - time.Second)
	out, err = s.Begin(ctx, key, []byte("fp"), idempotency.DefaultInFlightTTL)
	require.NoError(t, err)
	assert.Equal(t, idempotency.InFlight, out.Kind, "an unfinished request blocks its key until the in-flight TTL ends")

	clock.Advance(time.Second)
	out, err = s.Begin(ctx, key, []byte("fp"), idempotency.DefaultInFlightTTL)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, out.Kind)
}

func TestMemoryStoreBeginWithCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := idempotency.NewMemoryStore().Begin(ctx, idempotency.Key{}, nil, time.Hour)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestFingerprint(t *testing.T) {
	decode := func(body string) models.PayoutRequest {
		var req models.PayoutRequest
		require.NoError(t, json.Unmarshal([]byte(body), &req))
		return req
	}
	base := `{"idempotencyKey":"ik_1","amount":"100","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b","metadata":{"x":"1","y":"2"}}`
	same := []string{
		base,
		`{ "metadata": {"y":"2", "x":"1"}, "destinationAccountId":"b", "sourceAccountId":"a", "currency":"USD/2", "amount":"100", "idempotencyKey":"ik_1" }`,
		`{"idempotencyKey":"ik_\u0031","amount":"100","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b","metadata":{"x":"1","y":"2"},"unknown":true}`,
	}
	different := []string{
		`{"idempotencyKey":"ik_1","amount":"101","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b","metadata":{"x":"1","y":"2"}}`,
		`{"idempotencyKey":"ik_1","amount":"100","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"c","metadata":{"x":"1","y":"2"}}`,
		`{"idempotencyKey":"ik_1","amount":"100","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b","metadata":{"x":"1"}}`,
		`{"idempotencyKey":"ik_1","amount":"100","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b","metadata":{"x":"1","y":"2"},"description":"d"}`,
	}
	want, err := idempotency.Fingerprint(decode(base))
	require.NoError(t, err)
	require.Len(t, want, 32)
	for _, body := range same {
		got, err := idempotency.Fingerprint(decode(body))
		require.NoError(t, err)
		assert.Equal(t, want, got, "same request, written differently: %s", body)
	}
	for _, body := range different {
		got, err := idempotency.Fingerprint(decode(body))
		require.NoError(t, err)
		assert.NotEqual(t, want, got, "different request: %s", body)
	}
	_, err = idempotency.Fingerprint(func() {})
	assert.Error(t, err)
}

func TestOutcomeKindString(t *testing.T) {
	assert.Equal(t, "InFlight", idempotency.InFlight.String())
	assert.Equal(t, "OutcomeKind(9)", idempotency.OutcomeKind(9).String())
}

// TestMemoryStoreHasLinks: HasLinks follows the tenant's links, as Linked reads them: none before a
// write that created an object, one after, none once its link is purged; another tenant's links
// do not count, and a link stored again for the same id is counted once.
func TestMemoryStoreHasLinks(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now), idempotency.WithMemoryLinkRetention(time.Hour))
	ctx := context.Background()
	write := func(tenant, key, created string) {
		t.Helper()
		k := idempotency.Key{Tenant: tenant, Route: "POST /payouts", IdempotencyKey: key}
		out, err := s.Begin(ctx, k, []byte("fp"), time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.Complete(ctx, k, out.Token, idempotency.Answer{Status: 201, CreatedID: created}, time.Minute))
	}
	assert.False(t, s.HasLinks("t"))
	write("t", "refused", "") // a write that created nothing leaves no link
	assert.False(t, s.HasLinks("t"))
	write("t", "k1", "po_1")
	write("t", "k2", "po_1") // the same id again: still one link
	assert.True(t, s.HasLinks("t"))
	assert.False(t, s.HasLinks("other"))
	links, err := s.Linked(ctx, "t", []string{"po_1"})
	require.NoError(t, err)
	assert.Equal(t, "k2", links["po_1"].IdempotencyKey)

	clock.Advance(2 * time.Hour)
	_, err = s.Purge(ctx)
	require.NoError(t, err)
	assert.False(t, s.HasLinks("t"), "the link expired and was purged")
	records, bytes := s.Usage("t")
	assert.Zero(t, records)
	assert.Zero(t, bytes)
}

// TestMemoryStoreWithClashingKeyHashes runs the store suite, and the bounds and expiry checks, on
// a store whose keys all hash alike (or to one of two), so that records live beside one another
// in the clash map and move between it and the hash index as they come and go.
func TestMemoryStoreWithClashingKeyHashes(t *testing.T) {
	for name, hash := range map[string]func(idempotency.Key) uint64{
		"one hash":   func(idempotency.Key) uint64 { return 7 },
		"two hashes": func(k idempotency.Key) uint64 { return uint64(len(k.IdempotencyKey) % 2) },
	} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(*testing.T) idempotency.Store {
				s := idempotency.NewMemoryStore()
				idempotency.SetKeyHash(s, hash)
				return s
			})

			clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
			s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now), idempotency.WithMaxRecordsPerTenant(3))
			idempotency.SetKeyHash(s, hash)
			ctx := context.Background()
			key := func(k string) idempotency.Key {
				return idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: k}
			}
			tokens := map[string]string{}
			for _, k := range []string{"a", "bb", "c"} {
				out, err := s.Begin(ctx, key(k), []byte("fp"), time.Hour)
				require.NoError(t, err)
				require.Equal(t, idempotency.Acquired, out.Kind, k)
				tokens[k] = out.Token
			}
			_, err := s.Begin(ctx, key("d"), []byte("fp"), time.Hour)
			require.ErrorIs(t, err, idempotency.ErrStoreFull)
			// A record taken out from beside the others and put back: the others stay as they are.
			for _, k := range []string{"c", "bb"} {
				require.NoError(t, s.Abandon(ctx, key(k), tokens[k]))
				out, err := s.Begin(ctx, key(k), []byte("fp"), time.Hour)
				require.NoError(t, err)
				require.Equal(t, idempotency.Acquired, out.Kind, k)
				tokens[k] = out.Token
				for _, other := range []string{"a", "bb", "c"} {
					out, err := s.Begin(ctx, key(other), []byte("fp"), time.Hour)
					require.NoError(t, err)
					require.Equal(t, idempotency.InFlight, out.Kind, "%s after %s came back", other, k)
				}
			}
			// The same through expiry: c's record in flight past its TTL is replaced by a new one.
			require.NoError(t, s.Abandon(ctx, key("c"), tokens["c"]))
			out, err := s.Begin(ctx, key("c"), []byte("fp"), 10*time.Second)
			require.NoError(t, err)
			require.Equal(t, idempotency.Acquired, out.Kind)
			clock.Advance(20 * time.Second) // within the sweep interval: Begin replaces it itself
			out, err = s.Begin(ctx, key("c"), []byte("fp"), time.Hour)
			require.NoError(t, err)
			require.Equal(t, idempotency.Acquired, out.Kind, "c's record expired")
			tokens["c"] = out.Token
			for _, other := range []string{"a", "bb", "c"} {
				out, err := s.Begin(ctx, key(other), []byte("fp"), time.Hour)
				require.NoError(t, err)
				require.Equal(t, idempotency.InFlight, out.Kind, "%s after c's record was replaced", other)
			}
			require.NoError(t, s.Abandon(ctx, key("a"), tokens["a"])) // the one in the index, or in clash
			require.NoError(t, s.Complete(ctx, key("bb"), tokens["bb"], idempotency.Answer{Status: 201, Body: []byte(`{}`)}, time.Hour))
			for _, k := range []string{"a", "d"} {
				out, err := s.Begin(ctx, key(k), []byte("fp"), time.Minute)
				if k == "d" {
					require.ErrorIs(t, err, idempotency.ErrStoreFull)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, idempotency.Acquired, out.Kind, "%s was abandoned", k)
			}
			out, err = s.Begin(ctx, key("bb"), []byte("fp"), time.Minute)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Completed, out.Kind)
			out, err = s.Begin(ctx, key("c"), []byte("other"), time.Minute)
			require.NoError(t, err)
			assert.Equal(t, idempotency.Mismatch, out.Kind)
			assert.Equal(t, 3, s.Len())

			clock.Advance(2 * time.Hour)
			n, err := s.Purge(ctx)
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			assert.Zero(t, s.Len())
			records, bytes := s.Usage("t")
			assert.Zero(t, records)
			assert.Zero(t, bytes)
		})
	}
}

// TestMemoryStoreAfterAPeakIsPurged: after a peak of writes whose records and links mostly expire,
// a purge (which compacts the store's maps) leaves every record still live answering as before,
// its link found, the tenant's usage counting exactly what is left, and the store taking new keys.
func TestMemoryStoreAfterAPeakIsPurged(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := idempotency.NewMemoryStore(idempotency.WithClock(clock.Now), idempotency.WithMemoryLinkRetention(90*time.Minute))
	ctx := context.Background()
	key := func(i int) idempotency.Key {
		return idempotency.Key{Tenant: "t", Route: "POST /payouts", IdempotencyKey: fmt.Sprintf("key-%d", i)}
	}
	const n, kept = 5000, 250 // every 20th record is kept for 48 hours, the rest for 1 hour
	for i := range n {
		out, err := s.Begin(ctx, key(i), []byte(fmt.Sprintf("fp-%d", i)), time.Hour)
		require.NoError(t, err)
		retention := time.Hour
		if i%20 == 0 {
			retention = 48 * time.Hour
		}
		require.NoError(t, s.Complete(ctx, key(i), out.Token,
			idempotency.Answer{Status: 201, Body: []byte(fmt.Sprintf(`{"id":"po_%d"}`, i)), CreatedID: fmt.Sprintf("po_%d", i)}, retention))
	}
	_, before := s.Usage("t")
	clock.Advance(80 * time.Minute) // the short records expire; every link is still kept
	purged, err := s.Purge(ctx)
	require.NoError(t, err)
	assert.Equal(t, n-kept, purged)
	records, bytes := s.Usage("t")
	assert.Equal(t, kept, records)
	assert.Less(t, bytes, before)

	ids := make([]string, 0, n)
	for i := range n {
		ids = append(ids, fmt.Sprintf("po_%d", i))
	}
	links, err := s.Linked(ctx, "t", ids)
	require.NoError(t, err)
	assert.Len(t, links, n, "links outlive the records of their writes")
	assert.Equal(t, idempotency.Link{Route: "POST /payouts", IdempotencyKey: "key-40"}, links["po_40"])
	assert.Equal(t, idempotency.Link{Route: "POST /payouts", IdempotencyKey: "key-41"}, links["po_41"])

	clock.Advance(20 * time.Minute) // the links expire too
	_, err = s.Purge(ctx)
	require.NoError(t, err)
	links, err = s.Linked(ctx, "t", ids)
	require.NoError(t, err)
	assert.Empty(t, links)
	assert.False(t, s.HasLinks("t"))

	for i := 0; i < n; i += 20 {
		out, err := s.Begin(ctx, key(i), []byte(fmt.Sprintf("fp-%d", i)), time.Hour)
		require.NoError(t, err)
		require.Equal(t, idempotency.Completed, out.Kind, "key %d", i)
		assert.Equal(t, fmt.Sprintf(`{"id":"po_%d"}`, i), string(out.Answer.Body))
		out, err = s.Begin(ctx, key(i), []byte("another body"), time.Hour)
		require.NoError(t, err)
		assert.Equal(t, idempotency.Mismatch, out.Kind, "key %d", i)
	}
	out, err := s.Begin(ctx, key(1), []byte("fp-1"), time.Hour)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, out.Kind, "an expired key is new again")
	assert.Equal(t, kept+1, s.Len())
}
