package connectortest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckReport: Check runs outside of go test and returns the findings in a Report whose summary
// comes first (a count per check and the first findings of each), whose findings name their check
// and request, and which encodes to JSON.
func TestCheckReport(t *testing.T) {
	s := newRefServer(faultPrefixKey)
	rep, err := Check(t.Context(), Target{Handler: s.handler(), APIKey: testKey}, Options{PageSizes: []int{25}, SkipWrites: true})
	require.NoError(t, err)
	require.False(t, rep.Passed)
	assert.Equal(t, "in-process handler", rep.Target)

	var auth []Finding
	for _, f := range rep.Findings {
		assert.Equal(t, "auth", f.Check, "only auth has findings: %s", f.Message)
		auth = append(auth, f)
	}
	// Two prefixes of the key (its first character, all but its last) open the four read routes
	// and let the two write routes answer 400 to an empty body; the routes refServer lacks answer
	// 404 with or without the key.
	require.Len(t, auth, 12, "%v", auth)
	assert.Equal(t, "GET /accounts?page=1&pageSize=1&sort=createdAt:asc", auth[0].Request)
	assert.Contains(t, auth[0].Message, "with only the first character of the API key: answered 200, want 401: the middleware serves anyone (it shows the API key's data: acc_0001)")
	assert.Equal(t, "POST /payouts", auth[8].Request)

	sum := rep.Summary()
	lines := strings.Split(sum, "\n")
	assert.Equal(t, "connectortest: in-process handler: 12 findings in 1 of 10 checks", lines[0])
	assert.Equal(t, "  auth: 12 findings", lines[1])
	assert.Equal(t, "    - "+auth[0].Message, lines[2])
	assert.Equal(t, "    … and 9 more", lines[5])
	assert.Contains(t, sum, "skipped changes: not checked")

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text, true))
	assert.True(t, strings.HasPrefix(text.String(), sum+"\n"), "the text starts with the summary")
	assert.Contains(t, text.String(), "\nFindings:\n\nauth:\n  - GET /accounts?page=1&pageSize=1&sort=createdAt:asc with only the first character of the API key: answered 200")
	assert.Contains(t, text.String(), "\n  FAILED   auth (12 findings)\n")
	assert.Contains(t, text.String(), "\n    PASSED   pageSize=25\n")
	assert.Contains(t, text.String(), "\n  SKIPPED  changes: not checked")

	data, err := json.Marshal(rep)
	require.NoError(t, err)
	var back Report
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, rep.Findings, back.Findings)
	assert.Equal(t, rep.Checks, back.Checks)
	assert.False(t, back.Passed)

	// A bad target is an error of the run, not a finding.
	_, err = Check(t.Context(), Target{}, Options{})
	assert.ErrorIs(t, err, ErrTarget)
}

// TestCheckReportPassing: a passing run says so in one line, with its skips.
func TestCheckReportPassing(t *testing.T) {
	rep, err := Check(t.Context(), Target{Handler: newRefServer(faultNone).handler(), APIKey: testKey}, Options{PageSizes: []int{25}})
	require.NoError(t, err)
	require.True(t, rep.Passed, rep.Summary())
	assert.Empty(t, rep.Findings)
	assert.True(t, strings.HasPrefix(rep.Summary(), "connectortest: in-process handler passed every check (10 checks)\n  skipped changes: "), rep.Summary())
}
