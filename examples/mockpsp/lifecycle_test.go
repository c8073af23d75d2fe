package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

func TestNextStatus(t *testing.T) {
	const (
		payIn    = models.TransactionTypePayin
		payOut   = models.TransactionTypePayout
		transfer = models.TransactionTypeTransfer
	)
	tests := []struct {
		typ     models.TransactionType
		from    models.TransactionStatus
		action  Action
		want    models.TransactionStatus
		wantErr []string // substrings of the error, when the transition is refused
	}{
		{payIn, "PENDING", ActionAuthorise, "AUTHORISATION", nil},
		{payIn, "AUTHORISATION", ActionCapture, "CAPTURE", nil},
		{payIn, "AUTHORISATION", ActionFailCapture, "CAPTURE_FAILED", nil},
		{payIn, "PENDING", ActionSucceed, "SUCCEEDED", nil},
		{payIn, "PENDING", ActionFail, "FAILED", nil},
		{payIn, "AUTHORISATION", ActionCancel, "CANCELLED", nil},
		{payIn, "PENDING", ActionExpire, "EXPIRED", nil},
		{payIn, "SUCCEEDED", ActionRefund, "REFUNDED", nil},
		{payIn, "CAPTURE", ActionRefund, "REFUNDED", nil},
		{payIn, "REFUNDED", ActionFailRefund, "REFUNDED_FAILURE", nil},
		{payIn, "REFUNDED", ActionReverseRefund, "REFUND_REVERSED", nil},
		{payIn, "SUCCEEDED", ActionDispute, "DISPUTE", nil},
		{payIn, "DISPUTE", ActionWinDispute, "DISPUTE_WON", nil},
		{payIn, "DISPUTE", ActionLoseDispute, "DISPUTE_LOST", nil},
		{payIn, "DISPUTE_WON", ActionRefund, "REFUNDED", nil},
		{payOut, "PENDING", ActionSucceed, "SUCCEEDED", nil},
		{payOut, "PENDING", ActionFail, "FAILED", nil},
		{transfer, "PENDING", ActionCancel, "CANCELLED", nil},

		{payIn, "SUCCEEDED", ActionCapture, "", []string{`"capture"`, "SUCCEEDED", "AUTHORISATION", "refund"}},
		{payIn, "REFUNDED", ActionRefund, "", []string{`"refund"`, "REFUNDED"}},
		{payIn, "FAILED", ActionSucceed, "", []string{`"succeed"`, "FAILED", "no action is possible"}},
		{payIn, "PENDING", "explode", "", []string{`unknown action "explode"`, "authorise"}},
		{payIn, "PENDING", "", "", []string{`unknown action ""`}},
		{payOut, "SUCCEEDED", ActionRefund, "", []string{`"refund"`, "PAYIN", "PAYOUT"}},
		{transfer, "PENDING", ActionAuthorise, "", []string{`"authorise"`, "TRANSFER"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ)+"/"+string(tt.from)+"/"+string(tt.action), func(t *testing.T) {
			got, err := NextStatus(tt.typ, tt.from, tt.action)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				assert.Contains(t, AllowedActions(tt.typ, tt.from), tt.action)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, connector.ErrInvalidRequest)
			for _, s := range tt.wantErr {
				assert.Contains(t, err.Error(), s)
			}
			assert.NotContains(t, AllowedActions(tt.typ, tt.from), tt.action)
		})
	}
}

// Every action the panel offers must succeed, and lead to a valid status of the contract.
func TestAllowedActionsAreConsistent(t *testing.T) {
	for _, typ := range models.TransactionTypes() {
		for _, from := range models.TransactionStatuses() {
			for _, a := range AllowedActions(typ, from) {
				to, err := NextStatus(typ, from, a)
				require.NoError(t, err, "%s %s %s", typ, from, a)
				assert.True(t, to.Valid(), "%s %s %s -> %s", typ, from, a, to)
				assert.NotEqual(t, from, to, "%s %s %s must change the status", typ, from, a)
			}
		}
	}
}
