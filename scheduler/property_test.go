package scheduler_test

import (
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

func allocate(t interface {
	Helper()
	Fatalf(string, ...any)
}, in scheduler.Input) scheduler.Allocation {
	t.Helper()
	if err := in.Validate(); err != nil {
		t.Fatalf("generated input is invalid: %v", err)
	}
	out, err := scheduler.Allocate(in)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	return out
}

// Rule 1 and rule 2 bounds hold for every input.
func TestPropertyLimitsAndBounds(t *testing.T) {
	rapid.Check(t, checkLimitsAndBounds(schedtest.InputGen(8, 16)))
}

// Rule 1 counting every EVSE at max(limit, floor), and the bounds (limit
// not below min(floor, max)), hold with random floors.
func TestPropertyFloorsLimitsAndBounds(t *testing.T) {
	rapid.Check(t, checkLimitsAndBounds(schedtest.InputGenFloors(8, 16)))
}

func checkLimitsAndBounds(gen *rapid.Generator[scheduler.Input]) func(*rapid.T) {
	return func(t *rapid.T) {
		in := gen.Draw(t, "input")
		out := allocate(t, in)
		if err := schedtest.CheckLimits(in, out); err != nil {
			t.Fatalf("rule 1 broken:\n%v", err)
		}
		if err := schedtest.CheckBounds(in, out); err != nil {
			t.Fatalf("bounds broken:\n%v", err)
		}
	}
}

// Same input, same output; and the order of the EVSEs in the input does
// not change any EVSE's result.
func TestPropertyDeterministic(t *testing.T) {
	rapid.Check(t, checkDeterministic(schedtest.InputGen(8, 16)))
}

// The same with random floors.
func TestPropertyFloorsDeterministic(t *testing.T) {
	rapid.Check(t, checkDeterministic(schedtest.InputGenFloors(8, 16)))
}

func checkDeterministic(gen *rapid.Generator[scheduler.Input]) func(*rapid.T) {
	return func(t *rapid.T) {
		in := gen.Draw(t, "input")
		a := allocate(t, in)
		b := allocate(t, in)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("two runs differ:\n%+v\n%+v", a, b)
		}
		perm := rapid.Permutation(indices(len(in.EVSEs))).Draw(t, "perm")
		shuffled := in
		shuffled.EVSEs = make([]scheduler.EVSE, len(in.EVSEs))
		for i, j := range perm {
			shuffled.EVSEs[i] = in.EVSEs[j]
		}
		c := allocate(t, shuffled)
		// Sums of other load in another order may differ in the last bit,
		// so amounts are compared with a tolerance.
		for i, j := range perm {
			if !sameResult(c.EVSEs[i], a.EVSEs[j]) {
				t.Fatalf("evse %s: %+v after shuffling, %+v before", in.EVSEs[j].ID, c.EVSEs[i], a.EVSEs[j])
			}
		}
	}
}

func sameResult(a, b scheduler.Result) bool {
	near := func(x, y scheduler.Amps) bool { return abs(float64(x-y)) < 1e-6 }
	for p := range 3 {
		if !near(a.Load[p], b.Load[p]) {
			return false
		}
	}
	ra, rb := a.Reason, b.Reason
	return a.ID == b.ID && near(a.Limit, b.Limit) && a.Phases == b.Phases && a.OnePhase == b.OnePhase &&
		ra.Code == rb.Code && ra.Node == rb.Node && ra.Phase == rb.Phase && near(ra.Amount, rb.Amount) && ra.Source == rb.Source
}

