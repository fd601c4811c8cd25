package ocppadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// callingCSMS is an upstream CSMS that answers the proxy's CALLs like
// ocpptest.CSMS (1.6 StartTransaction gets transaction id 42) and can send CALLs of its own to the one charger
// connected.
type callingCSMS struct {
	url string
	mu  sync.Mutex
	ws  *websocket.Conn
	wmu sync.Mutex
	got map[string]chan ocppadapter.Frame
	up  chan struct{}
	seq int
}

func startCallingCSMS(t *testing.T) *callingCSMS {
	t.Helper()
	s := &callingCSMS{got: map[string]chan ocppadapter.Frame{}, up: make(chan struct{})}
	upg := websocket.Upgrader{Subprotocols: []string{ocppadapter.Subprotocol201, ocppadapter.Subprotocol16}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upg.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		s.mu.Lock()
		s.ws = ws
		close(s.up)
		s.mu.Unlock()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			f, ferr := ocppadapter.ParseFrame(data)
			if ferr != nil {
				continue
			}
			switch f.Type {
			case ocppadapter.TypeCall:
				ans := []byte(`{}`)
				switch f.Action {
				case "BootNotification":
					ans = []byte(`{"status":"Accepted","currentTime":"` + time.Now().UTC().Format(time.RFC3339) + `","interval":300}`)
				case "StartTransaction":
					ans = []byte(`{"idTagInfo":{"status":"Accepted"},"transactionId":42}`)
				}
				s.write(ocppadapter.AppendCallResult(nil, f.ID, ans))
			default:
				s.mu.Lock()
				ch := s.got[f.ID]
				s.mu.Unlock()
				if ch != nil {
					ch <- f
				}
			}
		}
	}))
	t.Cleanup(hs.Close)
	s.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ocpp"
	return s
}

func (s *callingCSMS) write(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.WriteMessage(websocket.TextMessage, b)
}

