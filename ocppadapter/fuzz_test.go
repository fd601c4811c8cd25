package ocppadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// FuzzParseFrame: the frame parser never panics, a parsed frame
// serialises back to a frame that parses the same, and a refused frame
// names a defined error code.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`[2,"1","Heartbeat",{}]`,
		`[3,"1",{"currentTime":"2026-01-01T00:00:00Z"}]`,
		`[4,"1","NotImplemented","x",{}]`,
		`[2,"1","BootNotification",{"chargePointVendor":"A","chargePointModel":"B"}]`,
		`[5,"1",{}]`, `[2]`, `{}`, `[2,"","a",{}]`, `[2,"\u00fc","a",[]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, ferr := ParseFrame(data)
		// The one-pass check refuses exactly what validJSON refuses, with
		// its message.
		if jerr := validJSON(data); jerr != nil {
			if ferr == nil || ferr.Reason != "frame is not JSON: "+jerr.Error() {
				t.Fatalf("%q: validJSON says %v, ParseFrame %v", data, jerr, ferr)
			}
		} else if ferr != nil && strings.HasPrefix(ferr.Reason, "frame is not JSON") {
			t.Fatalf("%q: valid JSON refused as %v", data, ferr)
		}
		if ferr != nil {
			if ferr.Code < CodeFormatViolation || ferr.Code > CodeTypeConstraintViolation {
				t.Fatalf("undefined code %d", ferr.Code)
			}
			return
		}
		var again []byte
		switch fr.Type {
		case TypeCall:
			again = AppendCall(nil, fr.ID, fr.Action, fr.Payload)
		case TypeCallResult:
			again = AppendCallResult(nil, fr.ID, fr.Payload)
		case TypeCallError:
			code, _ := ParseErrorCode(fr.ErrorCode)
			again = AppendCallError(nil, V201, fr.ID, &CallError{Code: code, Description: fr.ErrorDescription, Details: fr.ErrorDetails})
		default:
			t.Fatalf("parsed type %d", fr.Type)
		}
		fr2, ferr := ParseFrame(again)
		if ferr != nil {
			t.Fatalf("re-serialised frame %s does not parse: %v", again, ferr)
		}
		if fr2.ID != fr.ID || fr2.Action != fr.Action || fr2.Type != fr.Type {
			t.Fatalf("round trip changed %+v into %+v", fr, fr2)
		}
	})
}

// fuzzStore is the smallest site.Store the handlers need: one charger's
// state.
type fuzzStore struct {
	site.Store
	mu sync.Mutex
	st site.ChargerState
}

func (s *fuzzStore) UpdateChargerState(_ context.Context, _ site.ChargerRef, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.EVSEs = make(map[int]site.EVSEState, len(s.st.EVSEs))
	for k, v := range s.st.EVSEs {
		st.EVSEs[k] = v
	}
	if err := fn(&st); err != nil {
		return site.ChargerState{}, err
	}
	s.st = st
	return st, nil
}

type discardSink struct{}

func (discardSink) Publish(site.Event) {}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func fuzzConn(t testing.TB, v Version) *conn {
	s, err := NewServer(Config{Store: &fuzzStore{}, Events: discardSink{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: fixedClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, SkipCapabilityRead: true})
	if err != nil {
		t.Fatal(err)
	}
	return newConn(s, nil, v, "FUZZ", site.ChargerRef{SiteID: "s", ChargerID: "c"}, true, "fuzz")
}

var fuzzActions16 = []string{"BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
	"StopTransaction", "MeterValues", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification"}

var fuzzActions201 = []string{"BootNotification", "Heartbeat", "StatusNotification", "TransactionEvent", "MeterValues",
	"Authorize", "NotifyEVChargingNeeds", "NotifyChargingLimit", "ClearedChargingLimit", "ReportChargingProfiles",
	"NotifyReport", "SecurityEventNotification", "FirmwareStatusNotification", "LogStatusNotification", "DataTransfer"}

// fuzzPayload checks one payload the way a connection does: schema, then
// the handler. Whatever comes in, nothing panics, an error carries a
// defined code, and every answer we would send passes the answer's schema.
func fuzzPayload(t *testing.T, c *conn, action string, payload []byte) {
	cerr := c.schemas.validate(action, dirReq, payload)
	if cerr == nil {
		if action == "MeterValues" {
			checkMeterDecoder(t, c.version, payload)
		}
		var resp any
		if c.version == V16 {
			resp, _, cerr = c.handle16(context.Background(), action, payload)
		} else {
			resp, _, cerr = c.handle201(context.Background(), action, payload)
		}
		if cerr == nil {
			out, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			if bad := c.schemas.validate(action, dirConf, out); bad != nil {
				t.Fatalf("answer %s to %s breaks the schema: %v", out, payload, bad)
			}
			return
		}
	}
	if cerr.Code < CodeFormatViolation || cerr.Code > CodeTypeConstraintViolation {
		t.Fatalf("undefined code %d", cerr.Code)
	}
	if errors.Is(cerr, ErrCallError) && cerr.Code == CodeInternalError {
		t.Fatalf("internal error for %s %s: %v", action, payload, cerr)
	}
}

func seedPayloads(f *testing.F, seeds map[string][]string, actions []string) {
	for i, a := range actions {
		for _, p := range seeds[a] {
			f.Add(uint8(i), []byte(p))
		}
		f.Add(uint8(i), []byte(`{}`))
	}
}

// FuzzPayload16 feeds payloads to every 1.6 action the adapter handles.
func FuzzPayload16(f *testing.F) {
	seedPayloads(f, map[string][]string{
		"BootNotification":   {`{"chargePointVendor":"A","chargePointModel":"B"}`},
		"StatusNotification": {`{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2026-01-01T00:00:00Z"}`},
		"StartTransaction":   {`{"connectorId":1,"idTag":"T","meterStart":10,"timestamp":"2026-01-01T00:00:00Z"}`},
		"StopTransaction":    {`{"transactionId":1,"meterStop":20,"timestamp":"2026-01-01T01:00:00Z","transactionData":[{"timestamp":"2026-01-01T01:00:00Z","sampledValue":[{"value":"20"}]}]}`},
		"MeterValues":        {`{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"16.0","measurand":"Current.Import","phase":"L1","unit":"A"},{"value":"1.5","unit":"kWh"}]}]}`},
	}, fuzzActions16)
	c := fuzzConn(f, V16)
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		fuzzPayload(t, c, fuzzActions16[int(which)%len(fuzzActions16)], payload)
	})
}

