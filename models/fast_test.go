package models

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validSamples returns one valid object of every type validFast knows, by value.
func validSamples() []any {
	at := time.Date(2024, 1, 1, 10, 0, 0, 123, time.UTC)
	amount := AmountFromInt64(10000)
	return []any{
		Transaction{ID: "tx_1", CreatedAt: at, UpdatedAt: at, Currency: "USD/2", Type: TransactionTypePayin,
			Status: TransactionStatusSucceeded, Amount: amount, Metadata: Metadata{"k": "v"}},
		Account{ID: "acc_1", AccountName: "Main", CreatedAt: at},
		Beneficiary{ID: "ben_1", OwnerName: "ACME", CreatedAt: at},
		Balance{Amount: AmountFromInt64(-5), Currency: "EUR/2"},
		Balances{ID: "bal_1", AccountID: "acc_1", At: at, Balances: []Balance{{Amount: amount, Currency: "JPY/0"}}},
		PayoutRequest{IdempotencyKey: "k", Amount: amount, Currency: "USD/2", SourceAccountID: "a", DestinationAccountID: "b"},
		TransferRequest{IdempotencyKey: "k", Amount: amount, Currency: "USD/2", SourceAccountID: "a", DestinationAccountID: "b"},
		Payout{ID: "po_1", IdempotencyKey: "k", Amount: amount, Currency: "USD/2", SourceAccountID: "a",
			DestinationAccountID: "b", Status: TransactionStatusPending, CreatedAt: at},
		Transfer{ID: "tr_1", IdempotencyKey: "k", Amount: amount, Currency: "USD/2", SourceAccountID: "a",
			DestinationAccountID: "b", Status: TransactionStatusPending, CreatedAt: at, UpdatedAt: at},
	}
}

func TestValidFastAcceptsValidObjects(t *testing.T) {
	for _, obj := range validSamples() {
		require.NoError(t, validateFull(obj), "%T", obj)
		assert.True(t, validFast(obj), "%T by value", obj)
		assert.True(t, validFast(pointerTo(obj)), "%T by pointer", obj)
	}
	assert.False(t, validFast((*Transaction)(nil)))
	assert.False(t, validFast(BankAccountRequest{Name: "x"}), "types without a fast path take the full check")
	assert.False(t, validFast(42))
}

func pointerTo(obj any) any {
	switch v := obj.(type) {
	case Transaction:
		return &v
	case Account:
		return &v
	case Beneficiary:
		return &v
	case Balance:
		return &v
	case Balances:
		return &v
	case PayoutRequest:
		return &v
	case TransferRequest:
		return &v
	case Payout:
		return &v
	case Transfer:
		return &v
	}
	panic(fmt.Sprintf("no pointer for %T", obj))
}

// The values each kind of field is set to by the mutations below: valid and invalid ones.
var (
	mutStrings = []string{"", "x", " ", "tx_2"}
	mutTimes   = []time.Time{
		{}, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Time{}.In(time.FixedZone("X", 3600)), time.Unix(0, 0),
	}
	mutAmounts  = []Amount{{}, AmountFromInt64(0), AmountFromInt64(-1), AmountFromInt64(7), MustParseAmount("123456789012345678901234567890")}
	mutAssets   = []Asset{"", "USD/2", "usd/2", "USD/", "COIN", "USD/1234567", "A_1/0", "1USD"}
	mutTypes    = []TransactionType{"", "PAYIN", "payin", "OTHER", "REFUND"}
	mutStatuses = []TransactionStatus{"", "PENDING", "PROCESSED", "DISPUTE_LOST", "pending"}
)

func pick[T any](r *rand.Rand, vs []T) T { return vs[r.IntN(len(vs))] }

