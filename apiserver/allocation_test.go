package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// errorInfo returns the ErrorInfo of a status error.
func errorInfo(t *testing.T, err error) *errdetails.ErrorInfo {
	t.Helper()
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
	return nil
}

func TestGetAllocation(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{})
	got := must(e.alloc.GetAllocation(as("viewer"), &pb.GetAllocationRequest{Name: "sites/alpha/allocation"}))(t).GetAllocation()
	expect := &pb.Allocation{
		Name: "sites/alpha/allocation", Seq: 1, ComputeTime: timestamppb.New(t0.Add(time.Second)), Trigger: "tick",
		Nodes: []*pb.NodeAllocation{
			{Node: "sites/alpha", Kind: pb.NodeKind_NODE_KIND_GRID, Limit: pc(50), OtherLoad: &pb.PhaseCurrents{L1: 10, L2: 12, L3: 8}, Allocated: pc(32)},
			{Node: "sites/alpha/circuits/main", Kind: pb.NodeKind_NODE_KIND_CIRCUIT, Limit: pc(63), OtherLoad: pc(0), Allocated: pc(32)},
			{Node: "sites/alpha/circuits/sub", Kind: pb.NodeKind_NODE_KIND_CIRCUIT, Limit: pc(32), OtherLoad: pc(0), Allocated: pc(32)},
			{Node: "sites/alpha/chargers/c1", Kind: pb.NodeKind_NODE_KIND_CHARGER, Limit: pc(0), OtherLoad: pc(0), Allocated: pc(32)},
		},
		Evses: []*pb.EvseAllocation{
			{Name: "sites/alpha/chargers/c1/evses/1", Charger: "sites/alpha/chargers/c1", EvseId: 1,
				State: pb.EvseControlState_EVSE_CONTROL_STATE_CHARGING, Limit: 11, Phases: 3,
				Reason: "limited by circuit sub phase L2", ReasonCode: "PHASE_LIMIT",
				Binding:       &pb.BindingConstraint{Node: "sites/alpha/circuits/sub", NodeKind: pb.NodeKind_NODE_KIND_CIRCUIT, Phase: pb.Phase_PHASE_L2},
				AcceptedLimit: 10, CountedAt: 11, Drawn: &pb.PhaseCurrents{L1: 9.5, L2: 9.6, L3: 9.4}},
			{Name: "sites/alpha/chargers/c1/evses/2", Charger: "sites/alpha/chargers/c1", EvseId: 2,
				State: pb.EvseControlState_EVSE_CONTROL_STATE_NO_CAR, Reason: "no car", ReasonCode: "NO_CAR", Drawn: pc(0)},
		},
		Infeasibilities: []string{"circuit sub phase L3 over by 1.0 A"},
	}
	if !proto.Equal(got, expect) {
		t.Errorf("allocation\n got %v\nwant %v", got, expect)
	}

	// beta exists but has no allocation yet: seq 0, not an error
	got = must(e.alloc.GetAllocation(as("admin"), &pb.GetAllocationRequest{Name: "sites/beta/allocation"}))(t).GetAllocation()
	if !proto.Equal(got, &pb.Allocation{Name: "sites/beta/allocation"}) {
		t.Errorf("no allocation yet: got %v", got)
	}

	cases := []struct {
		name  string
		who   string
		req   string
		err   error // the loop's
		code  codes.Code
		field string
	}{
		{name: "empty name", who: "admin", req: "", code: codes.InvalidArgument, field: "name"},
		{name: "site name", who: "admin", req: "sites/alpha", code: codes.InvalidArgument, field: "name"},
		{name: "bad site id", who: "admin", req: "sites/Alpha/allocation", code: codes.InvalidArgument, field: "name"},
		{name: "unknown site", who: "admin", req: "sites/gamma/allocation", code: codes.NotFound},
		{name: "foreign site", who: "owner-beta", req: "sites/alpha/allocation", code: codes.PermissionDenied},
		{name: "store of the loop down", who: "admin", req: "sites/alpha/allocation", err: fmt.Errorf("x: %w", site.ErrUnavailable), code: codes.Unavailable},
		{name: "loop stopped", who: "admin", req: "sites/alpha/allocation", err: errors.New("loop: stopped"), code: codes.Unavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.loop.SetErr(c.err)
			defer e.loop.SetErr(nil)
			_, err := e.alloc.GetAllocation(as(c.who), &pb.GetAllocationRequest{Name: c.req})
			want(t, err, c.code, c.field)
		})
	}
	e.loop.SetErr(errors.New("loop: stopped"))
	_, err := e.alloc.GetAllocation(as("admin"), &pb.GetAllocationRequest{Name: "sites/alpha/allocation"})
	if r := errorInfo(t, err).Reason; r != ReasonLoopUnavailable {
		t.Errorf("reason %s, want %s", r, ReasonLoopUnavailable)
	}
}

