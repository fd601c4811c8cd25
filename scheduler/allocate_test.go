package scheduler_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

// Builders for readable table rows. Unless a row says otherwise: no safety
// margin, no dead band, 2 A ramp room, 2 min dwell, 6 A default minimum.

func config(change ...func(*scheduler.Config)) *scheduler.Config {
	c := scheduler.DefaultConfig()
	c.SafetyMargin, c.DeadBand = 0, 0
	for _, f := range change {
		f(&c)
	}
	return &c
}

func grid(limit scheduler.Amps, opts ...func(*scheduler.Node)) scheduler.Node {
	n := scheduler.Node{ID: "grid", Kind: scheduler.KindGrid, Parent: -1, Limit: scheduler.Uniform(limit)}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func circuit(id string, parent int, limit scheduler.Amps, opts ...func(*scheduler.Node)) scheduler.Node {
	n := scheduler.Node{ID: id, Kind: scheduler.KindCircuit, Parent: parent, Limit: scheduler.Uniform(limit)}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func charger(id string, parent int) scheduler.Node {
	return scheduler.Node{ID: id, Kind: scheduler.KindCharger, Parent: parent, Limit: scheduler.Uniform(scheduler.Unlimited())}
}

func other(l1, l2, l3 scheduler.Amps) func(*scheduler.Node) {
	return func(n *scheduler.Node) { n.OtherLoad = scheduler.PhaseCurrents{l1, l2, l3} }
}

func car(id string, node int, opts ...func(*scheduler.EVSE)) scheduler.EVSE {
	e := scheduler.EVSE{ID: id, Node: node, State: scheduler.StateCharging, MaxCurrent: 32}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func state(s scheduler.State) func(*scheduler.EVSE) { return func(e *scheduler.EVSE) { e.State = s } }
func maxA(a scheduler.Amps) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.MaxCurrent = a }
}
func carMax(a scheduler.Amps) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.CarMaxCurrent = a }
}
func carMin(a scheduler.Amps) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.CarMinCurrent = a }
}
func prio(w float64) func(*scheduler.EVSE) { return func(e *scheduler.EVSE) { e.Priority = w } }
func energy(wh scheduler.WattHours) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.Energy = wh }
}
func phases(s scheduler.PhaseSet) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.CarPhases = s }
}
func rotation(r scheduler.Rotation) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.Rotation = r }
}

// was sets the previous limit and when the EVSE was last started/paused.
func was(limit scheduler.Amps, ago time.Duration) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.PrevLimit, e.Since = limit, schedtest.Now().Add(-ago) }
}
func drawing(a scheduler.Amps) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.Drawn = scheduler.Uniform(a) }
}
func fallback(a scheduler.Amps) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) { e.Fallback, e.HasFallback = a, true }
}
func switchable(onePhase bool, ago time.Duration) func(*scheduler.EVSE) {
	return func(e *scheduler.EVSE) {
		e.Switch = scheduler.PhaseSwitch{Capable: true, OnePhase: onePhase}
		if ago > 0 {
			e.Switch.Since = schedtest.Now().Add(-ago)
		}
	}
}

type want struct {
	limit    scheduler.Amps
	code     scheduler.ReasonCode
	node     string          // node named in the reason, "" to skip
	phase    scheduler.Phase // phase named in the reason, 0 to skip
	onePhase bool
	phases   scheduler.PhaseSet // grid phases counted on, 0 to skip
}

