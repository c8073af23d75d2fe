package models_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

func TestEncodeValidatesAndKeepsTheWireBytes(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	tx := models.Transaction{ID: `tx_"1"\é`, CreatedAt: at, UpdatedAt: at.Add(time.Second), Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(7),
		Metadata: models.Metadata{"k": "<v>"}}
	e, err := models.Encode(tx)
	require.NoError(t, err)
	want, err := json.Marshal(tx)
	require.NoError(t, err)
	var back, fromWant models.Transaction
	require.NoError(t, e.Decode(&back))
	require.NoError(t, json.Unmarshal(want, &fromWant))
	assert.Equal(t, fromWant, back)
	assert.Equal(t, tx.ID, e.ID(), "an id with escapes is read back")
	assert.Equal(t, tx.UpdatedAt.UnixNano(), e.Version())
	assert.Equal(t, e.Len(), len(e.JSON()))
	assert.Equal(t, "["+e.JSON(), string(e.AppendTo([]byte("["))))
	assert.Contains(t, e.JSON(), `"k":"<v>"`, "no HTML escaping, as the list routes write")

	tx.Status = "PROCESSED"
	_, err = models.Encode(&tx)
	var verr *models.ValidationError
	assert.True(t, errors.As(err, &verr), "an invalid item is refused: %v", err)

	_, err = models.Encode(models.Payout{})
	assert.ErrorIs(t, err, models.ErrNotEncodable)

	a, err := models.Encode(models.Account{ID: "acc_1", AccountName: "A", CreatedAt: at})
	require.NoError(t, err)
	assert.Equal(t, "acc_1", a.ID())
	assert.Zero(t, a.Version())
	assert.True(t, models.Encoded{}.IsZero())
	assert.Empty(t, models.Encoded{}.ID())
}

// TestAppendPayoutIsEncodingJSON: AppendPayout writes what encoding/json writes with HTML escaping
// off, for payouts with and without their optional fields and with strings to escape.
func TestAppendPayoutIsEncodingJSON(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("x", -7200))
	for i, p := range []models.Payout{
		{},
		{ID: "po_1", IdempotencyKey: "k<&>", Amount: models.AmountFromInt64(5), Currency: "EUR/2", SourceAccountID: "a\n",
			DestinationAccountID: "b\u2028", Status: models.TransactionStatusPending, CreatedAt: at},
		{ID: "po_2", IdempotencyKey: "k", Amount: models.AmountFromInt64(7), Description: "d\"", CreatedAt: at, UpdatedAt: at.UTC(),
			Metadata: models.Metadata{"z": "1", "a": "é"}},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(&p))
		got, err := models.AppendPayout(nil, &p)
		require.NoError(t, err)
		assert.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(got), "payout %d", i)
	}
	_, err := models.AppendPayout(nil, &models.Payout{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	assert.ErrorIs(t, err, models.ErrNotEncodable)
}