// TestWatchAllocation: the stream gets the current allocation, then each
// new one in order of seq, never the same seq twice; it ends with
// UNAVAILABLE when the loop ends the watch, and the loop's watch ends when
// the client cancels.
func TestWatchAllocation(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{})
	ctx, cancel := context.WithTimeout(as("csms"), 10*time.Second)
	defer cancel()
	st := must(e.alloc.WatchAllocation(ctx, &pb.WatchAllocationRequest{Name: "sites/alpha/allocation"}))(t)
	first := must(st.Recv())(t).GetAllocation()
	if first.GetSeq() != 1 || first.GetEvses()[0].GetLimit() != 11 {
		t.Fatalf("first update %v, want seq 1", first)
	}
	// successive allocations, with a repeat of seq 3 that must not show
	for _, seq := range []uint64{2, 3, 3, 4, 7} {
		e.loop.Publish(alphaView(seq))
	}
	for _, wantSeq := range []uint64{2, 3, 4, 7} {
		a := must(st.Recv())(t).GetAllocation()
		if a.GetSeq() != wantSeq {
			t.Fatalf("seq %d, want %d", a.GetSeq(), wantSeq)
		}
		if !a.GetComputeTime().AsTime().Equal(t0.Add(time.Duration(wantSeq) * time.Second)) {
			t.Errorf("seq %d: compute_time %v", wantSeq, a.GetComputeTime().AsTime())
		}
		if got := a.GetEvses()[0].GetLimit(); got != 10+float64(wantSeq) {
			t.Errorf("seq %d: limit %v", wantSeq, got)
		}
	}
	e.loop.EndWatches("alpha")
	_, err := st.Recv()
	want(t, err, codes.Unavailable, "")

	t.Run("client cancel ends the loop's watch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(as("viewer"))
		st := must(e.alloc.WatchAllocation(ctx, &pb.WatchAllocationRequest{Name: "sites/alpha/allocation"}))(t)
		must(st.Recv())(t)
		if n := e.loop.Watchers("alpha"); n != 1 {
			t.Fatalf("watchers = %d, want 1", n)
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for e.loop.Watchers("alpha") != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the server did not end the loop's watch after the client canceled")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("site without allocation waits for the first", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(as("admin"), 10*time.Second)
		defer cancel()
		st := must(e.alloc.WatchAllocation(ctx, &pb.WatchAllocationRequest{Name: "sites/beta/allocation"}))(t)
		go func() {
			for e.loop.Watchers("beta") == 0 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			v := alphaView(5)
			v.SiteID = "beta"
			e.loop.Publish(v)
		}()
		a := must(st.Recv())(t).GetAllocation()
		if a.GetName() != "sites/beta/allocation" || a.GetSeq() != 5 {
			t.Errorf("got %v", a)
		}
	})

	for _, c := range []struct {
		name, who, req string
		code           codes.Code
	}{
		{"bad name", "admin", "sites/alpha", codes.InvalidArgument},
		{"unknown site", "admin", "sites/gamma/allocation", codes.NotFound},
		{"foreign site", "owner-beta", "sites/alpha/allocation", codes.PermissionDenied},
		{"no token", "", "sites/alpha/allocation", codes.Unauthenticated},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := must(e.alloc.WatchAllocation(as(c.who), &pb.WatchAllocationRequest{Name: c.req}))(t)
			_, err := st.Recv()
			want(t, err, c.code, "")
		})
	}
}

