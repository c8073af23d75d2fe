package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/internal/encodedtrust"
)

// TestUnlinkedJSONNeverMissesARowToLink: the flag read back from a stored encoding (pgfeed's
// rows) says yes for every payout or transfer without relatedTransactionID, whatever its ids,
// scheme and metadata hold, and agrees with the flag Encode sets.
func TestUnlinkedJSONNeverMissesARowToLink(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"", "a", `,"type":"PAYOUT"`, `"\`, "é\u2028", `","type":"TRANSFER","x":"`}
	types := []TransactionType{TransactionTypePayin, TransactionTypePayout, TransactionTypeTransfer, TransactionTypeOther}
	pick := func() string { return texts[rng.IntN(len(texts))] }
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("z", 3600))
	for i := range 5000 {
		tx := Transaction{ID: fmt.Sprintf("tx%d%s", i, pick()), RelatedTransactionID: pick(), CreatedAt: at,
			UpdatedAt: at.Add(time.Duration(rng.IntN(1e9))), Currency: "EUR/2", Scheme: pick(), Type: types[rng.IntN(len(types))],
			Status: TransactionStatusPending, Amount: AmountFromInt64(1), Metadata: Metadata{pick(): pick()}}
		e, err := Encode(&tx)
		if err != nil {
			t.Fatal(err)
		}
		need := tx.RelatedTransactionID == "" && (tx.Type == TransactionTypePayout || tx.Type == TransactionTypeTransfer)
		if e.UnlinkedWrite() != need {
			t.Fatalf("Encode's flag is %v for %s", e.UnlinkedWrite(), e.JSON())
		}
		if got := unlinkedJSON(e.JSON()); got != need {
			t.Fatalf("unlinkedJSON = %v for %s", got, e.JSON())
		}
		back := encodedtrust.Make.(func(string, int64, int8) Encoded)(e.JSON(), e.Version(), -1)
		if back.UnlinkedWrite() != need || back.ID() != tx.ID {
			t.Fatalf("rebuilt encoding: unlinked %v, id %q for %s", back.UnlinkedWrite(), back.ID(), e.JSON())
		}
	}
}

// TestAppendStringIsEncodingJSON: appendString writes encoding/json's bytes for any string, with
// and without HTML escaping: control bytes, quotes, backslashes, '<', '>' and '&', invalid UTF-8,
// U+2028 and U+2029, and long runs of plain bytes between them.
func TestAppendStringIsEncodingJSON(t *testing.T) {
	pieces := []string{"a", "plain text ", `"`, `\`, "<", ">", "&", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€",
		"\u2028", "\u2029", "\xff", "\xe2\x80", "🙂", strings.Repeat("x", 40)}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		var s strings.Builder
		for range rng.IntN(8) {
			s.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := s.String()
		html, err := json.Marshal(in)
		require.NoError(t, err)
		assert.Equal(t, string(html), string(appendString(nil, in, true)), "%q", in)
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(in))
		assert.Equal(t, strings.TrimSuffix(plain.String(), "\n"), string(appendString(nil, in, false)), "%q", in)
	}
}
