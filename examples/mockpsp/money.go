package main

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
)

// This file holds the PSP's rules on money and on what it stores: funds and holds, the same asset on
// both sides of a transfer, IBANs and country codes, and the size of what a payout or an account
// may carry. Each rule refuses with a connector.ErrInvalidRequest (a final 400: nothing happened)
// whose Detail names the field and the reason, so that Formance's FAILED path can be tried.

// Bounds on what one stored object carries (issue 17: an accepted 1 MB payout kept 2.2 MB).
const (
	// maxDescriptionBytes bounds a payout's or a transfer's description.
	maxDescriptionBytes = 1024
	// maxMetadataKeys and maxMetadataBytes bound an object's metadata: its number of keys, and the
	// bytes of all its keys and values together.
	maxMetadataKeys  = 32
	maxMetadataBytes = 4096
)

// checkMetadata refuses metadata larger than the bounds, naming the field.
func checkMetadata(field string, m models.Metadata) error {
	if len(m) > maxMetadataKeys {
		return connector.InvalidRequest("%s has %d keys, more than this PSP keeps (%d)", field, len(m), maxMetadataKeys)
	}
	size := 0
	for k, v := range m {
		size += len(k) + len(v)
	}
	if size > maxMetadataBytes {
		return connector.InvalidRequest("%s holds %d bytes of keys and values, more than this PSP keeps (%d)", field, size, maxMetadataBytes)
	}
	return nil
}

// checkDescription refuses a description longer than maxDescriptionBytes.
func checkDescription(description string) error {
	if len(description) > maxDescriptionBytes {
		return connector.InvalidRequest("description is %d bytes long, longer than this PSP keeps (%d)", len(description), maxDescriptionBytes)
	}
	return nil
}

// hold adds (sign +1) or removes (sign -1) the money tx promises to pay out of an internal account
// while it is in flight: a PAYOUT or TRANSFER in PENDING. Held money cannot pay another payout; when
// the payout succeeds it leaves the balance instead, and when it fails it is free again.
func (st *tenantState) hold(tx models.Transaction, sign int) {
	if tx.Status != models.TransactionStatusPending || tx.Type == models.TransactionTypePayin || tx.Type == models.TransactionTypeOther {
		return
	}
	if _, internal := st.accountAsset(tx.SourceAccountID); !internal {
		return
	}
	amount := tx.Amount
	if sign < 0 {
		amount = models.AmountFromInt64(0).Sub(amount)
	}
	addTo(st.Held, tx.SourceAccountID, tx.Currency, amount)
}

func addTo(m map[string]map[models.Asset]models.Amount, account string, asset models.Asset, amount models.Amount) {
	if m[account] == nil {
		m[account] = map[models.Asset]models.Amount{}
	}
	m[account][asset] = m[account][asset].Add(amount)
}

// available returns what an internal account can still pay in asset: its balance less what is held
// for payouts and transfers in flight.
func (st *tenantState) available(account string, asset models.Asset) models.Amount {
	return st.Balances[account][asset].Sub(st.Held[account][asset])
}

// checkFunds refuses to pay amount of asset out of an internal account that cannot pay it: one that
// holds none of the asset, or not enough once the money held for payouts in flight is set aside.
// what names the payment ("a payout", "payout 3 of the batch"); hint, when not empty, ends the
// message.
func (st *tenantState) checkFunds(account string, asset models.Asset, amount models.Amount, what, hint string) error {
	own, _ := st.accountAsset(account)
	balance, held := st.Balances[account][asset], st.Held[account][asset]
	if !balance.IsSet() && !held.IsSet() && asset != own {
		return connector.InvalidRequest("insufficient funds: account %s holds no %s (its asset is %s), so it cannot pay %s of %s%s",
			account, asset, own, what, formatMinor(amount, asset), hint)
	}
	available := st.available(account, asset)
	if available.Cmp(amount) >= 0 {
		return nil
	}
	onHold := ""
	if held.IsSet() && held.Sign() != 0 {
		onHold = fmt.Sprintf(" (balance %s, of which %s is held by payouts and transfers in flight)", formatMinor(balance.Add(models.Amount{}), asset), formatMinor(held, asset))
	}
	return connector.InvalidRequest("insufficient funds: account %s has %s available%s, %s needs %s%s",
		account, formatMinor(available, asset), onHold, what, formatMinor(amount, asset), hint)
}

