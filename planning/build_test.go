package planning

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/site"
)

// t0 is 17:00 on a winter weekday.
var t0 = time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

// depot: 3x63 A connection, a 3x32 A board "board" with two chargers of
// one 3-phase 16 A EVSE each, and a charger "pv" on the connection.
func depot() site.Config {
	return site.Config{
		Site:     site.Site{ID: "depot", NominalVoltage: 230, GridLimit: site.Uniform(63)},
		Circuits: []site.Circuit{{ID: "board", Limit: site.Uniform(32)}},
		Chargers: []site.Charger{
			{ID: "c1", OCPPIdentity: "CP-1", Circuit: "board", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}}},
			{ID: "c2", OCPPIdentity: "CP-2", Circuit: "board", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}}},
		},
	}
}

func car(tx string, energy site.WattHours) site.ChargerState {
	return site.ChargerState{Connected: true, EVSEs: map[int]site.EVSEState{1: {Status: site.StatusCharging,
		Transaction: &site.Transaction{ID: tx, EVSE: 1, Energy: energy}}}}
}

// hourly prices from t0: 17-21 expensive (0.40), 21-06 cheap (0.10), then 0.30.
func eveningNight() []site.SeriesPoint {
	return []site.SeriesPoint{{Start: at(0), Value: 0.40}, {Start: at(4), Value: 0.10}, {Start: at(13), Value: 0.30}}
}

func snap(mod func(*Snapshot)) Snapshot {
	s := Snapshot{Now: t0, Config: depot(), States: map[string]site.ChargerState{"c1": car("7", 0)},
		Inputs: site.PlanInputs{Settings: site.PlanSettings{Slot: time.Hour}}}
	mod(&s)
	return s
}

func needs(energy site.WattHours, dep time.Time) site.LoopState {
	return site.LoopState{Needs: map[string]site.ChargingNeeds{"c1/1": {Energy: energy, Departure: dep}}}
}

