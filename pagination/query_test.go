package pagination

import (
	"errors"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseQuery(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	asc := Sort{Field: FieldUpdatedAt, Direction: Ascending}
	tests := []struct {
		name    string
		query   string
		field   Field
		max     int
		want    Query
		badName string // the param the *ParamError must name; "" when no error is expected
	}{
		{name: "defaults", query: "", field: FieldUpdatedAt,
			want: Query{Page: 1, PageSize: DefaultPageSize, Sort: asc}},
		{name: "defaults createdAt", query: "", field: FieldCreatedAt,
			want: Query{Page: 1, PageSize: 100, Sort: Sort{Field: FieldCreatedAt, Direction: Ascending}}},
		{name: "all given", query: "page=3&pageSize=25&sort=updatedAt:asc&updatedAtFrom=2024-01-01T10:00:00Z", field: FieldUpdatedAt,
			want: Query{Page: 3, PageSize: 25, Sort: asc, From: utc("2024-01-01T10:00:00Z")}},
		{name: "unknown params ignored", query: "foo=bar&createdAtFrom=garbage", field: FieldUpdatedAt,
			want: Query{Page: 1, PageSize: 100, Sort: asc}},
		{name: "sort without direction is ascending", query: "sort=updatedAt", field: FieldUpdatedAt,
			want: Query{Page: 1, PageSize: 100, Sort: asc}},
		{name: "desc", query: "sort=createdAt:desc", field: FieldCreatedAt,
			want: Query{Page: 1, PageSize: 100, Sort: Sort{Field: FieldCreatedAt, Direction: Descending}}},
		{name: "pageSize equal to max", query: "pageSize=50", field: FieldUpdatedAt, max: 50,
			want: Query{Page: 1, PageSize: 50, Sort: asc}},
		{name: "max <= 0 means default max", query: "pageSize=1000", field: FieldUpdatedAt, max: -1,
			want: Query{Page: 1, PageSize: 1000, Sort: asc}},
		{name: "time with fraction", query: "updatedAtFrom=2024-01-01T10:00:00.123456789Z", field: FieldUpdatedAt,
			want: Query{Page: 1, PageSize: 100, Sort: asc, From: utc("2024-01-01T10:00:00.123456789Z")}},
		{name: "time with offset", query: "updatedAtFrom=" + url.QueryEscape("2024-01-01T12:00:00.5+02:00"), field: FieldUpdatedAt,
			want: Query{Page: 1, PageSize: 100, Sort: asc, From: utc("2024-01-01T10:00:00.5Z")}},

		{name: "page 0", query: "page=0", field: FieldUpdatedAt, badName: "page"},
		{name: "page negative", query: "page=-1", field: FieldUpdatedAt, badName: "page"},
		{name: "page not integer", query: "page=abc", field: FieldUpdatedAt, badName: "page"},
		{name: "page decimal", query: "page=1.5", field: FieldUpdatedAt, badName: "page"},
		{name: "page empty", query: "page=", field: FieldUpdatedAt, badName: "page"},
		{name: "page out of range", query: "page=99999999999999999999999", field: FieldUpdatedAt, badName: "page"},
		{name: "pageSize 0", query: "pageSize=0", field: FieldUpdatedAt, badName: "pageSize"},
		{name: "pageSize not integer", query: "pageSize=ten", field: FieldUpdatedAt, badName: "pageSize"},
		{name: "pageSize out of range", query: "pageSize=-99999999999999999999999", field: FieldUpdatedAt, badName: "pageSize"},
		{name: "pageSize above max is refused, never capped", query: "pageSize=51", field: FieldUpdatedAt, max: 50, badName: "pageSize"},
		{name: "pageSize above default max", query: "pageSize=1001", field: FieldUpdatedAt, badName: "pageSize"},
		{name: "page times pageSize too large", query: "page=9223372036854775807&pageSize=2", field: FieldUpdatedAt, badName: "page"},
		{name: "duplicate page", query: "page=1&page=1", field: FieldUpdatedAt, badName: "page"},
		{name: "duplicate pageSize", query: "pageSize=10&pageSize=20", field: FieldUpdatedAt, badName: "pageSize"},
		{name: "duplicate sort", query: "sort=updatedAt:asc&sort=updatedAt:asc", field: FieldUpdatedAt, badName: "sort"},
		{name: "duplicate from", query: "updatedAtFrom=2024-01-01T10:00:00Z&updatedAtFrom=2024-01-01T10:00:00Z", field: FieldUpdatedAt, badName: "updatedAtFrom"},
		{name: "sort field of another route", query: "sort=createdAt:asc", field: FieldUpdatedAt, badName: "sort"},
		{name: "sort field unknown", query: "sort=amount:asc", field: FieldCreatedAt, badName: "sort"},
		{name: "sort bad direction", query: "sort=createdAt:up", field: FieldCreatedAt, badName: "sort"},
		{name: "sort direction upper case", query: "sort=createdAt:ASC", field: FieldCreatedAt, badName: "sort"},
		{name: "sort empty direction", query: "sort=createdAt:", field: FieldCreatedAt, badName: "sort"},
		{name: "time with space", query: "createdAtFrom=" + url.QueryEscape("2024-01-01 10:00:00"), field: FieldCreatedAt, badName: "createdAtFrom"},
		{name: "time as unix number", query: "createdAtFrom=1700000000", field: FieldCreatedAt, badName: "createdAtFrom"},
		{name: "time empty", query: "createdAtFrom=", field: FieldCreatedAt, badName: "createdAtFrom"},
		{name: "time date only", query: "createdAtFrom=2024-01-01", field: FieldCreatedAt, badName: "createdAtFrom"},
		{name: "time without offset", query: "createdAtFrom=2024-01-01T10:00:00", field: FieldCreatedAt, badName: "createdAtFrom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			got, err := ParseQuery(values, tt.field, tt.max)
			if tt.badName == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want.Page, got.Page)
				assert.Equal(t, tt.want.PageSize, got.PageSize)
				assert.Equal(t, tt.want.Sort, got.Sort)
				assert.True(t, tt.want.From.Equal(got.From), "From: want %v, got %v", tt.want.From, got.From)
				assert.Equal(t, tt.want.From.IsZero(), got.From.IsZero())
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidParameter), "errors.Is(err, ErrInvalidParameter) for %v", err)
			var pe *ParamError
			require.True(t, errors.As(err, &pe), "errors.As *ParamError for %v", err)
			assert.Equal(t, tt.badName, pe.Param)
			assert.NotEmpty(t, pe.Problem)
			assert.Contains(t, err.Error(), tt.badName)
			assert.Equal(t, Query{}, got)
		})
	}
}