func TestExplainAllocation(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{})
	resp := must(e.alloc.ExplainAllocation(as("owner"), &pb.ExplainAllocationRequest{Name: "sites/alpha/chargers/c1/evses/1"}))(t)
	if resp.GetSeq() != 1 || len(resp.GetEvses()) != 1 || resp.GetEvses()[0].GetEvseId() != 1 {
		t.Fatalf("got %v", resp)
	}
	if b := resp.GetEvses()[0].GetBinding(); b.GetNode() != "sites/alpha/circuits/sub" || b.GetPhase() != pb.Phase_PHASE_L2 {
		t.Errorf("binding %v", b)
	}
	var path []string
	for _, n := range resp.GetNodes() {
		path = append(path, n.GetNode())
	}
	if want := []string{"sites/alpha/chargers/c1", "sites/alpha/circuits/sub", "sites/alpha/circuits/main", "sites/alpha"}; !equalStrings(path, want) {
		t.Errorf("nodes %v, want %v", path, want)
	}
	resp = must(e.alloc.ExplainAllocation(as("viewer"), &pb.ExplainAllocationRequest{Name: "sites/alpha/chargers/c1"}))(t)
	if len(resp.GetEvses()) != 2 {
		t.Errorf("whole charger: %d EVSEs, want 2", len(resp.GetEvses()))
	}
	for _, c := range []struct {
		name, req string
		code      codes.Code
	}{
		{"bad name", "sites/alpha/chargers/c1/evses/0", codes.InvalidArgument},
		{"unknown charger", "sites/alpha/chargers/c9", codes.NotFound},
		{"unknown EVSE", "sites/alpha/chargers/c1/evses/3", codes.NotFound},
		{"unknown site", "sites/gamma/chargers/c1", codes.NotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.alloc.ExplainAllocation(as("admin"), &pb.ExplainAllocationRequest{Name: c.req})
			want(t, err, c.code, "name")
		})
	}
}