// mutate changes one random field of obj (a pointer) to a random, possibly invalid, value.
func mutate(r *rand.Rand, obj any) {
	switch v := obj.(type) {
	case *Transaction:
		switch r.IntN(7) {
		case 0:
			v.ID = pick(r, mutStrings)
		case 1:
			v.CreatedAt = pick(r, mutTimes)
		case 2:
			v.UpdatedAt = pick(r, mutTimes)
		case 3:
			v.Currency = pick(r, mutAssets)
		case 4:
			v.Type = pick(r, mutTypes)
		case 5:
			v.Status = pick(r, mutStatuses)
		case 6:
			v.Amount = pick(r, mutAmounts)
		}
	case *Account:
		switch r.IntN(3) {
		case 0:
			v.ID = pick(r, mutStrings)
		case 1:
			v.AccountName = pick(r, mutStrings)
		case 2:
			v.CreatedAt = pick(r, mutTimes)
		}
	case *Beneficiary:
		switch r.IntN(3) {
		case 0:
			v.ID = pick(r, mutStrings)
		case 1:
			v.OwnerName = pick(r, mutStrings)
		case 2:
			v.CreatedAt = pick(r, mutTimes)
		}
	case *Balance:
		if r.IntN(2) == 0 {
			v.Amount = pick(r, mutAmounts)
		} else {
			v.Currency = pick(r, mutAssets)
		}
	case *Balances:
		switch r.IntN(5) {
		case 0:
			v.ID = pick(r, mutStrings)
		case 1:
			v.AccountID = pick(r, mutStrings)
		case 2:
			v.At = pick(r, mutTimes)
		case 3:
			v.Balances = append(v.Balances, Balance{Amount: pick(r, mutAmounts), Currency: pick(r, mutAssets)})
		case 4:
			v.Balances = nil
		}
	case *PayoutRequest:
		mutateRequest(r, v)
	case *TransferRequest:
		mutateRequest(r, (*PayoutRequest)(v))
	case *Payout:
		mutatePayout(r, v)
	case *Transfer:
		mutatePayout(r, (*Payout)(v))
	default:
		panic(fmt.Sprintf("cannot mutate %T", obj))
	}
}

func mutateRequest(r *rand.Rand, v *PayoutRequest) {
	switch r.IntN(5) {
	case 0:
		v.IdempotencyKey = pick(r, mutStrings)
	case 1:
		v.Amount = pick(r, mutAmounts)
	case 2:
		v.Currency = pick(r, mutAssets)
	case 3:
		v.SourceAccountID = pick(r, mutStrings)
	case 4:
		v.DestinationAccountID = pick(r, mutStrings)
	}
}

func mutatePayout(r *rand.Rand, v *Payout) {
	switch r.IntN(9) {
	case 0:
		v.ID = pick(r, mutStrings)
	case 1:
		v.IdempotencyKey = pick(r, mutStrings)
	case 2:
		v.Amount = pick(r, mutAmounts)
	case 3:
		v.Currency = pick(r, mutAssets)
	case 4:
		v.SourceAccountID = pick(r, mutStrings)
	case 5:
		v.DestinationAccountID = pick(r, mutStrings)
	case 6:
		v.Status = pick(r, mutStatuses)
	case 7:
		v.CreatedAt = pick(r, mutTimes)
	case 8:
		v.UpdatedAt = pick(r, mutTimes)
	}
}

// TestValidFastNeverAcceptsWhatTheFullCheckRefuses mutates valid objects at random and checks that
// the fast path never accepts an object the full check refuses, and that it decides almost every
// valid object itself (so that it is actually used).
func TestValidFastNeverAcceptsWhatTheFullCheckRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	accepted, refused, stricter := 0, 0, 0
	for range 20000 {
		obj := pointerTo(pick(r, validSamples()))
		for range 1 + r.IntN(3) {
			mutate(r, obj)
		}
		full := validateFull(obj)
		fast := validFast(obj)
		switch {
		case fast:
			require.NoError(t, full, "fast path accepted %#v", obj)
			accepted++
		case full != nil:
			refused++
		default:
			// The fast path may be stricter: it refuses a zero instant carrying a location, which
			// the validator's "required" lets through. The full check then decides.
			stricter++
		}
		assert.Equal(t, full, Validate(obj))
	}
	assert.Positive(t, accepted)
	assert.Positive(t, refused)
	assert.Less(t, stricter, accepted/10, "the fast path should decide almost every valid object")
}

func TestUnquoteMatchesJSON(t *testing.T) {
	inputs := []string{`""`, `"USD/2"`, `"a\"b"`, `"\u00e9"`, `"é"`, `"tab	"`, `"a\\b"`, `"\ud800"`,
		`null`, `12`, `"unterminated`, `"`, ``, `"x" `, ` "x"`, "\"\xff\"", `"\u2028"`, `"~"`, "\"\x7f\""}
	for _, in := range inputs {
		var want string
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := unquote([]byte(in))
		if wantErr != nil {
			assert.Error(t, err, "%q", in)
			continue
		}
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
}

func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"USD/2"`, `"a\"b"`, `"é"`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want string
		wantErr := json.Unmarshal(in, &want)
		got, err := unquote(in)
		if wantErr != nil {
			if err == nil {
				t.Fatalf("unquote(%q) = %q, json.Unmarshal fails: %v", in, got, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("unquote(%q) = %q, %v; json.Unmarshal gives %q", in, got, err, want)
		}
	})
}

func BenchmarkValidateTransaction(b *testing.B) {
	tx := validSamples()[0].(Transaction)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if Validate(&tx) != nil {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if validateFull(&tx) != nil {
				b.Fatal("invalid")
			}
		}
	})
}
