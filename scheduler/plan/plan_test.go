package plan_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
)

// hourly repeats one value per hour over slots of the given length.
func hourly(slot time.Duration, hours []float64) []plan.PricePerKWh {
	per := int(time.Hour / slot)
	out := make([]plan.PricePerKWh, 0, len(hours)*per)
	for _, h := range hours {
		for range per {
			out = append(out, plan.PricePerKWh(h))
		}
	}
	return out
}

func oneNode(limit scheduler.Amps) []plan.Node {
	return []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(limit)}}
}

func mustPlan(t *testing.T, in plan.Input) plan.Result {
	t.Helper()
	res, err := plan.Plan(in)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := checkLimits(&in, &res); err != nil {
		t.Fatalf("limits: %v", err)
	}
	if err := checkProfiles(&in, &res); err != nil {
		t.Fatalf("profiles: %v", err)
	}
	return res
}

// energyIn sums a session's energy over slots [from, to).
func energyIn(in *plan.Input, sp *plan.SessionPlan, from, to int) float64 {
	e := 0.0
	for t := from; t < to; t++ {
		e += float64(sp.Current[t]) * float64(in.NominalVoltage) * float64(sp.Phases) * in.SlotLen().Hours()
	}
	return e
}

func TestPlanScenarios(t *testing.T) {
	const v = 230
	evening := time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC) // 17:00
	// 17:00-23:00 at 0.40, 23:00-07:00 at 0.15, then 0.30.
	nightPrices := hourly(15*time.Minute, []float64{
		.40, .40, .40, .40, .40, .40, .15, .15, .15, .15, .15, .15, .15, .15, .30, .30, .30, .30, .30, .30, .30, .30, .30, .30})
	rows := []struct {
		desc  string
		in    plan.Input
		check func(t *testing.T, in *plan.Input, res *plan.Result)
	}{
		{
			desc: "cheap night vs expensive evening: all energy in the night",
			in: plan.Input{Start: evening, NominalVoltage: v, Nodes: oneNode(63), Price: nightPrices,
				Sessions: []plan.Session{{ID: "van", MaxCurrent: 16, EnergyNeeded: 40000, Departure: evening.Add(13 * time.Hour)}}},
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				sp := &res.Sessions[0]
				if !sp.Met {
					t.Fatalf("need not met: %v", sp)
				}
				if e := energyIn(in, sp, 0, 24); e > 0 {
					t.Errorf("%.0f Wh planned in the expensive evening", e)
				}
				if want := 40.0 * 0.15; math.Abs(float64(res.Cost)-want) > 0.02*want {
					t.Errorf("cost %.3f, want about %.3f (all at the night price)", res.Cost, want)
				}
				for k := 0; k < 24; k++ {
					if sp.Why[k].Code != plan.WhyPrice {
						t.Errorf("slot %d: why %v, want price", k, sp.Why[k])
					}
				}
			},
		},
		{
			desc: "grid-limit window: nothing above the window's limit, need met outside it",
			in: plan.Input{Start: evening, Horizon: 6 * time.Hour, NominalVoltage: v,
				Nodes: []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(40), Windows: []plan.Window{{
					From: evening, To: evening.Add(3 * time.Hour), Limit: scheduler.Uniform(8), Source: "dso"}}}},
				Sessions: []plan.Session{
					{ID: "a", MaxCurrent: 16, EnergyNeeded: 20000},
					{ID: "b", MaxCurrent: 32, EnergyNeeded: 25000, Phases: scheduler.OnlyL1 | scheduler.OnlyL2 | scheduler.OnlyL3},
				}},
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				for k := 0; k < 12; k++ {
					for p := range 3 {
						if l := res.Nodes[0].Ours[k][p]; l > 7.5+1e-9 {
							t.Errorf("slot %d L%d: %.2f A planned in an 8 A window (0.5 A margin)", k, p+1, l)
						}
					}
				}
				for _, sp := range res.Sessions {
					if !sp.Met {
						t.Errorf("need not met: %v", &sp)
					}
				}
				// In the window, the binding limit is the explanation.
				found := false
				for k := 0; k < 12; k++ {
					for _, sp := range res.Sessions {
						found = found || (sp.Why[k].Code == plan.WhyNodeLimit && sp.Why[k].NodeID == "grid")
					}
				}
				if !found {
					t.Errorf("no session explains a window slot with the grid's limit")
				}
			},
		},
		{
			desc: "PV surplus at noon: charges from the surplus, not at the import price",
			in: func() plan.Input {
				morning := time.Date(2025, 6, 2, 6, 0, 0, 0, time.UTC)
				other := make([]scheduler.PhaseCurrents, 48)
				for k := range other {
					other[k] = scheduler.Uniform(5)
					if k >= 20 && k < 32 { // 11:00-14:00: 20 kW of PV, 5 A of building
						other[k] = scheduler.Uniform(5 - 29)
					}
				}
				return plan.Input{Start: morning, Horizon: 12 * time.Hour, NominalVoltage: v,
					Nodes:       []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(63), OtherLoad: other}},
					Price:       hourly(15*time.Minute, []float64{.30, .30, .30, .30, .30, .30, .30, .30, .30, .30, .30, .30}),
					ExportPrice: hourly(15*time.Minute, []float64{.08, .08, .08, .08, .08, .08, .08, .08, .08, .08, .08, .08}),
					Sessions:    []plan.Session{{ID: "car", MaxCurrent: 16, EnergyNeeded: 20000}}}
			}(),
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				sp := &res.Sessions[0]
				if !sp.Met {
					t.Fatalf("need not met: %v", sp)
				}
				if pv := energyIn(in, sp, 20, 32); pv < 0.99*float64(sp.Energy) {
					t.Errorf("%.0f of %.0f Wh from the PV slots", pv, sp.Energy)
				}
				if want := 20 * 0.08; math.Abs(float64(res.Cost)-want) > 0.02*want {
					t.Errorf("cost %.3f, want about %.3f (export price forgone)", res.Cost, want)
				}
			},
		},
		{
			desc: "infeasible needs shared fairly, weighted by priority",
			in: plan.Input{Start: evening, Horizon: 4 * time.Hour, NominalVoltage: v, Nodes: oneNode(24.5),
				Sessions: []plan.Session{
					{ID: "a", MaxCurrent: 32, EnergyNeeded: 60000, Departure: evening.Add(2 * time.Hour)},
					{ID: "b", MaxCurrent: 32, EnergyNeeded: 30000, Departure: evening.Add(2 * time.Hour)},
					{ID: "vip", MaxCurrent: 32, EnergyNeeded: 60000, Priority: 2, Departure: evening.Add(2 * time.Hour)},
				}},
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				// 24 A for 2 h on three phases: 33.1 kWh for 150 kWh of needs.
				// The continuous plan shares exactly; the 0-or-minimum
				// rounding may cost a session part of its share.
				planned := func(i int) float64 {
					e := 0.0
					for _, a := range res.Sessions[i].Planned {
						e += float64(a) * 3 * v / 4
					}
					return e
				}
				f := func(i int) float64 { return planned(i) / float64(res.Sessions[i].Need) }
				if math.Abs(f(0)-f(1)) > 0.001 {
					t.Errorf("equal priorities got fractions %.4f and %.4f", f(0), f(1))
				}
				if math.Abs(f(2)-2*f(0)) > 0.002 {
					t.Errorf("priority 2 got fraction %.4f, want twice %.4f", f(2), f(0))
				}
				total := 0.0
				for i, sp := range res.Sessions {
					total += float64(sp.Energy)
					if sp.Met {
						t.Errorf("%v met, but the needs cannot all be met", &sp)
					}
					if float64(sp.Energy) < 0.85*planned(i) {
						t.Errorf("%v: rounding kept %.0f of %.0f Wh", &sp, sp.Energy, planned(i))
					}
				}
				if capacity := 24.0 * 3 * v * 2; total < 0.95*capacity {
					t.Errorf("delivered %.0f Wh of %.0f Wh the grid allows", total, capacity)
				}
				if !(res.Level > 0 && res.Level < 1) {
					t.Errorf("level %v, want in (0, 1)", res.Level)
				}
			},
		},
		{
			desc: "departure already passed: nothing planned",
			in: plan.Input{Start: evening, NominalVoltage: v, Nodes: oneNode(32),
				Sessions: []plan.Session{{ID: "gone", MaxCurrent: 16, EnergyNeeded: 10000, Departure: evening.Add(-time.Minute)}}},
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				sp := &res.Sessions[0]
				if sp.Energy != 0 || sp.Met {
					t.Errorf("got %v, want nothing", sp)
				}
				if len(sp.Periods) != 1 || sp.Periods[0].Limit != 0 {
					t.Errorf("periods %v, want one 0 period", sp.Periods)
				}
				for k, w := range sp.Why {
					if w.Code != plan.WhyDeparted {
						t.Fatalf("slot %d: why %v, want departed", k, w)
					}
				}
			},
		},
		{
			desc: "session with no needs: default energy, as early as possible whatever the price",
			in: plan.Input{Start: evening, NominalVoltage: v, Nodes: oneNode(63), Price: nightPrices,
				Sessions: []plan.Session{{ID: "walk-in", MaxCurrent: 16}}},
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				sp := &res.Sessions[0]
				if !sp.NoNeeds || sp.Need != plan.DefaultConfig().DefaultEnergy || !sp.Met {
					t.Fatalf("got %v (no needs %v), want the default need met", sp, sp.NoNeeds)
				}
				// 20 kWh at 11 kW: the first 1 h 49 min, at full current.
				for k := range 7 {
					if sp.Current[k] != 16 {
						t.Errorf("slot %d: %.1f A, want 16 A (as in real time)", k, sp.Current[k])
					}
				}
			},
		},
		{
			desc: "charger limits: two periods in watts",
			in: plan.Input{Start: evening, NominalVoltage: v, Nodes: oneNode(63), Price: nightPrices,
				Sessions: []plan.Session{{ID: "w", MaxCurrent: 16, EnergyNeeded: 30000, MaxPeriods: 2, Unit: plan.UnitWatts,
					Departure: evening.Add(14 * time.Hour)}}},
			check: func(t *testing.T, in *plan.Input, res *plan.Result) {
				sp := &res.Sessions[0]
				if len(sp.Periods) > 2 || sp.Periods[0].Unit != plan.UnitWatts {
					t.Fatalf("periods %v, want at most 2 in W", sp.Periods)
				}
			},
		},
	}
	for _, r := range rows {
		t.Run(r.desc, func(t *testing.T) {
			res := mustPlan(t, r.in)
			r.check(t, &r.in, &res)
		})
	}
}

