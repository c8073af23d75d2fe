package idempotency

// SetKeyHash makes the empty store s place its records by hash instead of by the hash of their
// keys, so that tests can make every key clash.
func SetKeyHash(s *MemoryStore, hash func(Key) uint64) { s.records.SetHash(hash) }
