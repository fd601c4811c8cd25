package plan

import (
	"cmp"
	"math"
	"slices"
)

// place gives session s up to r Wh in its cheapest slots with room, and
// with exchange set, makes room in full slots by moving other sessions to
// their other slots. It returns what it placed.
func (p *problem) place(s *sess, r float64, exchange bool) float64 {
	placed := 0.0
	for _, en := range p.order(s) {
		if r-placed <= epsWh {
			break
		}
		t := int(en.t)
		if t >= s.end {
			continue
		}
		placed += p.placeAt(s, t, en.tier, r-placed)
	}
	if !exchange || r-placed <= epsWh {
		return placed
	}
	for _, en := range p.order(s) {
		if r-placed <= epsWh {
			break
		}
		t := int(en.t)
		if t >= s.end || s.x[t] >= s.hi-epsA {
			continue
		}
		for try := 0; try < 4 && r-placed > epsWh; try++ {
			if !p.free(s, t, (r-placed)/p.k(s, t), math.Inf(1)) {
				break
			}
			placed += p.placeAt(s, t, en.tier, r-placed)
		}
	}
	return placed
}

// placeAt gives s up to r Wh in slot t within tier tier; it returns what
// it gave.
func (p *problem) placeAt(s *sess, t int, tier uint8, r float64) float64 {
	tr := p.tierRoom(t, tier)
	if tr <= epsWh {
		return 0
	}
	room, _, _ := p.room(s, t)
	k := p.k(s, t)
	a := min(room, min(r, tr)/k)
	if a <= epsA {
		return 0
	}
	p.add(s, t, a)
	return a * k
}

// free makes room for up to want amperes of session s in slot t by moving
// sessions that load the binding constraint to other slots of theirs,
// making room there in turn up to p.depth levels deep (an augmenting path
// of the flow). A donor moves only where its extra cost is below what s
// saves, at saving per Wh of s (+Inf to make room whatever it costs). It
// reports whether anything moved.
func (p *problem) free(s *sess, t int, want, saving float64) bool {
	return p.freeDepth(s, t, want, saving, p.depth)
}

func (p *problem) freeDepth(s *sess, t int, want, saving float64, depth int) bool {
	r0, node, con := p.room(s, t)
	if node < 0 {
		return false
	}
	// A scan that may mark donors stuck: at the top of a one-step search
	// (no other slot excluded), at any cost, the binding constraint full.
	mark := depth == p.depth && depth <= 1 && math.IsInf(saving, 1) && r0 <= epsA
	p.freeing[t] = true
	defer func() { p.freeing[t] = false }()
	moved := false
	sp := p.span[node]
	tried := 0
	for _, j := range p.byNode[sp[0]:sp[1]] {
		a := &p.ss[j]
		p.work++
		if a == s || a.x[t] <= epsA || !a.loads(con) {
			continue
		}
		if tried++; tried > p.donors || want <= epsA {
			break
		}
		if a.stuck == p.gen {
			continue // no room in any of its slots, and nothing changed since
		}
		found := false // room for a in some slot
		// Coefficient of the binding constraint: 1 on a phase, the
		// number of phases on power.
		ca, cs := 1.0, 1.0
		if con == 3 {
			ca, cs = a.nph, s.nph
		}
		need := want * cs / ca // amperes of a to move out of t
		from := p.unit(a, t, p.tierOf(t, -1))
		// Per Wh of a: the Wh s gains per Wh a moves, times the saving.
		budget := saving * (p.k(s, t) * ca) / (cs * p.k(a, t))
		for pass := 0; pass < 2 && need > epsA; pass++ {
			if pass == 1 && depth <= 1 {
				break
			}
			deeper := 3 // recursive attempts per donor: the cheapest slots
			for _, en := range p.order(a) {
				u := int(en.t)
				if u == t || u >= a.end || need <= epsA || p.freeing[u] {
					continue
				}
				extra := p.unit(a, u, en.tier) - from
				if extra >= budget {
					break
				}
				if p.tierRoom(u, en.tier) <= epsWh || a.x[u] >= a.hi-epsA {
					continue
				}
				room, _, _ := p.room(a, u)
				found = found || room > epsA
				if pass == 1 && room*p.k(a, u) < need*p.k(a, t) {
					if deeper--; deeper < 0 {
						break
					}
					// Second pass: make room for a at u, one level down.
					if p.freeDepth(a, u, need*p.k(a, t)/p.k(a, u)-room, budget-extra, depth-1) {
						room, _, _ = p.room(a, u)
					}
				}
				ku, kt := p.k(a, u), p.k(a, t)
				m := min(a.x[t], need, room*ku/kt, p.tierRoom(u, en.tier)/kt)
				if m <= epsA {
					continue
				}
				p.add(a, t, -m)
				p.add(a, u, m*kt/ku)
				need -= m
				want -= m * ca / cs
				moved = true
			}
		}
		if mark && !found {
			a.stuck = p.gen
		}
	}
	return moved
}

