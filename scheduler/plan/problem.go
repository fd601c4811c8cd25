package plan

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// Weights that turn the lexicographic objective (price, then CO2, then
// earlier) into one linear cost: the objective adds, per kWh, CO2Weight
// times the CO2 intensity (g/kWh) and TieWeight times the slot index to
// the price, and ASAPWeight times the slot index for sessions without
// needs. CO2Weight and TieWeight are small enough not to change a decision
// between prices that differ by more than about 0.01 ct/kWh, and large
// enough to decide ties; ASAPWeight dominates any price, so that sessions
// without needs charge as early as they can.
const (
	CO2Weight  = 1e-6 // money per g of CO2
	TieWeight  = 1e-8 // money per kWh per slot of delay
	ASAPWeight = 10.0 // money per kWh per slot of delay, no-needs sessions
	co2Weight  = CO2Weight / 1000
	tieWeight  = TieWeight / 1000
	asapWeight = ASAPWeight / 1000
)

const (
	// epsWh is the energy below which an amount is treated as nothing.
	epsWh = 1e-6
	// epsA is the current below which an amount is treated as nothing.
	epsA = 1e-9
)

// entry is a slot and a cost tier in a slot: tier 0 is PV surplus (priced
// at the export price forgone), tier 1 grid import.
type entry struct {
	t    int32
	tier uint8
}

// problem is the planning problem in the solver's terms. Currents are in
// A per phase, energies in Wh.
type problem struct {
	T, nn  int
	hours  float64 // slot length in hours
	first  float64 // part of slot 0 the plan covers (Input.From)
	v      float64
	parent []int32
	// limiting[n]: the node limits something in some slot.
	limiting []bool
	// cap is the room left for our load per slot, node and constraint
	// (0..2 phases, 3 power in A summed over phases): index
	// ((t*nn)+n)*4+c. room0 is the room before any session.
	cap, room0 []float64
	// bad[t*nn+n]: the other load alone breaks a limit of node n in slot t.
	bad        []bool
	infeasible []Infeasibility
	// surplus is the PV surplus at the grid connection per slot (Wh); y is
	// the energy planned per slot (Wh).
	surplus, y []float64
	// cost per Wh per tier and slot (objective; money only in money).
	cost, money [2][]float64
	co2         []float64 // g per Wh of tier 1
	orderPriced []entry
	orderASAP   []entry
	ss          []sess
	xs          []float64 // every session's x, one block per session
	// depth bounds the augmenting paths of free; freeing marks the slots
	// on the path being searched, which donors must not move into.
	depth   int
	freeing []bool
	// gen counts the changes to the plan (every add); a session whose
	// stuck equals gen was found, at that state, to have room in none of
	// its slots, so free skips it as a donor at once.
	gen uint64
	// fullSess[t], fullGen[t]: session fullSess[t] had no room in slot t
	// when the plan was at fullGen[t] (cost improvement).
	fullSess []int32
	fullGen  []uint64
	// work counts the calls of room and the donors looked at, the units
	// of the heuristic's work (tests bound it).
	work int
	// small: few sessions over few slots, where the deep searches are
	// cheap.
	small bool
	// improveDepth bounds the augmenting paths of the cost improvement,
	// which calls free far more often than the placement.
	improveDepth int
	// donors bounds the sessions tried as donors for one exchange, so that
	// a full slot at the grid connection of a large site costs O(donors),
	// not O(sessions).
	donors int
	// exchanges bounds the exchanges (augmenting paths, swaps) the cost
	// improvement tries per session and sweep; direct moves are not
	// bounded.
	exchanges int
	// byNode lists session indices in depth-first order of their nodes;
	// span[n] is the range of byNode below node n.
	byNode []int32
	span   [][2]int32
}

type sess struct {
	idx      int
	need, w  float64
	hi, lo   float64
	g        [3]bool
	nph      float64
	path     []int32 // limiting nodes from the session's node to the root
	end      int     // slots [0, end) are before departure
	lastFrac float64 // fraction of slot end-1 before departure
	asap     bool
	noNeeds  bool
	maxP     int // MaxPeriods, 0: no limit
	x        []float64
	e        float64
	done     bool // need met or frozen at its bottleneck
	stuck    uint64
}

