package httpserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/httpserver/idempotency"
	"github.com/pspconnect/pspconnect/models"
)

func TestFullMemoryStoreRefusesNewWritesWithARetryableAnswer(t *testing.T) {
	p := newWriteProvider(nil)
	store := idempotency.NewMemoryStore(idempotency.WithMaxRecordsPerTenant(3))
	srv, logs := newServer(t, p, httpserver.WithIdempotencyStore(store),
		httpserver.WithAPIKeys(map[string]string{"key-b": "tenant-b"}))

	first := map[string]response{}
	for _, k := range []string{"ik_1", "ik_2", "ik_3"} {
		first[k] = postPayout(t, srv.URL, payoutWithKey(k))
		require.Equal(t, http.StatusCreated, first[k].status, "body: %s", first[k].body)
	}
	res := postPayout(t, srv.URL, payoutWithKey("ik_4"))
	e := errorBody(t, res, http.StatusServiceUnavailable)
	assert.Equal(t, "POST /payouts: the idempotency store holds the most records this tenant may have (3), and forgets none before it expires, so that no repeat is paid twice: nothing was sent to the PSP; retry later", e.Detail)
	assert.Equal(t, "60", res.header.Get("Retry-After"))
	assert.EqualValues(t, 3, p.n.Load(), "the provider is not called for the refused key")

	// The keys held are still replayed, byte for byte; another tenant still writes.
	for k, want := range first {
		again := postPayout(t, srv.URL, payoutWithKey(k))
		require.Equal(t, http.StatusCreated, again.status)
		assert.Equal(t, string(want.body), string(again.body))
		assert.Equal(t, "true", again.header.Get(httpserver.ReplayedHeader))
	}
	res = send(t, srv.URL, request{method: http.MethodPost, path: "/payouts", body: payoutWithKey("ik_4"), auth: "Bearer key-b"})
	assert.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	assert.EqualValues(t, 4, p.n.Load())

	srv.Close()
	assert.Contains(t, logs.String(), `"msg":"idempotency store full: new write refused"`)
}

func TestWriteRequestMetadataIsBounded(t *testing.T) {
	p := newWriteProvider(nil)
	srv, _ := newServer(t, p)
	withMetadata := func(key string, m map[string]string) string {
		var b strings.Builder
		for k, v := range m {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%q", k, v)
		}
		return strings.TrimSuffix(payoutWithKey(key), "}") + `,"metadata":{` + b.String() + `}}`
	}
	many := map[string]string{}
	for i := range models.MaxRequestMetadataEntries + 1 {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	big := map[string]string{"note": strings.Repeat("x", models.MaxRequestMetadataBytes)}

	for name, tt := range map[string]struct {
		m    map[string]string
		want string
	}{
		"too many entries": {many, fmt.Sprintf(`payout request "ik_many": field "metadata": has %d entries and %d bytes of keys and values: a write request's metadata may have at most 100 entries (MaxRequestMetadataEntries) and 16384 bytes (MaxRequestMetadataBytes)`,
			len(many), len(many)*5)},
		"too many bytes": {big, `payout request "ik_big": field "metadata": has 1 entries and 16388 bytes of keys and values: a write request's metadata may have at most 100 entries (MaxRequestMetadataEntries) and 16384 bytes (MaxRequestMetadataBytes)`},
	} {
		t.Run(name, func(t *testing.T) {
			key := "ik_many"
			if name == "too many bytes" {
				key = "ik_big"
			}
			for _, route := range []string{"/payouts", "/transfers", "/bank-accounts"} {
				body := withMetadata(key, tt.m)
				if route == "/bank-accounts" {
					body = strings.TrimSuffix(bankAccountBody, "}") + `,"metadata":` + body[strings.Index(body, `"metadata":`)+len(`"metadata":`):]
				}
				e := errorBody(t, send(t, srv.URL, request{method: http.MethodPost, path: route, body: body}), http.StatusBadRequest)
				assert.Contains(t, e.Detail, "a write request's metadata may have at most 100 entries (MaxRequestMetadataEntries) and 16384 bytes", route)
				assert.Less(t, len(e.Detail), 1024, "the Detail never echoes the metadata")
				if route == "/payouts" {
					assert.Equal(t, tt.want, e.Detail)
				}
			}
		})
	}
	assert.Zero(t, p.n.Load(), "the provider is never called")

	// At the bounds, accepted.
	atBound := map[string]string{}
	for i := range models.MaxRequestMetadataEntries {
		atBound[fmt.Sprintf("k%03d", i)] = "v"
	}
	res := postPayout(t, srv.URL, withMetadata("ik_ok", atBound))
	assert.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
}
