package httpserver

import (
	"fmt"
	"unicode/utf8"
)

// Bounds on what a request can make the handler echo or log: client input is cut to these sizes,
// then marked with its full length, so that a huge id, amount or query string costs a few hundred
// bytes of log and answer, not its own size.
const (
	// MaxDetailBytes bounds the Detail of an error answer.
	MaxDetailBytes = 1024
	// maxLoggedInput bounds a log field that carries client input (the path, the query string).
	maxLoggedInput = 256
	// MaxQueryBytes and MaxQueryParams bound the query string of a request: Formance sends four
	// short parameters, so anything much larger is refused with 400 before it is parsed.
	MaxQueryBytes  = 2048
	MaxQueryParams = 20
)

// Clip returns s when it has at most n bytes, and otherwise its first n bytes (cut at a rune
// boundary) followed by "…(N bytes)", N being the full length: the rule the handler applies to every
// log field and Detail that carries client input. Use it for your own logs of client input.
func Clip(s string, n int) string { return clip(s, n) }

// clip returns s when it has at most n bytes, and otherwise its first n bytes (cut at a rune
// boundary) followed by "…(N bytes)".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