func (s *sess) level() float64 {
	if s.need <= 0 {
		return math.Inf(1)
	}
	return s.e / (s.need * s.w)
}

// k is the energy (Wh) one ampere gives in slot t.
func (p *problem) k(s *sess, t int) float64 {
	k := p.v * s.nph * p.hours
	if t == s.end-1 {
		k *= s.lastFrac
	}
	if t == 0 {
		k *= p.first
	}
	return k
}

func (p *problem) order(s *sess) []entry {
	if s.asap {
		return p.orderASAP
	}
	return p.orderPriced
}

// unit cost per Wh of session s in slot t, tier tier.
func (p *problem) unit(s *sess, t int, tier uint8) float64 {
	c := p.cost[tier][t]
	if s.asap {
		c += asapWeight * float64(t)
	}
	return c
}

func newProblem(in *Input, cfg *Config) *problem {
	T := in.Slots()
	nn := len(in.Nodes)
	slot := in.SlotLen()
	p := &problem{
		T: T, nn: nn, hours: slot.Hours(), v: float64(in.NominalVoltage), first: in.FirstFraction(),
		parent:   make([]int32, nn),
		limiting: make([]bool, nn),
		cap:      make([]float64, T*nn*4),
		bad:      make([]bool, T*nn),
		surplus:  make([]float64, T),
		y:        make([]float64, T),
		co2:      make([]float64, T),
		freeing:  make([]bool, T),
		gen:      1,
		fullSess: make([]int32, T),
		fullGen:  make([]uint64, T),
	}
	margin := float64(cfg.SafetyMargin)
	for n := range in.Nodes {
		nd := &in.Nodes[n]
		p.parent[n] = int32(nd.Parent)
		for t := range T {
			from := in.Start.Add(time.Duration(t) * slot)
			to := from.Add(slot)
			var lim [3]float64
			for ph := range 3 {
				lim[ph] = float64(nd.Limit[ph])
			}
			pw := powerAmps(nd.PowerLimit, p.v)
			for _, w := range nd.Windows {
				if w.From.Before(to) && w.To.After(from) {
					for ph := range 3 {
						lim[ph] = min(lim[ph], float64(w.Limit[ph]))
					}
					pw = min(pw, powerAmps(w.PowerLimit, p.v))
				}
			}
			var other [3]float64
			if len(nd.OtherLoad) > 0 {
				for ph := range 3 {
					other[ph] = float64(nd.OtherLoad[t][ph])
				}
			}
			c := p.cap[(t*nn+n)*4:][:4]
			bad := false
			for ph := range 3 {
				c[ph] = lim[ph] - margin - other[ph]
				if c[ph] < 0 {
					bad = true
					p.infeasible = append(p.infeasible, Infeasibility{Slot: t, Node: n, NodeID: nd.ID,
						Phase: scheduler.Phase(ph + 1), Excess: scheduler.Amps(-c[ph])})
				}
			}
			c[3] = pw - 3*margin - other[0] - other[1] - other[2]
			if c[3] < 0 {
				bad = true
				p.infeasible = append(p.infeasible, Infeasibility{Slot: t, Node: n, NodeID: nd.ID,
					Excess: scheduler.Amps(-c[3])})
			}
			if bad {
				// As in real time: nothing of ours below a node that the
				// other load alone overloads.
				p.bad[t*nn+n] = true
				clear(c)
			}
			for _, x := range c {
				if x < math.MaxFloat64 {
					p.limiting[n] = true
				}
			}
			if n == 0 {
				p.surplus[t] = max(0, -(other[0]+other[1]+other[2])*p.v*p.hours)
				if t == 0 {
					p.surplus[t] *= p.first
				}
			}
		}
	}
	p.room0 = slices.Clone(p.cap)
	p.costs(in)
	p.sessions(in, cfg)
	// Deeper augmenting paths on small problems, where they are cheap.
	// The search fans out by donors × slots per level, so deep paths
	// only on few sessions over few slots.
	switch work := len(p.ss) * T; {
	case work <= 2000 && T <= 24:
		p.depth, p.donors, p.exchanges, p.improveDepth, p.small = 4, 24, 16, 4, true
	case work <= 20000:
		// Paths of one step in the cost improvement: the second step
		// fans out by donors × slots again (about 20 times the work) and
		// gained less than more one-step exchanges do (measured on the
		// benchmark depots).
		p.depth, p.donors, p.exchanges, p.improveDepth = 2, 12, 4, 1
	default:
		p.depth, p.donors, p.exchanges, p.improveDepth = 1, 8, 1, 1
	}
	return p
}