func TestParseQueryMessages(t *testing.T) {
	tests := []struct {
		query   string
		problem string
	}{
		{"page=0", "must be an integer >= 1"},
		{"page=x", "must be an integer >= 1"},
		{"page=99999999999999999999999", "must be an integer >= 1 (out of range)"},
		{"pageSize=-3", "must be an integer >= 1"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			values, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			_, err = ParseQuery(values, FieldCreatedAt, 0)
			var pe *ParamError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.problem, pe.Problem)
		})
	}
}

func TestParseQueryPageSizeAboveMaxNamesTheLimit(t *testing.T) {
	_, err := ParseQuery(url.Values{"pageSize": {"26"}}, FieldCreatedAt, 25)
	var pe *ParamError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "26", pe.Value)
	assert.Contains(t, pe.Problem, "at most 25")
}

func TestFromParam(t *testing.T) {
	assert.Equal(t, "createdAtFrom", FromParam(FieldCreatedAt))
	assert.Equal(t, "updatedAtFrom", FromParam(FieldUpdatedAt))
}

func TestQueryOffsetLimitAndSortString(t *testing.T) {
	q := Query{Page: 3, PageSize: 25, Sort: Sort{Field: FieldUpdatedAt, Direction: Ascending}}
	assert.Equal(t, 50, q.Offset())
	assert.Equal(t, 25, q.Limit())
	assert.Equal(t, "updatedAt:asc", q.Sort.String())
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" for an error
	}{
		{"2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"},
		{"2024-01-01T10:00:00.123Z", "2024-01-01T10:00:00.123Z"},
		{"2024-01-01T10:00:00.123+02:00", "2024-01-01T08:00:00.123Z"},
		{"2024-01-01T10:00:00-05:30", "2024-01-01T15:30:00Z"},
		{"2024-01-01 10:00:00", ""},
		{"1700000000", ""},
		{"", ""},
		{"2024-01-01", ""},
		{"2024-13-01T10:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if tt.want == "" {
				require.Error(t, err)
				assert.True(t, got.IsZero())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.UTC().Format(time.RFC3339Nano))
		})
	}
}

// TestParseRawQueryIsParseQueryOfURLParseQuery: on random query strings of the contract's
// parameters, unknown ones, repeats, empty pairs, escapes good and bad, '+' and semicolons,
// ParseRawQuery gives ParseQuery(url.ParseQuery(raw))'s Query and error, or, where url.ParseQuery
// fails, an ErrMalformedQuery ending with url.ParseQuery's error.
func TestParseRawQueryIsParseQueryOfURLParseQuery(t *testing.T) {
	keys := []string{"page", "pageSize", "sort", "updatedAtFrom", "createdAtFrom", "other", "pa%67e", "page%zz", "", "sort+"}
	values := []string{"1", "2", "25", "0", "-1", "x", "updatedAt:asc", "updatedAt%3Adesc", "createdAt:asc", "2024-01-01T00:00:00Z",
		"2024-01-01T00%3A00%3A00Z", "2024-01-01T00:00:00.5+01:00", "2024-01-01T00:00:00+01:00", "%zz", "a+b", "", "%41"}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		var parts []string
		for range rng.IntN(6) {
			switch rng.IntN(12) {
			case 0:
				parts = append(parts, "")
			case 1:
				parts = append(parts, keys[rng.IntN(len(keys))]+";"+values[rng.IntN(len(values))])
			case 2:
				parts = append(parts, keys[rng.IntN(len(keys))]) // no '='
			default:
				parts = append(parts, keys[rng.IntN(len(keys))]+"="+values[rng.IntN(len(values))])
			}
		}
		raw := strings.Join(parts, "&")
		field := FieldUpdatedAt
		if rng.IntN(2) == 0 {
			field = FieldCreatedAt
		}
		got, gotErr := ParseRawQuery(raw, field, 100)
		vals, urlErr := url.ParseQuery(raw)
		if urlErr != nil {
			require.ErrorIs(t, gotErr, ErrMalformedQuery, "%q", raw)
			require.True(t, strings.HasSuffix(gotErr.Error(), urlErr.Error()), "%q: %v, want …%v", raw, gotErr, urlErr)
			continue
		}
		want, wantErr := ParseQuery(vals, field, 100)
		require.Equal(t, want, got, "%q", raw)
		if wantErr == nil {
			require.NoError(t, gotErr, "%q", raw)
			continue
		}
		require.Error(t, gotErr, "%q", raw)
		require.Equal(t, wantErr.Error(), gotErr.Error(), "%q", raw)
	}
}