// tierOf is the tier whose price applies to a change of sign dir in slot
// t: taking energy away (dir < 0) saves tier 1 when above the surplus.
func (p *problem) tierOf(t int, dir int) uint8 {
	if p.surplus[t] <= 0 {
		return 1
	}
	if dir < 0 {
		if p.y[t] > p.surplus[t]+epsWh {
			return 1
		}
		return 0
	}
	if p.y[t] < p.surplus[t]-epsWh {
		return 0
	}
	return 1
}

// fill decides how much energy each session gets (rule 2): every need in
// full if the greedy with exchanges finds room for all, else weighted
// max-min fair shares by progressive filling and balancing.
func (p *problem) fill(rounds int) {
	act := make([]*sess, 0, len(p.ss))
	for i := range p.ss {
		if !p.ss[i].done {
			act = append(act, &p.ss[i])
		}
	}
	// Least flexible first: least room over the stay per Wh needed.
	flex := func(s *sess) float64 {
		return s.hi * p.v * s.nph * p.hours * (float64(s.end-1) + s.lastFrac) / s.need
	}
	slices.SortStableFunc(act, func(a, b *sess) int { return cmp.Compare(flex(a), flex(b)) })
	if p.placeAll(act) {
		p.placeEfficientFirst(act)
		return
	}
	p.reset()
	p.progressive(act, rounds)
	p.balance(act)
}

// placeAll places every session of act in that order, with exchanges,
// and reports whether every need was met.
func (p *problem) placeAll(act []*sess) bool {
	all := true
	for _, s := range act {
		if got := p.place(s, s.need, true); got < s.need-epsWh*s.need {
			all = false
		}
	}
	return all
}

// placeEfficientFirst places the sessions again, those that take the
// least of the scarce constraints per Wh first (least flexible first among
// equals), one after the other and class by class in rounds, and keeps
// the cheapest placement that also meets every need. Least flexible first alone is blind to what a session's energy
// costs the tree: a 1-phase car on L1 of a 3-phase circuit whose L1 is
// full takes three times the L1 current per Wh that a 3-phase car takes,
// so when it is placed first in the cheap slots, the cost improvement has
// to undo that one bounded exchange at a time (the planner's slow case:
// 0.5 s for 100 such sessions, and still 12 % above what it reaches
// here).
func (p *problem) placeEfficientFirst(act []*sess) {
	use := p.usage()
	alt := slices.Clone(act)
	// In classes of a factor √2 of usage, least flexible first within a
	// class (the order of act): usage tells a 1-phase car on a full phase
	// from a 3-phase car, flexibility who must charge before departing.
	class := func(s *sess) float64 { return math.Floor(2 * math.Log2(max(use[s.idx], 1e-12))) }
	slices.SortStableFunc(alt, func(a, b *sess) int { return cmp.Compare(class(a), class(b)) })
	if slices.Equal(alt, act) {
		return
	}
	// A placement is judged by its cost; on small problems, where the
	// cost improvement is cheap, by its cost after the improvement (the
	// cheaper placement is not always the better start).
	score := func() float64 {
		if p.small {
			p.improve(improveSweeps)
		}
		return p.objective()
	}
	bestObj := score()
	best := newSnapshot(p)
	best.save(p)
	try := func(place func() bool) {
		p.reset()
		if place() {
			if o := score(); o < bestObj {
				best.save(p)
				bestObj = o
			}
		}
	}
	// One after the other, and class by class in rounds: neither is
	// always the cheaper (TestSinglePhaseOnFullPhase needs the rounds, the
	// planning benchmark's slow case does better one after the other).
	try(func() bool { return p.placeAll(alt) })
	try(func() bool { return p.placeClasses(alt, class, 8) })
	best.load(p)
}

