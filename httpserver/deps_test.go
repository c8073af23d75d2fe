package httpserver_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPostgresDriverStaysOptional checks that a program using httpserver with the default store
// does not link pgx: only httpserver/idempotency/pgstore imports it.
func TestPostgresDriverStaysOptional(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not in PATH: cannot list the import graph")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/pspconnect/pspconnect/httpserver",
		"github.com/pspconnect/pspconnect/httpserver/idempotency").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "github.com/pspconnect/pspconnect/httpserver/idempotency\n")
	for _, pkg := range strings.Fields(string(out)) {
		assert.NotContains(t, pkg, "github.com/jackc/", "httpserver must not depend on the PostgreSQL driver")
	}
}
