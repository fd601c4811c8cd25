package ocppadapter_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// First commissioning (Config.CommissionPending): OCPP 1.6 section 4.2
// lets the Central System answer Pending and send requests meanwhile
// (all but RemoteStart/StopTransaction); OCPP 2.0.1 B02.FR.01 does not
// list SetChargingProfile, so 2.0.1 chargers are never held.

// commissionClock is a settable site.Clock.
type commissionClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *commissionClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *commissionClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fallbackReq is the loop's fallback as commissioning recognises it
// (TxDefault at stack level level).
func fallbackReq(evse, level int) site.LimitRequest {
	return site.LimitRequest{EVSE: evse, Purpose: site.PurposeTxDefault, ProfileID: 1000 + evse, StackLevel: level,
		Unit: site.UnitAmps, Periods: []site.Period{{Limit: 0}}}
}

func bootStatus(t *testing.T, c *ocpptest.Client) (string, float64) {
	t.Helper()
	payload := map[string]any{"chargePointVendor": "ACME", "chargePointModel": "Wall"}
	if c.Protocol == ocppadapter.Subprotocol201 {
		payload = map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"vendorName": "ACME", "model": "Wall"}}
	}
	resp := call(t, c, "BootNotification", payload)
	iv, _ := resp["interval"].(float64)
	return resp["status"].(string), iv
}

// nextCall returns the next CALL the charger got within wait.
func nextCall(t *testing.T, c *ocpptest.Client) ocpptest.IncomingCall {
	t.Helper()
	select {
	case in := <-c.Calls():
		return in
	case <-time.After(wait):
		t.Fatal("no CALL from the server")
	}
	return ocpptest.IncomingCall{}
}

// noCall checks that the charger gets no CALL for a moment.
func noCall(t *testing.T, c *ocpptest.Client, d time.Duration) {
	t.Helper()
	select {
	case in := <-c.Calls():
		t.Fatalf("unexpected CALL %s %s", in.Action, in.Payload)
	case <-time.After(d):
	}
}

func setLimit(t *testing.T, h *ocpptest.Harness, ref site.ChargerRef, req site.LimitRequest) site.CommandResult {
	t.Helper()
	res, err := h.Server.SetLimit(ctxT(t), ref, req)
	if err != nil {
		t.Fatalf("SetLimit EVSE %d: %v", req.EVSE, err)
	}
	return res
}

// The first BootNotification's answer by version and by the fallbacks
// the loop's stored state shows (the harness's chargers have EVSEs 1
// and 2).
func TestCommissionFirstBoot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		protocol  string
		off       bool
		fallbacks []int // EVSEs with an accepted fallback in the store
		want      string
	}{
		{name: "1.6 never commissioned", protocol: ocppadapter.Subprotocol16, want: "Pending"},
		{name: "1.6 one EVSE without fallback", protocol: ocppadapter.Subprotocol16, fallbacks: []int{1}, want: "Pending"},
		{name: "1.6 commissioned", protocol: ocppadapter.Subprotocol16, fallbacks: []int{1, 2}, want: "Accepted"},
		{name: "1.6 option off", protocol: ocppadapter.Subprotocol16, off: true, want: "Accepted"},
		{name: "2.0.1 never commissioned (B02.FR.01)", protocol: ocppadapter.Subprotocol201, want: "Accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{
				CommissionPending: !tc.off, CommissionHold: 20 * time.Second, SkipCapabilityRead: true}})
			ref := h.Refs["CP1"]
			if len(tc.fallbacks) > 0 {
				if _, err := h.Store.UpdateChargerState(ctxT(t), ref, func(st *site.ChargerState) error {
					st.Loop = &site.ChargerLoopState{EVSEs: map[int]*site.EVSELoopState{}}
					for _, id := range tc.fallbacks {
						st.Loop.EVSEs[id] = &site.EVSELoopState{Fallback: site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 6}}}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			c := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{tc.protocol}})
			status, iv := bootStatus(t, c)
			if status != tc.want {
				t.Fatalf("boot answered %s, want %s", status, tc.want)
			}
			if status == "Pending" && iv != 20 {
				t.Fatalf("Pending interval %v, want the 20 s hold", iv)
			}
			// The loop hears of every boot (it sends the fallback).
			ocpptest.WaitFor[site.ChargerBooted](t, h.Events, 0, wait, nil)
		})
	}
}

