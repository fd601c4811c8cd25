package scheduler_test

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

func floor(a scheduler.Amps) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.Floor = a }
}

func wiring(s scheduler.PhaseSet) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.Wiring = s }
}

// Every EVSE is counted at max(limit, floor): its floor on every wired
// phase whatever it gets (a fallback applies to whatever car is plugged
// in when a lease runs out), and a car whose floor reaches its minimum is
// admitted at min(floor, max) for nothing.
func TestAllocateFloors(t *testing.T) {
	type wantF struct {
		limit scheduler.Amps
		code  scheduler.ReasonCode // ReasonNone to skip
		load  scheduler.PhaseCurrents
	}
	rows := []struct {
		desc  string
		nodes []scheduler.Node
		evses []scheduler.EVSE
		want  map[string]wantF
		inf   int // number of infeasibilities
	}{
		{
			desc:  "an empty EVSE's floor is counted: the car gets what is left",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("empty", 0, state(scheduler.StateNoCar), floor(10)), car("a", 0)},
			want: map[string]wantF{
				"empty": {limit: 0, code: scheduler.ReasonNoCar, load: scheduler.Uniform(10)},
				"a":     {limit: 22, code: scheduler.ReasonPhaseLimit, load: scheduler.Uniform(22)},
			},
		},
		{
			desc:  "floors that reach the minimum admit for free; a car without one does not fit",
			nodes: []scheduler.Node{grid(18)},
			evses: []scheduler.EVSE{car("a", 0, floor(6)), car("b", 0, floor(6)), car("c", 0, floor(6)), car("d", 0, energy(0))},
			want: map[string]wantF{
				"a": {limit: 6, load: scheduler.Uniform(6)},
				"b": {limit: 6, load: scheduler.Uniform(6)},
				"c": {limit: 6, load: scheduler.Uniform(6)},
				"d": {limit: 0, code: scheduler.ReasonNoRoom},
			},
		},
		{
			desc:  "a floor above what the car would get lifts it there at no cost",
			nodes: []scheduler.Node{grid(30)},
			evses: []scheduler.EVSE{car("a", 0, floor(16)), car("b", 0), car("c", 0)},
			// a is counted at 16 anyway; b and c share the 14 A left.
			want: map[string]wantF{
				"a": {limit: 16, load: scheduler.Uniform(16)},
				"b": {limit: 7, load: scheduler.Uniform(7)},
				"c": {limit: 7, load: scheduler.Uniform(7)},
			},
		},
		{
			desc:  "a one-phase car on a three-phase EVSE: its limit on L1, its floor on all three",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, phases(scheduler.OnlyL1), floor(10), maxA(16))},
			want:  map[string]wantF{"a": {limit: 16, code: scheduler.ReasonAtMax, load: scheduler.PhaseCurrents{16, 10, 10}}},
		},
		{
			desc:  "floor on the wired phases only, through the rotation",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, state(scheduler.StateNoCar), wiring(scheduler.OnlyL1),
				rotation(scheduler.Rotation{scheduler.L2, scheduler.L3, scheduler.L1}), floor(10))},
			want: map[string]wantF{"a": {limit: 0, load: scheduler.PhaseCurrents{0, 10, 0}}},
		},
		{
			desc:  "a car paused by dwell time is still counted at its floor",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, was(0, time.Minute), floor(8))},
			want:  map[string]wantF{"a": {limit: 0, code: scheduler.ReasonDwellOff, load: scheduler.Uniform(8)}},
		},
		{
			desc:  "a suspended car is held at its floor rather than its minimum",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, state(scheduler.StateSuspended), floor(10))},
			want:  map[string]wantF{"a": {limit: 10, code: scheduler.ReasonAtFloor, load: scheduler.Uniform(10)}},
		},
		{
			desc:  "a car drawing little keeps its floor",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, was(20, 10*time.Minute), drawing(2), floor(10))},
			want:  map[string]wantF{"a": {limit: 10, code: scheduler.ReasonAtFloor, load: scheduler.Uniform(10)}},
		},
		{
			desc:  "a floor above the car's maximum: limit at the maximum, counted at the floor",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, carMax(8), floor(16))},
			want:  map[string]wantF{"a": {limit: 8, code: scheduler.ReasonAtCarMax, load: scheduler.Uniform(16)}},
		},
		{
			desc:  "a floor above the EVSE's maximum counts as the maximum",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("empty", 0, state(scheduler.StateNoCar), maxA(16), floor(32)), car("a", 0)},
			want: map[string]wantF{
				"empty": {limit: 0, load: scheduler.Uniform(16)},
				"a":     {limit: 24, load: scheduler.Uniform(24)},
			},
		},
		{
			desc:  "an offline EVSE is counted at the higher of fallback and floor",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("off", 0, state(scheduler.StateOffline), fallback(6), floor(12)), car("a", 0)},
			want: map[string]wantF{
				"off": {limit: 12, code: scheduler.ReasonOffline, load: scheduler.Uniform(12)},
				"a":   {limit: 28, load: scheduler.Uniform(28)},
			},
		},
		{
			desc:  "floors alone over a limit: infeasible, cars below paused",
			nodes: []scheduler.Node{grid(20)},
			evses: []scheduler.EVSE{car("e1", 0, state(scheduler.StateNoCar), floor(12)), car("a", 0, floor(10))},
			want: map[string]wantF{
				"e1": {limit: 0, load: scheduler.Uniform(12)},
				"a":  {limit: 0, code: scheduler.ReasonInfeasible, load: scheduler.Uniform(10)},
			},
			inf: 3, // L1, L2, L3
		},
		{
			desc:  "a two-phase car's extra above its floor loads only its phases",
			nodes: []scheduler.Node{grid(30)},
			evses: []scheduler.EVSE{car("a", 0, phases(scheduler.OnlyL1|scheduler.OnlyL2), floor(6)),
				car("b", 0, phases(scheduler.OnlyL3))},
			// b alone on L3 next to a's floor of 6: 24; a on L1/L2 up to 30.
			want: map[string]wantF{
				"a": {limit: 30, load: scheduler.PhaseCurrents{30, 30, 6}},
				"b": {limit: 24, load: scheduler.PhaseCurrents{0, 0, 24}},
			},
		},
	}
	for _, r := range rows {
		t.Run(r.desc, func(t *testing.T) {
			in := scheduler.Input{Now: schedtest.Now(), Config: config(), NominalVoltage: 230, Nodes: r.nodes, EVSEs: r.evses}
			out, err := scheduler.Allocate(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := schedtest.CheckLimits(in, out); err != nil {
				t.Errorf("rule 1: %v", err)
			}
			if err := schedtest.CheckBounds(in, out); err != nil {
				t.Errorf("bounds: %v", err)
			}
			if len(out.Infeasible) != r.inf {
				t.Errorf("infeasible %v, want %d", out.Infeasible, r.inf)
			}
			for i, e := range in.EVSEs {
				w, ok := r.want[e.ID]
				if !ok {
					continue
				}
				got := out.EVSEs[i]
				if abs(float64(got.Limit-w.limit)) > 1e-9 {
					t.Errorf("%s: limit %.4f A, want %.4f A (%v)", e.ID, got.Limit, w.limit, got.Reason)
				}
				if w.code != scheduler.ReasonNone && got.Reason.Code != w.code {
					t.Errorf("%s: reason %q, want %q", e.ID, got.Reason, w.code)
				}
				for p := range 3 {
					if abs(float64(got.Load[p]-w.load[p])) > 1e-9 {
						t.Errorf("%s: counted at %v, want %v", e.ID, got.Load, w.load)
						break
					}
				}
			}
		})
	}
}
