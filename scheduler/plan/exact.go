package plan

import (
	"errors"
	"fmt"
	"math"
)

// Size bounds of the exact path. gonum's simplex is dense and factorises
// the basis on every pivot (O(m³) per pivot for m rows), so its time grows
// by about the fourth power of the size: a component of 24 variables
// solves in about a millisecond, one of 100 in about 0.1-1 s. A component
// within both bounds is solved exactly; the others by the heuristic.
const (
	exactMaxVars = 48  // current variables x[s][t] of one component
	exactMaxRows = 160 // rows of its largest LP
)

const (
	// exactTol is the relative slack with which an energy f reached by one
	// LP is held in the next (E >= f·(1 - exactTol)):
	// it keeps the next LP feasible in floating point.
	exactTol = 1e-8
	// exactGain is the least gain (a fraction of need) that makes a session
	// not a bottleneck of its fairness level.
	exactGain = 1e-7
	// exactCap bounds each session's gain (a fraction of need) in the
	// bottleneck LP, so that the LP spreads the gain over every session
	// that can gain instead of piling it on one.
	exactCap = 1e-3
	// objScale scales money per Wh up to money per kWh in the cost LP,
	// so that the CO2 and tie weights stay well above simplexTol.
	objScale = 1e3
)

// errExactSize reports a component beyond the bounds of the exact path.
var errExactSize = errors.New("plan: component too large for the exact path")

// lpRow is one inequality over the LP's variables: Σ val·x <= rhs, or >=
// with ge.
type lpRow struct {
	idx []int
	val []float64
	rhs float64
	ge  bool
}

// component is a set of sessions that share no binding constraint with
// any other session: its LP is independent of the rest of the site.
type component struct {
	ss []int     // indices into problem.ss
	xi [][]int32 // xi[j][t]: variable of session ss[j] in slot t, -1 none
	ub [][]float64
	nx int   // number of x variables
	pv []int // slots with a PV-tier variable (variable nx+i)
	// base rows: node limits that can bind, variable upper bounds,
	// energy <= need, PV tier.
	base []lpRow
	// energy[j] is session ss[j]'s energy row in kWh.
	energy []lpRow
}

func (c *component) nv() int { return c.nx + len(c.pv) }

