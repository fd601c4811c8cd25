package ocppadapter

import (
	"encoding/json"
	"strings"
	"testing"
)

// OCPP-J 1.6 section 4 / 2.0.1 Part 4 section 4: message structure, and
// which CALLERROR answers each way of breaking it.
func TestParseFrame(t *testing.T) {
	id37 := strings.Repeat("a", 37)
	id36 := strings.Repeat("ü", 36)
	tests := []struct {
		desc     string
		in       string
		wantType MessageType
		wantID   string
		action   string
		code     ErrorCode // 0: parses
	}{
		{"CALL", `[2,"19223201","BootNotification",{"reason":"PowerUp"}]`, TypeCall, "19223201", "BootNotification", 0},
		{"CALL with whitespace", " [ 2 , \"1\" ,\n\"Heartbeat\" , { } ] ", TypeCall, "1", "Heartbeat", 0},
		{"CALL with 36-character unicode id", `[2,"` + id36 + `","Heartbeat",{}]`, TypeCall, id36, "Heartbeat", 0},
		{"CALLRESULT", `[3,"19223201",{"currentTime":"2013-02-01T20:53:32.486Z"}]`, TypeCallResult, "19223201", "", 0},
		{"CALLERROR", `[4,"162376037","NotSupported","SetDisplayMessage not supported",{}]`, TypeCallError, "162376037", "", 0},
		{"RpcFrameworkError: not JSON", `[2,"1","Heartbeat",{]`, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: empty input", ``, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: object instead of array", `{"id":"1"}`, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: two elements", `[2,"1"]`, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: message type is a string", `["2","1","Heartbeat",{}]`, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: message type is fractional", `[2.0,"1","Heartbeat",{}]`, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: message id is a number", `[2,1,"Heartbeat",{}]`, 0, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: message id empty", `[2,"","Heartbeat",{}]`, TypeCall, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: message id of 37 characters", `[2,"` + id37 + `","Heartbeat",{}]`, TypeCall, "", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: CALL with 5 elements", `[2,"1","Heartbeat",{},{}]`, TypeCall, "1", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: CALL without payload", `[2,"1","Heartbeat"]`, TypeCall, "1", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: action is a number", `[2,"1",7,{}]`, TypeCall, "1", "", CodeRpcFrameworkError},
		{"RpcFrameworkError: action empty", `[2,"1","",{}]`, TypeCall, "1", "", CodeRpcFrameworkError},
		{"FormatViolation: payload is an array", `[2,"1","Heartbeat",[]]`, TypeCall, "1", "", CodeFormatViolation},
		{"FormatViolation: payload is null", `[2,"1","Heartbeat",null]`, TypeCall, "1", "", CodeFormatViolation},
		{"FormatViolation: payload is a string", `[2,"1","Heartbeat","{}"]`, TypeCall, "1", "", CodeFormatViolation},
		{"MessageTypeNotSupported: type 5", `[5,"1","x","y",{}]`, 5, "1", "", CodeMessageTypeNotSupported},
		{"MessageTypeNotSupported: type 0", `[0,"1",{}]`, 0, "1", "", CodeMessageTypeNotSupported},
		{"CALLRESULT with a string payload", `[3,"1","ok"]`, TypeCallResult, "1", "", CodeFormatViolation},
		{"CALLRESULT with 4 elements", `[3,"1",{},{}]`, TypeCallResult, "1", "", CodeRpcFrameworkError},
		{"CALLERROR without details", `[4,"1","GenericError","x"]`, TypeCallError, "1", "", CodeRpcFrameworkError},
		{"CALLERROR with a numeric code", `[4,"1",5,"x",{}]`, TypeCallError, "1", "", CodeRpcFrameworkError},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			f, ferr := ParseFrame([]byte(tc.in))
			if tc.code == 0 {
				if ferr != nil {
					t.Fatalf("unexpected error %v", ferr)
				}
				if f.Type != tc.wantType || f.ID != tc.wantID || f.Action != tc.action {
					t.Fatalf("got %+v", f)
				}
				return
			}
			if ferr == nil {
				t.Fatalf("parsed %+v, want %v", f, tc.code)
			}
			if ferr.Code != tc.code || ferr.ID != tc.wantID || ferr.Type != tc.wantType {
				t.Fatalf("got code %v id %q type %d, want %v id %q type %d (%s)", ferr.Code, ferr.ID, ferr.Type, tc.code, tc.wantID, tc.wantType, ferr.Reason)
			}
		})
	}
}

// Each version's spelling of the codes (1.6-J table 4.2.3 keeps
// FormationViolation and OccurenceConstraintViolation).
func TestErrorCodeWire(t *testing.T) {
	tests := []struct {
		code      ErrorCode
		v16, v201 string
	}{
		{CodeFormatViolation, "FormationViolation", "FormatViolation"},
		{CodeOccurrenceConstraintViolation, "OccurenceConstraintViolation", "OccurrenceConstraintViolation"},
		{CodeRpcFrameworkError, "FormationViolation", "RpcFrameworkError"},
		{CodeMessageTypeNotSupported, "GenericError", "MessageTypeNotSupported"},
		{CodeTypeConstraintViolation, "TypeConstraintViolation", "TypeConstraintViolation"},
		{CodePropertyConstraintViolation, "PropertyConstraintViolation", "PropertyConstraintViolation"},
		{CodeNotImplemented, "NotImplemented", "NotImplemented"},
		{CodeNotSupported, "NotSupported", "NotSupported"},
		{CodeInternalError, "InternalError", "InternalError"},
		{CodeSecurityError, "SecurityError", "SecurityError"},
		{CodeProtocolError, "ProtocolError", "ProtocolError"},
		{CodeGenericError, "GenericError", "GenericError"},
	}
	for _, tc := range tests {
		t.Run(tc.v201, func(t *testing.T) {
			if got := tc.code.Wire(V16); got != tc.v16 {
				t.Errorf("1.6: %q, want %q", got, tc.v16)
			}
			if got := tc.code.Wire(V201); got != tc.v201 {
				t.Errorf("2.0.1: %q, want %q", got, tc.v201)
			}
			for _, s := range []string{tc.v16, tc.v201} {
				if c, ok := ParseErrorCode(s); !ok || (c != tc.code && s == tc.v201) {
					t.Errorf("ParseErrorCode(%q) = %v, %v", s, c, ok)
				}
			}
		})
	}
}

func TestAppendFramesRoundTrip(t *testing.T) {
	tests := []struct {
		desc  string
		id    string
		desc2 string
	}{
		{"plain", "abc", "went wrong"},
		{"quotes and control characters", "a\"b\\c", "line1\nline2\t\"q\"\x01"},
		{"invalid UTF-8", "id\xff", "bad \xfe byte"},
		{"long description is cut", "1", strings.Repeat("é", 300)},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := AppendCallError(nil, V201, tc.id, &CallError{Code: CodeGenericError, Description: tc.desc2})
			if !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
			f, ferr := ParseFrame(b)
			if ferr != nil {
				t.Fatalf("%s: %v", b, ferr)
			}
			if n := len([]rune(f.ErrorDescription)); n > MaxErrorDescriptionLen {
				t.Fatalf("description of %d runes", n)
			}
			if strings.ToValidUTF8(tc.id, "\uFFFD") != f.ID {
				t.Fatalf("id %q", f.ID)
			}
			c := AppendCall(nil, tc.id, "Heartbeat", []byte(`{}`))
			if f, ferr := ParseFrame(c); ferr != nil || f.Action != "Heartbeat" {
				t.Fatalf("%s: %v", c, ferr)
			}
		})
	}
}
