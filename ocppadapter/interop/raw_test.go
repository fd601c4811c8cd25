package interop_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// rawCase is one frame sent as is and the CALLERROR the adapter must
// answer with, spelled per version.
type rawCase struct {
	name string
	// req names the requirement the case covers.
	req string
	// frame per protocol; "" means the same for both (key "").
	frame map[string]string
	// code per protocol; "" expects no answer at all.
	code map[string]string
	// id the answer must carry; "" means the frame's own id "x1".
	id string
}

func both(s string) map[string]string { return map[string]string{"ocpp1.6": s, "ocpp2.0.1": s} }

func codes(c16, c201 string) map[string]string {
	return map[string]string{"ocpp1.6": c16, "ocpp2.0.1": c201}
}

var (
	formatViolation     = codes("FormationViolation", "FormatViolation")
	occurrenceViolation = codes("OccurenceConstraintViolation", "OccurrenceConstraintViolation")
	typeViolation       = both("TypeConstraintViolation")
	propertyViolation   = both("PropertyConstraintViolation")
)

var rawCases = []rawCase{
	{name: "required field missing", req: "OCPP-J 1.6 4.2.3 / 2.0.1 Part 4 4.3 OccurrenceConstraintViolation",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","BootNotification",{"chargePointVendor":"V"}]`,
			"ocpp2.0.1": `[2,"x1","BootNotification",{"reason":"PowerUp"}]`,
		}, code: occurrenceViolation},
	{name: "field of the wrong JSON type", req: "TypeConstraintViolation",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","StatusNotification",{"connectorId":"1","errorCode":"NoError","status":"Available"}]`,
			"ocpp2.0.1": `[2,"x1","StatusNotification",{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":"1","connectorId":1}]`,
		}, code: typeViolation},
	{name: "value not in the enumeration", req: "PropertyConstraintViolation",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}]`,
			"ocpp2.0.1": `[2,"x1","StatusNotification",{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Sleeping","evseId":1,"connectorId":1}]`,
		}, code: propertyViolation},
	{name: "string longer than maxLength", req: "PropertyConstraintViolation",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","Authorize",{"idTag":"` + strings.Repeat("A", 21) + `"}]`,
			"ocpp2.0.1": `[2,"x1","Authorize",{"idToken":{"idToken":"` + strings.Repeat("A", 37) + `","type":"ISO14443"}}]`,
		}, code: propertyViolation},
	{name: "date-time that is not one", req: "PropertyConstraintViolation",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"yesterday"}]`,
			"ocpp2.0.1": `[2,"x1","StatusNotification",{"timestamp":"yesterday","connectorStatus":"Available","evseId":1,"connectorId":1}]`,
		}, code: propertyViolation},
	{name: "EVSE beyond what a charger can have", req: "PropertyConstraintViolation",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","StatusNotification",{"connectorId":99,"errorCode":"NoError","status":"Available"}]`,
			"ocpp2.0.1": `[2,"x1","StatusNotification",{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":99,"connectorId":1}]`,
		}, code: propertyViolation},
	{name: "unknown field", req: "FormationViolation (1.6) / FormatViolation (2.0.1)",
		frame: both(`[2,"x1","Heartbeat",{"foo":1}]`), code: formatViolation},
	{name: "payload not an object", req: "FormationViolation (1.6) / FormatViolation (2.0.1)",
		frame: both(`[2,"x1","Heartbeat",[]]`), code: formatViolation},
	{name: "action the version does not define", req: "NotImplemented",
		frame: both(`[2,"x1","FlyToTheMoon",{}]`), code: both("NotImplemented")},
	{name: "action defined but only sent by a central system", req: "NotSupported",
		frame: map[string]string{
			"ocpp1.6":   `[2,"x1","Reset",{"type":"Soft"}]`,
			"ocpp2.0.1": `[2,"x1","Reset",{"type":"Immediate"}]`,
		}, code: both("NotSupported")},
	{name: "not JSON at all", req: "2.0.1 Part 4 4.2.3: unreadable message id answered with -1",
		frame: both(`{not json`), code: codes("FormationViolation", "RpcFrameworkError"), id: "-1"},
	{name: "message id longer than 36 characters", req: "OCPP-J 4.1.3: message id of at most 36 characters; the answer must not repeat a bad id",
		frame: both(`[2,"` + strings.Repeat("i", 37) + `","Heartbeat",{}]`), code: codes("FormationViolation", "RpcFrameworkError"), id: "-1"},
	{name: "unknown message type", req: "2.0.1 Part 4 4.4 MessageTypeNotSupported",
		frame: both(`[7,"x1",{}]`), code: codes("GenericError", "MessageTypeNotSupported")},
	{name: "CALLRESULT for no CALL gets no answer", req: "OCPP-J 4.2: a CALLRESULT is never answered",
		frame: both(`[3,"nobody-asked",{}]`)},
	{name: "CALLERROR for no CALL gets no answer", req: "OCPP-J 4.2: a CALLERROR is never answered",
		frame: both(`[4,"nobody-asked","GenericError","",{}]`)},
}

