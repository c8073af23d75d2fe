package models

import (
	"fmt"
	"slices"
	"strings"
)

// TransactionType says which way a transaction moves money. Formance maps it one to one onto its
// payment types. Only the four constants below are valid on the wire.
type TransactionType string

// The transaction types of the contract.
const (
	TransactionTypePayin    TransactionType = "PAYIN"
	TransactionTypePayout   TransactionType = "PAYOUT"
	TransactionTypeTransfer TransactionType = "TRANSFER"
	TransactionTypeOther    TransactionType = "OTHER"
)

// TransactionTypes lists every valid TransactionType, in the contract's order.
func TransactionTypes() []TransactionType {
	return []TransactionType{TransactionTypePayin, TransactionTypePayout, TransactionTypeTransfer, TransactionTypeOther}
}

// Valid reports whether t is one of the contract's transaction types.
func (t TransactionType) Valid() bool { return slices.Contains(TransactionTypes(), t) }

// ParseTransactionType returns s as a TransactionType, or an error wrapping ErrInvalidEnum that lists
// the valid values. Matching is exact: "payin" is not "PAYIN".
func ParseTransactionType(s string) (TransactionType, error) {
	t := TransactionType(s)
	if !t.Valid() {
		return "", enumError("transaction type", s, TransactionTypes())
	}
	return t, nil
}

// UnmarshalJSON rejects any value that is not one of the contract's transaction types.
func (t *TransactionType) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, t, ParseTransactionType)
}

// TransactionStatus is the state of a transaction, payout or transfer. Formance maps it one to one
// onto its payment statuses. Only the constants below are valid on the wire: the older
// "PROCESSING" and "PROCESSED" are rejected by today's Formance client, and so by this library.
type TransactionStatus string

// The transaction statuses of the contract.
const (
	TransactionStatusPending         TransactionStatus = "PENDING"
	TransactionStatusSucceeded       TransactionStatus = "SUCCEEDED"
	TransactionStatusFailed          TransactionStatus = "FAILED"
	TransactionStatusCancelled       TransactionStatus = "CANCELLED"
	TransactionStatusExpired         TransactionStatus = "EXPIRED"
	TransactionStatusRefunded        TransactionStatus = "REFUNDED"
	TransactionStatusRefundedFailure TransactionStatus = "REFUNDED_FAILURE"
	TransactionStatusRefundReversed  TransactionStatus = "REFUND_REVERSED"
	TransactionStatusDispute         TransactionStatus = "DISPUTE"
	TransactionStatusDisputeWon      TransactionStatus = "DISPUTE_WON"
	TransactionStatusDisputeLost     TransactionStatus = "DISPUTE_LOST"
	TransactionStatusAuthorisation   TransactionStatus = "AUTHORISATION"
	TransactionStatusCapture         TransactionStatus = "CAPTURE"
	TransactionStatusCaptureFailed   TransactionStatus = "CAPTURE_FAILED"
	TransactionStatusOther           TransactionStatus = "OTHER"
)

// TransactionStatuses lists every valid TransactionStatus, in the contract's order.
func TransactionStatuses() []TransactionStatus {
	return []TransactionStatus{
		TransactionStatusPending, TransactionStatusSucceeded, TransactionStatusFailed,
		TransactionStatusCancelled, TransactionStatusExpired, TransactionStatusRefunded,
		TransactionStatusRefundedFailure, TransactionStatusRefundReversed, TransactionStatusDispute,
		TransactionStatusDisputeWon, TransactionStatusDisputeLost, TransactionStatusAuthorisation,
		TransactionStatusCapture, TransactionStatusCaptureFailed, TransactionStatusOther,
	}
}

// Valid reports whether s is one of the contract's statuses.
func (s TransactionStatus) Valid() bool { return slices.Contains(TransactionStatuses(), s) }

// ParseTransactionStatus returns s as a TransactionStatus, or an error wrapping ErrInvalidEnum that
// lists the valid values.
func ParseTransactionStatus(s string) (TransactionStatus, error) {
	st := TransactionStatus(s)
	if !st.Valid() {
		return "", enumError("transaction status", s, TransactionStatuses())
	}
	return st, nil
}

// UnmarshalJSON rejects any value that is not one of the contract's statuses.
func (s *TransactionStatus) UnmarshalJSON(data []byte) error {
	return unmarshalEnum(data, s, ParseTransactionStatus)
}

func enumError[T ~string](what, got string, valid []T) error {
	names := make([]string, len(valid))
	for i, v := range valid {
		names[i] = string(v)
	}
	return fmt.Errorf("%w: %q is not a valid %s (want one of %s)", ErrInvalidEnum, got, what, strings.Join(names, ", "))
}

func unmarshalEnum[T ~string](data []byte, dst *T, parse func(string) (T, error)) error {
	s, err := unquote(data)
	if err != nil {
		return fmt.Errorf("%w: %s is not a JSON string", ErrInvalidEnum, data)
	}
	v, err := parse(s)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}
