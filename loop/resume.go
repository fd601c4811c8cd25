package loop

import (
	"context"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Resume sequence for a car that stays in SuspendedEVSE although it is
// allowed current: each step gets ResumeGrace.
const (
	resumeResend  = 1 // send the profile again
	resumeTrigger = 2 // TriggerMessage StatusNotification and MeterValues
	resumeZero    = 3 // 0, then the limit again
	resumeFailed  = 4 // report
)

// resumeSteps advances the resume sequence of every EVSE that stays in
// SuspendedEVSE while allowed current.
func (l *siteLoop) resumeSteps(ctx context.Context, b *built, now time.Time) {
	grace := l.m.cfg.ResumeGrace
	for i, ref := range b.evs {
		c, rt, ls := ref.c, ref.rt(), ref.ls()
		stuck := c.st.Connected && !c.st.Loop.NonCompliant && c.status(ref.id()) == site.StatusSuspendedEVSE &&
			ls.Target > 0 && b.entries[i].Applied(now) > 0 && rt.inflight == nil
		if !stuck {
			if ls.Resume == 0 {
				rt.resumeAt = time.Time{}
			}
			continue
		}
		if ls.ResumeFailed {
			continue
		}
		if rt.resumeAt.IsZero() {
			rt.resumeAt = now
		}
		if due := rt.resumeAt.Add(grace); now.Before(due) {
			l.want(due)
			continue
		}
		step := ls.Resume + 1
		if l.ls.Quirks[site.ModelKey(c.st.Boot)].NoResumeFromSuspendedEVSE && step < resumeZero {
			step = resumeZero
		}
		ls.Resume = step
		rt.resumeAt = now
		c.stateDirty = true
		log := l.log.With("charger", c.ref.ChargerID, "evse", ref.id(), "limit", float64(ls.Target))
		switch step {
		case resumeResend:
			log.Info("car stays suspended by the EVSE after a raise: sending the limit again")
			rt.forceSend = true
		case resumeTrigger:
			log.Info("car still suspended: asking the charger for its status and meter values")
			l.trigger(ctx, c.ref, ref.id(), site.TriggerStatus)
			l.trigger(ctx, c.ref, ref.id(), site.TriggerMeterValues)
		case resumeZero:
			log.Info("car still suspended: sending 0 A and then the limit again")
			rt.forceZero = true
		default:
			ls.ResumeFailed = true
			l.m.met.resumeFailed.WithLabelValues(l.id).Inc()
			log.Error("car does not resume after a pause: re-send, trigger and 0-then-limit all failed")
			continue
		}
		l.want(now.Add(grace))
	}
}

// resumed is called when an EVSE reports Charging: a running resume
// sequence ends, and if it took 0-then-limit the model learns it.
func (l *siteLoop) resumed(ctx context.Context, c *charger, evse int) {
	ls := c.loopEVSE(evse)
	if ls.Resume >= resumeZero && !ls.ResumeFailed {
		l.learnQuirk(ctx, c, func(q *site.ModelQuirks) bool {
			if q.NoResumeFromSuspendedEVSE {
				return false
			}
			q.NoResumeFromSuspendedEVSE = true
			return true
		})
	}
	if ls.Resume != 0 || ls.ResumeFailed {
		ls.Resume, ls.ResumeFailed = 0, false
		c.stateDirty = true
	}
	c.rt(evse).resumeAt = time.Time{}
}

// learnQuirk changes the quirks of a charger's model and stores them.
func (l *siteLoop) learnQuirk(ctx context.Context, c *charger, fn func(*site.ModelQuirks) bool) {
	key := site.ModelKey(c.st.Boot)
	if c.st.Boot.Vendor == "" && c.st.Boot.Model == "" {
		return
	}
	if l.ls.Quirks == nil {
		l.ls.Quirks = map[string]site.ModelQuirks{}
	}
	q := l.ls.Quirks[key]
	if !fn(&q) {
		return
	}
	q.UpdateTime = l.m.cfg.Clock.Now()
	l.ls.Quirks[key] = q
	l.log.Info("learnt a quirk of a charger model", "model", key, "quirks", q)
	if err := l.persistLoop(ctx, func(ls *site.LoopState) {
		if ls.Quirks == nil {
			ls.Quirks = map[string]site.ModelQuirks{}
		}
		ls.Quirks[key] = q
	}); err != nil {
		l.log.Warn("cannot store quirk", "err", err)
	}
}

// learnForm records the profile form a model accepted after others were
// refused, so the next chargers of the model start with it.
func (l *siteLoop) learnForm(ctx context.Context, c *charger, f form) {
	l.learnQuirk(ctx, c, func(q *site.ModelQuirks) bool {
		if q.Unit == f.unit && q.StackLevel == f.stack {
			return false
		}
		q.Unit, q.StackLevel = f.unit, f.stack
		return true
	})
}

func (l *siteLoop) noteRejected(ctx context.Context, c *charger) {
	l.learnQuirk(ctx, c, func(q *site.ModelQuirks) bool { q.Rejected++; return true })
}
