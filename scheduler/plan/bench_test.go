package plan_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/scheduler/plan/lpref"
)

// epexCurve reads testdata/epex_de_winter_weekday.txt: EUR/MWh by hour.
func epexCurve(tb testing.TB) [24]float64 {
	tb.Helper()
	f, err := os.Open("testdata/epex_de_winter_weekday.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var c [24]float64
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var h int
		var p float64
		if _, err := fmt.Sscan(line, &h, &p); err != nil || h < 0 || h > 23 {
			tb.Fatalf("bad line %q", line)
		}
		c[h] = p
		n++
	}
	if n != 24 {
		tb.Fatalf("%d hours in the curve, want 24", n)
	}
	return c
}

// depot builds the reference scenario: n sessions on a three-level tree
// (grid, circuits of ten chargers, chargers of two EVSEs), 96 slots of 15
// minutes from 17:00 on a winter weekday, the EPEX curve as the price
// (EUR/kWh = EUR/MWh / 1000), the grid oversubscribed (40 % of what the
// cars could draw), a DSO window 17:00-20:00 at 70 %, a building load
// with PV around noon. Cars arrive by 17:00 and mostly leave 06:00-09:00;
// 20 % draw on one phase, 10 % have no needs, some give SoC.
func depot(tb testing.TB, n int, seed uint64) plan.Input {
	r := rand.New(rand.NewPCG(seed, 0xdef0))
	curve := epexCurve(tb)
	start := time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC)
	const T = 96
	in := plan.Input{Start: start, NominalVoltage: 230}
	for k := range T {
		h := (17 + k/4) % 24
		in.Price = append(in.Price, plan.PricePerKWh(curve[h]/1000))
	}
	chargers := (n + 1) / 2
	circuits := max(1, (chargers+9)/10)
	gridA := scheduler.Amps(max(40, float64(n)*16*0.4))
	other := make([]scheduler.PhaseCurrents, T)
	for k := range T {
		h := (17 + k/4) % 24
		building := 0.08 * float64(gridA)
		switch {
		case h >= 22 || h < 6:
			building = 0.03 * float64(gridA)
		case h >= 10 && h < 15: // winter PV
			building = -0.05 * float64(gridA)
		}
		other[k] = scheduler.Uniform(scheduler.Amps(building))
	}
	in.Nodes = append(in.Nodes, plan.Node{ID: "grid", Parent: -1, Limit: scheduler.Uniform(gridA), OtherLoad: other,
		Windows: []plan.Window{{From: start, To: start.Add(3 * time.Hour), Limit: scheduler.Uniform(gridA * 0.7), Source: "dso"}}})
	for c := range circuits {
		in.Nodes = append(in.Nodes, plan.Node{ID: fmt.Sprintf("circuit-%d", c), Parent: 0, Limit: scheduler.Uniform(20 * 16 * 0.6)})
	}
	for ch := range chargers {
		node := len(in.Nodes)
		in.Nodes = append(in.Nodes, plan.Node{ID: fmt.Sprintf("charger-%d", ch), Parent: 1 + ch/10, Limit: scheduler.Uniform(32)})
		for k := 0; k < 2 && len(in.Sessions) < n; k++ {
			s := plan.Session{ID: fmt.Sprintf("charger-%d/%d", ch, k+1), Node: node, MaxCurrent: 16,
				Priority: float64(1 + r.IntN(2)), MaxPeriods: 24}
			if r.IntN(4) == 0 {
				s.MaxCurrent = 32
			}
			if r.IntN(5) == 0 {
				s.Phases = scheduler.OnlyL1
				s.Rotation = [][3]scheduler.Phase{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}[r.IntN(3)]
			}
			switch x := r.IntN(10); {
			case x == 0: // no needs
			case x < 3:
				s.SoC, s.BatteryCapacity = float64(10+r.IntN(50)), scheduler.WattHours(40000+r.IntN(40000))
				s.TargetSoC = 80
			default:
				s.EnergyNeeded = scheduler.WattHours(10000 + r.IntN(40000))
			}
			switch x := r.IntN(10); {
			case x == 0:
				s.Departure = start.Add(time.Duration(4+r.IntN(3)) * time.Hour) // 21:00-23:00
			case x == 1: // unknown
			default:
				s.Departure = start.Add(13*time.Hour + time.Duration(r.IntN(12))*15*time.Minute) // 06:00-09:00
			}
			if r.IntN(3) == 0 {
				s.Unit = plan.UnitWatts
			}
			in.Sessions = append(in.Sessions, s)
		}
	}
	return in
}

