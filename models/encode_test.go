package models_test

import (
	"encoding/json"
	"errors"
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
