package models_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/models"
)

func TestParseAmount(t *testing.T) {
	huge := "123456789012345678901234567890123456789"
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "0", want: "0"},
		{in: "10000", want: "10000"},
		{in: "-250", want: "-250"},
		{in: huge, want: huge},
		{in: "007", want: "7"},
		{in: "-0", want: "0"},
		{in: "999999999999999999", want: "999999999999999999"},     // 18 digits: the int64 path
		{in: "-99999999999999999", want: "-99999999999999999"},     // 17 digits and a sign
		{in: "9223372036854775807", want: "9223372036854775807"},   // 19 digits: big.Int's parser
		{in: "-9223372036854775809", want: "-9223372036854775809"}, // below int64
		{in: "", wantErr: true},
		{in: "-", wantErr: true},
		{in: "10.00", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "+5", wantErr: true},
		{in: " 7", wantErr: true},
		{in: "7 ", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "1_000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := models.ParseAmount(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				assert.ErrorIs(t, err, models.ErrInvalidAmount)
				assert.ErrorIs(t, err, models.ErrInvalid)
				assert.Contains(t, err.Error(), tt.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, a.String())
		})
	}
}

func TestAmountJSON(t *testing.T) {
	var a models.Amount
	require.NoError(t, json.Unmarshal([]byte(`"123456789012345678901234567890"`), &a))
	out, err := json.Marshal(a)
	require.NoError(t, err)
	assert.Equal(t, `"123456789012345678901234567890"`, string(out))

	for _, bad := range []string{`10`, `10.5`, `"10.00"`, `""`, `true`, `"1e3"`} {
		var b models.Amount
		err := json.Unmarshal([]byte(bad), &b)
		assert.ErrorIs(t, err, models.ErrInvalidAmount, bad)
	}

	var unset models.Amount
	out, err = json.Marshal(unset)
	require.NoError(t, err)
	assert.Equal(t, "null", string(out))
	require.NoError(t, json.Unmarshal([]byte(`null`), &unset))
	assert.False(t, unset.IsSet())
}

func TestAmountIsImmutable(t *testing.T) {
	src := big.NewInt(100)
	a := models.NewAmount(src)
	src.SetInt64(5)
	assert.Equal(t, "100", a.String(), "NewAmount must copy its input")
	got := a.BigInt()
	got.SetInt64(7)
	assert.Equal(t, "100", a.String(), "BigInt must return a copy")

	b := models.AmountFromInt64(40)
	assert.Equal(t, "140", a.Add(b).String())
	assert.Equal(t, "60", a.Sub(b).String())
	assert.Equal(t, 1, a.Cmp(b))
	assert.True(t, a.Equal(models.MustParseAmount("100")))
	assert.False(t, a.Equal(models.Amount{}))
	assert.Equal(t, -1, models.AmountFromInt64(-3).Sign())
}

func TestParseAsset(t *testing.T) {
	valid := []string{"USD/2", "JPY/0", "BTC/8", "COIN", "USDC_ETH/6", "X"}
	for _, s := range valid {
		a, err := models.ParseAsset(s)
		require.NoError(t, err, s)
		assert.Equal(t, s, a.String())
	}
	invalid := map[string]string{
		"":            "empty",
		"usd/2":       "upper-case",
		"USD/":        "precision",
		"USD/-1":      "precision",
		"USD/2.5":     "precision",
		"USD 2":       "found",
		"/2":          "empty",
		"2USD":        "start with",
		"USD/1234567": "precision",
	}
	for s, want := range invalid {
		_, err := models.ParseAsset(s)
		require.Error(t, err, s)
		assert.ErrorIs(t, err, models.ErrInvalidAsset, s)
		assert.Contains(t, err.Error(), want, s)
	}
	a := models.MustParseAsset("EUR/2")
	assert.Equal(t, "EUR", a.Code())
	p, ok := a.Precision()
	assert.True(t, ok)
	assert.Equal(t, 2, p)
	_, ok = models.Asset("COIN").Precision()
	assert.False(t, ok)
	n, err := models.NewAsset("JPY", 0)
	require.NoError(t, err)
	assert.Equal(t, models.Asset("JPY/0"), n)

	var decoded models.Asset
	assert.ErrorIs(t, json.Unmarshal([]byte(`"usd/2"`), &decoded), models.ErrInvalidAsset)
	require.NoError(t, json.Unmarshal([]byte(`"USD/2"`), &decoded))
	assert.Equal(t, models.Asset("USD/2"), decoded)
}

