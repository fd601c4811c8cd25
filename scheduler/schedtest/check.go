package schedtest

import (
	"errors"
	"fmt"
	"math"

	"github.com/smartcharge/smartcharge/scheduler"
)

// Limits is what a node may carry, derived plainly from an input: limits
// (external ones applied) minus the safety margin, and the base load (other
// load plus offline and uncontrollable EVSEs at what they were counted).
type Limits struct {
	Phase     [3]float64
	Power     float64 // summed over phases; +Inf if none
	Imbalance float64 // +Inf if none
}

// NodeLimits returns the limits of every node of in.
func NodeLimits(in *scheduler.Input) []Limits {
	cfg := Config(in)
	m := float64(cfg.SafetyMargin)
	ls := make([]Limits, len(in.Nodes))
	for i, n := range in.Nodes {
		l := &ls[i]
		for p := range 3 {
			l.Phase[p] = float64(n.Limit[p])
		}
		l.Power = powerAmps(n.PowerLimit, in.NominalVoltage)
		l.Imbalance = math.Inf(1)
		if n.MaxImbalance > 0 {
			l.Imbalance = float64(n.MaxImbalance)
		}
	}
	for _, x := range in.External {
		l := &ls[x.Node]
		for p := range 3 {
			l.Phase[p] = min(l.Phase[p], float64(x.Limit[p]))
		}
		l.Power = min(l.Power, powerAmps(x.PowerLimit, in.NominalVoltage))
	}
	for i := range ls {
		for p := range 3 {
			ls[i].Phase[p] -= m
		}
		ls[i].Power -= 3 * m
	}
	return ls
}

func powerAmps(w scheduler.Watts, v scheduler.Volts) float64 {
	if w <= 0 {
		return math.Inf(1)
	}
	return float64(w) / float64(v)
}

// Config returns the config in force for in.
func Config(in *scheduler.Input) scheduler.Config {
	if in.Config != nil {
		return *in.Config
	}
	return scheduler.DefaultConfig()
}

// Under reports whether node m of in is n or below n.
func Under(in *scheduler.Input, m, n int) bool {
	for ; m >= 0; m = in.Nodes[m].Parent {
		if m == n {
			return true
		}
	}
	return false
}

// Controllable reports whether the scheduler sets the EVSE's limit.
func Controllable(s scheduler.State) bool {
	return s == scheduler.StateCharging || s == scheduler.StateSuspended
}

// Uncounted reports whether the EVSE is offline or uncontrollable.
func Uncounted(s scheduler.State) bool {
	return s == scheduler.StateOffline || s == scheduler.StateUncontrollable
}

// Wiring is the set of charger phases e is wired with.
func Wiring(e *scheduler.EVSE) scheduler.PhaseSet {
	if e.Wiring == 0 {
		return scheduler.AllPhases
	}
	return e.Wiring
}

// Floor is what e is counted at least at on every wired phase, whatever
// its limit: EVSE.Floor, at most its maximum.
func Floor(e *scheduler.EVSE) float64 {
	return min(max(0, float64(e.Floor)), float64(e.MaxCurrent))
}

// UncontrolledDraw is what an offline or uncontrollable EVSE may draw per
// phase without us (never less than its floor).
func UncontrolledDraw(e *scheduler.EVSE) float64 {
	a := float64(e.MaxCurrent)
	if e.HasFallback {
		a = min(a, float64(e.Fallback))
	}
	return max(a, Floor(e))
}

// Counted is what EVSE i must be counted at on each grid phase, from the
// input and the limit and phases of its result only: offline and
// uncontrollable EVSEs at what they may draw on all wired phases; every
// other EVSE at the higher of its limit on the phases it is counted on and
// its floor on all wired phases.
func Counted(in *scheduler.Input, out *scheduler.Allocation, i int) [3]float64 {
	e := &in.EVSEs[i]
	r := &out.EVSEs[i]
	wired := e.Rotation.GridSet(Wiring(e))
	var c [3]float64
	for p := range 3 {
		ph := scheduler.Phase(p + 1)
		switch {
		case Uncounted(e.State):
			if wired.Has(ph) {
				c[p] = UncontrolledDraw(e)
			}
			continue
		case Controllable(e.State) && r.Limit > 0 && r.Phases.Has(ph):
			c[p] = float64(r.Limit)
		}
		if wired.Has(ph) {
			c[p] = max(c[p], Floor(e))
		}
	}
	return c
}