// placeClasses places the sessions class by class (alt is sorted by
// class), each class in rounds: in round r every session of the class up
// to r/rounds of its need, so that the sessions of a class share the
// cheap slots instead of the first ones filling them at their maximum and
// the last ones left with dear slots only. It reports whether every need
// was met.
func (p *problem) placeClasses(alt []*sess, class func(*sess) float64, rounds int) bool {
	for i := 0; i < len(alt); {
		j := i
		for j < len(alt) && class(alt[j]) == class(alt[i]) {
			j++
		}
		for r := 1; r <= rounds; r++ {
			for _, s := range alt[i:j] {
				want := s.need * float64(r) / float64(rounds)
				if want-s.e > epsWh {
					p.place(s, want-s.e, true)
				}
			}
		}
		i = j
	}
	for _, s := range alt {
		if s.e < s.need-epsWh*s.need {
			return false
		}
	}
	return true
}

// usage is, per session, how much of the scarce constraints one Wh of it
// takes: over the limiting nodes on its path, the current per Wh on each
// constraint it loads times that constraint's pressure (what the sessions
// below the node could draw over their stay, over the room the node has
// over the horizon).
func (p *problem) usage() []float64 {
	demand := make([]float64, p.nn*4)
	for i := range p.ss {
		s := &p.ss[i]
		if s.done {
			continue
		}
		d := s.hi * float64(s.end)
		for _, n := range s.path {
			for c := range 3 {
				if s.g[c] {
					demand[int(n)*4+c] += d
				}
			}
			demand[int(n)*4+3] += d * s.nph
		}
	}
	room := make([]float64, p.nn*4)
	for t := range p.T {
		for j, r := range p.room0[t*p.nn*4 : (t+1)*p.nn*4] {
			room[j] += max(0, r)
		}
	}
	pressure := demand
	for j := range pressure {
		if room[j] > 0 && !math.IsInf(room[j], 1) {
			pressure[j] = demand[j] / room[j]
		} else if room[j] == 0 && demand[j] > 0 {
			pressure[j] = math.MaxFloat64 / 1e6
		} else {
			pressure[j] = 0
		}
	}
	use := make([]float64, len(p.ss))
	for i := range p.ss {
		s := &p.ss[i]
		u := 0.0
		for _, n := range s.path {
			for c := range 3 {
				if s.g[c] {
					u += pressure[int(n)*4+c]
				}
			}
			u += s.nph * pressure[int(n)*4+3]
		}
		// Per Wh: one ampere gives nph times the energy of one phase.
		use[i] = u / s.nph
	}
	return use
}

func (p *problem) reset() {
	p.gen++ // the plan changes: marks of free and improve are stale
	copy(p.cap, p.room0)
	clear(p.y)
	for i := range p.ss {
		clear(p.ss[i].x)
		p.ss[i].e = 0
	}
}

// progressive raises a level λ in rounds; each session not done gets
// need·min(1, w·λ), in its cheapest slots. When a round does not fit, the
// level where it stops fitting is found by bisection (rolling the round
// back), and the sessions that cannot reach it are done at what they have
// (their bottleneck): progressive filling, to within a level tolerance.
func (p *problem) progressive(act []*sess, rounds int) {
	wmin := math.Inf(1)
	var levels []float64
	for _, s := range act {
		wmin = min(wmin, s.w)
		levels = append(levels, 1/s.w)
	}
	for i := 1; i <= rounds; i++ {
		levels = append(levels, float64(i)/float64(rounds)/wmin)
	}
	slices.Sort(levels)
	levels = slices.Compact(levels)
	// Bisection depth: fine on small sites, coarser on large ones where a
	// round costs more (the balance pass evens out what is left).
	depth := 30
	if len(act)*p.T > 20000 {
		depth = 10
	}
	snap := newSnapshot(p)
	live := slices.Clone(act)
	prev := 0.0
	for _, lv := range levels {
		if len(live) == 0 {
			break
		}
		snap.save(p)
		if p.round(live, lv, false) {
			live = p.stillLive(live)
			prev = lv
			continue
		}
		lo, hi := prev, lv
		snap.load(p)
		for range depth {
			mid := (lo + hi) / 2
			if p.round(live, mid, false) {
				lo = mid
				snap.save(p)
			} else {
				hi = mid
				snap.load(p)
			}
		}
		p.round(live, hi, true)
		live = p.stillLive(live)
		prev = lv
		// The round to lv itself, for the sessions still live.
		if len(live) > 0 && hi < lv {
			p.round(live, lv, true)
			live = p.stillLive(live)
		}
	}
}

