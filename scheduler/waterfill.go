package scheduler

import (
	"cmp"
	"math"
	"slices"
)

// Car states during filling.
const (
	waiting = iota // the water level is below its minimum
	rising         // its limit rises with the level: w * level
	frozen         // its limit is fixed
)

// filler raises a water level; every admitted car's limit is
// clamp(w*level, lo, hi) until a constraint on its path fills up or it
// reaches hi, and then stays. This is weighted max-min fairness: no car can
// get more without taking from a car that has (relative to its weight) no
// more than it.
//
// Each constraint's load is a piecewise linear function of the level; it is
// kept as used at level ref plus slope per unit of level. Events (a car's
// start at lo/w, its stop at hi/w, a constraint filling up) are processed in
// level order from a heap, so the cost is O((n*depth) log n).
type filler struct {
	t     *tree
	used  []float64 // per constraint, at level ref
	cs    []consState
	dirty []int32

	cars     []*car // admitted cars, in preorder of their nodes
	x        []float64
	status   []uint8
	frozenBy []int32 // constraint index, -1 when stopped at hi

	pre, size []int32
	start     []int32 // start[k]: first car at or after preorder position k
	heap      eventHeap
}

// consState is the filling state of one constraint.
type consState struct {
	slope float64 // load added per unit of level
	ref   float64 // level at which used is up to date
	ver   int32   // version of the constraint's newest heap event
	sat   bool    // full
	dirty bool    // its slope changed at the present level
}

// waterfill computes the limits of the admitted cars. used holds the load
// of their minimums per constraint (from admission); it is taken over.
func waterfill(t *tree, admitted []*car, used []float64) *filler {
	f := newFiller(t, admitted, used)
	f.run()
	return f
}

func newFiller(t *tree, admitted []*car, used []float64) *filler {
	nc := len(t.cap)
	f := &filler{
		t: t, used: used,
		cs: make([]consState, nc),
		x:  make([]float64, len(admitted)), status: make([]uint8, len(admitted)),
		frozenBy: make([]int32, len(admitted)),
		heap:     make(eventHeap, 0, len(admitted)+len(t.parent)),
		dirty:    make([]int32, 0, 64),
	}
	f.pre, f.size = t.preorder()
	f.sortByPreorder(admitted)
	for i, c := range f.cars {
		f.x[i] = c.lo
		f.frozenBy[i] = -1
	}
	return f
}

// sortByPreorder places the cars so that every node's subtree is one run
// (a counting sort on the preorder position of each car's node).
func (f *filler) sortByPreorder(admitted []*car) {
	nn := len(f.pre)
	f.start = make([]int32, nn+1)
	for _, c := range admitted {
		f.start[f.pre[c.node]+1]++
	}
	for k := 1; k <= nn; k++ {
		f.start[k] += f.start[k-1]
	}
	next := slices.Clone(f.start[:nn])
	f.cars = make([]*car, len(admitted))
	for _, c := range admitted {
		k := f.pre[c.node]
		f.cars[next[k]] = c
		next[k]++
	}
}

// levelEvent is a car's start or stop on the water level.
type levelEvent struct {
	level float64
	car   int32
}

// sortedLevels returns every car's level(i), sorted (ties by car).
func (f *filler) sortedLevels(level func(c *car) float64) []levelEvent {
	ev := make([]levelEvent, len(f.cars))
	for i, c := range f.cars {
		ev[i] = levelEvent{level: level(c), car: int32(i)}
	}
	slices.SortFunc(ev, func(a, b levelEvent) int {
		if a.level != b.level {
			return cmp.Compare(a.level, b.level)
		}
		return cmp.Compare(a.car, b.car)
	})
	return ev
}

// run processes three streams of events in level order: cars starting
// (at lo/w) and stopping (at hi/w), both known in advance and sorted, and
// constraints filling up, which change as cars start and stop and so come
// from a heap.
func (f *filler) run() {
	starts := f.sortedLevels(func(c *car) float64 { return c.lo / c.w })
	stops := f.sortedLevels(func(c *car) float64 { return c.hi / c.w })
	si, so := 0, 0
	for {
		sl, ol, hl := math.Inf(1), math.Inf(1), math.Inf(1)
		if si < len(starts) {
			sl = starts[si].level
		}
		if so < len(stops) {
			ol = stops[so].level
		}
		if len(f.heap) > 0 {
			hl = f.heap[0].level
		}
		switch {
		case math.IsInf(sl, 1) && math.IsInf(ol, 1) && math.IsInf(hl, 1):
			return
		case sl <= hl && sl <= ol:
			for si < len(starts) && starts[si].level == sl {
				f.startCar(starts[si].car, sl)
				si++
			}
			f.flushDirty(sl)
		case ol <= hl:
			if i := stops[so].car; f.status[i] == rising {
				f.freeze(i, ol, -1)
				f.x[i] = f.cars[i].hi
			}
			so++
		default:
			f.handle(f.heap.pop())
		}
	}
}

