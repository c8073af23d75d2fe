// Package models holds the objects of the Formance Generic Connector contract (Account, Balances,
// Transaction, Payout, …) with their exact JSON names, and value types for what is easy to get wrong:
// Amount (an integer in minor units of any size, a decimal string on the wire), Asset (UMN form such
// as "USD/2"), TransactionType and TransactionStatus (exactly the contract's values).
//
// Validate checks any object against the contract and returns a *ValidationError that names the
// object, its id and each faulty field. The HTTP handler in package httpserver calls it on every item
// a provider returns, so an item Formance cannot decode never reaches it.
//
// This package does no I/O and knows nothing about HTTP or paging.
package models
