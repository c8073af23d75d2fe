package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// encodingJSON is what the handler wrote before the appenders, and still writes for other types.
func encodingJSON(t testing.TB, v any) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// trickyStrings exercise every escaping rule of encoding/json.
var trickyStrings = []string{
	"", "plain", `quote " and backslash \`, "<html> & friends", "tab\tnew\nline\rcr", "\b\f", "\x00\x01\x1f",
	"\x7f del", "é ü 日本", "\u2028 and \u2029", "bad \xff utf8", "\xe2\x82", "emoji 😀", "a\u00a0b", "/slash/",
}

var trickyTimes = []time.Time{
	time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2024, 1, 1, 0, 0, 0, 1, time.UTC),
	time.Date(2024, 1, 1, 0, 0, 0, 120_000_000, time.UTC),
	time.Date(2024, 6, 30, 23, 59, 59, 999_999_999, time.FixedZone("IST", 5*3600+1800)),
	time.Date(2024, 6, 30, 23, 59, 59, 0, time.FixedZone("PST", -8*3600)),
	time.Date(2024, 6, 30, 23, 59, 59, 0, time.FixedZone("odd", 3600+17)),
	time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	time.Unix(1_700_000_000, 5).In(time.Local),
}

var trickyAmounts = []models.Amount{{}, models.AmountFromInt64(0), models.AmountFromInt64(-42),
	models.MustParseAmount("123456789012345678901234567890123456789")}

var trickyMetadata = []models.Metadata{nil, {}, {"k": "v"}, {"b": "2", "a": "1", "c": `"3"`}, {"é": "\u2028", "<": ">", "": ""}}

func pick[T any](r *rand.Rand, vs []T) T { return vs[r.IntN(len(vs))] }

func randomTransaction(r *rand.Rand) models.Transaction {
	return models.Transaction{
		ID: pick(r, trickyStrings), RelatedTransactionID: pick(r, trickyStrings),
		CreatedAt: pick(r, trickyTimes), UpdatedAt: pick(r, trickyTimes),
		Currency: models.Asset(pick(r, trickyStrings)), Scheme: pick(r, trickyStrings),
		Type: models.TransactionType(pick(r, trickyStrings)), Status: models.TransactionStatus(pick(r, trickyStrings)),
		Amount: pick(r, trickyAmounts), SourceAccountID: pick(r, trickyStrings), DestinationAccountID: pick(r, trickyStrings),
		Metadata: pick(r, trickyMetadata),
	}
}

// TestAppendersMatchEncodingJSON: the appenders write exactly the bytes encoding/json writes (HTML
// escaping off, as the handler always did), for every field, escaping rule, time, amount and map.
func TestAppendersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(v any, got []byte, err error) {
		t.Helper()
		want, wantErr := encodingJSON(t, v)
		require.NoError(t, wantErr)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%#v", v)
	}
	for range 5000 {
		tx := randomTransaction(r)
		got, err := appendTransaction([]byte("prefix"), &tx)
		require.True(t, bytes.HasPrefix(got, []byte("prefix")), "appends")
		check(tx, got[len("prefix"):], err)

		a := models.Account{ID: pick(r, trickyStrings), AccountName: pick(r, trickyStrings), CreatedAt: pick(r, trickyTimes), Metadata: pick(r, trickyMetadata)}
		got, err = appendAccount(nil, &a)
		check(a, got, err)

		b := models.Beneficiary{ID: pick(r, trickyStrings), OwnerName: pick(r, trickyStrings), CreatedAt: pick(r, trickyTimes), Metadata: pick(r, trickyMetadata)}
		got, err = appendBeneficiary(nil, &b)
		check(b, got, err)
	}
}

// TestAppendersLeaveUnwritableTimesToEncodingJSON: a time RFC 3339 cannot carry is refused by the
// appenders (errNotAppendable), and encoding/json refuses it too.
func TestAppendersLeaveUnwritableTimesToEncodingJSON(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 24*3600)),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("far", -25*3600)),
	} {
		a := models.Account{ID: "a", AccountName: "n", CreatedAt: at}
		_, err := appendAccount(nil, &a)
		assert.ErrorIs(t, err, errNotAppendable, "%v", at)
		_, err = encodingJSON(t, a)
		assert.Error(t, err, "%v", at)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := encodingJSON(t, s)
		require.NoError(t, err)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

// staticTransactions serves the same transactions for every request.
type staticTransactions struct {
	connector.Provider
	items []models.Transaction
}

func (s staticTransactions) ListTransactions(context.Context, connector.ListRequest) (connector.Page[models.Transaction], error) {
	return connector.Page[models.Transaction]{Items: s.items}, nil
}

// TestListAnswerBytes: a list answer is the encoding/json encoding of the page plus a newline, with
// its Content-Length; an empty page is [], and a page holding a time the appenders cannot write
// goes through encoding/json, which refuses it with a clean 500.
func TestListAnswerBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var page []models.Transaction
	for i := range 40 {
		tx := randomTransaction(r)
		tx.ID, tx.Currency, tx.Type, tx.Status = fmt.Sprintf("tx_%d", i), "EUR/2", models.TransactionTypePayin, models.TransactionStatusPending
		tx.Amount = models.AmountFromInt64(int64(i))
		page = append(page, tx)
	}
	tests := []struct {
		name   string
		items  []models.Transaction
		status int
		want   string
	}{
		{"page", page, http.StatusOK, ""},
		{"empty", nil, http.StatusOK, "[]\n"},
		{"unwritable time", []models.Transaction{func() models.Transaction {
			tx := page[0]
			tx.UpdatedAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 30*3600))
			return tx
		}()}, http.StatusInternalServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(staticTransactions{items: tt.items}, WithAPIKey("k"), WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(t, err)
			req := httptest.NewRequest(http.MethodGet, "/transactions?pageSize=100", nil)
			req.Header.Set("Authorization", "Bearer k")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status != http.StatusOK {
				assert.Contains(t, rec.Body.String(), "could not be encoded")
				return
			}
			want := tt.want
			if want == "" {
				b, err := encodingJSON(t, tt.items)
				require.NoError(t, err)
				want = string(b) + "\n"
			}
			assert.Equal(t, want, rec.Body.String())
			assert.Equal(t, fmt.Sprint(len(want)), rec.Header().Get("Content-Length"))
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.True(t, strings.HasSuffix(rec.Body.String(), "]\n"))
		})
	}
}