// formatMinor writes an amount in minor units as a person reads it: "1050" of USD/2 is "10.50 USD".
func formatMinor(amount models.Amount, asset models.Asset) string {
	digits := new(big.Int).Abs(amount.Add(models.Amount{}).BigInt()).String() // Add: unset counts as 0
	sign := ""
	if amount.Sign() < 0 {
		sign = "-"
	}
	if p, ok := asset.Precision(); ok && p > 0 {
		if len(digits) <= p {
			digits = strings.Repeat("0", p-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-p] + "." + digits[len(digits)-p:]
	}
	return sign + digits + " " + asset.Code()
}

// checkBankAccount refuses a bank account whose IBAN or country code is wrong. Both are kept exactly
// as given: a country must already be an upper-case ISO 3166-1 alpha-2 code, an IBAN be in its
// electronic form (upper-case letters and digits, no spaces), with a known country prefix, the length
// of that country and valid check digits (ISO 13616, mod 97). A country given with an IBAN must be
// the IBAN's.
func checkBankAccount(req models.BankAccountRequest) error {
	if c := req.Country; c != "" && (len(c) != 2 || strings.ToUpper(c) != c) {
		return connector.InvalidRequest("country %q: want an upper-case ISO 3166-1 alpha-2 code such as FR or DE", c)
	}
	if err := models.Validate(req); err != nil {
		return connector.InvalidRequest("%v", err)
	}
	if req.IBAN == "" {
		return nil
	}
	if err := checkIBAN(req.IBAN); err != nil {
		return err
	}
	if req.Country != "" && req.Country != req.IBAN[:2] {
		return connector.InvalidRequest("country %s does not match the IBAN, which is from %s", req.Country, req.IBAN[:2])
	}
	return nil
}

// checkIBAN checks an IBAN in electronic form: country prefix, length, characters, check digits.
func checkIBAN(iban string) error {
	if strings.ContainsAny(iban, " -") {
		return connector.InvalidRequest("iban: write it without spaces or dashes (%d characters, e.g. FR7630006000011234567890189)", len(iban))
	}
	for i := range len(iban) {
		c := iban[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return connector.InvalidRequest("iban: character %d is %q: want upper-case letters and digits only", i+1, string(rune(c)))
		}
	}
	if len(iban) < 4 {
		return connector.InvalidRequest("iban: %d characters is too short for an IBAN", len(iban))
	}
	country := iban[:2]
	want, ok := ibanLengths[country]
	if !ok {
		return connector.InvalidRequest("iban: %q is not the prefix of a country that issues IBANs", country)
	}
	if len(iban) != want {
		return connector.InvalidRequest("iban: an IBAN from %s has %d characters, this one has %d", country, want, len(iban))
	}
	if ibanMod97(iban) != 1 {
		return connector.InvalidRequest("iban: the check digits %s are wrong (mod 97 check failed): a character was mistyped", iban[2:4])
	}
	return nil
}

// ibanMod97 returns the IBAN's remainder modulo 97 (1 for a valid IBAN): the first four characters
// move to the end, letters count as 10 to 35.
func ibanMod97(iban string) int {
	rearranged := iban[4:] + iban[:4]
	r := 0
	for i := range len(rearranged) {
		c := rearranged[i]
		if c >= 'A' && c <= 'Z' {
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
		} else {
			r = (r*10 + int(c-'0')) % 97
		}
	}
	return r
}

// ibanLengths is the length of an IBAN per country prefix (ISO 13616 registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
	"JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
	"MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
	"NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
	"SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