func TestReportMeterReading(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{})
	ok := []struct {
		name    string
		reading *pb.MeterReading
		want    site.MeterReading
	}{
		{"grid connection, time from the server", &pb.MeterReading{Current: &pb.PhaseCurrents{L1: 20, L2: -5, L3: 0}},
			site.MeterReading{Time: t0, Current: site.PhaseCurrents{20, -5, 0}}},
		{"circuit with time", &pb.MeterReading{Circuit: "sites/alpha/circuits/sub", ReadTime: timestamppb.New(t0.Add(-time.Minute)), Current: pc(7)},
			site.MeterReading{Node: "sub", Time: t0.Add(-time.Minute), Current: site.Uniform(7)}},
		{"current derived from power at 230 V", &pb.MeterReading{Power: &pb.PhasePowers{L1Kw: 2.3, L2Kw: 4.6, L3Kw: -0.23}},
			site.MeterReading{Time: t0, Current: site.PhaseCurrents{10, 20, -1}}},
		{"current wins over power", &pb.MeterReading{Current: pc(3), Power: &pb.PhasePowers{L1Kw: 2.3}},
			site.MeterReading{Time: t0, Current: site.Uniform(3)}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.loop.Meters())
			resp := must(e.alloc.ReportMeterReading(as("ems"), &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: c.reading}))(t)
			m := e.loop.Meters()
			if len(m) != before+1 {
				t.Fatalf("loop got %d readings, want %d", len(m), before+1)
			}
			got := m[len(m)-1]
			if got.site != "alpha" || got.reading.Node != c.want.Node || !got.reading.Time.Equal(c.want.Time) || !nearly(got.reading.Current, c.want.Current) {
				t.Errorf("loop got %+v, want %+v", got, c.want)
			}
			if !nearly(currentsFromProto(resp.GetReading().GetCurrent()), c.want.Current) || !resp.GetReading().GetReadTime().AsTime().Equal(c.want.Time) {
				t.Errorf("response %v", resp.GetReading())
			}
		})
	}

	bad := []struct {
		name  string
		req   *pb.ReportMeterReadingRequest
		loop  error
		code  codes.Code
		field string
	}{
		{"no name", &pb.ReportMeterReadingRequest{Reading: &pb.MeterReading{Current: pc(1)}}, nil, codes.InvalidArgument, "name"},
		{"bad name", &pb.ReportMeterReadingRequest{Name: "sites/alpha/allocation", Reading: &pb.MeterReading{Current: pc(1)}}, nil, codes.InvalidArgument, "name"},
		{"no reading", &pb.ReportMeterReadingRequest{Name: "sites/alpha"}, nil, codes.InvalidArgument, "reading"},
		{"neither current nor power", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{}}, nil, codes.InvalidArgument, "reading.current"},
		{"NaN current", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: &pb.PhaseCurrents{L2: math.NaN()}}}, nil, codes.InvalidArgument, "reading.current.l2"},
		{"huge current", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: &pb.PhaseCurrents{L3: 1e6}}}, nil, codes.InvalidArgument, "reading.current.l3"},
		{"infinite power", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Power: &pb.PhasePowers{L1Kw: math.Inf(1)}}}, nil, codes.InvalidArgument, "reading.power.l1_kw"},
		{"power beyond any current", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Power: &pb.PhasePowers{L2Kw: 9000}}}, nil, codes.InvalidArgument, "reading.current.l2"},
		{"time far ahead", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1), ReadTime: timestamppb.New(t0.Add(time.Hour))}}, nil, codes.InvalidArgument, "reading.read_time"},
		{"invalid time", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1), ReadTime: &timestamppb.Timestamp{Nanos: -1}}}, nil, codes.InvalidArgument, "reading.read_time"},
		{"circuit of another site", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1), Circuit: "sites/beta/circuits/main"}}, nil, codes.InvalidArgument, "reading.circuit"},
		{"circuit not a circuit name", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1), Circuit: "main"}}, nil, codes.InvalidArgument, "reading.circuit"},
		{"unknown circuit", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1), Circuit: "sites/alpha/circuits/nope"}}, nil, codes.InvalidArgument, "reading.circuit"},
		{"foreign site", &pb.ReportMeterReadingRequest{Name: "sites/beta", Reading: &pb.MeterReading{Current: pc(1)}}, nil, codes.PermissionDenied, ""},
		{"the loop refuses a field", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1)}},
			badField("current.l1", "too much"), codes.InvalidArgument, "reading.current.l1"},
		{"the loop cannot store it", &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(1)}},
			fmt.Errorf("loop: %w", site.ErrUnavailable), codes.Unavailable, ""},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			e.loop.SetErr(c.loop)
			defer e.loop.SetErr(nil)
			before := len(e.loop.Meters())
			_, err := e.alloc.ReportMeterReading(as("ems"), c.req)
			want(t, err, c.code, c.field)
			if len(e.loop.Meters()) != before {
				t.Error("a refused reading reached the loop")
			}
		})
	}
	_, err := e.alloc.ReportMeterReading(as("admin"), &pb.ReportMeterReadingRequest{Name: "sites/gamma", Reading: &pb.MeterReading{Current: pc(1)}})
	want(t, err, codes.NotFound, "")
}

func nearly(a, b site.PhaseCurrents) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-9 {
			return false
		}
	}
	return true
}

