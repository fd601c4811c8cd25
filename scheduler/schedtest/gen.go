package schedtest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/scheduler"
)

// Now returns the time generated inputs are at.
func Now() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

// Rotations returns the unknown rotation and the six permutations.
func Rotations() []scheduler.Rotation {
	return []scheduler.Rotation{{}, {1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}}
}

// InputGen generates valid inputs: random trees of up to maxNodes nodes
// with random limits (some unlimited, some oversubscribed), power and
// imbalance limits, external limits, other load (negative with PV), and up
// to maxEVSEs EVSEs in every state with random rotations, wiring, car
// phases, minimums and maximums, meter values, priorities, previous limits,
// dwell and phase-switch states, and a random config.
func InputGen(maxNodes, maxEVSEs int) *rapid.Generator[scheduler.Input] {
	return rapid.Custom(func(t *rapid.T) scheduler.Input {
		in := scheduler.Input{Now: Now(), NominalVoltage: 230}
		cfg := scheduler.DefaultConfig()
		cfg.DeadBand = scheduler.Amps(rapid.SampledFrom([]float64{0, 0.5, 1, 2}).Draw(t, "dead_band"))
		cfg.SafetyMargin = scheduler.Amps(rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(t, "margin"))
		cfg.RampRoom = scheduler.Amps(rapid.SampledFrom([]float64{0, 1, 2}).Draw(t, "ramp"))
		cfg.Step = scheduler.Amps(rapid.SampledFrom([]float64{0.1, 0.1, 0.5, 1}).Draw(t, "step"))
		in.Config = &cfg
		nn := rapid.IntRange(1, maxNodes).Draw(t, "nodes")
		for i := range nn {
			in.Nodes = append(in.Nodes, genNode(t, i))
		}
		nx := rapid.IntRange(0, 2).Draw(t, "external")
		for i := range nx {
			in.External = append(in.External, scheduler.ExternalLimit{
				Node:       rapid.IntRange(0, nn-1).Draw(t, fmt.Sprintf("ext%d.node", i)),
				Source:     fmt.Sprintf("ext%d", i),
				Limit:      genLimit(t, fmt.Sprintf("ext%d.limit", i)),
				PowerLimit: genPower(t, fmt.Sprintf("ext%d.power", i)),
			})
		}
		ne := rapid.IntRange(0, maxEVSEs).Draw(t, "evses")
		for i := range ne {
			in.EVSEs = append(in.EVSEs, genEVSE(t, i, nn))
		}
		return in
	})
}

// InputGenFloors generates inputs as [InputGen] does and gives about two
// EVSEs in three a floor (EVSE.Floor): below, at and above minimums and
// maximums, as fallbacks of the control loop are.
func InputGenFloors(maxNodes, maxEVSEs int) *rapid.Generator[scheduler.Input] {
	return rapid.Custom(func(t *rapid.T) scheduler.Input {
		in := InputGen(maxNodes, maxEVSEs).Draw(t, "input")
		for i := range in.EVSEs {
			l := fmt.Sprintf("evse%d", i)
			if rapid.IntRange(0, 2).Draw(t, l+".has_floor") == 0 {
				continue
			}
			in.EVSEs[i].Floor = scheduler.Amps(rapid.SampledFrom([]float64{
				0, 2, 5.9, 6, 6.2, 7.5, 8, 10, 16, 32, 40}).Draw(t, l+".floor"))
			if rapid.IntRange(0, 3).Draw(t, l+".floor_random") == 0 {
				in.EVSEs[i].Floor = scheduler.Amps(rapid.Float64Range(0, 20).Draw(t, l+".floor_value"))
			}
		}
		return in
	})
}

func genAmps(t *rapid.T, label string) scheduler.Amps {
	choice := rapid.IntRange(0, 9).Draw(t, label+".kind")
	switch choice {
	case 0:
		return scheduler.Unlimited()
	case 1:
		return scheduler.Amps(rapid.SampledFrom([]float64{0, 6, 10, 16, 20, 25, 32, 40, 63}).Draw(t, label))
	default:
		return scheduler.Amps(rapid.Float64Range(10, 120).Draw(t, label))
	}
}

func genLimit(t *rapid.T, label string) scheduler.PhaseCurrents {
	if rapid.Bool().Draw(t, label+".uniform") {
		return scheduler.Uniform(genAmps(t, label))
	}
	return scheduler.PhaseCurrents{genAmps(t, label+".l1"), genAmps(t, label+".l2"), genAmps(t, label+".l3")}
}

