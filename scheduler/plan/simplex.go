package plan

import (
	"errors"
	"math"
)

// Errors of the simplex; the planner falls back to the heuristic on any.
var (
	errLPInfeasible = errors.New("plan: LP infeasible")
	errLPUnbounded  = errors.New("plan: LP unbounded")
	errLPIterations = errors.New("plan: LP iteration limit")
)

const (
	pivotTol = 1e-9  // smallest pivot element
	costTol  = 1e-10 // reduced cost counted as negative below -costTol
	feasTol  = 1e-8  // phase one: sum of artificials counted as 0
)

// simplexDense minimises c·x over x >= 0 subject to rows (Σ val·x <= rhs,
// or >= with ge), nv variables, with a dense two-phase tableau simplex:
// Dantzig's rule, Bland's rule after degenerate pivots (no cycling), and a
// bound on the pivots so that it always returns. gonum's lp.Simplex was
// the first choice; it refactorises the basis on every pivot and has no
// pivot bound (it cycled forever on degenerate instances), so the planner
// has its own. The tests check it against gonum's (plan/lpref).
func simplexDense(nv int, rows []lpRow, c []float64) ([]float64, error) {
	m := len(rows)
	// Columns: nv structural, one slack per row, artificials as needed,
	// then the right-hand side.
	nArt := 0
	flip := make([]float64, m)
	for i, r := range rows {
		flip[i] = 1
		if r.rhs < 0 {
			flip[i] = -1
		}
		slack := 1.0
		if r.ge {
			slack = -1
		}
		if slack*flip[i] < 0 {
			nArt++
		}
	}
	n := nv + m + nArt
	w := n + 1
	tab := make([]float64, (m+1)*w) // row m: reduced costs
	basis := make([]int, m)
	art := nv + m
	for i, r := range rows {
		row := tab[i*w : (i+1)*w]
		f := flip[i]
		for k, j := range r.idx {
			row[j] += f * r.val[k]
		}
		slack := 1.0
		if r.ge {
			slack = -1
		}
		row[nv+i] = f * slack
		row[n] = f * r.rhs
		if f*slack > 0 {
			basis[i] = nv + i
		} else {
			row[art] = 1
			basis[i] = art
			art++
		}
	}
	maxIter := 50 * (m + n)
	if nArt > 0 {
		// Phase one: minimise the sum of the artificials.
		obj := tab[m*w : (m+1)*w]
		for i := range m {
			if basis[i] >= nv+m {
				for j := 0; j <= n; j++ {
					if j < nv+m {
						obj[j] -= tab[i*w+j]
					} else if j == n {
						obj[j] -= tab[i*w+j]
					}
				}
			}
		}
		if err := pivotLoop(tab, basis, m, w, n, n, &maxIter); err != nil {
			return nil, err
		}
		if -tab[m*w+n] > feasTol*max(1, maxAbsRHS(tab, m, w, n)) {
			return nil, errLPInfeasible
		}
		// Drive basic artificials (at 0) out where a structural or slack
		// column can replace them; rows where none can are redundant.
		for i := range m {
			if basis[i] < nv+m {
				continue
			}
			for j := range nv + m {
				if math.Abs(tab[i*w+j]) > pivotTol {
					pivot(tab, basis, m, w, i, j)
					break
				}
			}
		}
	}
	// Phase two: the real costs, artificials never enter.
	obj := tab[m*w : (m+1)*w]
	clear(obj)
	copy(obj, c)
	for i := range m {
		if b := basis[i]; b < nv && c[b] != 0 {
			cb := c[b]
			for j := 0; j <= n; j++ {
				obj[j] -= cb * tab[i*w+j]
			}
		}
	}
	if err := pivotLoop(tab, basis, m, w, n, nv+m, &maxIter); err != nil {
		return nil, err
	}
	x := make([]float64, nv)
	for i, b := range basis {
		if b < nv {
			x[b] = tab[i*w+n]
		}
	}
	return x, nil
}

func maxAbsRHS(tab []float64, m, w, n int) float64 {
	b := 0.0
	for i := range m {
		b = max(b, math.Abs(tab[i*w+n]))
	}
	return b
}

// pivotLoop pivots until no column below enter has a negative reduced
// cost.
func pivotLoop(tab []float64, basis []int, m, w, n, enter int, iter *int) error {
	degenerate := 0
	for {
		if *iter--; *iter < 0 {
			return errLPIterations
		}
		obj := tab[m*w : m*w+n]
		bland := degenerate > 20
		col := -1
		best := -costTol
		for j := range enter {
			if obj[j] < best {
				col, best = j, obj[j]
				if bland {
					break
				}
			}
		}
		if col < 0 {
			return nil
		}
		row, ratio := -1, math.Inf(1)
		for i := range m {
			a := tab[i*w+col]
			if a <= pivotTol {
				continue
			}
			r := tab[i*w+n] / a
			if r < ratio-1e-12 || (r <= ratio+1e-12 && row >= 0 && basis[i] < basis[row]) {
				row, ratio = i, r
			}
		}
		if row < 0 {
			return errLPUnbounded
		}
		if ratio <= 1e-12 {
			degenerate++
		} else {
			degenerate = 0
		}
		pivot(tab, basis, m, w, row, col)
	}
}

func pivot(tab []float64, basis []int, m, w, row, col int) {
	pr := tab[row*w : (row+1)*w]
	inv := 1 / pr[col]
	for j := range pr {
		pr[j] *= inv
	}
	pr[col] = 1
	for i := 0; i <= m; i++ {
		if i == row {
			continue
		}
		r := tab[i*w : (i+1)*w]
		f := r[col]
		if f == 0 {
			continue
		}
		for j, v := range pr {
			if v != 0 {
				r[j] -= f * v
			}
		}
		r[col] = 0
	}
	basis[row] = col
}