func TestAllocate(t *testing.T) {
	type row struct {
		desc       string
		cfg        *scheduler.Config
		nodes      []scheduler.Node
		evses      []scheduler.EVSE
		external   []scheduler.ExternalLimit
		want       map[string]want
		infeasible []string // "node/phase" expected in Allocation.Infeasible
	}
	const min = time.Minute
	rows := []row{
		{
			desc:  "two cars share a circuit equally",
			nodes: []scheduler.Node{grid(100), circuit("c1", 0, 32)},
			evses: []scheduler.EVSE{car("a", 1), car("b", 1)},
			want: map[string]want{
				"a": {limit: 16, code: scheduler.ReasonPhaseLimit, node: "c1"},
				"b": {limit: 16, code: scheduler.ReasonPhaseLimit, node: "c1"},
			},
		},
		{
			desc:  "oversubscribed circuits are held by the grid limit",
			nodes: []scheduler.Node{grid(40), circuit("c1", 0, 32), circuit("c2", 0, 32)},
			evses: []scheduler.EVSE{car("a", 1), car("b", 2), car("c", 2)},
			want: map[string]want{
				"a": {limit: 13.3, code: scheduler.ReasonPhaseLimit, node: "grid"},
				"b": {limit: 13.3, code: scheduler.ReasonPhaseLimit, node: "grid"},
				"c": {limit: 13.3, code: scheduler.ReasonPhaseLimit, node: "grid"},
			},
		},
		{
			desc:  "priority is the weight above the minimum",
			nodes: []scheduler.Node{grid(30)},
			evses: []scheduler.EVSE{car("a", 0, prio(2)), car("b", 0, prio(1))},
			want:  map[string]want{"a": {limit: 20}, "b": {limit: 10}},
		},
		{
			desc:  "car at its maximum leaves the rest to the others",
			nodes: []scheduler.Node{grid(40)},
			evses: []scheduler.EVSE{car("a", 0, carMax(10)), car("b", 0)},
			want: map[string]want{
				"a": {limit: 10, code: scheduler.ReasonAtCarMax},
				"b": {limit: 30, code: scheduler.ReasonPhaseLimit, node: "grid"},
			},
		},
		{
			desc:  "EVSE at its own maximum",
			nodes: []scheduler.Node{grid(63)},
			evses: []scheduler.EVSE{car("a", 0, maxA(16))},
			want:  map[string]want{"a": {limit: 16, code: scheduler.ReasonAtMax}},
		},
		{
			desc:  "car with a 10 A minimum keeps it while the other gets the rest",
			nodes: []scheduler.Node{grid(18)},
			evses: []scheduler.EVSE{car("a", 0, carMin(10)), car("b", 0)},
			want:  map[string]want{"a": {limit: 10}, "b": {limit: 8}},
		},
		{
			desc:  "minimums that fill a limit exactly are all admitted",
			nodes: []scheduler.Node{grid(100), circuit("c1", 0, 18)},
			evses: []scheduler.EVSE{car("a", 1), car("b", 1), car("c", 1)},
			want:  map[string]want{"a": {limit: 6}, "b": {limit: 6}, "c": {limit: 6}},
		},
		{
			desc:  "not enough for every minimum: lower priority paused",
			nodes: []scheduler.Node{grid(10)},
			evses: []scheduler.EVSE{car("a", 0, prio(2)), car("b", 0, prio(1))},
			want: map[string]want{
				"a": {limit: 10},
				"b": {limit: 0, code: scheduler.ReasonNoRoom, node: "grid", phase: scheduler.L1},
			},
		},
		{
			desc:  "same priority: the car that received least charges, the other waits its turn",
			nodes: []scheduler.Node{grid(10)},
			evses: []scheduler.EVSE{car("a", 0, energy(5000)), car("b", 0, energy(1000))},
			want: map[string]want{
				"a": {limit: 0, code: scheduler.ReasonRotation, node: "grid"},
				"b": {limit: 10},
			},
		},
		{
			desc:  "rotation: after its dwell time a running car gives way to a waiting car that received less",
			nodes: []scheduler.Node{grid(10)},
			evses: []scheduler.EVSE{
				car("a", 0, energy(6000), was(10, 10*min), drawing(10)),
				car("b", 0, energy(5000), was(0, 10*min)),
			},
			want: map[string]want{
				"a": {limit: 0, code: scheduler.ReasonRotation},
				"b": {limit: 10},
			},
		},
		{
			desc:  "dwell: a car started 30 s ago stays on although another received less",
			nodes: []scheduler.Node{grid(10)},
			evses: []scheduler.EVSE{
				car("a", 0, energy(6000), was(10, 30*time.Second), drawing(10)),
				car("b", 0, energy(5000), was(0, 10*min)),
			},
			want: map[string]want{
				"a": {limit: 10},
				"b": {limit: 0, code: scheduler.ReasonRotation},
			},
		},
		{
			desc:  "dwell: a car paused 30 s ago stays paused although there is room",
			nodes: []scheduler.Node{grid(100)},
			evses: []scheduler.EVSE{car("a", 0, was(0, 30*time.Second)), car("b", 0)},
			want: map[string]want{
				"a": {limit: 0, code: scheduler.ReasonDwellOff},
				"b": {limit: 32, code: scheduler.ReasonAtMax},
			},
		},
		{
			desc:  "dwell never overrides safety: a car started 30 s ago is paused when its minimum no longer fits",
			nodes: []scheduler.Node{grid(5)},
			evses: []scheduler.EVSE{car("a", 0, was(10, 30*time.Second), drawing(10))},
			want:  map[string]want{"a": {limit: 0, code: scheduler.ReasonNoRoom}},
		},
		{
			desc:  "offline EVSE counted at its fallback limit",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("o", 0, state(scheduler.StateOffline), fallback(10)), car("a", 0)},
			want: map[string]want{
				"o": {limit: 10, code: scheduler.ReasonOffline, phases: scheduler.AllPhases},
				"a": {limit: 22},
			},
		},
		{
			desc:  "uncontrollable EVSE without fallback counted at its maximum on all wired phases",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{
				car("u", 0, state(scheduler.StateUncontrollable), maxA(16), phases(scheduler.OnlyL1)),
				car("a", 0),
			},
			want: map[string]want{
				"u": {limit: 16, code: scheduler.ReasonUncontrollable, phases: scheduler.AllPhases},
				"a": {limit: 16},
			},
		},
		{
			desc:       "infeasible: other load over a circuit's limit pauses every EVSE below it",
			nodes:      []scheduler.Node{grid(100), circuit("c1", 0, 16, other(20, 0, 0))},
			evses:      []scheduler.EVSE{car("a", 1), car("b", 1, phases(scheduler.OnlyL2)), car("c", 0)},
			infeasible: []string{"c1/L1"},
			want: map[string]want{
				"a": {limit: 0, code: scheduler.ReasonInfeasible, node: "c1", phase: scheduler.L1},
				"b": {limit: 0, code: scheduler.ReasonInfeasible, node: "c1", phase: scheduler.L1},
				"c": {limit: 32},
			},
		},
		{
			desc:       "infeasible: offline EVSEs alone over the grid limit",
			nodes:      []scheduler.Node{grid(20)},
			evses:      []scheduler.EVSE{car("o1", 0, state(scheduler.StateOffline)), car("a", 0)},
			infeasible: []string{"grid/L1", "grid/L2", "grid/L3"},
			want: map[string]want{
				"o1": {limit: 32, code: scheduler.ReasonOffline},
				"a":  {limit: 0, code: scheduler.ReasonInfeasible},
			},
		},
		{
			desc: "single-phase car on a rotated charger loads only grid L2",
			nodes: []scheduler.Node{{ID: "grid", Kind: scheduler.KindGrid, Parent: -1,
				Limit: scheduler.PhaseCurrents{32, 10, 32}}},
			evses: []scheduler.EVSE{car("a", 0, phases(scheduler.OnlyL1), rotation(scheduler.Rotation{2, 3, 1}))},
			want: map[string]want{
				"a": {limit: 10, code: scheduler.ReasonPhaseLimit, node: "grid", phase: scheduler.L2, phases: scheduler.OnlyL2},
			},
		},
		{
			desc:  "single-phase car on a free phase takes what the loaded phase cannot give",
			nodes: []scheduler.Node{grid(32, other(12, 0, 0))},
			evses: []scheduler.EVSE{
				car("a", 0),
				car("b", 0, phases(scheduler.OnlyL1)),
				car("c", 0, phases(scheduler.OnlyL1), rotation(scheduler.Rotation{2, 3, 1})),
			},
			want: map[string]want{
				"a": {limit: 10, phase: scheduler.L1},
				"b": {limit: 10, phase: scheduler.L1, phases: scheduler.OnlyL1},
				"c": {limit: 22, phase: scheduler.L2, phases: scheduler.OnlyL2},
			},
		},
		{
			desc:  "unknown car phases are counted on all three",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("a", 0, maxA(16))},
			want:  map[string]want{"a": {limit: 16, phases: scheduler.AllPhases}},
		},
		{
			desc:  "PV feeding in gives headroom",
			nodes: []scheduler.Node{grid(32, other(-10, -10, -10))},
			evses: []scheduler.EVSE{car("a", 0), car("b", 0)},
			want:  map[string]want{"a": {limit: 21}, "b": {limit: 21}},
		},
		{
			desc:  "safety margin is kept free",
			cfg:   config(func(c *scheduler.Config) { c.SafetyMargin = 1 }),
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("a", 0, maxA(40))},
			want:  map[string]want{"a": {limit: 31}},
		},
		{
			desc:  "power limit in W converted with the nominal voltage",
			nodes: []scheduler.Node{grid(scheduler.Unlimited(), func(n *scheduler.Node) { n.PowerLimit = 11040 })},
			evses: []scheduler.EVSE{car("a", 0)},
			want:  map[string]want{"a": {limit: 16, code: scheduler.ReasonPowerLimit, node: "grid"}},
		},
		{
			desc:  "maximum phase imbalance caps a single-phase car but not a three-phase one",
			nodes: []scheduler.Node{grid(63, func(n *scheduler.Node) { n.MaxImbalance = 10 })},
			evses: []scheduler.EVSE{car("a", 0, phases(scheduler.OnlyL1)), car("b", 0)},
			want: map[string]want{
				"a": {limit: 10, code: scheduler.ReasonImbalance, node: "grid", phase: scheduler.L1},
				"b": {limit: 32, code: scheduler.ReasonAtMax},
			},
		},
		{
			desc:  "maximum phase imbalance: a single-phase car whose minimum would unbalance too much is paused",
			nodes: []scheduler.Node{grid(63, other(0, 10, 10), func(n *scheduler.Node) { n.MaxImbalance = 5 })},
			evses: []scheduler.EVSE{car("a", 0, phases(scheduler.OnlyL2))},
			want:  map[string]want{"a": {limit: 0, code: scheduler.ReasonNoRoom, phase: scheduler.L2}},
		},
		{
			desc:  "external limit on a charger (NotifyChargingLimit) lowers it and is named",
			nodes: []scheduler.Node{grid(63), charger("cp1", 0)},
			evses: []scheduler.EVSE{car("a", 1), car("b", 1)},
			external: []scheduler.ExternalLimit{{Node: 1, Source: "ocpp:NotifyChargingLimit",
				Limit: scheduler.Uniform(20)}},
			want: map[string]want{
				"a": {limit: 10, code: scheduler.ReasonExternal, node: "cp1"},
				"b": {limit: 10, code: scheduler.ReasonExternal, node: "cp1"},
			},
		},
		{
			desc:  "dead band keeps the previous limit when the change is small",
			cfg:   config(func(c *scheduler.Config) { c.DeadBand = 1 }),
			nodes: []scheduler.Node{grid(32.5)},
			evses: []scheduler.EVSE{car("a", 0, was(16.8, 10*min), drawing(16.8)), car("b", 0, was(15.7, 10*min), drawing(15.7))},
			want: map[string]want{
				"a": {limit: 16.2},
				"b": {limit: 15.7, code: scheduler.ReasonDeadBand},
			},
		},
		{
			desc:  "dead band never keeps an old limit that would break a limit",
			cfg:   config(func(c *scheduler.Config) { c.DeadBand = 1 }),
			nodes: []scheduler.Node{grid(20)},
			evses: []scheduler.EVSE{car("a", 0, was(10.5, 10*min), drawing(10.5)), car("b", 0, was(10.5, 10*min), drawing(10.5))},
			want:  map[string]want{"a": {limit: 10}, "b": {limit: 10}},
		},
		{
			desc:  "car drawing less than allowed is limited to its draw plus ramp room, the rest goes to others",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("a", 0, was(16, 10*min), drawing(8)), car("b", 0, was(16, 10*min), drawing(16))},
			want: map[string]want{
				"a": {limit: 10, code: scheduler.ReasonFollowsDraw},
				"b": {limit: 22},
			},
		},
		{
			desc:  "suspended car held at its minimum so it can resume",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("a", 0, state(scheduler.StateSuspended)), car("b", 0)},
			want: map[string]want{
				"a": {limit: 6, code: scheduler.ReasonSuspended},
				"b": {limit: 26},
			},
		},
		{
			desc:  "charging cars go before suspended ones",
			nodes: []scheduler.Node{grid(10)},
			evses: []scheduler.EVSE{car("a", 0, state(scheduler.StateSuspended), prio(3)), car("b", 0)},
			want: map[string]want{
				"a": {limit: 0, code: scheduler.ReasonNoRoom},
				"b": {limit: 10},
			},
		},
		{
			desc:  "phase switching: one phase lets a car charge that three phases would pause",
			nodes: []scheduler.Node{grid(63, other(0, 60, 60))},
			evses: []scheduler.EVSE{car("a", 0, switchable(false, 0))},
			want:  map[string]want{"a": {limit: 32, onePhase: true, phases: scheduler.OnlyL1}},
		},
		{
			desc:  "phase switching: within its dwell time a car switched to three phases is not switched back",
			nodes: []scheduler.Node{grid(63, other(0, 60, 60))},
			evses: []scheduler.EVSE{car("a", 0, switchable(false, time.Minute))},
			want:  map[string]want{"a": {limit: 0, code: scheduler.ReasonNoRoom}},
		},
		{
			desc:  "phase switching: a paused car keeps its phase mode",
			nodes: []scheduler.Node{grid(63, other(60, 60, 60))},
			evses: []scheduler.EVSE{car("a", 0, switchable(true, 10*min))},
			want:  map[string]want{"a": {limit: 0, code: scheduler.ReasonNoRoom, onePhase: true}},
		},
		{
			desc:  "phase switching: back to three phases when the minimum fits",
			nodes: []scheduler.Node{grid(63)},
			evses: []scheduler.EVSE{car("a", 0, switchable(true, 10*min))},
			want:  map[string]want{"a": {limit: 32, onePhase: false, phases: scheduler.AllPhases}},
		},
		{
			desc:  "no car and faulted EVSEs get nothing and count nothing",
			nodes: []scheduler.Node{grid(16)},
			evses: []scheduler.EVSE{
				car("n", 0, state(scheduler.StateNoCar)), car("f", 0, state(scheduler.StateFaulted)), car("a", 0),
			},
			want: map[string]want{
				"n": {limit: 0, code: scheduler.ReasonNoCar},
				"f": {limit: 0, code: scheduler.ReasonFaulted},
				"a": {limit: 16},
			},
		},
		{
			desc:  "minimum above maximum cannot charge",
			nodes: []scheduler.Node{grid(32)},
			evses: []scheduler.EVSE{car("a", 0, carMin(10), carMax(8))},
			want:  map[string]want{"a": {limit: 0, code: scheduler.ReasonMinAboveMax}},
		},
		{
			desc:  "ties are broken by ID",
			nodes: []scheduler.Node{grid(10)},
			evses: []scheduler.EVSE{car("b", 0), car("a", 0)},
			want: map[string]want{
				"a": {limit: 10},
				"b": {limit: 0, code: scheduler.ReasonRotation},
			},
		},
		{
			desc:  "cars at their maxima fill a limit exactly (float sums in any order)",
			nodes: []scheduler.Node{grid(18.7)},
			evses: []scheduler.EVSE{car("a", 0, carMax(6.0)), car("b", 0, carMax(6.3)), car("c", 0, carMax(6.4))},
			want:  map[string]want{"a": {limit: 6.0}, "b": {limit: 6.3}, "c": {limit: 6.4}},
		},
		{
			desc:  "cars at their maxima fill a limit exactly, other order",
			nodes: []scheduler.Node{grid(18.7)},
			evses: []scheduler.EVSE{car("c", 0, carMax(6.4)), car("b", 0, carMax(6.3)), car("a", 0, carMax(6.0))},
			want:  map[string]want{"a": {limit: 6.0}, "b": {limit: 6.3}, "c": {limit: 6.4}},
		},
		{
			desc:  "deep tree: the tightest node on the path limits",
			nodes: []scheduler.Node{grid(100), circuit("c1", 0, 50), circuit("c2", 1, 20), charger("cp", 2)},
			evses: []scheduler.EVSE{car("a", 3), car("b", 1)},
			want: map[string]want{
				"a": {limit: 20, code: scheduler.ReasonPhaseLimit, node: "c2"},
				"b": {limit: 30, code: scheduler.ReasonPhaseLimit, node: "c1"},
			},
		},
	}
	for _, r := range rows {
		t.Run(r.desc, func(t *testing.T) {
			in := scheduler.Input{Now: schedtest.Now(), Config: r.cfg, NominalVoltage: 230,
				Nodes: r.nodes, EVSEs: r.evses, External: r.external}
			if in.Config == nil {
				in.Config = config()
			}
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
				if w.node != "" && got.Reason.NodeID != w.node {
					t.Errorf("%s: reason %q names node %q, want %q", e.ID, got.Reason, got.Reason.NodeID, w.node)
				}
				if w.phase != 0 && got.Reason.Phase != w.phase {
					t.Errorf("%s: reason %q names phase %v, want %v", e.ID, got.Reason, got.Reason.Phase, w.phase)
				}
				if got.OnePhase != w.onePhase {
					t.Errorf("%s: one phase %v, want %v", e.ID, got.OnePhase, w.onePhase)
				}
				if w.phases != 0 && got.Phases != w.phases {
					t.Errorf("%s: counted on %v, want %v", e.ID, got.Phases, w.phases)
				}
			}
			var inf []string
			for _, x := range out.Infeasible {
				inf = append(inf, x.NodeID+"/"+x.Phase.String())
			}
			if strings.Join(inf, ",") != strings.Join(r.infeasible, ",") {
				t.Errorf("infeasible %v, want %v", inf, r.infeasible)
			}
		})
	}
}