func genPower(t *rapid.T, label string) scheduler.Watts {
	if rapid.IntRange(0, 3).Draw(t, label+".has") > 0 {
		return 0
	}
	return scheduler.Watts(rapid.Float64Range(1000, 60000).Draw(t, label))
}

func genNode(t *rapid.T, i int) scheduler.Node {
	l := fmt.Sprintf("node%d", i)
	n := scheduler.Node{ID: fmt.Sprintf("n%d", i), Parent: -1, Kind: scheduler.KindGrid}
	if i > 0 {
		n.Parent = rapid.IntRange(0, i-1).Draw(t, l+".parent")
		n.Kind = scheduler.NodeKind(rapid.SampledFrom([]int{0, 2}).Draw(t, l+".kind"))
	}
	n.Limit = genLimit(t, l+".limit")
	n.PowerLimit = genPower(t, l+".power")
	if rapid.IntRange(0, 3).Draw(t, l+".has_other") == 0 {
		for p := range 3 {
			n.OtherLoad[p] = scheduler.Amps(rapid.Float64Range(-20, 30).Draw(t, fmt.Sprintf("%s.other%d", l, p)))
		}
	}
	if rapid.IntRange(0, 3).Draw(t, l+".has_imb") == 0 {
		n.MaxImbalance = scheduler.Amps(rapid.Float64Range(1, 30).Draw(t, l+".imb"))
	}
	return n
}

func genPhaseSet(t *rapid.T, label string) scheduler.PhaseSet {
	return scheduler.PhaseSet(rapid.IntRange(0, 7).Draw(t, label))
}

func genEVSE(t *rapid.T, i, nn int) scheduler.EVSE {
	l := fmt.Sprintf("evse%d", i)
	e := scheduler.EVSE{
		ID:       fmt.Sprintf("e%02d", i),
		Node:     rapid.IntRange(0, nn-1).Draw(t, l+".node"),
		Rotation: rapid.SampledFrom(Rotations()).Draw(t, l+".rotation"),
		Wiring:   genPhaseSet(t, l+".wiring"),
		State: scheduler.State(rapid.SampledFrom([]int{
			1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 6}).Draw(t, l+".state")),
		MaxCurrent: scheduler.Amps(rapid.SampledFrom([]float64{6, 10, 13.3, 16, 16, 20, 32, 32, 40}).Draw(t, l+".max")),
		Priority:   rapid.SampledFrom([]float64{0, 1, 1, 2, 0.5, 3}).Draw(t, l+".priority"),
		Energy:     scheduler.WattHours(rapid.SampledFrom([]float64{0, 0, 1000, 5000, 12345}).Draw(t, l+".energy")),
	}
	e.CarPhases = genPhaseSet(t, l+".car_phases") & Wiring(&e)
	if rapid.IntRange(0, 3).Draw(t, l+".has_min") == 0 {
		e.MinCurrent = scheduler.Amps(rapid.Float64Range(6, 10).Draw(t, l+".min"))
	}
	if rapid.IntRange(0, 3).Draw(t, l+".has_car_min") == 0 {
		e.CarMinCurrent = scheduler.Amps(rapid.SampledFrom([]float64{6, 8, 10}).Draw(t, l+".car_min"))
	}
	if rapid.Bool().Draw(t, l+".has_car_max") {
		e.CarMaxCurrent = scheduler.Amps(rapid.Float64Range(6, 32).Draw(t, l+".car_max"))
	}
	for p := range 3 {
		e.Drawn[p] = scheduler.Amps(rapid.Float64Range(0, float64(e.MaxCurrent)).Draw(t, fmt.Sprintf("%s.drawn%d", l, p)))
	}
	if rapid.Bool().Draw(t, l+".was_on") {
		e.PrevLimit = scheduler.Amps(rapid.Float64Range(6, float64(e.MaxCurrent)+1).Draw(t, l+".prev"))
	}
	if rapid.IntRange(0, 2).Draw(t, l+".has_since") == 0 {
		e.Since = Now().Add(-time.Duration(rapid.IntRange(0, 600).Draw(t, l+".since")) * time.Second)
	}
	if rapid.IntRange(0, 2).Draw(t, l+".has_fallback") == 0 {
		e.HasFallback = true
		e.Fallback = scheduler.Amps(rapid.SampledFrom([]float64{0, 6, 10, 16}).Draw(t, l+".fallback"))
	}
	if rapid.IntRange(0, 3).Draw(t, l+".switch") == 0 {
		e.Switch.Capable = true
		e.Switch.OnePhase = rapid.Bool().Draw(t, l+".one_phase")
		if rapid.Bool().Draw(t, l+".switched") {
			e.Switch.Since = Now().Add(-time.Duration(rapid.IntRange(0, 900).Draw(t, l+".switch_since")) * time.Second)
		}
	}
	return e
}

