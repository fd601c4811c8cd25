package scheduler_test

import (
	"fmt"
	"math"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

// reference recomputes, slowly and plainly, what the allocation of the
// admitted cars should be: weighted max-min fair water-filling by bisection
// on the water level, over every constraint written out as a list of
// coefficients. It takes from the output only which cars are admitted and
// on which phases they are counted.
type reference struct {
	in   *scheduler.Input
	out  *scheduler.Allocation
	cfg  scheduler.Config
	ls   []schedtest.Limits
	base [][3]float64
	// admitted cars: index in in.EVSEs, counted phases, bounds, weight.
	cars      []int
	grid      []scheduler.PhaseSet
	lo, hi, w []float64
	// off is the part of a car's limit its floor counts anyway (min(floor,
	// max)): a car loads its constraints with x - off, its floor is in
	// base, and lo >= off.
	off  []float64
	cons []refCons
}

type refCons struct {
	name string
	cap  float64
	coef []float64 // per admitted car
}

func newReference(in *scheduler.Input, out *scheduler.Allocation) *reference {
	r := &reference{in: in, out: out, cfg: schedtest.Config(in), ls: schedtest.NodeLimits(in)}
	r.base, _, _ = schedtest.Totals(in, out)
	for i := range in.EVSEs {
		e := &in.EVSEs[i]
		if !schedtest.Controllable(e.State) || out.EVSEs[i].Limit == 0 {
			continue
		}
		lo, hi := schedtest.MinMax(in, e)
		off := min(schedtest.Floor(e), hi)
		if e.State == scheduler.StateSuspended {
			hi = lo
		} else if e.PrevLimit > 0 {
			d := 0.0
			for p := range 3 {
				if schedtest.Wiring(e).Has(scheduler.Phase(p + 1)) {
					d = max(d, float64(e.Drawn[p]))
				}
			}
			d += float64(r.cfg.RampRoom)
			if d < float64(e.PrevLimit) && d < hi {
				hi = max(lo, d)
			}
		}
		w := e.Priority
		if w == 0 {
			w = 1
		}
		r.cars = append(r.cars, i)
		r.grid = append(r.grid, out.EVSEs[i].Phases)
		// Up to its floor a car costs nothing: its bounds are lifted there.
		lo, hi = max(lo, off), max(hi, off)
		r.lo, r.hi, r.w, r.off = append(r.lo, lo), append(r.hi, hi), append(r.w, w), append(r.off, off)
	}
	r.buildConstraints()
	return r
}

func (r *reference) under(k, n int) bool { return schedtest.Under(r.in, r.in.EVSEs[r.cars[k]].Node, n) }

func (r *reference) buildConstraints() {
	for n := range r.in.Nodes {
		l := r.ls[n]
		b := r.base[n]
		for p := range 3 {
			c := refCons{name: fmt.Sprintf("node %d L%d", n, p+1), cap: l.Phase[p] - b[p], coef: make([]float64, len(r.cars))}
			for k := range r.cars {
				if r.under(k, n) && r.grid[k].Has(scheduler.Phase(p+1)) {
					c.coef[k] = 1
				}
			}
			r.add(c)
		}
		pw := refCons{name: fmt.Sprintf("node %d power", n), cap: l.Power - b[0] - b[1] - b[2], coef: make([]float64, len(r.cars))}
		for k := range r.cars {
			if r.under(k, n) {
				pw.coef[k] = float64(r.grid[k].Count())
			}
		}
		r.add(pw)
		if math.IsInf(l.Imbalance, 1) {
			continue
		}
		// Single- and two-phase load on a phase may reach the lowest
		// phase's load with the admitted minimums plus the maximum.
		var asymMin [3]float64
		for k := range r.cars {
			if r.under(k, n) && r.grid[k] != scheduler.AllPhases {
				for p := range 3 {
					if r.grid[k].Has(scheduler.Phase(p + 1)) {
						asymMin[p] += r.lo[k] - r.off[k]
					}
				}
			}
		}
		lmin := min(b[0]+asymMin[0], b[1]+asymMin[1], b[2]+asymMin[2])
		for p := range 3 {
			c := refCons{name: fmt.Sprintf("node %d imbalance L%d", n, p+1), cap: lmin + l.Imbalance - b[p], coef: make([]float64, len(r.cars))}
			for k := range r.cars {
				if r.under(k, n) && r.grid[k] != scheduler.AllPhases && r.grid[k].Has(scheduler.Phase(p+1)) {
					c.coef[k] = 1
				}
			}
			// A phase that carries no such load at the minimums (cars
			// admitted at their floor add none) may be over already by
			// base alone (floors count there): then no car may add to it.
			c.cap = max(c.cap, r.load(c, r.lo))
			r.add(c)
		}
	}
}

func (r *reference) add(c refCons) {
	if math.IsInf(c.cap, 1) {
		return
	}
	for _, a := range c.coef {
		if a != 0 {
			r.cons = append(r.cons, c)
			return
		}
	}
}

func (r *reference) load(c refCons, x []float64) float64 {
	s := 0.0
	for k, a := range c.coef {
		s += a * (x[k] - r.off[k])
	}
	return s
}

// fill is progressive filling: raise the level as far as every constraint
// allows (bisection), freeze the cars at their maximum or on a full
// constraint, repeat.
func (r *reference) fill() []float64 {
	n := len(r.cars)
	x := append([]float64(nil), r.lo...)
	frozen := make([]bool, n)
	at := func(level float64) []float64 {
		y := append([]float64(nil), x...)
		for k := range y {
			if !frozen[k] {
				y[k] = min(max(r.w[k]*level, r.lo[k]), r.hi[k])
			}
		}
		return y
	}
	feasible := func(level float64) bool {
		y := at(level)
		for _, c := range r.cons {
			if r.load(c, y) > c.cap+1e-12 {
				return false
			}
		}
		return true
	}
	for range n + 1 {
		top := 0.0
		for k := range n {
			if !frozen[k] {
				top = max(top, r.hi[k]/r.w[k])
			}
		}
		level := top
		if !feasible(top) {
			lo, hi := 0.0, top
			for range 200 {
				mid := (lo + hi) / 2
				if feasible(mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			level = lo
		}
		x = at(level)
		progress := false
		for k := range n {
			if frozen[k] {
				continue
			}
			if x[k] >= r.hi[k]-1e-12 || r.onFullConstraint(k, x, 1e-7) {
				frozen[k] = true
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	return x
}

func (r *reference) onFullConstraint(k int, x []float64, slack float64) bool {
	for _, c := range r.cons {
		if c.coef[k] != 0 && c.cap-r.load(c, x) < slack {
			return true
		}
	}
	return false
}

// pareto checks that every admitted car below its maximum loads a
// constraint that is full, up to the rounding of each car on it to the
// step and the dead band of cars held by it.
func (r *reference) pareto(out scheduler.Allocation, step float64) error {
	x := make([]float64, len(r.cars))
	for k, i := range r.cars {
		x[k] = float64(out.EVSEs[i].Limit)
	}
	band := float64(r.cfg.DeadBand)
	for k, i := range r.cars {
		if x[k] >= r.hi[k]-step-1e-6 || out.EVSEs[i].Reason.Code == scheduler.ReasonDeadBand {
			continue
		}
		full := false
		for _, c := range r.cons {
			if c.coef[k] == 0 {
				continue
			}
			allow := 1e-3
			for j, a := range c.coef {
				if a == 0 {
					continue
				}
				allow += a * step
				if out.EVSEs[r.cars[j]].Reason.Code == scheduler.ReasonDeadBand {
					allow += a * band
				}
			}
			if c.cap-r.load(c, x) <= allow {
				full = true
				break
			}
		}
		if !full {
			return fmt.Errorf("evse %s at %.3f A below its maximum %.3f A with room on every constraint it loads",
				r.in.EVSEs[i].ID, x[k], r.hi[k])
		}
	}
	return nil
}

// allowedModes lists the phase sets e may be counted on now, respecting
// the phase-switch dwell time.
func (r *reference) allowedModes(e *scheduler.EVSE) []scheduler.PhaseSet {
	m := schedtest.Modes(e)
	if len(m) == 1 || e.Switch.Since.IsZero() || r.in.Now.Sub(e.Switch.Since) >= r.cfg.PhaseSwitchDwell {
		return m
	}
	if e.Switch.OnePhase {
		return m[1:]
	}
	return m[:1]
}

// minCost is what admitting e at its minimum adds on each phase it is
// counted on: its minimum (lifted to min(floor, max)) less the part its
// floor counts anyway.
func minCost(in *scheduler.Input, e *scheduler.EVSE) float64 {
	lo, hi := schedtest.MinMax(in, e)
	off := min(schedtest.Floor(e), hi)
	return max(lo, off) - off
}

// fitsMin reports whether x more on the grid phases g at node fits (with a
// clear margin) next to the minimums of the admitted cars (above their
// floors).
func (r *reference) fitsMin(node int, g scheduler.PhaseSet, x float64) bool {
	const margin = 1e-4
	for n := node; n >= 0; n = r.in.Nodes[n].Parent {
		l := r.ls[n]
		var tot, asym [3]float64
		for p := range 3 {
			tot[p] = r.base[n][p]
		}
		add := func(grid scheduler.PhaseSet, a float64) {
			for p := range 3 {
				if grid.Has(scheduler.Phase(p + 1)) {
					tot[p] += a
					if grid != scheduler.AllPhases {
						asym[p] += a
					}
				}
			}
		}
		for k := range r.cars {
			if r.under(k, n) {
				add(r.grid[k], r.lo[k]-r.off[k])
			}
		}
		add(g, x)
		if tot[0]+tot[1]+tot[2] > l.Power-margin {
			return false
		}
		for p := range 3 {
			if tot[p] > l.Phase[p]-margin {
				return false
			}
		}
		if !math.IsInf(l.Imbalance, 1) && g != scheduler.AllPhases {
			lmin := min(r.base[n][0]+asym[0], r.base[n][1]+asym[1], r.base[n][2]+asym[2])
			for p := range 3 {
				if asym[p] > 0 && r.base[n][p]+asym[p] > lmin+l.Imbalance-margin {
					return false
				}
			}
		}
	}
	return true
}
