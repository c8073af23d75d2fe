package models

import (
	"encoding/json"
	"time"

	"github.com/pspconnect/pspconnect/internal/jsonscan"
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

// DecodeRequest decodes the JSON body of a write into v (a *PayoutRequest or a *TransferRequest;
// any other type goes to json.Unmarshal) exactly as json.Unmarshal would. The common shape, an
// object whose keys are the fields' own names, each at most once, with strings without escapes or
// non-ASCII bytes, is read without reflection; anything else, errors included, goes through
// json.Unmarshal, so that the outcome and the error are encoding/json's. It does not validate v.
func DecodeRequest(data []byte, v any) error {
	var r *PayoutRequest
	switch x := v.(type) {
	case *PayoutRequest:
		r = x
	case *TransferRequest:
		r = (*PayoutRequest)(x)
	}
	if r != nil {
		var got PayoutRequest
		if decodePayoutRequest(data, &got) {
			*r = got
			return nil
		}
	}
	return json.Unmarshal(data, v)
}

// decodePayoutRequest reads the common shape of DecodeRequest into r, or reports false.
func decodePayoutRequest(data []byte, r *PayoutRequest) bool {
	sc := jsonscan.Scanner{B: data, S: string(data)} // one copy: every string read is a part of it
	if !sc.Consume('{') {
		return false
	}
	var seen uint8
	for first := true; ; first = false {
		if sc.Consume('}') {
			return sc.End()
		}
		if !first && !sc.Consume(',') {
			return false
		}
		key, ok := sc.Plain(true)
		if !ok || !sc.Consume(':') {
			return false
		}
		bit, field := requestField(r, key)
		if bit == 0 || seen&bit != 0 {
			return false // another key (encoding/json matches keys case-insensitively), or twice
		}
		seen |= bit
		switch key {
		case "amount":
			s, ok := sc.Plain(true)
			if !ok {
				return false
			}
			a, err := ParseAmount(s)
			if err != nil {
				return false
			}
			r.Amount = a
		case "currency":
			s, ok := sc.Plain(true)
			if !ok {
				return false
			}
			a, err := ParseAsset(s)
			if err != nil {
				return false
			}
			r.Currency = a
		case "metadata":
			if !sc.Consume('{') {
				return false
			}
			m := Metadata{}
			for first := true; ; first = false {
				if sc.Consume('}') {
					break
				}
				if !first && !sc.Consume(',') {
					return false
				}
				k, ok := sc.Plain(true)
				if !ok || !sc.Consume(':') {
					return false
				}
				v, ok := sc.Plain(true)
				if !ok {
					return false
				}
				m[k] = v
			}
			r.Metadata = m
		default:
			s, ok := sc.Plain(true)
			if !ok {
				return false
			}
			*field = s
		}
	}
}

// requestField returns the bit of a PayoutRequest's JSON key (0 for another key) and, for its
// plain string fields, where the value goes.
func requestField(r *PayoutRequest, key string) (uint8, *string) {
	switch key {
	case "idempotencyKey":
		return 1, &r.IdempotencyKey
	case "amount":
		return 2, nil
	case "currency":
		return 4, nil
	case "sourceAccountId":
		return 8, &r.SourceAccountID
	case "destinationAccountId":
		return 16, &r.DestinationAccountID
	case "description":
		return 32, &r.Description
	case "metadata":
		return 64, nil
	}
	return 0, nil
}

// AppendRequestJSON appends what json.Marshal writes for v, a PayoutRequest or a TransferRequest
// (or a pointer to one), and reports true; for another type it appends nothing and reports false.
// The idempotency guard fingerprints write requests with it.
func AppendRequestJSON(b []byte, v any) ([]byte, bool) {
	var r *PayoutRequest
	switch x := v.(type) {
	case PayoutRequest:
		r = &x
	case *PayoutRequest:
		r = x
	case TransferRequest:
		r = (*PayoutRequest)(&x)
	case *TransferRequest:
		r = (*PayoutRequest)(x)
	}
	if r == nil {
		return b, false
	}
	b = append(b, `{"idempotencyKey":`...)
	b = appendString(b, r.IdempotencyKey, true)
	b = append(b, `,"amount":`...)
	if r.Amount.IsSet() {
		b = append(b, '"')
		b, _ = r.Amount.AppendText(b)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"currency":`...)
	b = appendString(b, string(r.Currency), true)
	b = append(b, `,"sourceAccountId":`...)
	b = appendString(b, r.SourceAccountID, true)
	b = append(b, `,"destinationAccountId":`...)
	b = appendString(b, r.DestinationAccountID, true)
	if r.Description != "" {
		b = append(b, `,"description":`...)
		b = appendString(b, r.Description, true)
	}
	b = appendMetadataAs(b, r.Metadata, true)
	return append(b, '}'), true
}
