package loop

import (
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// charger is the loop's in-memory view of one charger. The loop goroutine
// owns it.
type charger struct {
	ref site.ChargerRef
	cfg site.Charger
	// st is the live state as last read or learnt from events; st.Loop is
	// never nil and is the loop's own (persisted write-through).
	st site.ChargerState
	// stateDirty: st.Loop changed without a write yet, to be written with
	// the next batch. lazy: changed in a way that may wait up to
	// lazyEvery or until nothing is in flight (answers, lowers, targets:
	// forgetting them in a crash only overcounts; see persistChargers).
	stateDirty, lazy bool
	evses            map[int]*evseRT
	external         externals
}

// evseRT is what the loop keeps of an EVSE only in memory.
type evseRT struct {
	inflight *command
	// formIdx is the index of the profile form to use for dynamic
	// profiles (advanced on rejections); fbFormIdx for fallbacks.
	formIdx, fbFormIdx int
	fbGaveUp           bool
	// overSince is when meter values first showed it above its limit;
	// overSamples how many samples in a row did.
	overSince   time.Time
	overSamples int
	// resume sequence: when the current step started.
	resumeAt  time.Time
	forceSend bool
	forceZero bool
	// resumeRaise exempts the raise after a 0-then-limit from the rate
	// limit; resendFb and resendDyn ask for profiles again after a boot.
	resumeRaise         bool
	resendFb, resendDyn bool
	// trigger is when the event that caused the pending change came.
	trigger time.Time
	// last scheduler decision and state.
	result scheduler.Result
	state  scheduler.State
	// fallback computed for it; floor what the last run gave the
	// scheduler as its floor (see reconcile).
	fallback, floor site.Amps
	// applied: what it may apply (ledger MayApply) and when that changed,
	// as far back as the other-load estimate looks (noteApplied).
	applied []appliedAt
}

func (c *charger) loopEVSE(id int) *site.EVSELoopState {
	if c.st.Loop.EVSEs == nil {
		c.st.Loop.EVSEs = map[int]*site.EVSELoopState{}
	}
	e := c.st.Loop.EVSEs[id]
	if e == nil {
		e = &site.EVSELoopState{}
		c.st.Loop.EVSEs[id] = e
	}
	return e
}

// resendAll asks for every profile of the charger to be sent again: after
// a (re)connect or boot we cannot be sure what it kept.
func (c *charger) resendAll() {
	for _, e := range c.cfg.EVSEs {
		rt := c.rt(e.ID)
		rt.resendFb, rt.resendDyn = true, true
	}
}

func (c *charger) rt(id int) *evseRT {
	r := c.evses[id]
	if r == nil {
		r = &evseRT{}
		c.evses[id] = r
	}
	return r
}

func (c *charger) rotation() site.PhaseRotation {
	if c.cfg.PhaseRotation.Known() {
		return c.cfg.PhaseRotation
	}
	return c.st.Capabilities.PhaseRotation
}

// tx returns the running transaction of an EVSE, or nil.
func (c *charger) tx(evse int) *site.Transaction {
	if s, ok := c.st.EVSEs[evse]; ok {
		return s.Transaction
	}
	return nil
}

func (c *charger) status(evse int) site.EVSEStatus {
	if s, ok := c.st.EVSEs[evse]; ok {
		return s.Status
	}
	return site.StatusUnknown
}

func (c *charger) sample(evse int) *site.MeterSample {
	if s, ok := c.st.EVSEs[evse]; ok {
		return s.LastSample
	}
	return nil
}

func (c *charger) txID(evse int) string {
	if t := c.tx(evse); t != nil {
		return t.ID
	}
	return ""
}

// carPhases is the set of the charger's phases the car draws on, if learnt
// in the running transaction.
func (c *charger) carPhases(evse int) scheduler.PhaseSet {
	e := c.st.Loop.EVSEs[evse]
	if e == nil || e.CarPhases == 0 {
		return 0
	}
	if id := c.txID(evse); id == "" || id != e.CarPhasesTx {
		return 0
	}
	return scheduler.PhaseSet(e.CarPhases)
}

func wiring(e site.EVSE) scheduler.PhaseSet {
	if e.Phases == 1 {
		return scheduler.OnlyL1
	}
	return scheduler.AllPhases
}

func schedRotation(r site.PhaseRotation) scheduler.Rotation {
	if !r.Known() {
		return scheduler.Rotation{}
	}
	return scheduler.Rotation{scheduler.Phase(r[0]), scheduler.Phase(r[1]), scheduler.Phase(r[2])}
}

// sortedChargers returns the chargers in ID order (owned by the loop: do
// not change the slice).
func (l *siteLoop) sortedChargers() []*charger { return l.order }
