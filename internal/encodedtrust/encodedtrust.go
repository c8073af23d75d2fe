// Package encodedtrust lets the library's own feeds rebuild a models.Encoded from bytes they
// stored after models.Encode validated them (in memory, or in PostgreSQL), without validating
// them again on every read. It is internal: outside this module, only models.Encode makes an
// Encoded, so an Encoded never holds an item that skipped validation.
package encodedtrust

// Make is set by package models to a func(json string, version int64, unlinked int8)
// models.Encoded that wraps bytes models.Encode produced (version: a transaction's updatedAt in
// Unix ns, 0 otherwise; unlinked: 1 or 0 for Encoded.UnlinkedWrite, -1 to read it from the JSON).
// It is typed any because models imports this package.
var Make any
