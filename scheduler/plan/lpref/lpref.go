// Package lpref is the reference for package plan: the planning problem
// written plainly as linear programs and solved exactly with gonum's
// simplex (gonum.org/v1/gonum/optimize/convex/lp). It is for tests and
// small sites only: the simplex is dense, so a few sessions over a few
// slots is its size.
//
// # Formulation
//
// Variables: x[s][t] >= 0, the current (A per phase) of session s in slot
// t, for the slots that end by its departure where no node above it is
// overloaded by the other load alone; per slot t, y0[t] in [0, S[t]]
// (energy from PV surplus, Wh) and y1[t] >= 0 (energy imported), with
//
//	y0[t] + y1[t] = Σ_s k[s][t]·x[s][t]
//
// where k[s][t] = V·phases(s)·hours(slot) is the energy one ampere gives, and S[t] is the PV surplus at
// the grid connection, -V·Σ_p other[0][t][p]·hours, when positive.
//
// Limits, per slot t, node n with a limit, grid phase p:
//
//	Σ_{s below n, s draws on p} x[s][t] <= limit[n][t][p] - margin - other[n][t][p]
//	Σ_{s below n} phases(s)·x[s][t]     <= power[n][t]/V - 3·margin - Σ_p other[n][t][p]
//	x[s][t] <= max(s)
//
// Energy: E[s] = Σ_t k[s][t]·x[s][t] <= need[s].
//
// Objectives, in order (each fixed before the next):
//
//  1. Weighted max-min fairness, lexicographically: maximise λ with
//     E[s] >= need[s]·w[s]·λ for the sessions not yet fixed (and λ <=
//     1/w[s]); sessions that reach their need, or that cannot get more
//     with the others held at the level (one LP each), are fixed at that
//     energy; repeat with the rest.
//  2. Minimise Σ_t c0[t]·y0[t] + c1[t]·y1[t] + Σ_{s no needs} Σ_t
//     ASAPWeight·t·k[s][t]·x[s][t]/1000, where c1 = import price +
//     CO2Weight·CO2 + TieWeight·t, c0 = min(export price + TieWeight·t,
//     c1) (per kWh).
//
// The 0-or-at-least-minimum rule is not part of the LP (it makes the
// problem a MIP); plan's continuous plan (SessionPlan.Planned) is what
// compares with this reference.
package lpref

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
)

// ErrTooLarge is returned for instances beyond the dense simplex.
var ErrTooLarge = errors.New("lpref: instance too large for the dense simplex")

// Solution is the reference optimum.
type Solution struct {
	// X[s][t] is the current per session and slot.
	X [][]float64
	// Energy per session (Wh), Objective as in the package doc, Money the
	// plain energy cost.
	Energy    []float64
	Objective float64
	Money     float64
}

type model struct {
	in      *plan.Input
	T       int
	v, h    float64
	nph     []float64
	grid    [][3]bool
	hi      []float64
	need, w []float64
	asap    []bool
	k       [][]float64 // k[s][t], 0 where the session cannot charge
	under   [][]bool    // under[s][n]
	room    [][][4]float64
	surplus []float64
	c0, c1  []float64
	m0, m1  []float64
}

