package httpserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

// The fuzz targets send arbitrary input through the whole handler (authentication, parsing,
// idempotency, the provider, validation and error writing) and check that it never panics, never
// answers 5xx, and always answers JSON of the right shape. scripts/test.sh runs each for a short
// bounded time; the seed corpus is in testdata/fuzz and runs with every `go test`.

// fuzzHandler returns a handler over p with the test API key, logging nowhere.
func fuzzHandler(f *testing.F, p connector.Provider, opts ...httpserver.Option) http.Handler {
	f.Helper()
	opts = append([]httpserver.Option{httpserver.WithAPIKey(testKey), httpserver.WithLogger(discardLogger())}, opts...)
	h, err := httpserver.New(p, opts...)
	if err != nil {
		f.Fatal(err)
	}
	return h
}

// serveFuzz serves one request built by hand (so that any bytes reach the handler) and returns the
// recorded answer.
func serveFuzz(h http.Handler, method, path, rawQuery string, body []byte, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.URL.RawQuery = rawQuery
	req.Header = header
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails t unless the answer is below 500, is JSON, and, when it is an error, has the
// contract's {"Title","Detail"} shape.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, input string) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("input %q: status %d, body %s", input, rec.Code, rec.Body.Bytes())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("input %q: Content-Type %q, want application/json", input, ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("input %q: the body is not JSON: %q", input, rec.Body.Bytes())
	}
	if rec.Code < 300 {
		return
	}
	var e models.Error
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Title == "" || e.Detail == "" {
		t.Fatalf("input %q: status %d with a body that is not a contract error (%v): %s", input, rec.Code, err, rec.Body.Bytes())
	}
}

func authHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + testKey}}
}

var listRoutes = []string{"/accounts", "/beneficiaries", "/transactions"}

func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{
		"", "page=1&pageSize=25&sort=createdAt:asc", "page=2&pageSize=100&sort=updatedAt:asc&updatedAtFrom=2024-03-01T10:00:00Z",
		"createdAtFrom=2024-03-01T10:00:00.123456789%2B02:00", "pageSize=0", "page=-1", "pageSize=99999999999999999999",
		"sort=createdAt:desc", "sort=amount:asc", "sort=", "page=1&page=2", "%zz", "updatedAtFrom=2024-01-01+10:00:00",
		"createdAtFrom=1709287200", "pageSize=1e3", "page= 1", ";;;&&&===",
	} {
		f.Add(q, uint8(0))
		f.Add(q, uint8(2))
	}
	h := fuzzHandler(f, newFake())
	f.Fuzz(func(t *testing.T, rawQuery string, route uint8) {
		path := listRoutes[int(route)%len(listRoutes)]
		rec := serveFuzz(h, http.MethodGet, path, rawQuery, nil, authHeader())
		checkAnswer(t, rec, path+"?"+rawQuery)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s?%s: status %d, want 200 or 400: %s", path, rawQuery, rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK && !bytes.HasPrefix(rec.Body.Bytes(), []byte("[")) {
			t.Fatalf("%s?%s: 200 with a body that is not a JSON array: %s", path, rawQuery, rec.Body.Bytes())
		}
	})
}

var writeRoutes = []string{"/payouts", "/transfers", "/bank-accounts"}

func FuzzWriteBodies(f *testing.F) {
	for _, body := range []string{
		payoutBody, transferBody, bankAccountBody, "", " ", "{}", "[]", "null", `{"idempotencyKey":"ik_1"}`,
		`{"idempotencyKey":"ik_1","amount":"1e3","currency":"USD/2","sourceAccountId":"a","destinationAccountId":"b"}`,
		`{"idempotencyKey":"ik_1","amount":"-5","currency":"usd","sourceAccountId":"a","destinationAccountId":"b"}`,
		`{"idempotencyKey":"ik_1","amount":"100000000000000000000000000000000000000","currency":"BTC/8","sourceAccountId":"a","destinationAccountId":"b","metadata":{"k":"v"}}`,
		`{"name":"n","country":"FRA","iban":"x"}`, `{"name":"\u0000","metadata":{"":""}}`, `{"amount":{"nested":[1,2,3]}}`,
		payoutBody + payoutBody, `{"idempotencyKey":"ik_9","amount":"10000","currency":"USD/2","sourceAccountId":"acc_01","destinationAccountId":"ben_02"}`,
	} {
		for route := range uint8(3) {
			f.Add(route, []byte(body), "application/json")
		}
	}
	f.Add(uint8(0), []byte(payoutBody), "text/plain")
	f.Add(uint8(1), []byte(transferBody), "application/json; charset=utf-8")
	f.Add(uint8(2), []byte(bankAccountBody), "")
	h := fuzzHandler(f, newWriteProvider(nil), httpserver.WithMaxBodyBytes(4096))
	f.Fuzz(func(t *testing.T, route uint8, body []byte, contentType string) {
		path := writeRoutes[int(route)%len(writeRoutes)]
		header := authHeader()
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		rec := serveFuzz(h, http.MethodPost, path, "", body, header)
		checkAnswer(t, rec, path+" "+string(body))
		switch rec.Code {
		case http.StatusCreated:
			var v struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.ID == "" {
				t.Fatalf("POST %s %q: 201 without an id: %s", path, body, rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusConflict:
		default:
			t.Fatalf("POST %s %q: status %d, want 201, 400, 409 or 415: %s", path, body, rec.Code, rec.Body.Bytes())
		}
	})
}

func FuzzAuthHeader(f *testing.F) {
	for _, header := range []string{
		"", "Bearer " + testKey, "bearer " + testKey, "BEARER  " + testKey + " ", "Bearer", "Bearer ", "Basic dGVzdDp0ZXN0",
		testKey, "Bearer " + testKey + "x", "Bearer " + testKey[:4], "Bearer\t" + testKey, "Bearer " + testKey + " extra",
		"Bearer \x00" + testKey, "Bearer " + strings.Repeat("k", 5000), "Ｂearer " + testKey,
	} {
		f.Add(header)
	}
	// Without the limits on failed authentications: every refused header must get its 401, however
	// many the fuzzer sends.
	h := fuzzHandler(f, newFake(), httpserver.WithAuthFailureLimit(rate.Inf, 1), httpserver.WithAuthFailureGlobalLimit(rate.Inf, 1))
	allowedDetails := map[string]bool{
		`unauthorized: missing Authorization header (want "Authorization: Bearer <API key>")`:   true,
		`unauthorized: malformed Authorization header (want "Authorization: Bearer <API key>")`: true,
		`unauthorized: invalid API key`: true,
	}
	f.Fuzz(func(t *testing.T, header string) {
		rec := serveFuzz(h, http.MethodGet, "/accounts", "", nil, http.Header{"Authorization": {header}})
		checkAnswer(t, rec, header)
		scheme, token, _ := strings.Cut(header, " ")
		carriesKey := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) == testKey
		switch {
		case carriesKey && rec.Code != http.StatusOK:
			t.Fatalf("Authorization %q carries the key: status %d, want 200: %s", header, rec.Code, rec.Body.Bytes())
		case !carriesKey && rec.Code != http.StatusUnauthorized:
			t.Fatalf("Authorization %q: status %d, want 401: %s", header, rec.Code, rec.Body.Bytes())
		case rec.Code == http.StatusUnauthorized:
			var e models.Error
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			if !allowedDetails[e.Detail] {
				t.Fatalf("Authorization %q: the 401 Detail %q is not one of the fixed messages (it must never echo the header)", header, e.Detail)
			}
		}
	})
}
