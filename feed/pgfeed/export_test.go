package pgfeed

// Statements returns the feed's statements whose plans the tests check, by name, with the types of
// their parameters.
func Statements[T any](f *Feed[T]) map[string][2]string {
	s := f.sql
	return map[string][2]string{
		"page":        {"bytea, text, bigint, bigint, bigint, bigint", s.page},
		"pageDesc":    {"bytea, text, bigint, bigint, bigint, bigint", s.pageDesc},
		"headAndPage": {"bytea, text, bigint, bigint, bigint", s.headAndPage},
		"current":     {"bytea, text, bytea[]", s.current},
		"taken":       {"bytea, text, bigint[], bigint[]", s.taken},
		"remove":      {"bytea, text, bigint[]", s.remove},
		"supersede":   {"bytea, text, bigint[], bigint", s.supersede},
		"inPlace":     {"bytea, text, bigint, bytea, boolean", s.inPlace},
		"get":         {"bytea, text, bytea", s.get},
		"anySlot":     {"bytea, text", s.anySlot},
		"prune":       {"bytea, text, bigint, bigint, bigint", s.prune},
	}
}
