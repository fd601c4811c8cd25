package apiserver

import (
	"context"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// fakePlanner stands in for the planning runner: it reads plans from the
// store, records replans, and publishes plans the test puts.
type fakePlanner struct {
	store *redisstore.Store

	mu       sync.Mutex
	replans  []string
	watchers map[chan site.PlanUpdate]struct{}
}

func (f *fakePlanner) Replan(siteID, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replans = append(f.replans, siteID+":"+reason)
}

func (f *fakePlanner) Replans() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.replans)
}

func (f *fakePlanner) Plan(ctx context.Context, siteID string) (site.Plan, error) {
	return f.store.Plan(ctx, siteID)
}

func (f *fakePlanner) WatchPlan(ctx context.Context, siteID string) (<-chan site.PlanUpdate, error) {
	ch := make(chan site.PlanUpdate, 16)
	if p, err := f.store.Plan(ctx, siteID); err == nil {
		ch <- site.PlanUpdate{Seq: p.Seq, Plan: p}
	}
	f.mu.Lock()
	f.watchers[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.watchers, ch)
		f.mu.Unlock()
	}()
	return ch, nil
}

// put stores p and sends it to the watchers.
func (f *fakePlanner) put(t *testing.T, p site.Plan) site.Plan {
	t.Helper()
	p, err := f.store.PutPlan(context.Background(), p.SiteID, p)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.watchers {
		ch <- site.PlanUpdate{Seq: p.Seq, Plan: p}
	}
	return p
}

func (f *fakePlanner) watching() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

type planEnv struct {
	store   *redisstore.Store
	clock   *fakeClock
	loop    *fakeLoop
	planner *fakePlanner
	plans   pb.PlanServiceClient
	sites   pb.SiteServiceClient
}

// newPlanEnv serves every service plus PlanService (on a Redis store at
// addr; noBackend: without planning) on a real listener.
func newPlanEnv(t *testing.T, addr string, noBackend bool) *planEnv {
	t.Helper()
	clock := &fakeClock{t: t0}
	store := redisFactory("plan", addr).make(t, clock).(*redisstore.Store)
	loop := newFakeLoop()
	srv := New(store, &Options{Auth: testAuth(false), Clock: clock, Allocations: loop, Loop: loop})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	fp := &fakePlanner{store: store, watchers: map[chan site.PlanUpdate]struct{}{}}
	var b *PlanBackend
	if !noBackend {
		b = &PlanBackend{Inputs: store, Plans: fp, Trigger: fp}
	}
	srv.RegisterPlanService(gs, b)
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
	e := &planEnv{store: store, clock: clock, loop: loop, planner: fp,
		plans: pb.NewPlanServiceClient(conn), sites: pb.NewSiteServiceClient(conn)}
	if _, err := e.sites.ApplySiteConfig(as("admin"), &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: alphaConfig()}); err != nil {
		t.Fatalf("seed alpha: %v", err)
	}
	if _, err := e.sites.CreateSite(as("admin"), &pb.CreateSiteRequest{SiteId: "beta",
		Site: &pb.Site{TimeZone: "UTC", GridLimit: &pb.PhaseCurrents{L1: 100, L2: 100, L3: 100}}}); err != nil {
		t.Fatalf("seed beta: %v", err)
	}
	return e
}

func tsAt(h float64) *timestamppb.Timestamp {
	return timestamppb.New(t0.Add(time.Duration(h * float64(time.Hour))))
}

func points(vals ...float64) []*pb.TimeSeriesPoint {
	out := make([]*pb.TimeSeriesPoint, len(vals))
	for i, v := range vals {
		out[i] = &pb.TimeSeriesPoint{StartTime: tsAt(float64(i)), Value: v}
	}
	return out
}

func planBackendAddrs(t *testing.T) map[string]string {
	return map[string]string{"miniredis": miniredis.RunT(t).Addr(), "redis-server": redistest.Start(t)}
}

