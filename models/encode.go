package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pspconnect/pspconnect/internal/encodedtrust"
)

// The list routes write their items with the appenders below instead of encoding/json's
// reflection: the same bytes (compact JSON, no HTML escaping, fields in struct order, omitempty
// honoured, map keys sorted; see httpserver's TestAppendersMatchEncodingJSON), several times
// faster, without allocating. An item they cannot write exactly as encoding/json would (a time
// that RFC 3339 cannot carry) makes the caller encode it with encoding/json instead.

// ErrNotEncodable reports a value the appenders and Encode leave to encoding/json: a type they do
// not know, or a time that RFC 3339 cannot carry (a year outside 0000-9999, a zone offset of 24
// hours or more; encoding/json refuses those too).
var ErrNotEncodable = errors.New("models: value needs encoding/json")

// AppendAccount appends a as encoding/json writes it with HTML escaping off, or fails with
// ErrNotEncodable. It does not validate a: Encode does.
func AppendAccount(b []byte, a *Account) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, a.ID)
	b = append(b, `,"accountName":`...)
	b = AppendJSONString(b, a.AccountName)
	b = append(b, `,"createdAt":`...)
	b, err := appendJSONTime(b, a.CreatedAt)
	if err != nil {
		return b, err
	}
	b = appendMetadata(b, a.Metadata)
	return append(b, '}'), nil
}

// AppendBeneficiary appends v as encoding/json writes it with HTML escaping off, or fails with
// ErrNotEncodable. It does not validate v: Encode does.
func AppendBeneficiary(b []byte, v *Beneficiary) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, v.ID)
	b = append(b, `,"ownerName":`...)
	b = AppendJSONString(b, v.OwnerName)
	b = append(b, `,"createdAt":`...)
	b, err := appendJSONTime(b, v.CreatedAt)
	if err != nil {
		return b, err
	}
	b = appendMetadata(b, v.Metadata)
	return append(b, '}'), nil
}

// AppendTransaction appends t as encoding/json writes it with HTML escaping off, or fails with
// ErrNotEncodable. It does not validate t: Encode does.
func AppendTransaction(b []byte, t *Transaction) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, t.ID)
	if t.RelatedTransactionID != "" {
		b = append(b, `,"relatedTransactionID":`...)
		b = AppendJSONString(b, t.RelatedTransactionID)
	}
	b = append(b, `,"createdAt":`...)
	b, err := appendJSONTime(b, t.CreatedAt)
	if err != nil {
		return b, err
	}
	b = append(b, `,"updatedAt":`...)
	if b, err = appendJSONTime(b, t.UpdatedAt); err != nil {
		return b, err
	}
	b = append(b, `,"currency":`...)
	b = AppendJSONString(b, string(t.Currency))
	if t.Scheme != "" {
		b = append(b, `,"scheme":`...)
		b = AppendJSONString(b, t.Scheme)
	}
	b = append(b, `,"type":`...)
	b = AppendJSONString(b, string(t.Type))
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, string(t.Status))
	b = append(b, `,"amount":`...)
	if t.Amount.IsSet() {
		b = append(b, '"')
		b, _ = t.Amount.AppendText(b) // cannot fail
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	if t.SourceAccountID != "" {
		b = append(b, `,"sourceAccountID":`...)
		b = AppendJSONString(b, t.SourceAccountID)
	}
	if t.DestinationAccountID != "" {
		b = append(b, `,"destinationAccountID":`...)
		b = AppendJSONString(b, t.DestinationAccountID)
	}
	b = appendMetadata(b, t.Metadata)
	return append(b, '}'), nil
}

// appendMetadata appends `,"metadata":{…}` with sorted keys, or nothing for an empty map (omitempty).
func appendMetadata(b []byte, m Metadata) []byte { return appendMetadataAs(b, m, false) }

// appendMetadataAs is appendMetadata, with the strings HTML-escaped when html is set.
func appendMetadataAs(b []byte, m Metadata, html bool) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, `,"metadata":{`...)
	if len(m) == 1 {
		for k, v := range m {
			b = appendString(b, k, html)
			b = append(b, ':')
			b = appendString(b, v, html)
		}
		return append(b, '}')
	}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k, html)
		b = append(b, ':')
		b = appendString(b, m[k], html)
	}
	return append(b, '}')
}

