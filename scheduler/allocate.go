package scheduler

import "math"

// Allocate decides the limit of every EVSE in the input. It validates the
// input first and returns an error matching [ErrInvalidInput] for bad
// input; otherwise it always returns an allocation that keeps every limit
// (rule 1 in ALGORITHM.md), pausing EVSEs where it must. The same input
// gives the same allocation.
func Allocate(in Input) (Allocation, error) {
	if err := in.Validate(); err != nil {
		return Allocation{}, err
	}
	cfg := in.config()
	t := newTree(&in, &cfg)
	res := make([]Result, len(in.EVSEs))
	cars := classify(&in, &cfg, t, res)
	out := Allocation{EVSEs: res, Infeasible: t.computeCaps()}

	order := admissionOrder(cars, in.EVSEs)
	used := admit(t, cars, order)
	t.setImbalanceCaps(used)
	admitted := make([]*car, 0, len(cars))
	for _, i := range order {
		if cars[i].admitted {
			admitted = append(admitted, &cars[i])
		}
	}
	f := waterfill(t, admitted, used)
	x, by, filled := f.x, f.frozenBy, f.cars
	roundDown(x, filled, float64(cfg.Step))
	tot := f.repair(float64(cfg.Step))
	for i, c := range filled {
		r := &res[c.idx]
		r.Limit = Amps(x[i])
		r.Phases = c.mode.grid
		r.OnePhase = c.mode.onePhase
		r.Load = in.EVSEs[c.idx].load(c.mode.grid, x[i])
		r.Reason = t.limitReason(c, by[i], &in)
	}
	applyDeadBand(&in, &cfg, t, filled, res, tot)
	pausedReasons(t, cars, res, out.Infeasible)
	verify(&in, t, res)
	return out, nil
}

// roundDown rounds every limit down to the step, never below the car's
// minimum (which was admitted as it is) and never above its maximum.
func roundDown(x []float64, cars []*car, step float64) {
	for i, c := range cars {
		// The tiny bias keeps 16 from becoming 15.9 through float noise
		// (16/0.1 = 159.99...); repair takes back the little it may add.
		r := math.Floor(x[i]/step+1e-6) * step
		x[i] = min(max(r, c.lo), c.hi)
	}
}

// limitReason explains the limit of an admitted car.
func (t *tree) limitReason(c *car, by int32, in *Input) Reason {
	if by < 0 {
		return Reason{Code: c.hiCode, Node: -1}
	}
	n := by / consCount
	k := by % consCount
	r := Reason{Node: int(n), NodeID: t.id[n], NodeKind: t.kind[n]}
	switch {
	case k < consPower:
		r.Code, r.Phase = ReasonPhaseLimit, Phase(k+1)
		if x := t.extSrc[n][k]; x >= 0 {
			r.Code, r.Source = ReasonExternal, in.External[x].Source
		}
	case k == consPower:
		r.Code = ReasonPowerLimit
	default:
		r.Code, r.Phase = ReasonImbalance, Phase(k-consImb+1)
	}
	return r
}

// pausedReasons explains why cars that were not admitted are paused.
func pausedReasons(t *tree, cars []car, res []Result, inf []Infeasibility) {
	var prios map[float64]bool
	for i := range cars {
		c := &cars[i]
		if c.admitted {
			continue
		}
		r := &res[c.idx]
		r.Reason = Reason{Node: -1}
		if k := t.infeasibleAt[c.node]; k >= 0 {
			x := inf[k]
			r.Reason = Reason{Code: ReasonInfeasible, Node: x.Node, NodeID: x.NodeID,
				NodeKind: t.kind[x.Node], Phase: x.Phase, Amount: x.Excess}
			continue
		}
		if prios == nil {
			prios = admittedPriorities(cars)
		}
		n := c.block.node
		r.Reason = Reason{Code: ReasonNoRoom, Node: int(n), NodeID: t.id[n], NodeKind: t.kind[n]}
		if prios[c.w] {
			r.Reason.Code = ReasonRotation
		}
		switch k := int32(c.block.k); {
		case k < consPower:
			r.Reason.Phase = Phase(k + 1)
		case k > consPower:
			r.Reason.Phase = Phase(k - consImb + 1)
		}
	}
}

// admittedPriorities lists the priorities of the admitted cars that take
// room (suspended cars and cars within their floor free none by pausing).
func admittedPriorities(cars []car) map[float64]bool {
	m := make(map[float64]bool)
	for i := range cars {
		if cars[i].admitted && cars[i].group != groupSuspended && cars[i].lo > cars[i].off {
			m[cars[i].w] = true
		}
	}
	return m
}
