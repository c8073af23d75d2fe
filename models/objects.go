package models

import (
	"encoding/json"
	"time"
)

// Metadata is free-form string data attached to an object. Formance stores it with the object; it
// may be nil.
type Metadata map[string]string

// Account is an internal account held at the PSP, as served by GET /accounts. Formance pages
// accounts by CreatedAt, which must never change once the account has been served.
type Account struct {
	ID          string    `json:"id" validate:"required"`
	AccountName string    `json:"accountName" validate:"required"`
	CreatedAt   time.Time `json:"createdAt" validate:"required"`
	Metadata    Metadata  `json:"metadata,omitempty"`
}

// Beneficiary is an external counterparty (a payee), as served by GET /beneficiaries. Formance pages
// beneficiaries by CreatedAt, which must never change once served.
type Beneficiary struct {
	ID        string    `json:"id" validate:"required"`
	OwnerName string    `json:"ownerName" validate:"required"`
	CreatedAt time.Time `json:"createdAt" validate:"required"`
	Metadata  Metadata  `json:"metadata,omitempty"`
}

// Balance is the amount held in one asset. Unlike transaction amounts, a balance may be negative.
type Balance struct {
	Amount   Amount `json:"amount" validate:"amount"`
	Currency Asset  `json:"currency" validate:"asset"`
}

// Balances is the answer to GET /accounts/{accountId}/balances: every balance of one account at one
// moment. AccountID must equal the account id of the request path, because Formance uses it as the
// account reference; the library fills it in when the provider leaves it empty and rejects a mismatch.
type Balances struct {
	ID        string    `json:"id" validate:"required"`
	AccountID string    `json:"accountID" validate:"required"`
	At        time.Time `json:"at" validate:"required"`
	Balances  []Balance `json:"balances" validate:"dive"`
}

// MarshalJSON writes Balances with "balances" as an array, [] when there are none, never null.
func (b Balances) MarshalJSON() ([]byte, error) {
	type plain Balances
	if b.Balances == nil {
		b.Balances = []Balance{}
	}
	return json.Marshal(plain(b))
}

// Transaction is a movement of money at the PSP, as served by GET /transactions. Formance pages
// transactions by UpdatedAt: every change to a transaction (a new status, say) must move UpdatedAt
// strictly forward, or Formance never sees the change.
//
// Mind the casing: the contract names these fields sourceAccountID and destinationAccountID, with
// "ID", while Payout and Transfer use sourceAccountId, with "Id".
type Transaction struct {
	ID                   string            `json:"id" validate:"required"`
	RelatedTransactionID string            `json:"relatedTransactionID,omitempty"`
	CreatedAt            time.Time         `json:"createdAt" validate:"required"`
	UpdatedAt            time.Time         `json:"updatedAt" validate:"required"`
	Currency             Asset             `json:"currency" validate:"asset"`
	Scheme               string            `json:"scheme,omitempty"`
	Type                 TransactionType   `json:"type" validate:"txtype"`
	Status               TransactionStatus `json:"status" validate:"txstatus"`
	Amount               Amount            `json:"amount" validate:"amount,amount_nonnegative"`
	SourceAccountID      string            `json:"sourceAccountID,omitempty"`
	DestinationAccountID string            `json:"destinationAccountID,omitempty"`
	Metadata             Metadata          `json:"metadata,omitempty"`
}

// PayoutRequest is the body of POST /payouts: Formance asks the PSP to pay money out of one of its
// accounts to a beneficiary. IdempotencyKey is Formance's payment-initiation reference; Formance
// retries with the same key, so the same key must never move money twice.
type PayoutRequest struct {
	IdempotencyKey       string   `json:"idempotencyKey" validate:"required"`
	Amount               Amount   `json:"amount" validate:"amount,amount_positive"`
	Currency             Asset    `json:"currency" validate:"asset"`
	SourceAccountID      string   `json:"sourceAccountId" validate:"required"`
	DestinationAccountID string   `json:"destinationAccountId" validate:"required"`
	Description          string   `json:"description,omitempty"`
	Metadata             Metadata `json:"metadata,omitempty" validate:"request_metadata"`
}