// round gives every live session its share at level lv, lowest level
// first. Without freeze it stops at the first session that does not get
// its share and reports false; with freeze such sessions are done.
func (p *problem) round(live []*sess, lv float64, freeze bool) bool {
	slices.SortStableFunc(live, func(a, b *sess) int { return cmp.Compare(a.level(), b.level()) })
	for _, s := range live {
		target := s.need * min(1, s.w*lv)
		r := target - s.e
		if r <= epsWh {
			continue
		}
		if got := p.place(s, r, true); got < r-epsWh {
			if !freeze {
				return false
			}
			s.done = true
		}
	}
	return true
}

func (p *problem) stillLive(live []*sess) []*sess {
	next := live[:0]
	for _, s := range live {
		if !s.done && s.e < s.need-epsWh {
			next = append(next, s)
		}
	}
	return next
}

// snapshot holds the solver state for rolling a round back.
type snapshot struct {
	xs, cap, y, e []float64
}

func newSnapshot(p *problem) *snapshot {
	return &snapshot{
		xs: make([]float64, len(p.xs)), cap: make([]float64, len(p.cap)),
		y: make([]float64, len(p.y)), e: make([]float64, len(p.ss)),
	}
}

func (sn *snapshot) save(p *problem) {
	copy(sn.xs, p.xs)
	copy(sn.cap, p.cap)
	copy(sn.y, p.y)
	for i := range p.ss {
		sn.e[i] = p.ss[i].e
	}
}

func (sn *snapshot) load(p *problem) {
	p.gen++ // the plan changes: marks of free and improve are stale
	copy(p.xs, sn.xs)
	copy(p.cap, sn.cap)
	copy(p.y, sn.y)
	for i := range p.ss {
		p.ss[i].e = sn.e[i]
	}
}

// balance moves current from sessions at a higher level to sessions at a
// lower one that share a full constraint with them, until the levels meet
// or no constraint is shared: what progressive filling in finite rounds
// left unequal.
//
// Donors are looked up in lists, per node and slot, of the sessions that
// charge there and are above the lowest level of the sweep, highest level
// first (rebuilt each sweep), not among every session below the node:
// when most sessions sit at the same level (needs just short of feasible,
// everyone frozen together), scanning all of them for each session and
// slot cost O(sessions² · slots) per sweep (1,000 sessions: 10-26 s).
func (p *problem) balance(act []*sess) {
	const tol = 1e-7
	var d donorLists
	for sweep := 0; sweep < 64; sweep++ {
		changed := false
		slices.SortStableFunc(act, func(a, b *sess) int { return cmp.Compare(a.level(), b.level()) })
		low := math.Inf(1)
		for _, b := range act {
			if b.e < b.need-epsWh {
				low = min(low, b.level())
			}
		}
		// act is sorted by level: the lists are highest level first.
		var above []*sess
		for i := len(act) - 1; i >= 0; i-- {
			if a := act[i]; a.need <= 0 || a.level() <= low+tol {
				break
			}
			above = append(above, act[i])
		}
		d.build(p, above)
		for _, b := range act {
			if b.e >= b.need-epsWh {
				continue
			}
			for t := range b.end {
				if b.e >= b.need-epsWh {
					break
				}
				if p.balanceAt(b, t, tol, &d) {
					changed = true
				}
			}
		}
		if !changed {
			return
		}
	}
}

// donorLists are the sessions charging per node and slot, in one array
// (start[k]..start[k+1] for key k = node·T + slot).
type donorLists struct {
	start []int32
	at    []int32
}

