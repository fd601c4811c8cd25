package ocppadapter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

const wait = 5 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func v16opts() ocpptest.ClientOptions {
	return ocpptest.ClientOptions{Protocols: []string{ocppadapter.Subprotocol16}}
}

func call(t *testing.T, c *ocpptest.Client, action string, payload any) map[string]any {
	t.Helper()
	raw, err := c.Call(ctxT(t), action, payload)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func boot16(t *testing.T, c *ocpptest.Client) {
	t.Helper()
	resp := call(t, c, "BootNotification", map[string]any{"chargePointVendor": "ACME", "chargePointModel": "Wall", "chargePointSerialNumber": "S1", "firmwareVersion": "1.2"})
	if resp["status"] != "Accepted" {
		t.Fatalf("boot status %v", resp["status"])
	}
}

// Boot, capability read and meter-sampling setup on 1.6 (B01, K01 prerequisites).
func TestV16BootReadsCapabilities(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{ValidateOutgoing: true, MeterSampleInterval: 30 * time.Second}})
	c := h.Dial(t, "CP1", v16opts())
	if c.Protocol != "ocpp1.6" {
		t.Fatalf("protocol %q", c.Protocol)
	}
	ref := h.Refs["CP1"]
	ocpptest.WaitFor[site.ChargerConnected](t, h.Events, 0, wait, nil)
	boot16(t, c)
	b := ocpptest.WaitFor[site.ChargerBooted](t, h.Events, 0, wait, nil)
	if b.Boot.Vendor != "ACME" || b.Boot.SerialNumber != "S1" || b.Charger() != ref {
		t.Fatalf("booted event %+v", b)
	}
	caps := ocpptest.WaitFor[site.ChargerCapabilitiesRead](t, h.Events, 0, wait, nil).Capabilities
	want := site.Capabilities{MaxStackLevel: 8, MaxPeriods: 24, RateUnits: []site.RateUnit{site.UnitAmps, site.UnitWatts}, MaxProfiles: 16,
		PhaseRotation: site.PhaseRotation{site.L2, site.L3, site.L1}, CanSwitchPhases: true}
	if caps.MaxStackLevel != want.MaxStackLevel || caps.MaxPeriods != want.MaxPeriods || len(caps.RateUnits) != 2 ||
		caps.MaxProfiles != want.MaxProfiles || caps.PhaseRotation != want.PhaseRotation || !caps.CanSwitchPhases {
		t.Fatalf("capabilities %+v, want %+v", caps, want)
	}
	// The charger saw GetConfiguration then the two ChangeConfigurations.
	var got []string
	for range 3 {
		select {
		case in := <-c.Calls():
			got = append(got, in.Action+" "+string(in.Payload))
		case <-time.After(wait):
			t.Fatalf("calls so far %v", got)
		}
	}
	if got[1] != `ChangeConfiguration {"key":"MeterValuesSampledData","value":"Current.Import,Power.Active.Import,Energy.Active.Import.Register,SoC"}` ||
		got[2] != `ChangeConfiguration {"key":"MeterValueSampleInterval","value":"30"}` {
		t.Fatalf("calls %q", got)
	}
	st, err := h.Store.ChargerState(ctxT(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Connected || st.Protocol != "ocpp1.6" || st.Boot.Model != "Wall" || st.Capabilities.MaxPeriods != 24 {
		t.Fatalf("state %+v", st)
	}
}

// A 1.6 session: status, start (integer id from the persisted counter),
// meter values with per-phase currents, stop.
func TestV16Transaction(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	ref := h.Refs["CP1"]
	if _, err := h.Store.UpdateChargerState(ctxT(t), ref, func(st *site.ChargerState) error { st.NextTransactionID = 41; return nil }); err != nil {
		t.Fatal(err)
	}
	c := h.Dial(t, "CP1", v16opts())
	boot16(t, c)
	call(t, c, "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2026-01-01T10:00:00Z"})
	st := ocpptest.WaitFor(t, h.Events, 0, wait, func(e site.EVSEStatusChanged) bool { return e.EVSE == 1 })
	if st.Status != site.StatusOccupied {
		t.Fatalf("status %v", st.Status)
	}
	resp := call(t, c, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2026-01-01T10:00:05Z"})
	if resp["transactionId"] != 42.0 {
		t.Fatalf("transactionId %v, want 42", resp["transactionId"])
	}
	started := ocpptest.WaitFor[site.TransactionStarted](t, h.Events, 0, wait, nil)
	if started.Transaction.ID != "42" || started.Transaction.EVSE != 1 || started.Transaction.MeterStart != 1000 {
		t.Fatalf("started %+v", started)
	}
	// A repeated StartTransaction (lost answer) gets the same id.
	resp = call(t, c, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2026-01-01T10:00:05Z"})
	if resp["transactionId"] != 42.0 {
		t.Fatalf("repeated start got %v", resp["transactionId"])
	}
	call(t, c, "MeterValues", map[string]any{"connectorId": 1, "transactionId": 42, "meterValue": []any{map[string]any{
		"timestamp": "2026-01-01T10:01:00Z",
		"sampledValue": []any{
			map[string]any{"value": "15.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
			map[string]any{"value": "15.0", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
			map[string]any{"value": "14.5", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
			map[string]any{"value": "10.5", "measurand": "Power.Active.Import", "unit": "kW"},
			map[string]any{"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
			map[string]any{"value": "55", "measurand": "SoC", "unit": "Percent"},
		}}}})
	ms := ocpptest.WaitFor[site.MeterSampled](t, h.Events, 0, wait, nil)
	if ms.EVSE != 1 || ms.TransactionID != "42" || *ms.Sample.Current != [3]site.Amps{15.5, 15, 14.5} || *ms.Sample.Power != 10500 || *ms.Sample.Energy != 1500 || *ms.Sample.SoC != 55 {
		t.Fatalf("meter sample %+v", ms)
	}
	up := ocpptest.WaitFor[site.TransactionUpdated](t, h.Events, 0, wait, nil)
	if up.Transaction.Energy != 500 {
		t.Fatalf("updated %+v", up.Transaction)
	}
	// A restart of the adapter does not forget the running transaction.
	state, _ := h.Store.ChargerState(ctxT(t), ref)
	if tx := state.EVSEs[1].Transaction; tx == nil || tx.ID != "42" || state.NextTransactionID != 42 {
		t.Fatalf("state %+v", state)
	}
	call(t, c, "StopTransaction", map[string]any{"transactionId": 42, "meterStop": 2500, "timestamp": "2026-01-01T11:00:00Z", "reason": "EVDisconnected", "idTag": "TAG1"})
	stopped := ocpptest.WaitFor[site.TransactionStopped](t, h.Events, 0, wait, nil)
	if stopped.Transaction.ID != "42" || stopped.Transaction.Energy != 1500 || stopped.Reason != "EVDisconnected" {
		t.Fatalf("stopped %+v", stopped)
	}
	state, _ = h.Store.ChargerState(ctxT(t), ref)
	if state.EVSEs[1].Transaction != nil {
		t.Fatalf("transaction still in state")
	}
}

// Handshake refusals: unknown identity, no supported subprotocol, Basic
// auth (security profile 1, A00.FR.2xx).
func TestHandshakeRefusals(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Password: "0123456789abcdef0123", Config: ocppadapter.Config{SecurityProfile: 1}})
	tests := []struct {
		desc     string
		identity string
		opts     ocpptest.ClientOptions
		status   int
	}{
		{"unknown identity", "NOPE", ocpptest.ClientOptions{Username: "NOPE", Password: "x"}, http.StatusNotFound},
		{"no supported subprotocol", "CP1", ocpptest.ClientOptions{Protocols: []string{"ocpp1.5"}, Username: "CP1", Password: "0123456789abcdef0123"}, http.StatusBadRequest},
		{"no credentials", "CP1", ocpptest.ClientOptions{}, http.StatusUnauthorized},
		{"wrong password", "CP1", ocpptest.ClientOptions{Username: "CP1", Password: "wrong-password-000"}, http.StatusUnauthorized},
		{"user is not the identity", "CP1", ocpptest.ClientOptions{Username: "CP2", Password: "0123456789abcdef0123"}, http.StatusUnauthorized},
		{"right password", "CP1", ocpptest.ClientOptions{Username: "CP1", Password: "0123456789abcdef0123"}, http.StatusSwitchingProtocols},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			c, resp, err := ocpptest.Dial(ctxT(t), h.URL, tc.identity, tc.opts)
			if c != nil {
				defer c.Close()
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, tc.status, err)
			}
		})
	}
}

// The newest subprotocol both sides offer wins.
func TestSubprotocolNegotiation(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	for _, tc := range []struct {
		desc    string
		offered []string
		want    string
	}{
		{"both, 1.6 first", []string{"ocpp1.6", "ocpp2.0.1"}, "ocpp2.0.1"},
		{"only 1.6", []string{"ocpp1.6"}, "ocpp1.6"},
		{"unknown and 2.0.1", []string{"ocpp2.1", "ocpp2.0.1"}, "ocpp2.0.1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: tc.offered})
			if c.Protocol != tc.want {
				t.Fatalf("negotiated %q, want %q", c.Protocol, tc.want)
			}
			c.Close()
		})
	}
}

