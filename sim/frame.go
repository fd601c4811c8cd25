package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// OCPP-J message type numbers.
const (
	msgCall       = 2
	msgCallResult = 3
	msgCallError  = 4
)

// maxMessageIDLen is the longest message id OCPP-J allows.
const maxMessageIDLen = 36

// Frame is one OCPP-J message.
type Frame struct {
	Type int
	ID   string
	// Action of a CALL.
	Action string
	// Payload of a CALL or CALLRESULT; ErrorDetails of a CALLERROR.
	Payload json.RawMessage
	// ErrorCode and ErrorDescription of a CALLERROR.
	ErrorCode        string
	ErrorDescription string
}

// ParseFrame reads an OCPP-J frame. On error the returned frame carries the
// message id if one could be read, so the caller can answer with a
// CALLERROR. Errors wrap ErrBadFrame.
func ParseFrame(data []byte) (Frame, error) {
	var f Frame
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return f, fmt.Errorf("%w: not a JSON array: %v", ErrBadFrame, err)
	}
	if len(parts) < 3 {
		return f, fmt.Errorf("%w: %d elements, want 3 to 5", ErrBadFrame, len(parts))
	}
	if err := json.Unmarshal(parts[0], &f.Type); err != nil {
		return f, fmt.Errorf("%w: message type is not an integer", ErrBadFrame)
	}
	if err := json.Unmarshal(parts[1], &f.ID); err != nil {
		return f, fmt.Errorf("%w: message id is not a string", ErrBadFrame)
	}
	if f.ID == "" || len(f.ID) > maxMessageIDLen || !utf8.ValidString(f.ID) {
		id := f.ID
		f.ID = ""
		return f, fmt.Errorf("%w: message id %q: want 1..%d characters", ErrBadFrame, id, maxMessageIDLen)
	}
	object := func(raw json.RawMessage, what string) error {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return fmt.Errorf("%w: %s is not a JSON object", ErrBadFrame, what)
		}
		return nil
	}
	switch f.Type {
	case msgCall:
		if len(parts) != 4 {
			return f, fmt.Errorf("%w: CALL has %d elements, want 4", ErrBadFrame, len(parts))
		}
		if err := json.Unmarshal(parts[2], &f.Action); err != nil || f.Action == "" {
			return f, fmt.Errorf("%w: CALL action is not a string", ErrBadFrame)
		}
		f.Payload = parts[3]
		return f, object(f.Payload, "CALL payload")
	case msgCallResult:
		if len(parts) != 3 {
			return f, fmt.Errorf("%w: CALLRESULT has %d elements, want 3", ErrBadFrame, len(parts))
		}
		f.Payload = parts[2]
		return f, object(f.Payload, "CALLRESULT payload")
	case msgCallError:
		if len(parts) != 5 {
			return f, fmt.Errorf("%w: CALLERROR has %d elements, want 5", ErrBadFrame, len(parts))
		}
		if err := json.Unmarshal(parts[2], &f.ErrorCode); err != nil {
			return f, fmt.Errorf("%w: CALLERROR code is not a string", ErrBadFrame)
		}
		if err := json.Unmarshal(parts[3], &f.ErrorDescription); err != nil {
			return f, fmt.Errorf("%w: CALLERROR description is not a string", ErrBadFrame)
		}
		f.Payload = parts[4]
		return f, object(f.Payload, "CALLERROR details")
	}
	return f, fmt.Errorf("%w: message type %d", ErrBadFrame, f.Type)
}

// encodeCall builds [2, id, action, payload].
func encodeCall(id, action string, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("sim: encode %s: %w", action, err)
	}
	return json.Marshal([]any{msgCall, id, action, json.RawMessage(p)})
}

// encodeResult builds [3, id, payload].
func encodeResult(id string, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("sim: encode result: %w", err)
	}
	return json.Marshal([]any{msgCallResult, id, json.RawMessage(p)})
}

// encodeError builds [4, id, code, description, {}].
func encodeError(id, code, desc string) []byte {
	if len(desc) > 255 {
		desc = desc[:255]
		for !utf8.ValidString(desc) {
			desc = desc[:len(desc)-1]
		}
	}
	b, _ := json.Marshal([]any{msgCallError, id, code, desc, struct{}{}})
	return b
}

// OCPP-J CALLERROR codes used by the simulator.
const (
	errNotImplemented     = "NotImplemented"
	errNotSupported       = "NotSupported"
	errProtocol           = "ProtocolError"
	errFormation16        = "FormationViolation" // 1.6 spells it so
	errFormat201          = "FormatViolation"
	errTypeConstraint     = "TypeConstraintViolation"
	errPropertyConstraint = "PropertyConstraintViolation"
	errInternal           = "InternalError"
)