// build lists the sessions of ss (in that order) under every limiting
// node on their path, in every slot they charge in.
func (d *donorLists) build(p *problem, ss []*sess) {
	keys := p.nn * p.T
	d.start = slices.Grow(d.start[:0], keys+1)[:keys+1]
	clear(d.start)
	for _, a := range ss {
		for t := range a.end {
			if a.x[t] > epsA {
				for _, n := range a.path {
					d.start[int(n)*p.T+t+1]++
				}
			}
		}
	}
	for k := range keys {
		d.start[k+1] += d.start[k]
	}
	total := int(d.start[keys])
	d.at = slices.Grow(d.at[:0], total)[:total]
	next := slices.Clone(d.start[:keys]) // fill position per key
	for _, a := range ss {
		for t := range a.end {
			if a.x[t] > epsA {
				for _, n := range a.path {
					k := int(n)*p.T + t
					d.at[next[k]] = int32(a.idx)
					next[k]++
				}
			}
		}
	}
}

func (d *donorLists) of(p *problem, node int32, t int) []int32 {
	k := int(node)*p.T + t
	return d.at[d.start[k]:d.start[k+1]]
}

func (p *problem) balanceAt(b *sess, t int, tol float64, donors *donorLists) bool {
	room, node, con := p.room(b, t)
	if node < 0 || room > epsA {
		if room > epsA {
			p.placeAt(b, t, p.tierOf(t, 1), b.need-b.e)
		}
		return false
	}
	changed := false
	tried := 0
	for _, j := range donors.of(p, node, t) {
		a := &p.ss[j]
		p.work++
		if a == b || a.x[t] <= epsA || !a.loads(con) || a.need <= 0 {
			continue
		}
		la, lb := a.level(), b.level()
		if la <= lb+tol {
			break // the rest are lower (as of the start of the sweep)
		}
		if tried++; tried > p.donors {
			break
		}
		ca, cb := 1.0, 1.0
		if con == 3 {
			ca, cb = a.nph, b.nph
		}
		ratio := ca / cb // amperes of b per ampere a frees
		ka, kb := p.k(a, t), p.k(b, t)
		m := (la - lb) / (ka/(a.need*a.w) + ratio*kb/(b.need*b.w))
		m = min(m, a.x[t], (b.hi-b.x[t])/ratio, (b.need-b.e)/(kb*ratio))
		if m <= epsA {
			continue
		}
		p.add(a, t, -m)
		r, _, _ := p.room(b, t)
		if r = min(r, m*ratio); r > epsA {
			p.add(b, t, r)
			changed = true
		}
		// a takes back what b could not use.
		if back, _, _ := p.room(a, t); back > epsA {
			p.add(a, t, min(back, m))
		}
		if b.e >= b.need-epsWh {
			break
		}
	}
	return changed
}

// improve lowers the cost with the energies fixed (rule 3): it moves a
// session's energy from a dearer slot to a cheaper one with room, or makes
// room there by moving another session on to a slot that costs it less
// than the first saves (a two-session exchange, the shortest augmenting
// cycles of the min-cost flow).
func (p *problem) improve(sweeps int) {
	const tol = 1e-12
	depth := p.depth
	p.depth = p.improveDepth
	defer func() { p.depth = depth }()
	prev := p.objective()
	for sweep := 0; sweep < sweeps; sweep++ {
		changed := false
		for i := range p.ss {
			s := &p.ss[i]
			if s.e <= epsWh {
				continue
			}
			budget := p.exchanges
			ord := p.order(s)
			for hi := len(ord) - 1; hi >= 0; hi-- {
				t1 := int(ord[hi].t)
				if t1 >= s.end || s.x[t1] <= epsA {
					continue
				}
				c1 := p.unit(s, t1, p.tierOf(t1, -1))
				for _, en := range ord {
					t2 := int(en.t)
					if s.x[t1] <= epsA {
						break
					}
					if t2 == t1 || t2 >= s.end {
						continue
					}
					c2 := p.unit(s, t2, en.tier)
					if c2 >= c1-tol {
						break
					}
					if p.tierRoom(t2, en.tier) <= epsWh {
						continue
					}
					// A slot found without room for s, with nothing changed
					// since, is skipped: the dearer slots t1 of a session
					// whose cheap slots are full would otherwise each look
					// at every one of them again (O(T²) room calls).
					if p.fullSess[t2] != int32(i) || p.fullGen[t2] != p.gen {
						if p.moveCheaper(s, t1, t2, en.tier) {
							changed = true
							continue
						}
						if r, _, _ := p.room(s, t2); r <= epsA {
							p.fullSess[t2], p.fullGen[t2] = int32(i), p.gen
						}
					}
					if s.x[t2] >= s.hi-epsA || budget <= 0 {
						continue
					}
					budget--
					if p.free(s, t2, s.x[t1]*p.k(s, t1)/p.k(s, t2), c1-c2) {
						p.moveCheaper(s, t1, t2, en.tier)
						changed = true
					}
					if s.x[t1] > epsA && p.swap(s, t1, t2, c1, c2) {
						changed = true
					}
				}
			}
		}
		// Stop when a sweep gains next to nothing: later sweeps only move
		// float noise around.
		obj := p.objective()
		if !changed || prev-obj <= 1e-6*math.Abs(obj) {
			return
		}
		prev = obj
	}
}