func newModel(in *plan.Input) *model {
	cfg := plan.DefaultConfig()
	if in.Config != nil {
		cfg = *in.Config
	}
	T := in.Slots()
	slot := in.SlotLen()
	m := &model{in: in, T: T, v: float64(in.NominalVoltage), h: slot.Hours()}
	nn := len(in.Nodes)
	margin := float64(cfg.SafetyMargin)
	m.room = make([][][4]float64, T)
	bad := make([][]bool, T)
	m.surplus = make([]float64, T)
	for t := range T {
		m.room[t] = make([][4]float64, nn)
		bad[t] = make([]bool, nn)
		from := in.Start.Add(time.Duration(t) * slot)
		to := from.Add(slot)
		for n, nd := range in.Nodes {
			var lim [3]float64
			for p := range 3 {
				lim[p] = float64(nd.Limit[p])
			}
			pw := math.Inf(1)
			if nd.PowerLimit > 0 {
				pw = float64(nd.PowerLimit) / m.v
			}
			for _, w := range nd.Windows {
				if w.From.Before(to) && w.To.After(from) {
					for p := range 3 {
						lim[p] = min(lim[p], float64(w.Limit[p]))
					}
					if w.PowerLimit > 0 {
						pw = min(pw, float64(w.PowerLimit)/m.v)
					}
				}
			}
			var other [3]float64
			if len(nd.OtherLoad) > 0 {
				for p := range 3 {
					other[p] = float64(nd.OtherLoad[t][p])
				}
			}
			r := &m.room[t][n]
			for p := range 3 {
				r[p] = lim[p] - margin - other[p]
			}
			r[3] = pw - 3*margin - other[0] - other[1] - other[2]
			for c := range 4 {
				bad[t][n] = bad[t][n] || r[c] < 0
			}
			if n == 0 {
				m.surplus[t] = max(0, -(other[0]+other[1]+other[2])*m.v*m.h)
				if t == 0 {
					m.surplus[t] *= in.FirstFraction()
				}
			}
		}
	}
	m.c0, m.c1 = make([]float64, T), make([]float64, T)
	m.m0, m.m1 = make([]float64, T), make([]float64, T)
	for t := range T {
		var imp, exp, co2 float64
		if len(in.Price) > 0 {
			imp = float64(in.Price[t])
		}
		if len(in.ExportPrice) > 0 {
			exp = float64(in.ExportPrice[t])
		}
		if len(in.CO2) > 0 {
			co2 = float64(in.CO2[t])
		}
		m.m1[t] = imp / 1000
		m.m0[t] = min(exp, imp) / 1000
		m.c1[t] = (imp + plan.CO2Weight*co2 + plan.TieWeight*float64(t)) / 1000
		m.c0[t] = min((exp+plan.TieWeight*float64(t))/1000, m.c1[t])
	}
	S := len(in.Sessions)
	m.nph, m.grid, m.hi = make([]float64, S), make([][3]bool, S), make([]float64, S)
	m.need, m.w, m.asap = make([]float64, S), make([]float64, S), make([]bool, S)
	m.k, m.under = make([][]float64, S), make([][]bool, S)
	end := in.Start.Add(time.Duration(T) * slot)
	for i := range in.Sessions {
		s := &in.Sessions[i]
		need, noNeeds := s.Need(cfg)
		m.need[i], m.asap[i] = float64(need), noNeeds
		m.w[i] = s.Priority
		if m.w[i] == 0 {
			m.w[i] = 1
		}
		m.hi[i] = float64(s.MaxCurrent)
		g := s.GridPhases()
		for p := range 3 {
			m.grid[i][p] = g.Has(scheduler.Phase(p + 1))
		}
		m.nph[i] = float64(g.Count())
		m.under[i] = make([]bool, nn)
		for n := s.Node; n >= 0; n = in.Nodes[n].Parent {
			m.under[i][n] = true
		}
		dep := s.Departure
		if dep.IsZero() {
			dep = end
			if noNeeds && cfg.DefaultStay > 0 {
				dep = in.Start.Add(cfg.DefaultStay)
			}
		}
		m.k[i] = make([]float64, T)
		for t := range T {
			from := in.Start.Add(time.Duration(t) * slot)
			ok := !from.Add(slot).After(dep) // whole slots before departure
			for n := range nn {
				ok = ok && !(m.under[i][n] && bad[t][n])
			}
			if ok {
				m.k[i][t] = m.v * m.nph[i] * m.h
				if t == 0 {
					m.k[i][t] *= in.FirstFraction() // Input.From
				}
			}
		}
	}
	return m
}

