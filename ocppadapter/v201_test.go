package ocppadapter_test

import (
	"testing"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

func v201opts() ocpptest.ClientOptions {
	return ocpptest.ClientOptions{Protocols: []string{ocppadapter.Subprotocol201}}
}

func boot201(t *testing.T, c *ocpptest.Client) {
	t.Helper()
	resp := call(t, c, "BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "Pole", "vendorName": "ACME", "serialNumber": "SN9", "firmwareVersion": "2.0"}})
	if resp["status"] != "Accepted" || resp["interval"] != 300.0 {
		t.Fatalf("boot answer %v", resp)
	}
}

func sampled(measurand, phase string, v float64) map[string]any {
	m := map[string]any{"value": v, "measurand": measurand}
	if phase != "" {
		m["phase"] = phase
	}
	return m
}

// B01 boot, then the SmartChargingCtrlr capabilities (GetVariables) and
// meter sampling (SetVariables SampledDataCtrlr).
func TestV201BootReadsCapabilities(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CS1"}, Config: ocppadapter.Config{ValidateOutgoing: true}})
	c := h.Dial(t, "CS1", v201opts())
	if c.Protocol != "ocpp2.0.1" {
		t.Fatalf("protocol %q", c.Protocol)
	}
	boot201(t, c)
	b := ocpptest.WaitFor[site.ChargerBooted](t, h.Events, 0, wait, nil)
	if b.Boot != (site.BootInfo{Vendor: "ACME", Model: "Pole", SerialNumber: "SN9", FirmwareVersion: "2.0"}) {
		t.Fatalf("boot %+v", b.Boot)
	}
	caps := ocpptest.WaitFor[site.ChargerCapabilitiesRead](t, h.Events, 0, wait, nil).Capabilities
	if caps.MaxStackLevel != 8 || caps.MaxPeriods != 24 || caps.MaxProfiles != 16 || len(caps.RateUnits) != 2 ||
		caps.PhaseRotation != (site.PhaseRotation{site.L2, site.L3, site.L1}) || !caps.CanSwitchPhases {
		t.Fatalf("capabilities %+v", caps)
	}
	first, second := <-c.Calls(), <-c.Calls()
	if first.Action != "GetVariables" || second.Action != "SetVariables" {
		t.Fatalf("calls %s, %s", first.Action, second.Action)
	}
	want := `{"setVariableData":[{"attributeValue":"Current.Import,Power.Active.Import,Energy.Active.Import.Register,SoC","component":{"name":"SampledDataCtrlr"},"variable":{"name":"TxUpdatedMeasurands"}},{"attributeValue":"60","component":{"name":"SampledDataCtrlr"},"variable":{"name":"TxUpdatedInterval"}}]}`
	if string(second.Payload) != want {
		t.Fatalf("SetVariables %s", second.Payload)
	}
}

// E01/E02 start, E06 stop: TransactionEvent Started, Updated, Ended with meter
// values; J02 MeterValues; K15 NotifyEVChargingNeeds; K12/K13 external
// limits.
func TestV201Transaction(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CS1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	ref := h.Refs["CS1"]
	c := h.Dial(t, "CS1", v201opts())
	boot201(t, c)
	call(t, c, "StatusNotification", map[string]any{"timestamp": "2026-01-01T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1})
	ocpptest.WaitFor(t, h.Events, 0, wait, func(e site.EVSEStatusChanged) bool { return e.Status == site.StatusOccupied })

	resp := call(t, c, "TransactionEvent", map[string]any{
		"eventType": "Started", "timestamp": "2026-01-01T10:00:05Z", "triggerReason": "CablePluggedIn", "seqNo": 0,
		"transactionInfo": map[string]any{"transactionId": "tx-1", "chargingState": "Charging"},
		"evse":            map[string]any{"id": 1, "connectorId": 1},
		"idToken":         map[string]any{"idToken": "TOKEN", "type": "ISO14443"},
		"meterValue": []any{map[string]any{"timestamp": "2026-01-01T10:00:05Z", "sampledValue": []any{
			map[string]any{"value": 1.0, "measurand": "Energy.Active.Import.Register", "context": "Transaction.Begin", "unitOfMeasure": map[string]any{"unit": "kWh"}},
		}}},
	})
	if info, _ := resp["idTokenInfo"].(map[string]any); info["status"] != "Accepted" {
		t.Fatalf("answer %v", resp)
	}
	started := ocpptest.WaitFor[site.TransactionStarted](t, h.Events, 0, wait, nil)
	if tx := started.Transaction; tx.ID != "tx-1" || tx.EVSE != 1 || tx.MeterStart != 1000 || tx.IDTag != "TOKEN" {
		t.Fatalf("started %+v", tx)
	}
	ocpptest.WaitFor(t, h.Events, 0, wait, func(e site.EVSEStatusChanged) bool { return e.Status == site.StatusCharging })

	// Occupied from a connector does not hide that the EVSE is charging.
	call(t, c, "StatusNotification", map[string]any{"timestamp": "2026-01-01T10:00:06Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1})
	st, _ := h.Store.ChargerState(ctxT(t), ref)
	if st.EVSEs[1].Status != site.StatusCharging {
		t.Fatalf("status %v after Occupied", st.EVSEs[1].Status)
	}

	n := h.Events.Len()
	call(t, c, "TransactionEvent", map[string]any{
		"eventType": "Updated", "timestamp": "2026-01-01T10:15:00Z", "triggerReason": "MeterValuePeriodic", "seqNo": 1,
		"transactionInfo": map[string]any{"transactionId": "tx-1"},
		"meterValue": []any{map[string]any{"timestamp": "2026-01-01T10:15:00Z", "sampledValue": []any{
			sampled("Current.Import", "L1", 16), sampled("Current.Import", "L2", 15.5), sampled("Current.Import", "L3", 0),
			sampled("Power.Active.Import", "", 7300),
			sampled("Energy.Active.Import.Register", "", 2500),
			map[string]any{"value": 40, "measurand": "SoC", "unitOfMeasure": map[string]any{"unit": "Percent"}},
		}}},
	})
	up := ocpptest.WaitFor[site.TransactionUpdated](t, h.Events, n, wait, nil)
	if up.Transaction.Energy != 1500 {
		t.Fatalf("updated %+v", up.Transaction)
	}
	ms := ocpptest.WaitFor[site.MeterSampled](t, h.Events, n, wait, nil)
	if *ms.Sample.Current != [3]site.Amps{16, 15.5, 0} || *ms.Sample.Power != 7300 || *ms.Sample.SoC != 40 || ms.TransactionID != "tx-1" {
		t.Fatalf("sample %+v", ms)
	}

	call(t, c, "MeterValues", map[string]any{"evseId": 0, "meterValue": []any{map[string]any{"timestamp": "2026-01-01T10:16:00Z", "sampledValue": []any{
		map[string]any{"value": 12.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": map[string]any{"unit": "Wh", "multiplier": 3}},
	}}}})
	main := ocpptest.WaitFor(t, h.Events, n, wait, func(e site.MeterSampled) bool { return e.EVSE == 0 })
	if *main.Sample.Energy != 12500 {
		t.Fatalf("main meter %+v", main.Sample)
	}

	call(t, c, "NotifyEVChargingNeeds", map[string]any{"evseId": 1, "chargingNeeds": map[string]any{
		"requestedEnergyTransfer": "AC_three_phase", "departureTime": "2026-01-01T17:00:00Z",
		"acChargingParameters": map[string]any{"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400},
	}})
	needs := ocpptest.WaitFor[site.ChargingNeedsReported](t, h.Events, n, wait, nil)
	if needs.EVSE != 1 || needs.Needs.Energy != 20000 || needs.Needs.MaxCurrent != 16 || needs.Needs.MinCurrent != 6 || needs.Needs.Departure.Hour() != 17 {
		t.Fatalf("needs %+v", needs)
	}

	call(t, c, "NotifyChargingLimit", map[string]any{"evseId": 1, "chargingLimit": map[string]any{"chargingLimitSource": "SO"},
		"chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 10.0}}}}})
	lim := ocpptest.WaitFor(t, h.Events, n, wait, func(e site.ExternalSchedulesReported) bool { return !e.Cleared() })
	if a, hasA, _, _, _ := site.ExternalLimitsAt(lim.Schedules, lim.Time); lim.EVSE != 1 || lim.Source != "SO" || !hasA || a != 10 {
		t.Fatalf("limit %+v", lim)
	}
	call(t, c, "ClearedChargingLimit", map[string]any{"chargingLimitSource": "SO", "evseId": 1})
	ocpptest.WaitFor(t, h.Events, n, wait, func(e site.ExternalSchedulesReported) bool { return e.Cleared() && e.Source == "SO" && e.EVSE == 1 })

	call(t, c, "TransactionEvent", map[string]any{
		"eventType": "Ended", "timestamp": "2026-01-01T11:00:00Z", "triggerReason": "EVCommunicationLost", "seqNo": 2,
		"transactionInfo": map[string]any{"transactionId": "tx-1", "stoppedReason": "EVDisconnected", "chargingState": "Idle"},
		"meterValue": []any{map[string]any{"timestamp": "2026-01-01T11:00:00Z", "sampledValue": []any{
			map[string]any{"value": 3000, "context": "Transaction.End"},
		}}},
	})
	stopped := ocpptest.WaitFor[site.TransactionStopped](t, h.Events, n, wait, nil)
	if stopped.Transaction.Energy != 2000 || stopped.Reason != "EVDisconnected" {
		t.Fatalf("stopped %+v", stopped)
	}
	st, _ = h.Store.ChargerState(ctxT(t), ref)
	if st.EVSEs[1].Transaction != nil {
		t.Fatal("transaction left in state")
	}
}
