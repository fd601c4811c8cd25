package ocppadapter

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// MessageType is the first element of an OCPP-J frame.
type MessageType uint8

// OCPP-J message types.
const (
	TypeCall       MessageType = 2
	TypeCallResult MessageType = 3
	TypeCallError  MessageType = 4
)

const (
	// MaxMessageIDLen is the longest message id OCPP-J allows (1.6 section
	// 4.1.4, 2.0.1 Part 4 section 4.1.4: 36 characters, a UUID).
	MaxMessageIDLen = 36
	// MaxErrorDescriptionLen is the longest errorDescription we send
	// (2.0.1 Part 4 section 4.2.3: 255 characters).
	MaxErrorDescriptionLen = 255
	// UnknownMessageID is the message id of a CALLERROR answering a frame
	// whose own id could not be read (2.0.1 Part 4 section 4.2.3).
	UnknownMessageID = "-1"
)

// Frame is one parsed OCPP-J message. Payload and ErrorDetails alias the
// parsed input.
type Frame struct {
	Type MessageType
	ID   string
	// Action is set for CALL.
	Action string
	// Payload is the JSON object of a CALL or CALLRESULT.
	Payload json.RawMessage
	// ErrorCode, ErrorDescription and ErrorDetails are set for CALLERROR.
	ErrorCode        string
	ErrorDescription string
	ErrorDetails     json.RawMessage
}

// FrameError says why a frame could not be parsed.
type FrameError struct {
	// ID is the frame's message id if it could be read and is valid (1 to
	// 36 characters), else "".
	ID string
	// Type is the frame's message type if it could be read, else 0.
	Type   MessageType
	Code   ErrorCode
	Reason string
}

func (e *FrameError) Error() string { return "ocppadapter: bad frame: " + e.Reason }

// ParseFrame parses one OCPP-J frame strictly: a JSON array of the right
// length for its message type, a message id string of 1 to 36 characters
// and an object payload. It never panics. On failure the FrameError says
// which CALLERROR code answers it and the message id, if readable.
func ParseFrame(data []byte) (Frame, *FrameError) {
	var (
		f     Frame
		parts [6][]byte
		n     int
	)
	// One pass: check the JSON and collect the spans of the array's
	// elements (as validJSON would check it, with the same messages).
	s := jsonScanner{data: data}
	s.ws()
	if s.i >= len(data) || data[s.i] != '[' {
		if err := validJSON(data); err != nil {
			return f, &FrameError{Code: CodeRpcFrameworkError, Reason: "frame is not JSON: " + err.Error()}
		}
		return f, &FrameError{Code: CodeRpcFrameworkError, Reason: "frame is not a JSON array"}
	}
	if err := s.frameElements(&parts, &n); err != nil {
		return f, &FrameError{Code: CodeRpcFrameworkError, Reason: "frame is not JSON: " + err.Error()}
	}
	if n < 3 {
		return f, &FrameError{Code: CodeRpcFrameworkError, Reason: "frame has fewer than 3 elements"}
	}
	t, ok := parseTypeNumber(parts[0])
	if !ok {
		return f, &FrameError{Code: CodeRpcFrameworkError, Reason: "message type is not an integer"}
	}
	id, ok := jsonString(parts[1])
	if !ok {
		return f, &FrameError{Code: CodeRpcFrameworkError, Reason: "message id is not a string"}
	}
	if n := utf8.RuneCountInString(id); n == 0 || n > MaxMessageIDLen {
		// Not repeated in the answer, which would break the rule again.
		return f, &FrameError{Type: MessageType(min(t, 255)), Code: CodeRpcFrameworkError, Reason: "message id must have 1 to 36 characters"}
	}
	f.ID = id
	fe := func(code ErrorCode, reason string) (Frame, *FrameError) {
		return Frame{}, &FrameError{ID: f.ID, Type: MessageType(min(t, 255)), Code: code, Reason: reason}
	}
	switch MessageType(min(t, 255)) {
	case TypeCall:
		f.Type = TypeCall
		if n != 4 {
			return fe(CodeRpcFrameworkError, "CALL must have 4 elements")
		}
		if f.Action, ok = jsonString(parts[2]); !ok || f.Action == "" {
			return fe(CodeRpcFrameworkError, "action is not a string")
		}
		if parts[3][0] != '{' {
			return fe(CodeFormatViolation, "payload is not a JSON object")
		}
		f.Payload = parts[3]
	case TypeCallResult:
		f.Type = TypeCallResult
		if n != 3 {
			return fe(CodeRpcFrameworkError, "CALLRESULT must have 3 elements")
		}
		if parts[2][0] != '{' {
			return fe(CodeFormatViolation, "payload is not a JSON object")
		}
		f.Payload = parts[2]
	case TypeCallError:
		f.Type = TypeCallError
		if n != 5 {
			return fe(CodeRpcFrameworkError, "CALLERROR must have 5 elements")
		}
		if f.ErrorCode, ok = jsonString(parts[2]); !ok {
			return fe(CodeRpcFrameworkError, "errorCode is not a string")
		}
		if f.ErrorDescription, ok = jsonString(parts[3]); !ok {
			return fe(CodeRpcFrameworkError, "errorDescription is not a string")
		}
		if parts[4][0] != '{' {
			return fe(CodeRpcFrameworkError, "errorDetails is not a JSON object")
		}
		f.ErrorDetails = parts[4]
	default:
		return fe(CodeMessageTypeNotSupported, "unknown message type "+strconv.Itoa(t))
	}
	return f, nil
}

