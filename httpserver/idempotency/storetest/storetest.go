// Package storetest checks an idempotency.Store implementation against the rules of package
// idempotency: one owner per key even under concurrent Begin calls, exact replay of stored answers,
// refusal of a different fingerprint, Abandon and Complete guarded by the owner token, expiry of
// in-flight and completed records, Purge, keys that are binary-safe and isolated by tenant and
// route, and the links from created payouts and transfers to their writes (Linked). Call Run from a test of your store:
//
//	func TestRedisStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) idempotency.Store { return newIsolatedRedisStore(t) })
//	}
//
// It is for tests only. It sleeps a little (well under a second per check) to let short TTLs expire,
// and reads the store's own clock only through Begin's outcomes.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/httpserver/idempotency"
)

// shortTTL is the TTL used by the checks of expiry; they sleep expirySleep to pass it.
const (
	shortTTL    = 150 * time.Millisecond
	expirySleep = 400 * time.Millisecond
	longTTL     = time.Hour
)

// Run runs every check as a subtest of t. newStore must return an empty store that no other subtest
// uses (a fresh MemoryStore, a PostgreSQL store on its own table, …); it may register cleanups on the
// *testing.T it is given.
func Run(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, s idempotency.Store)
	}{
		{"FirstBeginAcquires", checkFirstBeginAcquires},
		{"RepeatWhileInFlight", checkRepeatWhileInFlight},
		{"CompletedAnswerIsReplayedExactly", checkCompletedAnswerIsReplayed},
		{"AbandonLetsTheNextRequestAcquire", checkAbandon},
		{"TokenGuardsCompleteAndAbandon", checkTokenGuards},
		{"KeysAreIsolated", checkKeysAreIsolated},
		{"KeysAndBodiesAreBinarySafe", checkBinarySafe},
		{"InFlightRecordExpires", checkInFlightExpires},
		{"CompletedRecordExpires", checkCompletedExpires},
		{"PurgeDeletesOnlyExpiredRecords", checkPurge},
		{"ConcurrentBeginHasOneOwner", checkConcurrentBegin},
		{"CreatedObjectsAreLinkedToTheirWrite", checkLinks},
		{"LinksOutliveTheirRecords", checkLinksOutliveRecords},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

var (
	fpA = bytes.Repeat([]byte{0xa1}, 32)
	fpB = bytes.Repeat([]byte{0xb2}, 32)
)

func key(k string) idempotency.Key {
	return idempotency.Key{Tenant: "tenant-1", Route: "POST /payouts", IdempotencyKey: k}
}

func begin(t *testing.T, s idempotency.Store, k idempotency.Key, fp []byte, ttl time.Duration, want idempotency.OutcomeKind) idempotency.Outcome {
	t.Helper()
	out, err := s.Begin(context.Background(), k, fp, ttl)
	if err != nil {
		t.Fatalf("Begin(%s): unexpected error: %v", k, err)
	}
	if out.Kind != want {
		t.Fatalf("Begin(%s): got outcome %s, want %s", k, out.Kind, want)
	}
	return out
}

func complete(t *testing.T, s idempotency.Store, k idempotency.Key, token string, a idempotency.Answer, retention time.Duration) {
	t.Helper()
	if err := s.Complete(context.Background(), k, token, a, retention); err != nil {
		t.Fatalf("Complete(%s) by its owner: unexpected error: %v", k, err)
	}
}

func checkFirstBeginAcquires(t *testing.T, s idempotency.Store) {
	out := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	if out.Token == "" {
		t.Errorf("Begin: Acquired without an owner token")
	}
	if out.CreatedAt.IsZero() || out.ExpiresAt.IsZero() {
		t.Errorf("Begin: Acquired with CreatedAt %v and ExpiresAt %v, want both set", out.CreatedAt, out.ExpiresAt)
	}
	if ttl := out.ExpiresAt.Sub(out.CreatedAt); ttl < longTTL-time.Second || ttl > longTTL+time.Second {
		t.Errorf("Begin with an in-flight TTL of %v: the record expires %v after its creation", longTTL, ttl)
	}
}

func checkRepeatWhileInFlight(t *testing.T, s idempotency.Store) {
	first := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	again := begin(t, s, key("k1"), fpA, longTTL, idempotency.InFlight)
	if again.Token != "" {
		t.Errorf("Begin on an in-flight key returned an owner token")
	}
	if !again.ExpiresAt.Equal(first.ExpiresAt) {
		t.Errorf("Begin on an in-flight key: ExpiresAt %v, want the record's %v (a repeat must not extend the TTL)", again.ExpiresAt, first.ExpiresAt)
	}
	begin(t, s, key("k1"), fpB, longTTL, idempotency.Mismatch)
}

func checkCompletedAnswerIsReplayed(t *testing.T, s idempotency.Store) {
	first := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	body := []byte("{\"id\":\"po_1\",\"description\":\"caf\u00e9 \\u0000\"}\n")
	complete(t, s, key("k1"), first.Token, idempotency.Answer{Status: 201, Body: body}, longTTL)
	for range 2 {
		out := begin(t, s, key("k1"), fpA, longTTL, idempotency.Completed)
		if out.Answer.Status != 201 || !bytes.Equal(out.Answer.Body, body) {
			t.Fatalf("Begin after Complete: replayed %d %q, want 201 %q", out.Answer.Status, out.Answer.Body, body)
		}
	}
	begin(t, s, key("k1"), fpB, longTTL, idempotency.Mismatch)

	// A definitive error answer is replayed the same way.
	second := begin(t, s, key("k2"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("k2"), second.Token, idempotency.Answer{Status: 400, Body: []byte(`{"Title":"Bad Request","Detail":"insufficient funds"}`)}, longTTL)
	if out := begin(t, s, key("k2"), fpA, longTTL, idempotency.Completed); out.Answer.Status != 400 {
		t.Errorf("Begin after Complete with 400: replayed status %d", out.Answer.Status)
	}
}

func checkAbandon(t *testing.T, s idempotency.Store) {
	first := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	if err := s.Abandon(context.Background(), key("k1"), first.Token); err != nil {
		t.Fatalf("Abandon by the owner: %v", err)
	}
	// After Abandon the key is free, for any body.
	second := begin(t, s, key("k1"), fpB, longTTL, idempotency.Acquired)
	if second.Token == first.Token {
		t.Errorf("Begin after Abandon reused the abandoned owner token")
	}
}

func checkTokenGuards(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	first := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	answer := idempotency.Answer{Status: 201, Body: []byte(`{}`)}
	for _, token := range []string{"", "not-the-token", first.Token + "x"} {
		if err := s.Complete(ctx, key("k1"), token, answer, longTTL); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Complete with token %q: got %v, want ErrLeaseLost", token, err)
		}
		if err := s.Abandon(ctx, key("k1"), token); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Abandon with token %q: got %v, want ErrLeaseLost", token, err)
		}
	}
	begin(t, s, key("k1"), fpA, longTTL, idempotency.InFlight)
	if err := s.Complete(ctx, key("other"), first.Token, answer, longTTL); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("Complete of another key with this token: got %v, want ErrLeaseLost", err)
	}

	complete(t, s, key("k1"), first.Token, answer, longTTL)
	if err := s.Complete(ctx, key("k1"), first.Token, idempotency.Answer{Status: 400}, longTTL); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("second Complete by the former owner: got %v, want ErrLeaseLost", err)
	}
	if err := s.Abandon(ctx, key("k1"), first.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("Abandon after Complete: got %v, want ErrLeaseLost", err)
	}
	if out := begin(t, s, key("k1"), fpA, longTTL, idempotency.Completed); out.Answer.Status != 201 {
		t.Errorf("the completed answer was changed after Complete: status %d, want 201", out.Answer.Status)
	}
	if err := s.Abandon(ctx, key("never-begun"), first.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("Abandon of an unknown key: got %v, want ErrLeaseLost", err)
	}
}

