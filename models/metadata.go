package models

import "fmt"

// Bounds on the metadata of a write request (PayoutRequest, TransferRequest, BankAccountRequest).
// Validate refuses a request past either, naming the limit, and the library answers it 400 before
// the provider is called: metadata is stored with each idempotent answer and passed on to the PSP,
// so its size is bounded like the body's. Formance's own metadata is a few short entries.
const (
	// MaxRequestMetadataEntries is the most entries a write request's metadata may have.
	MaxRequestMetadataEntries = 100
	// MaxRequestMetadataBytes is the most bytes its keys and values may hold together.
	MaxRequestMetadataBytes = 16 << 10
)

// requestMetadataTag is the validator tag of the bound.
const requestMetadataTag = "request_metadata"

// metadataSize returns the number of bytes of m's keys and values.
func metadataSize(m Metadata) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// withinRequestBounds reports whether m fits the bounds of a write request's metadata.
func (m Metadata) withinRequestBounds() bool {
	return len(m) <= MaxRequestMetadataEntries && metadataSize(m) <= MaxRequestMetadataBytes
}

// describeRequestMetadata says how m breaks the bounds, without showing its content.
func describeRequestMetadata(m Metadata) string {
	return fmt.Sprintf("has %d entries and %d bytes of keys and values: a write request's metadata may have at most %d entries (MaxRequestMetadataEntries) and %d bytes (MaxRequestMetadataBytes)",
		len(m), metadataSize(m), MaxRequestMetadataEntries, MaxRequestMetadataBytes)
}
