package models_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

// randomBody builds a payout request body from pieces that exercise every rule of encoding/json
// the fast decoder must follow or hand over: other key cases, unknown and repeated keys, escapes,
// non-ASCII, null, numbers, bad amounts and assets, white space, trailing data.
func randomBody(rng *rand.Rand) string {
	keys := []string{"idempotencyKey", "amount", "currency", "sourceAccountId", "destinationAccountId", "description", "metadata",
		"IdempotencyKey", "sourceAccountID", "extra"}
	strs := []string{`"k1"`, `"a\"b"`, `"é"`, `"<&>"`, `""`, `null`, `12`, `"x\u2028"`, `"\n"`}
	values := map[string][]string{
		"amount":   {`"100"`, `"0"`, `"-5"`, `"1.5"`, `100`, `null`, `"99999999999999999999999"`},
		"currency": {`"EUR/2"`, `"usd"`, `"JPY"`, `null`, `"EUR/x"`},
		"metadata": {`{}`, `{"a":"b"}`, `{"a":"b","a":"c"}`, `{"<":"&"}`, `null`, `{"a":1}`, `[]`, `{"é":"\t"}`},
	}
	spaces := []string{"", " ", "\n\t"}
	var b strings.Builder
	b.WriteString(spaces[rng.IntN(3)] + "{")
	n := rng.IntN(9)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		k := keys[rng.IntN(len(keys))]
		if rng.IntN(3) > 0 {
			k = keys[i%7]
		}
		vs, ok := values[k]
		if !ok || rng.IntN(8) == 0 {
			vs = strs
		}
		b.WriteString(spaces[rng.IntN(3)] + `"` + k + `"` + spaces[rng.IntN(3)] + ":" + vs[rng.IntN(len(vs))])
	}
	b.WriteString("}" + []string{"", " ", "x", "{}"}[rng.IntN(4)])
	return b.String()
}

// TestDecodeRequestIsEncodingJSON: on every body, DecodeRequest gives what json.Unmarshal gives,
// value and error alike.
func TestDecodeRequestIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for range 20000 {
		body := randomBody(rng)
		var want, got models.PayoutRequest
		wantErr := json.Unmarshal([]byte(body), &want)
		gotErr := models.DecodeRequest([]byte(body), &got)
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), body)
		require.Equal(t, want, got, body)
		var wantTr, tr models.TransferRequest
		wantTrErr := json.Unmarshal([]byte(body), &wantTr)
		require.Equal(t, fmt.Sprint(wantTrErr), fmt.Sprint(models.DecodeRequest([]byte(body), &tr)), body)
		require.Equal(t, wantTr, tr, body)
		if wantErr == nil {
			fast++
		}
	}
	require.Greater(t, fast, 1000, "enough valid bodies")
	var other map[string]any
	require.NoError(t, models.DecodeRequest([]byte(`{"a":1}`), &other), "other types go to encoding/json")
	require.Equal(t, map[string]any{"a": 1.0}, other)
}

// TestAppendRequestJSONIsMarshal: AppendRequestJSON writes json.Marshal's bytes (HTML escaping,
// sorted metadata, omitempty) for every request the decoder accepts.
func TestAppendRequestJSONIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		var r models.PayoutRequest
		if json.Unmarshal([]byte(randomBody(rng)), &r) != nil {
			continue
		}
		want, err := json.Marshal(r)
		require.NoError(t, err)
		got, ok := models.AppendRequestJSON([]byte("x"), r)
		require.True(t, ok)
		require.Equal(t, "x"+string(want), string(got))
		got, _ = models.AppendRequestJSON(nil, (*models.TransferRequest)(&r))
		require.Equal(t, string(want), string(got))
	}
	_, ok := models.AppendRequestJSON(nil, models.BankAccountRequest{})
	require.False(t, ok)
}

// TestDecodeRequestReadsTheCommonShapeItself: Formance's usual body takes the fast path, which
// allocates a fraction of what json.Unmarshal does.
func TestDecodeRequestReadsTheCommonShapeItself(t *testing.T) {
	body := []byte(`{"idempotencyKey":"pi_1","amount":"10000","currency":"EUR/2","sourceAccountId":"acc_1",` +
		`"destinationAccountId":"ben_1","description":"invoice","metadata":{"k":"v"}}`)
	var r models.PayoutRequest
	fast := testing.AllocsPerRun(100, func() { _ = models.DecodeRequest(body, &r) })
	slow := testing.AllocsPerRun(100, func() { _ = json.Unmarshal(body, &r) })
	require.Less(t, fast, slow/2, "fast path: %v allocations, encoding/json: %v", fast, slow)
}