func TestEnums(t *testing.T) {
	assert.Len(t, models.TransactionTypes(), 4)
	assert.Len(t, models.TransactionStatuses(), 15)
	for _, s := range models.TransactionStatuses() {
		got, err := models.ParseTransactionStatus(string(s))
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	for _, old := range []string{"PROCESSING", "PROCESSED", "succeeded", ""} {
		_, err := models.ParseTransactionStatus(old)
		assert.ErrorIs(t, err, models.ErrInvalidEnum, old)
		assert.Contains(t, err.Error(), "SUCCEEDED", "the error lists the valid values")
	}
	_, err := models.ParseTransactionType("payin")
	assert.ErrorIs(t, err, models.ErrInvalidEnum)

	var tx models.Transaction
	err = json.Unmarshal([]byte(`{"status":"PROCESSED"}`), &tx)
	assert.ErrorIs(t, err, models.ErrInvalidEnum)
	err = json.Unmarshal([]byte(`{"type":"REFUND"}`), &tx)
	assert.ErrorIs(t, err, models.ErrInvalidEnum)
}

func validTransaction() models.Transaction {
	at := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	return models.Transaction{
		ID: "tx_1", CreatedAt: at, UpdatedAt: at, Currency: "USD/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded,
		Amount: models.AmountFromInt64(100),
	}
}

func TestValidateNamesObjectIDAndField(t *testing.T) {
	at := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		obj       any
		wantObj   string
		wantID    string
		wantField string
		wantText  string
	}{
		{"bad status", func() any { tx := validTransaction(); tx.Status = "PROCESSED"; return tx }(), "transaction", "tx_1", "status", `"PROCESSED" is not a valid transaction status`},
		{"bad type", func() any { tx := validTransaction(); tx.Type = "REFUND"; return &tx }(), "transaction", "tx_1", "type", `"REFUND" is not a valid transaction type`},
		{"missing amount", func() any { tx := validTransaction(); tx.Amount = models.Amount{}; return tx }(), "transaction", "tx_1", "amount", "is required"},
		{"negative amount", func() any { tx := validTransaction(); tx.Amount = models.AmountFromInt64(-1); return tx }(), "transaction", "tx_1", "amount", "must not be negative"},
		{"lowercase asset", func() any { tx := validTransaction(); tx.Currency = "usd/2"; return tx }(), "transaction", "tx_1", "currency", "upper-case"},
		{"zero updatedAt", func() any { tx := validTransaction(); tx.UpdatedAt = time.Time{}; return tx }(), "transaction", "tx_1", "updatedAt", "is required"},
		{"year out of range", func() any { tx := validTransaction(); tx.CreatedAt = at.AddDate(9000, 0, 0); return tx }(), "transaction", "tx_1", "createdAt", "RFC 3339"},
		{"missing id", func() any { tx := validTransaction(); tx.ID = ""; return tx }(), "transaction", "", "id", "is required"},
		{"account without name", models.Account{ID: "acc_1", CreatedAt: at}, "account", "acc_1", "accountName", "is required"},
		{"beneficiary without owner", models.Beneficiary{ID: "ben_1", CreatedAt: at}, "beneficiary", "ben_1", "ownerName", "is required"},
		{"balance bad currency", models.Balances{ID: "b", AccountID: "acc_1", At: at, Balances: []models.Balance{{Amount: models.AmountFromInt64(-5), Currency: "eur"}}}, "balances", "b", "balances[0].currency", "upper-case"},
		{"payout zero amount", models.PayoutRequest{IdempotencyKey: "k1", Amount: models.AmountFromInt64(0), Currency: "EUR/2", SourceAccountID: "a", DestinationAccountID: "b"}, "payout request", "k1", "amount", "positive"},
		{"transfer missing source", models.TransferRequest{IdempotencyKey: "k2", Amount: models.AmountFromInt64(5), Currency: "EUR/2", DestinationAccountID: "b"}, "transfer request", "k2", "sourceAccountId", "is required"},
		{"bank account bad country", models.BankAccountRequest{Name: "Jane", Country: "ZZ"}, "bank account request", "Jane", "country", "ISO 3166-1"},
		{"payout bad status", models.Payout{ID: "po_1", IdempotencyKey: "k", Amount: models.AmountFromInt64(5), Currency: "EUR/2", SourceAccountID: "a", DestinationAccountID: "b", Status: "DONE", CreatedAt: at}, "payout", "po_1", "status", "DONE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := models.Validate(tt.obj)
			require.Error(t, err)
			assert.ErrorIs(t, err, models.ErrInvalid)
			var verr *models.ValidationError
			require.True(t, errors.As(err, &verr))
			assert.Equal(t, tt.wantObj, verr.Object)
			assert.Equal(t, tt.wantID, verr.ID)
			var fields []string
			for _, p := range verr.Problems {
				fields = append(fields, p.Field)
			}
			assert.Contains(t, fields, tt.wantField)
			assert.Contains(t, err.Error(), tt.wantText)
			assert.True(t, strings.HasPrefix(err.Error(), tt.wantObj), err.Error())
		})
	}
}

