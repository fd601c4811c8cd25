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

// The planner's continuous plan against the LP optimum, over random small
// sites (trees, limits per slot with windows, other load and PV, prices,
// export prices, CO2, sessions with rotations and 1, 2 or 3 phases, with
// and without needs, priorities, departures): the planner solves such
// sites exactly (Result.Exact), so its plan must cost within 0.5 % of the
// reference optimum (plan/lpref, an independent formulation solved with
// gonum's simplex) and deliver the same energy, in total to 1e-6 and per
// session (the weighted max-min fair shares are unique) to 1e-6 of the
// need; and the rounded profiles must keep every limit in every slot and
// fit their chargers. Run it long with -rapid.checks=2000.
func TestPropertyExactSmall(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(3, 4, 6).Draw(t, "input")
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
		if !res.Exact {
			t.Fatalf("a site this small must be planned exactly")
		}
		sol, err := lpref.Solve(in)
		if err != nil {
			t.Skipf("reference LP: %v", err) // numerical trouble in gonum's dense simplex
		}
		x := make([][]float64, len(in.Sessions))
		for i := range x {
			for _, a := range res.Sessions[i].Planned {
				x[i] = append(x[i], float64(a))
			}
		}
		got := lpref.Energy(&in, x)
		var total, want float64
		for i := range got {
			total += got[i]
			want += sol.Energy[i]
			need := float64(res.Sessions[i].Need)
			if d := math.Abs(got[i] - sol.Energy[i]); d > 1e-6*need+1e-6 {
				t.Errorf("session %s: %.6f Wh, LP %.6f Wh (need %.0f)", in.Sessions[i].ID, got[i], sol.Energy[i], need)
			}
		}
		if math.Abs(total-want) > 1e-6*max(want, 10) { // 10 µWh: gonum's tolerance on tiny plans (a first slot of seconds)
			t.Errorf("delivers %.6f Wh, LP %.6f Wh", total, want)
		}
		obj, _ := lpref.Objective(&in, x)
		if gap := (obj - sol.Objective) / max(math.Abs(sol.Objective), 0.01); gap > 0.005 {
			t.Errorf("objective %.6f, LP %.6f: %.3f %% above", obj, sol.Objective, 100*gap)
		}
		if t.Failed() {
			t.Logf("plan %v\nLP   %v", x, sol.X)
		}
	})
}
