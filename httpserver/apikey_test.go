package httpserver_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
)

// TestNewRefusesKeysThatCannotMatch: a key that no "Authorization: Bearer <key>" header can carry
// (white space, control characters, bytes outside printable ASCII, too long) is refused at New, with
// an error that names the option and the offending position but never shows the key.
func TestNewRefusesKeysThatCannotMatch(t *testing.T) {
	tooLong := strings.Repeat("k", httpserver.MaxAPIKeyLength+1)
	tests := []struct {
		name string
		key  string
		want string // in the error of WithAPIKey
	}{
		{"trailing newline", "s3cret\n", "WithAPIKey: API key has a control character at byte 6"},
		{"trailing carriage return", "s3cret\r", "WithAPIKey: API key has a control character at byte 6"},
		{"tab", "s3\tcret", "WithAPIKey: API key has a control character at byte 2"},
		{"leading space", " s3cret", "WithAPIKey: API key has white space at byte 0"},
		{"inner space", "s3 cret", "WithAPIKey: API key has white space at byte 2"},
		{"trailing space", "s3cret ", "WithAPIKey: API key has white space at byte 6"},
		{"NUL byte", "s3c\x00ret", "WithAPIKey: API key has a control character at byte 3"},
		{"DEL byte", "s3cret\x7f", "WithAPIKey: API key has a control character at byte 6"},
		{"no-break space", "s3cret\u00a0", "WithAPIKey: API key has white space at byte 6"},
		{"ideographic space", "s3\u3000cret", "WithAPIKey: API key has white space at byte 2"},
		{"next line (C1 control)", "s3cret\u0085", "WithAPIKey: API key has a control character at byte 6"},
		{"non-ASCII letter", "s3crét", "WithAPIKey: API key has a non-ASCII character at byte 4"},
		{"invalid UTF-8", "s3cret\xff", "WithAPIKey: API key has a non-ASCII character at byte 6"},
		{"too long", tooLong, "WithAPIKey: API key is 4097 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := httpserver.New(newFake(), httpserver.WithAPIKey(tt.key), httpserver.WithLogger(discardLogger()))
			require.Error(t, err)
			assert.Nil(t, h)
			assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
			assertKeyNotShown(t, err, tt.key)

			h, err = httpserver.New(newFake(), httpserver.WithAPIKeys(map[string]string{"good-key": "acme", tt.key: "globex"}),
				httpserver.WithLogger(discardLogger()))
			require.Error(t, err)
			assert.Nil(t, h)
			assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
			assert.Contains(t, err.Error(),
				strings.Replace(tt.want, "WithAPIKey: API key", `WithAPIKeys: API key of tenant "globex"`, 1))
			assert.NotContains(t, err.Error(), "acme", "only the bad entry is reported")
			assertKeyNotShown(t, err, tt.key)
		})
	}
}

// assertKeyNotShown checks that err shows no part of key: neither the key, nor the runs of
// characters around the offending one, nor their quoted forms.
func assertKeyNotShown(t *testing.T, err error, key string) {
	t.Helper()
	msg := err.Error()
	assert.NotContains(t, msg, key)
	for _, part := range strings.FieldsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		if len(part) >= 2 && part != "kk" {
			assert.NotContains(t, msg, part, "the error must not show any part of the key")
		}
	}
	if strings.Trim(key, "k") == "" { // the long key
		assert.NotContains(t, msg, "kk")
	}
	for _, quoted := range []string{jsonText(key), strings.Trim(jsonText(key), `"`)} {
		assert.NotContains(t, msg, quoted)
	}
}

