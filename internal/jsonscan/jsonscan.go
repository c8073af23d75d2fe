// Package jsonscan reads the few JSON shapes the library's fast paths need (a write request's
// object, a page's ids and times) without reflection. It checks only what its callers ask for:
// they hand anything it does not read to encoding/json.
package jsonscan

// Scanner reads JSON from B, at I.
type Scanner struct {
	B []byte
	// S, when set, is B as a string: the strings Plain returns are then parts of it (no copy).
	S string
	I int
}

// Space skips white space.
func (s *Scanner) Space() {
	for s.I < len(s.B) && (s.B[s.I] == ' ' || s.B[s.I] == '\n' || s.B[s.I] == '\r' || s.B[s.I] == '\t') {
		s.I++
	}
}

// Consume skips white space and c, reporting whether c was there.
func (s *Scanner) Consume(c byte) bool {
	s.Space()
	if s.I < len(s.B) && s.B[s.I] == c {
		s.I++
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.Space()
	return s.I == len(s.B)
}

// Plain reads a string without escapes or control characters, and, with ascii set, of printable
// ASCII only; anything else reports false.
func (s *Scanner) Plain(ascii bool) (string, bool) {
	if !s.Consume('"') {
		return "", false
	}
	for j := s.I; j < len(s.B); j++ {
		switch c := s.B[j]; {
		case c == '"':
			var v string
			if s.S != "" {
				v = s.S[s.I:j]
			} else {
				v = string(s.B[s.I:j])
			}
			s.I = j + 1
			return v, true
		case c < 0x20 || c == '\\' || (ascii && c >= 0x7f):
			return "", false
		}
	}
	return "", false
}

// SkipValue skips one value of any kind, checking only that strings and brackets close.
func (s *Scanner) SkipValue() bool {
	s.Space()
	depth := 0
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case '"':
			s.I++
			for s.I < len(s.B) && s.B[s.I] != '"' {
				if s.B[s.I] == '\\' {
					s.I++
				}
				s.I++
			}
			if s.I >= len(s.B) {
				return false
			}
			if depth == 0 {
				s.I++
				return true
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return true // a literal ended with its object
			}
			if depth--; depth == 0 {
				s.I++
				return true
			}
		case ',':
			if depth == 0 {
				return true
			}
		}
		s.I++
	}
	return false
}
