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
