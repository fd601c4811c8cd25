package ledger

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// eps absorbs float rounding in comparisons with limits.
const eps = 1e-6

// Node is one node of the site tree as the ledger checks it.
type Node struct {
	ID string
	// Parent is the index of the parent node, -1 for the root (index 0).
	// Parents come before children.
	Parent int
	// Limit per grid phase; +Inf for none.
	Limit site.PhaseCurrents
	// PowerLimit in W; 0 for none.
	PowerLimit site.Watts
	// OtherLoad is load through the node that we do not control, per grid
	// phase (it includes the other load of the node's children).
	OtherLoad site.PhaseCurrents
}

// Tree is the site tree with the limits in force.
type Tree struct {
	Nodes   []Node
	Voltage site.Volts
}

// PhaseSet is a set of grid phases, bit i for L(i+1).
type PhaseSet uint8

// AllPhases is L1, L2 and L3.
const AllPhases PhaseSet = 7

// Has reports whether phase index i (0..2) is in s.
func (s PhaseSet) Has(i int) bool { return s&(1<<i) != 0 }

// Entry is one EVSE in the ledger.
type Entry struct {
	// Node is the index of the tree node it hangs on.
	Node int
	// Phases are the grid phases it is counted on.
	Phases PhaseSet
	// Max is the most it can draw per phase (the EVSE's maximum).
	Max site.Amps
	// Online reports whether the charger is connected.
	Online bool
	// NonCompliant chargers are counted at Max.
	NonCompliant bool
	// TxID is the running transaction, "" if none.
	TxID string
	// Slots are the profiles sent and accepted; nil means none known.
	Slots *site.EVSELoopState
	// Others is the most a profile of someone else that overrides the
	// fallback may let the charger apply once no dynamic profile of ours
	// is in force (a CSMS Tx profile of the running transaction: a Tx
	// profile wins over every TxDefault one, OCPP 1.6 3.13.2, 2.0.1
	// K01); 0 for none.
	Others site.Amps
}

func valid(r *site.ProfileRecord, now time.Time) bool {
	return r.Expires.IsZero() || now.Before(r.Expires)
}

// Fallback returns what the EVSE applies when no dynamic profile is in
// force: its accepted fallback (at the highest of any pending ones), or
// Max when none was ever accepted; at least Others.
func (e *Entry) Fallback() site.Amps {
	return min(max(e.OwnFallback(), e.Others), e.Max)
}

// OwnFallback is [Entry.Fallback] without Others: the loop's own.
func (e *Entry) OwnFallback() site.Amps {
	fb := e.Max
	if e.Slots == nil {
		return fb
	}
	if a := e.Slots.Fallback.Accepted; a != nil {
		fb = a.Limit
		for _, p := range e.Slots.Fallback.Pending {
			fb = max(fb, p.Limit)
		}
	}
	return min(fb, e.Max)
}

// Dynamic returns the dynamic limit the charger applies now by what it
// accepted, and whether one is in force (see [Entry.DynamicRecord]).
func (e *Entry) Dynamic(now time.Time) (site.Amps, bool) {
	if r := e.DynamicRecord(now); r != nil {
		return r.Limit, true
	}
	return 0, false
}

// DynamicRecord returns the accepted dynamic profile the charger applies
// now, nil if none: the Tx profile of the running transaction, else the
// TxDefault profile, while its lease lasts.
func (e *Entry) DynamicRecord(now time.Time) *site.ProfileRecord {
	if e.Slots == nil {
		return nil
	}
	if a := e.Slots.Tx.Accepted; a != nil && e.TxID != "" && a.TransactionID == e.TxID && valid(a, now) {
		return a
	}
	if a := e.Slots.TxDefault.Accepted; a != nil && valid(a, now) {
		return a
	}
	return nil
}

// Applied is what the charger applies by what it accepted: the dynamic
// limit in force, else the fallback.
func (e *Entry) Applied(now time.Time) site.Amps {
	if d, ok := e.Dynamic(now); ok {
		return min(d, e.Max)
	}
	return e.Fallback()
}

// MayApply is what the charger may apply right now: [Entry.Applied],
// raised to every pending dynamic profile it may have applied (a pending
// fallback is in Applied already). It is for comparing with what a car
// draws; limits are checked with [Entry.CountedAt].
func (e *Entry) MayApply(now time.Time) site.Amps {
	a := e.Applied(now)
	if e.Slots == nil {
		return a
	}
	for _, s := range [2]*site.ProfileSlot{&e.Slots.TxDefault, &e.Slots.Tx} {
		for i := range s.Pending {
			if valid(&s.Pending[i], now) {
				a = max(a, s.Pending[i].Limit)
			}
		}
	}
	return min(a, e.Max)
}