// Totals returns, per node, the base load (other load, uncontrolled EVSEs
// at what they may draw and every other EVSE's floor on its wired phases)
// and the total (other load plus every EVSE as [Counted]), and whether a
// controllable EVSE below the node has a limit above 0.
func Totals(in *scheduler.Input, out *scheduler.Allocation) (base, total [][3]float64, ours []bool) {
	nn := len(in.Nodes)
	base = make([][3]float64, nn)
	total = make([][3]float64, nn)
	ours = make([]bool, nn)
	for n := range nn {
		for p := range 3 {
			base[n][p] = float64(in.Nodes[n].OtherLoad[p])
			total[n][p] = base[n][p]
		}
	}
	for i := range in.EVSEs {
		e := &in.EVSEs[i]
		r := &out.EVSEs[i]
		var own [3]float64
		g := e.Rotation.GridSet(Wiring(e))
		for p := range 3 {
			if !g.Has(scheduler.Phase(p + 1)) {
				continue
			}
			own[p] = Floor(e)
			if Uncounted(e.State) {
				own[p] = UncontrolledDraw(e)
			}
		}
		counted := Counted(in, out, i)
		for n := e.Node; n >= 0; n = in.Nodes[n].Parent {
			for p := range 3 {
				base[n][p] += own[p]
				total[n][p] += counted[p]
			}
			if Controllable(e.State) && r.Limit > 0 {
				ours[n] = true
			}
		}
	}
	return base, total, ours
}

// Noise is the tolerance of the checks: sums of the same values in another
// order may differ in the last bits; a nanoampere.
const Noise = 1e-9

func spread(l [3]float64) float64 { return max(l[0], l[1], l[2]) - min(l[0], l[1], l[2]) }

// CheckLimits checks rule 1 on out: at every node where a controllable
// EVSE has a limit above 0, the total load on every phase is within the
// phase limit, the sum within the power limit, and the spread between
// phases within the maximum imbalance (or within the spread of the load we
// do not control, when that is larger already). Every EVSE is counted as
// [Counted] says: offline and uncontrollable EVSEs at what they may draw
// on all wired phases, every other EVSE at max(limit, floor) (its floor on
// all wired phases, also when paused or without a car); each result's Load
// must be at least that. Every node whose base load alone breaks a limit
// must be reported infeasible. Sums may exceed a limit by [Noise] (float
// summation order). It returns every breach found, joined.
func CheckLimits(inV scheduler.Input, outV scheduler.Allocation) error {
	in, out := &inV, &outV
	if len(out.EVSEs) != len(in.EVSEs) {
		return fmt.Errorf("got %d results for %d EVSEs", len(out.EVSEs), len(in.EVSEs))
	}
	var errs []error
	for i := range in.EVSEs {
		e := &in.EVSEs[i]
		c := Counted(in, out, i)
		for p := range 3 {
			if float64(out.EVSEs[i].Load[p]) < c[p]-Noise {
				errs = append(errs, fmt.Errorf("evse %s (%v): counted at %.3f A on L%d, may draw %.3f A",
					e.ID, e.State, out.EVSEs[i].Load[p], p+1, c[p]))
			}
		}
	}
	ls := NodeLimits(in)
	base, total, ours := Totals(in, out)
	for n := range in.Nodes {
		l := &ls[n]
		id := in.Nodes[n].ID
		over := false
		sumB := 0.0
		for p := range 3 {
			sumB += base[n][p]
			over = over || base[n][p] > l.Phase[p]+Noise
		}
		over = over || sumB > l.Power+Noise
		if over && !reported(out, n) {
			errs = append(errs, fmt.Errorf("node %s: base load %v breaks its limits but is not reported infeasible", id, base[n]))
		}
		if !ours[n] {
			continue
		}
		sum := 0.0
		for p := range 3 {
			sum += total[n][p]
			if total[n][p] > l.Phase[p]+Noise {
				errs = append(errs, fmt.Errorf("node %s L%d: load %.6f A > limit %.6f A", id, p+1, total[n][p], l.Phase[p]))
			}
		}
		if sum > l.Power+Noise {
			errs = append(errs, fmt.Errorf("node %s: power load %.6f A > limit %.6f A (summed over phases)", id, sum, l.Power))
		}
		if s, sb := spread(total[n]), spread(base[n]); s > max(l.Imbalance, sb)+Noise {
			errs = append(errs, fmt.Errorf("node %s: imbalance %.6f A > max %.6f A (base %.6f A)", id, s, l.Imbalance, sb))
		}
	}
	return errors.Join(errs...)
}