// TestStreamMeterReadings: readings are recorded in order and counted; the
// first bad one ends the stream with INVALID_ARGUMENT naming it and the
// count of those accepted before, which stay recorded.
func TestStreamMeterReadings(t *testing.T) {
	reading := func(a float64) *pb.StreamMeterReadingsRequest {
		return &pb.StreamMeterReadingsRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(a)}}
	}
	t.Run("all good", func(t *testing.T) {
		e := newEnv(t, memFactory, envOpts{})
		st := must(e.alloc.StreamMeterReadings(as("ems")))(t)
		for i := range 5 {
			if err := st.Send(reading(float64(i + 1))); err != nil {
				t.Fatal(err)
			}
		}
		resp := must(st.CloseAndRecv())(t)
		if resp.GetAcceptedCount() != 5 {
			t.Errorf("accepted %d, want 5", resp.GetAcceptedCount())
		}
		m := e.loop.Meters()
		if len(m) != 5 {
			t.Fatalf("loop got %d readings", len(m))
		}
		for i, r := range m {
			if r.reading.Current[0] != site.Amps(i+1) {
				t.Errorf("reading %d: %v out of order", i, r.reading.Current)
			}
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		e := newEnv(t, memFactory, envOpts{})
		st := must(e.alloc.StreamMeterReadings(as("admin")))(t)
		if resp := must(st.CloseAndRecv())(t); resp.GetAcceptedCount() != 0 {
			t.Errorf("accepted %d", resp.GetAcceptedCount())
		}
	})
	for _, c := range []struct {
		name   string
		who    string
		third  *pb.StreamMeterReadingsRequest
		code   codes.Code
		field  string
		stored int
	}{
		{"bad third reading", "ems", &pb.StreamMeterReadingsRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: &pb.PhaseCurrents{L1: math.Inf(-1)}}},
			codes.InvalidArgument, "requests[2].reading.current.l1", 2},
		{"bad site name", "ems", &pb.StreamMeterReadingsRequest{Name: "alpha", Reading: &pb.MeterReading{Current: pc(1)}},
			codes.InvalidArgument, "requests[2].name", 2},
		{"foreign site", "ems", &pb.StreamMeterReadingsRequest{Name: "sites/beta", Reading: &pb.MeterReading{Current: pc(1)}},
			codes.PermissionDenied, "", 2},
		{"role may not report", "owner", reading(1), codes.PermissionDenied, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, memFactory, envOpts{})
			st := must(e.alloc.StreamMeterReadings(as(c.who)))(t)
			for _, r := range []*pb.StreamMeterReadingsRequest{reading(1), reading(2), c.third, reading(4)} {
				if err := st.Send(r); err != nil {
					break // the server ended the call; CloseAndRecv tells why
				}
			}
			_, err := st.CloseAndRecv()
			want(t, err, c.code, c.field)
			if len(e.loop.Meters()) != c.stored {
				t.Errorf("loop got %d readings, want %d", len(e.loop.Meters()), c.stored)
			}
			if c.code != codes.PermissionDenied || c.stored > 0 {
				if got := errorInfo(t, err).Metadata["accepted_count"]; got != fmt.Sprint(c.stored) {
					t.Errorf("accepted_count %q, want %d", got, c.stored)
				}
			}
		})
	}
}

