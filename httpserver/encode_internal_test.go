package httpserver

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// TestUnlinkedWriteNeverMissesARowToLink: unlinkedWrite says yes for every payout or transfer row
// without relatedTransactionID, whatever its ids, scheme and metadata hold, and no for rows of
// other types or with a relatedTransactionID.
func TestUnlinkedWriteNeverMissesARowToLink(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"", "a", `,"type":"PAYOUT"`, `"\`, "é\u2028", `","type":"TRANSFER","x":"`}
	types := []models.TransactionType{models.TransactionTypePayin, models.TransactionTypePayout, models.TransactionTypeTransfer, models.TransactionTypeOther}
	pick := func() string { return texts[rng.IntN(len(texts))] }
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("z", 3600))
	for i := range 5000 {
		tx := models.Transaction{ID: fmt.Sprintf("tx%d%s", i, pick()), RelatedTransactionID: pick(), CreatedAt: at,
			UpdatedAt: at.Add(time.Duration(rng.IntN(1e9))), Currency: "EUR/2", Scheme: pick(), Type: types[rng.IntN(len(types))],
			Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(1), Metadata: models.Metadata{pick(): pick()}}
		e, err := models.Encode(&tx)
		if err != nil {
			t.Fatal(err)
		}
		need := tx.RelatedTransactionID == "" && (tx.Type == models.TransactionTypePayout || tx.Type == models.TransactionTypeTransfer)
		got := unlinkedWrite(e)
		if need && !got {
			t.Fatalf("unlinkedWrite says no for a row to link: %s", e.JSON())
		}
		if !need && got && tx.Metadata[`,"type":"PAYOUT"`] == "" {
			t.Fatalf("unlinkedWrite says yes for %s", e.JSON())
		}
	}
}
