package apiserver

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestEventFromProtoNamesTheField(t *testing.T) {
	const ch = "sites/depot/chargers/cp1"
	nan := math.NaN()
	tests := []struct {
		desc  string
		ev    *pb.ChargerEvent
		field string // "" means valid
	}{
		{"connected", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_Connected{Connected: &pb.ChargerConnectedEvent{}}}, ""},
		{"no event", &pb.ChargerEvent{Charger: ch}, "events[0].event"},
		{"bad charger name", &pb.ChargerEvent{Charger: "cp1", Event: &pb.ChargerEvent_Disconnected{Disconnected: &pb.ChargerDisconnectedEvent{}}}, "events[0].charger"},
		{"charger of another site", &pb.ChargerEvent{Charger: "sites/office/chargers/cp1", Event: &pb.ChargerEvent_Disconnected{Disconnected: &pb.ChargerDisconnectedEvent{}}}, "events[0].charger"},
		{"future time", &pb.ChargerEvent{Charger: ch, EventTime: timestamppb.New(testNow.Add(time.Hour)), Event: &pb.ChargerEvent_Disconnected{Disconnected: &pb.ChargerDisconnectedEvent{}}}, "events[0].event_time"},
		{"status without state", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_EvseStatus{EvseStatus: &pb.EvseStatusEvent{EvseId: 1}}}, "events[0].evse_status.state"},
		{"evse out of range", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_EvseStatus{EvseStatus: &pb.EvseStatusEvent{EvseId: 99, State: pb.EvseState_EVSE_STATE_CHARGING}}}, "events[0].evse_status.evse_id"},
		{"transaction without id", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_TransactionStarted{TransactionStarted: &pb.TransactionEvent{EvseId: 1}}}, "events[0].transaction_started.transaction_id"},
		{"transaction on evse 0", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_TransactionUpdated{TransactionUpdated: &pb.TransactionEvent{TransactionId: "t", EvseId: 0}}}, "events[0].transaction_updated.evse_id"},
		{"NaN current", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_MeterSample{MeterSample: &pb.MeterSampleEvent{EvseId: 1, Current: &pb.PhaseCurrents{L2: nan}}}}, "events[0].meter_sample.current.l2"},
		{"SoC above 100", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_MeterSample{MeterSample: &pb.MeterSampleEvent{EvseId: 1, SocPercent: proto.Float64(120)}}}, "events[0].meter_sample.soc_percent"},
		{"needs min above max", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_ChargingNeeds{ChargingNeeds: &pb.ChargingNeedsEvent{EvseId: 1, MaxCurrent: 16, MinCurrent: 20}}}, "events[0].charging_needs.min_current"},
		{"bad rate unit", &pb.ChargerEvent{Charger: ch, Event: &pb.ChargerEvent_Capabilities{Capabilities: &pb.ChargerCapabilitiesEvent{RateUnits: []pb.ChargingRateUnit{0}}}}, "events[0].capabilities.rate_units[0]"},
	}
	for _, tc := range tests {
		v := &site.ValidationError{}
		ev := eventFromProto(tc.ev, "depot", testNow, "events[0]", v)
		if tc.field == "" {
			if v.Err() != nil || ev == nil {
				t.Errorf("%s: %v, want valid", tc.desc, v.Err())
			}
			continue
		}
		if len(v.Violations) == 0 || v.Violations[0].Field != tc.field {
			t.Errorf("%s: violations %v, want one on %s", tc.desc, v.Violations, tc.field)
		}
		if ev != nil {
			t.Errorf("%s: invalid event converted to %v", tc.desc, ev)
		}
	}
}

func TestAckFromProto(t *testing.T) {
	tests := []struct {
		desc  string
		req   *pb.AckCommandRequest
		field string
	}{
		{"accepted", &pb.AckCommandRequest{Seq: 1, Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED}, ""},
		{"no seq", &pb.AckCommandRequest{Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED}, "seq"},
		{"no status", &pb.AckCommandRequest{Seq: 1}, "status"},
		{"schedule with rejected", &pb.AckCommandRequest{Seq: 1, Status: pb.CommandStatus_COMMAND_STATUS_REJECTED,
			CompositeSchedule: &pb.CompositeSchedule{RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_A}}, "composite_schedule"},
		{"periods out of order", &pb.AckCommandRequest{Seq: 1, Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED,
			CompositeSchedule: &pb.CompositeSchedule{RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_A,
				Periods: []*pb.ChargingSchedulePeriod{{StartPeriodSeconds: 60}, {StartPeriodSeconds: 0}}}}, "composite_schedule.periods[1].start_period_seconds"},
	}
	for _, tc := range tests {
		v := &site.ValidationError{}
		a := ackFromProto(tc.req, v)
		if tc.field == "" {
			if v.Err() != nil || a.Validate() != nil {
				t.Errorf("%s: %v / %v, want valid", tc.desc, v.Err(), a.Validate())
			}
			continue
		}
		if len(v.Violations) == 0 || v.Violations[0].Field != tc.field {
			t.Errorf("%s: violations %v, want one on %s", tc.desc, v.Violations, tc.field)
		}
	}
}

