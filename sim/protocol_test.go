package sim

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const testRamp = 300 * time.Millisecond

func startFleet(t *testing.T, csms *testCSMS, s *Scenario) *Fleet {
	t.Helper()
	f, err := New(s, Options{Server: csms.url(), Tick: 20 * time.Millisecond, ReconnectMin: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return f
}

// findSample finds a sampled value in a MeterValues or TransactionEvent
// payload.
func findSample(payload json.RawMessage, measurand, phase string) (float64, bool) {
	var msg struct {
		MeterValue []struct {
			SampledValue []struct {
				Value     json.RawMessage `json:"value"`
				Measurand string          `json:"measurand"`
				Phase     string          `json:"phase"`
			} `json:"sampledValue"`
		} `json:"meterValue"`
	}
	if json.Unmarshal(payload, &msg) != nil {
		return 0, false
	}
	for _, mv := range msg.MeterValue {
		for _, sv := range mv.SampledValue {
			if sv.Measurand == measurand && sv.Phase == phase {
				var f float64
				raw := strings.Trim(string(sv.Value), `"`)
				if err := json.Unmarshal([]byte(raw), &f); err == nil {
					return f, true
				}
			}
		}
	}
	return 0, false
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		desc    string
		version string
		id      string
	}{
		{desc: "OCPP 1.6", version: OCPP16, id: "cp-16"},
		{desc: "OCPP 2.0.1", version: OCPP201, id: "cp-201"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			csms := newTestCSMS(t)
			s := &Scenario{
				Site:     SiteSpec{GridLimit: Currents{63, 63, 63}},
				Chargers: []ChargerSpec{{ID: tc.id, OCPP: tc.version, EVSEs: []EVSESpec{{MaxCurrent: 32, Phases: 3}}, MeterInterval: Duration(time.Second)}},
			}
			f := startFleet(t, csms, s)
			ctx := t.Context()
			v16 := tc.version == OCPP16

			// Boot, then the EVSEs' status.
			waitFor(t, 5*time.Second, "BootNotification and StatusNotification", func() bool {
				return len(csms.messages(tc.id, "BootNotification")) == 1 && len(csms.messages(tc.id, "StatusNotification")) >= 1
			})
			c, err := f.Charger(tc.id)
			if err != nil {
				t.Fatal(err)
			}

			// A car arrives: a transaction starts.
			if err := c.Plug(1, Car{MaxCurrent: 32, Phases: 3, RampDelay: Duration(testRamp)}, 0.2, 0); err != nil {
				t.Fatal(err)
			}
			var txID string
			waitFor(t, 5*time.Second, "transaction start", func() bool {
				txID = c.State().EVSEs[0].TxID
				if v16 {
					return txID == "42"
				}
				return txID != "" && len(csms.messages(tc.id, "TransactionEvent")) > 0
			})
			waitFor(t, 5*time.Second, "car drawing the EVSE maximum", func() bool { return c.State().EVSEs[0].Draw == 32 })

			setProfile := func(limit float64) string {
				var payload any
				if v16 {
					payload = map[string]any{"connectorId": 1, "csChargingProfiles": map[string]any{
						"chargingProfileId": 5, "transactionId": 42, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
						"chargingProfileKind": "Relative", "chargingSchedule": map[string]any{"chargingRateUnit": "A",
							"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": limit}}}}}
				} else {
					payload = map[string]any{"evseId": 1, "chargingProfile": map[string]any{
						"id": 5, "transactionId": txID, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
						"chargingProfileKind": "Relative", "chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A",
							"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": limit}}}}}}
				}
				f := csms.call(ctx, tc.id, "SetChargingProfile", payload)
				var conf struct{ Status string }
				_ = json.Unmarshal(f.Payload, &conf)
				return conf.Status
			}

			// A lower limit takes effect at once.
			if st := setProfile(10); st != "Accepted" {
				t.Fatalf("SetChargingProfile 10 A: %s", st)
			}
			waitFor(t, 2*time.Second, "draw down to 10 A", func() bool { return c.State().EVSEs[0].Draw == 10 })

			// A higher one only after the ramp delay.
			accepted := time.Now()
			if st := setProfile(20); st != "Accepted" {
				t.Fatalf("SetChargingProfile 20 A (same id replaces, K01.FR.05): %s", st)
			}
			waitFor(t, 3*time.Second, "draw up to 20 A", func() bool { return c.State().EVSEs[0].Draw == 20 })
			if took := time.Since(accepted); took < testRamp-50*time.Millisecond {
				t.Errorf("car drew the new limit after %v, before its %v ramp delay", took, testRamp)
			}

			// Meter values carry per-phase current, power and energy.
			meterAction := "MeterValues"
			if !v16 {
				meterAction = "TransactionEvent"
			}
			waitFor(t, 4*time.Second, "a meter value with 20 A on L1..L3", func() bool {
				for _, p := range csms.messages(tc.id, meterAction) {
					l1, ok1 := findSample(p, "Current.Import", "L1")
					l3, ok3 := findSample(p, "Current.Import", "L3")
					_, okP := findSample(p, "Power.Active.Import", "")
					_, okE := findSample(p, "Energy.Active.Import.Register", "")
					_, okS := findSample(p, "SoC", "")
					if ok1 && ok3 && okP && okE && l1 == 20 && l3 == 20 && (v16 || okS) {
						return true
					}
				}
				return false
			})

			// GetCompositeSchedule answers from the charger's own composite (K08).
			var comp Frame
			if v16 {
				comp = csms.call(ctx, tc.id, "GetCompositeSchedule", map[string]any{"connectorId": 1, "duration": 600})
			} else {
				comp = csms.call(ctx, tc.id, "GetCompositeSchedule", map[string]any{"evseId": 1, "duration": 600, "chargingRateUnit": "A"})
			}
			var cs struct {
				Status   string
				Schedule *struct {
					Periods []struct{ Limit float64 } `json:"chargingSchedulePeriod"`
				} `json:"schedule"`
				ChargingSchedule *struct {
					Periods []struct{ Limit float64 } `json:"chargingSchedulePeriod"`
				} `json:"chargingSchedule"`
			}
			if err := json.Unmarshal(comp.Payload, &cs); err != nil || cs.Status != "Accepted" {
				t.Fatalf("GetCompositeSchedule: %s %v", comp.Payload, err)
			}
			sched := cs.ChargingSchedule
			if !v16 {
				sched = cs.Schedule
			}
			if sched == nil || len(sched.Periods) == 0 || sched.Periods[0].Limit != 20 {
				t.Errorf("composite schedule %s, want a first period of 20 A", comp.Payload)
			}

			// Unknown actions: CALLERROR NotImplemented.
			if fr := csms.call(ctx, tc.id, "MakeCoffee", map[string]any{}); fr.Type != msgCallError || fr.ErrorCode != "NotImplemented" {
				t.Errorf("unknown action answered %+v, want CALLERROR NotImplemented", fr)
			}
			// A malformed payload: CALLERROR with the version's format code.
			wantCode := "FormationViolation"
			if !v16 {
				wantCode = "FormatViolation"
			}
			if fr := csms.callRaw(ctx, tc.id, "SetChargingProfile", []byte(`[]`)); fr.Type != msgCallError || fr.ErrorCode != wantCode {
				t.Errorf("malformed CALL answered %+v, want CALLERROR %s", fr, wantCode)
			}

			// Configuration / device model.
			if v16 {
				fr := csms.call(ctx, tc.id, "GetConfiguration", map[string]any{"key": []string{"ChargeProfileMaxStackLevel", "ConnectorPhaseRotation", "Nope"}})
				if !strings.Contains(string(fr.Payload), `"ChargeProfileMaxStackLevel"`) || !strings.Contains(string(fr.Payload), `"unknownKey":["Nope"]`) {
					t.Errorf("GetConfiguration: %s", fr.Payload)
				}
				fr = csms.call(ctx, tc.id, "ChangeConfiguration", map[string]any{"key": "MeterValuesSampledData", "value": "Current.Import,Energy.Active.Import.Register"})
				if !strings.Contains(string(fr.Payload), "Accepted") {
					t.Errorf("ChangeConfiguration: %s", fr.Payload)
				}
				fr = csms.call(ctx, tc.id, "ChangeConfiguration", map[string]any{"key": "ChargeProfileMaxStackLevel", "value": "3"})
				if !strings.Contains(string(fr.Payload), "Rejected") {
					t.Errorf("ChangeConfiguration of a read-only key: %s", fr.Payload)
				}
			} else {
				fr := csms.call(ctx, tc.id, "GetVariables", map[string]any{"getVariableData": []any{
					map[string]any{"component": map[string]any{"name": "SmartChargingCtrlr"}, "variable": map[string]any{"name": "ProfileStackLevel"}},
					map[string]any{"component": map[string]any{"name": "SmartChargingCtrlr"}, "variable": map[string]any{"name": "Entries", "instance": "ChargingProfiles"}, "attributeType": "MaxSet"},
					map[string]any{"component": map[string]any{"name": "Nope"}, "variable": map[string]any{"name": "X"}},
				}})
				p := string(fr.Payload)
				if !strings.Contains(p, `"attributeValue":"8"`) || !strings.Contains(p, `"attributeValue":"16"`) || !strings.Contains(p, "UnknownComponent") {
					t.Errorf("GetVariables: %s", p)
				}
				fr = csms.call(ctx, tc.id, "SetVariables", map[string]any{"setVariableData": []any{
					map[string]any{"component": map[string]any{"name": "SampledDataCtrlr"}, "variable": map[string]any{"name": "TxUpdatedInterval"}, "attributeValue": "1"},
				}})
				if !strings.Contains(string(fr.Payload), `"attributeStatus":"Accepted"`) {
					t.Errorf("SetVariables: %s", fr.Payload)
				}
				fr = csms.call(ctx, tc.id, "GetBaseReport", map[string]any{"requestId": 7, "reportBase": "FullInventory"})
				if !strings.Contains(string(fr.Payload), "Accepted") {
					t.Errorf("GetBaseReport: %s", fr.Payload)
				}
				waitFor(t, 2*time.Second, "NotifyReport", func() bool { return len(csms.messages(tc.id, "NotifyReport")) == 1 })
				fr = csms.call(ctx, tc.id, "GetChargingProfiles", map[string]any{"requestId": 8, "chargingProfile": map[string]any{"chargingProfilePurpose": "TxProfile"}})
				if !strings.Contains(string(fr.Payload), "Accepted") {
					t.Errorf("GetChargingProfiles: %s", fr.Payload)
				}
				waitFor(t, 2*time.Second, "ReportChargingProfiles", func() bool { return len(csms.messages(tc.id, "ReportChargingProfiles")) == 1 })
			}

			// TriggerMessage.
			beats := len(csms.messages(tc.id, "Heartbeat"))
			if fr := csms.call(ctx, tc.id, "TriggerMessage", map[string]any{"requestedMessage": "Heartbeat"}); !strings.Contains(string(fr.Payload), "Accepted") {
				t.Errorf("TriggerMessage: %s", fr.Payload)
			}
			waitFor(t, 2*time.Second, "triggered Heartbeat", func() bool { return len(csms.messages(tc.id, "Heartbeat")) > beats })

			// ClearChargingProfile: back to the EVSE maximum.
			if fr := csms.call(ctx, tc.id, "ClearChargingProfile", map[string]any{}); !strings.Contains(string(fr.Payload), "Accepted") {
				t.Errorf("ClearChargingProfile: %s", fr.Payload)
			}
			waitFor(t, 3*time.Second, "draw back at 32 A", func() bool { return c.State().EVSEs[0].Draw == 32 })

			// The car leaves: the transaction ends.
			if err := c.Unplug(1); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 3*time.Second, "transaction end", func() bool {
				if v16 {
					return len(csms.messages(tc.id, "StopTransaction")) == 1
				}
				for _, p := range csms.messages(tc.id, "TransactionEvent") {
					if strings.Contains(string(p), `"eventType":"Ended"`) {
						return true
					}
				}
				return false
			})
			st := c.State()
			if st.ProfileMessages != 3 {
				t.Errorf("profile messages counted %d, want 3 (2 well-formed Set, 1 Clear)", st.ProfileMessages)
			}
			for _, e := range csms.errors() {
				t.Errorf("schema: %s", e)
			}
		})
	}
}

