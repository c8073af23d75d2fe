package models

import (
	"fmt"
	"strconv"
	"strings"
)

// Asset is a currency or other asset in Formance's UMN form: an upper-case CODE, optionally followed
// by "/" and the PRECISION, the number of decimal digits of its minor unit. "USD/2" (cents),
// "JPY/0", "BTC/8" and "COIN" are valid; "usd/2", "USD/", "USD/-1", "USD 2" and "" are not.
//
// The CODE starts with a letter A–Z and continues with letters A–Z, digits or underscores, at most
// 32 characters; the PRECISION is 1 to 6 decimal digits.
//
// Asset is a string type so that literals read naturally (models.Asset("USD/2")); values built that
// way are checked by Validate, by the validator tag "asset", and by UnmarshalJSON.
type Asset string

// ParseAsset checks s and returns it as an Asset, or an error wrapping ErrInvalidAsset that says
// what is wrong.
func ParseAsset(s string) (Asset, error) {
	a := Asset(s)
	if err := a.Validate(); err != nil {
		return "", err
	}
	return a, nil
}

// MustParseAsset is ParseAsset for constants in code and tests: it panics on an invalid asset.
func MustParseAsset(s string) Asset {
	a, err := ParseAsset(s)
	if err != nil {
		panic(err)
	}
	return a
}

// NewAsset builds the UMN form of code with the given precision, e.g. NewAsset("EUR", 2) is "EUR/2".
func NewAsset(code string, precision int) (Asset, error) {
	return ParseAsset(code + "/" + strconv.Itoa(precision))
}

// Validate returns nil for a well-formed UMN asset, or an error wrapping ErrInvalidAsset.
func (a Asset) Validate() error {
	s := string(a)
	code, precision, hasPrecision := strings.Cut(s, "/")
	if problem := checkAssetCode(code); problem != "" {
		return fmt.Errorf("%w: %q: %s", ErrInvalidAsset, s, problem)
	}
	if hasPrecision {
		if precision == "" || len(precision) > 6 || strings.Trim(precision, "0123456789") != "" {
			return fmt.Errorf("%w: %q: precision after \"/\" must be 1 to 6 decimal digits", ErrInvalidAsset, s)
		}
	}
	return nil
}

func checkAssetCode(code string) string {
	switch {
	case code == "":
		return "code is empty"
	case len(code) > 32:
		return "code is longer than 32 characters"
	case code[0] < 'A' || code[0] > 'Z':
		return "code must start with an upper-case letter A-Z"
	}
	for i := 1; i < len(code); i++ {
		c := code[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Sprintf("code may hold only upper-case letters, digits and '_', found %q", c)
		}
	}
	return ""
}

// Code returns the part before "/", e.g. "USD" for "USD/2".
func (a Asset) Code() string {
	code, _, _ := strings.Cut(string(a), "/")
	return code
}

// Precision returns the number of decimal digits of the minor unit, and false when the asset has
// none ("COIN") or is malformed.
func (a Asset) Precision() (int, bool) {
	_, p, ok := strings.Cut(string(a), "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// String returns the UMN form.
func (a Asset) String() string { return string(a) }

// UnmarshalJSON reads a JSON string and rejects it, with ErrInvalidAsset, unless it is a valid UMN asset.
func (a *Asset) UnmarshalJSON(data []byte) error {
	s, err := unquote(data)
	if err != nil {
		return fmt.Errorf("%w: %s is not a JSON string", ErrInvalidAsset, data)
	}
	parsed, err := ParseAsset(s)
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}