// TestPlanInputsRPC: prices, limit schedule, forecasts and settings are
// stored as given, read back, and each change asks for a plan.
func TestPlanInputsRPC(t *testing.T) {
	for name, addr := range planBackendAddrs(t) {
		t.Run(name, func(t *testing.T) {
			e := newPlanEnv(t, addr, false)
			ctx := as("owner")

			prices := &pb.Prices{Name: "sites/alpha/prices", CurrencyCode: "EUR", ImportPrices: points(0.40, 0.10), ExportPrices: points(0.05), Co2Intensity: points(300)}
			got := must(e.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: prices}))(t).GetPrices()
			if len(got.GetImportPrices()) != 2 || got.GetImportPrices()[1].GetValue() != 0.10 || got.GetUpdateTime().AsTime() != t0 || got.GetCurrencyCode() != "EUR" {
				t.Fatalf("SetPrices returned %v", got)
			}
			read := must(e.plans.GetPrices(as("viewer"), &pb.GetPricesRequest{Name: "sites/alpha/prices"}))(t).GetPrices()
			if len(read.GetExportPrices()) != 1 || read.GetCo2Intensity()[0].GetValue() != 300 || !read.GetImportPrices()[1].GetStartTime().AsTime().Equal(t0.Add(time.Hour)) {
				t.Fatalf("GetPrices %v", read)
			}

			sched := &pb.LimitSchedule{Name: "sites/alpha/limitSchedule", Windows: []*pb.LimitWindow{
				{Node: "sites/alpha", StartTime: tsAt(5), EndTime: tsAt(8), Limit: &pb.PhaseCurrents{L1: 40, L2: 40, L3: 40}, Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR, Reason: "§14a"},
				{Node: "sites/alpha/circuits/sub", StartTime: tsAt(0), EndTime: tsAt(1), PowerLimitKw: 11},
			}}
			gs := must(e.plans.SetLimitSchedule(ctx, &pb.SetLimitScheduleRequest{LimitSchedule: sched}))(t).GetLimitSchedule()
			if len(gs.GetWindows()) != 2 || gs.GetWindows()[1].GetNode() != "sites/alpha/circuits/sub" || gs.GetWindows()[1].GetSource() != pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER ||
				gs.GetWindows()[1].GetPowerLimitKw() != 11 {
				t.Fatalf("SetLimitSchedule returned %v", gs)
			}
			in, err := e.store.PlanInputs(context.Background(), "alpha")
			if err != nil || len(in.Limits.Windows) != 2 || in.Limits.Windows[0].Node != "" || in.Limits.Windows[1].Node != "sub" || in.Limits.Windows[1].PowerLimit != 11000 {
				t.Fatalf("stored schedule %+v, %v", in.Limits, err)
			}

			load := &pb.Forecast{Node: "sites/alpha", Kind: pb.ForecastKind_FORECAST_KIND_LOAD,
				Points: []*pb.PhaseSeriesPoint{{StartTime: tsAt(0), Current: &pb.PhaseCurrents{L1: 10, L2: 8, L3: 6}}}}
			pv := &pb.Forecast{Node: "sites/alpha", Kind: pb.ForecastKind_FORECAST_KIND_PV, EndTime: tsAt(4),
				Points: []*pb.PhaseSeriesPoint{{StartTime: tsAt(2), Current: &pb.PhaseCurrents{L1: 20, L2: 20, L3: 20}}}}
			must(e.plans.SetForecasts(as("ems"), &pb.SetForecastsRequest{Forecasts: &pb.Forecasts{Name: "sites/alpha/forecasts", Forecasts: []*pb.Forecast{load}}}))(t)
			fs := must(e.plans.SetForecasts(as("ems"), &pb.SetForecastsRequest{Forecasts: &pb.Forecasts{Name: "sites/alpha/forecasts", Forecasts: []*pb.Forecast{pv}}}))(t).GetForecasts()
			if len(fs.GetForecasts()) != 2 {
				t.Fatalf("merged forecasts: %v", fs)
			}
			load.Points[0].Current.L1 = 12
			fs = must(e.plans.SetForecasts(as("ems"), &pb.SetForecastsRequest{Forecasts: &pb.Forecasts{Name: "sites/alpha/forecasts", Forecasts: []*pb.Forecast{load}}, ReplaceAll: true}))(t).GetForecasts()
			if len(fs.GetForecasts()) != 1 || fs.GetForecasts()[0].GetPoints()[0].GetCurrent().GetL1() != 12 {
				t.Fatalf("replace_all: %v", fs)
			}
			got2 := must(e.plans.GetForecasts(as("viewer"), &pb.GetForecastsRequest{Name: "sites/alpha/forecasts"}))(t).GetForecasts()
			if len(got2.GetForecasts()) != 1 || got2.GetForecasts()[0].GetKind() != pb.ForecastKind_FORECAST_KIND_LOAD {
				t.Fatalf("GetForecasts %v", got2)
			}

			st := must(e.plans.SetPlanSettings(ctx, &pb.SetPlanSettingsRequest{PlanSettings: &pb.PlanSettings{Name: "sites/alpha/planSettings",
				Slot: durationpb.New(30 * time.Minute), Horizon: durationpb.New(36 * time.Hour), DefaultEnergyKwh: 12.5}}))(t).GetPlanSettings()
			if st.GetSlot().AsDuration() != 30*time.Minute || st.GetDefaultEnergyKwh() != 12.5 {
				t.Fatalf("settings %v", st)
			}
			st = must(e.plans.GetPlanSettings(as("viewer"), &pb.GetPlanSettingsRequest{Name: "sites/alpha/planSettings"}))(t).GetPlanSettings()
			if st.GetHorizon().AsDuration() != 36*time.Hour {
				t.Fatalf("GetPlanSettings %v", st)
			}
			want := []string{"alpha:prices", "alpha:limits", "alpha:forecasts", "alpha:forecasts", "alpha:forecasts", "alpha:settings"}
			if got := e.planner.Replans(); !slices.Equal(got, want) {
				t.Fatalf("replans %v, want %v", got, want)
			}
		})
	}
}