func indices(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// The limits of the admitted cars equal (within rounding to the step) the
// weighted max-min fair allocation computed by the plain reference, except
// cars held by the dead band, which keep their previous limit; and no
// capacity is left unused while a car that could take it is below its
// maximum (Pareto efficiency), apart from rounding and dead-band holds.
func TestPropertyFairAndEfficient(t *testing.T) {
	rapid.Check(t, checkFairAndEfficient(schedtest.InputGen(6, 12)))
}

// The same with random floors: the reference counts each floor in the base
// on the EVSE's wired phases, lifts each car's bounds to min(floor, max)
// and loads constraints with what a car gets above that.
func TestPropertyFloorsFairAndEfficient(t *testing.T) {
	rapid.Check(t, checkFairAndEfficient(schedtest.InputGenFloors(6, 12)))
}

func checkFairAndEfficient(gen *rapid.Generator[scheduler.Input]) func(*rapid.T) {
	return func(t *rapid.T) {
		in := gen.Draw(t, "input")
		out := allocate(t, in)
		ref := newReference(&in, &out)
		want := ref.fill()
		cfg := schedtest.Config(&in)
		step := float64(cfg.Step)
		const tol = 1e-3
		for k, i := range ref.cars {
			e := &in.EVSEs[i]
			got := float64(out.EVSEs[i].Limit)
			if out.EVSEs[i].Reason.Code == scheduler.ReasonDeadBand {
				if got != float64(e.PrevLimit) || abs(got-want[k]) >= float64(cfg.DeadBand)+step+tol {
					t.Fatalf("evse %s: held by dead band at %.4f, prev %.4f, fair share %.4f", e.ID, got, e.PrevLimit, want[k])
				}
				continue
			}
			lo := ref.lo[k]
			if got > want[k]+tol || got < min(want[k], max(lo, want[k]-step))-tol {
				t.Fatalf("evse %s: limit %.4f A, fair share %.4f A (step %.2f)\nreasons: %v", e.ID, got, want[k], step, out.EVSEs[i].Reason)
			}
		}
		if err := ref.pareto(out, step); err != nil {
			t.Fatal(err)
		}
	}
}

// Admission is maximal: a car that wants current and is paused (not by
// dwell time, not below an infeasible node) does not fit at its minimum,
// in any of its modes, next to the minimums of the admitted cars.
func TestPropertyAdmissionMaximal(t *testing.T) {
	rapid.Check(t, checkAdmissionMaximal(schedtest.InputGen(6, 12)))
}

// The same with random floors: a car whose floor reaches its minimum costs
// nothing to admit and is never paused for want of room.
func TestPropertyFloorsAdmissionMaximal(t *testing.T) {
	rapid.Check(t, checkAdmissionMaximal(schedtest.InputGenFloors(6, 12)))
}

func checkAdmissionMaximal(gen *rapid.Generator[scheduler.Input]) func(*rapid.T) {
	return func(t *rapid.T) {
		in := gen.Draw(t, "input")
		out := allocate(t, in)
		ref := newReference(&in, &out)
		for i := range in.EVSEs {
			e := &in.EVSEs[i]
			r := out.EVSEs[i]
			if !schedtest.Controllable(e.State) || r.Limit > 0 {
				continue
			}
			switch r.Reason.Code {
			case scheduler.ReasonDwellOff, scheduler.ReasonInfeasible, scheduler.ReasonMinAboveMax:
				continue
			}
			cost := minCost(&in, e)
			for _, g := range ref.allowedModes(e) {
				if ref.fitsMin(e.Node, g, cost) {
					t.Fatalf("evse %s paused (%v) but its minimum (%.2f A above its floor) fits on %v", e.ID, r.Reason, cost, g)
				}
			}
		}
	}
}

func abs(x float64) float64 { return max(x, -x) }

// The benchmark sites are valid and keep the rules too.
func TestSiteGenerator(t *testing.T) {
	for _, n := range []int{1, 10, 100, 1000} {
		for seed := range uint64(3) {
			in := schedtest.Site(n, seed)
			out := allocate(t, in)
			if err := schedtest.CheckLimits(in, out); err != nil {
				t.Fatalf("n=%d seed=%d: %v", n, seed, err)
			}
			if err := schedtest.CheckBounds(in, out); err != nil {
				t.Fatalf("n=%d seed=%d: %v", n, seed, err)
			}
		}
	}
}
