package ocppadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// Bad frames and payloads get the CALLERROR each version defines, over a
// real WebSocket, and the connection lives on (OCPP-J 1.6 section 4.2.3,
// 2.0.1 Part 4 section 4.3).
func TestCallErrorsOverWebSocket(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP16", "CS201"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	c16 := h.Dial(t, "CP16", v16opts())
	c201 := h.Dial(t, "CS201", v201opts())
	tests := []struct {
		desc   string
		c      *ocpptest.Client
		frame  string
		waitID string
		wire   string
	}{
		{"1.6 OccurenceConstraintViolation: BootNotification without model", c16, `[2,"a1","BootNotification",{"chargePointVendor":"A"}]`, "a1", "OccurenceConstraintViolation"},
		{"1.6 TypeConstraintViolation: connectorId is a string", c16, `[2,"a2","StatusNotification",{"connectorId":"1","errorCode":"NoError","status":"Available"}]`, "a2", "TypeConstraintViolation"},
		{"1.6 PropertyConstraintViolation: unknown enum value", c16, `[2,"a3","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}]`, "a3", "PropertyConstraintViolation"},
		{"1.6 PropertyConstraintViolation: StartTransaction on connector 0", c16, `[2,"a4","StartTransaction",{"connectorId":0,"idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}]`, "a4", "PropertyConstraintViolation"},
		{"1.6 PropertyConstraintViolation: meter value not a number", c16, `[2,"a5","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"abc"}]}]}]`, "a5", "PropertyConstraintViolation"},
		{"1.6 FormationViolation: unknown field", c16, `[2,"a6","Heartbeat",{"x":1}]`, "a6", "FormationViolation"},
		{"1.6 FormationViolation: payload is an array", c16, `[2,"a7","Heartbeat",[]]`, "a7", "FormationViolation"},
		{"1.6 FormationViolation: unparsable frame answered with id -1", c16, `[2,"a8",`, "-1", "FormationViolation"},
		{"1.6 NotImplemented: unknown action", c16, `[2,"a9","Teleport",{}]`, "a9", "NotImplemented"},
		{"1.6 NotSupported: central-system-to-charger action", c16, `[2,"a10","Reset",{"type":"Hard"}]`, "a10", "NotSupported"},
		{"2.0.1 OccurrenceConstraintViolation: BootNotification without reason", c201, `[2,"b1","BootNotification",{"chargingStation":{"model":"M","vendorName":"V"}}]`, "b1", "OccurrenceConstraintViolation"},
		{"2.0.1 TypeConstraintViolation: evseId is a string", c201, `[2,"b2","MeterValues",{"evseId":"1","meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1}]}]}]`, "b2", "TypeConstraintViolation"},
		{"2.0.1 PropertyConstraintViolation: unknown connectorStatus", c201, `[2,"b3","StatusNotification",{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Busy","evseId":1,"connectorId":1}]`, "b3", "PropertyConstraintViolation"},
		{"2.0.1 PropertyConstraintViolation: evseId out of range", c201, `[2,"b4","StatusNotification",{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":-1,"connectorId":1}]`, "b4", "PropertyConstraintViolation"},
		{"2.0.1 OccurrenceConstraintViolation: first TransactionEvent without evse", c201, `[2,"b5","TransactionEvent",{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"x"}}]`, "b5", "OccurrenceConstraintViolation"},
		{"2.0.1 FormatViolation: unknown field", c201, `[2,"b6","Heartbeat",{"x":1}]`, "b6", "FormatViolation"},
		{"2.0.1 RpcFrameworkError: no message id", c201, `[2]`, "-1", "RpcFrameworkError"},
		{"2.0.1 RpcFrameworkError: message id too long, answered with id -1", c201, `[2,"` + strings.Repeat("9", 37) + `","Heartbeat",{}]`, "-1", "RpcFrameworkError"},
		{"2.0.1 MessageTypeNotSupported: type 7", c201, `[7,"b8",{}]`, "b8", "MessageTypeNotSupported"},
		{"2.0.1 NotImplemented: unknown action", c201, `[2,"b9","StartTransaction",{}]`, "b9", "NotImplemented"},
		{"2.0.1 NotSupported: action we do not handle", c201, `[2,"b10","NotifyEvent",{"generatedAt":"2026-01-01T00:00:00Z","seqNo":0,"eventData":[]}]`, "b10", "NotSupported"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			f, err := tc.c.RawCall(ctxT(t), tc.waitID, []byte(tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != ocppadapter.TypeCallError || f.ErrorCode != tc.wire {
				t.Fatalf("got %+v, want CALLERROR %s", f, tc.wire)
			}
			// The connection lives on.
			if _, err := tc.c.Call(ctxT(t), "Heartbeat", struct{}{}); err != nil {
				t.Fatalf("heartbeat after error: %v", err)
			}
		})
	}
}

// A store outage answers with InternalError so the charger sends the
// message again; nothing is acknowledged that was not stored.
func TestStoreFailureGivesInternalError(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	c := h.Dial(t, "CP1", v16opts())
	boot16(t, c)
	h.Mem.FailStateUpdates(site.ErrUnavailable)
	_, err := c.Call(ctxT(t), "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"})
	var we *ocpptest.WireError
	if !errors.As(err, &we) || we.Wire != "InternalError" {
		t.Fatalf("err %v, want InternalError", err)
	}
	if _, _, ok := ocpptest.Find[site.TransactionStarted](h.Events, 0, nil); ok {
		t.Fatal("published a transaction that was not stored")
	}
	h.Mem.FailStateUpdates(nil)
	if resp := call(t, c, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}); resp["transactionId"] != 1.0 {
		t.Fatalf("retry got %v", resp)
	}
}