func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		in := depot(b, n, 1)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := plan.Plan(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReferenceSaving compares the plan with charging at once at full
// power (every car as early as the same limits allow) on the reference
// scenario, at the EPEX curve's prices. The figure is in PLANNER.md.
func TestReferenceSaving(t *testing.T) {
	in := depot(t, 100, 1)
	res := mustPlan(t, in)
	asap := in
	asap.Price = make([]plan.PricePerKWh, len(in.Price))
	for k := range asap.Price {
		asap.Price[k] = plan.PricePerKWh(k) // earlier is cheaper: charge at once
	}
	base := mustPlan(t, asap)
	money := func(r *plan.Result) (cost, kwh float64) {
		x := make([][]float64, len(r.Sessions))
		for i, sp := range r.Sessions {
			for _, a := range sp.Current {
				x[i] = append(x[i], float64(a))
			}
			kwh += float64(sp.Energy) / 1000
		}
		_, cost = lpref.Objective(&in, x)
		return cost, kwh
	}
	pc, pk := money(&res)
	bc, bk := money(&base)
	t.Logf("reference depot, 100 sessions: plan %.2f EUR for %.1f kWh (%.2f ct/kWh); at once %.2f EUR for %.1f kWh (%.2f ct/kWh); saving %.2f EUR (%.1f %% per kWh)",
		pc, pk, 100*pc/pk, bc, bk, 100*bc/bk, bc-pc, 100*(1-(pc/pk)/(bc/bk)))
	if pk < 0.99*bk {
		t.Errorf("plan delivers %.1f kWh, at once %.1f kWh: the plan must not deliver less", pk, bk)
	}
	if pc/pk >= bc/bk {
		t.Errorf("plan costs %.4f EUR/kWh, at once %.4f EUR/kWh: no saving", pc/pk, bc/bk)
	}
}

// smallSite is a site at the size bound of the exact path: four sessions
// (two 3-phase, two 1-phase on different grid phases) over 12 slots of 15
// minutes behind one connection with a phase and a power limit and a
// window, needs that cannot all be met (so every fairness LP runs).
func smallSite() plan.Input {
	start := time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC)
	in := plan.Input{Start: start, Horizon: 3 * time.Hour, NominalVoltage: 230,
		Nodes: []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(32), PowerLimit: 15000,
			Windows: []plan.Window{{From: start, To: start.Add(time.Hour), Limit: scheduler.PhaseCurrents{16, 32, 32}, Source: "dso"}}}},
	}
	for k := range 12 {
		in.Price = append(in.Price, plan.PricePerKWh(0.10+0.02*float64((k*7)%5)))
	}
	in.Sessions = []plan.Session{
		{ID: "a", MaxCurrent: 16, EnergyNeeded: 30000},
		{ID: "b", MaxCurrent: 32, EnergyNeeded: 20000, Priority: 2, Departure: start.Add(2 * time.Hour)},
		{ID: "c", MaxCurrent: 32, EnergyNeeded: 15000, Phases: scheduler.OnlyL1},
		{ID: "d", MaxCurrent: 32, EnergyNeeded: 10000, Phases: scheduler.OnlyL1, Rotation: scheduler.Rotation{2, 3, 1}},
	}
	return in
}

func BenchmarkPlanExact(b *testing.B) {
	in := smallSite()
	if res, err := plan.Plan(in); err != nil || !res.Exact {
		b.Fatalf("want an exact plan: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := plan.Plan(in); err != nil {
			b.Fatal(err)
		}
	}
}
