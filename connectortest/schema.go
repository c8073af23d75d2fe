package connectortest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

// kind is the wire type of one field of the contract.
type kind int

const (
	kindString       kind = iota // a JSON string
	kindTime                     // an RFC 3339 date-time string
	kindAmount                   // an integer in minor units as a decimal string, any sign
	kindAmountNonNeg             // the same, not negative
	kindAsset                    // a UMN asset string
	kindType                     // a TransactionType
	kindStatus                   // a TransactionStatus
	kindMetadata                 // null or an object of string to string
	kindBalanceList              // an array of Balance objects
)

// fieldSpec is one field of a contract object.
type fieldSpec struct {
	name     string
	kind     kind
	required bool
}

var (
	accountFields = []fieldSpec{
		{"id", kindString, true}, {"accountName", kindString, true}, {"createdAt", kindTime, true},
		{"metadata", kindMetadata, false},
	}
	beneficiaryFields = []fieldSpec{
		{"id", kindString, true}, {"ownerName", kindString, true}, {"createdAt", kindTime, true},
		{"metadata", kindMetadata, false},
	}
	transactionFields = []fieldSpec{
		{"id", kindString, true}, {"relatedTransactionID", kindString, false},
		{"createdAt", kindTime, true}, {"updatedAt", kindTime, true}, {"currency", kindAsset, true},
		{"scheme", kindString, false}, {"type", kindType, true}, {"status", kindStatus, true},
		{"amount", kindAmountNonNeg, true}, {"sourceAccountID", kindString, false},
		{"destinationAccountID", kindString, false}, {"metadata", kindMetadata, false},
	}
	balancesFields = []fieldSpec{
		{"id", kindString, true}, {"accountID", kindString, true}, {"at", kindTime, true},
		{"balances", kindBalanceList, true},
	}
	balanceFields = []fieldSpec{
		{"amount", kindAmount, true}, {"currency", kindAsset, true},
	}
	payoutFields = []fieldSpec{
		{"id", kindString, true}, {"idempotencyKey", kindString, true}, {"amount", kindAmountNonNeg, true},
		{"currency", kindAsset, true}, {"sourceAccountId", kindString, true},
		{"destinationAccountId", kindString, true}, {"description", kindString, false},
		{"status", kindStatus, true}, {"createdAt", kindTime, true}, {"updatedAt", kindTime, false},
		{"metadata", kindMetadata, false},
	}
	errorFields = []fieldSpec{{"Title", kindString, true}, {"Detail", kindString, true}}
)

// routeSpec is one list route of the contract.
type routeSpec struct {
	path   string
	field  pagination.Field
	object string // "account", for messages
	fields []fieldSpec
}

var (
	routeAccounts      = routeSpec{"/accounts", pagination.FieldCreatedAt, "account", accountFields}
	routeBeneficiaries = routeSpec{"/beneficiaries", pagination.FieldCreatedAt, "beneficiary", beneficiaryFields}
	routeTransactions  = routeSpec{"/transactions", pagination.FieldUpdatedAt, "transaction", transactionFields}
	listRoutes         = []routeSpec{routeAccounts, routeBeneficiaries, routeTransactions}
)

// checkObject checks one JSON object against fields and returns one problem per faulty field, each
// naming the field ("field \"status\": ..."). prefix is put in front of field names (for nested
// objects, e.g. "balances[1].").
func checkObject(raw json.RawMessage, fields []fieldSpec, prefix string) []string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return []string{fmt.Sprintf("%snot a JSON object: %s", strings.TrimSuffix(prefix, "."), bodySnippet(raw))}
	}
	var problems []string
	add := func(name, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("field %q: ", prefix+name)+fmt.Sprintf(format, args...))
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(names, k) {
			continue
		}
		if i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, k) }); i >= 0 {
			add(k, "wrong casing: the contract names it %q", names[i])
			continue
		}
		add(k, "unknown field (the contract's fields are %s)", strings.Join(names, ", "))
	}
	for _, f := range fields {
		v, ok := m[f.name]
		isNull := ok && bytes.Equal(bytes.TrimSpace(v), []byte("null"))
		if !ok || isNull {
			if f.required {
				if ok {
					add(f.name, "is required, got null")
				} else {
					add(f.name, "is required but missing")
				}
			}
			continue
		}
		if p := checkValue(v, f, prefix); p != "" {
			add(f.name, "%s", p)
		}
		if f.kind == kindBalanceList {
			var list []json.RawMessage
			if json.Unmarshal(v, &list) == nil {
				for i, b := range list {
					problems = append(problems, checkObject(b, balanceFields, fmt.Sprintf("%s%s[%d].", prefix, f.name, i))...)
				}
			}
		}
	}
	return problems
}

// checkValue checks one present, non-null value and returns what is wrong with it, or "".
func checkValue(v json.RawMessage, f fieldSpec, prefix string) string {
	switch f.kind {
	case kindMetadata:
		var md map[string]string
		if err := json.Unmarshal(v, &md); err != nil {
			return fmt.Sprintf("must be an object of string to string, got %s", bodySnippet(v))
		}
		return ""
	case kindBalanceList:
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return fmt.Sprintf("must be an array of balances, got %s", bodySnippet(v))
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		switch f.kind {
		case kindAmount, kindAmountNonNeg:
			return fmt.Sprintf("must be a JSON string holding an integer in minor units (e.g. \"1050\"), got %s", bodySnippet(v))
		}
		return fmt.Sprintf("must be a JSON string, got %s", bodySnippet(v))
	}
	if s == "" && f.required {
		return "is required, got an empty string"
	}
	switch f.kind {
	case kindTime:
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Sprintf("%q is not an RFC 3339 date-time (e.g. 2024-01-01T10:00:00Z)", s)
		}
	case kindAmount, kindAmountNonNeg:
		a, err := models.ParseAmount(s)
		if err != nil {
			return fmt.Sprintf("%q is not an integer in minor units (e.g. \"1050\" for 10.50 USD/2)", s)
		}
		if f.kind == kindAmountNonNeg && a.Sign() < 0 {
			return fmt.Sprintf("%q is negative", s)
		}
	case kindAsset:
		if err := models.Asset(s).Validate(); err != nil {
			return fmt.Sprintf("%q is not a UMN asset (an upper-case CODE or CODE/PRECISION, e.g. \"USD/2\")", s)
		}
	case kindType:
		if !models.TransactionType(s).Valid() {
			return fmt.Sprintf("%q is not a transaction type of the contract (want one of %s)", s, joinEnum(models.TransactionTypes()))
		}
	case kindStatus:
		if !models.TransactionStatus(s).Valid() {
			return fmt.Sprintf("%q is not a transaction status of the contract (want one of %s)", s, joinEnum(models.TransactionStatuses()))
		}
	}
	return ""
}

func joinEnum[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// checkErrorBody returns what is wrong with an error answer's body, or "".
func checkErrorBody(body []byte) string {
	if problems := checkObject(body, errorFields, ""); len(problems) > 0 {
		return fmt.Sprintf("error body is not {\"Title\": ..., \"Detail\": ...}: %s (body %s)", strings.Join(problems, "; "), bodySnippet(body))
	}
	return ""
}