// Unknown identities can be admitted to a holding list: BootNotification
// is answered Pending, other messages SecurityError, no events.
func TestAdmitUnknownHoldingList(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Config: ocppadapter.Config{AdmitUnknown: true}})
	c := h.Dial(t, "NEW1", v16opts())
	resp := call(t, c, "BootNotification", map[string]any{"chargePointVendor": "ACME", "chargePointModel": "X"})
	if resp["status"] != "Pending" {
		t.Fatalf("boot %v", resp)
	}
	_, err := c.Call(ctxT(t), "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"})
	var we *ocpptest.WireError
	if !errors.As(err, &we) || we.Wire != "SecurityError" {
		t.Fatalf("err %v", err)
	}
	p := h.Server.Pending()
	if len(p) != 1 || p[0].Identity != "NEW1" || p[0].Boot.Vendor != "ACME" {
		t.Fatalf("pending %+v", p)
	}
	if n := h.Events.Len(); n != 0 {
		t.Fatalf("%d events for an unknown charger", n)
	}
}

// SetLimit, ClearLimit, CompositeSchedule and Trigger over a real
// connection for both versions (K01 SetChargingProfile, K10
// ClearChargingProfile, K08 GetCompositeSchedule, F06 TriggerMessage).
func TestControl(t *testing.T) {
	for _, proto := range []string{ocppadapter.Subprotocol16, ocppadapter.Subprotocol201} {
		t.Run(proto, func(t *testing.T) {
			h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true, ValidateOutgoing: true}})
			c := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{proto}})
			ref := h.Refs["CP1"]
			waitConnected(t, h, ref)
			ctx := ctxT(t)
			r, err := h.Server.SetLimit(ctx, ref, site.LimitRequest{EVSE: 1, Purpose: site.PurposeTx, TransactionID: "7", ProfileID: 3, StackLevel: 1, Unit: site.UnitAmps,
				Periods: []site.Period{{Limit: 16.04}, {Offset: 15 * time.Minute, Limit: 6, Phases: 1}}})
			if err != nil || r.Status != site.CommandAccepted {
				t.Fatalf("SetLimit %v %v", r, err)
			}
			in := <-c.Calls()
			var got map[string]any
			json.Unmarshal(in.Payload, &got)
			var profile map[string]any
			var periods []any
			if proto == ocppadapter.Subprotocol16 {
				profile = got["csChargingProfiles"].(map[string]any)
				periods = profile["chargingSchedule"].(map[string]any)["chargingSchedulePeriod"].([]any)
				if got["connectorId"] != 1.0 || profile["transactionId"] != 7.0 {
					t.Fatalf("payload %s", in.Payload)
				}
			} else {
				profile = got["chargingProfile"].(map[string]any)
				periods = profile["chargingSchedule"].([]any)[0].(map[string]any)["chargingSchedulePeriod"].([]any)
				if got["evseId"] != 1.0 || profile["transactionId"] != "7" {
					t.Fatalf("payload %s", in.Payload)
				}
			}
			if profile["chargingProfilePurpose"] != "TxProfile" || periods[0].(map[string]any)["limit"] != 16.0 || periods[1].(map[string]any)["startPeriod"] != 900.0 {
				t.Fatalf("payload %s", in.Payload)
			}
			if r, err := h.Server.ClearLimit(ctx, ref, site.ClearRequest{ProfileID: 3}); err != nil || r.Status != site.CommandAccepted {
				t.Fatalf("ClearLimit %v %v", r, err)
			}
			s, err := h.Server.CompositeSchedule(ctx, ref, 1, time.Hour, site.UnitAmps)
			if err != nil || len(s.Periods) != 1 || s.Periods[0].Limit != 16 || s.Start.Year() != 2026 {
				t.Fatalf("CompositeSchedule %+v %v", s, err)
			}
			if r, err := h.Server.Trigger(ctx, ref, 1, site.TriggerStatus); err != nil || r.Status != site.CommandAccepted {
				t.Fatalf("Trigger %v %v", r, err)
			}
		})
	}
}

