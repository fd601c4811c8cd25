package loop

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// Learning a car's phases: a phase counts when it carries more than
// phaseOn while the highest carries at least learnMin.
const (
	learnMin site.Amps = 4
	phaseOn  site.Amps = 2
)

// apply folds an event into the in-memory live state. The adapter has
// written the same state to the store before publishing, so a lost event
// is repaired by the next reload.
func (l *siteLoop) apply(ctx context.Context, ev site.Event) {
	c := l.chargers[ev.Charger().ChargerID]
	if c == nil {
		return // not configured (yet): the next reload sees it
	}
	now := l.m.cfg.Clock.Now()
	evse := func(id int) site.EVSEState {
		if c.st.EVSEs == nil {
			c.st.EVSEs = map[int]site.EVSEState{}
		}
		return c.st.EVSEs[id]
	}
	switch e := ev.(type) {
	case site.ChargerConnected:
		// A charger keeps its installed profiles across a reconnect (and a
		// restart of ours): only a boot makes us send them again. Profiles
		// whose answer we lost are still pending in the ledger and are
		// reconciled by the next run like any other difference.
		c.st.Connected, c.st.Protocol, c.st.LastSeen = true, e.Protocol, e.At()
	case site.ChargerDisconnected:
		c.st.Connected = false
	case site.ChargerBooted:
		c.st.Connected, c.st.Boot, c.st.LastBoot = true, e.Boot, e.At()
		if c.st.Loop.NonCompliant {
			l.log.Info("charger booted: trying its limits again", "charger", c.ref.ChargerID,
				"was", c.st.Loop.NonCompliantReason)
			c.st.Loop.NonCompliant, c.st.Loop.NonCompliantReason = false, ""
			c.stateDirty = true
		}
		for _, rt := range c.evses {
			rt.formIdx, rt.fbFormIdx, rt.fbGaveUp = 0, 0, false
		}
		c.resendAll()
	case site.ChargerCapabilitiesRead:
		c.st.Capabilities = e.Capabilities
		if m := e.Capabilities.MaxStackLevel; m > 0 && m < l.m.cfg.StackLevel {
			l.log.Warn("charger's maximum stack level is below the loop's: it will refuse the loop's profiles (set the loop's stack levels within it)",
				"charger", c.ref.ChargerID, "max_stack_level", m, "fallback_stack_level", l.m.cfg.FallbackStackLevel,
				"stack_level", l.m.cfg.StackLevel)
		}
	case site.EVSEStatusChanged:
		s := evse(e.EVSE)
		s.Status, s.StatusTime = e.Status, e.At()
		c.st.EVSEs[e.EVSE] = s
		if e.Status == site.StatusCharging {
			l.resumed(ctx, c, e.EVSE)
		}
		if c.rt(e.EVSE).trigger.IsZero() {
			c.rt(e.EVSE).trigger = now
		}
	case site.TransactionStarted:
		s := evse(e.Transaction.EVSE)
		t := e.Transaction
		s.Transaction = &t
		c.st.EVSEs[t.EVSE] = s
		c.rt(t.EVSE).trigger = now
		c.rt(t.EVSE).formIdx = 0
	case site.TransactionUpdated:
		s := evse(e.Transaction.EVSE)
		t := e.Transaction
		s.Transaction = &t
		c.st.EVSEs[t.EVSE] = s
	case site.TransactionStopped:
		s := evse(e.Transaction.EVSE)
		s.Transaction = nil
		c.st.EVSEs[e.Transaction.EVSE] = s
		ls := c.loopEVSE(e.Transaction.EVSE)
		// The charger drops a Tx profile with its transaction.
		ls.Tx = site.ProfileSlot{}
		ls.CarPhases, ls.CarPhasesTx = 0, ""
		ls.Resume, ls.ResumeFailed = 0, false
		c.stateDirty = true
		c.rt(e.Transaction.EVSE).trigger = now
	case site.MeterSampled:
		s := evse(e.EVSE)
		smp := e.Sample
		s.LastSample = &smp
		c.st.EVSEs[e.EVSE] = s
		l.learnPhases(c, e.EVSE, e.TransactionID, smp)
		l.checkDraw(ctx, c, e.EVSE)
		if smp.Current != nil {
			for p := range 3 {
				l.m.met.evseDrawn.WithLabelValues(l.id, c.ref.ChargerID, fmt.Sprint(e.EVSE), phaseNames[p]).Set(float64(smp.Current[p]))
			}
		}
	case site.ChargingNeedsReported:
		if l.ls.Needs == nil {
			l.ls.Needs = map[string]site.ChargingNeeds{}
		}
		l.ls.Needs[site.EVSEKey(c.ref.ChargerID, e.EVSE)] = e.Needs
	case site.ExternalLimitReported:
		c.setExternal(e.Source, e.EVSE, constantSchedules(e))
	case site.ExternalSchedulesReported:
		c.setExternal(e.Source, e.EVSE, e.Schedules)
	}
}

// extKey names the limits one source set on one EVSE (0: the charger).
type extKey struct {
	source string
	evse   int
}

// externals are the limits others set on a charger, by source and EVSE,
// as schedules. A new report of a source for an EVSE replaces the old.
type externals struct {
	m map[extKey][]site.ExternalSchedule
	// next is when a limit in force may change next, as of the last
	// build (zero: never); a run is made then (externalDue).
	next time.Time
}

