package models

import (
	"encoding/json"
	"time"
)

// validFast reports whether obj is one of the contract types that certainly passes Validate's full
// check: the same rules as the struct tags and checkTimes, checked without reflection. It returns
// false when obj is another type or breaks a rule; Validate then runs the full check, which names
// every problem. It never returns true for an object the full check would refuse (see
// TestValidFastNeverAcceptsWhatTheFullCheckRefuses).
func validFast(obj any) bool {
	switch v := obj.(type) {
	case Transaction:
		return v.validFast()
	case *Transaction:
		return v != nil && v.validFast()
	case Account:
		return v.validFast()
	case *Account:
		return v != nil && v.validFast()
	case Beneficiary:
		return v.validFast()
	case *Beneficiary:
		return v != nil && v.validFast()
	case Balances:
		return v.validFast()
	case *Balances:
		return v != nil && v.validFast()
	case Balance:
		return v.validFast()
	case *Balance:
		return v != nil && v.validFast()
	case PayoutRequest:
		return v.validFast()
	case *PayoutRequest:
		return v != nil && v.validFast()
	case TransferRequest:
		r := PayoutRequest(v)
		return r.validFast()
	case *TransferRequest:
		return v != nil && (*PayoutRequest)(v).validFast()
	case Payout:
		return v.validFast()
	case *Payout:
		return v != nil && v.validFast()
	case Transfer:
		p := Payout(v)
		return p.validFast()
	case *Transfer:
		return v != nil && (*Payout)(v).validFast()
	}
	return false
}

// requiredTime is the rule of a required time field: set (tag "required") and writable as an
// RFC 3339 date-time (checkTimes).
func requiredTime(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	y := t.Year()
	return y >= 0 && y <= 9999
}

// optionalTime is the rule of an untagged time field: zero, or writable as an RFC 3339 date-time.
func optionalTime(t time.Time) bool { return t.IsZero() || requiredTime(t) }

func (t *Transaction) validFast() bool {
	return t.ID != "" && requiredTime(t.CreatedAt) && requiredTime(t.UpdatedAt) &&
		t.Currency.Validate() == nil && t.Type.Valid() && t.Status.Valid() &&
		t.Amount.IsSet() && t.Amount.Sign() >= 0
}

func (a *Account) validFast() bool {
	return a.ID != "" && a.AccountName != "" && requiredTime(a.CreatedAt)
}

func (b *Beneficiary) validFast() bool {
	return b.ID != "" && b.OwnerName != "" && requiredTime(b.CreatedAt)
}

func (b *Balance) validFast() bool {
	return b.Amount.IsSet() && b.Currency.Validate() == nil
}

func (b *Balances) validFast() bool {
	if b.ID == "" || b.AccountID == "" || !requiredTime(b.At) {
		return false
	}
	for i := range b.Balances {
		if !b.Balances[i].validFast() {
			return false
		}
	}
	return true
}

func (r *PayoutRequest) validFast() bool {
	return r.IdempotencyKey != "" && r.Amount.Sign() > 0 && r.Currency.Validate() == nil &&
		r.SourceAccountID != "" && r.DestinationAccountID != "" && r.Metadata.withinRequestBounds()
}

func (p *Payout) validFast() bool {
	return p.ID != "" && p.IdempotencyKey != "" && p.Amount.Sign() > 0 && p.Currency.Validate() == nil &&
		p.SourceAccountID != "" && p.DestinationAccountID != "" && p.Status.Valid() &&
		requiredTime(p.CreatedAt) && optionalTime(p.UpdatedAt)
}

// unquote decodes a JSON string like json.Unmarshal into a string does, without its set-up cost for
// the common case of plain printable ASCII without escapes; anything else goes through
// json.Unmarshal.
func unquote(data []byte) (string, error) {
	if n := len(data); n >= 2 && data[0] == '"' && data[n-1] == '"' {
		plain := true
		for _, c := range data[1 : n-1] {
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return string(data[1 : n-1]), nil
		}
	}
	var s string
	err := json.Unmarshal(data, &s)
	return s, err
}