// TestCommandToProto: a profile goes out with every field OCPP needs.
func TestCommandToProto(t *testing.T) {
	start := testNow
	c := site.DelegatedCommand{Seq: 7, Ref: site.ChargerRef{SiteID: "depot", ChargerID: "cp1"}, Kind: site.DelegatedSetLimit,
		SetLimit: &site.LimitRequest{EVSE: 2, Purpose: site.PurposeTx, TransactionID: "tx", ProfileID: 3002, StackLevel: 1,
			Unit: site.UnitWatts, Start: start, Duration: 90*time.Second + time.Millisecond,
			Periods: []site.Period{{Limit: 7400, Phases: 1}, {Offset: time.Minute, Limit: 3000}}}}
	p := commandToProto(c)
	sp := p.GetSetChargingProfile()
	prof := sp.GetChargingProfile()
	s := prof.GetSchedule()
	if p.GetSeq() != 7 || p.GetCharger() != "sites/depot/chargers/cp1" || sp.GetEvseId() != 2 || prof.GetProfileId() != 3002 ||
		prof.GetStackLevel() != 1 || prof.GetPurpose() != pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX ||
		prof.GetKind() != pb.ChargingProfileKind_CHARGING_PROFILE_KIND_ABSOLUTE || prof.GetTransactionId() != "tx" ||
		s.GetRateUnit() != pb.ChargingRateUnit_CHARGING_RATE_UNIT_W || !s.GetStartSchedule().AsTime().Equal(start) ||
		s.GetDurationSeconds() != 91 || len(s.GetPeriods()) != 2 || s.GetPeriods()[0].GetNumberPhases() != 1 ||
		s.GetPeriods()[1].GetStartPeriodSeconds() != 60 || s.GetPeriods()[1].GetLimit() != 3000 {
		t.Errorf("commandToProto = %v", p)
	}
	c.SetLimit.Start = time.Time{}
	if k := commandToProto(c).GetSetChargingProfile().GetChargingProfile().GetKind(); k != pb.ChargingProfileKind_CHARGING_PROFILE_KIND_RELATIVE {
		t.Errorf("no start: kind %v, want RELATIVE", k)
	}
}

// FuzzEventFromProto: any wire bytes give a valid event or violations,
// never a panic, and a converted event names a charger of the site.
func FuzzEventFromProto(f *testing.F) {
	for _, ev := range []*pb.ChargerEvent{
		{Charger: "sites/depot/chargers/cp1", Event: &pb.ChargerEvent_MeterSample{MeterSample: &pb.MeterSampleEvent{EvseId: 1, EnergyWh: proto.Float64(5)}}},
		{Charger: "sites/depot/chargers/cp1", Event: &pb.ChargerEvent_TransactionStopped{TransactionStopped: &pb.TransactionEvent{TransactionId: "1", EvseId: 1}}},
		{Charger: "sites/depot/chargers/cp1", Event: &pb.ChargerEvent_Capabilities{Capabilities: &pb.ChargerCapabilitiesEvent{PhaseRotation: 4}}},
	} {
		b, _ := proto.Marshal(ev)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p pb.ChargerEvent
		if proto.Unmarshal(b, &p) != nil {
			return
		}
		v := &site.ValidationError{}
		ev := eventFromProto(&p, "depot", testNow, "events[0]", v)
		if (ev == nil) == (v.Err() == nil) {
			t.Fatalf("event %v with violations %v", ev, v.Err())
		}
		if ev != nil && (ev.Charger().SiteID != "depot" || !strings.HasPrefix(p.GetCharger(), "sites/depot/")) {
			t.Fatalf("event for %v from %q", ev.Charger(), p.GetCharger())
		}
		for _, x := range v.Violations {
			if !strings.HasPrefix(x.Field, "events[0]") {
				t.Fatalf("violation on %q", x.Field)
			}
		}
	})
}