// set replaces what source reported for evse; no schedules: cleared.
func (x *externals) set(source string, evse int, ss []site.ExternalSchedule) {
	k := extKey{source, evse}
	if len(ss) == 0 {
		delete(x.m, k)
		return
	}
	if x.m == nil {
		x.m = map[extKey][]site.ExternalSchedule{}
	}
	x.m[k] = ss
	x.next = time.Time{} // the next build finds it
}

// setExternal records what source reported for evse, in memory and in
// the charger's loop state (written with the next batch: a restarted
// loop keeps it).
func (c *charger) setExternal(source string, evse int, ss []site.ExternalSchedule) {
	c.external.set(source, evse, ss)
	recs := make([]site.ExternalRecord, 0, len(c.external.m))
	for k, ss := range c.external.m {
		recs = append(recs, site.ExternalRecord{Source: k.source, EVSE: k.evse, Schedules: ss})
	}
	slices.SortFunc(recs, func(a, b site.ExternalRecord) int {
		if a.Source != b.Source {
			return strings.Compare(a.Source, b.Source)
		}
		return a.EVSE - b.EVSE
	})
	if len(recs) == 0 {
		recs = nil
	}
	c.st.Loop.External = recs
	c.stateDirty = true
}

// loadExternal takes the limits others set from the charger's loop state
// as read after a restart.
func (c *charger) loadExternal() {
	for _, r := range c.st.Loop.External {
		c.external.set(r.Source, r.EVSE, r.Schedules)
	}
}

// constantSchedules turns a constant external limit into schedules. In an
// ExternalLimitReported a zero Limit or Power means "no limit in that
// unit" (NotifyChargingLimit without a schedule, a delegated report): a
// limit of 0 comes as an ExternalSchedulesReported.
func constantSchedules(e site.ExternalLimitReported) []site.ExternalSchedule {
	if e.Cleared {
		return nil
	}
	var ss []site.ExternalSchedule
	if e.Limit > 0 {
		ss = append(ss, site.ExternalSchedule{Unit: site.UnitAmps, Periods: []site.Period{{Limit: float64(e.Limit)}}})
	}
	if e.Power > 0 {
		ss = append(ss, site.ExternalSchedule{Unit: site.UnitWatts, Periods: []site.Period{{Limit: float64(e.Power)}}})
	}
	return ss
}

// appendExternal adds the charger's external limits in force at now to
// xs, on the charger's node ci (an EVSE's limit constrains the charger:
// on the safe side for chargers with several EVSEs), and asks for a run
// when one of them changes next. A limit of 0 (A or W) is a limit of
// 0 A: the EVSEs below are paused.
func (l *siteLoop) appendExternal(xs []scheduler.ExternalLimit, c *charger, ci int, now time.Time) []scheduler.ExternalLimit {
	c.external.next = time.Time{}
	if len(c.external.m) == 0 {
		return xs
	}
	keys := make([]extKey, 0, len(c.external.m))
	for k := range c.external.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b extKey) int {
		if a.source != b.source {
			return strings.Compare(a.source, b.source)
		}
		return a.evse - b.evse
	})
	for _, k := range keys {
		a, hasA, w, hasW, next := site.ExternalLimitsAt(c.external.m[k], now)
		if next.After(now) && (c.external.next.IsZero() || next.Before(c.external.next)) {
			c.external.next = next
		}
		if !hasA && !hasW {
			continue
		}
		x := scheduler.ExternalLimit{Node: ci, Source: "ocpp:" + k.source, Limit: scheduler.Uniform(scheduler.Unlimited())}
		if hasA {
			x.Limit = scheduler.Uniform(amps(max(a, 0)))
		}
		if hasW {
			if w <= 0 {
				x.Limit = scheduler.Uniform(0) // PowerLimit 0 means none
			} else {
				x.PowerLimit = scheduler.Watts(w)
			}
		}
		xs = append(xs, x)
	}
	if !c.external.next.IsZero() {
		l.want(c.external.next)
	}
	return xs
}

// wantExternal asks for a wake at the next change of a limit set by
// others (as of the last build); call it after resetting wantAt.
func (l *siteLoop) wantExternal() {
	for _, c := range l.chargers {
		if !c.external.next.IsZero() {
			l.want(c.external.next)
		}
	}
}

// externalDue reports whether a limit set by others changed since the
// last build (a period of its schedule began or ended): a run is due.
func (l *siteLoop) externalDue() bool {
	if !l.loaded {
		return false
	}
	now := l.m.cfg.Clock.Now()
	for _, c := range l.chargers {
		if n := c.external.next; !n.IsZero() && !now.Before(n) {
			return true
		}
	}
	return false
}

// learnPhases records on which of the charger's phases the car draws.
func (l *siteLoop) learnPhases(c *charger, evse int, txID string, s site.MeterSample) {
	if s.Current == nil {
		return
	}
	cur := *s.Current
	if max(cur[0], cur[1], cur[2]) < learnMin {
		return
	}
	if txID == "" {
		txID = c.txID(evse)
	}
	if txID == "" {
		return
	}
	var set uint8
	for p := range 3 {
		if cur[p] > phaseOn {
			set |= 1 << p
		}
	}
	ls := c.loopEVSE(evse)
	if ls.CarPhasesTx == txID {
		// Within a session phases only add up: a phase that goes quiet
		// may carry current again.
		set |= ls.CarPhases
	}
	if ls.CarPhases != set || ls.CarPhasesTx != txID {
		ls.CarPhases, ls.CarPhasesTx = set, txID
		c.stateDirty = true
	}
}
