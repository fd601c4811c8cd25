package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// csms is the least a central system does: accept, answer every CALL.
func csms(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"ocpp2.0.1", "ocpp1.6"}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			var frame []json.RawMessage
			if json.Unmarshal(data, &frame) != nil || len(frame) != 4 {
				continue
			}
			res := `{}`
			switch string(frame[2]) {
			case `"BootNotification"`:
				res = fmt.Sprintf(`{"status":"Accepted","currentTime":%q,"interval":300}`, time.Now().UTC().Format(time.RFC3339))
			case `"StartTransaction"`:
				res = `{"transactionId":1,"idTagInfo":{"status":"Accepted"}}`
			case `"Authorize"`:
				res = `{"idTagInfo":{"status":"Accepted"}}`
			}
			_ = ws.Write(r.Context(), websocket.MessageText, fmt.Appendf(nil, `[3,%s,%s]`, frame[1], res))
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ocpp"
}

func writeScenario(t *testing.T, doc string) string {
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const overloaded = `
site: {grid_limit: 40, circuits: [{id: fuse, limit: 16}]}
chargers:
  - {id: a, ocpp: "1.6", circuit: fuse}
  - {id: b, ocpp: "2.0.1", circuit: fuse, quirks: {ignore_profiles: true}}
cars:
  schedule:
    - {charger: a, arrive: 0s, soc: 0.2, car: {max_current: 32, ramp_delay: 100ms}}
    - {charger: b, arrive: 0s, soc: 0.2, car: {max_current: 32, ramp_delay: 100ms}}
`

const withinLimits = `
site: {grid_limit: 40, circuits: [{id: fuse, limit: 16}]}
chargers:
  - {id: a, ocpp: "1.6", circuit: fuse, evses: [{max_current: 16}]}
cars:
  schedule:
    - {charger: a, arrive: 0s, soc: 0.2, car: {max_current: 32, ramp_delay: 100ms}}
`

func TestRun(t *testing.T) {
	server := csms(t)
	tests := []struct {
		desc       string
		scenario   string
		flags      []string
		wantCode   int
		wantReport bool
		wantOut    string
	}{
		{desc: "violation with --fail-on-violation exits 1", scenario: overloaded, flags: []string{"--fail-on-violation"}, wantCode: 1, wantReport: true, wantOut: "draw over limit at fuse"},
		{desc: "violation without the flag exits 0", scenario: overloaded, wantCode: 0, wantReport: true, wantOut: "violations: 6 draw"},
		{desc: "clean run exits 0", scenario: withinLimits, flags: []string{"--fail-on-violation"}, wantCode: 0, wantReport: true, wantOut: "violations: 0 draw"},
		{desc: "bad flag exits 2", scenario: withinLimits, flags: []string{"--speed", "-1"}, wantCode: 2},
		{desc: "bad scenario exits 2", scenario: "site: {grid_limit: 0}", wantCode: 2},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"--scenario", writeScenario(t, tc.scenario), "--server", server,
				"--duration", "1500ms", "--tick", "50ms", "--report", report, "--view"}, tc.flags...)
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
			b, err := os.ReadFile(report)
			if tc.wantReport != (err == nil) {
				t.Fatalf("report written: %v, want %v", err == nil, tc.wantReport)
			}
			if err == nil {
				var rep struct {
					DrawViolations int `json:"draw_violations"`
					Chargers       []struct {
						Booted bool `json:"booted"`
					} `json:"chargers"`
				}
				if err := json.Unmarshal(b, &rep); err != nil {
					t.Fatal(err)
				}
				for i, c := range rep.Chargers {
					if !c.Booted {
						t.Errorf("charger %d never booted", i)
					}
				}
			}
		})
	}
}
