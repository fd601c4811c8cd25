package sim

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// GridNode is the ledger's name for the grid connection.
const GridNode = "grid"

// Tolerance is how far a sum may exceed a limit before the ledger calls it
// a violation: it absorbs float rounding, nothing more.
const Tolerance site.Amps = 0.01

// ViolationKind says which sum broke a limit.
type ViolationKind string

// Kinds of violation.
const (
	// ViolationDraw: what the cars really drew exceeded a node's limit.
	ViolationDraw ViolationKind = "draw"
	// ViolationAccepted: the composite limits the chargers accepted, summed
	// over every EVSE (idle ones at the limit a car plugging in would get),
	// exceed a node's limit.
	ViolationAccepted ViolationKind = "accepted"
	// ViolationAcceptedActive: as ViolationAccepted, counting only EVSEs
	// with a car plugged in.
	ViolationAcceptedActive ViolationKind = "accepted-active"
)

// ChargerSample is one charger's contribution at one moment, on grid
// phases.
type ChargerSample struct {
	Charger string
	// Node is the circuit the charger hangs on, or GridNode.
	Node string
	// Draw is what its cars really take.
	Draw site.PhaseCurrents
	// Accepted sums its EVSEs' composite limits; AcceptedActive only those
	// of EVSEs with a car.
	Accepted       site.PhaseCurrents
	AcceptedActive site.PhaseCurrents
	// Sources are the profiles deciding each EVSE's limit (index EVSE-1).
	Sources []LimitSource
	// Connected is false while the charger is offline (it keeps applying
	// its installed profiles).
	Connected bool
}

// Offender is a charger that contributed to a violation on its phase.
type Offender struct {
	Charger string        `json:"charger"`
	Amps    site.Amps     `json:"amps"`
	Sources []LimitSource `json:"profiles,omitempty"`
}

