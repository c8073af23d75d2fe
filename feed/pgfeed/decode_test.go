package pgfeed

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// TestFastDecoderMatchesEncodingJSON: for every stored transaction encoding/json writes, and for
// inputs in other shapes, decodeTransaction gives what json.Unmarshal gives, or refuses (and the
// caller then uses json.Unmarshal).
func TestFastDecoderMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	for i := range 5000 {
		at := time.Unix(0, rng.Int64N(1<<62)).UTC()
		tx := models.Transaction{
			ID: pick("tx_1", "é-ünïcode", "with \"quotes\"", "back\\slash", "<html>&", "tab\there", ""), RelatedTransactionID: pick("", "ik_9"),
			CreatedAt: at, UpdatedAt: at.Add(time.Duration(rng.IntN(1e9))), Currency: models.Asset(pick("USD/2", "JPY/0", "BTC/8")),
			Scheme: pick("", "visa"), Type: models.TransactionType(pick("PAYIN", "PAYOUT", "TRANSFER", "OTHER")),
			Status:          models.TransactionStatus(pick("PENDING", "SUCCEEDED", "FAILED")),
			Amount:          models.MustParseAmount(pick("0", "1", "100", "123456789012345678901234567890")),
			SourceAccountID: pick("", "acc_1"), DestinationAccountID: pick("", "acc_2"),
		}
		switch i % 4 {
		case 1:
			tx.Metadata = models.Metadata{"k": pick("v", "ü", "a\"b")}
		case 2:
			tx.Metadata = models.Metadata{}
		}
		raw, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, raw)
	}
	for _, raw := range []string{
		`{}`, `{"id":"x"}`, `{"ID":"x"}`, `{"id":1}`, `{"id":"x","amount":"1.5"}`, `{"id":"x","createdAt":"yesterday"}`,
		`{"id":"x","metadata":null}`, `{"id":"x","metadata":{"a":"b","c":"d"}}`, `{"id":"x" }`, `{"id":"x"}x`,
		`{"id":"x","extra":"y"}`, `{"id":"x","amount":"-5"}`, `{"id":"\u00e9"}`, `{"metadata":{"a":1}}`,
	} {
		compare(t, []byte(raw))
	}
}

func compare(t *testing.T, raw []byte) {
	t.Helper()
	var want models.Transaction
	wantErr := json.Unmarshal(raw, &want)
	var got models.Transaction
	switch err := decodeTransaction(raw, &got); {
	case err == errNotFast:
		return // the caller falls back to encoding/json
	case err != nil:
		t.Fatalf("%s: %v", raw, err)
	case wantErr != nil:
		t.Errorf("%s: the fast decoder accepted what encoding/json refuses (%v)", raw, wantErr)
	case !reflect.DeepEqual(normal(got), normal(want)) || got.Amount.String() != want.Amount.String():
		t.Errorf("%s:\n fast %+v\n json %+v", raw, got, want)
	}
	if strings.Contains(string(raw), `\`) && decodeTransaction(raw, &got) != errNotFast {
		t.Errorf("%s: an escaped string must go to encoding/json", raw)
	}
}

func normal(t models.Transaction) models.Transaction {
	t.Amount = models.Amount{}
	return t
}
