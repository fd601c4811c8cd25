package interop_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFiles are the OCA schemas the adapter embeds (ocppadapter/schemas).
// This package compiles them on its own, so a bug in the adapter's schema
// loading cannot hide a bad frame.
var schemaFiles = map[string]string{
	"ocpp1.6":   "../schemas/ocpp1_6.json",
	"ocpp2.0.1": "../schemas/ocpp2_0_1.json",
}

// validErrorCodes are the CALLERROR codes each version defines: OCPP-J 1.6
// section 4.2.3 table 7 (with its spellings FormationViolation and
// OccurenceConstraintViolation, kept by the 1.6 errata section 5), OCPP
// 2.0.1 Part 4 section 4.3.
var validErrorCodes = map[string][]string{
	"ocpp1.6": {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
		"FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
		"TypeConstraintViolation", "GenericError"},
	"ocpp2.0.1": {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
		"NotImplemented", "NotSupported", "OccurrenceConstraintViolation", "PropertyConstraintViolation",
		"ProtocolError", "RpcFrameworkError", "SecurityError", "TypeConstraintViolation"},
}

type schemaBook struct {
	compiler *jsonschema.Compiler
	ids      map[string]bool
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

var (
	booksMu sync.Mutex
	books   = map[string]*schemaBook{}
)

func schemasFor(t *testing.T, protocol string) *schemaBook {
	t.Helper()
	booksMu.Lock()
	defer booksMu.Unlock()
	if b := books[protocol]; b != nil {
		return b
	}
	f, err := os.Open(schemaFiles[protocol])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	b := &schemaBook{compiler: jsonschema.NewCompiler(), ids: map[string]bool{}, compiled: map[string]*jsonschema.Schema{}}
	b.compiler.DefaultDraft(jsonschema.Draft7)
	b.compiler.AssertFormat() // date-time as ajv-formats checks it in ocpp-rpc
	for _, d := range doc.([]any) {
		m := d.(map[string]any)
		id := m["$id"].(string)
		if err := b.compiler.AddResource(id, m); err != nil {
			t.Fatal(err)
		}
		b.ids[id] = true
	}
	books[protocol] = b
	return b
}

func (b *schemaBook) validate(id string, payload json.RawMessage) error {
	if !b.ids[id] {
		return fmt.Errorf("no schema %s", id)
	}
	b.mu.Lock()
	sch := b.compiled[id]
	if sch == nil {
		var err error
		if sch, err = b.compiler.Compile(id); err != nil {
			b.mu.Unlock()
			return err
		}
		b.compiled[id] = sch
	}
	b.mu.Unlock()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// capturedFrame is one WebSocket message as node/charger.js logged it:
// "out" from the charger, "in" from our server.
type capturedFrame struct {
	Dir  string `json:"dir"`
	Data string `json:"data"`
}

func readFrames(t *testing.T, path string) []capturedFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capturedFrame
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var fr capturedFrame
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, fr)
	}
	return out
}

// frameCheck says which frames to check: all of them (a conversation where
// both sides must conform) or only the server's (a run where the charger
// sends malformed frames on purpose).
type frameCheck struct {
	protocol string
	// serverOnly skips the charger's frames and allows CALLERRORs with
	// message id "-1" (answers to frames whose id could not be read).
	serverOnly bool
}

