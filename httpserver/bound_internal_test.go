package httpserver

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBoundedLoggerClipsEveryAttribute(t *testing.T) {
	var buf bytes.Buffer
	l := boundLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	assert.Same(t, l, boundLogger(l), "bounding twice wraps once")
	long := strings.Repeat("x", 5000)
	l.With("with", long).WithGroup("g").Info("m",
		"s", long, slog.Any("err", errors.New(long)), slog.Group("grp", "inner", long), "short", "ok",
		"stack", strings.Repeat("s", maxLoggedStack+10))
	out := buf.String()
	assert.Equal(t, 4, strings.Count(out, "…(5000 bytes)"), "with, s, err and grp.inner: %.300s", out)
	assert.Contains(t, out, "…(65546 bytes)", "the stack is cut at its own bound")
	assert.Contains(t, out, "g.short=ok")
	assert.Less(t, len(out), maxLoggedStack+4*maxLoggedAttr+500)

	buf.Reset()
	l.Info("m", "s", "short")
	assert.Contains(t, buf.String(), "s=short", "short attributes pass as they are")
}