func TestNewRefusesBadTenants(t *testing.T) {
	tests := []struct {
		name   string
		tenant string
		want   string
	}{
		{"empty tenant", "", "WithAPIKeys: an API key maps to an empty tenant"},
		{"tenant with a newline", "acme\n", `WithAPIKeys: tenant "acme\n" has a control character at byte 4`},
		{"tenant with a NUL", "ac\x00me", `WithAPIKeys: tenant "ac\x00me" has a control character at byte 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const key = "sk_tenant_key_SECRET"
			h, err := httpserver.New(newFake(), httpserver.WithAPIKeys(map[string]string{key: tt.tenant}),
				httpserver.WithLogger(discardLogger()))
			require.Error(t, err)
			assert.Nil(t, h)
			assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func TestNewReportsEveryBadKey(t *testing.T) {
	_, err := httpserver.New(newFake(),
		httpserver.WithAPIKey("first\n"),
		httpserver.WithAPIKeys(map[string]string{"bbb bbb": "tenant-b", "ccc\tccc": "tenant-c", "fine": "tenant-d"}),
		httpserver.WithLogger(discardLogger()))
	require.Error(t, err)
	assert.ErrorIs(t, err, httpserver.ErrInvalidConfig)
	msg := err.Error()
	assert.Contains(t, msg, "WithAPIKey: API key has a control character at byte 5")
	assert.Contains(t, msg, `WithAPIKeys: API key of tenant "tenant-b" has white space at byte 3`)
	assert.Contains(t, msg, `WithAPIKeys: API key of tenant "tenant-c" has a control character at byte 3`)
	assert.NotContains(t, msg, "tenant-d")
	for _, part := range []string{"first", "bbb", "ccc", "fine"} {
		assert.NotContains(t, msg, part)
	}
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	assert.Len(t, joined.Unwrap(), 3, "one error per bad key")
}

// TestLongestAcceptedKeyAuthenticates: every byte a key may hold, at the longest length accepted,
// travels in a real request and authenticates.
func TestLongestAcceptedKeyAuthenticates(t *testing.T) {
	var printable strings.Builder
	for c := byte(0x21); c <= 0x7e; c++ {
		printable.WriteByte(c)
	}
	key := printable.String()
	key += strings.Repeat("x", httpserver.MaxAPIKeyLength-len(key))
	require.Len(t, key, httpserver.MaxAPIKeyLength)

	p := newFake()
	h, err := httpserver.New(p, httpserver.WithAPIKey(key), httpserver.WithLogger(discardLogger()))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	res := send(t, srv.URL, request{path: "/accounts", auth: "Bearer " + key})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, httpserver.DefaultTenant, p.recorded()[0].tenant)
}

// TestCheckAPIKeyAgreesWithNew: CheckAPIKey refuses exactly the keys New refuses, with the reason and
// never the key.
func TestCheckAPIKeyAgreesWithNew(t *testing.T) {
	keys := map[string]string{ // key -> what the error says ("" for a usable key)
		"acme-test":  "",
		"sk_live_42": "",
		strings.Repeat("k", httpserver.MaxAPIKeyLength): "",
		"":          "invalid API key: empty key",
		"Acme Test": "invalid API key: the key has white space at byte 4",
		"s3cret\n":  "invalid API key: the key has a control character at byte 6",
		"s3crét":    "invalid API key: the key has a non-ASCII character at byte 4",
		strings.Repeat("k", httpserver.MaxAPIKeyLength+1): "invalid API key: the key is 4097 bytes long, longer than MaxAPIKeyLength (4096 bytes)",
	}
	for key, want := range keys {
		checkErr := httpserver.CheckAPIKey(key)
		_, newErr := httpserver.New(newFake(), httpserver.WithAPIKey(key), httpserver.WithLogger(discardLogger()))
		if want == "" {
			assert.NoError(t, checkErr, "key of %d bytes", len(key))
			assert.NoError(t, newErr, "key of %d bytes", len(key))
			continue
		}
		require.Error(t, checkErr, "key of %d bytes", len(key))
		assert.ErrorIs(t, checkErr, httpserver.ErrInvalidAPIKey)
		assert.Contains(t, checkErr.Error(), want)
		assert.Error(t, newErr, "New refuses what CheckAPIKey refuses")
		if len(key) > 3 {
			assert.NotContains(t, checkErr.Error(), key)
		}
	}
}