// TestProtocolQuirks covers the misbehaving chargers: rejected profiles,
// slow answers and dropped connections.
func TestProtocolQuirks(t *testing.T) {
	csms := newTestCSMS(t)
	s := &Scenario{
		Site: SiteSpec{GridLimit: Currents{63, 63, 63}},
		Chargers: []ChargerSpec{
			{ID: "rejecter", OCPP: OCPP16, Quirks: Quirks{RejectProfiles: true}},
			{ID: "slow", OCPP: OCPP201, Quirks: Quirks{AnswerDelay: Duration(400 * time.Millisecond)}},
		},
	}
	f := startFleet(t, csms, s)
	ctx := t.Context()
	fr := csms.call(ctx, "rejecter", "SetChargingProfile", map[string]any{"connectorId": 0, "csChargingProfiles": map[string]any{
		"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
		"chargingSchedule": map[string]any{"startSchedule": ocppTime(time.Now()), "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 6}}}}})
	if !strings.Contains(string(fr.Payload), "Rejected") {
		t.Errorf("rejecting charger answered %s", fr.Payload)
	}
	start := time.Now()
	fr = csms.call(ctx, "slow", "GetVariables", map[string]any{"getVariableData": []any{
		map[string]any{"component": map[string]any{"name": "SmartChargingCtrlr"}, "variable": map[string]any{"name": "RateUnit"}}}})
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Errorf("slow charger answered after %v, want about 400ms", took)
	}
	if !strings.Contains(string(fr.Payload), `"A,W"`) {
		t.Errorf("GetVariables RateUnit: %s", fr.Payload)
	}
	c, _ := f.Charger("rejecter")
	before := c.State().Connects
	c.Disconnect(100 * time.Millisecond)
	waitFor(t, 5*time.Second, "reconnect", func() bool { st := c.State(); return st.Connected && st.Connects > before })
	if n := len(csms.messages("rejecter", "BootNotification")); n != 1 {
		t.Errorf("%d BootNotifications, want 1: a reconnect is no reboot", n)
	}
	for _, e := range csms.errors() {
		t.Errorf("schema: %s", e)
	}
}

// TestSchemaCheckCanFail makes sure the schema check in the test CSMS
// rejects what the OCA schemas forbid.
func TestSchemaCheckCanFail(t *testing.T) {
	s := loadSchemas(t, "ocpp1_6.json")
	tests := []struct {
		desc, action, payload string
		ok                    bool
	}{
		{"valid BootNotification", "BootNotification", `{"chargePointVendor":"v","chargePointModel":"m"}`, true},
		{"missing required field", "BootNotification", `{"chargePointVendor":"v"}`, false},
		{"unknown field", "Heartbeat", `{"x":1}`, false},
		{"bad date-time", "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"yesterday"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := s.validate(tc.action, "req", []byte(tc.payload))
			if (err == nil) != tc.ok {
				t.Errorf("validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