// components splits the sessions that can charge into independent
// components. A (slot, node, constraint) can bind when the sessions below
// the node that may charge in the slot could together exceed its room at
// their maximum; such a constraint joins its sessions. PV surplus priced
// below import joins every session charging in that slot (the tier is
// shared at the grid connection).
//
// It returns the components within exactMaxVars, and whether there were
// larger ones (left to the heuristic).
func (p *problem) components() (comps []*component, large bool) {
	S := len(p.ss)
	parent := make([]int, S)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) { parent[find(a)] = find(b) }
	// can[i][t]: session i may charge in slot t.
	can := func(s *sess, t int) bool {
		return !s.done && s.need > 0 && t < s.end && p.badOnPath(s, t) < 0
	}
	// binding[(t*nn+n)*4+c]
	binding := make([]bool, p.T*p.nn*4)
	for t := range p.T {
		for n := range p.nn {
			if !p.limiting[n] {
				continue
			}
			sp := p.span[n]
			r := p.room0[(t*p.nn+n)*4:][:4]
			for c := range 4 {
				if math.IsInf(r[c], 1) || r[c] >= math.MaxFloat64 {
					continue
				}
				demand, first := 0.0, -1
				for _, j := range p.byNode[sp[0]:sp[1]] {
					s := &p.ss[j]
					if !s.loads(c) || !can(s, t) {
						continue
					}
					if c == 3 {
						demand += s.hi * s.nph
					} else {
						demand += s.hi
					}
					if first < 0 {
						first = int(j)
					}
				}
				if demand <= r[c]+epsA || first < 0 {
					continue
				}
				binding[(t*p.nn+n)*4+c] = true
				for _, j := range p.byNode[sp[0]:sp[1]] {
					s := &p.ss[j]
					if s.loads(c) && can(s, t) {
						union(first, int(j))
					}
				}
			}
		}
	}
	pvSlot := make([]bool, p.T)
	for t := range p.T {
		if p.surplus[t] <= 0 || p.cost[0][t] >= p.cost[1][t] {
			continue
		}
		first := -1
		for i := range p.ss {
			if can(&p.ss[i], t) {
				if first < 0 {
					first = i
					pvSlot[t] = true
				}
				union(first, i)
			}
		}
	}
	// Variables per component first: only components within the bounds
	// are built (a large site is one large component).
	nvars := make([]int, S)
	for i := range p.ss {
		s := &p.ss[i]
		for t := range s.end {
			if can(s, t) {
				nvars[find(i)]++
			}
		}
	}
	compOf := make([]*component, S)
	where := make([]int, S) // position of a session in its component
	for i := range p.ss {
		r := find(i)
		if nvars[r] == 0 {
			continue
		}
		if nvars[r] > exactMaxVars {
			large = true
			continue
		}
		s := &p.ss[i]
		if compOf[r] == nil {
			compOf[r] = &component{}
			comps = append(comps, compOf[r])
		}
		c := compOf[r]
		compOf[i] = c
		where[i] = len(c.ss)
		c.ss = append(c.ss, i)
		xi := make([]int32, p.T)
		ub := make([]float64, p.T)
		for t := range p.T {
			xi[t] = -1
			if can(s, t) {
				xi[t] = int32(c.nx)
				c.nx++
				ub[t] = p.bound(s, t)
			}
		}
		c.xi = append(c.xi, xi)
		c.ub = append(c.ub, ub)
	}
	if len(comps) == 0 {
		return nil, large
	}
	// Node rows that can bind, in the component of their sessions.
	for t := range p.T {
		for n := range p.nn {
			for c := range 4 {
				if !binding[(t*p.nn+n)*4+c] {
					continue
				}
				var row lpRow
				var comp *component
				sp := p.span[n]
				for _, j := range p.byNode[sp[0]:sp[1]] {
					s := &p.ss[j]
					if !s.loads(c) || compOf[j] == nil {
						continue
					}
					v := compOf[j].xi[where[j]][t]
					if v < 0 {
						continue
					}
					comp = compOf[j]
					coef := 1.0
					if c == 3 {
						coef = s.nph
					}
					row.idx = append(row.idx, int(v))
					row.val = append(row.val, coef)
				}
				if comp == nil {
					continue
				}
				row.rhs = p.room0[(t*p.nn+n)*4+c]
				comp.base = append(comp.base, row)
			}
		}
	}
	for _, c := range comps {
		for j, i := range c.ss {
			s := &p.ss[i]
			e := lpRow{rhs: s.need / 1000}
			for t, v := range c.xi[j] {
				if v < 0 {
					continue
				}
				c.base = append(c.base, lpRow{idx: []int{int(v)}, val: []float64{1}, rhs: c.ub[j][t]})
				e.idx = append(e.idx, int(v))
				e.val = append(e.val, p.k(s, t)/1000)
			}
			c.energy = append(c.energy, e)
			c.base = append(c.base, e) // E <= need
		}
	}
	// PV tier: y0[t] <= S[t] and y0[t] <= what the sessions draw (kWh).
	for t := range p.T {
		if !pvSlot[t] {
			continue
		}
		var comp *component
		row := lpRow{}
		for i := range p.ss {
			c := compOf[i]
			if c == nil {
				continue
			}
			if v := c.xi[where[i]][t]; v >= 0 {
				comp = c
				row.idx = append(row.idx, int(v))
				row.val = append(row.val, -p.k(&p.ss[i], t)/1000)
			}
		}
		if comp == nil {
			continue // the sessions of the slot are in a large component
		}
		y := comp.nx + len(comp.pv)
		comp.pv = append(comp.pv, t)
		row.idx = append(row.idx, y)
		row.val = append(row.val, 1)
		comp.base = append(comp.base, row, lpRow{idx: []int{y}, val: []float64{1}, rhs: p.surplus[t] / 1000})
	}
	return comps, large
}

