package ocppadapter_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// A 1.6 TxProfile the CSMS sends without a transactionId belongs to the
// transaction running on its connector (1.6 section 3.13.4); the charger
// drops it when that transaction ends, and so must the proxy's view of
// the CSMS's limits: at the StopTransaction of the connector's
// transaction, or when the connector reports Finishing or Available. A
// TxDefault there and a TxProfile on another connector stay.
func TestProxyTxProfileWithoutTransactionID(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	profile := func(connector, id, stack int, purpose string, limit float64) string {
		b, _ := json.Marshal(map[string]any{"connectorId": connector, "csChargingProfiles": map[string]any{
			"chargingProfileId": id, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": "Relative",
			"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": limit}}}}})
		return string(b)
	}
	tests := []struct {
		name string
		// end is the charger's CALL that ends the transaction on
		// connector 1.
		action, payload string
	}{
		{name: "StopTransaction", action: "StopTransaction", payload: `{"transactionId":42,"meterStop":1500,"timestamp":"` + now + `","reason":"EVDisconnected"}`},
		{name: "StatusNotification Finishing", action: "StatusNotification", payload: `{"connectorId":1,"errorCode":"NoError","status":"Finishing","timestamp":"` + now + `"}`},
		{name: "StatusNotification Available", action: "StatusNotification", payload: `{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"` + now + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			csms := startCallingCSMS(t)
			h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, NoOutgoingValidation: true, Config: ocppadapter.Config{
				CallTimeout: 5 * time.Second, SkipCapabilityRead: true, Proxy: &ocppadapter.ProxyConfig{
					Upstream: func(site.ChargerRef, string) (ocppadapter.UpstreamTarget, bool) {
						return ocppadapter.UpstreamTarget{URL: csms.url}, true
					},
					Loss: ocppadapter.UpstreamLossKeep,
				}}})
			prof := ocpptest.NewProfiles(ocppadapter.Subprotocol16)
			cl := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{ocppadapter.Subprotocol16}, Handler: prof.Handler(ocpptest.DefaultHandler(ocppadapter.Subprotocol16))})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The CSMS gives the transaction on connector 1 the id 42.
			if _, err := cl.Call(ctx, "StartTransaction", json.RawMessage(`{"connectorId":1,"idTag":"TAG1","meterStart":1000,"timestamp":"`+now+`"}`)); err != nil {
				t.Fatal(err)
			}
			ocpptest.WaitFor(t, h.Events, 0, wait, func(e site.TransactionStarted) bool { return e.Transaction.ID == "42" && e.Transaction.EVSE == 1 })

			for _, p := range []string{
				profile(1, 10, 0, "TxDefaultProfile", 16), // stays
				profile(2, 11, 1, "TxProfile", 10),        // another connector: stays
				profile(1, 12, 1, "TxProfile", 0),         // no transactionId: goes with transaction 42
			} {
				mark := h.Events.Len()
				if res := csms.call(t, "SetChargingProfile", p); res["status"] != "Accepted" {
					t.Fatalf("SetChargingProfile %s: %v", p, res)
				}
				ocpptest.WaitFor(t, h.Events, mark, wait, func(e site.ExternalSchedulesReported) bool { return true })
			}
			ev, _, _ := ocpptest.Find(h.Events, 0, func(e site.ExternalSchedulesReported) bool { return e.EVSE == 1 && len(e.Schedules) == 2 })
			if a, hasA, _, _, _ := site.ExternalLimitsAt(ev.Schedules, time.Now()); !hasA || a != 0 {
				t.Fatalf("EVSE 1 limit %v %v, want the TxProfile's 0 A: %+v", a, hasA, ev)
			}

			mark := h.Events.Len()
			if _, err := cl.Call(ctx, tc.action, json.RawMessage(tc.payload)); err != nil {
				t.Fatal(err)
			}
			ev = ocpptest.WaitFor(t, h.Events, mark, wait, func(e site.ExternalSchedulesReported) bool { return e.EVSE == 1 })
			if len(ev.Schedules) != 1 || ev.Schedules[0].ProfileID != 10 {
				t.Fatalf("EVSE 1 after %s: %+v, want the TxDefault (profile 10) only", tc.name, ev.Schedules)
			}
			if a, hasA, _, _, _ := site.ExternalLimitsAt(ev.Schedules, time.Now()); !hasA || a != 16 {
				t.Errorf("EVSE 1 limit %v %v, want 16 A", a, hasA)
			}
			if _, _, ok := ocpptest.Find(h.Events, mark, func(e site.ExternalSchedulesReported) bool { return e.EVSE == 2 }); ok {
				t.Errorf("EVSE 2's TxProfile touched by the end on connector 1")
			}
		})
	}
}
