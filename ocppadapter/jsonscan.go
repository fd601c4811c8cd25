package ocppadapter

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small strict JSON (RFC 8259) reader for the hot path: it checks a
// frame without allocating and builds the value tree the schema validator
// takes (map[string]any, []any, string, json.Number, bool, nil) faster
// than encoding/json's reflection. Nesting is limited to maxJSONDepth.

const maxJSONDepth = 64

var errJSON = errors.New("invalid JSON")

type jsonScanner struct {
	data  []byte
	i     int
	depth int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) fail(msg string) error {
	return errors.New("invalid JSON at offset " + strconv.Itoa(s.i) + ": " + msg)
}

// validJSON reports whether data is exactly one JSON value.
func validJSON(data []byte) error {
	s := jsonScanner{data: data}
	s.ws()
	if err := s.skip(); err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.data) {
		return s.fail("data after the value")
	}
	return nil
}

// skip moves past one value, checking it.
func (s *jsonScanner) skip() error {
	if s.i >= len(s.data) {
		return s.fail("unexpected end")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.container('}', true)
	case c == '[':
		return s.container(']', false)
	case c == '"':
		_, _, err := s.stringSpan()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.numberSpan()
		return err
	default:
		return s.literal()
	}
}

func (s *jsonScanner) container(end byte, object bool) error {
	s.depth++
	if s.depth > maxJSONDepth {
		return s.fail("nested too deep")
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == end {
		s.i++
		s.depth--
		return nil
	}
	for {
		if object {
			if s.i >= len(s.data) || s.data[s.i] != '"' {
				return s.fail("want a string key")
			}
			if _, _, err := s.stringSpan(); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.data) || s.data[s.i] != ':' {
				return s.fail("want ':'")
			}
			s.i++
			s.ws()
		}
		if err := s.skip(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.data) {
			return s.fail("unexpected end")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case end:
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("want ',' or the container's end")
		}
	}
}

func (s *jsonScanner) literal() error {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.data)-s.i >= len(lit) && string(s.data[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return nil
		}
	}
	return s.fail("unknown literal")
}

// numberSpan checks a number and returns its text.
func (s *jsonScanner) numberSpan() ([]byte, error) {
	start := s.i
	d := s.data
	if s.i < len(d) && d[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(d) && d[s.i] == '0':
		s.i++
	case s.i < len(d) && d[s.i] >= '1' && d[s.i] <= '9':
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
		}
	default:
		return nil, s.fail("bad number")
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		n := s.i
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
		}
		if s.i == n {
			return nil, s.fail("bad fraction")
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		n := s.i
		for s.i < len(d) && d[s.i] >= '0' && d[s.i] <= '9' {
			s.i++
		}
		if s.i == n {
			return nil, s.fail("bad exponent")
		}
	}
	return d[start:s.i], nil
}

// stringSpan checks a string at s.i and returns its raw contents (between
// the quotes) and whether it holds escapes or non-ASCII bytes.
func (s *jsonScanner) stringSpan() (raw []byte, plain bool, err error) {
	d := s.data
	s.i++
	start := s.i
	plain = true
	for s.i < len(d) {
		c := d[s.i]
		switch {
		case c == '"':
			raw = d[start:s.i]
			s.i++
			return raw, plain, nil
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(d) {
				return nil, false, s.fail("unterminated escape")
			}
			switch d[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(d)-s.i < 5 {
					return nil, false, s.fail("short \\u escape")
				}
				for _, h := range d[s.i+1 : s.i+5] {
					if !isHex(h) {
						return nil, false, s.fail("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return nil, false, s.fail("bad escape")
			}
		case c < 0x20:
			return nil, false, s.fail("control character in string")
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			s.i++
		}
	}
	return nil, false, s.fail("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// unquote decodes the raw contents of a checked string as encoding/json
// does (invalid UTF-8 and lone surrogates become U+FFFD).
func unquote(raw []byte, plain bool) string {
	if plain {
		return string(raw)
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				b = append(b, c)
				i++
				continue
			}
			r, size := utf8.DecodeRune(raw[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			j := i + 5 // after the four hex digits
			if utf16.IsSurrogate(r) {
				if j+6 <= len(raw) && raw[j] == '\\' && raw[j+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(raw[j+2:j+6])); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i = j + 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			i = j
			continue
		default: // '"', '\\', '/'
			b = append(b, raw[i])
		}
		i++
	}
	return string(b)
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// parseJSONValue parses data (one JSON value) into the tree the schema
// validator takes.
func parseJSONValue(data []byte) (any, error) {
	s := jsonScanner{data: data}
	s.ws()
	v, err := s.value()
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(s.data) {
		return nil, s.fail("data after the value")
	}
	return v, nil
}

func (s *jsonScanner) value() (any, error) {
	if s.i >= len(s.data) {
		return nil, s.fail("unexpected end")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		raw, plain, err := s.stringSpan()
		if err != nil {
			return nil, err
		}
		return unquote(raw, plain), nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := s.numberSpan()
		if err != nil {
			return nil, err
		}
		return json.Number(n), nil
	case c == 't' || c == 'f' || c == 'n':
		start := s.i
		if err := s.literal(); err != nil {
			return nil, err
		}
		switch s.data[start] {
		case 't':
			return true, nil
		case 'f':
			return false, nil
		}
		return nil, nil
	}
	return nil, s.fail("unexpected character")
}

func (s *jsonScanner) object() (any, error) {
	s.depth++
	if s.depth > maxJSONDepth {
		return nil, s.fail("nested too deep")
	}
	s.i++
	m := make(map[string]any, 8)
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		s.depth--
		return m, nil
	}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return nil, s.fail("want a string key")
		}
		raw, plain, err := s.stringSpan()
		if err != nil {
			return nil, err
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return nil, s.fail("want ':'")
		}
		s.i++
		s.ws()
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		m[unquote(raw, plain)] = v
		s.ws()
		if s.i >= len(s.data) {
			return nil, s.fail("unexpected end")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return m, nil
		default:
			return nil, s.fail("want ',' or '}'")
		}
	}
}

func (s *jsonScanner) array() (any, error) {
	s.depth++
	if s.depth > maxJSONDepth {
		return nil, s.fail("nested too deep")
	}
	s.i++
	a := make([]any, 0, 4)
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		s.depth--
		return a, nil
	}
	for {
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		s.ws()
		if s.i >= len(s.data) {
			return nil, s.fail("unexpected end")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			s.depth--
			return a, nil
		default:
			return nil, s.fail("want ',' or ']'")
		}
	}
}