// TestPlanBadRequests: every bad field is INVALID_ARGUMENT naming it;
// nothing is stored and no plan is asked for.
func TestPlanBadRequests(t *testing.T) {
	e := newPlanEnv(t, miniredis.RunT(t).Addr(), false)
	ctx := as("admin")
	nan := math.NaN()
	past := timestamppb.New(t0.Add(-time.Minute))
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"prices missing", func() error { _, err := e.plans.SetPrices(ctx, &pb.SetPricesRequest{}); return err }, "prices"},
		{"prices bad name", func() error {
			_, err := e.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/alpha/price", ImportPrices: points(1)}})
			return err
		}, "prices.name"},
		{"price NaN", func() error {
			_, err := e.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/alpha/prices", ImportPrices: points(0.1, nan)}})
			return err
		}, "prices.import_prices[1].value"},
		{"price points out of order", func() error {
			p := points(0.1, 0.2)
			p[1].StartTime = tsAt(0)
			_, err := e.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/alpha/prices", ImportPrices: p}})
			return err
		}, "prices.import_prices[1].start_time"},
		{"export without import", func() error {
			_, err := e.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/alpha/prices", ExportPrices: points(0.1)}})
			return err
		}, "prices.import_prices"},
		{"bad currency", func() error {
			_, err := e.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/alpha/prices", CurrencyCode: "euro", ImportPrices: points(1)}})
			return err
		}, "prices.currency_code"},
		{"window ends before it starts", func() error {
			_, err := e.plans.SetLimitSchedule(ctx, &pb.SetLimitScheduleRequest{LimitSchedule: &pb.LimitSchedule{Name: "sites/alpha/limitSchedule",
				Windows: []*pb.LimitWindow{{StartTime: tsAt(2), EndTime: tsAt(1), Limit: &pb.PhaseCurrents{L1: 10}}}}})
			return err
		}, "limit_schedule.windows[0].end_time"},
		{"window on an unknown circuit", func() error {
			_, err := e.plans.SetLimitSchedule(ctx, &pb.SetLimitScheduleRequest{LimitSchedule: &pb.LimitSchedule{Name: "sites/alpha/limitSchedule",
				Windows: []*pb.LimitWindow{{Node: "sites/alpha/circuits/nope", StartTime: tsAt(1), EndTime: tsAt(2), Limit: &pb.PhaseCurrents{L1: 10}}}}})
			return err
		}, "limit_schedule.windows[0].node"},
		{"window limits nothing", func() error {
			_, err := e.plans.SetLimitSchedule(ctx, &pb.SetLimitScheduleRequest{LimitSchedule: &pb.LimitSchedule{Name: "sites/alpha/limitSchedule",
				Windows: []*pb.LimitWindow{{StartTime: tsAt(1), EndTime: tsAt(2)}}}})
			return err
		}, "limit_schedule.windows[0].limit"},
		{"window connection source", func() error {
			_, err := e.plans.SetLimitSchedule(ctx, &pb.SetLimitScheduleRequest{LimitSchedule: &pb.LimitSchedule{Name: "sites/alpha/limitSchedule",
				Windows: []*pb.LimitWindow{{StartTime: tsAt(1), EndTime: tsAt(2), Limit: &pb.PhaseCurrents{L1: 10}, Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION}}}})
			return err
		}, "limit_schedule.windows[0].source"},
		{"forecast without kind", func() error {
			_, err := e.plans.SetForecasts(ctx, &pb.SetForecastsRequest{Forecasts: &pb.Forecasts{Name: "sites/alpha/forecasts",
				Forecasts: []*pb.Forecast{{Points: []*pb.PhaseSeriesPoint{{StartTime: tsAt(0)}}}}}})
			return err
		}, "forecasts.forecasts[0].kind"},
		{"negative PV", func() error {
			_, err := e.plans.SetForecasts(ctx, &pb.SetForecastsRequest{Forecasts: &pb.Forecasts{Name: "sites/alpha/forecasts",
				Forecasts: []*pb.Forecast{{Kind: pb.ForecastKind_FORECAST_KIND_PV, Points: []*pb.PhaseSeriesPoint{{StartTime: tsAt(0), Current: &pb.PhaseCurrents{L2: -1}}}}}}})
			return err
		}, "forecasts.forecasts[0].points[0].current.l2"},
		{"two forecasts of one kind and node", func() error {
			f := &pb.Forecast{Kind: pb.ForecastKind_FORECAST_KIND_LOAD, Points: []*pb.PhaseSeriesPoint{{StartTime: tsAt(0)}}}
			_, err := e.plans.SetForecasts(ctx, &pb.SetForecastsRequest{Forecasts: &pb.Forecasts{Name: "sites/alpha/forecasts", Forecasts: []*pb.Forecast{f, f}}})
			return err
		}, "forecasts.forecasts[1]"},
		{"slot of 7 minutes", func() error {
			_, err := e.plans.SetPlanSettings(ctx, &pb.SetPlanSettingsRequest{PlanSettings: &pb.PlanSettings{Name: "sites/alpha/planSettings", Slot: durationpb.New(7 * time.Minute)}})
			return err
		}, "plan_settings.slot"},
		{"horizon of 3 days", func() error {
			_, err := e.plans.SetPlanSettings(ctx, &pb.SetPlanSettingsRequest{PlanSettings: &pb.PlanSettings{Name: "sites/alpha/planSettings", Horizon: durationpb.New(72 * time.Hour)}})
			return err
		}, "plan_settings.horizon"},
		{"needs: bad EVSE name", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/0", EnergyKwh: 10})
			return err
		}, "name"},
		{"needs: energy and SoC", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", EnergyKwh: 10, TargetSocPercent: 80, BatteryCapacityKwh: 50})
			return err
		}, "target_soc_percent"},
		{"needs: SoC above 100", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", TargetSocPercent: 120, BatteryCapacityKwh: 50})
			return err
		}, "target_soc_percent"},
		{"needs: SoC without battery", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", TargetSocPercent: 80})
			return err
		}, "battery_capacity_kwh"},
		{"needs: battery without SoC", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", BatteryCapacityKwh: 50})
			return err
		}, "target_soc_percent"},
		{"needs: departure passed", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", EnergyKwh: 10, DepartureTime: past})
			return err
		}, "departure_time"},
		{"needs: negative energy", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", EnergyKwh: -1})
			return err
		}, "energy_kwh"},
		{"needs: min above max", func() error {
			_, err := e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", MaxCurrent: 10, MinCurrent: 12})
			return err
		}, "min_current"},
		{"plan: bad name", func() error {
			_, err := e.plans.GetPlan(ctx, &pb.GetPlanRequest{Name: "sites/alpha"})
			return err
		}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, tc.call(), codes.InvalidArgument, tc.field)
		})
	}
	if r := e.planner.Replans(); len(r) != 0 {
		t.Fatalf("bad requests asked for plans: %v", r)
	}
	if in, _ := e.store.PlanInputs(context.Background(), "alpha"); in.Seq != 0 {
		t.Fatalf("bad requests changed the inputs: seq %d", in.Seq)
	}
}