// FuzzPayload201 feeds payloads to every 2.0.1 action the adapter handles.
func FuzzPayload201(f *testing.F) {
	seedPayloads(f, map[string][]string{
		"BootNotification":   {`{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}`},
		"StatusNotification": {`{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}`},
		"TransactionEvent": {`{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"CablePluggedIn","seqNo":0,"transactionInfo":{"transactionId":"t1","chargingState":"Charging"},"evse":{"id":1},"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1000}]}]}`,
			`{"eventType":"Ended","timestamp":"2026-01-01T01:00:00Z","triggerReason":"StopAuthorized","seqNo":1,"transactionInfo":{"transactionId":"t1"}}`},
		"MeterValues":           {`{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":16,"measurand":"Current.Import","phase":"L2"}]}]}`},
		"NotifyEVChargingNeeds": {`{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":"DC","dcChargingParameters":{"evMaxCurrent":100,"evMaxVoltage":400}}}`},
		"NotifyChargingLimit":   {`{"chargingLimit":{"chargingLimitSource":"EMS"},"chargingSchedule":[{"id":1,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":11000}]}]}`},
	}, fuzzActions201)
	c := fuzzConn(f, V201)
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		fuzzPayload(t, c, fuzzActions201[int(which)%len(fuzzActions201)], payload)
	})
}

// checkMeterDecoder: on every payload that passed the schema, the fast
// MeterValues decoder either gives up or gives exactly what the reference
// (encoding/json, then samples16/samples201) gives, which must then not
// be an error.
func checkMeterDecoder(t *testing.T, v Version, payload []byte) {
	var (
		got meterReq
		ok  bool
		ref meterReq
		err *CallError
	)
	if v == V16 {
		got, ok = fastMeterValues16(payload)
		ref, err = refMeterValues16(payload)
		if ok {
			if cerr := checkConnector16(got.evse); cerr != nil {
				return // both paths answer the range check alike
			}
		}
	} else {
		got, ok = fastMeterValues201(payload)
		ref, err = refMeterValues201(payload)
		if ok && checkEVSE(got.evse, 0) != nil {
			return
		}
	}
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("%s: fast decoder accepted, reference says %v", payload, err)
	}
	if g, w := meterReqString(got), meterReqString(ref); g != w {
		t.Fatalf("%s: fast decoder %s, reference %s", payload, g, w)
	}
}

func meterReqString(m meterReq) string {
	var b strings.Builder
	fmt.Fprintf(&b, "evse %d tx %d/%v:", m.evse, m.txID, m.hasTx)
	for _, s := range m.samples {
		fmt.Fprintf(&b, " [%s", s.Time.Format(time.RFC3339Nano))
		if s.Current != nil {
			fmt.Fprintf(&b, " I%v", *s.Current)
		}
		if s.Power != nil {
			fmt.Fprintf(&b, " P%v", *s.Power)
		}
		if s.Energy != nil {
			fmt.Fprintf(&b, " E%v", *s.Energy)
		}
		if s.SoC != nil {
			fmt.Fprintf(&b, " S%v", *s.SoC)
		}
		b.WriteString("]")
	}
	return b.String()
}