func checkKeysAreIsolated(t *testing.T, s idempotency.Store) {
	base := idempotency.Key{Tenant: "tenant-a", Route: "POST /payouts", IdempotencyKey: "k1"}
	variants := []idempotency.Key{
		base,
		{Tenant: "tenant-b", Route: base.Route, IdempotencyKey: base.IdempotencyKey},
		{Tenant: base.Tenant, Route: "POST /transfers", IdempotencyKey: base.IdempotencyKey},
		{Tenant: base.Tenant, Route: base.Route, IdempotencyKey: "K1"},
		{Tenant: base.Tenant, Route: base.Route, IdempotencyKey: "k1 "},
		// Concatenations that collide when the parts are joined without a separator.
		{Tenant: "tenant-aP", Route: "OST /payouts", IdempotencyKey: "k1"},
	}
	for _, k := range variants {
		begin(t, s, k, fpA, longTTL, idempotency.Acquired)
	}
	for _, k := range variants {
		begin(t, s, k, fpA, longTTL, idempotency.InFlight)
	}
}

func checkBinarySafe(t *testing.T, s idempotency.Store) {
	keys := []idempotency.Key{
		{Tenant: "t\x00", Route: "POST /payouts", IdempotencyKey: "a\x00b"},
		{Tenant: "t", Route: "POST /payouts", IdempotencyKey: "a\x00c"},
		{Tenant: "t", Route: "POST /payouts", IdempotencyKey: "\u00e9\u4e16\U0001F600'; DROP TABLE x; --"},
		{Tenant: "t", Route: "POST /payouts", IdempotencyKey: strings.Repeat("long-", 20000)},
		{Tenant: "t", Route: "POST /payouts", IdempotencyKey: ""},
	}
	body := []byte{0, 1, 2, 0xff, 0xfe, '\n', '"'}
	for i, k := range keys {
		out := begin(t, s, k, fpA, longTTL, idempotency.Acquired)
		complete(t, s, k, out.Token, idempotency.Answer{Status: 200 + i, Body: body}, longTTL)
	}
	for i, k := range keys {
		out := begin(t, s, k, fpA, longTTL, idempotency.Completed)
		if out.Answer.Status != 200+i || !bytes.Equal(out.Answer.Body, body) {
			t.Errorf("key %d: replayed %d %x, want %d %x", i, out.Answer.Status, out.Answer.Body, 200+i, body)
		}
	}
	// A nil body is replayed as an empty one.
	out := begin(t, s, key("empty"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("empty"), out.Token, idempotency.Answer{Status: 204}, longTTL)
	if got := begin(t, s, key("empty"), fpA, longTTL, idempotency.Completed); got.Answer.Status != 204 || len(got.Answer.Body) != 0 {
		t.Errorf("empty answer replayed as %d %q", got.Answer.Status, got.Answer.Body)
	}
}

func checkInFlightExpires(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	dead := begin(t, s, key("k1"), fpA, shortTTL, idempotency.Acquired)
	begin(t, s, key("k1"), fpA, longTTL, idempotency.InFlight)
	time.Sleep(expirySleep)
	// The owner "died": after the TTL the key is free again, for any body.
	next := begin(t, s, key("k1"), fpB, longTTL, idempotency.Acquired)
	if next.Token == dead.Token {
		t.Fatalf("Begin after expiry reused the expired owner token")
	}
	if err := s.Complete(ctx, key("k1"), dead.Token, idempotency.Answer{Status: 201}, longTTL); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("Complete by the expired owner after another acquired the key: got %v, want ErrLeaseLost", err)
	}
	if err := s.Abandon(ctx, key("k1"), dead.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("Abandon by the expired owner after another acquired the key: got %v, want ErrLeaseLost", err)
	}
	begin(t, s, key("k1"), fpB, longTTL, idempotency.InFlight)
}

