package httpserver_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pspconnect/pspconnect/httpserver"
)

func TestClipMarksTheFullLength(t *testing.T) {
	assert.Equal(t, "short", httpserver.Clip("short", 10))
	assert.Equal(t, "aaaa…(100 bytes)", httpserver.Clip(strings.Repeat("a", 100), 4))
	assert.Equal(t, "é…(4 bytes)", httpserver.Clip("éé", 3), "cut at a rune boundary")
}