// A charger that answers NotImplemented gives CommandNotSupported; an
// invalid request is refused before anything is sent.
func TestControlNotSupportedAndInvalid(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	h.Dial(t, "CP1", ocpptest.ClientOptions{Handler: func(string, json.RawMessage) (any, error) {
		return nil, &ocppadapter.CallError{Code: ocppadapter.CodeNotImplemented, Description: "no smart charging"}
	}})
	ref := h.Refs["CP1"]
	waitConnected(t, h, ref)
	r, err := h.Server.SetLimit(ctxT(t), ref, site.LimitRequest{Purpose: site.PurposeStationMax, Unit: site.UnitAmps, Periods: []site.Period{{Limit: 10}}})
	if err != nil || r.Status != site.CommandNotSupported {
		t.Fatalf("got %v %v", r, err)
	}
	_, err = h.Server.CompositeSchedule(ctxT(t), ref, 0, time.Hour, 0)
	if !errors.Is(err, ocppadapter.ErrNotSupported) {
		t.Fatalf("composite err %v", err)
	}
	for _, tc := range []struct {
		desc string
		req  site.LimitRequest
	}{
		{"no periods", site.LimitRequest{Purpose: site.PurposeStationMax, Unit: site.UnitAmps}},
		{"tx without transaction id", site.LimitRequest{EVSE: 1, Purpose: site.PurposeTx, Unit: site.UnitAmps, Periods: []site.Period{{Limit: 6}}}},
		{"station max on an EVSE", site.LimitRequest{EVSE: 1, Purpose: site.PurposeStationMax, Unit: site.UnitAmps, Periods: []site.Period{{Limit: 6}}}},
		{"negative limit", site.LimitRequest{Purpose: site.PurposeTxDefault, Unit: site.UnitAmps, Periods: []site.Period{{Limit: -1}}}},
		{"periods out of order", site.LimitRequest{Purpose: site.PurposeTxDefault, Unit: site.UnitWatts, Periods: []site.Period{{Limit: 1}, {Offset: 0, Limit: 2}}}},
		{"no unit", site.LimitRequest{Purpose: site.PurposeTxDefault, Periods: []site.Period{{Limit: 1}}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := h.Server.SetLimit(ctxT(t), ref, tc.req)
			if !errors.Is(err, site.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
}

// A result that breaks the schema fails the call with ErrBadResponse; a
// result with an unknown id is ignored.
func TestBadAndUnknownResults(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	c := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{"ocpp1.6"}, Handler: func(string, json.RawMessage) (any, error) {
		return map[string]string{"status": "Maybe"}, nil
	}})
	ref := h.Refs["CP1"]
	waitConnected(t, h, ref)
	if err := c.Send(ctxT(t), []byte(`[3,"no-such-call",{}]`)); err != nil {
		t.Fatal(err)
	}
	_, err := h.Server.Trigger(ctxT(t), ref, 0, site.TriggerHeartbeat)
	if !errors.Is(err, ocppadapter.ErrBadResponse) {
		t.Fatalf("err %v, want ErrBadResponse", err)
	}
	ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
	defer cancel()
	if _, err := c.Call(ctx, "Heartbeat", struct{}{}); err != nil {
		t.Fatal(err)
	}
}