// A never commissioned 1.6 charger is Pending until the loop's fallback
// is accepted on both EVSEs; a dynamic profile does not count. Then it
// is sent TriggerMessage(BootNotification), its boot is Accepted and its
// capabilities are read only then.
func TestCommissionPendingUntilFallback(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{CommissionPending: true}})
	ref := h.Refs["CP1"]
	c := h.Dial(t, "CP1", v16opts())
	if status, iv := bootStatus(t, c); status != "Pending" || iv != ocppadapter.DefaultCommissionHold.Seconds() {
		t.Fatalf("first boot %s interval %v, want Pending %v", status, iv, ocppadapter.DefaultCommissionHold.Seconds())
	}
	noCall(t, c, 200*time.Millisecond) // no capability read while Pending

	for _, req := range []site.LimitRequest{
		fallbackReq(1, 0),
		{EVSE: 2, Purpose: site.PurposeTxDefault, ProfileID: 2002, StackLevel: 1, Unit: site.UnitAmps, Periods: []site.Period{{Limit: 16}}},
	} {
		if res := setLimit(t, h, ref, req); res.Status != site.CommandAccepted {
			t.Fatalf("SetLimit %+v: %+v", req, res)
		}
		if in := nextCall(t, c); in.Action != "SetChargingProfile" {
			t.Fatalf("got %s, want SetChargingProfile", in.Action)
		}
		noCall(t, c, 200*time.Millisecond)
		if status, _ := bootStatus(t, c); status != "Pending" {
			t.Fatalf("boot with EVSE 2's fallback missing answered %s", status)
		}
	}

	setLimit(t, h, ref, fallbackReq(2, 0))
	if in := nextCall(t, c); in.Action != "SetChargingProfile" {
		t.Fatalf("got %s, want SetChargingProfile", in.Action)
	}
	in := nextCall(t, c)
	var trig struct {
		RequestedMessage string `json:"requestedMessage"`
	}
	if err := json.Unmarshal(in.Payload, &trig); err != nil || in.Action != "TriggerMessage" || trig.RequestedMessage != "BootNotification" {
		t.Fatalf("got %s %s, want TriggerMessage BootNotification", in.Action, in.Payload)
	}
	if status, iv := bootStatus(t, c); status != "Accepted" || iv != ocppadapter.DefaultHeartbeatInterval.Seconds() {
		t.Fatalf("boot after the fallbacks: %s interval %v", status, iv)
	}
	if in := nextCall(t, c); in.Action != "GetConfiguration" {
		t.Fatalf("after Accepted got %s, want the capability read", in.Action)
	}
}

// The hold is bounded: after CommissionHold the charger's next boot is
// Accepted without any fallback.
func TestCommissionHoldEnds(t *testing.T) {
	clk := &commissionClock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{
		CommissionPending: true, CommissionHold: 30 * time.Second, Clock: clk, SkipCapabilityRead: true}})
	c := h.Dial(t, "CP1", v16opts())
	if status, iv := bootStatus(t, c); status != "Pending" || iv != 30 {
		t.Fatalf("first boot %s %v", status, iv)
	}
	clk.add(20 * time.Second)
	if status, iv := bootStatus(t, c); status != "Pending" || iv != 10 {
		t.Fatalf("boot 20 s later %s interval %v, want Pending for the 10 s left", status, iv)
	}
	clk.add(10 * time.Second)
	if status, _ := bootStatus(t, c); status != "Accepted" {
		t.Fatalf("boot after the hold: %s", status)
	}
	noCall(t, c, 200*time.Millisecond) // no TriggerMessage: it booted on its own
}

// A charger that refuses its fallback while Pending (or answers it with
// a CALLERROR) is not held: it is asked to boot again and Accepted, and
// the loop tries again after that boot.
func TestCommissionRefusedFallback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func() (any, error)
	}{
		{name: "Rejected", answer: func() (any, error) { return map[string]string{"status": "Rejected"}, nil }},
		{name: "CALLERROR SecurityError", answer: func() (any, error) {
			return nil, &ocppadapter.CallError{Code: ocppadapter.CodeSecurityError, Description: "pending"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := ocpptest.DefaultHandler(ocppadapter.Subprotocol16)
			h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{CommissionPending: true, SkipCapabilityRead: true}})
			c := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{ocppadapter.Subprotocol16}, Handler: func(action string, payload json.RawMessage) (any, error) {
				if action == "SetChargingProfile" {
					return tc.answer()
				}
				return def(action, payload)
			}})
			if status, _ := bootStatus(t, c); status != "Pending" {
				t.Fatalf("first boot %s", status)
			}
			res, err := h.Server.SetLimit(ctxT(t), h.Refs["CP1"], fallbackReq(1, 0))
			if err == nil && res.Status == site.CommandAccepted {
				t.Fatalf("SetLimit accepted: %+v", res)
			}
			nextCall(t, c) // SetChargingProfile
			if in := nextCall(t, c); in.Action != "TriggerMessage" {
				t.Fatalf("got %s, want TriggerMessage", in.Action)
			}
			if status, _ := bootStatus(t, c); status != "Accepted" {
				t.Fatalf("boot after the refusal: %s", status)
			}
		})
	}
}

// CommissionHold and CommissionStackLevel must not be negative.
func TestCommissionConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ocppadapter.Config
		ok   bool
	}{
		{name: "defaults", ok: true},
		{name: "negative hold", cfg: ocppadapter.Config{CommissionPending: true, CommissionHold: -time.Second}},
		{name: "negative stack level", cfg: ocppadapter.Config{CommissionPending: true, CommissionStackLevel: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Store, tc.cfg.Events = ocpptest.NewMemStore(), ocpptest.NewRecorder()
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