// call sends a CALL to the charger and returns its answer's payload.
func (s *callingCSMS) call(t *testing.T, action, payload string) map[string]any {
	t.Helper()
	select {
	case <-s.up:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not connect to the CSMS")
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("csms-%d", s.seq)
	ch := make(chan ocppadapter.Frame, 1)
	s.got[id] = ch
	s.mu.Unlock()
	s.write(ocppadapter.AppendCall(nil, id, action, json.RawMessage(payload)))
	select {
	case f := <-ch:
		if f.Type != ocppadapter.TypeCallResult {
			t.Fatalf("%s %s: answered %+v", action, payload, f)
		}
		var m map[string]any
		if err := json.Unmarshal(f.Payload, &m); err != nil {
			t.Fatal(err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no answer", action)
	}
	return nil
}

// A CSMS profile's whole schedule (start, periods, validity, recurrency)
// reaches the loop as an ExternalSchedulesReported, a limit of 0 included;
// a Tx/TxDefault profile above smartcharge's stack levels is rejected
// (it would override them); a CSMS Tx profile goes with its transaction;
// a clear of everything never touches smartcharge's levels 4 and 5.
func TestProxyCSMSSchedules(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	ts := start.Format(time.RFC3339)
	for _, tc := range []struct {
		proto     string
		profile   func(id, stack int, purpose, kind, extra, sched string) string
		schedule  string
		stopTx    string
		txIDField string
	}{
		{proto: ocppadapter.Subprotocol16,
			profile: func(id, stack int, purpose, kind, extra, sched string) string {
				return fmt.Sprintf(`{"connectorId":1,"csChargingProfiles":{"chargingProfileId":%d,"stackLevel":%d,"chargingProfilePurpose":%q,"chargingProfileKind":%q%s,"chargingSchedule":%s}}`,
					id, stack, purpose, kind, extra, sched)
			},
			schedule:  `{"startSchedule":%q,"duration":1800,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16},{"startPeriod":600,"limit":0},{"startPeriod":1200,"limit":8}]}`,
			stopTx:    `{"transactionId":42,"meterStop":10,"timestamp":"` + ts + `"}`,
			txIDField: `,"transactionId":42`,
		},
		{proto: ocppadapter.Subprotocol201,
			profile: func(id, stack int, purpose, kind, extra, sched string) string {
				return fmt.Sprintf(`{"evseId":1,"chargingProfile":{"id":%d,"stackLevel":%d,"chargingProfilePurpose":%q,"chargingProfileKind":%q%s,"chargingSchedule":[%s]}}`,
					id, stack, purpose, kind, extra, sched)
			},
			schedule:  `{"id":1,"startSchedule":%q,"duration":1800,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16},{"startPeriod":600,"limit":0},{"startPeriod":1200,"limit":8}]}`,
			stopTx:    `{"eventType":"Ended","timestamp":"` + ts + `","triggerReason":"StopAuthorized","seqNo":1,"transactionInfo":{"transactionId":"42"}}`,
			txIDField: `,"transactionId":"42"`,
		},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			csms := startCallingCSMS(t)
			h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, NoOutgoingValidation: true, Config: ocppadapter.Config{
				CallTimeout: 5 * time.Second, SkipCapabilityRead: true, Proxy: &ocppadapter.ProxyConfig{
					Upstream: func(site.ChargerRef, string) (ocppadapter.UpstreamTarget, bool) {
						return ocppadapter.UpstreamTarget{URL: csms.url}, true
					},
					Loss: ocppadapter.UpstreamLossKeep,
				}}})
			prof := ocpptest.NewProfiles(tc.proto)
			cl := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{tc.proto}, Handler: prof.Handler(ocpptest.DefaultHandler(tc.proto))})

			// A TxDefault at stack level 2 with three periods.
			sched := fmt.Sprintf(tc.schedule, ts)
			valid := `,"validTo":"` + start.Add(time.Hour).Format(time.RFC3339) + `"`
			if res := csms.call(t, "SetChargingProfile", tc.profile(77, 2, "TxDefaultProfile", "Absolute", valid, sched)); res["status"] != "Accepted" {
				t.Fatalf("CSMS TxDefault: %v", res)
			}
			ev := ocpptest.WaitFor(t, h.Events, 0, 5*time.Second, func(e site.ExternalSchedulesReported) bool { return len(e.Schedules) == 1 })
			s := ev.Schedules[0]
			if ev.Source != "CSMS" || ev.EVSE != 1 || s.Unit != site.UnitAmps || !s.Start.Equal(start) || s.Duration != 30*time.Minute ||
				!s.ValidTo.Equal(start.Add(time.Hour)) || s.Purpose != site.PurposeTxDefault || s.StackLevel != 2 || s.ProfileID != 77 {
				t.Fatalf("event %+v", ev)
			}
			for i, want := range []site.Period{{Limit: 16}, {Offset: 10 * time.Minute, Limit: 0}, {Offset: 20 * time.Minute, Limit: 8}} {
				if i >= len(s.Periods) || s.Periods[i] != want {
					t.Fatalf("periods %+v, want period %d = %+v", s.Periods, i, want)
				}
			}
			if l, ok, next := s.LimitAt(start.Add(11 * time.Minute)); l != 0 || !ok || !next.Equal(start.Add(20*time.Minute)) {
				t.Errorf("limit 11 minutes in: %g %v %v, want the 0 A period until 20 minutes", l, ok, next)
			}

			// A Tx profile above smartcharge's stack levels would lead: rejected.
			if res := csms.call(t, "SetChargingProfile", tc.profile(78, 6, "TxProfile", "Relative", tc.txIDField, sched)); res["status"] != "Rejected" {
				t.Fatalf("CSMS TxProfile at stack level 6: %v, want Rejected", res)
			}
			// A Tx profile for transaction 42 at level 1, relative: its
			// lowest period counts.
			mark := h.Events.Len()
			if res := csms.call(t, "SetChargingProfile", tc.profile(79, 1, "TxProfile", "Relative", tc.txIDField, sched)); res["status"] != "Accepted" {
				t.Fatalf("CSMS TxProfile: %v", res)
			}
			ev = ocpptest.WaitFor(t, h.Events, mark, 5*time.Second, func(e site.ExternalSchedulesReported) bool { return len(e.Schedules) == 2 })
			if tx := ev.Schedules[1]; tx.TransactionID != "42" || !tx.Start.IsZero() {
				t.Errorf("Tx schedule %+v, want transaction 42 and no start", tx)
			}
			if a, hasA, _, _, _ := site.ExternalLimitsAt(ev.Schedules, start); !hasA || a != 0 {
				t.Errorf("limit now %v %v, want 0 A (the relative Tx profile's lowest period)", a, hasA)
			}
			// The transaction ends: its Tx profile goes.
			mark = h.Events.Len()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			action := "StopTransaction"
			if tc.proto == ocppadapter.Subprotocol201 {
				action = "TransactionEvent"
			}
			if _, err := cl.Call(ctx, action, json.RawMessage(tc.stopTx)); err != nil {
				t.Fatal(err)
			}
			ev = ocpptest.WaitFor(t, h.Events, mark, 5*time.Second, func(e site.ExternalSchedulesReported) bool { return true })
			if len(ev.Schedules) != 1 || ev.Schedules[0].ProfileID != 77 {
				t.Errorf("after the transaction ended: %+v, want the TxDefault only", ev.Schedules)
			}

			// Clear everything: narrowed, smartcharge's levels untouched.
			mark = h.Events.Len()
			if res := csms.call(t, "ClearChargingProfile", `{}`); res["status"] != "Accepted" {
				t.Fatalf("clear: %v", res)
			}
			ocpptest.WaitFor(t, h.Events, mark, 5*time.Second, func(e site.ExternalSchedulesReported) bool { return e.Cleared() })
			for _, c := range prof.Clears() {
				var m map[string]any
				_ = json.Unmarshal(c, &m)
				lvl, ok := m["stackLevel"]
				if crit, isMap := m["chargingProfileCriteria"].(map[string]any); isMap {
					lvl, ok = crit["stackLevel"]
				}
				if !ok || lvl == 4.0 || lvl == 5.0 {
					t.Errorf("narrowed clear %s touches smartcharge's stack levels 4..5", c)
				}
			}
		})
	}
}