func TestReasonString(t *testing.T) {
	for _, c := range []struct {
		desc string
		r    scheduler.Reason
		want string
	}{
		{"phase limit names node and phase", scheduler.Reason{Code: scheduler.ReasonPhaseLimit, NodeID: "C1", Phase: scheduler.L2}, "limited by circuit C1 phase L2"},
		{"rotation", scheduler.Reason{Code: scheduler.ReasonRotation, NodeID: "grid", NodeKind: scheduler.KindGrid, Phase: scheduler.L1}, "paused for rotation grid grid phase L1"},
		{"car maximum", scheduler.Reason{Code: scheduler.ReasonAtCarMax}, "at car maximum"},
		{"infeasible with amount", scheduler.Reason{Code: scheduler.ReasonInfeasible, NodeID: "C1", Phase: scheduler.L1, Amount: 4}, "paused, infeasible circuit C1 phase L1 over by 4.0 A"},
		{"external names its source", scheduler.Reason{Code: scheduler.ReasonExternal, Source: "ems", NodeID: "cp", NodeKind: scheduler.KindCharger}, "limited by external limit ems on charger cp"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			if got := c.r.String(); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestAllocateRejectsInvalidInput(t *testing.T) {
	_, err := scheduler.Allocate(scheduler.Input{})
	if !errors.Is(err, scheduler.ErrInvalidInput) {
		t.Fatalf("got %v, want ErrInvalidInput", err)
	}
}