// TestMalformedFramesGetCallErrors sends malformed frames and payloads
// through a plain WebSocket and checks each CALLERROR code (spelled as the
// version spells it), its message id, and that the connection lives on
// (a valid Heartbeat at the end is answered).
func TestMalformedFramesGetCallErrors(t *testing.T) {
	for _, protocol := range []string{"ocpp1.6", "ocpp2.0.1"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			identity := "RAW" + strings.ReplaceAll(strings.TrimPrefix(protocol, "ocpp"), ".", "")
			s := startServer(t, identity)

			type sent struct {
				Name   string `json:"name"`
				Frame  string `json:"frame"`
				WaitMs int    `json:"waitMs"`
			}
			var in []sent
			for _, c := range rawCases {
				w := 3000
				if c.code == nil {
					w = 300 // long enough for a wrong answer to show up
				}
				in = append(in, sent{Name: c.name, Frame: c.frame[protocol], WaitMs: w})
			}
			in = append(in, sent{Name: "connection lives on", Frame: `[2,"alive","Heartbeat",{}]`, WaitMs: 3000})
			cases, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			p := startNode(t, nodeTimeout, "raw.js", "--url", s.url+identity, "--protocol", protocol)
			if _, err := p.stdin.Write(cases); err != nil {
				t.Fatal(err)
			}
			p.stdin.Close()
			var res struct {
				Protocol string `json:"protocol"`
				Fatal    string `json:"fatal"`
				Open     bool   `json:"open"`
				Close    any    `json:"close"`
				Replies  []struct {
					Name  string  `json:"name"`
					Reply *string `json:"reply"`
				} `json:"replies"`
			}
			decodeInto(t, p.next("result", 2*wait), &res)
			if res.Fatal != "" {
				t.Fatalf("raw.js: %s", res.Fatal)
			}
			if res.Protocol != protocol || len(res.Replies) != len(in) {
				t.Fatalf("protocol %q, %d replies for %d frames", res.Protocol, len(res.Replies), len(in))
			}
			var server []capturedFrame
			for i, c := range rawCases {
				t.Run(c.name, func(t *testing.T) {
					reply := res.Replies[i].Reply
					if c.code == nil {
						if reply != nil {
							t.Fatalf("%s: answered %s, want no answer", c.req, *reply)
						}
						return
					}
					if reply == nil {
						t.Fatalf("%s: no answer", c.req)
					}
					server = append(server, capturedFrame{Dir: "in", Data: *reply})
					var f []json.RawMessage
					var typ int
					var id, code string
					if err := json.Unmarshal([]byte(*reply), &f); err != nil || len(f) != 5 ||
						json.Unmarshal(f[0], &typ) != nil || json.Unmarshal(f[1], &id) != nil || json.Unmarshal(f[2], &code) != nil || typ != 4 {
						t.Fatalf("%s: answer %s is not a CALLERROR", c.req, *reply)
					}
					wantID := c.id
					if wantID == "" {
						wantID = "x1"
					}
					if code != c.code[protocol] || id != wantID {
						t.Errorf("%s: got %s %q, want %s %q (answer %s)", c.req, code, id, c.code[protocol], wantID, *reply)
					}
				})
			}
			t.Run("connection lives on", func(t *testing.T) {
				last := res.Replies[len(in)-1].Reply
				if last == nil || !strings.HasPrefix(*last, `[3,"alive",{"currentTime":`) {
					t.Fatalf("Heartbeat after the bad frames answered %v; connection open %v close %v", last, res.Open, res.Close)
				}
				if !res.Open {
					t.Errorf("connection closed: %v", res.Close)
				}
			})
			t.Run("answers conform", func(t *testing.T) {
				for _, pr := range checkFrames(t, server, frameCheck{protocol: protocol, serverOnly: true}) {
					t.Error(pr)
				}
			})
		})
	}
}
