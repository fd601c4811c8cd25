package interop_test

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

const (
	wait        = 10 * time.Second
	nodeTimeout = 90 * time.Second
)

type serverCall struct {
	Action  string          `json:"action"`
	Payload json.RawMessage `json:"payload"`
}

// chargerResult is the last line node/charger.js prints.
type chargerResult struct {
	OK             bool         `json:"ok"`
	Protocol       string       `json:"protocol"`
	TransactionID  string       `json:"transactionId"`
	Errors         []string     `json:"errors"`
	StrictFailures []any        `json:"strictFailures"`
	BadMessages    []any        `json:"badMessages"`
	ServerCalls    []serverCall `json:"serverCalls"`
}

func (r chargerResult) calls(action string) []serverCall {
	var out []serverCall
	for _, c := range r.ServerCalls {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// conversation is what one protocol's scripted charger does and what the
// adapter must make of it.
type conversation struct {
	name     string
	protocol string
	identity string
	boot     site.BootInfo
	// capabilities node/charger.js reports (config16 / variables201).
	caps site.Capabilities
	// statuses published before the "ready" line, in order.
	statuses []site.EVSEStatusChanged
	// fixed transaction id (2.0.1); "" means the server assigns one (1.6).
	txID string
	// capability read: the actions and how many.
	capCalls map[string]int
	v201     bool
}

var conversations = []conversation{
	{
		name: "ocpp1.6", protocol: "ocpp1.6", identity: "RPC16",
		boot: site.BootInfo{Vendor: "InteropVendor", Model: "RPC-16", SerialNumber: "SN-16", FirmwareVersion: "2.2.1"},
		caps: site.Capabilities{MaxStackLevel: 5, MaxPeriods: 10, RateUnits: []site.RateUnit{site.UnitAmps}, MaxProfiles: 4,
			PhaseRotation: site.PhaseRotation{site.L3, site.L1, site.L2}},
		statuses: []site.EVSEStatusChanged{{EVSE: 0, Status: site.StatusAvailable}, {EVSE: 1, Status: site.StatusOccupied}, {EVSE: 1, Status: site.StatusCharging}},
		capCalls: map[string]int{"GetConfiguration": 1, "ChangeConfiguration": 2},
	},
	{
		name: "ocpp2.0.1", protocol: "ocpp2.0.1", identity: "RPC201",
		boot: site.BootInfo{Vendor: "InteropVendor", Model: "RPC-201", SerialNumber: "SN-201", FirmwareVersion: "2.2.1"},
		caps: site.Capabilities{MaxStackLevel: 5, MaxPeriods: 10, RateUnits: []site.RateUnit{site.UnitAmps}, MaxProfiles: 4,
			PhaseRotation: site.PhaseRotation{site.L3, site.L1, site.L2}},
		statuses: []site.EVSEStatusChanged{{EVSE: 1, Status: site.StatusAvailable}, {EVSE: 1, Status: site.StatusOccupied}, {EVSE: 1, Status: site.StatusCharging}},
		txID:     "TX-RPC201-1",
		capCalls: map[string]int{"GetVariables": 1, "SetVariables": 1},
		v201:     true,
	},
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func currentsAre(s site.MeterSample, want [3]float64) bool {
	if s.Current == nil {
		return false
	}
	for i := range 3 {
		if !near(float64(s.Current[i]), want[i]) {
			return false
		}
	}
	return true
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// TestStrictModeCharger runs ocpp-rpc in strict mode as a charger through a
// whole session: boot (B01), capability read and sampling setup,
// heartbeat (G02), status (G01), authorise (C01), a transaction with
// per-phase meter values (E01-E06 / 1.6 Start/StopTransaction, J01),
// data transfer (P01), and for 2.0.1 EV charging needs (K15) and an
// external limit (K12). While it runs, the control loop's commands go out
// through the site.ChargerControl: SetChargingProfile (K01), GetComposite-
// Schedule (K08), ClearChargingProfile (K10), TriggerMessage (F06). Every
// message either side sends is checked against the OCA schemas by
// ocpp-rpc and, from the capture, by this package.
func TestStrictModeCharger(t *testing.T) {
	for _, cv := range conversations {
		t.Run(cv.name, func(t *testing.T) {
			t.Parallel()
			runConversation(t, cv)
		})
	}
}

func runConversation(t *testing.T, cv conversation) {
	requireNode(t)
	s := startServer(t, cv.identity)
	ref := s.refs[cv.identity]
	frames := filepath.Join(t.TempDir(), "frames.jsonl")
	p := startNode(t, nodeTimeout, "charger.js", "--url", s.url, "--identity", cv.identity, "--protocol", cv.protocol, "--frames", frames)

	ready := p.next("ready", wait)
	if ready["protocol"] != cv.protocol {
		t.Fatalf("negotiated %v, want %s", ready["protocol"], cv.protocol)
	}
	txID, _ := ready["transactionId"].(string)
	if cv.txID != "" && txID != cv.txID {
		t.Fatalf("transaction id %q, want %q", txID, cv.txID)
	}
	if txID == "" || txID == "0" {
		t.Fatalf("no transaction id from the charger: %v", ready)
	}
	ev := s.events

	t.Run("connected and booted", func(t *testing.T) {
		c := ocpptest.WaitFor[site.ChargerConnected](t, ev, 0, wait, nil)
		if c.Protocol != cv.protocol || c.Charger() != ref {
			t.Errorf("connected %+v", c)
		}
		b := ocpptest.WaitFor[site.ChargerBooted](t, ev, 0, wait, nil)
		if b.Boot != cv.boot {
			t.Errorf("boot %+v, want %+v", b.Boot, cv.boot)
		}
		caps := ocpptest.WaitFor[site.ChargerCapabilitiesRead](t, ev, 0, wait, nil).Capabilities
		if caps.MaxStackLevel != cv.caps.MaxStackLevel || caps.MaxPeriods != cv.caps.MaxPeriods || !slices.Equal(caps.RateUnits, cv.caps.RateUnits) ||
			caps.MaxProfiles != cv.caps.MaxProfiles || caps.PhaseRotation != cv.caps.PhaseRotation || caps.CanSwitchPhases != cv.caps.CanSwitchPhases {
			t.Errorf("capabilities %+v, want %+v", caps, cv.caps)
		}
	})

	t.Run("status", func(t *testing.T) {
		from := 0
		for _, want := range cv.statuses {
			_, i, ok := ocpptest.Find(ev, from, func(e site.EVSEStatusChanged) bool { return e.EVSE == want.EVSE && e.Status == want.Status })
			if !ok {
				t.Fatalf("no EVSEStatusChanged evse %d %s after event %d; events %v", want.EVSE, want.Status, from, ev.Events())
			}
			from = i + 1
		}
	})

	t.Run("transaction started and metered", func(t *testing.T) {
		st := ocpptest.WaitFor[site.TransactionStarted](t, ev, 0, wait, nil).Transaction
		tag := "TAG16"
		if cv.v201 {
			tag = "TAG201"
		}
		if st.ID != txID || st.EVSE != 1 || st.IDTag != tag || st.MeterStart != 1000 {
			t.Errorf("started %+v, want id %s evse 1 tag %s meter start 1000", st, txID, tag)
		}
		m := ocpptest.WaitFor[site.MeterSampled](t, ev, 0, wait, func(e site.MeterSampled) bool {
			return currentsAre(e.Sample, [3]float64{16.1, 15.9, 16.0})
		})
		if m.EVSE != 1 || m.TransactionID != txID {
			t.Errorf("sample evse %d tx %q, want 1 %q", m.EVSE, m.TransactionID, txID)
		}
		if m.Sample.Power == nil || !near(float64(*m.Sample.Power), 11040) {
			t.Errorf("power %v, want 11040 W (11.04 kW)", m.Sample.Power)
		}
		if m.Sample.Energy == nil || !near(float64(*m.Sample.Energy), 1500) {
			t.Errorf("energy %v, want 1500 Wh", m.Sample.Energy)
		}
		if m.Sample.SoC == nil || !near(*m.Sample.SoC, 42) {
			t.Errorf("SoC %v, want 42", m.Sample.SoC)
		}
		up := ocpptest.WaitFor[site.TransactionUpdated](t, ev, 0, wait, nil).Transaction
		if up.ID != txID || !near(float64(up.Energy), 500) {
			t.Errorf("updated %+v, want id %s energy 500 Wh", up, txID)
		}
		state, err := s.mem.ChargerState(ctxFor(t), ref)
		if err != nil {
			t.Fatal(err)
		}
		if tx := state.EVSEs[1].Transaction; tx == nil || tx.ID != txID {
			t.Errorf("stored transaction %+v, want %s", tx, txID)
		}
	})

	if cv.v201 {
		t.Run("charging needs and external limit", func(t *testing.T) {
			n := ocpptest.WaitFor[site.ChargingNeedsReported](t, ev, 0, wait, nil)
			if n.EVSE != 1 || n.Needs.Energy != 20000 || n.Needs.MinCurrent != 6 || n.Needs.MaxCurrent != 32 || n.Needs.Departure.IsZero() {
				t.Errorf("needs %+v", n)
			}
			l := ocpptest.WaitFor[site.ExternalSchedulesReported](t, ev, 0, wait, nil)
			if a, hasA, _, _, _ := site.ExternalLimitsAt(l.Schedules, l.Time); l.EVSE != 1 || l.Source != "EMS" || !hasA || a != 20 {
				t.Errorf("external limit %+v", l)
			}
			m := ocpptest.WaitFor[site.MeterSampled](t, ev, 0, wait, func(e site.MeterSampled) bool {
				return currentsAre(e.Sample, [3]float64{16.2, 16.0, 15.8})
			})
			if m.EVSE != 1 || m.TransactionID != txID {
				t.Errorf("MeterValues sample evse %d tx %q", m.EVSE, m.TransactionID)
			}
		})
	}

	t.Run("commands", func(t *testing.T) { runCommands(t, s, ref, txID) })

	p.send("finish")
	var res chargerResult
	decodeInto(t, p.next("result", wait), &res)

	t.Run("charger result", func(t *testing.T) {
		if !res.OK {
			t.Errorf("ocpp-rpc charger failed: errors %v; strict-mode failures %v; bad messages %v", res.Errors, res.StrictFailures, res.BadMessages)
		}
		for action, n := range cv.capCalls {
			if got := len(res.calls(action)); got != n {
				t.Errorf("server sent %d %s, want %d", got, action, n)
			}
		}
		checkCommandPayloads(t, res, cv, txID)
	})

	t.Run("transaction stopped", func(t *testing.T) {
		stop := ocpptest.WaitFor[site.TransactionStopped](t, ev, 0, wait, nil)
		if stop.Transaction.ID != txID || stop.Transaction.EVSE != 1 || !near(float64(stop.Transaction.Energy), 1500) || stop.Reason != "EVDisconnected" {
			t.Errorf("stopped %+v reason %q, want id %s evse 1 energy 1500 Wh reason EVDisconnected", stop.Transaction, stop.Reason, txID)
		}
		ocpptest.WaitFor[site.ChargerDisconnected](t, ev, 0, wait, nil)
		state, err := s.mem.ChargerState(ctxFor(t), ref)
		if err != nil {
			t.Fatal(err)
		}
		if state.Connected || state.EVSEs[1].Transaction != nil || state.EVSEs[1].Status != site.StatusAvailable {
			t.Errorf("final state connected %v evse 1 %+v, want offline, no transaction, available", state.Connected, state.EVSEs[1])
		}
		if s.srv.Connected(ref) {
			t.Error("server still lists the charger as connected")
		}
	})

	t.Run("frames conform to OCA schemas", func(t *testing.T) {
		fr := readFrames(t, frames)
		if len(fr) < 30 {
			t.Fatalf("only %d frames captured", len(fr))
		}
		for _, pr := range checkFrames(t, fr, frameCheck{protocol: cv.protocol}) {
			t.Error(pr)
		}
	})
}

// runCommands drives the charger through site.ChargerControl while the
// node charger is connected; ocpp-rpc validates each CALL in strict mode
// and answers Accepted.
func runCommands(t *testing.T, s *server, ref site.ChargerRef, txID string) {
	ctx := ctxFor(t)
	accepted := func(what string, r site.CommandResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.Status != site.CommandAccepted {
			t.Fatalf("%s: %v (%s), want accepted", what, r.Status, r.Detail)
		}
	}
	// K01: a station-wide limit, absolute from now; 32.06 A goes out as 32.
	r, err := s.srv.SetLimit(ctx, ref, site.LimitRequest{EVSE: 0, Purpose: site.PurposeStationMax, ProfileID: 10, StackLevel: 1,
		Unit: site.UnitAmps, Periods: []site.Period{{Offset: 0, Limit: 32.06}}})
	accepted("SetLimit station max", r, err)
	// K01: a limit on the running transaction, two periods, the second on one phase.
	r, err = s.srv.SetLimit(ctx, ref, site.LimitRequest{EVSE: 1, Purpose: site.PurposeTx, TransactionID: txID, ProfileID: 11, StackLevel: 2,
		Unit: site.UnitAmps, Duration: 2 * time.Hour, Periods: []site.Period{{Offset: 0, Limit: 16}, {Offset: 30 * time.Minute, Limit: 10, Phases: 1}}})
	accepted("SetLimit tx", r, err)
	// K01: a default limit in watts with an absolute start.
	r, err = s.srv.SetLimit(ctx, ref, site.LimitRequest{EVSE: 1, Purpose: site.PurposeTxDefault, ProfileID: 12, StackLevel: 0,
		Unit: site.UnitWatts, Start: time.Now().Add(time.Minute), Periods: []site.Period{{Offset: 0, Limit: 7400}}})
	accepted("SetLimit tx default", r, err)

	// K08: the composite schedule as the charger computes it.
	sch, err := s.srv.CompositeSchedule(ctx, ref, 1, time.Hour, site.UnitAmps)
	if err != nil {
		t.Fatalf("CompositeSchedule: %v", err)
	}
	wantPeriods := []site.Period{{Offset: 0, Limit: 16}, {Offset: 30 * time.Minute, Limit: 10.5, Phases: 1}}
	if sch.Unit != site.UnitAmps || !slices.Equal(sch.Periods, wantPeriods) || sch.Start.IsZero() {
		t.Errorf("composite schedule %+v, want unit A periods %+v and a start", sch, wantPeriods)
	}

	// K10: clear by id, then by EVSE and purpose.
	r, err = s.srv.ClearLimit(ctx, ref, site.ClearRequest{ProfileID: 11})
	accepted("ClearLimit by id", r, err)
	r, err = s.srv.ClearLimit(ctx, ref, site.ClearRequest{EVSE: 1, Purpose: site.PurposeTxDefault})
	accepted("ClearLimit by purpose", r, err)

	// F06: the charger sends what was asked for after answering.
	mark := s.events.Len()
	r, err = s.srv.Trigger(ctx, ref, 1, site.TriggerStatus)
	accepted("Trigger status", r, err)
	ocpptest.WaitFor[site.EVSEStatusChanged](t, s.events, mark, wait, func(e site.EVSEStatusChanged) bool { return e.EVSE == 1 })
	mark = s.events.Len()
	r, err = s.srv.Trigger(ctx, ref, 1, site.TriggerMeterValues)
	accepted("Trigger meter values", r, err)
	ocpptest.WaitFor[site.MeterSampled](t, s.events, mark, wait, func(e site.MeterSampled) bool {
		return e.EVSE == 1 && currentsAre(e.Sample, [3]float64{10.1, 10.2, 10.3})
	})
	r, err = s.srv.Trigger(ctx, ref, 0, site.TriggerHeartbeat)
	accepted("Trigger heartbeat", r, err)
}

// checkCommandPayloads checks what the commands looked like on the wire,
// as the node charger received them.
func checkCommandPayloads(t *testing.T, res chargerResult, cv conversation, txID string) {
	t.Helper()
	sets := res.calls("SetChargingProfile")
	if len(sets) != 3 {
		t.Fatalf("charger got %d SetChargingProfile, want 3", len(sets))
	}
	type period struct {
		StartPeriod  int     `json:"startPeriod"`
		Limit        float64 `json:"limit"`
		NumberPhases *int    `json:"numberPhases"`
	}
	type schedule struct {
		RateUnit      string   `json:"chargingRateUnit"`
		StartSchedule string   `json:"startSchedule"`
		Duration      *int     `json:"duration"`
		Periods       []period `json:"chargingSchedulePeriod"`
	}
	type profile struct {
		ID            int             `json:"id"`
		ProfileID     int             `json:"chargingProfileId"`
		StackLevel    int             `json:"stackLevel"`
		Purpose       string          `json:"chargingProfilePurpose"`
		Kind          string          `json:"chargingProfileKind"`
		TransactionID json.RawMessage `json:"transactionId"`
		Schedule      json.RawMessage `json:"chargingSchedule"`
	}
	type setReq struct {
		ConnectorID *int    `json:"connectorId"`
		EvseID      *int    `json:"evseId"`
		Profile16   profile `json:"csChargingProfiles"`
		Profile201  profile `json:"chargingProfile"`
	}
	type want struct {
		evse     int
		id       int
		purpose  string
		kind     string
		unit     string
		limits   []float64
		phases2  int
		duration int
		txID     bool
	}
	purposeMax, purposeTx, purposeDef := "ChargePointMaxProfile", "TxProfile", "TxDefaultProfile"
	if cv.v201 {
		purposeMax = "ChargingStationMaxProfile"
	}
	wants := []want{
		{evse: 0, id: 10, purpose: purposeMax, kind: "Absolute", unit: "A", limits: []float64{32}},
		{evse: 1, id: 11, purpose: purposeTx, kind: "Relative", unit: "A", limits: []float64{16, 10}, phases2: 1, duration: 7200, txID: true},
		{evse: 1, id: 12, purpose: purposeDef, kind: "Absolute", unit: "W", limits: []float64{7400}},
	}
	for i, w := range wants {
		var req setReq
		if err := json.Unmarshal(sets[i].Payload, &req); err != nil {
			t.Fatal(err)
		}
		p, evse := req.Profile16, req.ConnectorID
		pid := p.ProfileID
		var sch schedule
		if cv.v201 {
			p, evse = req.Profile201, req.EvseID
			pid = p.ID
			var schs []schedule
			if err := json.Unmarshal(p.Schedule, &schs); err != nil || len(schs) != 1 {
				t.Fatalf("SetChargingProfile %d: chargingSchedule %s: want one schedule (%v)", i, p.Schedule, err)
			}
			sch = schs[0]
		} else if err := json.Unmarshal(p.Schedule, &sch); err != nil {
			t.Fatal(err)
		}
		if evse == nil || *evse != w.evse || pid != w.id || p.Purpose != w.purpose || p.Kind != w.kind || sch.RateUnit != w.unit {
			t.Errorf("SetChargingProfile %d = %s, want evse %d id %d %s %s unit %s", i, sets[i].Payload, w.evse, w.id, w.purpose, w.kind, w.unit)
			continue
		}
		if (w.kind == "Absolute") != (sch.StartSchedule != "") {
			t.Errorf("SetChargingProfile %d: startSchedule %q with kind %s", i, sch.StartSchedule, w.kind)
		}
		if len(sch.Periods) != len(w.limits) {
			t.Errorf("SetChargingProfile %d: periods %+v, want limits %v", i, sch.Periods, w.limits)
			continue
		}
		for j, l := range w.limits {
			if !near(sch.Periods[j].Limit, l) {
				t.Errorf("SetChargingProfile %d period %d: limit %v, want %v", i, j, sch.Periods[j].Limit, l)
			}
		}
		if w.phases2 > 0 && (sch.Periods[1].NumberPhases == nil || *sch.Periods[1].NumberPhases != w.phases2 || sch.Periods[1].StartPeriod != 1800) {
			t.Errorf("SetChargingProfile %d: second period %+v, want start 1800 on %d phase", i, sch.Periods[1], w.phases2)
		}
		if w.duration > 0 && (sch.Duration == nil || *sch.Duration != w.duration) {
			t.Errorf("SetChargingProfile %d: duration %v, want %d", i, sch.Duration, w.duration)
		}
		if w.txID {
			want := `"` + txID + `"`
			if !cv.v201 {
				want = txID // 1.6: an integer
			}
			if string(p.TransactionID) != want {
				t.Errorf("SetChargingProfile %d: transactionId %s, want %s", i, p.TransactionID, want)
			}
		}
	}
	if n := len(res.calls("ClearChargingProfile")); n != 2 {
		t.Errorf("charger got %d ClearChargingProfile, want 2", n)
	}
	if n := len(res.calls("GetCompositeSchedule")); n != 1 {
		t.Errorf("charger got %d GetCompositeSchedule, want 1", n)
	}
	var trig []string
	for _, c := range res.calls("TriggerMessage") {
		var m struct {
			RequestedMessage string `json:"requestedMessage"`
		}
		_ = json.Unmarshal(c.Payload, &m)
		trig = append(trig, m.RequestedMessage)
	}
	if !slices.Equal(trig, []string{"StatusNotification", "MeterValues", "Heartbeat"}) {
		t.Errorf("TriggerMessage requested %v", trig)
	}
	// Sampling set after boot (1.6 ChangeConfiguration, 2.0.1 SetVariables).
	if !cv.v201 {
		got := map[string]string{}
		for _, c := range res.calls("ChangeConfiguration") {
			var m struct{ Key, Value string }
			_ = json.Unmarshal(c.Payload, &m)
			got[m.Key] = m.Value
		}
		if got["MeterValueSampleInterval"] != "15" || got["MeterValuesSampledData"] == "" {
			t.Errorf("ChangeConfiguration %v, want MeterValueSampleInterval 15 and MeterValuesSampledData", got)
		}
	}
}