// objective is the solver's objective of the current plan: per-Wh costs
// with the PV tier, plus the ASAP weight of sessions without needs.
func (p *problem) objective() float64 {
	o := 0.0
	for t := range p.T {
		pv := min(p.y[t], p.surplus[t])
		o += p.cost[0][t]*pv + p.cost[1][t]*(p.y[t]-pv)
	}
	for i := range p.ss {
		s := &p.ss[i]
		if !s.asap {
			continue
		}
		for t := range s.end {
			o += asapWeight * float64(t) * s.x[t] * p.k(s, t)
		}
	}
	return o
}

// moveCheaper moves what fits of s's current from t1 to t2 (same energy),
// staying within the price tiers it was priced at.
func (p *problem) moveCheaper(s *sess, t1, t2 int, tier uint8) bool {
	room, _, _ := p.room(s, t2)
	k1, k2 := p.k(s, t1), p.k(s, t2)
	e := min(s.x[t1]*k1, room*k2, p.tierRoom(t2, tier))
	if p.tierOf(t1, -1) == 1 && p.surplus[t1] > 0 {
		e = min(e, p.y[t1]-p.surplus[t1])
	}
	if e <= epsWh {
		return false
	}
	p.add(s, t1, -e/k1)
	p.add(s, t2, e/k2)
	return true
}

// swap moves s from t1 to t2 and, in exchange, a session that fills t2
// from t2 to t1, where that lowers the cost: the cycle that free cannot
// find because t1 has room only once s has left it.
func (p *problem) swap(s *sess, t1, t2 int, c1, c2 float64) bool {
	_, node, con := p.room(s, t2)
	if node < 0 {
		return false
	}
	sp := p.span[node]
	tried := 0
	changed := false
	for _, j := range p.byNode[sp[0]:sp[1]] {
		a := &p.ss[j]
		p.work++
		if a == s || a.x[t2] <= epsA || t1 >= a.end || !a.loads(con) {
			continue
		}
		if tried++; tried > p.donors || s.x[t1] <= epsA {
			break
		}
		ks, ka := p.k(s, t1), p.k(a, t1)
		gain := ks*(c2-c1) + ka*(p.unit(a, t1, p.tierOf(t1, 1))-p.unit(a, t2, p.tierOf(t2, -1)))
		if gain >= -1e-15 {
			continue
		}
		// s moves ms, a moves ma = ms·cs/ca: what s needs of the binding
		// constraint, a frees.
		ca, cs := 1.0, 1.0
		if con == 3 {
			ca, cs = a.nph, s.nph
		}
		ms := min(s.x[t1], a.x[t2]*ca/cs)
		for try := 0; try < 8 && ms > epsA; try++ {
			ma := ms * cs / ca
			p.add(s, t1, -ms)
			p.add(a, t2, -ma)
			ra, _, _ := p.room(a, t1)
			rs, _, _ := p.room(s, t2)
			if ra >= ma-epsA && rs >= ms-epsA {
				p.add(a, t1, min(ma, ra))
				p.add(s, t2, min(ms, rs))
				changed = true
				break
			}
			p.add(a, t2, ma)
			p.add(s, t1, ms)
			// The rooms depend on ms itself (what one frees the other
			// takes): shrink and try again.
			ms = min(ms/2, rs, ra*ca/cs)
		}
	}
	return changed
}
