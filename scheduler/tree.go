package scheduler

import "math"

// Per node there are consCount constraints, numbered node*consCount + k:
// k = 0..2 the phase limits L1..L3 (all our load on that phase), k = 3 the
// power limit (our load summed over phases), k = 4..6 the imbalance caps on
// L1..L3 (our single- and two-phase load on that phase).
const (
	consPhase = 0
	consPower = 3
	consImb   = 4
	consCount = 7
)

// slack is the float tolerance when admitting minimums and keeping old
// limits in the dead band: half of noise, so that a sum that fits here
// (in one order of additions) fits in verify (in another) too, while
// minimums that fill a limit exactly (3 x 6 A on 18 A) are admitted.
const slack = noise / 2

// noise is how far a sum may exceed a limit through float rounding alone
// (the order of additions): a nanoampere. Repair and verify ignore it;
// anything more is lowered.
const noise = 1e-9

// limited reports whether a capacity limits at all (is not +Inf).
func limited(x float64) bool { return x < math.MaxFloat64 }

// tree is the site tree with per-constraint capacities for our load.
type tree struct {
	parent []int32
	// up[n] is the nearest node at or above n with a limit of any kind,
	// -1 if none: walks up a car's path skip nodes that limit nothing
	// (most chargers).
	up   []int32
	kind []NodeKind
	id   []string
	// base is what we do not control through each node, per grid phase:
	// other load plus offline and uncontrollable EVSEs (these only on
	// nodes that limit something; the others need no base).
	base [][3]float64
	// limit is the effective phase limit minus the safety margin (not
	// minus base); power is the power limit in A summed over phases minus
	// three margins, +Inf if none.
	limit [][3]float64
	power []float64
	// extSrc[n][p] is the index in Input.External of the limit that sets
	// limit[n][p], -1 if the node's own limit does.
	extSrc [][3]int32
	imbMax []float64 // max imbalance, +Inf if none
	// cap is the room for our load per constraint (limit - base);
	// +Inf when the constraint does not limit.
	cap []float64
	// infeasibleAt[n] is the index in Allocation.Infeasible of the
	// top-most infeasible node on the path from n to the root, -1 if none.
	infeasibleAt []int32
}

func newTree(in *Input, cfg *Config) *tree {
	n := len(in.Nodes)
	t := &tree{
		parent:       make([]int32, n),
		up:           make([]int32, n),
		kind:         make([]NodeKind, n),
		id:           make([]string, n),
		base:         make([][3]float64, n),
		limit:        make([][3]float64, n),
		power:        make([]float64, n),
		extSrc:       make([][3]int32, n),
		imbMax:       make([]float64, n),
		cap:          make([]float64, n*consCount),
		infeasibleAt: make([]int32, n),
	}
	margin := float64(cfg.SafetyMargin)
	for i := range in.Nodes {
		nd := &in.Nodes[i]
		t.parent[i] = int32(nd.Parent)
		t.kind[i] = nd.Kind
		t.id[i] = nd.ID
		for p := range 3 {
			t.base[i][p] = float64(nd.OtherLoad[p])
			t.limit[i][p] = float64(nd.Limit[p])
			t.extSrc[i][p] = -1
		}
		t.power[i] = powerLimit(nd.PowerLimit, in.NominalVoltage)
		t.imbMax[i] = math.Inf(1)
		if nd.MaxImbalance > 0 {
			t.imbMax[i] = float64(nd.MaxImbalance)
		}
	}
	for j := range in.External {
		x := &in.External[j]
		for p := range 3 {
			if l := float64(x.Limit[p]); l < t.limit[x.Node][p] {
				t.limit[x.Node][p] = l
				t.extSrc[x.Node][p] = int32(j)
			}
		}
		t.power[x.Node] = min(t.power[x.Node], powerLimit(x.PowerLimit, in.NominalVoltage))
	}
	for i := range n {
		for p := range 3 {
			t.limit[i][p] -= margin
		}
		t.power[i] -= 3 * margin
		t.up[i] = int32(i)
		if !t.limits(i) {
			t.up[i] = -1
			if p := t.parent[i]; p >= 0 {
				t.up[i] = t.up[p]
			}
		}
	}
	return t
}

// limits reports whether node n has any limit.
func (t *tree) limits(n int) bool {
	return limited(t.limit[n][0]) || limited(t.limit[n][1]) || limited(t.limit[n][2]) ||
		limited(t.power[n]) || limited(t.imbMax[n])
}

// next returns the next node above n (exclusive) that limits anything.
func (t *tree) next(n int32) int32 {
	if p := t.parent[n]; p >= 0 {
		return t.up[p]
	}
	return -1
}

// powerLimit converts a power limit to amps summed over phases.
func powerLimit(w Watts, v Volts) float64 {
	if w <= 0 || v <= 0 {
		return math.Inf(1)
	}
	return float64(w) / float64(v)
}

// addBase counts load we do not control on every node from n to the root.
func (t *tree) addBase(n int32, grid PhaseSet, a float64) {
	for n = t.up[n]; n >= 0; n = t.next(n) {
		for p := range 3 {
			if grid&(1<<p) != 0 {
				t.base[n][p] += a
			}
		}
	}
}

// computeCaps fills cap for the phase and power constraints and finds the
// nodes where the base alone breaks a limit. Imbalance caps are set later
// by setImbalanceCaps, once the minimums are admitted.
func (t *tree) computeCaps() []Infeasibility {
	var inf []Infeasibility
	for n := range t.parent {
		t.infeasibleAt[n] = -1
		if pn := t.parent[n]; pn >= 0 {
			t.infeasibleAt[n] = t.infeasibleAt[pn]
		}
		c := n * consCount
		var room [4]float64
		sum := 0.0
		for p := range 3 {
			room[p] = t.limit[n][p] - t.base[n][p]
			sum += t.base[n][p]
			t.cap[c+consImb+p] = math.Inf(1)
		}
		room[consPower] = t.power[n] - sum
		for k := range 4 {
			t.cap[c+k] = room[k]
			if room[k] < -noise {
				if t.infeasibleAt[n] < 0 {
					t.infeasibleAt[n] = int32(len(inf))
				}
				ph := Phase(0)
				if k < 3 {
					ph = Phase(k + 1)
				}
				inf = append(inf, Infeasibility{Node: n, NodeID: t.id[n], Phase: ph, Excess: Amps(-room[k])})
			}
		}
	}
	return inf
}

// order lists the nodes in depth-first preorder; size[n] is the number of
// nodes in n's subtree (n included), so n's subtree is
// order[pre[n] : pre[n]+size[n]].
func (t *tree) preorder() (pre, size []int32) {
	n := len(t.parent)
	size = make([]int32, n)
	for i := n - 1; i >= 0; i-- {
		size[i]++
		if p := t.parent[i]; p >= 0 {
			size[p] += size[i]
		}
	}
	// A child's preorder position is its parent's plus one plus the sizes
	// of the earlier siblings; parents come before children in the input,
	// so one forward pass suffices.
	pre = make([]int32, n)
	next := make([]int32, n) // next free position among n's descendants
	for i := range n {
		if p := t.parent[i]; p >= 0 {
			pre[i] = next[p]
			next[p] += size[i]
		}
		next[i] = pre[i] + 1
	}
	return pre, size
}
