package apiserver

import (
	"context"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
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
		{Charger: "sites/depot/chargers/cp1", Event: &pb.ChargerEvent_ExternalLimit{ExternalLimit: &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS",
			Schedules: []*pb.ExternalLimitSchedule{{RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_A, StartTime: timestamppb.New(testNow), DurationSeconds: 3600,
				Recurrency: pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_DAILY, Periods: []*pb.ChargingSchedulePeriod{{Limit: 16}, {StartPeriodSeconds: 600}}}}}}},
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
		if x, ok := ev.(site.ExternalSchedulesReported); ok && x.Validate() != nil {
			t.Fatalf("external limit %+v converted but invalid: %v", x, x.Validate())
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

// recordingHub is a DelegationHub that keeps what it is given.
type recordingHub struct {
	mu     sync.Mutex
	events []site.Event
}

func (h *recordingHub) Report(_ context.Context, _ string, events []site.Event) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, events...)
	return len(events), nil
}

func (h *recordingHub) Commands(ctx context.Context, _ string, _ uint64, _ func(site.DelegatedCommand) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func (h *recordingHub) Ack(context.Context, string, site.DelegatedAck) (bool, error) {
	return true, nil
}

func (h *recordingHub) taken() []site.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// delegationClient serves the fixture (site alpha, charger c1 with EVSEs
// 1 and 2) with hub behind DelegationService on a real gRPC listener.
func delegationClient(t *testing.T, hub DelegationHub) pb.DelegationServiceClient {
	t.Helper()
	clock := &fakeClock{t: t0}
	store := newMemStore(clock)
	srv := New(store, &Options{Auth: testAuth(false), Clock: clock, Delegation: hub})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		<-done
		store.Close()
	})
	if _, err := pb.NewSiteServiceClient(conn).ApplySiteConfig(as("admin"), &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: alphaConfig()}); err != nil {
		t.Fatalf("seed alpha: %v", err)
	}
	return pb.NewDelegationServiceClient(conn)
}

