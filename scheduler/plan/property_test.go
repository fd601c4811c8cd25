package plan_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/scheduler/plan/lpref"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

func cfgOf(in *plan.Input) plan.Config {
	if in.Config != nil {
		return *in.Config
	}
	return plan.DefaultConfig()
}

// slotInput is slot t of a plan as a real-time problem: node limits with
// the windows overlapping the slot as external limits, the slot's other
// load, and every session as a charging EVSE at its planned limit. The
// real-time scheduler's own checkers then check rule 1 for that slot.
func slotInput(in *plan.Input, res *plan.Result, t int) (scheduler.Input, scheduler.Allocation) {
	cfg := cfgOf(in)
	scfg := scheduler.DefaultConfig()
	scfg.SafetyMargin, scfg.DefaultMin = cfg.SafetyMargin, cfg.DefaultMin
	from := in.Start.Add(time.Duration(t) * in.SlotLen())
	to := from.Add(in.SlotLen())
	si := scheduler.Input{Now: from, Config: &scfg, NominalVoltage: in.NominalVoltage}
	for n, nd := range in.Nodes {
		sn := scheduler.Node{ID: nd.ID, Parent: nd.Parent, Limit: nd.Limit, PowerLimit: nd.PowerLimit}
		if len(nd.OtherLoad) > 0 {
			sn.OtherLoad = nd.OtherLoad[t]
		}
		si.Nodes = append(si.Nodes, sn)
		for _, w := range nd.Windows {
			if w.From.Before(to) && w.To.After(from) {
				si.External = append(si.External, scheduler.ExternalLimit{Node: n, Source: w.Source, Limit: w.Limit, PowerLimit: w.PowerLimit})
			}
		}
	}
	var out scheduler.Allocation
	for i, s := range in.Sessions {
		si.EVSEs = append(si.EVSEs, scheduler.EVSE{
			ID: s.ID, Node: s.Node, Rotation: s.Rotation, State: scheduler.StateCharging,
			MinCurrent: s.MinCurrent, MaxCurrent: s.MaxCurrent, CarPhases: s.Phases,
		})
		a := res.Sessions[i].Current[t]
		r := scheduler.Result{ID: s.ID, Limit: a, Phases: s.GridPhases()}
		if a > 0 {
			for p := range 3 {
				if r.Phases.Has(scheduler.Phase(p + 1)) {
					r.Load[p] = a
				}
			}
		}
		out.EVSEs = append(out.EVSEs, r)
	}
	for _, x := range res.Infeasible {
		if x.Slot == t {
			out.Infeasible = append(out.Infeasible, scheduler.Infeasibility{Node: x.Node, NodeID: x.NodeID, Phase: x.Phase, Excess: x.Excess})
		}
	}
	return si, out
}

