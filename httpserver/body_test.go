package httpserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
)

func TestWriteBodies(t *testing.T) {
	p := newFull()
	srv, _ := newServer(t, p, httpserver.WithMaxBodyBytes(512))

	const validPayout = payoutBody
	tests := []struct {
		name        string
		path        string
		body        string
		contentType string
		wantStatus  int
		wantDetail  string // substring of the Detail
	}{
		{"valid payout", "/payouts", validPayout, "", http.StatusCreated, ""},
		// Each accepted payout has its own idempotency key: a repeat of a key is a replay, without a provider call.
		{"charset parameter accepted", "/payouts", strings.Replace(validPayout, `"ik_9"`, `"ik_charset"`, 1), "application/json; charset=utf-8", http.StatusCreated, ""},
		{"Content-Type in capitals accepted", "/payouts", strings.Replace(validPayout, `"ik_9"`, `"ik_caps"`, 1), "Application/JSON", http.StatusCreated, ""},
		{"missing Content-Type accepted", "/payouts", strings.Replace(validPayout, `"ik_9"`, `"ik_no_ct"`, 1), "-", http.StatusCreated, ""},
		{"unknown fields accepted", "/payouts", `{"idempotencyKey":"ik_u","amount":"1","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b","newField":{"x":1}}`, "", http.StatusCreated, ""},
		{"text/plain refused", "/payouts", validPayout, "text/plain", http.StatusUnsupportedMediaType, `Content-Type "text/plain" is not supported`},
		{"form refused", "/transfers", transferBody, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "application/json"},
		{"malformed Content-Type refused", "/bank-accounts", bankAccountBody, "application/", http.StatusUnsupportedMediaType, "not supported"},
		{"oversized", "/payouts", `{"idempotencyKey":"ik_big","description":"` + strings.Repeat("x", 600) + `"}`, "", http.StatusBadRequest, "request body is larger than the limit of 512 bytes"},
		{"empty body", "/payouts", " ", "", http.StatusBadRequest, "request body is empty: want the payout request as a JSON object"},
		{"malformed JSON", "/payouts", `{"idempotencyKey":"ik_1",`, "", http.StatusBadRequest, "malformed payout request"},
		{"trailing data", "/payouts", validPayout + `{}`, "", http.StatusBadRequest, "invalid JSON at byte"},
		{"not an object", "/transfers", `["ik_1"]`, "", http.StatusBadRequest, "malformed transfer request: want a JSON object, got a JSON array"},
		{"amount as a number", "/payouts", strings.Replace(validPayout, `"10000"`, `10000`, 1), "", http.StatusBadRequest, `malformed payout request: field "amount": `},
		{"amount with decimals", "/payouts", strings.Replace(validPayout, `"10000"`, `"10.00"`, 1), "", http.StatusBadRequest, `field "amount": invalid value: amount: "10.00" is not an integer in minor units`},
		{"amount with exponent", "/transfers", strings.Replace(transferBody, `"250"`, `"1e3"`, 1), "", http.StatusBadRequest, `field "amount"`},
		{"negative amount", "/payouts", strings.Replace(validPayout, `"10000"`, `"-5"`, 1), "", http.StatusBadRequest, `payout request "ik_9": field "amount": must be a positive integer in minor units, got "-5"`},
		{"zero amount", "/transfers", strings.Replace(transferBody, `"250"`, `"0"`, 1), "", http.StatusBadRequest, `transfer request "ik_8": field "amount": must be a positive integer`},
		{"lower-case asset", "/payouts", strings.Replace(validPayout, `"USD/2"`, `"usd/2"`, 1), "", http.StatusBadRequest, `field "currency": invalid value: asset: "usd/2"`},
		{"asset without precision digits", "/transfers", strings.Replace(transferBody, `"EUR/2"`, `"EUR/"`, 1), "", http.StatusBadRequest, `field "currency"`},
		{"idempotency key as a number", "/payouts", strings.Replace(validPayout, `"ik_9"`, `9`, 1), "", http.StatusBadRequest, `field "idempotencyKey": want a JSON string, got a JSON number`},
		{"metadata value as a number", "/payouts", strings.Replace(validPayout, `}`, `,"metadata":{"k":1}}`, 1), "", http.StatusBadRequest, `field "metadata": want a JSON string, got a JSON number`},
		{"missing source account", "/payouts", `{"idempotencyKey":"ik_1","amount":"1","currency":"USD/2","destinationAccountId":"b"}`, "", http.StatusBadRequest, `payout request "ik_1": field "sourceAccountId": is required`},
		{"missing everything", "/transfers", `{}`, "", http.StatusBadRequest, `transfer request: field "idempotencyKey": is required; field "amount": is required`},
		{"bank account without name", "/bank-accounts", `{"iban":"FR76"}`, "", http.StatusBadRequest, `bank account request: field "name": is required`},
		{"bank account with a bad country", "/bank-accounts", `{"name":"n","country":"FRA"}`, "", http.StatusBadRequest, `field "country": "FRA" is not an ISO 3166-1 alpha-2 country code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.recorded())
			res := send(t, srv.URL, request{method: http.MethodPost, path: tt.path, body: tt.body, contentType: tt.contentType})
			calls := p.recorded()[before:]
			if tt.wantStatus == http.StatusCreated {
				require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
				assert.Len(t, calls, 1)
				return
			}
			e := errorBody(t, res, tt.wantStatus)
			assert.Contains(t, e.Detail, tt.wantDetail)
			assert.Empty(t, calls, "the provider must not be called")
		})
	}
}

// TestOversizedBodyWithoutContentLength sends a chunked body, so the limit is found while reading.
func TestOversizedBodyWithoutContentLength(t *testing.T) {
	p := newFull()
	srv, _ := newServer(t, p, httpserver.WithMaxBodyBytes(100))
	body := io.MultiReader(strings.NewReader(`{"idempotencyKey":"`), strings.NewReader(strings.Repeat("k", 200)+`"}`))
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/payouts", body)
	require.NoError(t, err)
	require.EqualValues(t, 0, req.ContentLength, "the body must be sent without a length")
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	res := do(t, req)
	assert.Equal(t, "request body is larger than the limit of 100 bytes", errorBody(t, res, http.StatusBadRequest).Detail)
	assert.Empty(t, p.recorded())
}

// TestChunkedBodyWithinTheLimit: a body sent without a length, within the limit, is read whole.
func TestChunkedBodyWithinTheLimit(t *testing.T) {
	p := newFull()
	srv, _ := newServer(t, p)
	// Pieces smaller than any read buffer, so that the body is read in several reads.
	var pieces []io.Reader
	for _, c := range payoutBody {
		pieces = append(pieces, strings.NewReader(string(c)))
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/payouts", io.MultiReader(pieces...))
	require.NoError(t, err)
	require.EqualValues(t, 0, req.ContentLength, "the body must be sent without a length")
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	res := do(t, req)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	assert.Len(t, p.recorded(), 1)
}

// TestBodyLongerThanItsContentLength: a request built by hand (not read by net/http's server)
// whose body goes on past its Content-Length is refused, not read past the length or the limit.
func TestBodyLongerThanItsContentLength(t *testing.T) {
	p := newFull()
	h, err := httpserver.New(p, httpserver.WithAPIKey(testKey), httpserver.WithLogger(discardLogger()))
	require.NoError(t, err)
	for _, declared := range []int64{10, int64(len(payoutBody)) - 1} {
		req := httptest.NewRequest(http.MethodPost, "/payouts", strings.NewReader(payoutBody))
		req.ContentLength = declared
		req.Header.Set("Authorization", "Bearer "+testKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusBadRequest, rec.Code, "Content-Length %d: %s", declared, rec.Body)
		assert.Contains(t, rec.Body.String(), "request body is longer than its Content-Length")
	}
	assert.Empty(t, p.recorded())
}