// checkFrames validates every frame against the OCPP-J RPC framework and
// the OCA schemas: each CALL payload against urn:<Action>.req, each
// CALLRESULT against urn:<Action>.conf of the CALL it answers, each
// CALLERROR's code against the version's table; every CALL is answered
// exactly once and the server keeps at most one CALL outstanding (OCPP-J
// 1.6 section 4.1.1, 2.0.1 Part 4 section 4.1.1). It returns one line per
// violation.
func checkFrames(t *testing.T, frames []capturedFrame, fc frameCheck) []string {
	t.Helper()
	book := schemasFor(t, fc.protocol)
	codes := map[string]bool{}
	for _, c := range validErrorCodes[fc.protocol] {
		codes[c] = true
	}
	var problems []string
	bad := func(i int, fr capturedFrame, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("frame %d (%s) %s: %s", i, fr.Dir, fr.Data, fmt.Sprintf(format, args...)))
	}
	// outstanding[dir][id] = action of a CALL sent in direction dir.
	outstanding := map[string]map[string]string{"in": {}, "out": {}}
	other := map[string]string{"in": "out", "out": "in"}
	for i, fr := range frames {
		if fc.serverOnly && fr.Dir == "out" {
			continue
		}
		var parts []json.RawMessage
		if err := json.Unmarshal([]byte(fr.Data), &parts); err != nil || len(parts) < 3 {
			bad(i, fr, "not a JSON array of at least 3 elements")
			continue
		}
		var typ int
		var id string
		if err := json.Unmarshal(parts[0], &typ); err != nil {
			bad(i, fr, "message type is not an integer")
			continue
		}
		if err := json.Unmarshal(parts[1], &id); err != nil || id == "" || utf8.RuneCountInString(id) > 36 {
			bad(i, fr, "message id is not a string of 1 to 36 characters")
			continue
		}
		switch typ {
		case 2:
			var action string
			if len(parts) != 4 || json.Unmarshal(parts[2], &action) != nil {
				bad(i, fr, "CALL is not [2, id, action, payload]")
				continue
			}
			if err := book.validate("urn:"+action+".req", parts[3]); err != nil {
				bad(i, fr, "%s.req breaks the schema: %v", action, err)
			}
			if fr.Dir == "in" && len(outstanding["in"]) > 0 {
				bad(i, fr, "server sent a CALL while another of its CALLs was unanswered: %v", outstanding["in"])
			}
			if _, dup := outstanding[fr.Dir][id]; dup {
				bad(i, fr, "message id %q reused while outstanding", id)
			}
			outstanding[fr.Dir][id] = action
		case 3:
			if len(parts) != 3 {
				bad(i, fr, "CALLRESULT is not [3, id, payload]")
				continue
			}
			action, ok := outstanding[other[fr.Dir]][id]
			if !ok {
				bad(i, fr, "CALLRESULT for no outstanding CALL")
				continue
			}
			delete(outstanding[other[fr.Dir]], id)
			if err := book.validate("urn:"+action+".conf", parts[2]); err != nil {
				bad(i, fr, "%s.conf breaks the schema: %v", action, err)
			}
		case 4:
			var code, desc string
			var details map[string]any
			if len(parts) != 5 || json.Unmarshal(parts[2], &code) != nil || json.Unmarshal(parts[3], &desc) != nil ||
				json.Unmarshal(parts[4], &details) != nil || details == nil {
				bad(i, fr, "CALLERROR is not [4, id, code, description, {details}]")
				continue
			}
			if !codes[code] {
				bad(i, fr, "error code %q is not one %s defines", code, fc.protocol)
			}
			if utf8.RuneCountInString(desc) > 255 {
				bad(i, fr, "errorDescription longer than 255 characters")
			}
			if _, ok := outstanding[other[fr.Dir]][id]; ok {
				delete(outstanding[other[fr.Dir]], id)
			} else if !fc.serverOnly {
				bad(i, fr, "CALLERROR for no outstanding CALL")
			}
		default:
			bad(i, fr, "unknown message type %d", typ)
		}
	}
	if !fc.serverOnly {
		for dir, m := range outstanding {
			for id, action := range m {
				problems = append(problems, fmt.Sprintf("%s CALL %s %q was never answered", dir, action, id))
			}
		}
	}
	return problems
}

// Self-test of the frame checker: it must catch what it claims to catch,
// or a green conformance run means nothing.
func TestFrameCheckerCatchesViolations(t *testing.T) {
	for _, tc := range []struct {
		name     string
		protocol string
		frames   []capturedFrame
		server   bool   // check only the server's frames
		want     string // substring of the first problem; "" for none
	}{
		{name: "valid boot round trip", protocol: "ocpp1.6", frames: []capturedFrame{
			{"out", `[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]`},
			{"in", `[3,"1",{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":300}]`},
		}},
		{name: "answer breaks conf schema", protocol: "ocpp1.6", frames: []capturedFrame{
			{"out", `[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]`},
			{"in", `[3,"1",{"status":"Fine","currentTime":"2026-01-01T00:00:00Z","interval":300}]`},
		}, want: "BootNotification.conf breaks the schema"},
		{name: "bad date-time", protocol: "ocpp2.0.1", frames: []capturedFrame{
			{"out", `[2,"1","Heartbeat",{}]`},
			{"in", `[3,"1",{"currentTime":"yesterday"}]`},
		}, want: "Heartbeat.conf breaks the schema"},
		{name: "2.0.1 spelling on 1.6", protocol: "ocpp1.6", frames: []capturedFrame{
			{"out", `[2,"1","Heartbeat",{"x":1}]`},
			{"in", `[4,"1","FormatViolation","bad",{}]`},
		}, server: true, want: "is not one ocpp1.6 defines"},
		{name: "second server CALL before answer", protocol: "ocpp2.0.1", frames: []capturedFrame{
			{"in", `[2,"a","TriggerMessage",{"requestedMessage":"Heartbeat"}]`},
			{"in", `[2,"b","TriggerMessage",{"requestedMessage":"Heartbeat"}]`},
		}, want: "while another of its CALLs was unanswered"},
		{name: "unanswered CALL", protocol: "ocpp2.0.1", frames: []capturedFrame{
			{"out", `[2,"1","Heartbeat",{}]`},
		}, want: "never answered"},
		{name: "answer to nothing", protocol: "ocpp2.0.1", frames: []capturedFrame{
			{"in", `[3,"zz",{}]`},
		}, want: "CALLRESULT for no outstanding CALL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkFrames(t, tc.frames, frameCheck{protocol: tc.protocol, serverOnly: tc.server})
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("unexpected problems: %v", got)
			case tc.want != "" && (len(got) == 0 || !strings.Contains(got[0], tc.want)):
				t.Fatalf("problems %v, want one containing %q", got, tc.want)
			}
		})
	}
}

// The schemas the adapter embeds are byte for byte those ocpp-rpc 2.2.1
// validates with in strict mode, so both sides judge by the same rules.
func TestVendoredSchemasMatchOCPPRPC(t *testing.T) {
	requireNode(t)
	for protocol, path := range schemaFiles {
		ours, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "ocpp-rpc", "lib", "schemas", filepath.Base(path)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s: %s differs from the schemas ocpp-rpc ships", protocol, path)
		}
	}
}