// appendJSONTime appends t as time.Time.MarshalJSON does: a quoted RFC 3339 date-time with as many
// fractional digits as needed. Times MarshalJSON refuses (a year outside 0000-9999, a zone offset
// of 24 hours or more) give ErrNotEncodable.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, ErrNotEncodable
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return b, ErrNotEncodable
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string with encoding/json's escaping when HTML escaping is
// off: '"' and '\\' escaped, control characters as \b \f \n \r \t or \u00XX, invalid UTF-8 as
// \ufffd, and U+2028 and U+2029 as \u2028 and \u2029; everything else as is.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s, false) }

// plainJSON[c] reports whether the byte c is written as it is in a JSON string (printable ASCII but
// '"' and '\\'); plainHTMLJSON also escapes '<', '>' and '&'.
var plainJSON, plainHTMLJSON = func() (plain, html [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
		html[c] = plain[c] && c != '<' && c != '>' && c != '&'
	}
	return plain, html
}()

// appendString is AppendJSONString, escaping '<', '>' and '&' as \u003c, \u003e and \u0026 too
// when html is set (as json.Marshal does).
func appendString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	plain := &plainJSON
	if html {
		plain = &plainHTMLJSON
	}
	done := 0 // s[:done] is written
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[done:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[done:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[done:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}

// Encoded is one list item (an Account, a Beneficiary or a Transaction) as the list routes write
// it: its compact JSON, made by Encode, which validated the item first. A feed keeps each stored
// item this way, since an item's served bytes never change once it is stored, and answers a page
// with connector.Page's Encoded field: the handler then copies the bytes instead of validating and
// encoding every item on every request. Only Encode makes a non-zero Encoded, so an Encoded never
// holds an item that breaks the contract. The zero Encoded is no item.
type Encoded struct {
	json     string
	version  int64 // a transaction's updatedAt in Unix ns; 0 for the other types
	unlinked bool  // see UnlinkedWrite
}

// Encode validates v (an Account, a Beneficiary or a Transaction, or a pointer to one) with
// Validate and returns its encoding. It fails with Validate's *ValidationError for an item that
// breaks the contract, and with ErrNotEncodable for another type or a time RFC 3339 cannot carry.
func Encode(v any) (Encoded, error) {
	return encodeWith(nil, v)
}

// encodeWith is Encode appending into buf (a scratch buffer, copied out).
func encodeWith(buf []byte, v any) (Encoded, error) {
	var (
		b        []byte
		err      error
		version  int64
		unlinked bool
	)
	switch x := v.(type) {
	case Transaction:
		return encodeWith(buf, &x)
	case Account:
		return encodeWith(buf, &x)
	case Beneficiary:
		return encodeWith(buf, &x)
	case *Transaction:
		if err := Validate(x); err != nil {
			return Encoded{}, err
		}
		b, err = AppendTransaction(buf, x)
		version = x.UpdatedAt.UnixNano()
		unlinked = x.RelatedTransactionID == "" && (x.Type == TransactionTypePayout || x.Type == TransactionTypeTransfer)
	case *Account:
		if err := Validate(x); err != nil {
			return Encoded{}, err
		}
		b, err = AppendAccount(buf, x)
	case *Beneficiary:
		if err := Validate(x); err != nil {
			return Encoded{}, err
		}
		b, err = AppendBeneficiary(buf, x)
	default:
		return Encoded{}, fmt.Errorf("%w: %T is not a list item", ErrNotEncodable, v)
	}
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{json: string(b), version: version, unlinked: unlinked}, nil
}

// UnlinkedWrite reports whether the item is a PAYOUT or TRANSFER transaction without a
// relatedTransactionID: a row the handler may have to link to the write that created it (see
// httpserver's linking of created writes).
func (e Encoded) UnlinkedWrite() bool { return e.unlinked }

// IsZero reports whether e holds no item.
func (e Encoded) IsZero() bool { return e.json == "" }

// JSON returns the item's JSON, compact, without a trailing newline.
func (e Encoded) JSON() string { return e.json }

// Len returns the length of the item's JSON.
func (e Encoded) Len() int { return len(e.json) }

// AppendTo appends the item's JSON to b.
func (e Encoded) AppendTo(b []byte) []byte { return append(b, e.json...) }

// Version returns a transaction's updatedAt in Unix nanoseconds (0 for other types): with the id,
// it tells two versions of one transaction apart.
func (e Encoded) Version() int64 { return e.version }

// ID returns the item's id, read from its JSON (the first field of every list item).
func (e Encoded) ID() string {
	const prefix = `{"id":"`
	if len(e.json) < len(prefix) {
		return ""
	}
	s := e.json[len(prefix):]
	escaped := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escaped = true
			i++ // the escaped byte
		case '"':
			if !escaped {
				return s[:i] // shares the encoding's bytes
			}
			id, _ := unquote([]byte(e.json[len(prefix)-1 : len(prefix)+i+1]))
			return id
		}
	}
	return ""
}