func reported(out *scheduler.Allocation, n int) bool {
	for _, x := range out.Infeasible {
		if x.Node == n {
			return true
		}
	}
	return false
}

// MinMax returns the effective minimum and maximum of a charging EVSE.
func MinMax(in *scheduler.Input, e *scheduler.EVSE) (lo, hi float64) {
	lo = float64(Config(in).DefaultMin)
	if e.MinCurrent > 0 {
		lo = float64(e.MinCurrent)
	}
	lo = max(lo, float64(e.CarMinCurrent))
	hi = float64(e.MaxCurrent)
	if e.CarMaxCurrent > 0 {
		hi = min(hi, float64(e.CarMaxCurrent))
	}
	return lo, hi
}

// Modes returns the grid phase sets a controllable EVSE may be counted on:
// as it draws now and, if it can switch, three phases and one phase.
func Modes(e *scheduler.EVSE) []scheduler.PhaseSet {
	three := Wiring(e)
	if e.CarPhases != 0 && !e.Switch.OnePhase {
		three = e.CarPhases
	}
	if !e.Switch.Capable || !Wiring(e).Has(scheduler.L1) || three.Count() < 2 {
		return []scheduler.PhaseSet{e.Rotation.GridSet(three)}
	}
	return []scheduler.PhaseSet{e.Rotation.GridSet(three), e.Rotation.GridSet(scheduler.OnlyL1)}
}

// CheckBounds checks that every controllable EVSE's limit is 0 or within
// its [min, max] and not below min(floor, max) (capacity counted anyway),
// that it is counted at its limit on a set of phases it may draw on and at
// its floor on every wired phase, that EVSEs without a car or faulted get
// 0, and that nothing is paused by the scheduler's last-resort safety
// check.
func CheckBounds(inV scheduler.Input, outV scheduler.Allocation) error {
	in, out := &inV, &outV
	var errs []error
	for i := range in.EVSEs {
		e := &in.EVSEs[i]
		r := &out.EVSEs[i]
		if r.ID != e.ID {
			errs = append(errs, fmt.Errorf("result %d: id %q, want %q", i, r.ID, e.ID))
		}
		if r.Reason.Code == scheduler.ReasonSafety {
			errs = append(errs, fmt.Errorf("evse %s: paused by the safety check: %v", e.ID, r.Reason))
		}
		wired := e.Rotation.GridSet(Wiring(e))
		floorLoad := func() scheduler.PhaseCurrents {
			var l scheduler.PhaseCurrents
			for p := range 3 {
				if wired.Has(scheduler.Phase(p + 1)) {
					l[p] = scheduler.Amps(Floor(e))
				}
			}
			return l
		}
		switch {
		case Uncounted(e.State):
			continue
		case !Controllable(e.State):
			if r.Limit != 0 || r.Load != floorLoad() {
				errs = append(errs, fmt.Errorf("evse %s (%v): limit %.3f A counted at %v, want 0 counted at its floor %v",
					e.ID, e.State, r.Limit, r.Load, floorLoad()))
			}
			continue
		}
		if r.Limit == 0 {
			if r.Load != floorLoad() {
				errs = append(errs, fmt.Errorf("evse %s: paused but counted at %v, want its floor %v", e.ID, r.Load, floorLoad()))
			}
			continue
		}
		lo, hi := MinMax(in, e)
		if a := float64(r.Limit); a < lo || a > hi {
			errs = append(errs, fmt.Errorf("evse %s: limit %.3f A outside [%.3f, %.3f]", e.ID, a, lo, hi))
		}
		if f := min(Floor(e), hi); float64(r.Limit) < f {
			errs = append(errs, fmt.Errorf("evse %s: limit %.3f A below min(floor, max) %.3f A: that capacity is counted anyway", e.ID, r.Limit, f))
		}
		ok := false
		for _, g := range Modes(e) {
			ok = ok || g == r.Phases
		}
		if !ok {
			errs = append(errs, fmt.Errorf("evse %s: counted on %v, may draw on %v", e.ID, r.Phases, Modes(e)))
		}
		fl := floorLoad()
		for p := range 3 {
			want := float64(fl[p])
			if r.Phases.Has(scheduler.Phase(p + 1)) {
				want = max(want, float64(r.Limit))
			}
			if float64(r.Load[p]) != want {
				errs = append(errs, fmt.Errorf("evse %s: load on L%d %.3f A, want %.3f A", e.ID, p+1, r.Load[p], want))
			}
		}
	}
	return errors.Join(errs...)
}