// bound is the most session s can take in slot t alone: its maximum and
// every room on its path.
func (p *problem) bound(s *sess, t int) float64 {
	b := s.hi
	for _, n := range s.path {
		r := p.room0[(t*p.nn+int(n))*4:][:4]
		for ph := range 3 {
			if s.g[ph] {
				b = min(b, r[ph])
			}
		}
		b = min(b, r[3]/s.nph)
	}
	return max(b, 0)
}

// solveLP minimises c·x over x >= 0 (nv variables) subject to rows.
func solveLP(nv int, rows []lpRow, c []float64) ([]float64, error) {
	return simplexDense(nv, rows, c)
}

// exact solves component c exactly: lexicographic weighted max-min
// fairness of the fraction of need met (one LP per level, and LPs that
// find the level's bottlenecks), then the least cost with every energy
// held. It returns the currents per variable, or an error (the component
// is too large, or the simplex failed).
func (p *problem) exact(c *component) ([]float64, error) {
	nv := c.nv()
	rows := len(c.base) + 2*len(c.ss) + 1
	if c.nx > exactMaxVars || rows > exactMaxRows {
		return nil, errExactSize
	}
	n := len(c.ss)
	need := make([]float64, n) // kWh
	w := make([]float64, n)
	for j, i := range c.ss {
		need[j], w[j] = p.ss[i].need/1000, p.ss[i].w
	}
	// lower[j] is the energy session j is held at, once fixed.
	lower := make([]float64, n)
	fixed := make([]bool, n)
	hold := func(rows []lpRow, j int, f float64) []lpRow {
		if f <= 0 {
			return rows
		}
		e := c.energy[j]
		return append(rows, lpRow{idx: e.idx, val: e.val, rhs: f * (1 - exactTol), ge: true})
	}
	// Every need met? Then that is the fairness optimum.
	all := append([]lpRow(nil), c.base...)
	for j := range n {
		all = hold(all, j, need[j])
	}
	x, err := p.exactCost(c, all)
	if err == nil {
		return x, nil
	}
	if !errors.Is(err, errLPInfeasible) {
		return nil, err
	}
	for level := 0; level <= n; level++ {
		var act []int
		for j := range n {
			if !fixed[j] {
				act = append(act, j)
			}
		}
		if len(act) == 0 {
			break
		}
		// Max λ: every active session at need·w·λ or more.
		lam := nv
		rows := append([]lpRow(nil), c.base...)
		lamMax := math.Inf(1)
		for j := range n {
			if fixed[j] {
				rows = hold(rows, j, lower[j])
				continue
			}
			e := c.energy[j]
			r := lpRow{idx: append(append([]int(nil), e.idx...), lam), rhs: 0}
			for _, v := range e.val {
				r.val = append(r.val, -v)
			}
			r.val = append(r.val, need[j]*w[j])
			rows = append(rows, r)
			lamMax = min(lamMax, 1/w[j])
		}
		rows = append(rows, lpRow{idx: []int{lam}, val: []float64{1}, rhs: lamMax})
		obj := make([]float64, nv+1)
		obj[lam] = -1
		xs, err := solveLP(nv+1, rows, obj)
		if err != nil {
			return nil, fmt.Errorf("fairness level: %w", err)
		}
		lv := xs[lam]
		var z []int // candidates for the bottleneck
		for _, j := range act {
			if w[j]*lv >= 1-1e-9 {
				fixed[j], lower[j] = true, need[j]
			} else {
				z = append(z, j)
			}
		}
		candidates := len(z)
		// The bottlenecks: the largest set Z whose sessions cannot gain
		// together (max Σ gains = 0); a session that gains in one LP is
		// no bottleneck and leaves Z.
		for len(z) > 0 {
			rows := append([]lpRow(nil), c.base...)
			inZ := make([]int, n)
			for j := range inZ {
				inZ[j] = -1
			}
			for k, j := range z {
				inZ[j] = k
			}
			obj := make([]float64, nv+len(z))
			for j := range n {
				switch {
				case fixed[j]:
					rows = hold(rows, j, lower[j])
				case inZ[j] < 0:
					rows = hold(rows, j, need[j]*w[j]*lv)
				default:
					// need·u <= E - (need·w·λ - tol), u <= cap.
					u := nv + inZ[j]
					e := c.energy[j]
					r := lpRow{idx: append(append([]int(nil), e.idx...), u), rhs: need[j] * w[j] * lv * (1 - exactTol), ge: true}
					r.val = append(r.val, e.val...)
					r.val = append(r.val, -need[j])
					rows = append(rows, r, lpRow{idx: []int{u}, val: []float64{1}, rhs: exactCap})
					obj[u] = -1
				}
			}
			xs, err := solveLP(nv+len(z), rows, obj)
			if err != nil {
				return nil, fmt.Errorf("bottleneck: %w", err)
			}
			next := z[:0]
			for k, j := range z {
				if xs[nv+k] <= exactGain {
					next = append(next, j)
				}
			}
			if len(next) == len(z) {
				break
			}
			z = next
		}
		if len(z) == 0 && candidates > 0 && lv < lamMax*(1-1e-9) {
			// Not possible in exact arithmetic: λ was the most every
			// active session could reach together. (When λ stopped at
			// the cap 1/w, the sessions that met their need are the
			// progress, and the others may all still gain.)
			return nil, errors.New("plan: fairness found no bottleneck")
		}
		for _, j := range z {
			fixed[j], lower[j] = true, need[j]*w[j]*lv
		}
	}
	for j := range n {
		if !fixed[j] {
			return nil, errors.New("plan: fairness did not converge")
		}
	}
	all = append([]lpRow(nil), c.base...)
	for j := range n {
		all = hold(all, j, lower[j])
	}
	return p.exactCost(c, all)
}

