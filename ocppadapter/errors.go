package ocppadapter

import (
	"errors"
	"fmt"
)

// Sentinel errors of the adapter; match with errors.Is. Errors of a
// [site.ChargerControl] call may also wrap site.ErrOffline or
// site.ErrTimeout.
var (
	// ErrRejected: the charger understood the command and said no
	// (status Rejected), where the method has no CommandResult to say so.
	ErrRejected = errors.New("ocppadapter: rejected by charger")
	// ErrNotSupported: the charger does not implement the message
	// (CALLERROR NotImplemented or NotSupported), where the method has no
	// CommandResult to say so.
	ErrNotSupported = errors.New("ocppadapter: not supported by charger")
	// ErrCallError: the charger answered with a CALLERROR; the error is a
	// *CallError.
	ErrCallError = errors.New("ocppadapter: charger answered with CALLERROR")
	// ErrBadResponse: the charger's CALLRESULT broke the schema.
	ErrBadResponse = errors.New("ocppadapter: malformed CALLRESULT")
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("ocppadapter: server closed")
)

// ErrorCode is an OCPP-J RPC error code, independent of the version's
// spelling. [ErrorCode.Wire] gives the string sent on the wire.
type ErrorCode uint8

// RPC framework error codes: the union of OCPP-J 1.6 section 4.2.3 (table
// "Valid Error Codes") and OCPP 2.0.1 Part 4 section 4.3.
const (
	// CodeFormatViolation: the payload is syntactically wrong or does not
	// have the PDU's structure. 1.6 spells it FormationViolation.
	CodeFormatViolation ErrorCode = iota + 1
	CodeGenericError
	CodeInternalError
	// CodeMessageTypeNotSupported: unknown message type number (2.0.1
	// only; 1.6 gets GenericError).
	CodeMessageTypeNotSupported
	// CodeNotImplemented: the action is unknown to us.
	CodeNotImplemented
	// CodeNotSupported: the action is defined by the version but we do
	// not handle it.
	CodeNotSupported
	// CodeOccurrenceConstraintViolation: a required field is missing or an
	// array has too few or too many items. 1.6 spells it
	// OccurenceConstraintViolation (one "r"), as its specification does.
	CodeOccurrenceConstraintViolation
	// CodePropertyConstraintViolation: a value is out of range, too long,
	// not one of the enumeration's values or of the wrong format.
	CodePropertyConstraintViolation
	CodeProtocolError
	// CodeRpcFrameworkError: the frame is not a valid RPC message, such as
	// when its message id cannot be read (2.0.1 only; 1.6 gets
	// FormationViolation).
	CodeRpcFrameworkError
	CodeSecurityError
	// CodeTypeConstraintViolation: a field has the wrong JSON type.
	CodeTypeConstraintViolation
)

var codeNames = [...]string{
	CodeFormatViolation:               "FormatViolation",
	CodeGenericError:                  "GenericError",
	CodeInternalError:                 "InternalError",
	CodeMessageTypeNotSupported:       "MessageTypeNotSupported",
	CodeNotImplemented:                "NotImplemented",
	CodeNotSupported:                  "NotSupported",
	CodeOccurrenceConstraintViolation: "OccurrenceConstraintViolation",
	CodePropertyConstraintViolation:   "PropertyConstraintViolation",
	CodeProtocolError:                 "ProtocolError",
	CodeRpcFrameworkError:             "RpcFrameworkError",
	CodeSecurityError:                 "SecurityError",
	CodeTypeConstraintViolation:       "TypeConstraintViolation",
}

// String returns the OCPP 2.0.1 spelling.
func (c ErrorCode) String() string {
	if c > 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%d)", uint8(c))
}

// Wire returns the code as version v spells it on the wire. Codes 1.6
// lacks are mapped to the nearest 1.6 code.
func (c ErrorCode) Wire(v Version) string {
	if v == V16 {
		switch c {
		case CodeFormatViolation, CodeRpcFrameworkError:
			return "FormationViolation"
		case CodeOccurrenceConstraintViolation:
			return "OccurenceConstraintViolation"
		case CodeMessageTypeNotSupported:
			return "GenericError"
		}
	}
	return c.String()
}

// ParseErrorCode reads an error code as a charger sent it. Both versions'
// spellings are accepted for either version, as chargers mix them up;
// unknown codes give CodeGenericError and false.
func ParseErrorCode(s string) (ErrorCode, bool) {
	switch s {
	case "FormationViolation":
		return CodeFormatViolation, true
	case "OccurenceConstraintViolation":
		return CodeOccurrenceConstraintViolation, true
	}
	for i, n := range codeNames {
		if i > 0 && n == s {
			return ErrorCode(i), true
		}
	}
	return CodeGenericError, false
}

// CallError is an RPC error, sent or received as a CALLERROR frame.
type CallError struct {
	Code        ErrorCode
	Description string
	// Details is the errorDetails object as raw JSON ("{}" if empty).
	Details []byte
	// Action is the action of the CALL that failed, when known.
	Action string
}

func (e *CallError) Error() string {
	if e.Action != "" {
		return fmt.Sprintf("ocppadapter: %s: %s: %s", e.Action, e.Code, e.Description)
	}
	return fmt.Sprintf("ocppadapter: %s: %s", e.Code, e.Description)
}

// Is makes errors.Is(err, ErrCallError) true for a *CallError, and
// errors.Is(err, ErrNotSupported) for NotImplemented and NotSupported.
func (e *CallError) Is(target error) bool {
	switch target {
	case ErrCallError:
		return true
	case ErrNotSupported:
		return e.Code == CodeNotImplemented || e.Code == CodeNotSupported
	}
	return false
}

func callErr(code ErrorCode, format string, args ...any) *CallError {
	return &CallError{Code: code, Description: fmt.Sprintf(format, args...)}
}
