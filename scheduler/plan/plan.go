package plan

import (
	"fmt"
	"math"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// improveSweeps bounds the cost-improvement sweeps; each sweep that
// changes nothing ends them early.
const improveSweeps = 8

// Plan plans every session of in over the horizon. It is a pure function:
// no I/O, no clock, no state, no goroutines. The only error is an invalid
// input (matching [ErrInvalidInput], naming every bad field).
func Plan(in Input) (Result, error) {
	if err := in.Validate(); err != nil {
		return Result{}, err
	}
	cfg := in.config()
	p := newProblem(&in, &cfg)
	// Small components exactly (LPs); the rest by the heuristic, whose
	// work on the exact components is then replaced.
	comps, sols, all := p.solveExact()
	if !all {
		p.fill(cfg.Rounds)
		p.improve(improveSweeps)
	}
	for k, c := range comps {
		p.setExact(c, sols[k])
	}
	planned := make([][]float64, len(p.ss))
	for i := range p.ss {
		planned[i] = append([]float64(nil), p.ss[i].x...)
	}
	cur := p.profiles(&in, &cfg)
	p.verify(cur)
	res := p.result(&in, planned, cur)
	res.Exact = all
	return res, nil
}

// verify recomputes every node's load from the rounded currents alone and
// sets to 0, below a node over its limit, every session in that slot. It
// is the last line of rule 1; the property tests have never seen it act.
func (p *problem) verify(cur [][]float64) {
	load := make([]float64, p.nn*4)
	for t := range p.T {
		clear(load)
		for i := range p.ss {
			s := &p.ss[i]
			a := cur[i][t]
			if a == 0 {
				continue
			}
			for _, n := range s.path {
				l := load[int(n)*4:][:4]
				for ph := range 3 {
					if s.g[ph] {
						l[ph] += a
					}
				}
				l[3] += a * s.nph
			}
		}
		for n := range p.nn {
			r := p.room0[(t*p.nn+n)*4:][:4]
			over := false
			for c := range 4 {
				over = over || load[n*4+c] > r[c]+1e-9
			}
			if !over {
				continue
			}
			sp := p.span[n]
			for _, j := range p.byNode[sp[0]:sp[1]] {
				cur[j][t] = 0
			}
		}
	}
	p.loadRounded(cur)
}

func (p *problem) result(in *Input, planned, cur [][]float64) Result {
	slot := in.SlotLen()
	res := Result{
		Start: in.Start, Slot: slot, Slots: p.T,
		Sessions:   make([]SessionPlan, len(p.ss)),
		Nodes:      make([]NodeLoad, p.nn),
		Level:      math.Inf(1),
		Infeasible: p.infeasible,
	}
	// Energy per slot at the grid connection, for cost and CO2.
	y := make([]float64, p.T)
	for i := range p.ss {
		s := &p.ss[i]
		for t := range s.end {
			y[t] += cur[i][t] * p.k(s, t)
		}
	}
	slotCost := make([]float64, p.T) // money per Wh, average in the slot
	for t := range p.T {
		inPV := min(y[t], p.surplus[t])
		c := p.money[0][t]*inPV + p.money[1][t]*(y[t]-inPV)
		res.Cost += Money(c)
		res.CO2 += Grams(p.co2[t] * (y[t] - inPV))
		if y[t] > 0 {
			slotCost[t] = c / y[t]
		}
	}
	for i := range p.ss {
		s := &p.ss[i]
		is := &in.Sessions[i]
		sp := &res.Sessions[i]
		sp.ID, sp.Need, sp.NoNeeds = is.ID, scheduler.WattHours(s.need), s.noNeeds
		sp.Phases = int(s.nph)
		sp.Planned = make([]scheduler.Amps, p.T)
		sp.Current = make([]scheduler.Amps, p.T)
		e, cost := 0.0, 0.0
		for t := range p.T {
			sp.Planned[t] = scheduler.Amps(planned[i][t])
			sp.Current[t] = scheduler.Amps(cur[i][t])
			if t < s.end {
				et := cur[i][t] * p.k(s, t)
				e += et
				cost += et * slotCost[t]
			}
		}
		sp.Energy, sp.Cost = scheduler.WattHours(e), Money(cost)
		// Met within one rounding step over one slot: the step is the
		// resolution of what a charger can be told.
		cfg := in.config()
		sp.Met = e >= s.need-metTolerance(&cfg, p, s)
		sp.Duration = time.Duration(s.end) * slot
		sp.Periods = schedule(cur[i], s.end, p.T, slot, is.Unit, p.v, sp.Phases, is.MaxPeriods)
		// Met in the continuous plan (to 1e-6 of the need: the exact
		// path holds energies with a relative slack of 1e-8): rounding
		// the profiles (s.e now) may lose a little, which is the
		// profile's doing, not the reason the other slots are empty.
		sp.Why = p.explain(in, s, planned[i], cur[i], p.energyOf(s, planned[i]) >= s.need-max(epsWh, 1e-6*s.need))
		if s.need > 0 && s.end > 0 && s.e < s.need-epsWh {
			res.Level = min(res.Level, s.level())
		}
	}
	for n := range p.nn {
		nl := &res.Nodes[n]
		nl.ID = in.Nodes[n].ID
		nl.Ours = make([]scheduler.PhaseCurrents, p.T)
		nl.Total = make([]scheduler.PhaseCurrents, p.T)
	}
	for i := range p.ss {
		s := &p.ss[i]
		for t := range s.end {
			a := scheduler.Amps(cur[i][t])
			if a == 0 {
				continue
			}
			for n := in.Sessions[i].Node; n >= 0; n = in.Nodes[n].Parent {
				for ph := range 3 {
					if s.g[ph] {
						res.Nodes[n].Ours[t][ph] += a
					}
				}
			}
		}
	}
	for n := range p.nn {
		nl := &res.Nodes[n]
		for t := range p.T {
			nl.Total[t] = nl.Ours[t]
			if o := in.Nodes[n].OtherLoad; len(o) > 0 {
				for ph := range 3 {
					nl.Total[t][ph] += o[t][ph]
				}
			}
		}
	}
	return res
}

// explain says, per slot, why session s gets no more than cur. p.cap
// holds the room left by every session's final limits.
// met reports whether the continuous plan meets the need.
func (p *problem) explain(in *Input, s *sess, planned, cur []float64, met bool) []Why {
	ws := make([]Why, p.T)
	step := float64(in.config().Step)
	last := -1 // the last slot the session charges in
	for t := range s.end {
		if cur[t] > 0 {
			last = t
		}
	}
	for t := range p.T {
		w := Why{Code: WhyMax, Node: -1}
		switch {
		case t >= s.end:
			w.Code = WhyDeparted
		case cur[t] >= s.hi-epsA:
		default:
			if n := p.badOnPath(s, t); n >= 0 {
				w = Why{Code: WhyInfeasible, Node: n, NodeID: in.Nodes[n].ID}
				break
			}
			room, node, con := p.roomRounded(s, t, cur[t])
			switch {
			case node >= 0 && room < step:
				w = Why{Code: WhyNodeLimit, Node: int(node), NodeID: in.Nodes[node].ID}
				if con < 3 {
					w.Phase = scheduler.Phase(con + 1)
				}
			case cur[t] == 0 && planned[t] > epsA:
				w.Code = WhyMinCurrent
			case planned[t] > cur[t]+step/2:
				w.Code = WhyProfile
			case met && (s.asap || t > last):
				// Nothing left to charge: a session without needs
				// charges as early as it can, so it is done; one with
				// needs has them met by the end of an earlier slot.
				w.Code = WhyNeedMet
			case met:
				w.Code = WhyPrice
			case cur[t] == 0 && room < s.lo:
				w.Code = WhyMinCurrent
			default:
				w.Code = WhyProfile
			}
		}
		ws[t] = w
	}
	return ws
}

func (p *problem) badOnPath(s *sess, t int) int {
	for _, n := range s.path {
		if p.bad[t*p.nn+int(n)] {
			return int(n)
		}
	}
	return -1
}

// String summarises a session plan on one line, for logs and tests.
func (sp *SessionPlan) String() string {
	return fmt.Sprintf("%s: %.0f/%.0f Wh met=%v periods=%d cost=%.4f", sp.ID, sp.Energy, sp.Need, sp.Met, len(sp.Periods), sp.Cost)
}
