package loop

import (
	"math"
	"time"

	"github.com/smartcharge/smartcharge/loop/fallback"
	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// evseRef names one EVSE of the built input.
type evseRef struct {
	c   *charger
	cfg site.EVSE
}

func (e evseRef) id() int                 { return e.cfg.ID }
func (e evseRef) ls() *site.EVSELoopState { return e.c.loopEVSE(e.cfg.ID) }
func (e evseRef) rt() *evseRT             { return e.c.rt(e.cfg.ID) }
func (e evseRef) key() string             { return site.EVSEKey(e.c.ref.ChargerID, e.cfg.ID) }
func (e evseRef) gridSet(s scheduler.PhaseSet) ledger.PhaseSet {
	return ledger.PhaseSet(schedRotation(e.c.rotation()).GridSet(s))
}

// built is the site as the scheduler and the ledger see it at one moment.
// in.EVSEs, entries and evs are parallel.
type built struct {
	now     time.Time
	eff     site.EffectiveLimit
	in      scheduler.Input
	tree    ledger.Tree
	entries []ledger.Entry
	evs     []evseRef
	// otherNote says, per node, when its other load is a conservative
	// assumption rather than measured ("" when measured).
	otherNote []string
	// rawID is each node's ID in the site model ("" for the grid
	// connection); the scheduler's IDs carry a kind prefix to be unique.
	rawID   []string
	counter *ledger.Counter // see count
}

// floor is the scheduler's floor of an EVSE whose own fallback is fb: fb,
// or what others' Tx profile lets it apply when we are gone (see
// ledger.Entry.Others) less the scheduler's margin. (That profile is also
// a cap on the charger, events.go, which the scheduler keeps its margin
// below: as a floor at the same value it would pause the car as
// infeasible. The ledger counts it in full.)
func (l *siteLoop) floor(e *ledger.Entry, fb site.Amps) scheduler.Amps {
	f := fb
	if e.Others > 0 {
		f = max(f, e.Others-site.Amps(l.m.cfg.Scheduler.SafetyMargin))
	}
	return amps(min(f, e.Max))
}

// count returns the ledger's counter of this dispatch, made when first
// asked for.
func (b *built) count() *ledger.Counter {
	if b.counter == nil {
		b.counter = ledger.NewCounter(&b.tree, b.entries, b.now)
	}
	return b.counter
}

func amps(a site.Amps) scheduler.Amps { return scheduler.Amps(a) }

func phaseCurrents(c site.PhaseCurrents) scheduler.PhaseCurrents {
	return scheduler.PhaseCurrents{amps(c[0]), amps(c[1]), amps(c[2])}
}

// build turns the site model and live state into the scheduler's input and
// the ledger's tree and entries.
func (l *siteLoop) build(now time.Time) *built {
	b := &built{now: now}
	conf := &l.conf
	v := l.voltage()
	b.eff = site.Effective(conf.Site, conf.Limits, now)
	cfg := *l.m.cfg.Scheduler
	b.in = scheduler.Input{Now: now, Config: &cfg, NominalVoltage: scheduler.Volts(v)}
	b.tree.Voltage = v

	// Nodes: grid, circuits parents first, chargers.
	nodeIdx := map[string]int{"": 0}
	b.rawID = append(b.rawID, "")
	b.in.Nodes = append(b.in.Nodes, scheduler.Node{ID: "grid", Kind: scheduler.KindGrid, Parent: -1,
		Limit: phaseCurrents(b.eff.Limit), PowerLimit: scheduler.Watts(b.eff.PowerLimit)})
	children := map[string][]site.Circuit{}
	for _, c := range conf.Circuits {
		children[c.Parent] = append(children[c.Parent], c)
	}
	var walk func(parent string)
	walk = func(parent string) {
		for _, c := range children[parent] {
			nodeIdx[c.ID] = len(b.in.Nodes)
			b.rawID = append(b.rawID, c.ID)
			b.in.Nodes = append(b.in.Nodes, scheduler.Node{ID: "circuit/" + c.ID, Kind: scheduler.KindCircuit, Parent: nodeIdx[parent],
				Limit: phaseCurrents(c.Limit), PowerLimit: scheduler.Watts(c.PowerLimit)})
			walk(c.ID)
		}
	}
	walk("")
	chargers := l.sortedChargers()
	for _, c := range chargers {
		parent, ok := nodeIdx[c.cfg.Circuit]
		if !ok {
			parent = 0
		}
		ci := len(b.in.Nodes)
		nodeIdx["charger:"+c.ref.ChargerID] = ci
		b.rawID = append(b.rawID, c.ref.ChargerID)
		b.in.Nodes = append(b.in.Nodes, scheduler.Node{ID: "charger/" + c.ref.ChargerID, Kind: scheduler.KindCharger, Parent: parent,
			Limit: scheduler.Uniform(scheduler.Unlimited())})
		b.in.External = l.appendExternal(b.in.External, c, ci, now) // events.go
		for _, e := range c.cfg.EVSEs {
			b.addEVSE(l, c, e, ci)
		}
	}
	// Ledger tree: limits with external ones applied.
	b.tree.Nodes = make([]ledger.Node, len(b.in.Nodes))
	for i, n := range b.in.Nodes {
		ln := ledger.Node{ID: b.rawID[i], Parent: n.Parent, PowerLimit: site.Watts(n.PowerLimit)}
		for p := range 3 {
			ln.Limit[p] = site.Amps(n.Limit[p])
		}
		b.tree.Nodes[i] = ln
	}
	for _, x := range b.in.External {
		n := &b.tree.Nodes[x.Node]
		for p := range 3 {
			n.Limit[p] = min(n.Limit[p], site.Amps(x.Limit[p]))
		}
		if x.PowerLimit > 0 && (n.PowerLimit == 0 || site.Watts(x.PowerLimit) < n.PowerLimit) {
			n.PowerLimit = site.Watts(x.PowerLimit)
		}
	}
	b.otherLoad(l)
	return b
}

// addEVSE adds one EVSE to the input and the ledger.
func (b *built) addEVSE(l *siteLoop, c *charger, e site.EVSE, node int) {
	ref := evseRef{c: c, cfg: e}
	ls := ref.ls()
	rt := ref.rt()
	tx := c.tx(e.ID)
	set := wiring(e)
	if cp := c.carPhases(e.ID); cp != 0 {
		set = cp & set
		if set == 0 {
			set = wiring(e)
		}
	}
	entry := ledger.Entry{Node: node, Phases: ref.gridSet(set), Max: e.MaxCurrent, Online: c.st.Connected,
		NonCompliant: c.st.Loop.NonCompliant, TxID: c.txID(e.ID), Slots: ls}
	entry.Others = c.othersTx(e.ID, entry.TxID, l.voltage(), b.now) // csms.go
	se := scheduler.EVSE{
		ID: ref.key(), Node: node, Rotation: schedRotation(c.rotation()), Wiring: wiring(e),
		MinCurrent: amps(e.MinCurrent), MaxCurrent: amps(e.MaxCurrent), CarPhases: c.carPhases(e.ID),
		Since: ls.Since, Priority: l.ls.Priorities[ref.key()],
	}
	// The scheduler's contract: PrevLimit is the limit we allocated last
	// (0 if paused or new) and Since when we last started or paused it, a
	// consistent pair. (What the charger applies lags behind a raise held
	// back by the rate limit or the ledger; paired with Since it read as
	// "paused just now" and held newly started cars off for the dwell
	// time. The draw is corrected for that lag in liftHeldDraw.)
	se.PrevLimit = amps(ls.Target)
	// Floor: what the EVSE returns to when its leases run out (its
	// fallback; its maximum while it has none): the scheduler counts it at
	// max(limit, floor), as the ledger does, so any mix of chargers on
	// their new limits and chargers back on their fallbacks fits.
	se.Floor = l.floor(&entry, entry.OwnFallback())
	if se.CarPhases != 0 {
		se.CarPhases &= se.Wiring
	}
	if n, ok := l.ls.Needs[ref.key()]; ok {
		se.CarMaxCurrent, se.CarMinCurrent = amps(n.MaxCurrent), amps(n.MinCurrent)
		se.EnergyNeeded, se.Departure = scheduler.WattHours(n.Energy), n.Departure
	}
	if tx != nil {
		se.Energy = scheduler.WattHours(tx.Energy)
	}
	if s := c.sample(e.ID); s != nil && s.Current != nil {
		for p := range 3 {
			se.Drawn[p] = amps(max(0, s.Current[p]))
		}
	} else if a := entry.Applied(b.now); tx != nil {
		// No meter values: assume the car takes what it may, so that it
		// is not cut down to what it "draws".
		for p := range 3 {
			if se.Wiring.Has(scheduler.Phase(p + 1)) {
				se.Drawn[p] = amps(a)
			}
		}
	}
	liftHeldDraw(&se, entry.Applied(b.now), l.m.cfg.Scheduler.RampRoom)
	l.noteApplied(rt, entry.MayApply(b.now), b.now)
	se.State = evseState(c, e.ID, rt, b.now)
	switch se.State {
	case scheduler.StateOffline, scheduler.StateUncontrollable:
		if !c.st.Loop.NonCompliant {
			se.Fallback, se.HasFallback = amps(entry.CountedAt(b.now)), true
		}
	}
	rt.state = se.State
	l.capByPlan(b.now, ref, &se) // plan.go: capped at the plan's limit for now
	b.in.EVSEs = append(b.in.EVSEs, se)
	b.entries = append(b.entries, entry)
	b.evs = append(b.evs, ref)
}

// liftHeldDraw: while the charger applies less than we allocated (a raise
// held back by the rate limit or the ledger, or not yet answered), a car
// that draws what the charger lets it (within the ramp room) says nothing
// about whether it would take more; its draw is shifted up by the
// difference so the scheduler does not cut it to "what it draws". A car
// drawing clearly less than even what is applied keeps its real draw.
func liftHeldDraw(se *scheduler.EVSE, applied site.Amps, ramp scheduler.Amps) {
	a := amps(applied)
	if se.PrevLimit <= a {
		return
	}
	d := scheduler.Amps(0)
	for p := range 3 {
		if se.Wiring.Has(scheduler.Phase(p + 1)) {
			d = max(d, se.Drawn[p])
		}
	}
	if d+ramp < a {
		return
	}
	for p := range 3 {
		if se.Wiring.Has(scheduler.Phase(p + 1)) {
			se.Drawn[p] = max(0, se.Drawn[p]) + se.PrevLimit - a
		}
	}
}

// evseState maps what the charger reports onto the scheduler's states.
func evseState(c *charger, evse int, rt *evseRT, now time.Time) scheduler.State {
	switch {
	case c.st.Loop.NonCompliant:
		return scheduler.StateUncontrollable
	case !c.st.Connected:
		return scheduler.StateOffline
	case rt.inflight == nil && timedOut(c.loopEVSE(evse), now):
		// It may have applied a change we never heard of: counted at the
		// higher of its limits, others make room.
		return scheduler.StateUncontrollable
	}
	switch c.status(evse) {
	case site.StatusOccupied, site.StatusCharging, site.StatusSuspendedEVSE:
		return scheduler.StateCharging
	case site.StatusSuspendedEV:
		return scheduler.StateSuspended
	case site.StatusFaulted, site.StatusUnavailable:
		return scheduler.StateFaulted
	case site.StatusUnknown:
		if c.tx(evse) != nil {
			return scheduler.StateCharging
		}
	}
	return scheduler.StateNoCar
}

// timedOut reports whether an EVSE has a pending dynamic profile that
// timed out and whose lease has not ended.
func timedOut(ls *site.EVSELoopState, now time.Time) bool {
	return slotTimedOut(&ls.TxDefault, now) || slotTimedOut(&ls.Tx, now)
}

func slotTimedOut(s *site.ProfileSlot, now time.Time) bool {
	for _, p := range s.Pending {
		if p.TimedOut && (p.Expires.IsZero() || now.Before(p.Expires)) {
			return true
		}
	}
	return false
}

// prune drops pending dynamic profiles whose lease has ended: the charger
// cannot apply them any more.
func prune(ls *site.EVSELoopState, now time.Time) bool {
	changed := false
	for _, s := range [2]*site.ProfileSlot{&ls.TxDefault, &ls.Tx} {
		out := s.Pending[:0]
		for _, p := range s.Pending {
			if p.Expires.IsZero() || now.Before(p.Expires) {
				out = append(out, p)
			} else {
				changed = true
			}
		}
		s.Pending = out
		if len(s.Pending) == 0 {
			s.Pending = nil
		}
	}
	return changed
}

// fallbackBand: a computed fallback above the accepted one by less than
// this is not sent (lowers always are): other load moves a little all the
// time, and a fallback kept below what was computed is still safe.
const fallbackBand site.Amps = 1

// fallbackSlack: a fallback is raised to its share less this, so that a
// share falling back by up to this needs no fallback lower. In a site
// where every car is at its share the share moves with every change of
// other load or cars, and the fallback went out with every dynamic
// change, raise and lower (issue #6, half of all profiles). A fallback
// only applies when we are gone: an ampere less there costs next to
// nothing.
const fallbackSlack site.Amps = 1

// fallbacks computes every EVSE's fallback limit. The scheduler and the
// ledger count every EVSE at least at its accepted fallback whatever its
// dynamic limit (a charger returns to it when its lease runs out), so a
// fallback is capacity taken from the dynamic allocation: fallbacks go to
// the EVSEs that have a car (their fair share, progressive filling), an
// EVSE without a car gets 0 (a car arriving while we are gone waits for
// us). They are computed against the limits in force (the grid limit at
// now, temporary ones included; circuit fuses; external limits on
// chargers), scaled by FallbackFraction, less the scheduler's safety
// margin and the measured other load, every EVSE on all its wired phases;
// offline and uncontrollable EVSEs (whose fallbacks we cannot change now)
// count as fixed load at what they are counted at. A fallback that would
// rise by less than fallbackBand keeps its accepted value (lower, so still
// safe). Lowers are sent at once, raises only through the ledger's check
// (so whatever these targets, the ledger keeps every mix of dynamic limits
// and fallbacks within every limit).
func (l *siteLoop) fallbacks(b *built) {
	frac := l.m.cfg.FallbackFraction
	margin := float64(l.m.cfg.Scheduler.SafetyMargin)
	v := float64(b.tree.Voltage)
	t := ledger.Tree{Voltage: b.tree.Voltage, Nodes: make([]ledger.Node, len(b.tree.Nodes))}
	for i, n := range b.tree.Nodes {
		ln := ledger.Node{ID: n.ID, Parent: n.Parent, OtherLoad: n.OtherLoad}
		for p := range 3 {
			ln.Limit[p] = n.Limit[p]
			if !math.IsInf(float64(ln.Limit[p]), 1) {
				ln.Limit[p] = site.Amps(max(0, float64(ln.Limit[p])*frac-margin))
			}
			ln.OtherLoad[p] = max(0, ln.OtherLoad[p])
		}
		if n.PowerLimit > 0 {
			// 0 means none: a power limit eaten by the margins is a tiny one.
			ln.PowerLimit = site.Watts(max(1e-9, float64(n.PowerLimit)*frac-3*margin*v))
		}
		t.Nodes[i] = ln
	}
	evs := make([]fallback.EVSE, len(b.evs))
	fixed := make([]bool, len(b.evs))
	for i, ref := range b.evs {
		wired := ref.gridSet(wiring(ref.cfg))
		// Below the car's minimum (where it reported one) a share is 0.
		minA := max(ref.cfg.EffectiveMinCurrent(), site.Amps(b.in.EVSEs[i].CarMinCurrent))
		// Not above the lowest limit others set from now on: the
		// fallback leads over their TxDefault profiles when we are gone
		// (csms.go).
		maxA := min(ref.cfg.MaxCurrent, ref.c.lowestExternal(ref.id(), l.voltage(), wiring(ref.cfg).Count(), b.now))
		evs[i] = fallback.EVSE{Node: b.in.EVSEs[i].Node, Phases: wired, Max: maxA, Min: minA}
		switch b.in.EVSEs[i].State {
		case scheduler.StateCharging, scheduler.StateSuspended:
			o := b.entries[i].Others
			if o <= 0 {
				continue
			}
			// A Tx profile of others governs when we are gone (csms.go):
			// fixed load at it, and no fallback of its own meanwhile.
			for n := evs[i].Node; n >= 0; n = t.Nodes[n].Parent {
				for p := range 3 {
					if wired.Has(p) {
						t.Nodes[n].OtherLoad[p] += o
					}
				}
			}
		case scheduler.StateOffline, scheduler.StateUncontrollable:
			fixed[i] = true
			a := b.entries[i].CountedAt(b.now)
			for n := evs[i].Node; n >= 0; n = t.Nodes[n].Parent {
				for p := range 3 {
					if wired.Has(p) {
						t.Nodes[n].OtherLoad[p] += a
					}
				}
			}
		}
		evs[i].Max = 0 // no car: 0
	}
	for i, a := range fallback.Limits(&t, evs) {
		acc := b.evs[i].ls().Fallback.Accepted
		switch {
		case fixed[i] && acc != nil:
			a = acc.Limit // cannot be changed now; unchanged when it answers again
		case acc != nil && a >= acc.Limit && a < acc.Limit+fallbackSlack+fallbackBand:
			a = acc.Limit
		case acc != nil && a > acc.Limit:
			// A raise leaves fallbackSlack below the share (not below
			// the car's minimum), so the share may fall back a little
			// without a fallback lower.
			a = max(acc.Limit, min(a, max(a-fallbackSlack, evs[i].Min)))
		}
		b.evs[i].rt().fallback = a
	}
}
