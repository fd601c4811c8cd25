package scheduler

import "math"

// applyDeadBand keeps a car's previous limit when the new one differs by
// less than the dead band, as long as keeping it breaks no constraint: the
// change is checked against the loads with every other car at its new
// limit (and the cars kept so far at their old ones). Cars are taken in
// preorder, which is deterministic. tot holds the per-constraint totals of
// the new limits; it is updated.
func applyDeadBand(in *Input, cfg *Config, t *tree, cars []*car, res []Result, tot []float64) {
	band := float64(cfg.DeadBand)
	if band <= 0 {
		return
	}
	a := admission{t: t, used: tot}
	for _, c := range cars {
		r := &res[c.idx]
		e := &in.EVSEs[c.idx]
		prev, now := float64(e.PrevLimit), float64(r.Limit)
		if prev <= 0 || prev == now || math.Abs(prev-now) >= band {
			continue
		}
		if prev < c.lo || prev > e.maxLimit() {
			continue
		}
		if e.Switch.Capable && e.Switch.OnePhase != c.mode.onePhase {
			continue // a phase switch is a change anyway
		}
		d := prev - now
		if a.fits(c.node, c.mode.grid, d).k >= 0 {
			continue
		}
		addLoad(t, tot, c.node, c.mode.grid, d)
		r.Limit = Amps(prev)
		r.Load = e.load(c.mode.grid, prev)
		r.Reason = Reason{Code: ReasonDeadBand, Node: -1}
	}
}

// maxLimit is the most e may be given: the EVSE's and the car's maximum.
func (e *EVSE) maxLimit() float64 {
	m := float64(e.MaxCurrent)
	if e.CarMaxCurrent > 0 {
		m = min(m, float64(e.CarMaxCurrent))
	}
	return m
}