// Site builds a deterministic site for benchmarks and load tests with n
// EVSEs on a three-level tree: the grid connection, circuits of ten
// chargers, chargers with two EVSEs. Limits are oversubscribed (grid about
// 40 %, circuits about 60 % of what the cars could draw); most cars are
// three-phase, some single- or two-phase with random rotations; a few are
// offline, suspended or without a car; some draw less than allowed.
func Site(n int, seed uint64) scheduler.Input {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	chargers := (n + 1) / 2
	circuits := max(1, (chargers+9)/10)
	cfg := scheduler.DefaultConfig()
	in := scheduler.Input{Now: Now(), Config: &cfg, NominalVoltage: 230}
	in.Nodes = make([]scheduler.Node, 0, 1+circuits+chargers)
	in.Nodes = append(in.Nodes, scheduler.Node{
		ID: "grid", Kind: scheduler.KindGrid, Parent: -1,
		Limit:        scheduler.Uniform(scheduler.Amps(float64(n) * 16 * 0.4)),
		PowerLimit:   scheduler.Watts(float64(n) * 16 * 0.4 * 230 * 2.7),
		OtherLoad:    scheduler.PhaseCurrents{scheduler.Amps(r.Float64() * 20), scheduler.Amps(r.Float64() * 20), -5},
		MaxImbalance: scheduler.Amps(max(20, float64(n)*0.5)),
	})
	for c := range circuits {
		in.Nodes = append(in.Nodes, scheduler.Node{
			ID: fmt.Sprintf("circuit-%d", c), Parent: 0,
			Limit:     scheduler.Uniform(scheduler.Amps(20 * 16 * 0.6)),
			OtherLoad: scheduler.Uniform(scheduler.Amps(r.Float64() * 10)),
		})
	}
	in.EVSEs = make([]scheduler.EVSE, 0, n)
	for ch := range chargers {
		node := len(in.Nodes)
		in.Nodes = append(in.Nodes, scheduler.Node{
			ID: fmt.Sprintf("charger-%d", ch), Kind: scheduler.KindCharger,
			Parent: 1 + ch/10, Limit: scheduler.Uniform(32),
		})
		rot := Rotations()[r.IntN(7)]
		for k := 0; k < 2 && len(in.EVSEs) < n; k++ {
			in.EVSEs = append(in.EVSEs, siteEVSE(r, fmt.Sprintf("charger-%d/%d", ch, k+1), node, rot))
		}
	}
	return in
}

func siteEVSE(r *rand.Rand, id string, node int, rot scheduler.Rotation) scheduler.EVSE {
	e := scheduler.EVSE{
		ID: id, Node: node, Rotation: rot, State: scheduler.StateCharging,
		MaxCurrent: 16, Priority: float64(1 + r.IntN(2)),
		Energy: scheduler.WattHours(r.IntN(30000)),
	}
	if r.IntN(4) == 0 {
		e.MaxCurrent = 32
	}
	switch x := r.IntN(20); {
	case x == 0:
		e.State = scheduler.StateNoCar
	case x == 1:
		e.State = scheduler.StateOffline
		e.HasFallback, e.Fallback = true, 6
	case x == 2:
		e.State = scheduler.StateSuspended
	}
	switch x := r.IntN(10); {
	case x < 2:
		e.CarPhases = scheduler.OnlyL1
	case x == 2:
		e.CarPhases = scheduler.OnlyL1 | scheduler.OnlyL2
	}
	if r.IntN(3) == 0 {
		e.CarMaxCurrent = scheduler.Amps(10 + r.IntN(23))
	}
	if r.IntN(10) == 0 {
		e.CarMinCurrent = 8
	}
	if r.IntN(2) == 0 {
		e.PrevLimit = scheduler.Amps(6 + r.IntN(11))
		e.Since = Now().Add(-time.Duration(r.IntN(600)) * time.Second)
		d := float64(e.PrevLimit)
		if r.IntN(4) == 0 {
			d = 3 + r.Float64()*3
		}
		e.Drawn = scheduler.PhaseCurrents{scheduler.Amps(d), scheduler.Amps(d), scheduler.Amps(d)}
	}
	if r.IntN(8) == 0 {
		e.Switch.Capable = true
	}
	return e
}
