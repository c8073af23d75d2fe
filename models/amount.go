package models

import (
	"bytes"
	"cmp"
	"fmt"
	"math/big"
	"strconv"
)

// Amount is a sum of money in minor units (cents for USD/2, satoshis for BTC/8), of any size.
//
// On the wire it is a JSON string holding a base-10 integer ("10000" is 100.00 USD/2), which is
// exactly what the Formance client parses with big.Int.SetString. A decimal point, an exponent, a
// plus sign, white space, an empty string or a JSON number are all rejected when decoding, because
// Formance would reject them too.
//
// The zero value is "no amount": it marshals to null and fails validation of any required amount
// field. Amount is immutable and safe to copy and share between goroutines.
type Amount struct {
	// An amount that fits an int64 is n, with small set, and needs no allocation; a larger one is
	// v (never a value that fits an int64). Neither: no amount.
	v     *big.Int
	n     int64
	small bool
}

// amountOf returns the amount x, which the Amount keeps (x must not be changed afterwards).
func amountOf(x *big.Int) Amount {
	if x.IsInt64() {
		return Amount{n: x.Int64(), small: true}
	}
	return Amount{v: x}
}

// NewAmount returns the amount v in minor units. The big.Int is copied, so later changes to v do
// not affect the amount. A nil v gives the zero ("no amount") value.
func NewAmount(v *big.Int) Amount {
	if v == nil {
		return Amount{}
	}
	return amountOf(new(big.Int).Set(v))
}

// AmountFromInt64 returns the amount v in minor units.
func AmountFromInt64(v int64) Amount {
	return Amount{n: v, small: true}
}

// ParseAmount parses a base-10 integer in minor units, such as "10000" or "-250". It returns an
// error wrapping ErrInvalidAmount for anything else ("10.00", "1e3", "+5", "", " 7").
func ParseAmount(s string) (Amount, error) {
	if !isDecimalInteger(s) {
		return Amount{}, fmt.Errorf("%w: %q is not an integer in minor units (want digits only, e.g. \"10000\")", ErrInvalidAmount, s)
	}
	if len(s) <= 18 { // at most 18 digits (and a sign) fit an int64: no need for big.Int's parser
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return AmountFromInt64(n), nil
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return Amount{}, fmt.Errorf("%w: %q is not an integer in minor units", ErrInvalidAmount, s)
	}
	return amountOf(v), nil
}

// MustParseAmount is ParseAmount for constants in code and tests: it panics on an invalid amount.
func MustParseAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

func isDecimalInteger(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsSet reports whether the amount holds a value (the zero Amount does not).
func (a Amount) IsSet() bool { return a.small || a.v != nil }

// Sign returns -1, 0 or +1 for a negative, zero or positive amount, and 0 for an unset amount.
func (a Amount) Sign() int {
	switch {
	case a.small && a.n > 0:
		return 1
	case a.small && a.n < 0:
		return -1
	case a.v != nil:
		return a.v.Sign()
	}
	return 0
}

// BigInt returns a copy of the amount as a big.Int, or nil when the amount is not set.
func (a Amount) BigInt() *big.Int {
	switch {
	case a.small:
		return big.NewInt(a.n)
	case a.v != nil:
		return new(big.Int).Set(a.v)
	}
	return nil
}

// Cmp compares two amounts like big.Int.Cmp; an unset amount counts as zero.
func (a Amount) Cmp(b Amount) int {
	if a.fits() && b.fits() {
		return cmp.Compare(a.n, b.n)
	}
	return a.orZero().Cmp(b.orZero())
}

// Add returns a+b; an unset amount counts as zero.
func (a Amount) Add(b Amount) Amount {
	if a.fits() && b.fits() {
		if sum := a.n + b.n; (sum > a.n) == (b.n > 0) {
			return AmountFromInt64(sum)
		}
	}
	return amountOf(new(big.Int).Add(a.orZero(), b.orZero()))
}

// Sub returns a-b; an unset amount counts as zero.
func (a Amount) Sub(b Amount) Amount {
	if a.fits() && b.fits() {
		if diff := a.n - b.n; (diff < a.n) == (b.n > 0) {
			return AmountFromInt64(diff)
		}
	}
	return amountOf(new(big.Int).Sub(a.orZero(), b.orZero()))
}

// Equal reports whether two amounts hold the same value, or are both unset.
func (a Amount) Equal(b Amount) bool {
	if !a.IsSet() || !b.IsSet() {
		return !a.IsSet() && !b.IsSet()
	}
	if a.small || b.small { // a large value never fits an int64: both must be small
		return a.small && b.small && a.n == b.n
	}
	return a.v.Cmp(b.v) == 0
}

// fits reports whether the amount is small or unset (n is then its value, 0 when unset).
func (a Amount) fits() bool { return a.v == nil }

func (a Amount) orZero() *big.Int {
	if a.v == nil {
		return big.NewInt(a.n)
	}
	return a.v
}

// String returns the base-10 integer, or "" for an unset amount.
func (a Amount) String() string {
	switch {
	case a.small:
		return strconv.FormatInt(a.n, 10)
	case a.v != nil:
		return a.v.String()
	}
	return ""
}

// MarshalJSON writes the amount as a JSON string of digits, or null when it is not set.
func (a Amount) MarshalJSON() ([]byte, error) {
	if !a.IsSet() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 24)
	b = append(b, '"')
	b = a.appendDigits(b)
	return append(b, '"'), nil
}

// appendDigits appends the base-10 digits of a set amount.
func (a Amount) appendDigits(b []byte) []byte {
	if a.small {
		return strconv.AppendInt(b, a.n, 10)
	}
	return a.v.Append(b, 10)
}

// AppendText implements encoding.TextAppender so the amount also works as a map key or in text encoders.
func (a Amount) AppendText(b []byte) ([]byte, error) {
	if !a.IsSet() {
		return b, nil
	}
	return a.appendDigits(b), nil
}

// UnmarshalJSON reads a JSON string of digits. JSON null leaves the amount unset. A JSON number is
// rejected: the contract carries amounts as strings so that no client rounds them through a float.
func (a *Amount) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*a = Amount{}
		return nil
	}
	s, err := unquote(data)
	if err != nil {
		return fmt.Errorf("%w: %s is not a JSON string of digits", ErrInvalidAmount, data)
	}
	parsed, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}