func checkCompletedExpires(t *testing.T, s idempotency.Store) {
	first := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("k1"), first.Token, idempotency.Answer{Status: 201, Body: []byte(`{}`)}, shortTTL)
	begin(t, s, key("k1"), fpA, longTTL, idempotency.Completed)
	time.Sleep(expirySleep)
	begin(t, s, key("k1"), fpB, longTTL, idempotency.Acquired)
}

func checkPurge(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	// Two records that expire soon (one in flight, one completed), two that live on.
	begin(t, s, key("expiring-in-flight"), fpA, shortTTL, idempotency.Acquired)
	out := begin(t, s, key("expiring-completed"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("expiring-completed"), out.Token, idempotency.Answer{Status: 201}, shortTTL)
	live := begin(t, s, key("live-in-flight"), fpA, longTTL, idempotency.Acquired)
	out = begin(t, s, key("live-completed"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("live-completed"), out.Token, idempotency.Answer{Status: 201}, longTTL)

	time.Sleep(expirySleep)
	n, err := s.Purge(ctx)
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if n != 2 {
		t.Errorf("Purge deleted %d records, want the 2 expired ones", n)
	}
	if n, err := s.Purge(ctx); err != nil || n != 0 {
		t.Errorf("second Purge: deleted %d, error %v; want 0, nil", n, err)
	}
	begin(t, s, key("live-in-flight"), fpA, longTTL, idempotency.InFlight)
	begin(t, s, key("live-completed"), fpA, longTTL, idempotency.Completed)
	if err := s.Complete(ctx, key("live-in-flight"), live.Token, idempotency.Answer{Status: 201}, longTTL); err != nil {
		t.Errorf("Complete of a live record after Purge: %v", err)
	}
}

func checkConcurrentBegin(t *testing.T, s idempotency.Store) {
	const n = 50
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex
		outcomes = map[idempotency.OutcomeKind]int{}
		errs     []error
	)
	for range n {
		wg.Go(func() {
			<-start
			out, err := s.Begin(context.Background(), key("k1"), fpA, longTTL)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			outcomes[out.Kind]++
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent Begin: %d errors, first: %v", len(errs), errs[0])
	}
	if outcomes[idempotency.Acquired] != 1 || outcomes[idempotency.InFlight] != n-1 {
		t.Errorf("%d concurrent Begin calls for one key: got %s, want 1 Acquired and %d InFlight", n, describe(outcomes), n-1)
	}
}

func describe(outcomes map[idempotency.OutcomeKind]int) string {
	var parts []string
	for _, k := range []idempotency.OutcomeKind{idempotency.Acquired, idempotency.Completed, idempotency.InFlight, idempotency.Mismatch} {
		parts = append(parts, fmt.Sprintf("%d %s", outcomes[k], k))
	}
	return strings.Join(parts, ", ")
}

// linked calls Linked and fails the test on an error.
func linked(t *testing.T, s idempotency.Store, tenant string, ids ...string) map[string]idempotency.Link {
	t.Helper()
	got, err := s.Linked(context.Background(), tenant, ids)
	if err != nil {
		t.Fatalf("Linked(%q, %q): unexpected error: %v", tenant, ids, err)
	}
	return got
}

func checkLinks(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	if got := linked(t, s, "tenant-1"); len(got) != 0 {
		t.Errorf("Linked with no ids: got %v, want none", got)
	}
	// A payout created by key k1, a transfer by k2 (other route), a bank account without a link.
	out := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("k1"), out.Token, idempotency.Answer{Status: 201, Body: []byte(`{}`), CreatedID: "po_1"}, longTTL)
	k2 := idempotency.Key{Tenant: "tenant-1", Route: "POST /transfers", IdempotencyKey: "k2 \u00e9"}
	out = begin(t, s, k2, fpA, longTTL, idempotency.Acquired)
	complete(t, s, k2, out.Token, idempotency.Answer{Status: 201, Body: []byte(`{}`), CreatedID: "tr_\u00e9 1"}, longTTL)
	out = begin(t, s, key("k3"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("k3"), out.Token, idempotency.Answer{Status: 400, Body: []byte(`{}`)}, longTTL)
	// In flight and abandoned writes link nothing.
	begin(t, s, key("k4"), fpA, longTTL, idempotency.Acquired)
	out = begin(t, s, key("k5"), fpA, longTTL, idempotency.Acquired)
	if err := s.Abandon(ctx, key("k5"), out.Token); err != nil {
		t.Fatalf("Abandon: %v", err)
	}

	got := linked(t, s, "tenant-1", "po_1", "tr_\u00e9 1", "po_unknown", "")
	want := map[string]idempotency.Link{
		"po_1":        {Route: "POST /payouts", IdempotencyKey: "k1"},
		"tr_\u00e9 1": {Route: "POST /transfers", IdempotencyKey: "k2 \u00e9"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Linked(tenant-1): got %v, want %v", got, want)
	}
	if got := linked(t, s, "tenant-2", "po_1"); len(got) != 0 {
		t.Errorf("Linked(tenant-2, po_1): got %v, want nothing: links are per tenant", got)
	}
	// Another write creating the same id (a PSP that reuses ids) takes over its link.
	out = begin(t, s, key("k6"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("k6"), out.Token, idempotency.Answer{Status: 201, Body: []byte(`{}`), CreatedID: "po_1"}, longTTL)
	if got := linked(t, s, "tenant-1", "po_1")["po_1"]; got.IdempotencyKey != "k6" {
		t.Errorf("Linked(po_1) after a second write created it: got %+v, want the key k6", got)
	}
}

func checkLinksOutliveRecords(t *testing.T, s idempotency.Store) {
	out := begin(t, s, key("k1"), fpA, longTTL, idempotency.Acquired)
	complete(t, s, key("k1"), out.Token, idempotency.Answer{Status: 201, Body: []byte(`{}`), CreatedID: "po_1"}, shortTTL)
	time.Sleep(expirySleep)
	if _, err := s.Purge(context.Background()); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	begin(t, s, key("k1"), fpB, longTTL, idempotency.Acquired) // the record is gone
	if got := linked(t, s, "tenant-1", "po_1")["po_1"]; got.IdempotencyKey != "k1" {
		t.Errorf("Linked(po_1) after its record's retention ended: got %+v, want the key k1: the PSP reports later states of a payout long after its write", got)
	}
}