// exactCost minimises the cost (as in [problem.objective]) subject to
// rows, which hold the energies.
func (p *problem) exactCost(c *component, rows []lpRow) ([]float64, error) {
	nv := c.nv()
	obj := make([]float64, nv)
	for j, i := range c.ss {
		s := &p.ss[i]
		for t, v := range c.xi[j] {
			if v >= 0 {
				obj[v] = objScale * p.unit(s, t, 1) * p.k(s, t)
			}
		}
	}
	for k, t := range c.pv {
		// y0 is in kWh; the PV tier saves c1 - c0 per Wh on it.
		obj[c.nx+k] = -objScale * 1000 * (p.cost[1][t] - p.cost[0][t])
	}
	xs, err := solveLP(nv, rows, obj)
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	return xs, nil
}

// solveExact solves every component within the size bounds exactly and
// sets those sessions' currents; it reports whether every component was
// (then the heuristic has nothing left to do).
func (p *problem) solveExact() (solved []*component, sols [][]float64, all bool) {
	comps, large := p.components()
	all = !large
	for _, c := range comps {
		x, err := p.exact(c)
		if err != nil {
			all = false
			continue
		}
		solved = append(solved, c)
		sols = append(sols, x)
	}
	return solved, sols, all
}

// setExact replaces the currents of the sessions of c by the LP's.
func (p *problem) setExact(c *component, x []float64) {
	for j, i := range c.ss {
		s := &p.ss[i]
		for t := range p.T {
			if s.x[t] != 0 {
				p.add(s, t, -s.x[t])
			}
			s.x[t] = 0
		}
		for t, v := range c.xi[j] {
			if v < 0 {
				continue
			}
			if a := min(max(x[v], 0), c.ub[j][t]); a > epsA {
				p.add(s, t, a)
			}
		}
	}
}