func powerAmps(w scheduler.Watts, v float64) float64 {
	if w <= 0 {
		return math.Inf(1)
	}
	return float64(w) / v
}

func (p *problem) costs(in *Input) {
	for tier := range 2 {
		p.cost[tier] = make([]float64, p.T)
		p.money[tier] = make([]float64, p.T)
	}
	for t := range p.T {
		imp, exp := 0.0, 0.0
		if len(in.Price) > 0 {
			imp = float64(in.Price[t]) / 1000
		}
		if len(in.ExportPrice) > 0 {
			exp = float64(in.ExportPrice[t]) / 1000
		}
		if len(in.CO2) > 0 {
			p.co2[t] = float64(in.CO2[t]) / 1000
		}
		tie := tieWeight * float64(t)
		p.money[1][t] = imp
		p.cost[1][t] = imp + co2Weight*float64(in.CO2Or0(t)) + tie
		// Using PV surplus forgoes the export price; it is never dearer
		// than importing (then the split would be to import).
		p.money[0][t] = min(exp, imp)
		p.cost[0][t] = min(exp+tie, p.cost[1][t])
	}
	var es []entry
	for t := range p.T {
		if p.surplus[t] > 0 {
			es = append(es, entry{int32(t), 0})
		}
		es = append(es, entry{int32(t), 1})
	}
	p.orderPriced = slices.Clone(es)
	slices.SortStableFunc(p.orderPriced, func(a, b entry) int {
		return cmp.Or(cmp.Compare(p.cost[a.tier][a.t], p.cost[b.tier][b.t]),
			cmp.Compare(a.t, b.t), cmp.Compare(a.tier, b.tier))
	})
	p.orderASAP = es // by slot, surplus first
}

// CO2Or0 is the CO2 intensity of slot t, 0 when no series is given.
func (in *Input) CO2Or0(t int) GramsPerKWh {
	if len(in.CO2) == 0 {
		return 0
	}
	return in.CO2[t]
}

// Need returns the energy a session aims at and whether it is the
// default for a session without needs.
func (s *Session) Need(cfg Config) (scheduler.WattHours, bool) {
	switch {
	case s.EnergyNeeded > 0:
		return s.EnergyNeeded, false
	case s.BatteryCapacity > 0 && (s.SoC > 0 || s.TargetSoC > 0):
		target := s.TargetSoC
		if target == 0 {
			target = 100
		}
		return scheduler.WattHours(max(0, target-s.SoC) / 100 * float64(s.BatteryCapacity)), false
	}
	return cfg.DefaultEnergy, true
}

// GridPhases is the set of grid phases the session draws on.
func (s *Session) GridPhases() scheduler.PhaseSet {
	ph := s.Phases
	if ph == 0 {
		ph = scheduler.AllPhases
	}
	return s.Rotation.GridSet(ph)
}

