package pagination

import (
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Field is the timestamp a list route is sorted and filtered by.
type Field string

// The time fields of the contract: accounts and beneficiaries are paged by createdAt, transactions by
// updatedAt.
const (
	FieldCreatedAt Field = "createdAt"
	FieldUpdatedAt Field = "updatedAt"
)

// Direction is a sort direction. Formance always asks for ascending order.
type Direction string

// The two sort directions.
const (
	Ascending  Direction = "asc"
	Descending Direction = "desc"
)

// Sort is the parsed sort query parameter, e.g. "createdAt:asc".
type Sort struct {
	Field     Field
	Direction Direction
}

// String returns the wire form, e.g. "updatedAt:asc".
func (s Sort) String() string { return string(s.Field) + ":" + string(s.Direction) }

// DefaultPageSize is the page size used when a request has no pageSize parameter, as the contract says.
const DefaultPageSize = 100

// DefaultMaxPageSize is the largest pageSize accepted unless the handler is configured otherwise. A
// larger pageSize is refused with 400, never silently capped: a page shorter than asked for tells
// Formance that the data is exhausted.
const DefaultMaxPageSize = 1000

// Query is one list request, parsed and validated: which page, how large, in which order, from when.
// A provider receives it as a connector.ListRequest, which has the same fields (ListRequest.Query
// converts back, for the helpers here and the feeds).
//
// Page numbers start at 1; page N holds the items at positions (N-1)*PageSize to N*PageSize-1 of the
// data sorted by Sort and filtered by From. A provider must answer exactly PageSize items unless the
// data is exhausted.
type Query struct {
	// Page is the 1-based page number.
	Page int
	// PageSize is the number of items asked for, at least 1.
	PageSize int
	// Sort is the order asked for; its Field is the route's time field.
	Sort Sort
	// From is the inclusive lower bound on the time field (createdAtFrom or updatedAtFrom); the zero
	// time when the request has none (Formance's very first poll). Formance sends it with second
	// precision, so items at exactly From must be included.
	From time.Time
}

// Offset returns the number of items before this page: (Page-1)*PageSize. Use it with Limit for
// SQL-shaped data: ORDER BY updated_at, id LIMIT Limit() OFFSET Offset().
func (q Query) Offset() int { return (q.Page - 1) * q.PageSize }

// Limit returns PageSize.
func (q Query) Limit() int { return q.PageSize }

// ErrInvalidParameter is wrapped by every error ParseQuery returns.
var ErrInvalidParameter = errors.New("invalid query parameter")

// ParamError reports one bad query parameter. It wraps ErrInvalidParameter.
type ParamError struct {
	// Param is the query parameter's name, e.g. "pageSize".
	Param string
	// Value is what the request sent.
	Value string
	// Problem says what is wrong and what is expected.
	Problem string
}

// Error names the parameter, the value and the rule it breaks.
func (e *ParamError) Error() string {
	return fmt.Sprintf("query parameter %s=%q: %s", e.Param, e.Value, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalidParameter) true.
func (e *ParamError) Unwrap() error { return ErrInvalidParameter }

// FromParam returns the name of the query parameter that carries the lower time bound for a field:
// "createdAtFrom" or "updatedAtFrom".
func FromParam(f Field) string {
	switch f { // the contract's fields, without a new string each request
	case FieldUpdatedAt:
		return "updatedAtFrom"
	case FieldCreatedAt:
		return "createdAtFrom"
	}
	return string(f) + "From"
}

// ParseQuery reads page, pageSize, sort and the …From parameter of a list request whose time field is
// field. Absent parameters take the contract's defaults (page 1, pageSize DefaultPageSize, ascending by
// field, no lower bound). A pageSize above maxPageSize is an error, not silently capped; maxPageSize
// <= 0 means DefaultMaxPageSize. Times are RFC 3339, with or without fractional seconds.
//
// Each bad parameter gives a *ParamError (errors.Is ErrInvalidParameter). Parameters the contract does
// not define are ignored. A parameter given twice is an error, since the two values could disagree.
func ParseQuery(values url.Values, field Field, maxPageSize int) (Query, error) {
	for _, name := range [...]string{"page", "pageSize", "sort", FromParam(field)} {
		if len(values[name]) > 1 {
			return Query{}, &ParamError{Param: name, Value: strings.Join(values[name], ","), Problem: "given more than once"}
		}
	}
	return parseParams(func(name string) (string, bool) { return single(values, name) }, field, maxPageSize)
}

// ErrMalformedQuery is wrapped by the error ParseRawQuery returns for a query string that
// url.ParseQuery refuses.
var ErrMalformedQuery = errors.New("malformed query string")

// ParseRawQuery is ParseQuery(url.ParseQuery(raw)) without building the url.Values: it reads the
// raw query string of a request (URL.RawQuery) as url.ParseQuery reads it, keeps only the
// parameters of the contract, and returns the same Query or *ParamError. A query string that
// url.ParseQuery refuses (a semicolon separator, a bad escape, in any parameter) gives an error
// wrapping ErrMalformedQuery whose text ends with url.ParseQuery's.
func ParseRawQuery(raw string, field Field, maxPageSize int) (Query, error) {
	names := [...]string{"page", "pageSize", "sort", FromParam(field)}
	var first [len(names)]string
	var seen [len(names)]int
	var more [len(names)][]string // the values after the first, for the error of a repeated one
	var malformed error
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(pair, ";") {
			malformed = errSemicolon // as url.ParseQuery: this one replaces an earlier error
			continue
		}
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, err := unescapeQuery(key)
		if err != nil {
			if malformed == nil {
				malformed = err
			}
			continue
		}
		value, err = unescapeQuery(value)
		if err != nil {
			if malformed == nil {
				malformed = err
			}
			continue
		}
		for i, name := range names {
			if key == name {
				if seen[i] == 0 {
					first[i] = value
				} else {
					more[i] = append(more[i], value)
				}
				seen[i]++
			}
		}
	}
	if malformed != nil {
		return Query{}, fmt.Errorf("%w: %w", ErrMalformedQuery, malformed)
	}
	for i, name := range names {
		if seen[i] > 1 {
			return Query{}, &ParamError{Param: name, Value: first[i] + "," + strings.Join(more[i], ","), Problem: "given more than once"}
		}
	}
	return parseParams(func(name string) (string, bool) {
		for i, n := range names {
			if n == name && seen[i] > 0 {
				return first[i], true
			}
		}
		return "", false
	}, field, maxPageSize)
}

var errSemicolon = errors.New("invalid semicolon separator in query")

// unescapeQuery is url.QueryUnescape, without a call for the usual part that has nothing to
// unescape.
func unescapeQuery(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// parseParams reads the parameters of ParseQuery through get, which returns a parameter's value.
func parseParams(get func(name string) (string, bool), field Field, maxPageSize int) (Query, error) {
	if maxPageSize <= 0 {
		maxPageSize = DefaultMaxPageSize
	}
	q := Query{Page: 1, PageSize: DefaultPageSize, Sort: Sort{Field: field, Direction: Ascending}}
	fromParam := FromParam(field)
	if v, ok := get("page"); ok {
		n, perr := positiveInt("page", v)
		if perr != nil {
			return Query{}, perr
		}
		q.Page = n
	}
	if v, ok := get("pageSize"); ok {
		n, perr := positiveInt("pageSize", v)
		if perr != nil {
			return Query{}, perr
		}
		if n > maxPageSize {
			return Query{}, &ParamError{Param: "pageSize", Value: v, Problem: fmt.Sprintf("must be at most %d (this server refuses larger pages rather than silently answering fewer items)", maxPageSize)}
		}
		q.PageSize = n
	}
	if q.Page > maxItems/q.PageSize {
		return Query{}, &ParamError{Param: "page", Value: strconv.Itoa(q.Page), Problem: "page*pageSize is too large"}
	}
	if v, ok := get("sort"); ok {
		s, err := parseSort(v, field)
		if err != nil {
			return Query{}, &ParamError{Param: "sort", Value: v, Problem: err.Error()}
		}
		q.Sort = s
	}
	if v, ok := get(fromParam); ok {
		t, err := ParseTime(v)
		if err != nil {
			return Query{}, &ParamError{Param: fromParam, Value: v, Problem: err.Error()}
		}
		q.From = t
	}
	return q, nil
}

// maxItems bounds page*pageSize so that Offset cannot overflow: 1<<62 on 64-bit platforms.
const maxItems = 1 << (bits.UintSize - 2)

func single(values url.Values, name string) (string, bool) {
	vs, ok := values[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// positiveInt parses the value of an integer parameter that must be at least 1.
func positiveInt(param, v string) (int, *ParamError) {
	n, err := strconv.Atoi(v)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, &ParamError{Param: param, Value: v, Problem: "must be an integer >= 1 (out of range)"}
	case err != nil || n < 1:
		return 0, &ParamError{Param: param, Value: v, Problem: "must be an integer >= 1"}
	}
	return n, nil
}

func parseSort(v string, field Field) (Sort, error) {
	name, dir, hasDir := strings.Cut(v, ":")
	if Field(name) != field {
		return Sort{}, fmt.Errorf("unknown sort field %q: this route sorts by %q (e.g. sort=%s:asc)", name, field, field)
	}
	s := Sort{Field: field, Direction: Ascending}
	if hasDir {
		switch Direction(dir) {
		case Ascending, Descending:
			s.Direction = Direction(dir)
		default:
			return Sort{}, fmt.Errorf("unknown sort direction %q: want \"asc\" or \"desc\"", dir)
		}
	}
	return s, nil
}

// ParseTime parses an RFC 3339 date-time with or without fractional seconds, such as
// "2024-01-01T10:00:00Z" or "2024-01-01T10:00:00.123+02:00". It refuses "2024-01-01 10:00:00", a bare
// date and Unix numbers.
func ParseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 date-time such as 2024-01-01T10:00:00Z")
	}
	return t, nil
}