// A CSMS reports external limits as schedules over real gRPC: they reach
// the hub as ExternalSchedulesReported whole (start, duration, periods,
// validity, recurrence); a limit of 0 is a limit (pause); the constant
// limit_current/limit_power_w of older clients still work (0 there: no
// limit); cleared is a report without schedules. Bad input is
// INVALID_ARGUMENT naming the field, and nothing reaches the hub.
func TestReportExternalLimitSchedules(t *testing.T) {
	hub := &recordingHub{}
	client := delegationClient(t, hub)
	const charger = "sites/alpha/chargers/c1"
	period := func(start int32, limit float64) *pb.ChargingSchedulePeriod {
		return &pb.ChargingSchedulePeriod{StartPeriodSeconds: start, Limit: limit}
	}
	amps := pb.ChargingRateUnit_CHARGING_RATE_UNIT_A
	type limitAt struct {
		at   time.Time
		amps float64 // -1: none in A
		w    float64 // -1: none in W
	}
	tests := []struct {
		name  string
		limit *pb.ExternalLimitEvent
		field string // INVALID_ARGUMENT naming it; "" means taken
		// when taken: schedules in the event, the first one's fields, and
		// the limits in force at some times.
		schedules int
		first     *site.ExternalSchedule
		checks    []limitAt
	}{
		{name: "0 A pauses", limit: &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS",
			Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, Periods: []*pb.ChargingSchedulePeriod{period(0, 0)}}}},
			schedules: 1, checks: []limitAt{{t0, 0, -1}, {t0.Add(1000 * time.Hour), 0, -1}}},
		{name: "schedule with start, periods, duration and validity", limit: &pb.ExternalLimitEvent{EvseId: 2, Source: "SO",
			Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, StartTime: timestamppb.New(t0), DurationSeconds: 1800,
				ValidTo: timestamppb.New(t0.Add(time.Hour)), Periods: []*pb.ChargingSchedulePeriod{period(0, 16), period(600, 0), period(1200, 8)}}}},
			schedules: 1,
			first: &site.ExternalSchedule{Unit: site.UnitAmps, Start: t0, Duration: 30 * time.Minute, ValidTo: t0.Add(time.Hour),
				Periods: []site.Period{{Limit: 16}, {Offset: 10 * time.Minute}, {Offset: 20 * time.Minute, Limit: 8}}},
			checks: []limitAt{{t0.Add(time.Minute), 16, -1}, {t0.Add(11 * time.Minute), 0, -1}, {t0.Add(21 * time.Minute), 8, -1}, {t0.Add(31 * time.Minute), -1, -1}}},
		{name: "daily in W", limit: &pb.ExternalLimitEvent{Source: "EMS",
			Schedules: []*pb.ExternalLimitSchedule{{RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_W, StartTime: timestamppb.New(t0),
				DurationSeconds: 3600, Recurrency: pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_DAILY,
				Periods: []*pb.ChargingSchedulePeriod{period(0, 0)}}}},
			schedules: 1, checks: []limitAt{{t0.Add(30 * time.Minute), -1, 0}, {t0.Add(2 * time.Hour), -1, -1}, {t0.Add(24*time.Hour + time.Minute), -1, 0}}},
		{name: "legacy constant limit in A", limit: &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS", LimitCurrent: 20},
			schedules: 1, checks: []limitAt{{t0, 20, -1}}},
		{name: "legacy constant with a schedule: the lowest counts", limit: &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS", LimitPowerW: 11000,
			Schedules: []*pb.ExternalLimitSchedule{{RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_W, Periods: []*pb.ChargingSchedulePeriod{period(0, 7000)}}}},
			schedules: 2, checks: []limitAt{{t0, -1, 7000}}},
		{name: "legacy zero is no limit", limit: &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS"}, schedules: 0},
		{name: "cleared", limit: &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS", Cleared: true, LimitCurrent: 10}, schedules: 0},

		{name: "no rate unit", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].rate_unit"},
		{name: "no periods", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps}}},
			field: "events[0].external_limit.schedules[0].periods"},
		{name: "periods out of order", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps,
			Periods: []*pb.ChargingSchedulePeriod{period(600, 6), period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].periods[1].start_period_seconds"},
		{name: "negative limit", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, Periods: []*pb.ChargingSchedulePeriod{period(0, -1)}}}},
			field: "events[0].external_limit.schedules[0].periods[0].limit"},
		{name: "NaN limit", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, Periods: []*pb.ChargingSchedulePeriod{period(0, math.NaN())}}}},
			field: "events[0].external_limit.schedules[0].periods[0].limit"},
		{name: "A limit above the largest current", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, Periods: []*pb.ChargingSchedulePeriod{period(0, 20000)}}}},
			field: "events[0].external_limit.schedules[0].periods[0].limit"},
		{name: "negative duration", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, DurationSeconds: -1, Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].duration_seconds"},
		{name: "valid_to before valid_from", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps,
			ValidFrom: timestamppb.New(t0), ValidTo: timestamppb.New(t0.Add(-time.Minute)), Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].valid_to"},
		{name: "recurring without start", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps,
			Recurrency: pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_WEEKLY, Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].start_time"},
		{name: "daily longer than a day", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, StartTime: timestamppb.New(t0),
			DurationSeconds: 90000, Recurrency: pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_DAILY, Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].duration_seconds"},
		{name: "unknown recurrency", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, StartTime: timestamppb.New(t0),
			Recurrency: 9, Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].recurrency"},
		{name: "bad start time", limit: &pb.ExternalLimitEvent{Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, StartTime: &timestamppb.Timestamp{Nanos: -1},
			Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules[0].start_time"},
		{name: "cleared with schedules", limit: &pb.ExternalLimitEvent{Cleared: true, Schedules: []*pb.ExternalLimitSchedule{{RateUnit: amps, Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}},
			field: "events[0].external_limit.schedules"},
		{name: "too many schedules", limit: &pb.ExternalLimitEvent{Schedules: slices.Repeat([]*pb.ExternalLimitSchedule{{RateUnit: amps, Periods: []*pb.ChargingSchedulePeriod{period(0, 6)}}}, 17)},
			field: "events[0].external_limit.schedules"},
		{name: "EVSE the charger does not have", limit: &pb.ExternalLimitEvent{EvseId: 3, Source: "EMS"},
			field: "events[0].external_limit.evse_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(hub.taken())
			_, err := client.ReportChargerEvents(as("csms"), &pb.ReportChargerEventsRequest{Name: "sites/alpha",
				Events: []*pb.ChargerEvent{{Charger: charger, Event: &pb.ChargerEvent_ExternalLimit{ExternalLimit: tc.limit}}}})
			got := hub.taken()[before:]
			if tc.field != "" {
				want(t, err, codes.InvalidArgument, tc.field)
				if len(got) != 0 {
					t.Errorf("hub got %v from a bad request", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("hub got %v, want one event", got)
			}
			ev, ok := got[0].(site.ExternalSchedulesReported)
			if !ok {
				t.Fatalf("hub got %T, want site.ExternalSchedulesReported", got[0])
			}
			if ev.EVSE != int(tc.limit.GetEvseId()) || ev.Source != tc.limit.GetSource() || ev.Charger() != (site.ChargerRef{SiteID: "alpha", ChargerID: "c1"}) || ev.Validate() != nil {
				t.Errorf("event %+v (valid: %v)", ev, ev.Validate())
			}
			if len(ev.Schedules) != tc.schedules || ev.Cleared() != (tc.schedules == 0) {
				t.Fatalf("%d schedules (cleared %v), want %d: %+v", len(ev.Schedules), ev.Cleared(), tc.schedules, ev.Schedules)
			}
			if tc.first != nil {
				s := ev.Schedules[0]
				if s.Unit != tc.first.Unit || !s.Start.Equal(tc.first.Start) || s.Duration != tc.first.Duration || !s.ValidTo.Equal(tc.first.ValidTo) ||
					!s.ValidFrom.Equal(tc.first.ValidFrom) || !slices.Equal(s.Periods, tc.first.Periods) || s.Recurrency != tc.first.Recurrency {
					t.Errorf("schedule %+v, want %+v", s, *tc.first)
				}
			}
			for _, ck := range tc.checks {
				a, hasA, w, hasW, _ := site.ExternalLimitsAt(ev.Schedules, ck.at)
				gotA, gotW := -1.0, -1.0
				if hasA {
					gotA = float64(a)
				}
				if hasW {
					gotW = float64(w)
				}
				if gotA != ck.amps || gotW != ck.w {
					t.Errorf("at %s: %g A, %g W; want %g A, %g W (-1: none)", ck.at.Sub(t0), gotA, gotW, ck.amps, ck.w)
				}
			}
		})
	}
}