func planOf(t *testing.T, s Snapshot) (*Built, site.Plan) {
	t.Helper()
	b, err := Build(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Plan(b.Input)
	if err != nil {
		t.Fatal(err)
	}
	return b, Assemble(b, res, s.Config.Site.ID, s.Now, "test", s.Inputs.Seq)
}

// sessionEnergy sums the session's planned energy in slots [from, to).
func sessionEnergy(p site.Plan, i, from, to int) float64 {
	e := 0.0
	for k := from; k < to && k < len(p.Sessions[i].Current); k++ {
		e += float64(p.Sessions[i].Current[k]) * 230 * 3 * p.Slot.Hours()
	}
	return e
}

func TestBuildAndPlan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snap  Snapshot
		check func(t *testing.T, b *Built, p site.Plan)
	}{
		{"cheap night vs expensive evening", snap(func(s *Snapshot) {
			s.Loop = needs(20000, at(13))
			s.Inputs.Prices = site.PriceSeries{Currency: "EUR", Import: eveningNight()}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if got := []float64{float64(b.Input.Price[0]), float64(b.Input.Price[4]), float64(b.Input.Price[13])}; got[0] != 0.4 || got[1] != 0.1 || got[2] != 0.3 {
				t.Fatalf("prices per slot %v", got)
			}
			s := p.Sessions[0]
			if !s.Met || s.Source != site.NeedEnergy || s.Need != 20000 || p.Currency != "EUR" {
				t.Fatalf("session %+v", s)
			}
			if e := sessionEnergy(p, 0, 0, 4); e > 1 {
				t.Errorf("%.0f Wh planned in the expensive evening", e)
			}
			if e := sessionEnergy(p, 0, 4, 13); e < 19000 {
				t.Errorf("only %.0f Wh planned in the cheap night", e)
			}
			if math.Abs(p.Cost-float64(s.Energy)/1000*0.10) > 0.05 {
				t.Errorf("cost %.3f for %.0f Wh at 0.10/kWh", p.Cost, float64(s.Energy))
			}
			if len(s.Periods) == 0 || !s.Periods[0].Start.Equal(t0) || s.Periods[0].Limit != 0 {
				t.Errorf("periods %+v: want 0 A from now", s.Periods)
			}
			// Empty in the evening because the night is cheaper: "price"
			// (the planner said "profile" before 2026-11-25).
			if w := s.WhyNot[0]; w.From != 0 || w.To < 3 || w.Code != "price" || w.Reason == "" {
				t.Errorf("why-not %+v: want price for the evening", s.WhyNot)
			}
			// After the last slot it charges in: "need-met".
			last := 0
			for k, a := range s.Current {
				if a > 0 {
					last = k
				}
			}
			metRun := false
			for _, w := range s.WhyNot {
				metRun = metRun || (w.Code == "need-met" && w.From == last+1 && w.Reason == "the need is met by then")
			}
			if !metRun {
				t.Errorf("why-not %+v: want need-met from slot %d", s.WhyNot, last+1)
			}
		}},
		{"grid-limit window", snap(func(s *Snapshot) {
			s.Config.Circuits[0].Limit = site.Uniform(63)
			s.States["c2"] = car("8", 0)
			s.Loop = site.LoopState{Needs: map[string]site.ChargingNeeds{
				"c1/1": {Energy: 60000, Departure: at(4)}, "c2/1": {Energy: 60000, Departure: at(4)}}}
			s.Inputs.Limits.Windows = []site.LimitWindow{{From: at(1), Until: at(2), Limit: site.PhaseCurrents{20, 0, 0}, Source: site.SourceGridOperator, Reason: "dso"}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			grid := p.Nodes[0]
			if grid.Limit[1][0] != 20 || grid.Limit[1][1] != 63 || grid.Limit[0][0] != 63 {
				t.Fatalf("grid limit per slot %v", grid.Limit[:3])
			}
			if grid.Ours[1][0] > 20-0.5+1e-9 {
				t.Errorf("slot 1 plans %.1f A on L1 under a 20 A window", float64(grid.Ours[1][0]))
			}
			if grid.Ours[0][0] < 31 {
				t.Errorf("slot 0 plans only %.1f A", float64(grid.Ours[0][0]))
			}
			if !hasWhy(p.Sessions[0], "node-limit") && !hasWhy(p.Sessions[1], "node-limit") {
				t.Errorf("no node-limit explanation: %+v %+v", p.Sessions[0].WhyNot, p.Sessions[1].WhyNot)
			}
		}},
		{"configured grid limit is a window", snap(func(s *Snapshot) {
			s.Config.Limits = []site.GridLimit{{ID: "dso", Source: site.SourceGridOperator, Limit: site.Uniform(10), Start: at(2), End: at(3)}}
			s.Loop = needs(5000, at(6))
		}), func(t *testing.T, b *Built, p site.Plan) {
			if p.Nodes[0].Limit[2][0] != 10 || p.Nodes[0].Limit[3][0] != 63 {
				t.Fatalf("grid limit per slot %v", p.Nodes[0].Limit[:4])
			}
		}},
		{"PV surplus at noon", snap(func(s *Snapshot) {
			s.Now = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
			s.Loop = site.LoopState{Needs: map[string]site.ChargingNeeds{"c1/1": {Energy: 8000, Departure: s.Now.Add(9 * time.Hour)}}}
			s.Inputs.Prices = site.PriceSeries{Import: []site.SeriesPoint{{Start: s.Now, Value: 0.30}}, Export: []site.SeriesPoint{{Start: s.Now, Value: 0.05}}}
			s.Inputs.Forecasts.Forecasts = []site.Forecast{
				{Kind: site.ForecastLoad, Points: []site.PhaseSeriesPoint{{Start: s.Now, Current: site.Uniform(5)}}, End: s.Now.Add(12 * time.Hour)},
				{Kind: site.ForecastPV, Points: []site.PhaseSeriesPoint{{Start: s.Now.Add(4 * time.Hour), Current: site.Uniform(25)}}, End: s.Now.Add(6 * time.Hour)},
			}
		}), func(t *testing.T, b *Built, p site.Plan) {
			ol := b.Input.Nodes[0].OtherLoad
			if ol[0][0] != 5 || ol[4][0] != -20 || ol[6][0] != 5 {
				t.Fatalf("other load at the connection %v", ol[:7])
			}
			if e := sessionEnergy(p, 0, 4, 6); e < 7000 {
				t.Errorf("only %.0f Wh planned in the PV hours", e)
			}
			if !p.Sessions[0].Met {
				t.Error("need not met")
			}
		}},
		{"infeasible needs shared fairly", snap(func(s *Snapshot) {
			s.States["c2"] = car("8", 0)
			s.Loop = site.LoopState{Needs: map[string]site.ChargingNeeds{
				"c1/1": {Energy: 40000, Departure: at(2)}, "c2/1": {Energy: 40000, Departure: at(2)}}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			a, c := p.Sessions[0], p.Sessions[1]
			if a.Met || c.Met {
				t.Fatalf("needs met beyond the board's 32 A: %v %v", a.Energy, c.Energy)
			}
			if math.Abs(float64(a.Energy-c.Energy)) > 0.1*float64(a.Energy) {
				t.Errorf("unfair: %.0f vs %.0f Wh", float64(a.Energy), float64(c.Energy))
			}
			if float64(p.Nodes[1].Ours[0][0]) > 32-0.5+1e-9 {
				t.Errorf("board over its limit: %v", p.Nodes[1].Ours[0])
			}
		}},
		{"departure already passed", snap(func(s *Snapshot) {
			s.Loop = needs(10000, at(-1))
		}), func(t *testing.T, b *Built, p site.Plan) {
			if s := p.Sessions[0]; s.Energy != 0 || s.Met {
				t.Fatalf("planned %v Wh after departure (met %v)", s.Energy, s.Met)
			}
			if !hasWhy(p.Sessions[0], "departed") {
				t.Errorf("why-not %+v", p.Sessions[0].WhyNot)
			}
		}},
		{"session with no needs gets the default", snap(func(s *Snapshot) {
			s.Inputs.Settings.DefaultEnergy = 5000
			s.Inputs.Prices = site.PriceSeries{Import: eveningNight()}
		}), func(t *testing.T, b *Built, p site.Plan) {
			s := p.Sessions[0]
			if s.Source != site.NeedDefault || s.Need != 5000 {
				t.Fatalf("need %v from %s", s.Need, s.Source)
			}
			if e := sessionEnergy(p, 0, 0, 1); e < 4000 {
				t.Errorf("only %.0f Wh in the first hour: a session without needs charges at once, whatever the price", e)
			}
		}},
		{"energy delivered since the need was set counts", snap(func(s *Snapshot) {
			s.States["c1"] = car("7", 6000)
			s.Loop = needs(10000, at(8))
			s.Previous = &site.Plan{Baseline: map[string]site.Baseline{"c1/1": {TransactionID: "7", Need: 10000, Delivered: 1000}}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if s := p.Sessions[0]; s.Need != 5000 || p.Baseline["c1/1"].Delivered != 1000 {
				t.Fatalf("need %v (want 10000 - (6000 - 1000)), baseline %+v", s.Need, p.Baseline)
			}
		}},
		{"a new need starts a new baseline", snap(func(s *Snapshot) {
			s.States["c1"] = car("7", 6000)
			s.Loop = needs(12000, at(8))
			s.Previous = &site.Plan{Baseline: map[string]site.Baseline{"c1/1": {TransactionID: "7", Need: 10000, Delivered: 1000}}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if s := p.Sessions[0]; s.Need != 12000 || p.Baseline["c1/1"].Delivered != 6000 {
				t.Fatalf("need %v, baseline %+v", s.Need, p.Baseline)
			}
		}},
		{"need already delivered", snap(func(s *Snapshot) {
			s.States["c1"] = car("7", 9000)
			s.Loop = needs(5000, at(8))
			s.Previous = &site.Plan{Baseline: map[string]site.Baseline{"c1/1": {TransactionID: "7", Need: 5000, Delivered: 1000}}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if s := p.Sessions[0]; s.Need != 0 || !s.Met || s.Energy > 1 {
				t.Fatalf("met need: need %v energy %v met %v", s.Need, s.Energy, s.Met)
			}
		}},
		{"state-of-charge target", snap(func(s *Snapshot) {
			soc := 40.0
			st := car("7", 0)
			es := st.EVSEs[1]
			es.LastSample = &site.MeterSample{Time: t0, SoC: &soc}
			st.EVSEs[1] = es
			s.States["c1"] = st
			s.Loop = needs(0, at(8))
			s.Inputs.Targets = map[string]site.SoCTarget{"c1/1": {TargetSoC: 80, BatteryCapacity: 50000, TransactionID: "7"}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if s := p.Sessions[0]; s.Source != site.NeedSoC || math.Abs(float64(s.Need)-20000) > 1 || !s.Met {
				t.Fatalf("SoC 40->80 %% of 50 kWh: need %v from %s, met %v", s.Need, s.Source, s.Met)
			}
		}},
		{"target of another transaction is ignored", snap(func(s *Snapshot) {
			s.Loop = needs(3000, at(8))
			s.Inputs.Targets = map[string]site.SoCTarget{"c1/1": {TargetSoC: 80, BatteryCapacity: 50000, TransactionID: "6"}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if s := p.Sessions[0]; s.Source != site.NeedEnergy || s.Need != 3000 {
				t.Fatalf("need %v from %s", s.Need, s.Source)
			}
		}},
		{"inputs on unknown circuits are left out with a warning", snap(func(s *Snapshot) {
			s.Inputs.Limits.Windows = []site.LimitWindow{{Node: "nope", From: at(0), Until: at(1), Limit: site.Uniform(1)}}
			s.Inputs.Forecasts.Forecasts = []site.Forecast{{Node: "gone", Kind: site.ForecastLoad, Points: []site.PhaseSeriesPoint{{Start: t0}}}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if len(p.Warnings) != 2 || !strings.Contains(p.Warnings[0], "nope") || !strings.Contains(p.Warnings[1], "gone") {
				t.Fatalf("warnings %q", p.Warnings)
			}
		}},
		{"circuit forecast adds up at the connection", snap(func(s *Snapshot) {
			s.Inputs.Forecasts.Forecasts = []site.Forecast{{Node: "board", Kind: site.ForecastLoad,
				Points: []site.PhaseSeriesPoint{{Start: t0, Current: site.PhaseCurrents{4, 0, 2}}}, End: at(24)}}
		}), func(t *testing.T, b *Built, p site.Plan) {
			if g := b.Input.Nodes[0].OtherLoad; len(g) == 0 || g[3][0] != 4 || g[3][2] != 2 {
				t.Fatalf("connection's other load %v", g)
			}
			if got := p.Nodes[0].Total[0][0] - p.Nodes[0].Ours[0][0]; got != 4 {
				t.Errorf("total minus ours at the connection: %v", got)
			}
		}},
		{"no cars: nodes only", snap(func(s *Snapshot) {
			s.States = nil
		}), func(t *testing.T, b *Built, p site.Plan) {
			if len(p.Sessions) != 0 || len(p.Nodes) != 4 || p.Slots != 24 {
				t.Fatalf("%d sessions, %d nodes, %d slots", len(p.Sessions), len(p.Nodes), p.Slots)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, p := planOf(t, tc.snap)
			if err := p.Validate(); err != nil {
				t.Fatalf("assembled plan invalid: %v", err)
			}
			tc.check(t, b, p)
		})
	}
}

func hasWhy(s site.SessionPlan, code string) bool {
	for _, w := range s.WhyNot {
		if w.Code == code {
			return true
		}
	}
	return false
}

func TestResample(t *testing.T) {
	h := time.Hour
	pts := []site.SeriesPoint{{Start: at(1), Value: 10}, {Start: at(1.5), Value: 20}, {Start: at(3), Value: 40}}
	for _, tc := range []struct {
		name string
		got  []float64
		want []float64
	}{
		{"prices: before first, mean within, after end", priceSlots(pts, at(4), t0, h, 6), []float64{10, 15, 20, 40, 40, 40}},
		{"prices: open end", priceSlots(pts, time.Time{}, t0, h, 5), []float64{10, 15, 20, 40, 40}},
		{"prices: half-hour slots", priceSlots(pts, time.Time{}, at(1), h/2, 3), []float64{10, 20, 20}},
		{"empty", priceSlots(nil, time.Time{}, t0, h, 3), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != len(tc.want) {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
			for i := range tc.got {
				if math.Abs(tc.got[i]-tc.want[i]) > 1e-9 {
					t.Fatalf("got %v, want %v", tc.got, tc.want)
				}
			}
		})
	}
	f := site.Forecast{Kind: site.ForecastLoad, Points: []site.PhaseSeriesPoint{{Start: at(1), Current: site.PhaseCurrents{10, 0, -4}}}}
	got := forecastSlots(f, t0, h, 4) // zero End: the last point holds an hour
	want := [][3]float64{{0, 0, 0}, {10, 0, -4}, {0, 0, 0}, {0, 0, 0}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("forecast slots %v, want %v", got, want)
		}
	}
}
