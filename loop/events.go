package loop

import (
	"context"
	"fmt"

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
		if e.Cleared {
			delete(c.external, e.EVSE)
		} else {
			c.external[e.EVSE] = e
		}
	}
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