// Payout is the PSP's record of a payout, answered by POST /payouts (201) and GET /payouts/{payoutId}.
type Payout struct {
	ID                   string            `json:"id" validate:"required"`
	IdempotencyKey       string            `json:"idempotencyKey" validate:"required"`
	Amount               Amount            `json:"amount" validate:"amount,amount_positive"`
	Currency             Asset             `json:"currency" validate:"asset"`
	SourceAccountID      string            `json:"sourceAccountId" validate:"required"`
	DestinationAccountID string            `json:"destinationAccountId" validate:"required"`
	Description          string            `json:"description,omitempty"`
	Status               TransactionStatus `json:"status" validate:"txstatus"`
	CreatedAt            time.Time         `json:"createdAt" validate:"required"`
	UpdatedAt            time.Time         `json:"updatedAt,omitzero"`
	Metadata             Metadata          `json:"metadata,omitempty"`
}

// TransferRequest is the body of POST /transfers: Formance asks the PSP to move money between two of
// its own accounts. The idempotency rules of PayoutRequest apply.
type TransferRequest struct {
	IdempotencyKey       string   `json:"idempotencyKey" validate:"required"`
	Amount               Amount   `json:"amount" validate:"amount,amount_positive"`
	Currency             Asset    `json:"currency" validate:"asset"`
	SourceAccountID      string   `json:"sourceAccountId" validate:"required"`
	DestinationAccountID string   `json:"destinationAccountId" validate:"required"`
	Description          string   `json:"description,omitempty"`
	Metadata             Metadata `json:"metadata,omitempty" validate:"request_metadata"`
}

// Transfer is the PSP's record of a transfer, answered by POST /transfers (201) and
// GET /transfers/{transferId}.
type Transfer struct {
	ID                   string            `json:"id" validate:"required"`
	IdempotencyKey       string            `json:"idempotencyKey" validate:"required"`
	Amount               Amount            `json:"amount" validate:"amount,amount_positive"`
	Currency             Asset             `json:"currency" validate:"asset"`
	SourceAccountID      string            `json:"sourceAccountId" validate:"required"`
	DestinationAccountID string            `json:"destinationAccountId" validate:"required"`
	Description          string            `json:"description,omitempty"`
	Status               TransactionStatus `json:"status" validate:"txstatus"`
	CreatedAt            time.Time         `json:"createdAt" validate:"required"`
	UpdatedAt            time.Time         `json:"updatedAt,omitzero"`
	Metadata             Metadata          `json:"metadata,omitempty"`
}

// BankAccountRequest is the body of POST /bank-accounts (an extension of the contract): Formance asks
// the PSP to register an external bank account. Country, when given, is an ISO 3166-1 alpha-2 code.
type BankAccountRequest struct {
	Name          string   `json:"name" validate:"required"`
	AccountNumber string   `json:"accountNumber,omitempty"`
	IBAN          string   `json:"iban,omitempty"`
	SwiftBicCode  string   `json:"swiftBicCode,omitempty"`
	Country       string   `json:"country,omitempty" validate:"omitempty,iso3166_1_alpha2"`
	Metadata      Metadata `json:"metadata,omitempty" validate:"request_metadata"`
}

// BankAccount is the PSP's record of a bank account, answered by POST /bank-accounts (201).
type BankAccount struct {
	ID            string    `json:"id" validate:"required"`
	Name          string    `json:"name" validate:"required"`
	CreatedAt     time.Time `json:"createdAt" validate:"required"`
	AccountNumber string    `json:"accountNumber,omitempty"`
	IBAN          string    `json:"iban,omitempty"`
	SwiftBicCode  string    `json:"swiftBicCode,omitempty"`
	Country       string    `json:"country,omitempty" validate:"omitempty,iso3166_1_alpha2"`
	Metadata      Metadata  `json:"metadata,omitempty"`
}

// Error is the body of every non-2xx answer: {"Title": "...", "Detail": "..."}, with the capitalised
// names of the published contract. Title is a short, stable summary ("Bad Request"); Detail says
// exactly what was wrong, naming the parameter, field or item.
type Error struct {
	Title  string `json:"Title"`
	Detail string `json:"Detail"`
}
