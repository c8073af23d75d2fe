package models

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"
)

// Sentinel errors. Every validation error of this package wraps ErrInvalid, and the more precise
// ones below wrap it too, so errors.Is(err, models.ErrInvalid) catches them all.
var (
	// ErrInvalid is wrapped by every error that reports an object or value breaking the contract.
	ErrInvalid = errors.New("invalid value")
	// ErrInvalidAmount reports an amount that is not an integer in minor units.
	ErrInvalidAmount = fmt.Errorf("%w: amount", ErrInvalid)
	// ErrInvalidAsset reports an asset that is not in UMN form.
	ErrInvalidAsset = fmt.Errorf("%w: asset", ErrInvalid)
	// ErrInvalidEnum reports a transaction type or status outside the contract's values.
	ErrInvalidEnum = fmt.Errorf("%w: enum", ErrInvalid)
)

// FieldProblem is one field of an object that breaks the contract.
type FieldProblem struct {
	// Field is the JSON path of the field, e.g. "status" or "balances[1].currency".
	Field string
	// Problem says what is wrong, e.g. `"PROCESSED" is not a valid transaction status (want one of ...)`.
	Problem string
}

// ValidationError reports an object that breaks the contract, naming the object, its id and every
// faulty field. It wraps ErrInvalid: use errors.As to read the fields, errors.Is to detect it.
type ValidationError struct {
	// Object is the kind of object, e.g. "transaction" or "payout request".
	Object string
	// ID is the object's id, or its idempotency key for write requests; empty when it has none.
	ID string
	// Problems lists the faulty fields, in struct order.
	Problems []FieldProblem
}

// Error names the object, its id and every faulty field, for example:
// `transaction "tx_19": field "status": "PROCESSED" is not a valid transaction status (...)`.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Object)
	if e.ID != "" {
		fmt.Fprintf(&b, " %q", e.ID)
	}
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "field %q: %s", p.Field, p.Problem)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

// validatorOf returns the shared go-playground validator behind Validate, with this package's tags
// registered: "amount" (set), "amount_positive", "amount_nonnegative", "asset", "txtype" and
// "txstatus". Field names in its errors are the JSON names. It is safe for concurrent use. It stays
// inside the package, so that the validator can change without changing the public API; its
// errors come out as *ValidationError.
func validatorOf() *validator.Validate {
	validateOnce.Do(func() {
		v := validator.New(validator.WithRequiredStructEnabled())
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			if name == "" {
				return f.Name
			}
			return name
		})
		// An Amount is validated through its decimal string: "" when unset.
		v.RegisterCustomTypeFunc(func(f reflect.Value) any {
			return f.Interface().(Amount).String()
		}, Amount{})
		mustRegister(v, "amount", func(fl validator.FieldLevel) bool { return fl.Field().String() != "" })
		mustRegister(v, "amount_positive", func(fl validator.FieldLevel) bool {
			s := fl.Field().String()
			return s != "" && !strings.HasPrefix(s, "-") && s != "0"
		})
		mustRegister(v, "amount_nonnegative", func(fl validator.FieldLevel) bool {
			return !strings.HasPrefix(fl.Field().String(), "-")
		})
		mustRegister(v, "asset", func(fl validator.FieldLevel) bool {
			return Asset(fl.Field().String()).Validate() == nil
		})
		mustRegister(v, "txtype", func(fl validator.FieldLevel) bool {
			return TransactionType(fl.Field().String()).Valid()
		})
		mustRegister(v, "txstatus", func(fl validator.FieldLevel) bool {
			return TransactionStatus(fl.Field().String()).Valid()
		})
		mustRegister(v, requestMetadataTag, func(fl validator.FieldLevel) bool {
			m, _ := fl.Field().Interface().(Metadata)
			return m.withinRequestBounds()
		})
		validate = v
	})
	return validate
}

func mustRegister(v *validator.Validate, tag string, fn validator.Func) {
	if err := v.RegisterValidation(tag, fn); err != nil {
		panic(err)
	}
}

// Validate checks one contract object (Account, Transaction, PayoutRequest, …, passed by value or
// pointer) and returns nil or a *ValidationError naming the object, its id and every faulty field.
// The library calls it on every item a provider returns before writing it, and on every request body
// it decodes; providers may call it on data they receive from their PSP.
func Validate(obj any) error {
	if validFast(obj) {
		return nil
	}
	return validateFull(obj)
}