func TestValidateAcceptsValidObjects(t *testing.T) {
	at := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	objs := []any{
		validTransaction(),
		models.Account{ID: "acc_1", AccountName: "Main", CreatedAt: at},
		models.Beneficiary{ID: "ben_1", OwnerName: "Jane", CreatedAt: at},
		models.Balances{ID: "b", AccountID: "acc_1", At: at, Balances: []models.Balance{{Amount: models.AmountFromInt64(-5), Currency: "EUR/2"}}},
		models.Balances{ID: "b", AccountID: "acc_1", At: at, Balances: []models.Balance{}},
		models.PayoutRequest{IdempotencyKey: "k1", Amount: models.AmountFromInt64(1), Currency: "EUR/2", SourceAccountID: "a", DestinationAccountID: "b"},
		models.BankAccountRequest{Name: "Jane", Country: "FR"},
		models.BankAccount{ID: "ba_1", Name: "Jane", CreatedAt: at},
	}
	for _, o := range objs {
		assert.NoError(t, models.Validate(o))
	}
}

func TestBalancesWithoutBalancesIsAnEmptyArray(t *testing.T) {
	b := models.Balances{ID: "b", AccountID: "acc_1", At: time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)}
	require.NoError(t, models.Validate(b))
	out, err := json.Marshal(b)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"b","accountID":"acc_1","at":"2024-01-01T10:00:00Z","balances":[]}`, string(out))
}

// A refused currency is explained once: the reason, then the expected form, with no "(want …)"
// repeated.
func TestInvalidCurrencySaysItOnce(t *testing.T) {
	for _, currency := range []models.Asset{"", "usd", "USD/x"} {
		req := models.PayoutRequest{IdempotencyKey: "k", Amount: models.NewAmount(big.NewInt(1)),
			Currency: currency, SourceAccountID: "a", DestinationAccountID: "b"}
		err := models.Validate(req)
		require.Error(t, err, "currency %q", currency)
		assert.Equal(t, 1, strings.Count(err.Error(), "(want"), "currency %q: %v", currency, err)
		assert.Contains(t, err.Error(), `e.g. "USD/2"`, "currency %q", currency)
	}
}

// ParseAmount's int64 shortcut for short amounts gives what big.Int's parser gives, at every
// length around the cut.
func TestParseAmountAgreesWithBigInt(t *testing.T) {
	for n := 1; n <= 24; n++ {
		for _, digit := range "0159" {
			for _, sign := range []string{"", "-"} {
				s := sign + strings.Repeat(string(digit), n)
				want, ok := new(big.Int).SetString(s, 10)
				require.True(t, ok, s)
				got, err := models.ParseAmount(s)
				require.NoError(t, err, s)
				assert.Equal(t, want.String(), got.String(), s)
			}
		}
	}
}

// TestAmountArithmeticAgreesWithBigInt: amounts that fit an int64 are kept without a big.Int; their
// arithmetic, comparisons and text must still be big.Int's, across the int64 bounds and past them.
func TestAmountArithmeticAgreesWithBigInt(t *testing.T) {
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(-1), big.NewInt(math.MaxInt64), big.NewInt(math.MinInt64),
		big.NewInt(math.MaxInt64 - 1), big.NewInt(math.MinInt64 + 1), new(big.Int).Lsh(big.NewInt(1), 63),
		new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 63)), new(big.Int).Lsh(big.NewInt(1), 64),
		new(big.Int).Sub(new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 63)), big.NewInt(1))}
	rng := rand.New(rand.NewPCG(1, 2))
	values := append([]*big.Int(nil), edges...)
	for range 200 {
		v := big.NewInt(rng.Int64())
		if rng.IntN(2) == 0 {
			v.Neg(v)
		}
		if rng.IntN(4) == 0 {
			v.Mul(v, big.NewInt(rng.Int64N(1000)+2))
		}
		values = append(values, v)
	}
	for _, x := range values {
		a := models.NewAmount(x)
		assert.Equal(t, x.String(), a.String())
		assert.Equal(t, x.Sign(), a.Sign(), x)
		assert.Equal(t, 0, a.BigInt().Cmp(x), x)
		parsed, err := models.ParseAmount(x.String())
		require.NoError(t, err)
		assert.True(t, parsed.Equal(a), x)
		for _, y := range values[:40] {
			b := models.NewAmount(y)
			assert.Equal(t, x.Cmp(y), a.Cmp(b), "%s cmp %s", x, y)
			assert.Equal(t, x.Cmp(y) == 0, a.Equal(b), "%s == %s", x, y)
			assert.Equal(t, new(big.Int).Add(x, y).String(), a.Add(b).String(), "%s + %s", x, y)
			assert.Equal(t, new(big.Int).Sub(x, y).String(), a.Sub(b).String(), "%s - %s", x, y)
			assert.True(t, a.Add(b).Equal(models.NewAmount(new(big.Int).Add(x, y))), "%s + %s", x, y)
		}
	}
	var unset models.Amount
	assert.False(t, unset.Equal(models.AmountFromInt64(0)))
	assert.True(t, unset.Equal(models.Amount{}))
	assert.Equal(t, "5", unset.Add(models.AmountFromInt64(5)).String())
	assert.Equal(t, 0, unset.Cmp(models.AmountFromInt64(0)))
}