// Objective is the objective of the package doc for currents x[s][t], and
// the plain money cost.
func Objective(in *plan.Input, x [][]float64) (obj, money float64) {
	m := newModel(in)
	for t := range m.T {
		y := 0.0
		for s := range x {
			e := x[s][t] * m.k[s][t]
			y += e
			if m.asap[s] {
				obj += plan.ASAPWeight / 1000 * float64(t) * e
			}
		}
		pv := min(y, m.surplus[t])
		obj += m.c0[t]*pv + m.c1[t]*(y-pv)
		money += m.m0[t]*pv + m.m1[t]*(y-pv)
	}
	return obj, money
}

// Energy is the energy (Wh) currents x give each session by departure.
func Energy(in *plan.Input, x [][]float64) []float64 {
	m := newModel(in)
	e := make([]float64, len(x))
	for s := range x {
		for t := range m.T {
			e[s] += x[s][t] * m.k[s][t]
		}
	}
	return e
}

// lpBuilder collects rows over variables x >= 0 and turns them into the
// standard form gonum's Simplex takes (slack per inequality).
type lpBuilder struct {
	nv   int
	rows []row
}

type row struct {
	coef map[int]float64
	rhs  float64
	kind int // -1: <=, 0: =, +1: >=
}

func (b *lpBuilder) add(coef map[int]float64, kind int, rhs float64) {
	if len(coef) == 0 {
		return
	}
	b.rows = append(b.rows, row{coef, rhs, kind})
}

func (b *lpBuilder) solve(c []float64) ([]float64, float64, error) {
	nIneq := 0
	for _, r := range b.rows {
		if r.kind != 0 {
			nIneq++
		}
	}
	cols := b.nv + nIneq
	if len(b.rows)*cols > 4_000_000 {
		return nil, 0, ErrTooLarge
	}
	A := mat.NewDense(len(b.rows), cols, nil)
	rhs := make([]float64, len(b.rows))
	sl := b.nv
	for i, r := range b.rows {
		sign := 1.0
		if r.rhs < 0 { // Simplex wants b >= 0 for its phase one
			sign = -1
		}
		for j, a := range r.coef {
			A.Set(i, j, sign*a)
		}
		if r.kind != 0 {
			A.Set(i, sl, sign*float64(-r.kind))
			sl++
		}
		rhs[i] = sign * r.rhs
	}
	cc := make([]float64, cols)
	copy(cc, c)
	opt, x, err := lp.Simplex(cc, A, rhs, 1e-10, nil)
	if err != nil {
		return nil, 0, err
	}
	return x[:b.nv], opt, nil
}