// validateFull is Validate without the fast path: the validator's tags, then checkTimes.
func validateFull(obj any) error {
	err := validatorOf().Struct(obj)
	if err == nil {
		return checkTimes(obj)
	}
	var fieldErrs validator.ValidationErrors
	if !errors.As(err, &fieldErrs) {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, objectName(obj), err)
	}
	verr := &ValidationError{Object: objectName(obj), ID: objectID(obj)}
	for _, fe := range fieldErrs {
		verr.Problems = append(verr.Problems, FieldProblem{Field: fieldPath(fe), Problem: describe(fe)})
	}
	if terr := checkTimes(obj); terr != nil {
		var tv *ValidationError
		if errors.As(terr, &tv) {
			verr.Problems = append(verr.Problems, tv.Problems...)
		}
	}
	return verr
}

// checkTimes rejects timestamps that RFC 3339 cannot carry (years outside 0000–9999), which would
// otherwise fail only when the answer is being written.
func checkTimes(obj any) error {
	rv := reflect.Indirect(reflect.ValueOf(obj))
	if rv.Kind() != reflect.Struct {
		return nil
	}
	var problems []FieldProblem
	for i := 0; i < rv.NumField(); i++ {
		t, ok := rv.Field(i).Interface().(time.Time)
		if !ok || t.IsZero() {
			continue
		}
		if y := t.Year(); y < 0 || y > 9999 {
			name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			problems = append(problems, FieldProblem{Field: name, Problem: fmt.Sprintf("year %d cannot be written as an RFC 3339 date-time", y)})
		}
	}
	if problems == nil {
		return nil
	}
	return &ValidationError{Object: objectName(obj), ID: objectID(obj), Problems: problems}
}

func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ns
}

func describe(fe validator.FieldError) string {
	val := fmt.Sprint(fe.Value())
	switch fe.Tag() {
	case "required":
		if _, isTime := fe.Value().(time.Time); isTime {
			return "is required (an RFC 3339 date-time, got the zero time)"
		}
		return "is required"
	case "amount":
		return "is required (an integer in minor units, as a decimal string)"
	case "amount_positive":
		return fmt.Sprintf("must be a positive integer in minor units, got %q", val)
	case "amount_nonnegative":
		return fmt.Sprintf("must not be negative, got %q", val)
	case "asset":
		if err := Asset(val).Validate(); err != nil {
			return strings.TrimPrefix(err.Error(), ErrInvalidAsset.Error()+": ") + " (want UMN form CODE or CODE/PRECISION, e.g. \"USD/2\")"
		}
	case "txtype":
		_, err := ParseTransactionType(val)
		return strings.TrimPrefix(err.Error(), ErrInvalidEnum.Error()+": ")
	case "txstatus":
		_, err := ParseTransactionStatus(val)
		return strings.TrimPrefix(err.Error(), ErrInvalidEnum.Error()+": ")
	case requestMetadataTag:
		m, _ := fe.Value().(Metadata)
		return describeRequestMetadata(m)
	case "iso3166_1_alpha2":
		return fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code (e.g. \"FR\")", val)
	}
	return fmt.Sprintf("fails rule %q (value %q)", fe.Tag(), val)
}

func objectName(obj any) string {
	switch reflect.Indirect(reflect.ValueOf(obj)).Interface().(type) {
	case Account:
		return "account"
	case Beneficiary:
		return "beneficiary"
	case Balances:
		return "balances"
	case Balance:
		return "balance"
	case Transaction:
		return "transaction"
	case PayoutRequest:
		return "payout request"
	case Payout:
		return "payout"
	case TransferRequest:
		return "transfer request"
	case Transfer:
		return "transfer"
	case BankAccountRequest:
		return "bank account request"
	case BankAccount:
		return "bank account"
	}
	return reflect.Indirect(reflect.ValueOf(obj)).Type().Name()
}

func objectID(obj any) string {
	rv := reflect.Indirect(reflect.ValueOf(obj))
	if rv.Kind() != reflect.Struct {
		return ""
	}
	for _, name := range []string{"ID", "IdempotencyKey", "Name"} {
		if f := rv.FieldByName(name); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			return f.String()
		}
	}
	return ""
}