// CountedAt is what the EVSE may draw at most per phase from now on
// without us: Max when non-compliant; else the highest of its fallback
// (what it returns to when its leases run out, [Entry.Fallback]), every
// dynamic profile it accepted whose lease has not ended (the Tx profile
// of the running transaction, the TxDefault profile: either may be in
// force until its lease ends, in any order) and every pending (unanswered
// or timed-out) profile whose lease has not ended (it may have applied
// it). So max(dynamic until lease expiry, fallback): whichever chargers
// are back on their fallbacks and whichever still run a dynamic profile,
// each draws at most this.
func (e *Entry) CountedAt(now time.Time) site.Amps {
	if e.NonCompliant {
		return e.Max
	}
	c := e.Fallback()
	e.eachCounted(now, func(r *site.ProfileRecord) { c = max(c, r.Limit) })
	return min(c, e.Max)
}

// eachCounted calls f with every dynamic profile record CountedAt counts
// at now: the accepted Tx profile of the running transaction, the
// accepted TxDefault profile and every pending one, while their leases
// last.
func (e *Entry) eachCounted(now time.Time, f func(r *site.ProfileRecord)) {
	if e.Slots == nil {
		return
	}
	if a := e.Slots.Tx.Accepted; a != nil && e.TxID != "" && a.TransactionID == e.TxID && valid(a, now) {
		f(a)
	}
	if a := e.Slots.TxDefault.Accepted; a != nil && valid(a, now) {
		f(a)
	}
	for _, s := range [2]*site.ProfileSlot{&e.Slots.TxDefault, &e.Slots.Tx} {
		for i := range s.Pending {
			if valid(&s.Pending[i], now) {
				f(&s.Pending[i])
			}
		}
	}
}

// CoveredUntil reports until when [Entry.CountedAt] stays at a or above
// from now on as the records stand, for a profile of the given purpose:
// forever when the loop's own fallback (or non-compliance) covers a; else
// the latest end of a lease of a counted record at a or above; now when
// none is. For a TxDefault profile, Tx records do not count: they stop
// counting when the transaction ends, which the TxDefault profile
// outlives. (Time and the transaction end are all that end a record's
// count without the loop.)
//
// A profile of at most a that ends by then can be sent before it is
// written anywhere: whoever reads the records written before counts the
// EVSE at least as high for as long as the charger may apply it.
func (e *Entry) CoveredUntil(a site.Amps, purpose site.ProfilePurpose, now time.Time) (until time.Time, forever bool) {
	a = min(a, e.Max)
	if e.NonCompliant || e.OwnFallback() >= a-eps {
		// (Not Others: what others set is not in the loop's records.)
		return time.Time{}, true
	}
	until = now
	e.eachCounted(now, func(r *site.ProfileRecord) {
		switch {
		case r.Limit < a-eps:
		case purpose != site.PurposeTx && r.Purpose == site.PurposeTx:
		case r.Expires.IsZero():
			forever = true
		case r.Expires.After(until):
			until = r.Expires
		}
	})
	if forever {
		return time.Time{}, true
	}
	return until, false
}

// Loads returns, per node and grid phase, the other load plus every
// entry's counted-at value on its phases; counted[i] is entry i's value,
// override[i] (if present in the map) replaces it.
func Loads(t *Tree, entries []Entry, now time.Time, override map[int]site.Amps) [][3]float64 {
	loads := otherLoads(t)
	for i := range entries {
		c, ok := override[i]
		if !ok {
			c = entries[i].CountedAt(now)
		}
		addPath(t, &entries[i], loads, float64(c))
	}
	return loads
}

// otherLoads returns every node's other load per grid phase.
func otherLoads(t *Tree) [][3]float64 {
	loads := make([][3]float64, len(t.Nodes))
	for n := range t.Nodes {
		for p := range 3 {
			loads[n][p] = float64(t.Nodes[n].OtherLoad[p])
		}
	}
	return loads
}

// addPath adds d to the loads of every node on e's path, on e's phases.
func addPath(t *Tree, e *Entry, loads [][3]float64, d float64) {
	for n := e.Node; n >= 0; n = t.Nodes[n].Parent {
		for p := range 3 {
			if e.Phases.Has(p) {
				loads[n][p] += d
			}
		}
	}
}

// ErrOverLimit is returned (wrapped, one per breach) by [Check].
var ErrOverLimit = errors.New("ledger: over limit")

// Check returns an error naming every node, phase and power limit the
// loads break (nodes limits only for the nodes in only, if only is not nil).
func Check(t *Tree, loads [][3]float64, only []int) error {
	var errs []error
	check := func(n int) {
		nd := &t.Nodes[n]
		sum := 0.0
		for p := range 3 {
			sum += loads[n][p]
			if lim := float64(nd.Limit[p]); loads[n][p] > lim+eps {
				errs = append(errs, fmt.Errorf("%w: node %q L%d: %.3f A > %.3f A", ErrOverLimit, nd.ID, p+1, loads[n][p], lim))
			}
		}
		if nd.PowerLimit > 0 {
			if w := sum * float64(t.Voltage); w > float64(nd.PowerLimit)+eps {
				errs = append(errs, fmt.Errorf("%w: node %q power: %.0f W > %.0f W", ErrOverLimit, nd.ID, w, float64(nd.PowerLimit)))
			}
		}
	}
	if only == nil {
		for n := range t.Nodes {
			check(n)
		}
	} else {
		for _, n := range only {
			check(n)
		}
	}
	return errors.Join(errs...)
}