// TestPlanAccess: roles and sites, and a site owner's schedule leaves an
// EMS's windows alone.
func TestPlanAccess(t *testing.T) {
	e := newPlanEnv(t, miniredis.RunT(t).Addr(), false)
	prices := func(site string) *pb.SetPricesRequest {
		return &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/" + site + "/prices", ImportPrices: points(0.3)}}
	}
	_, err := e.plans.SetPrices(as("viewer"), prices("alpha"))
	want(t, err, codes.PermissionDenied, "")
	_, err = e.plans.SetPrices(as("csms"), prices("alpha"))
	want(t, err, codes.PermissionDenied, "")
	_, err = e.plans.SetPrices(as("owner"), prices("beta"))
	want(t, err, codes.PermissionDenied, "")
	_, err = e.plans.GetPlan(as("viewer"), &pb.GetPlanRequest{Name: "sites/beta/plan"})
	want(t, err, codes.PermissionDenied, "")
	_, err = e.plans.SetPrices(as(""), prices("alpha"))
	want(t, err, codes.Unauthenticated, "")
	must(e.plans.SetPrices(as("ems"), prices("alpha")))(t)
	_, err = e.plans.SetPlanSettings(as("ems"), &pb.SetPlanSettingsRequest{PlanSettings: &pb.PlanSettings{Name: "sites/alpha/planSettings"}})
	want(t, err, codes.PermissionDenied, "")
	_, err = e.plans.SetSessionNeeds(as("ems"), &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", EnergyKwh: 1})
	want(t, err, codes.PermissionDenied, "")
	_, err = e.plans.GetPrices(as("admin"), &pb.GetPricesRequest{Name: "sites/nope/prices"})
	want(t, err, codes.NotFound, "")

	win := func(src pb.GridLimitSource, l1 float64) *pb.LimitWindow {
		return &pb.LimitWindow{StartTime: tsAt(1), EndTime: tsAt(2), Limit: &pb.PhaseCurrents{L1: l1}, Source: src}
	}
	sched := func(ws ...*pb.LimitWindow) *pb.SetLimitScheduleRequest {
		return &pb.SetLimitScheduleRequest{LimitSchedule: &pb.LimitSchedule{Name: "sites/alpha/limitSchedule", Windows: ws}}
	}
	_, err = e.plans.SetLimitSchedule(as("ems"), sched(win(pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, 10)))
	want(t, err, codes.PermissionDenied, "")
	must(e.plans.SetLimitSchedule(as("ems"), sched(win(pb.GridLimitSource_GRID_LIMIT_SOURCE_UNSPECIFIED, 20))))(t)
	got := must(e.plans.SetLimitSchedule(as("owner"), sched(win(pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR, 30))))(t).GetLimitSchedule()
	if len(got.GetWindows()) != 2 || got.GetWindows()[0].GetSource() != pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS {
		t.Fatalf("the owner's schedule dropped the EMS window: %v", got)
	}
	got = must(e.plans.SetLimitSchedule(as("owner"), sched()))(t).GetLimitSchedule()
	if len(got.GetWindows()) != 1 || got.GetWindows()[0].GetLimit().GetL1() != 20 {
		t.Fatalf("clearing the owner's windows: %v", got)
	}
}

// TestPlanGetAndWatch: GetPlan before and after a plan; WatchPlan sends
// the current plan then each new one, with resource names.
func TestPlanGetAndWatch(t *testing.T) {
	e := newPlanEnv(t, redistest.Start(t), false)
	p := must(e.plans.GetPlan(as("viewer"), &pb.GetPlanRequest{Name: "sites/alpha/plan"}))(t).GetPlan()
	if p.GetSeq() != 0 || p.GetName() != "sites/alpha/plan" || len(p.GetSessions()) != 0 {
		t.Fatalf("no plan yet: %v", p)
	}
	mk := func(cost float64) site.Plan {
		return site.Plan{SiteID: "alpha", ComputedAt: t0, Trigger: "test", Start: t0, Slot: time.Hour, Slots: 2, Currency: "EUR",
			Energy: 11040, Cost: cost, Exact: true,
			Sessions: []site.SessionPlan{{ChargerID: "c1", EVSE: 1, TransactionID: "7", Departure: t0.Add(2 * time.Hour), Need: 11040, Source: site.NeedEnergy,
				Energy: 11040, Met: true, Cost: cost, Current: []site.Amps{0, 16}, Duration: 2 * time.Hour,
				Periods: []site.PlanPeriod{{Start: t0, Limit: 0, Unit: site.UnitAmps, Phases: 3}, {Start: t0.Add(time.Hour), Limit: 16, Unit: site.UnitAmps, Phases: 3}},
				WhyNot:  []site.WhyNot{{From: 0, To: 0, Code: "price", Reason: "cheaper later"}, {From: 1, To: 1, Code: "node-limit", Node: "sub", NodeKind: "circuit", Reason: "full"}}}},
			Nodes: []site.NodePlan{{ID: "", Kind: "grid", Ours: []site.PhaseCurrents{{}, site.Uniform(16)}, Total: []site.PhaseCurrents{{}, site.Uniform(16)}, Limit: []site.PhaseCurrents{site.Uniform(50), site.Uniform(50)}},
				{ID: "sub", Kind: "circuit", Ours: []site.PhaseCurrents{{}, site.Uniform(16)}, Total: []site.PhaseCurrents{{}, site.Uniform(16)}}},
		}
	}
	e.planner.put(t, mk(1.5))
	p = must(e.plans.GetPlan(as("viewer"), &pb.GetPlanRequest{Name: "sites/alpha/plan"}))(t).GetPlan()
	s := p.GetSessions()[0]
	if p.GetSeq() != 1 || p.GetSlotCount() != 2 || p.GetExpectedEnergyKwh() != 11.04 || p.GetExpectedCost() != 1.5 || p.GetCurrencyCode() != "EUR" ||
		s.GetEvse() != "sites/alpha/chargers/c1/evses/1" || !s.GetNeedMet() || s.GetNeedSource() != pb.NeedSource_NEED_SOURCE_ENERGY ||
		len(s.GetPeriods()) != 2 || s.GetPeriods()[1].GetLimit() != 16 || s.GetPeriods()[1].GetUnit() != pb.ChargingRateUnit_CHARGING_RATE_UNIT_A ||
		s.GetSlotCurrents()[1] != 16 || s.GetWhyNot()[1].GetNode() != "sites/alpha/circuits/sub" || s.GetWhyNot()[0].GetNode() != "" ||
		p.GetNodes()[0].GetNode() != "sites/alpha" || p.GetNodes()[1].GetKind() != pb.NodeKind_NODE_KIND_CIRCUIT || p.GetNodes()[0].GetLimit()[1].GetL2() != 50 {
		t.Fatalf("GetPlan %v", p)
	}

	ctx, cancel := context.WithCancel(as("viewer"))
	defer cancel()
	stream, err := e.plans.WatchPlan(ctx, &pb.WatchPlanRequest{Name: "sites/alpha/plan"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetPlan().GetSeq() != 1 {
		t.Fatalf("first watch message: %v, %v", first, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.planner.watching() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	e.planner.put(t, mk(2.5))
	second, err := stream.Recv()
	if err != nil || second.GetPlan().GetSeq() != 2 || second.GetPlan().GetExpectedCost() != 2.5 {
		t.Fatalf("second watch message: %v, %v", second, err)
	}
	cancel()
	if _, err := stream.Recv(); err == nil || err == io.EOF {
		t.Fatalf("after cancel: %v", err)
	}
}

// TestSetSessionNeeds: an energy need goes to the control loop (as
// SetChargingNeeds); a state-of-charge target is stored for the running
// transaction; an energy need later drops the target.
func TestSetSessionNeeds(t *testing.T) {
	e := newPlanEnv(t, redistest.Start(t), false)
	ctx := as("owner")
	dep := tsAt(10)
	r := must(e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", EnergyKwh: 22.5, DepartureTime: dep, MaxCurrent: 16}))(t)
	if r.GetEnergyKwh() != 22.5 || !r.GetDepartureTime().AsTime().Equal(dep.AsTime()) {
		t.Fatalf("response %v", r)
	}
	n, ok := e.loop.Needs("sites/alpha/chargers/c1/evses/1")
	if !ok || n.Energy != 22500 || !n.Departure.Equal(dep.AsTime()) || n.MaxCurrent != 16 {
		t.Fatalf("loop got %+v, %v", n, ok)
	}
	if _, err := e.store.UpdateChargerState(context.Background(), site.ChargerRef{SiteID: "alpha", ChargerID: "c1"}, func(st *site.ChargerState) error {
		st.EVSEs = map[int]site.EVSEState{2: {Status: site.StatusCharging, Transaction: &site.Transaction{ID: "tx-9", EVSE: 2}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r = must(e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/2", TargetSocPercent: 80, BatteryCapacityKwh: 64, DepartureTime: dep}))(t)
	if r.GetTransactionId() != "tx-9" || r.GetTargetSocPercent() != 80 || r.GetEnergyKwh() != 0 {
		t.Fatalf("response %v", r)
	}
	in, err := e.store.PlanInputs(context.Background(), "alpha")
	if tg := in.Targets["c1/2"]; err != nil || tg.TargetSoC != 80 || tg.BatteryCapacity != 64000 || tg.TransactionID != "tx-9" {
		t.Fatalf("stored target %+v, %v", in.Targets, err)
	}
	if n, _ := e.loop.Needs("sites/alpha/chargers/c1/evses/2"); n.Energy != 0 || !n.Departure.Equal(dep.AsTime()) {
		t.Fatalf("loop needs with a SoC target: %+v", n)
	}
	must(e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/2", EnergyKwh: 5}))(t)
	if in, _ := e.store.PlanInputs(context.Background(), "alpha"); len(in.Targets) != 0 {
		t.Fatalf("target kept after an energy need: %+v", in.Targets)
	}
	if got := e.planner.Replans(); !slices.Equal(got, []string{"alpha:needs", "alpha:needs", "alpha:needs"}) {
		t.Fatalf("replans %v", got)
	}
	_, err = e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/c1/evses/3", EnergyKwh: 5})
	want(t, err, codes.NotFound, "")
	_, err = e.plans.SetSessionNeeds(ctx, &pb.SetSessionNeedsRequest{Name: "sites/alpha/chargers/zz/evses/1", EnergyKwh: 5})
	want(t, err, codes.NotFound, "")
}

func TestPlanWithoutBackend(t *testing.T) {
	e := newPlanEnv(t, miniredis.RunT(t).Addr(), true)
	_, err := e.plans.GetPlan(as("viewer"), &pb.GetPlanRequest{Name: "sites/alpha/plan"})
	want(t, err, codes.FailedPrecondition, "")
	_, err = e.plans.SetPrices(as("admin"), &pb.SetPricesRequest{Prices: &pb.Prices{Name: "sites/alpha/prices", ImportPrices: points(1)}})
	want(t, err, codes.FailedPrecondition, "")
}