func (p *problem) sessions(in *Input, cfg *Config) {
	slot := in.SlotLen()
	end := in.Start.Add(time.Duration(p.T) * slot)
	p.ss = make([]sess, len(in.Sessions))
	xs := make([]float64, len(in.Sessions)*p.T)
	p.xs = xs
	for i := range in.Sessions {
		is := &in.Sessions[i]
		s := &p.ss[i]
		need, noNeeds := is.Need(*cfg)
		s.idx, s.need, s.noNeeds, s.asap = i, float64(need), noNeeds, noNeeds
		s.w = is.Priority
		if s.w == 0 {
			s.w = 1
		}
		s.hi = float64(is.MaxCurrent)
		s.maxP = is.MaxPeriods
		s.lo = float64(is.MinCurrent)
		if s.lo == 0 {
			s.lo = float64(cfg.DefaultMin)
		}
		g := is.GridPhases()
		for ph := range 3 {
			s.g[ph] = g.Has(scheduler.Phase(ph + 1))
		}
		s.nph = float64(g.Count())
		for n := int32(is.Node); n >= 0; n = p.parent[n] {
			if p.limiting[n] {
				s.path = append(s.path, n)
			}
		}
		dep := is.Departure
		if dep.IsZero() {
			dep = end
			if noNeeds && cfg.DefaultStay > 0 {
				dep = in.Start.Add(cfg.DefaultStay)
			}
		}
		s.x = xs[i*p.T : (i+1)*p.T : (i+1)*p.T]
		if !dep.After(in.Start) {
			s.done = true // departed
			continue
		}
		// Only whole slots before departure: a car leaving at 06:05 is
		// planned to be done by 06:00 (with 15-minute slots).
		s.end, s.lastFrac = min(p.T, int(dep.Sub(in.Start)/slot)), 1
		if s.end == 0 {
			s.done = true
			continue
		}
		if s.need <= 0 {
			s.done = true
		}
	}
	// Sessions in depth-first order of their nodes, for donors below a node.
	kids := make([][]int32, p.nn)
	for n := 1; n < p.nn; n++ {
		kids[p.parent[n]] = append(kids[p.parent[n]], int32(n))
	}
	at := make([][]int32, p.nn)
	for i := range in.Sessions {
		at[in.Sessions[i].Node] = append(at[in.Sessions[i].Node], int32(i))
	}
	p.span = make([][2]int32, p.nn)
	p.byNode = make([]int32, 0, len(in.Sessions))
	var walk func(n int32)
	walk = func(n int32) {
		p.span[n][0] = int32(len(p.byNode))
		p.byNode = append(p.byNode, at[n]...)
		for _, c := range kids[n] {
			walk(c)
		}
		p.span[n][1] = int32(len(p.byNode))
	}
	walk(0)
}

// room is how much more current session s may get in slot t, and the
// node and constraint that bind (-1 when its maximum binds).
func (p *problem) room(s *sess, t int) (r float64, node int32, con int) {
	p.work++
	r, node, con = s.hi-s.x[t], -1, -1
	base := t * p.nn
	for _, n := range s.path {
		c := p.cap[(base+int(n))*4:][:4]
		for ph := range 3 {
			if s.g[ph] && c[ph] < r {
				r, node, con = c[ph], n, ph
			}
		}
		if c[3] < r*s.nph {
			r, node, con = c[3]/s.nph, n, 3
		}
	}
	return max(r, 0), node, con
}

// add gives session s a more amperes in slot t (a may be negative).
func (p *problem) add(s *sess, t int, a float64) {
	p.gen++
	s.x[t] += a
	if s.x[t] < epsA {
		a -= s.x[t]
		s.x[t] = 0
	}
	base := t * p.nn
	for _, n := range s.path {
		c := p.cap[(base+int(n))*4:][:4]
		for ph := range 3 {
			if s.g[ph] {
				c[ph] -= a
			}
		}
		c[3] -= a * s.nph
	}
	e := a * p.k(s, t)
	p.y[t] += e
	s.e += e
}

// tierRoom is how much energy tier tier of slot t takes before the next
// tier's price applies.
func (p *problem) tierRoom(t int, tier uint8) float64 {
	if tier == 0 {
		return p.surplus[t] - p.y[t]
	}
	return math.Inf(1)
}

// loads reports whether session s loads constraint con.
func (s *sess) loads(con int) bool { return con == 3 || s.g[con] }