// Path returns node n and its ancestors.
func Path(t *Tree, n int) []int {
	var p []int
	for ; n >= 0; n = t.Nodes[n].Parent {
		p = append(p, n)
	}
	return p
}

// CheckAll checks the whole ledger at now.
func CheckAll(t *Tree, entries []Entry, now time.Time) error {
	return Check(t, Loads(t, entries, now, nil), nil)
}

// CanRaise reports whether sending entry i a profile with limit a keeps
// every node on its path within its limits, counting the entry at the
// higher of what it is counted at now and a (as it will be while the
// profile is pending), with every other entry as it is counted. When it
// does not, the error says which limits would break.
func CanRaise(t *Tree, entries []Entry, i int, a site.Amps, now time.Time) error {
	e := &entries[i]
	c := max(e.CountedAt(now), min(a, e.Max))
	if e.NonCompliant {
		c = e.Max
	}
	loads := Loads(t, entries, now, map[int]site.Amps{i: c})
	return Check(t, loads, Path(t, e.Node))
}

// Unlimited is a per-phase limit that does not limit.
func Unlimited() site.Amps { return site.Amps(math.Inf(1)) }

// Counter keeps the loads of a ledger for a series of raise checks: it
// counts every entry once ([Loads]) and then updates only the path of an
// entry that changed, so checking k raises among n entries costs
// O(n + k·depth) instead of O(n·k) with [CanRaise]. It reads the entries'
// slots; call [Counter.Recount] after changing an entry's slots (e.g.
// after making a raise pending) so later checks count it.
type Counter struct {
	t       *Tree
	entries []Entry
	now     time.Time
	loads   [][3]float64
	counted []site.Amps
}

// NewCounter counts every entry of the ledger at now.
func NewCounter(t *Tree, entries []Entry, now time.Time) *Counter {
	c := &Counter{t: t, entries: entries, now: now, counted: make([]site.Amps, len(entries))}
	c.loads = otherLoads(t)
	for i := range entries {
		c.counted[i] = entries[i].CountedAt(now)
		c.add(i, float64(c.counted[i]))
	}
	return c
}

func (c *Counter) add(i int, d float64) { addPath(c.t, &c.entries[i], c.loads, d) }

// CanRaise is [CanRaise] on the counted loads: whether entry i, counted
// at the higher of what it is counted at and a, keeps every node on its
// path within its limits.
func (c *Counter) CanRaise(i int, a site.Amps) error {
	e := &c.entries[i]
	x := max(c.counted[i], min(a, e.Max))
	if e.NonCompliant {
		x = e.Max
	}
	d := float64(x - c.counted[i])
	c.add(i, d)
	err := Check(c.t, c.loads, Path(c.t, e.Node))
	c.add(i, -d)
	return err
}

// Room is the most entry i may be counted at (per phase, not above its
// maximum) with every other entry as counted, for every node on its path
// to stay within its limits; 0 when they are already broken without it.
// Rounded down to 0.1 A.
func (c *Counter) Room(i int) site.Amps {
	e := &c.entries[i]
	own := float64(c.counted[i])
	room := float64(e.Max)
	nph := 0.0
	for p := range 3 {
		if e.Phases.Has(p) {
			nph++
		}
	}
	for n := e.Node; n >= 0; n = c.t.Nodes[n].Parent {
		nd := &c.t.Nodes[n]
		sum := 0.0
		for p := range 3 {
			sum += c.loads[n][p]
			if e.Phases.Has(p) {
				room = min(room, float64(nd.Limit[p])-(c.loads[n][p]-own))
			}
		}
		if nd.PowerLimit > 0 && nph > 0 && c.t.Voltage > 0 {
			others := sum - nph*own
			room = min(room, (float64(nd.PowerLimit)/float64(c.t.Voltage)-others)/nph)
		}
	}
	if room <= 0 {
		return 0
	}
	return site.Amps(math.Floor(room*10+eps) / 10)
}

// Recount counts entry i again from its slots (after they changed).
func (c *Counter) Recount(i int) {
	x := c.entries[i].CountedAt(c.now)
	c.add(i, float64(x-c.counted[i]))
	c.counted[i] = x
}

// Loads returns the counted loads per node and grid phase (owned by the
// Counter: read only).
func (c *Counter) Loads() [][3]float64 { return c.loads }
