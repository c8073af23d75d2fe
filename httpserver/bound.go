package httpserver

import (
	"context"
	"fmt"
	"log/slog"
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

// Bounds on each attribute of the handler's log lines (see boundedHandler).
const (
	// maxLoggedAttr bounds a string attribute of a log line: a provider error or a route may carry
	// client input (an id of any size).
	maxLoggedAttr = 512
	// maxLoggedStack bounds the "stack" attribute of a panic's log line.
	maxLoggedStack = 64 << 10
)

// boundedHandler is the slog.Handler of the handler's logger: it clips every string attribute (and
// every error or Stringer value, as its text) to maxLoggedAttr bytes, marked with its full length,
// so that no client input makes a log line large, whatever the code that logs it.
type boundedHandler struct{ next slog.Handler }

// boundLogger returns l with its attributes bounded.
func boundLogger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(boundedHandler); ok {
		return l
	}
	return slog.New(boundedHandler{next: l.Handler()})
}

func (h boundedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h boundedHandler) Handle(ctx context.Context, rec slog.Record) error {
	long := false
	rec.Attrs(func(a slog.Attr) bool {
		_, changed := boundAttr(a)
		long = changed
		return !changed
	})
	if !long {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		a, _ = boundAttr(a)
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h boundedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	bounded := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		bounded[i], _ = boundAttr(a)
	}
	return boundedHandler{next: h.next.WithAttrs(bounded)}
}

func (h boundedHandler) WithGroup(name string) slog.Handler {
	return boundedHandler{next: h.next.WithGroup(name)}
}

// boundAttr returns a with its string value clipped, and whether it changed anything.
func boundAttr(a slog.Attr) (slog.Attr, bool) {
	limit := maxLoggedAttr
	if a.Key == "stack" {
		limit = maxLoggedStack
	}
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > limit {
			return slog.String(a.Key, clip(s, limit)), true
		}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			return a, false
		}
		if len(s) > limit {
			return slog.String(a.Key, clip(s, limit)), true
		}
	case slog.KindGroup:
		group := v.Group()
		changed := false
		bounded := make([]slog.Attr, len(group))
		for i, g := range group {
			var c bool
			bounded[i], c = boundAttr(g)
			changed = changed || c
		}
		if changed {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(bounded...)}, true
		}
	case slog.KindLogValuer:
		return boundAttr(slog.Attr{Key: a.Key, Value: v.Resolve()})
	}
	return a, false
}