func (f *filler) startCar(i int32, level float64) {
	c := f.cars[i]
	if f.status[i] != waiting {
		return
	}
	if c.hi <= c.lo {
		f.status[i] = frozen
		return
	}
	f.status[i] = rising
	f.changeSlope(i, level, c.w, true)
}

func (f *filler) handle(ev event) {
	c := ev.id
	if ev.ver != f.cs[c].ver || f.cs[c].sat || f.cs[c].slope <= 0 {
		return // stale; a fresh event is pushed when the slope rises
	}
	f.advance(c, ev.level)
	cp := f.t.cap[c]
	if cp-f.used[c] > 1e-9*max(1, math.Abs(cp)) {
		// Cars stopped since this was pushed: it fills later.
		f.push(c, ev.level)
		return
	}
	f.saturate(c, ev.level)
}

// advance brings constraint c's load to the given level.
func (f *filler) advance(c int32, level float64) {
	f.used[c] += f.cs[c].slope * (level - f.cs[c].ref)
	f.cs[c].ref = level
}

// push schedules the level at which c fills up at its present slope.
func (f *filler) push(c int32, level float64) {
	f.advance(c, level)
	if f.cs[c].slope <= 0 || f.cs[c].sat {
		return
	}
	f.cs[c].ver++
	room := max(0, f.t.cap[c]-f.used[c])
	f.heap.push(event{level: level + room/f.cs[c].slope, id: c, ver: f.cs[c].ver})
}

func (f *filler) flushDirty(level float64) {
	for _, c := range f.dirty {
		f.cs[c].dirty = false
		f.push(c, level)
	}
	f.dirty = f.dirty[:0]
}

// changeSlope adds dw (times the car's coefficient) to the slope of every
// limiting constraint on car i's path.
func (f *filler) changeSlope(i int32, level, dw float64, mark bool) {
	c := f.cars[i]
	t := f.t
	grid := c.mode.grid
	asym := grid != AllPhases
	nph := float64(grid.Count())
	for n := t.up[c.node]; n >= 0; n = t.next(n) {
		base := int32(n) * consCount
		for p := range int32(3) {
			if grid&(1<<p) == 0 {
				continue
			}
			f.bump(base+consPhase+p, level, dw, mark)
			if asym {
				f.bump(base+consImb+p, level, dw, mark)
			}
		}
		f.bump(base+consPower, level, nph*dw, mark)
	}
}

func (f *filler) bump(c int32, level, d float64, mark bool) {
	if !limited(f.t.cap[c]) || f.cs[c].sat {
		return
	}
	f.advance(c, level)
	f.cs[c].slope += d
	if mark && !f.cs[c].dirty {
		f.cs[c].dirty = true
		f.dirty = append(f.dirty, c)
	}
}

// freeze fixes car i's limit at the level.
func (f *filler) freeze(i int32, level float64, by int32) {
	c := f.cars[i]
	if f.status[i] == rising {
		f.x[i] = min(max(c.w*level, c.lo), c.hi)
		f.changeSlope(i, level, -c.w, false)
	}
	f.status[i] = frozen
	f.frozenBy[i] = by
}

// saturate marks c full and freezes every car below its node that loads it.
func (f *filler) saturate(c int32, level float64) {
	f.cs[c].sat = true
	n := c / consCount
	k := c % consCount
	first, last := f.start[f.pre[n]], f.start[f.pre[n]+f.size[n]]
	for i := first; i < last; i++ {
		if f.status[i] != frozen && loads(f.cars[i].mode.grid, k) {
			f.freeze(i, level, c)
		}
	}
}

// loads reports whether a car on the grid phases in grid loads constraint
// kind k.
func loads(grid PhaseSet, k int32) bool {
	switch {
	case k == consPower:
		return true
	case k < consPower:
		return grid&(1<<(k-consPhase)) != 0
	default:
		return grid != AllPhases && grid&(1<<(k-consImb)) != 0
	}
}

// setImbalanceCaps sets each imbalance constraint's room from the admitted
// minimums: single/two-phase load on phase p may reach the lowest phase's
// present load plus the maximum imbalance. Filling only raises loads, so
// the lowest phase never gets lower than assumed here and the rule holds
// for the final limits (see ALGORITHM.md).
func (t *tree) setImbalanceCaps(used []float64) {
	for n := range t.parent {
		if !limited(t.imbMax[n]) {
			continue
		}
		c := n * consCount
		lmin := math.Inf(1)
		for p := range 3 {
			lmin = min(lmin, t.base[n][p]+used[c+consImb+p])
		}
		for p := range 3 {
			t.cap[c+consImb+p] = lmin + t.imbMax[n] - t.base[n][p]
		}
	}
}