// A reconnecting charger replaces its old connection; the old one is
// closed, and its disconnect is published before the new connect.
func TestReconnectReplacesOldConnection(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	old := h.Dial(t, "CP1", v16opts())
	ocpptest.WaitFor[site.ChargerConnected](t, h.Events, 0, wait, nil)
	n := h.Events.Len()
	fresh := h.Dial(t, "CP1", v16opts())
	select {
	case <-old.Done():
	case <-time.After(wait):
		t.Fatal("old connection not closed")
	}
	ocpptest.WaitFor[site.ChargerDisconnected](t, h.Events, n, wait, nil)
	ocpptest.WaitFor[site.ChargerConnected](t, h.Events, n, wait, nil)
	_, di, _ := ocpptest.Find[site.ChargerDisconnected](h.Events, n, nil)
	_, ci, _ := ocpptest.Find[site.ChargerConnected](h.Events, n, nil)
	if di < 0 || di > ci {
		t.Fatalf("disconnect at %d, connect at %d: %v", di, ci, h.Events.Events())
	}
	boot16(t, fresh)
	st, _ := h.Store.ChargerState(ctxT(t), h.Refs["CP1"])
	if !st.Connected {
		t.Fatal("state says disconnected after replacement")
	}
	if !h.Server.Connected(h.Refs["CP1"]) {
		t.Fatal("server lost the new connection")
	}
}