// Solve computes the reference optimum.
func Solve(in plan.Input) (Solution, error) {
	if err := in.Validate(); err != nil {
		return Solution{}, err
	}
	m := newModel(&in)
	S, T := len(in.Sessions), m.T
	// Variable numbering: x[s][t] where k > 0, then y0[t], y1[t], then λ.
	xi := make([][]int, S)
	nv := 0
	for s := range S {
		xi[s] = make([]int, T)
		for t := range T {
			xi[s][t] = -1
			if m.k[s][t] > 0 {
				xi[s][t] = nv
				nv++
			}
		}
	}
	y0, y1 := nv, nv+T
	lam := nv + 2*T
	nv = lam + 1
	base := lpBuilder{nv: nv}
	for t := range T {
		for n := range in.Nodes {
			for c := range 4 {
				if math.IsInf(m.room[t][n][c], 1) {
					continue
				}
				coef := map[int]float64{}
				for s := range S {
					if xi[s][t] < 0 || !m.under[s][n] {
						continue
					}
					switch {
					case c == 3:
						coef[xi[s][t]] = m.nph[s]
					case m.grid[s][c]:
						coef[xi[s][t]] = 1
					}
				}
				base.add(coef, -1, max(0, m.room[t][n][c]))
			}
		}
		tier := map[int]float64{y0 + t: 1, y1 + t: 1}
		for s := range S {
			if xi[s][t] >= 0 {
				tier[xi[s][t]] = -m.k[s][t]
				base.add(map[int]float64{xi[s][t]: 1}, -1, m.hi[s])
			}
		}
		base.add(tier, 0, 0)
		base.add(map[int]float64{y0 + t: 1}, -1, m.surplus[t])
	}
	energy := func(s int) map[int]float64 {
		e := map[int]float64{}
		for t := range T {
			if xi[s][t] >= 0 {
				e[xi[s][t]] = m.k[s][t]
			}
		}
		return e
	}
	for s := range S {
		base.add(energy(s), -1, m.need[s])
	}
	const tol = 1e-6
	fixed := make([]float64, S) // lower bound on E[s] once fixed
	isFixed := make([]bool, S)
	for s := range S {
		if len(energy(s)) == 0 || m.need[s] <= 0 {
			isFixed[s] = true
		}
	}
	withBounds := func(level float64, lamRow bool) lpBuilder {
		b := lpBuilder{nv: nv, rows: append([]row(nil), base.rows...)}
		lamMax := math.Inf(1)
		for s := range S {
			switch {
			case isFixed[s]:
				b.add(energy(s), +1, fixed[s]-tol)
			case lamRow:
				e := energy(s)
				e[lam] = -m.need[s] * m.w[s]
				b.add(e, +1, 0)
				lamMax = min(lamMax, 1/m.w[s])
			default:
				b.add(energy(s), +1, m.need[s]*min(1, m.w[s]*level)-tol)
			}
		}
		if lamRow {
			b.add(map[int]float64{lam: 1}, -1, lamMax)
		} else {
			b.add(map[int]float64{lam: 1}, 0, 0)
		}
		return b
	}
	for iter := 0; iter <= S; iter++ {
		var active []int
		for s := range S {
			if !isFixed[s] {
				active = append(active, s)
			}
		}
		if len(active) == 0 {
			break
		}
		b := withBounds(0, true)
		c := make([]float64, nv)
		c[lam] = -1
		x, _, err := b.solve(c)
		if err != nil {
			return Solution{}, fmt.Errorf("lpref: fairness level: %w", err)
		}
		level := x[lam]
		progress := false
		for _, s := range active {
			if m.w[s]*level >= 1-1e-9 {
				isFixed[s], fixed[s], progress = true, m.need[s], true
				continue
			}
			b := withBounds(level, false)
			c := make([]float64, nv)
			for j, a := range energy(s) {
				c[j] = -a
			}
			_, opt, err := b.solve(c)
			if err != nil {
				return Solution{}, fmt.Errorf("lpref: bottleneck of session %d: %w", s, err)
			}
			if -opt <= m.need[s]*m.w[s]*level+1e-4 {
				isFixed[s], fixed[s], progress = true, m.need[s]*m.w[s]*level, true
			}
		}
		if !progress {
			return Solution{}, errors.New("lpref: fairness made no progress")
		}
	}
	b := withBounds(0, false)
	c := make([]float64, nv)
	for t := range T {
		c[y0+t], c[y1+t] = m.c0[t], m.c1[t]
		for s := range S {
			if xi[s][t] >= 0 && m.asap[s] {
				c[xi[s][t]] = plan.ASAPWeight / 1000 * float64(t) * m.k[s][t]
			}
		}
	}
	x, _, err := b.solve(c)
	if err != nil {
		return Solution{}, fmt.Errorf("lpref: cost: %w", err)
	}
	sol := Solution{X: make([][]float64, S)}
	for s := range S {
		sol.X[s] = make([]float64, T)
		for t := range T {
			if xi[s][t] >= 0 {
				sol.X[s][t] = max(0, x[xi[s][t]])
			}
		}
	}
	sol.Energy = Energy(&in, sol.X)
	sol.Objective, sol.Money = Objective(&in, sol.X)
	return sol, nil
}
