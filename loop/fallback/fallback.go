package fallback

import (
	"math"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/site"
)

// EVSE is one EVSE to give a fallback limit.
type EVSE struct {
	// Node is the index in the tree of the node it hangs on.
	Node int
	// Phases are the grid phases it may draw on (all its wired phases,
	// mapped through the rotation: a car's phases are unknown offline).
	Phases ledger.PhaseSet
	Max    site.Amps
	// Min is the least a car charges with; a fallback below it is 0.
	Min site.Amps
}

// step is the resolution of fallback limits (chargers round to 0.1 A).
const step = 0.1

// Limits returns a fallback limit per EVSE such that, for every node and
// grid phase, the sum of the fallbacks of the EVSEs below fits the node's
// limit, and the sum over phases times the voltage fits its power limit.
// Other load in the tree is subtracted from the limits. Shares are
// max-min fair (progressive filling); an EVSE whose share is below its
// minimum gets 0 and its share goes to the others.
func Limits(t *ledger.Tree, evses []EVSE) []site.Amps {
	out := make([]site.Amps, len(evses))
	excluded := make([]bool, len(evses))
	for {
		x := fill(t, evses, excluded)
		// Drop one EVSE below its minimum per round (the one with the
		// least share, the last on ties): its room may lift the others.
		drop := -1
		for i, a := range x {
			if excluded[i] {
				continue
			}
			a = math.Floor(a/step+1e-9) * step
			x[i] = a
			if a < float64(evses[i].Min) || a <= 0 {
				if drop < 0 || a <= x[drop] {
					drop = i
				}
			}
		}
		if drop < 0 {
			for i := range x {
				if !excluded[i] {
					out[i] = site.Amps(x[i])
				}
			}
			return out
		}
		excluded[drop] = true
	}
}

// constraint is one capacity: a node's phase or a node's power limit (in
// A summed over phases).
type constraint struct {
	room float64
}

// fill runs progressive filling over every constraint and returns each
// EVSE's share.
func fill(t *ledger.Tree, evses []EVSE, excluded []bool) []float64 {
	nn := len(t.Nodes)
	cons := make([]constraint, 4*nn)
	for n, nd := range t.Nodes {
		for p := range 3 {
			cons[4*n+p].room = float64(nd.Limit[p]) - max(0, float64(nd.OtherLoad[p]))
		}
		cons[4*n+3].room = math.Inf(1)
		if nd.PowerLimit > 0 && t.Voltage > 0 {
			other := 0.0
			for p := range 3 {
				other += max(0, float64(nd.OtherLoad[p]))
			}
			cons[4*n+3].room = float64(nd.PowerLimit)/float64(t.Voltage) - other
		}
	}
	// uses[i] lists the constraints EVSE i consumes from, with the number
	// of amperes per ampere of its limit.
	type use struct {
		c int
		k float64
	}
	uses := make([][]use, len(evses))
	for i, e := range evses {
		k := 0
		for p := range 3 {
			if e.Phases.Has(p) {
				k++
			}
		}
		for n := e.Node; n >= 0; n = t.Nodes[n].Parent {
			for p := range 3 {
				if e.Phases.Has(p) {
					uses[i] = append(uses[i], use{4*n + p, 1})
				}
			}
			uses[i] = append(uses[i], use{4*n + 3, float64(k)})
		}
	}
	x := make([]float64, len(evses))
	active := make([]bool, len(evses))
	nActive := 0
	for i := range evses {
		if !excluded[i] && evses[i].Max > 0 && evses[i].Phases != 0 {
			active[i] = true
			nActive++
		}
	}
	for nActive > 0 {
		// weight per constraint: amperes consumed per ampere of raise
		w := make([]float64, len(cons))
		for i := range evses {
			if active[i] {
				for _, u := range uses[i] {
					w[u.c] += u.k
				}
			}
		}
		delta := math.Inf(1)
		for c := range cons {
			if w[c] > 0 {
				delta = min(delta, max(0, cons[c].room)/w[c])
			}
		}
		for i := range evses {
			if active[i] {
				delta = min(delta, float64(evses[i].Max)-x[i])
			}
		}
		if math.IsInf(delta, 1) {
			delta = 0
		}
		for i := range evses {
			if active[i] {
				x[i] += delta
				for _, u := range uses[i] {
					cons[u.c].room -= delta * u.k
				}
			}
		}
		// Freeze EVSEs at their max or on a full constraint.
		for i := range evses {
			if !active[i] {
				continue
			}
			full := float64(evses[i].Max)-x[i] <= 1e-9
			for _, u := range uses[i] {
				full = full || cons[u.c].room <= 1e-9
			}
			if full {
				active[i] = false
				nActive--
			}
		}
	}
	return x
}