// Violation is an episode during which one sum stayed above one node's
// limit on one phase.
type Violation struct {
	Kind  ViolationKind `json:"kind"`
	Node  string        `json:"node"`
	Phase site.Phase    `json:"phase"`
	Limit site.Amps     `json:"limit"`
	// Peak is the highest sum seen; Offenders are the contributors then.
	Peak      site.Amps  `json:"peak"`
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end"`
	Open      bool       `json:"open,omitempty"`
	Offenders []Offender `json:"offenders"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s over limit at %s %s: %.2f A > %.2f A from %s to %s (%d chargers)",
		v.Kind, v.Node, v.Phase, float64(v.Peak), float64(v.Limit), v.Start.Format(time.RFC3339), v.End.Format(time.RFC3339), len(v.Offenders))
}

// NodeState is a node's sums at the last recorded moment.
type NodeState struct {
	Node           string
	Parent         string
	Limit          site.PhaseCurrents
	Draw           site.PhaseCurrents
	Accepted       site.PhaseCurrents
	AcceptedActive site.PhaseCurrents
	// Peak values over the whole run.
	PeakDraw     site.PhaseCurrents
	PeakAccepted site.PhaseCurrents
}

type ledgerNode struct {
	NodeState
	chain []int // this node and its ancestors, indexes into nodes
}

type episodeKey struct {
	kind  ViolationKind
	node  int
	phase int
}

// Ledger keeps what every car drew and what every charger accepted, per
// node of the site tree and grid phase, and records every moment a sum went
// over a limit. It is safe for concurrent use.
type Ledger struct {
	mu        sync.Mutex
	nodes     []ledgerNode
	index     map[string]int
	open      map[episodeKey]*Violation
	closed    []Violation
	last      time.Time
	samples   int
	countLoad bool
}

// NewLedger builds a ledger for the site tree of s.
func NewLedger(s *Scenario) *Ledger {
	l := &Ledger{index: map[string]int{GridNode: 0}, open: map[episodeKey]*Violation{}, countLoad: s.Site.CountBuildingLoad}
	l.nodes = append(l.nodes, ledgerNode{NodeState: NodeState{Node: GridNode, Limit: site.PhaseCurrents(s.Site.GridLimit)}})
	for _, c := range s.Site.Circuits {
		l.index[c.ID] = len(l.nodes)
		l.nodes = append(l.nodes, ledgerNode{NodeState: NodeState{Node: c.ID, Parent: c.Parent, Limit: site.PhaseCurrents(c.Limit)}})
	}
	for i := range l.nodes {
		n := &l.nodes[i]
		if i > 0 && n.Parent == "" {
			n.Parent = GridNode
		}
		cur := i
		for steps := 0; steps <= len(l.nodes); steps++ {
			n.chain = append(n.chain, cur)
			if cur == 0 {
				break
			}
			cur = l.index[l.nodes[cur].Parent]
		}
	}
	return l
}

// Record adds one moment: the chargers' samples and the building load on
// the grid connection (counted only if the scenario says so).
func (l *Ledger) Record(t time.Time, building site.PhaseCurrents, samples []ChargerSample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.nodes {
		n := &l.nodes[i]
		n.Draw, n.Accepted, n.AcceptedActive = site.PhaseCurrents{}, site.PhaseCurrents{}, site.PhaseCurrents{}
	}
	if l.countLoad {
		l.nodes[0].Draw = building
	}
	nodeOf := make([]int, len(samples))
	for k, s := range samples {
		ni, ok := l.index[s.Node]
		if !ok {
			ni = 0
		}
		nodeOf[k] = ni
		for _, i := range l.nodes[ni].chain {
			n := &l.nodes[i]
			for p := range 3 {
				n.Draw[p] += s.Draw[p]
				n.Accepted[p] += s.Accepted[p]
				n.AcceptedActive[p] += s.AcceptedActive[p]
			}
		}
	}
	for i := range l.nodes {
		n := &l.nodes[i]
		for p := range 3 {
			n.PeakDraw[p] = max(n.PeakDraw[p], n.Draw[p])
			n.PeakAccepted[p] = max(n.PeakAccepted[p], n.Accepted[p])
			l.check(t, i, p, ViolationDraw, n.Draw[p], samples, nodeOf, func(s *ChargerSample) site.Amps { return s.Draw[p] })
			l.check(t, i, p, ViolationAccepted, n.Accepted[p], samples, nodeOf, func(s *ChargerSample) site.Amps { return s.Accepted[p] })
			l.check(t, i, p, ViolationAcceptedActive, n.AcceptedActive[p], samples, nodeOf, func(s *ChargerSample) site.Amps { return s.AcceptedActive[p] })
		}
	}
	l.last = t
	l.samples++
}

func (l *Ledger) check(t time.Time, node, phase int, kind ViolationKind, sum site.Amps, samples []ChargerSample, nodeOf []int, amps func(*ChargerSample) site.Amps) {
	n := &l.nodes[node]
	key := episodeKey{kind, node, phase}
	v, open := l.open[key]
	if sum <= n.Limit[phase]+Tolerance {
		if open {
			v.End, v.Open = t, false
			l.closed = append(l.closed, *v)
			delete(l.open, key)
		}
		return
	}
	if !open {
		v = &Violation{Kind: kind, Node: n.Node, Phase: site.Phase(phase + 1), Limit: n.Limit[phase], Start: t, Open: true}
		l.open[key] = v
	}
	v.End = t
	if sum <= v.Peak {
		return
	}
	v.Peak = sum
	v.Offenders = v.Offenders[:0]
	for k := range samples {
		s := &samples[k]
		if !slices.Contains(l.nodes[nodeOf[k]].chain, node) {
			continue
		}
		if a := amps(s); a > 0 {
			v.Offenders = append(v.Offenders, Offender{Charger: s.Charger, Amps: a, Sources: slices.Clone(s.Sources)})
		}
	}
}

// Violations returns every episode so far, closed ones first in the order
// they ended, then open ones; the caller owns the slice.
func (l *Ledger) Violations() []Violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.closed)
	var open []Violation
	for _, v := range l.open {
		open = append(open, *v)
	}
	slices.SortFunc(open, func(a, b Violation) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		return int(a.Phase) - int(b.Phase)
	})
	return append(out, open...)
}

// Count returns how many violation episodes of kind there were.
func (l *Ledger) Count(kind ViolationKind) int {
	n := 0
	for _, v := range l.Violations() {
		if v.Kind == kind {
			n++
		}
	}
	return n
}

// Nodes returns the nodes' sums at the last recorded moment, grid first,
// then circuits in scenario order.
func (l *Ledger) Nodes() []NodeState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]NodeState, len(l.nodes))
	for i, n := range l.nodes {
		out[i] = n.NodeState
	}
	return out
}

// Samples is how many moments were recorded.
func (l *Ledger) Samples() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.samples
}
