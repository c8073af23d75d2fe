package main

import (
	"slices"
	"strings"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// Action is a lifecycle event a person triggers from the admin panel on one transaction (or on the
// payout or transfer behind it), such as "capture" or "refund".
type Action string

// The lifecycle actions. Each one moves a transaction from some statuses to one new status; see
// transitions for which.
const (
	ActionAuthorise     Action = "authorise"
	ActionCapture       Action = "capture"
	ActionFailCapture   Action = "fail_capture"
	ActionSucceed       Action = "succeed"
	ActionFail          Action = "fail"
	ActionCancel        Action = "cancel"
	ActionExpire        Action = "expire"
	ActionRefund        Action = "refund"
	ActionFailRefund    Action = "fail_refund"
	ActionReverseRefund Action = "reverse_refund"
	ActionDispute       Action = "dispute"
	ActionWinDispute    Action = "win_dispute"
	ActionLoseDispute   Action = "lose_dispute"
)

// transition is one row of the lifecycle table: action moves a transaction whose status is one of
// from to status to. payInOnly restricts it to card-style pay-ins (authorisation, capture, refunds
// and disputes have no meaning for a payout or a transfer).
type transition struct {
	action    Action
	from      []models.TransactionStatus
	to        models.TransactionStatus
	payInOnly bool
}

// transitions is the life of a payment, as the panel offers it:
//
//	PENDING ──authorise──▶ AUTHORISATION ──capture──▶ CAPTURE
//	   │                        └──fail_capture──▶ CAPTURE_FAILED
//	   ├──succeed──▶ SUCCEEDED ──refund──▶ REFUNDED ──fail_refund──▶ REFUNDED_FAILURE
//	   │                 │                     └──reverse_refund──▶ REFUND_REVERSED
//	   │                 └──dispute──▶ DISPUTE ──win_dispute──▶ DISPUTE_WON
//	   │                                   └──lose_dispute──▶ DISPUTE_LOST
//	   └──fail / cancel / expire──▶ FAILED / CANCELLED / EXPIRED  (also from AUTHORISATION)
//
// A captured payment (CAPTURE) can be refunded or disputed like a SUCCEEDED one, and a won dispute
// can still be refunded.
var transitions = []transition{
	{action: ActionAuthorise, from: statuses(models.TransactionStatusPending), to: models.TransactionStatusAuthorisation, payInOnly: true},
	{action: ActionCapture, from: statuses(models.TransactionStatusAuthorisation), to: models.TransactionStatusCapture, payInOnly: true},
	{action: ActionFailCapture, from: statuses(models.TransactionStatusAuthorisation), to: models.TransactionStatusCaptureFailed, payInOnly: true},
	{action: ActionSucceed, from: statuses(models.TransactionStatusPending), to: models.TransactionStatusSucceeded},
	{action: ActionFail, from: statuses(models.TransactionStatusPending, models.TransactionStatusAuthorisation), to: models.TransactionStatusFailed},
	{action: ActionCancel, from: statuses(models.TransactionStatusPending, models.TransactionStatusAuthorisation), to: models.TransactionStatusCancelled},
	{action: ActionExpire, from: statuses(models.TransactionStatusPending, models.TransactionStatusAuthorisation), to: models.TransactionStatusExpired},
	{action: ActionRefund, from: statuses(models.TransactionStatusSucceeded, models.TransactionStatusCapture, models.TransactionStatusDisputeWon), to: models.TransactionStatusRefunded, payInOnly: true},
	{action: ActionFailRefund, from: statuses(models.TransactionStatusRefunded), to: models.TransactionStatusRefundedFailure, payInOnly: true},
	{action: ActionReverseRefund, from: statuses(models.TransactionStatusRefunded), to: models.TransactionStatusRefundReversed, payInOnly: true},
	{action: ActionDispute, from: statuses(models.TransactionStatusSucceeded, models.TransactionStatusCapture), to: models.TransactionStatusDispute, payInOnly: true},
	{action: ActionWinDispute, from: statuses(models.TransactionStatusDispute), to: models.TransactionStatusDisputeWon, payInOnly: true},
	{action: ActionLoseDispute, from: statuses(models.TransactionStatusDispute), to: models.TransactionStatusDisputeLost, payInOnly: true},
}

func statuses(s ...models.TransactionStatus) []models.TransactionStatus { return s }

// Actions lists every lifecycle action, in the order of the table.
func Actions() []Action {
	out := make([]Action, len(transitions))
	for i, t := range transitions {
		out[i] = t.action
	}
	return out
}

// NextStatus returns the status a transaction of type txType in status from moves to when action
// happens. It returns an error wrapping connector.ErrInvalidRequest, naming the action and the status,
// when the action is unknown or not possible from that status or for that type.
func NextStatus(txType models.TransactionType, from models.TransactionStatus, action Action) (models.TransactionStatus, error) {
	i := slices.IndexFunc(transitions, func(t transition) bool { return t.action == action })
	if i < 0 {
		return "", connector.InvalidRequest("unknown action %q (want one of %s)", action, joinActions(Actions()))
	}
	t := transitions[i]
	if t.payInOnly && txType != models.TransactionTypePayin {
		return "", connector.InvalidRequest("action %q applies only to PAYIN transactions, not to a %s", action, txType)
	}
	if !slices.Contains(t.from, from) {
		allowed := AllowedActions(txType, from)
		hint := "no action is possible from " + string(from)
		if len(allowed) > 0 {
			hint = "possible from " + string(from) + ": " + joinActions(allowed)
		}
		return "", connector.InvalidRequest("action %q is not possible for status %s: it applies to %s (%s)",
			action, from, joinStatuses(t.from), hint)
	}
	return t.to, nil
}

// AllowedActions returns the actions possible for a transaction of type txType in status from, in the
// order of the table. The panel shows one button per action.
func AllowedActions(txType models.TransactionType, from models.TransactionStatus) []Action {
	var out []Action
	for _, t := range transitions {
		if slices.Contains(t.from, from) && (!t.payInOnly || txType == models.TransactionTypePayin) {
			out = append(out, t.action)
		}
	}
	return out
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func joinStatuses(ss []models.TransactionStatus) string {
	s := make([]string, len(ss))
	for i, st := range ss {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// countsTowardBalance reports whether money has moved for a transaction in this status: the balances
// the PSP reports are the sum of such transactions. A pending, failed, refunded or lost payment has
// moved no money (or has given it back).
func countsTowardBalance(s models.TransactionStatus) bool {
	switch s {
	case models.TransactionStatusSucceeded, models.TransactionStatusCapture, models.TransactionStatusDispute,
		models.TransactionStatusDisputeWon, models.TransactionStatusRefundedFailure, models.TransactionStatusRefundReversed:
		return true
	}
	return false
}

// initialStatuses are the statuses a generated transaction may start in.
var initialStatuses = []models.TransactionStatus{
	models.TransactionStatusPending, models.TransactionStatusAuthorisation, models.TransactionStatusSucceeded,
}

func checkInitialStatus(t models.TransactionType, s models.TransactionStatus) error {
	if !slices.Contains(initialStatuses, s) {
		return connector.InvalidRequest("status %q cannot start a transaction (want one of %s, or empty for a realistic mix)", s, joinStatuses(initialStatuses))
	}
	if s == models.TransactionStatusAuthorisation && t != models.TransactionTypePayin {
		return connector.InvalidRequest("status %s applies only to PAYIN transactions, not to a %s", s, t)
	}
	return nil
}