func TestSetChargingNeeds(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{})
	dep := t0.Add(3 * time.Hour)
	resp := must(e.alloc.SetChargingNeeds(as("owner"), &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/2",
		Needs: &pb.ChargingNeeds{EnergyKwh: 30.5, DepartureTime: timestamppb.New(dep), MaxCurrent: 16, MinCurrent: 6}}))(t)
	expect := site.ChargingNeeds{Energy: 30500, Departure: dep, MaxCurrent: 16, MinCurrent: 6}
	got, ok := e.loop.Needs("sites/alpha/chargers/c1/evses/2")
	if !ok || got != expect {
		t.Errorf("loop got %+v, want %+v", got, expect)
	}
	if resp.GetName() != "sites/alpha/chargers/c1/evses/2" || resp.GetNeeds().GetEnergyKwh() != 30.5 {
		t.Errorf("response %v", resp)
	}
	// all unset clears
	must(e.alloc.SetChargingNeeds(as("admin"), &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/2", Needs: &pb.ChargingNeeds{}}))(t)
	if got, _ := e.loop.Needs("sites/alpha/chargers/c1/evses/2"); got != (site.ChargingNeeds{}) {
		t.Errorf("after clearing: %+v", got)
	}

	needs := func(n *pb.ChargingNeeds) *pb.SetChargingNeedsRequest {
		return &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", Needs: n}
	}
	for _, c := range []struct {
		name  string
		req   *pb.SetChargingNeedsRequest
		loop  error
		code  codes.Code
		field string
	}{
		{"charger, not EVSE", &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1", Needs: &pb.ChargingNeeds{}}, nil, codes.InvalidArgument, "name"},
		{"EVSE 0", &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/0", Needs: &pb.ChargingNeeds{}}, nil, codes.InvalidArgument, "name"},
		{"no needs", &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1"}, nil, codes.InvalidArgument, "needs"},
		{"negative energy", needs(&pb.ChargingNeeds{EnergyKwh: -1}), nil, codes.InvalidArgument, "needs.energy_kwh"},
		{"NaN energy", needs(&pb.ChargingNeeds{EnergyKwh: math.NaN()}), nil, codes.InvalidArgument, "needs.energy_kwh"},
		{"departure in the past", needs(&pb.ChargingNeeds{DepartureTime: timestamppb.New(t0.Add(-time.Minute))}), nil, codes.InvalidArgument, "needs.departure_time"},
		{"min above max", needs(&pb.ChargingNeeds{MaxCurrent: 10, MinCurrent: 12}), nil, codes.InvalidArgument, "needs.min_current"},
		{"negative max", needs(&pb.ChargingNeeds{MaxCurrent: -3}), nil, codes.InvalidArgument, "needs.max_current"},
		{"unknown EVSE", &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/3", Needs: &pb.ChargingNeeds{}}, nil, codes.NotFound, ""},
		{"unknown charger", &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c7/evses/1", Needs: &pb.ChargingNeeds{}}, nil, codes.NotFound, ""},
		{"foreign site", &pb.SetChargingNeedsRequest{Name: "sites/beta/chargers/c1/evses/1", Needs: &pb.ChargingNeeds{}}, nil, codes.PermissionDenied, ""},
		{"the loop refuses energy", needs(&pb.ChargingNeeds{EnergyKwh: 1}), badField("needs.energy", "no"), codes.InvalidArgument, "needs.energy_kwh"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.loop.SetErr(c.loop)
			defer e.loop.SetErr(nil)
			_, err := e.alloc.SetChargingNeeds(as("owner"), c.req)
			want(t, err, c.code, c.field)
		})
	}
	_, err := e.alloc.SetChargingNeeds(as("admin"), &pb.SetChargingNeedsRequest{Name: "sites/gamma/chargers/c1/evses/1", Needs: &pb.ChargingNeeds{}})
	want(t, err, codes.NotFound, "")
}

func TestSetPriority(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{})
	resp := must(e.alloc.SetPriority(as("owner"), &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1", Priority: 2.5}))(t)
	if !equalStrings(resp.GetEvses(), []string{"sites/alpha/chargers/c1/evses/1", "sites/alpha/chargers/c1/evses/2"}) || resp.GetPriority() != 2.5 {
		t.Errorf("response %v", resp)
	}
	for _, n := range resp.GetEvses() {
		if p, _ := e.loop.Priority(n); p != 2.5 {
			t.Errorf("%s: priority %v", n, p)
		}
	}
	resp = must(e.alloc.SetPriority(as("admin"), &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1/evses/2"}))(t)
	if p, _ := e.loop.Priority("sites/alpha/chargers/c1/evses/2"); p != 0 || resp.GetPriority() != 1 || len(resp.GetEvses()) != 1 {
		t.Errorf("default priority: loop %v, response %v", p, resp)
	}
	for _, c := range []struct {
		name  string
		req   *pb.SetPriorityRequest
		code  codes.Code
		field string
	}{
		{"negative", &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1", Priority: -1}, codes.InvalidArgument, "priority"},
		{"too high", &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1", Priority: 101}, codes.InvalidArgument, "priority"},
		{"NaN", &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1", Priority: math.NaN()}, codes.InvalidArgument, "priority"},
		{"site name", &pb.SetPriorityRequest{Name: "sites/alpha", Priority: 1}, codes.InvalidArgument, "name"},
		{"EVSE with leading zero", &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1/evses/01", Priority: 1}, codes.InvalidArgument, "name"},
		{"unknown EVSE", &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1/evses/9", Priority: 1}, codes.NotFound, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.alloc.SetPriority(as("owner"), c.req)
			want(t, err, c.code, c.field)
		})
	}
}

// TestTriggerAfterChange: every change of a site's configuration or grid
// limits through the API triggers the loop for that site at once; reads,
// refused changes and dry runs do not.
func TestTriggerAfterChange(t *testing.T) {
	cases := []struct {
		name    string
		call    func(e *env) error
		trigger []string
	}{
		{"SetGridLimit", func(e *env) error {
			_, err := e.limits.SetGridLimit(as("ems"), &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems2",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(20)}})
			return err
		}, []string{"alpha"}},
		{"UpdateGridLimit", func(e *env) error {
			_, err := e.limits.UpdateGridLimit(as("owner"), &pb.UpdateGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/dso", Limit: pc(45)}})
			return err
		}, []string{"alpha"}},
		{"DeleteGridLimit", func(e *env) error {
			_, err := e.limits.DeleteGridLimit(as("owner"), &pb.DeleteGridLimitRequest{Name: "sites/alpha/gridLimits/dso"})
			return err
		}, []string{"alpha"}},
		{"UpdateSite grid limit", func(e *env) error {
			_, err := e.sites.UpdateSite(as("owner"), &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", GridLimit: pc(70)}, UpdateMask: mask("grid_limit")})
			return err
		}, []string{"alpha"}},
		{"UpdateCircuit", func(e *env) error {
			_, err := e.circuits.UpdateCircuit(as("owner"), &pb.UpdateCircuitRequest{Circuit: &pb.Circuit{Name: "sites/alpha/circuits/sub", Limit: pc(25)}})
			return err
		}, []string{"alpha"}},
		{"CreateCharger", func(e *env) error {
			_, err := e.chargers.CreateCharger(as("owner"), &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c2",
				Charger: &pb.Charger{OcppIdentity: "CP-002", Evses: evses(16)}})
			return err
		}, []string{"alpha"}},
		{"ApplySiteConfig", func(e *env) error {
			c := alphaConfig()
			c.Circuits[1].Limit = pc(30)
			_, err := e.sites.ApplySiteConfig(as("owner"), &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c})
			return err
		}, []string{"alpha"}},
		{"CreateSite", func(e *env) error {
			_, err := e.sites.CreateSite(as("admin"), &pb.CreateSiteRequest{SiteId: "gamma", Site: &pb.Site{GridLimit: pc(10)}})
			return err
		}, []string{"gamma"}},
		{"dry run", func(e *env) error {
			c := alphaConfig()
			c.Circuits[1].Limit = pc(30)
			_, err := e.sites.ApplySiteConfig(as("owner"), &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c, DryRun: true})
			return err
		}, nil},
		{"refused change", func(e *env) error {
			_, err := e.limits.SetGridLimit(as("ems"), &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems2",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(-1)}})
			if status.Code(err) != codes.InvalidArgument {
				return fmt.Errorf("want INVALID_ARGUMENT, got %v", err)
			}
			return nil
		}, nil},
		{"read", func(e *env) error {
			_, err := e.limits.GetEffectiveGridLimit(as("ems"), &pb.GetEffectiveGridLimitRequest{Name: "sites/alpha/effectiveGridLimit"})
			return err
		}, nil},
	}
	for _, f := range factories(t)[:2] {
		for _, c := range cases {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				e := newEnv(t, f, envOpts{})
				if err := c.call(e); err != nil {
					t.Fatal(err)
				}
				if got := e.loop.Triggers(); !equalStrings(got, c.trigger) {
					t.Errorf("triggers %v, want %v", got, c.trigger)
				}
			})
		}
	}
}

// TestNoControlLoop: without a loop the allocation RPCs fail with
// FAILED_PRECONDITION (NO_CONTROL_LOOP) and changes still work.
func TestNoControlLoop(t *testing.T) {
	e := newEnv(t, memFactory, envOpts{noLoop: true})
	for _, r := range allRPCs {
		if methodActions["/smartcharge.v1.AllocationService/"+r.name] == 0 {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			err := r.call(as("admin"), e, pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, "")
			want(t, err, codes.FailedPrecondition, "")
			if got := errorInfo(t, err).Reason; got != ReasonNoControlLoop {
				t.Errorf("reason %s", got)
			}
		})
	}
	_, err := e.limits.SetGridLimit(as("admin"), &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/x",
		Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, Limit: pc(20)}})
	want(t, err, codes.OK, "")
}

func TestBindingFromReason(t *testing.T) {
	for _, c := range []struct {
		name, code, reason string
		want               *pb.BindingConstraint
	}{
		{"circuit phase", "PHASE_LIMIT", "limited by circuit hall-a phase L2",
			&pb.BindingConstraint{Node: "sites/s/circuits/hall-a", NodeKind: pb.NodeKind_NODE_KIND_CIRCUIT, Phase: pb.Phase_PHASE_L2}},
		{"grid connection", "NO_ROOM", "paused, no room grid connection phase L1",
			&pb.BindingConstraint{Node: "sites/s", NodeKind: pb.NodeKind_NODE_KIND_GRID, Phase: pb.Phase_PHASE_L1}},
		{"infeasible with amount", "INFEASIBLE", "paused, infeasible circuit c1 phase L3 over by 3.0 A",
			&pb.BindingConstraint{Node: "sites/s/circuits/c1", NodeKind: pb.NodeKind_NODE_KIND_CIRCUIT, Phase: pb.Phase_PHASE_L3}},
		{"external limit on a charger", "EXTERNAL_LIMIT", "limited by external limit EMS on charger cp-1 phase L1",
			&pb.BindingConstraint{Node: "sites/s/chargers/cp-1", NodeKind: pb.NodeKind_NODE_KIND_CHARGER, Phase: pb.Phase_PHASE_L1}},
		{"power limit, no phase", "POWER_LIMIT", "limited by power limit of grid connection",
			&pb.BindingConstraint{Node: "sites/s", NodeKind: pb.NodeKind_NODE_KIND_GRID}},
		{"code without node", "AT_MAX", "at EVSE maximum circuit x phase L1", nil},
		{"no node in text", "PHASE_LIMIT", "limited by", nil},
		{"grid with an id", "PHASE_LIMIT", "limited by grid main phase L1", nil},
		{"circuit called connection is fine", "PHASE_LIMIT", "limited by circuit connection", &pb.BindingConstraint{Node: "sites/s/circuits/connection", NodeKind: pb.NodeKind_NODE_KIND_CIRCUIT}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := bindingFromReason("s", c.code, c.reason)
			if !proto.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseEVSEName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
		evse int
	}{
		{"sites/a/chargers/b/evses/1", true, 1},
		{"sites/a/chargers/b/evses/32", true, 32},
		{"sites/a/chargers/b/evses/33", false, 0},
		{"sites/a/chargers/b/evses/0", false, 0},
		{"sites/a/chargers/b/evses/01", false, 0},
		{"sites/a/chargers/b/evses/+1", false, 0},
		{"sites/a/chargers/b/evses/", false, 0},
		{"sites/a/chargers/b/evses/1/x", false, 0},
		{"sites/a/chargers/b/evses/1/evses/1", false, 0},
		{"sites/evses/chargers/evses/evses/3", true, 3},
		{"sites/a/circuits/b/evses/1", false, 0},
		{"sites/A/chargers/b/evses/1", false, 0},
		{"", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref, n, err := parseEVSEName(c.name)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if c.ok && (n != c.evse || evseName(ref, n) != c.name) {
				t.Errorf("got %v %d", ref, n)
			}
		})
	}
}