// checkLimits checks rule 1 and the 0-or-[min, max] rule in every slot.
func checkLimits(in *plan.Input, res *plan.Result) error {
	var errs []error
	for t := range res.Slots {
		si, out := slotInput(in, res, t)
		if err := errors.Join(schedtest.CheckLimits(si, out), schedtest.CheckBounds(si, out)); err != nil {
			errs = append(errs, fmt.Errorf("slot %d: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// checkProfiles checks that every schedule fits its charger and encodes
// exactly the per-slot limits.
func checkProfiles(in *plan.Input, res *plan.Result) error {
	var errs []error
	slot := in.SlotLen()
	for i, s := range in.Sessions {
		sp := &res.Sessions[i]
		ps := sp.Periods
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("session %s: "+format, append([]any{s.ID}, args...)...))
		}
		if len(ps) == 0 || ps[0].Offset != 0 {
			bad("schedule must start with a period at offset 0: %v", ps)
			continue
		}
		if s.MaxPeriods > 0 && len(ps) > s.MaxPeriods {
			bad("%d periods, charger accepts %d", len(ps), s.MaxPeriods)
		}
		for k, p := range ps {
			if p.Unit != s.Unit || p.Phases != s.GridPhases().Count() {
				bad("period %d in %v on %d phases, want %v on %d", k, p.Unit, p.Phases, s.Unit, s.GridPhases().Count())
			}
			if k > 0 && p.Offset <= ps[k-1].Offset {
				bad("period offsets not increasing: %v", ps)
			}
			if p.Offset%slot != 0 {
				bad("period %d starts inside a slot", k)
			}
		}
		k := 0
		for t := range res.Slots {
			for k+1 < len(ps) && ps[k+1].Offset <= time.Duration(t)*slot {
				k++
			}
			if sp.Why[t].Code == plan.WhyDeparted {
				continue // a charging profile ends with its transaction
			}
			want := float64(sp.Current[t])
			if s.Unit == plan.UnitWatts {
				want = math.Floor(want*float64(in.NominalVoltage)*float64(sp.Phases) + 1e-9)
			}
			if ps[k].Limit != want {
				bad("slot %d: schedule says %v %v, plan %v", t, ps[k].Limit, s.Unit, want)
			}
		}
		// Rounding up to the minimum for one slot may give a little more
		// than the need, never more than that.
		lo := s.MinCurrent
		if lo == 0 {
			lo = cfgOf(in).DefaultMin
		}
		over := float64(lo) * float64(in.NominalVoltage) * float64(sp.Phases) * slot.Hours()
		if float64(sp.Energy) > float64(sp.Need)+over+1e-6 {
			bad("energy %.1f Wh above need %.1f Wh by more than one slot at the minimum", sp.Energy, sp.Need)
		}
	}
	return errors.Join(errs...)
}

func TestPropertyLimitsAndProfiles(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(6, 10, 24).Draw(t, "input")
		res, err := plan.Plan(in)
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		if err := checkLimits(&in, &res); err != nil {
			t.Fatal(err)
		}
		if err := checkProfiles(&in, &res); err != nil {
			t.Fatal(err)
		}
	})
}

// The planner's continuous plan against the LP optimum on a fixed sample
// of instances small enough for the dense simplex: same energy per
// session (rule 2) to within 0.5 % of its need, and energy cost within
// 0.5 % (rule 3). The heuristic is not exact on every instance (cycles
// through several sessions and constraints that its bounded augmenting
// paths miss, see PLANNER.md), so the test asserts how often it is within
// the bounds and how far off it may be otherwise; it logs the figures.
func TestCloseToLP(t *testing.T) {
	const n = 500
	gen := genInput(3, 4, 6)
	var within, skipped int
	worstE, worstC := 0.0, 0.0
	for seed := range n {
		in := gen.Example(seed)
		// Sessions without needs charge as early as possible by a weight
		// that dwarfs prices (tested in TestPlanScenarios); here every
		// session states its need, so the objective is the energy cost.
		for i := range in.Sessions {
			if need, none := in.Sessions[i].Need(cfgOf(&in)); none {
				in.Sessions[i].EnergyNeeded = need
			}
		}
		res, err := plan.Plan(in)
		if err != nil {
			t.Fatalf("seed %d: plan: %v", seed, err)
		}
		sol, err := lpref.Solve(in)
		if err != nil {
			skipped++ // numerical trouble in the dense simplex
			continue
		}
		x := make([][]float64, len(in.Sessions))
		for i := range x {
			for _, a := range res.Sessions[i].Planned {
				x[i] = append(x[i], float64(a))
			}
		}
		got := lpref.Energy(&in, x)
		gapE := 0.0 // worst energy gap, as a fraction of need
		for i := range got {
			if need := float64(res.Sessions[i].Need); need > 0 {
				gapE = max(gapE, (math.Abs(got[i]-sol.Energy[i])-1)/need)
			}
		}
		obj, _ := lpref.Objective(&in, x)
		gapC := (obj - sol.Objective) / max(math.Abs(sol.Objective), 0.01)
		if gapE <= 0.005 && gapC <= 0.005 {
			within++
		}
		worstE, worstC = max(worstE, gapE), max(worstC, gapC)
		if gapE > 0.10 {
			t.Errorf("seed %d: energy off by %.1f %% of a need\nplan %v\nLP   %v", seed, 100*gapE, x, sol.X)
		}
	}
	solved := n - skipped
	t.Logf("%d instances, %d solved by the LP: %d (%.1f %%) within 0.5 %% of energy and cost; worst energy gap %.2f %% of a need, worst cost gap %.2f %%",
		n, solved, within, 100*float64(within)/float64(solved), 100*worstE, 100*worstC)
	if solved < n*9/10 {
		t.Errorf("the LP solved only %d of %d instances", solved, n)
	}
	if float64(within) < 0.98*float64(solved) {
		t.Errorf("only %d of %d instances within 0.5 %% of the LP", within, solved)
	}
}