func TestValidateNamesFields(t *testing.T) {
	start := time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC)
	in := plan.Input{Start: start, Slot: 2 * time.Minute, NominalVoltage: 230,
		Nodes:    []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(-1)}},
		Sessions: []plan.Session{{ID: "a", Node: 3, MaxCurrent: 0}},
		Price:    []plan.PricePerKWh{1, 2},
		From:     start.Add(-time.Minute), // before slot 0
	}
	_, err := plan.Plan(in)
	if !errors.Is(err, plan.ErrInvalidInput) {
		t.Fatalf("error %v, want ErrInvalidInput", err)
	}
	for _, f := range []string{"slot", "from", "price", "nodes[0].limit[L1]", "sessions[0].node", "sessions[0].max_current"} {
		if !strings.Contains(err.Error(), f+":") {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}

// TestFromScalesSlotZero: a plan in force from 17:10 in a slot that
// started at 17:00 (slots on the clock) counts two thirds of slot 0's
// energy, cost and PV surplus; the rest of the plan is as without From.
func TestFromScalesSlotZero(t *testing.T) {
	start := time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		from time.Time
		frac float64
	}{{"no From", time.Time{}, 1}, {"From at Start", start, 1}, {"two thirds left", start.Add(5 * time.Minute), 2.0 / 3}, {"a second left", start.Add(15*time.Minute - time.Second), 1.0 / 900}} {
		t.Run(tc.name, func(t *testing.T) {
			in := plan.Input{Start: start, From: tc.from, Horizon: time.Hour, NominalVoltage: 230,
				Nodes:    []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(63)}},
				Price:    []plan.PricePerKWh{0.1, 0.2, 0.3, 0.4},
				Sessions: []plan.Session{{ID: "a", MaxCurrent: 16, EnergyNeeded: 100000}}}
			if got := in.FirstFraction(); math.Abs(got-tc.frac) > 1e-12 {
				t.Fatalf("FirstFraction %v, want %v", got, tc.frac)
			}
			res := mustPlan(t, in)
			sp := res.Sessions[0]
			perSlot := 16 * 230 * 3 * 0.25
			want := perSlot * (3 + tc.frac)
			// Every slot at 16 A: the need is far off.
			if math.Abs(float64(sp.Energy)-want) > 1e-6*want {
				t.Errorf("energy %.3f Wh, want %.3f", float64(sp.Energy), want)
			}
			cost := perSlot / 1000 * (0.1*tc.frac + 0.2 + 0.3 + 0.4)
			if math.Abs(float64(res.Cost)-cost) > 1e-9 {
				t.Errorf("cost %.6f, want %.6f", float64(res.Cost), cost)
			}
		})
	}
}