// At most one outstanding CALL per charger: a second SetLimit waits until
// the first is answered.
func TestOneOutstandingCallQueues(t *testing.T) {
	release := make(chan struct{})
	var inFlight, maxInFlight atomic.Int32
	seen := make(chan string, 4)
	handler := func(action string, payload json.RawMessage) (any, error) {
		n := inFlight.Add(1)
		if n > maxInFlight.Load() {
			maxInFlight.Store(n)
		}
		seen <- action
		<-release
		inFlight.Add(-1)
		return map[string]string{"status": "Accepted"}, nil
	}
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	c := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{"ocpp1.6"}, Handler: handler})
	_ = c
	ref := h.Refs["CP1"]
	waitConnected(t, h, ref)
	req := site.LimitRequest{Purpose: site.PurposeStationMax, Unit: site.UnitAmps, ProfileID: 1, Periods: []site.Period{{Limit: 16}}}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			r, err := h.Server.SetLimit(ctxT(t), ref, req)
			if err == nil && r.Status != site.CommandAccepted {
				err = errors.New(r.Status.String())
			}
			errs <- err
		}()
	}
	<-seen
	select {
	case a := <-seen:
		t.Fatalf("second CALL %s sent while the first is outstanding", a)
	case <-time.After(200 * time.Millisecond):
	}
	release <- struct{}{}
	<-seen
	release <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("max in flight %d", m)
	}
}

func waitConnected(t *testing.T, h *ocpptest.Harness, ref site.ChargerRef) {
	t.Helper()
	ocpptest.WaitFor(t, h.Events, 0, wait, func(e site.ChargerConnected) bool { return e.Charger() == ref })
}

// A charger that does not answer makes the call fail with site.ErrTimeout;
// a charger that is not connected gives site.ErrOffline.
func TestCallTimeoutAndOffline(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1", "CP2"}, Config: ocppadapter.Config{SkipCapabilityRead: true, CallTimeout: 200 * time.Millisecond}})
	h.Dial(t, "CP1", ocpptest.ClientOptions{Handler: func(string, json.RawMessage) (any, error) { return nil, ocpptest.ErrNoReply }})
	waitConnected(t, h, h.Refs["CP1"])
	_, err := h.Server.Trigger(ctxT(t), h.Refs["CP1"], 0, site.TriggerHeartbeat)
	if !errors.Is(err, site.ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	_, err = h.Server.Trigger(ctxT(t), h.Refs["CP2"], 0, site.TriggerHeartbeat)
	if !errors.Is(err, site.ErrOffline) {
		t.Fatalf("err %v, want ErrOffline", err)
	}
}

// Frames above MaxFrameBytes close the connection with 1009 without being
// read into memory.
func TestOversizeFrameRefused(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true, MaxFrameBytes: 1024}})
	c := h.Dial(t, "CP1", v16opts())
	big := make([]byte, 4096)
	for i := range big {
		big[i] = 'x'
	}
	frame := append([]byte(`[2,"1","DataTransfer",{"vendorId":"v","data":"`), big...)
	frame = append(frame, `"}]`...)
	_ = c.Send(ctxT(t), frame)
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("connection survived an oversize frame")
	}
	if code := closeStatus(c.Err()); code != 1009 {
		t.Fatalf("close status %d (%v), want 1009", code, c.Err())
	}
}

func closeStatus(err error) int { return int(websocket.CloseStatus(err)) }

// A charger that sends its first frame in the same packet as the
// handshake (bytes net/http has already buffered) is understood.
func TestFrameSentWithHandshake(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"FAST"}, Config: ocppadapter.Config{SkipCapabilityRead: true}})
	addr := strings.TrimPrefix(h.HTTP.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(wait))
	payload := []byte(`[2,"early-1","Heartbeat",{}]`)
	key := [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i, b := range payload {
		frame = append(frame, b^key[i%4])
	}
	req := "GET /ocpp/FAST HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		ext := make([]byte, 2)
		io.ReadFull(br, ext)
		n = int(ext[0])<<8 | int(ext[1])
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	f, ferr := ocppadapter.ParseFrame(body)
	if hdr[0] != 0x81 || ferr != nil || f.Type != ocppadapter.TypeCallResult || f.ID != "early-1" {
		t.Fatalf("answer %x %s (%v)", hdr, body, ferr)
	}
}