// frameElements checks the array at s.i and everything after it, as
// validJSON does, and records the spans of its first elements in parts
// and their count in n.
func (s *jsonScanner) frameElements(parts *[6][]byte, n *int) error {
	s.depth++
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		s.depth--
	} else {
	loop:
		for {
			start := s.i
			if err := s.skip(); err != nil {
				return err
			}
			if *n < len(parts) {
				parts[*n] = s.data[start:s.i]
			}
			*n++
			s.ws()
			if s.i >= len(s.data) {
				return s.fail("unexpected end")
			}
			switch s.data[s.i] {
			case ',':
				s.i++
				s.ws()
			case ']':
				s.i++
				s.depth--
				break loop
			default:
				return s.fail("want ',' or the container's end")
			}
		}
	}
	s.ws()
	if s.i != len(s.data) {
		return s.fail("data after the value")
	}
	return nil
}

// jsonString decodes b if it is a (checked) JSON string.
func jsonString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' {
		return "", false
	}
	s := jsonScanner{data: b}
	raw, plain, err := s.stringSpan()
	if err != nil {
		return "", false
	}
	return unquote(raw, plain), true
}

// parseTypeNumber accepts a JSON integer of up to 3 digits.
func parseTypeNumber(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 3 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// AppendCall appends [2,"id","action",payload] to dst; payload must be a
// JSON object.
func AppendCall(dst []byte, id, action string, payload []byte) []byte {
	dst = append(dst, "[2,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = appendJSONString(dst, action)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

// AppendCallResult appends [3,"id",payload] to dst.
func AppendCallResult(dst []byte, id string, payload []byte) []byte {
	dst = append(dst, "[3,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

// AppendCallError appends [4,"id","code","description",details] to dst,
// with the code spelled as version v does and the description cut to 255
// characters. Empty details become {}.
func AppendCallError(dst []byte, v Version, id string, e *CallError) []byte {
	dst = append(dst, "[4,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = appendJSONString(dst, e.Code.Wire(v))
	dst = append(dst, ',')
	dst = appendJSONString(dst, truncateRunes(e.Description, MaxErrorDescriptionLen))
	dst = append(dst, ',')
	if len(e.Details) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, e.Details...)
	}
	return append(dst, ']')
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
