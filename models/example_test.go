package models_test

import (
	"fmt"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

func ExampleParseAmount() {
	a, err := models.ParseAmount("10000") // 100.00 in a currency with precision 2
	fmt.Println(a, err)
	_, err = models.ParseAmount("100.00")
	fmt.Println(err)
	// Output:
	// 10000 <nil>
	// invalid value: amount: "100.00" is not an integer in minor units (want digits only, e.g. "10000")
}

func ExampleParseAsset() {
	a, _ := models.ParseAsset("EUR/2")
	precision, _ := a.Precision()
	fmt.Println(a.Code(), precision)
	_, err := models.ParseAsset("eur/2")
	fmt.Println(err)
	// Output:
	// EUR 2
	// invalid value: asset: "eur/2": code must start with an upper-case letter A-Z
}

func ExampleValidate() {
	at := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	err := models.Validate(models.Transaction{
		ID: "tx_19", CreatedAt: at, UpdatedAt: at, Currency: "USD/2",
		Type: models.TransactionTypePayin, Status: "PROCESSED", Amount: models.AmountFromInt64(500),
	})
	fmt.Println(err)
	// Output:
	// transaction "tx_19": field "status": "PROCESSED" is not a valid transaction status (want one of PENDING, SUCCEEDED, FAILED, CANCELLED, EXPIRED, REFUNDED, REFUNDED_FAILURE, REFUND_REVERSED, DISPUTE, DISPUTE_WON, DISPUTE_LOST, AUTHORISATION, CAPTURE, CAPTURE_FAILED, OTHER)
}

// A feed keeps a stored item as its encoding: validated once, written as it is afterwards.
func ExampleEncode() {
	at := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	e, err := models.Encode(models.Transaction{ID: "tx_1", CreatedAt: at, UpdatedAt: at, Currency: "EUR/2",
		Type: models.TransactionTypePayin, Status: models.TransactionStatusSucceeded, Amount: models.AmountFromInt64(1250)})
	fmt.Println(e.ID(), err)
	fmt.Println(e.JSON())

	_, err = models.Encode(models.Transaction{ID: "tx_2"})
	fmt.Println(err != nil)
	// Output:
	// tx_1 <nil>
	// {"id":"tx_1","createdAt":"2024-06-01T12:00:00Z","updatedAt":"2024-06-01T12:00:00Z","currency":"EUR/2","type":"PAYIN","status":"SUCCEEDED","amount":"1250"}
	// true
}
