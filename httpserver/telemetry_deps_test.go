package httpserver_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLibraryLinksOnlyTheOpenTelemetryAPI: the library's packages import OpenTelemetry's API
// (otel/metric, otel/trace, otel/propagation), never its SDK, an exporter or the Prometheus
// client: the application picks those (the examples use the Prometheus exporter).
func TestLibraryLinksOnlyTheOpenTelemetryAPI(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not in PATH: cannot list the import graph")
	}
	pkgs := []string{"httpserver", "feed", "feed/pgfeed", "ingest", "ingest/pgingest", "health", "httpserver/idempotency/pgstore"}
	args := []string{"list", "-deps"}
	for _, p := range pkgs {
		args = append(args, "github.com/pspconnect/pspconnect/"+p)
	}
	out, err := exec.Command(goTool, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	assert.Contains(t, deps, "go.opentelemetry.io/otel/metric")
	assert.Contains(t, deps, "go.opentelemetry.io/otel/trace")
	for _, pkg := range deps {
		assert.False(t, strings.HasPrefix(pkg, "go.opentelemetry.io/otel/sdk"), "the library links the OpenTelemetry SDK: %s", pkg)
		assert.False(t, strings.HasPrefix(pkg, "go.opentelemetry.io/otel/exporters"), "the library links an exporter: %s", pkg)
		assert.False(t, strings.HasPrefix(pkg, "github.com/prometheus/"), "the library links the Prometheus client: %s", pkg)
	}
}
