package scheduler

// maxPasses bounds the admission passes with imbalance limits; a pass that
// admits nobody ends them earlier (usually the second).
const maxPasses = 16

// admission decides which cars get at least their minimum. used holds, per
// constraint, the load of the cars admitted so far above their floors
// (their floors are in the tree's base): per phase all of it, for power
// the sum over phases, for imbalance only single- and two-phase cars' load.
type admission struct {
	t    *tree
	used []float64
}

// blocker names the first constraint a car's minimum does not fit.
type blocker struct {
	node int32
	k    int8 // constraint kind within the node; -1 none
}

// admit runs the greedy admission over cars in the given order and returns
// the per-constraint load of the admitted minimums. Cars under an
// infeasible node are never admitted.
func admit(t *tree, cars []car, order []int32) []float64 {
	a := admission{t: t, used: make([]float64, len(t.cap))}
	hasImb := false
	for _, m := range t.imbMax {
		hasImb = hasImb || limited(m)
	}
	// With imbalance limits one admission can make room for another (a
	// car on L2 lets one on L1 in), so a few passes are made; without,
	// room only shrinks and one pass decides.
	passes := 1
	if hasImb {
		passes = maxPasses
	}
	for pass := 0; pass < passes; pass++ {
		changed := false
		for _, i := range order {
			c := &cars[i]
			if c.admitted || t.infeasibleAt[c.node] >= 0 {
				continue
			}
			if a.tryAdmit(c) {
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	return a.used
}

func (a *admission) tryAdmit(c *car) bool {
	for m := range c.modes[:c.nModes] {
		md := c.modes[m]
		nb := a.fits(c.node, md.grid, c.lo-c.off)
		if nb.k < 0 {
			c.admitted, c.mode = true, md
			addLoad(a.t, a.used, c.node, md.grid, c.lo-c.off)
			return true
		}
		if m == 0 {
			c.block = nb
		}
	}
	return false
}

// fits reports the first constraint on the path from node to the root that
// x more on the grid phases in grid would break (k = -1 if none).
func (a *admission) fits(node int32, grid PhaseSet, x float64) blocker {
	t := a.t
	nph := float64(grid.Count())
	for n := t.up[node]; n >= 0; n = t.next(n) {
		c := int(n) * consCount
		for p := range 3 {
			if grid&(1<<p) != 0 && a.used[c+consPhase+p]+x > t.cap[c+consPhase+p]+slack {
				return blocker{node: n, k: int8(consPhase + p)}
			}
		}
		if a.used[c+consPower]+nph*x > t.cap[c+consPower]+slack {
			return blocker{node: n, k: consPower}
		}
		if grid != AllPhases && limited(t.imbMax[n]) {
			if p := t.imbalanceBreak(n, a.used[c+consImb:c+consImb+3], grid, x, slack); p >= 0 {
				return blocker{node: n, k: int8(consImb + p)}
			}
		}
	}
	return blocker{k: -1}
}

// addLoad counts x more on the grid phases in grid on every constraint from
// node to the root.
func addLoad(t *tree, used []float64, node int32, grid PhaseSet, x float64) {
	nph := float64(grid.Count())
	asym := grid != AllPhases
	for n := t.up[node]; n >= 0; n = t.next(n) {
		c := int(n) * consCount
		for p := range 3 {
			if grid&(1<<p) != 0 {
				used[c+consPhase+p] += x
				if asym {
					used[c+consImb+p] += x
				}
			}
		}
		used[c+consPower] += nph * x
	}
}

// imbalanceBreak reports the phase (0..2) on which adding x to the
// single/two-phase load asym on the phases in grid breaks node n's
// imbalance rule, or -1. The rule: on every phase that carries such load,
// base + load may exceed the lowest phase's base + load by at most the
// maximum imbalance (plus slack, the float tolerance).
// Three-phase load adds the same to every phase and drops out.
func (t *tree) imbalanceBreak(n int32, asym []float64, grid PhaseSet, x, slack float64) int {
	var l [3]float64
	var carried [3]bool
	for p := range 3 {
		a := asym[p]
		if grid&(1<<p) != 0 {
			a += x
		}
		l[p] = t.base[n][p] + a
		carried[p] = a > 0
	}
	lmin := min(l[0], l[1], l[2])
	for p := range 3 {
		if carried[p] && l[p] > lmin+t.imbMax[n]+slack {
			return p
		}
	}
	return -1
}