// Decode decodes the item into v (a pointer to the item's type) with encoding/json.
func (e Encoded) Decode(v any) error {
	return json.Unmarshal([]byte(e.json), v)
}

func init() {
	encodedtrust.Make = func(json string, version int64, unlinked int8) Encoded {
		if unlinked < 0 {
			return Encoded{json: json, version: version, unlinked: version != 0 && unlinkedJSON(json)}
		}
		return Encoded{json: json, version: version, unlinked: unlinked > 0}
	}
}

// unlinkedJSON is UnlinkedWrite read from a transaction's encoding. It walks the fields before the
// type, whose order and form AppendTransaction fixes (id, relatedTransactionID when set,
// createdAt, updatedAt, currency, scheme when set); anything else answers true, which only costs
// the handler a decode.
func unlinkedJSON(j string) bool {
	j, ok := skipString(j, `{"id":`)
	if !ok {
		return true
	}
	if strings.HasPrefix(j, `,"relatedTransactionID":`) {
		return false
	}
	for _, field := range []string{`,"createdAt":`, `,"updatedAt":`, `,"currency":`} {
		if j, ok = skipString(j, field); !ok {
			return true
		}
	}
	if strings.HasPrefix(j, `,"scheme":`) {
		if j, ok = skipString(j, `,"scheme":`); !ok {
			return true
		}
	}
	j, ok = strings.CutPrefix(j, `,"type":"`)
	return !ok || strings.HasPrefix(j, `PAYOUT"`) || strings.HasPrefix(j, `TRANSFER"`)
}

// skipString returns what follows `field"…"` at the start of j (a JSON string value, escapes
// skipped), or false when j does not start so.
func skipString(j, field string) (string, bool) {
	j, ok := strings.CutPrefix(j, field)
	if !ok || len(j) == 0 || j[0] != '"' {
		return "", false
	}
	if k := strings.IndexByte(j[1:], '"'); k >= 0 && strings.IndexByte(j[1:1+k], '\\') < 0 {
		return j[k+2:], true // no escape: the first quote ends it
	}
	for i := 1; i < len(j); i++ {
		switch j[i] {
		case '\\':
			i++
		case '"':
			return j[i+1:], true
		}
	}
	return "", false
}

// AppendPayout appends p as encoding/json writes it with HTML escaping off (the answer of POST
// /payouts), or fails with ErrNotEncodable. It does not validate p.
func AppendPayout(b []byte, p *Payout) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, p.ID)
	b = append(b, `,"idempotencyKey":`...)
	b = AppendJSONString(b, p.IdempotencyKey)
	b = append(b, `,"amount":`...)
	if p.Amount.IsSet() {
		b = append(b, '"')
		b, _ = p.Amount.AppendText(b)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"currency":`...)
	b = AppendJSONString(b, string(p.Currency))
	b = append(b, `,"sourceAccountId":`...)
	b = AppendJSONString(b, p.SourceAccountID)
	b = append(b, `,"destinationAccountId":`...)
	b = AppendJSONString(b, p.DestinationAccountID)
	if p.Description != "" {
		b = append(b, `,"description":`...)
		b = AppendJSONString(b, p.Description)
	}
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, string(p.Status))
	b = append(b, `,"createdAt":`...)
	b, err := appendJSONTime(b, p.CreatedAt)
	if err != nil {
		return b, err
	}
	if !p.UpdatedAt.IsZero() {
		b = append(b, `,"updatedAt":`...)
		if b, err = appendJSONTime(b, p.UpdatedAt); err != nil {
			return b, err
		}
	}
	b = appendMetadata(b, p.Metadata)
	return append(b, '}'), nil
}
