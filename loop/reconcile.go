package loop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// near is the precision of limit comparisons: chargers round to 0.1 A.
const near site.Amps = 0.05

func same(a, b site.Amps) bool { return math.Abs(float64(a-b)) < float64(near) }

// reconcile is one run: build the input, compute the fallbacks, run the
// scheduler, record the targets and the allocation (intent), then
// dispatch.
//
// The scheduler counts every EVSE at least at its floor. An EVSE whose
// fallback this run lowers (it can be sent now or as soon as the EVSE's
// command in flight is answered) gets the new fallback as its floor: the
// fallback lowers go out with the dynamic lowers, before any raise, and
// the new fallbacks fit the limits in force on their own, so the input
// stays feasible when a limit drops and the cars keep charging at the
// reduced level. (With the accepted, higher fallbacks as floors a lowered
// grid limit made the input infeasible and paused every car for the
// dwell time.) The ledger still counts every EVSE at what it accepted
// until its lower is answered: raises wait for that.
func (l *siteLoop) reconcile(ctx context.Context) {
	trigger := l.dirty
	if trigger == "" {
		trigger = "wake"
	}
	l.dirty = ""
	l.stopCoalesce()
	if !l.loaded {
		return
	}
	clk := l.m.cfg.Clock
	now := clk.Now()
	l.drainResults(ctx)
	l.expireAnswers(now)
	b := l.build(now)
	l.fallbacks(b)
	for i, ref := range b.evs {
		rt := ref.rt()
		if e := &b.entries[i]; l.canSendFallback(b, i) && rt.fallback < e.OwnFallback()-near {
			b.in.EVSEs[i].Floor = l.floor(e, rt.fallback)
		}
		rt.floor = site.Amps(b.in.EVSEs[i].Floor)
	}
	alloc, err := scheduler.Allocate(b.in)
	if err != nil {
		l.log.Error("scheduler refused the input (a bug in the loop)", "err", err)
		return
	}
	for i, r := range alloc.EVSEs {
		ref := b.evs[i]
		rt, ls := ref.rt(), ref.ls()
		rt.result = r
		switch b.in.EVSEs[i].State {
		case scheduler.StateOffline, scheduler.StateUncontrollable:
			continue // nothing to send; Limit is what it is counted at
		}
		// Chargers take 0.1 A steps: round down, never up.
		target := site.Amps(math.Floor(float64(r.Limit)*10+1e-6) / 10)
		noCar := b.in.EVSEs[i].State == scheduler.StateNoCar || b.in.EVSEs[i].State == scheduler.StateFaulted
		if noCar && !ls.Since.IsZero() {
			// The next car is a new one, never started or paused by us:
			// no dwell time holds it.
			ls.Since = time.Time{}
			ref.c.stateDirty = true
		}
		if same(target, ls.Target) {
			continue
		}
		if (target > 0) != (ls.Target > 0) && !noCar {
			ls.Since = now
		}
		if target < ls.Target {
			msg := "lowering EVSE limit"
			if target == 0 {
				msg = "pausing EVSE"
			}
			l.log.Info(msg, "charger", ref.c.ref.ChargerID, "evse", ref.id(), "from", float64(ls.Target),
				"to", float64(target), "reason", r.Reason.String(), "trigger", trigger)
		}
		ls.Target = target
		ref.c.lazy = true
		if rt.trigger.IsZero() {
			rt.trigger = l.dirtyAt
		}
	}
	l.m.met.runs.WithLabelValues(l.id, trigger).Inc()
	l.log.Debug("run", "trigger", trigger, "evses", len(b.evs), "infeasible", len(alloc.Infeasible))
	l.last = b
	l.lastAlloc = &alloc
	l.lastTrigger = trigger
	l.dispatchOn(ctx, b, true)
	l.m.met.runSeconds.WithLabelValues(l.id).Observe(clk.Now().Sub(now).Seconds())
}

// want records a time the dispatcher needs to run again.
func (l *siteLoop) want(t time.Time) {
	if l.wantAt.IsZero() || t.Before(l.wantAt) {
		l.wantAt = t
	}
}

func (l *siteLoop) nextDeadline() time.Time { return l.wantAt }

// canSendFallback reports whether EVSE i's fallback can be changed by
// us now or once its command in flight is answered: connected,
// compliant, not refusing every form, neither offline nor uncontrollable
// for the scheduler.
func (l *siteLoop) canSendFallback(b *built, i int) bool {
	ref := b.evs[i]
	c, rt := ref.c, ref.rt()
	if !c.st.Connected || c.st.Loop.NonCompliant || rt.fbGaveUp {
		return false
	}
	switch b.in.EVSEs[i].State {
	case scheduler.StateOffline, scheduler.StateUncontrollable:
		return false
	}
	return true
}

// plan is a command the dispatcher decided on.
type plan struct {
	i      int
	ref    evseRef
	cmd    *command
	exempt bool // from the rate limit (renewals, resume)
	// up: a dynamic change that raises what the charger applies now.
	// cmd.raise (the ledger's count rises) implies up; not the other way
	// round when the EVSE is counted at a higher fallback.
	up bool
	// renewal: the same limit again, for its lease only.
	renewal bool
	// mustWrite: a change that is not a raise but must be written before
	// it is sent (leaseFor); covered is when the records written before
	// stop counting the EVSE at its limit (what it ends at when the
	// write fails).
	mustWrite bool
	covered   time.Time
}

// dispatch compares what every EVSE should have with what its charger
// accepted and sends the differences: lowers at once, raises only when no
// lower is outstanding and the ledger with the raise fits every limit.
func (l *siteLoop) dispatch(ctx context.Context) {
	if !l.loaded || l.lastAlloc == nil {
		l.flush(ctx)
		return
	}
	now := l.m.cfg.Clock.Now()
	l.drainResults(ctx)
	l.expireAnswers(now)
	l.dispatchOn(ctx, l.build(now), false)
}

// dispatchOn is dispatch on the site as built at b.now; force publishes
// the view whatever the time since the last one (a run).
func (l *siteLoop) dispatchOn(ctx context.Context, b *built, force bool) {
	now := b.now
	l.wantAt = time.Time{}
	l.wantExternal() // events.go: build wanted the next change of an external limit
	l.resumeSteps(ctx, b, now)

	lowersOut := false
	for _, c := range l.order {
		for _, rt := range c.evses {
			if cmd := rt.inflight; cmd != nil && !cmd.timedOut {
				lowersOut = lowersOut || !cmd.raise
				l.want(cmd.deadline)
			}
		}
	}
	var lowers, raises []plan
	for _, ref := range b.evs {
		if prune(ref.ls(), now) {
			ref.c.stateDirty = true
		}
	}
	count := b.count
	for i, ref := range b.evs {
		p, ok := l.decide(b, i, ref, now)
		if !ok {
			continue
		}
		switch {
		case p.cmd.raise:
			raises = append(raises, p)
		case p.up && !p.exempt && l.rateLimited(p.ref.ls(), now):
			// Within what the EVSE is counted at, so no ledger check,
			// but still a raise for the car: the rate limit holds it.
		case p.up && count().CanRaise(p.i, p.cmd.rec.Limit) != nil:
			// Within what it is counted at, but the ledger no longer
			// fits on its path (a limit dropped, other load grew): what
			// the car draws goes up only once lowers made room again.
			l.log.Debug("raise within the count held: the path is over a limit", "charger", p.ref.c.ref.ChargerID,
				"evse", p.ref.id(), "to", float64(p.cmd.rec.Limit))
		default:
			lowers = append(lowers, p)
		}
	}
	l.send(ctx, lowers, false, now)
	if lowersOut || len(lowers) > 0 {
		// Raises wait for the lowers' answers (or their timeouts).
		l.settleDispatch(ctx, b, force)
		return
	}
	var ok []plan
	for _, p := range raises {
		ls := p.ref.ls()
		if !p.exempt && l.rateLimited(ls, now) {
			continue
		}
		if err := count().CanRaise(p.i, p.cmd.rec.Limit); err != nil {
			l.log.Debug("raise held: it would not fit", "charger", p.ref.c.ref.ChargerID, "evse", p.ref.id(),
				"to", float64(p.cmd.rec.Limit), "err", err)
			continue
		}
		// Pending from here on, so the next raise is checked with it.
		s := slot(ls, p.cmd)
		s.Pending = append(s.Pending, p.cmd.rec)
		count().Recount(p.i)
		ok = append(ok, p)
	}
	l.send(ctx, ok, true, now)
	l.settleDispatch(ctx, b, force)
}

// viewEvery is how often the view is published at most while commands
// are in flight (once they are all answered it is published at once).
const viewEvery = time.Second

// settleDispatch ends a dispatch: it writes every charger state that
// changed and publishes the view (at once for a run or when nothing is
// in flight any more; else at most every viewEvery, see publishView).
func (l *siteLoop) settleDispatch(ctx context.Context, b *built, force bool) {
	lazy := l.inflight == 0 || !b.now.Before(l.lazyAt.Add(lazyEvery))
	if !lazy {
		l.want(l.lazyAt.Add(lazyEvery))
	}
	l.persistChargers(ctx, nil, lazy)
	if !force && l.inflight > 0 && b.now.Before(l.viewAt.Add(viewEvery)) {
		l.viewStale.Store(true)
		l.want(l.viewAt.Add(viewEvery))
		return
	}
	l.publishView(ctx, b)
}

// lowestFallback is the lowest fallback an EVSE may have applied: the
// accepted one (its maximum before one was accepted) or a pending one.
func lowestFallback(ls *site.EVSELoopState, maxA site.Amps) site.Amps {
	low := maxA
	if a := ls.Fallback.Accepted; a != nil {
		low = min(low, a.Limit)
	}
	for _, p := range ls.Fallback.Pending {
		low = min(low, p.Limit)
	}
	return low
}

// rateLimited reports whether a raise of an EVSE's limit must wait for
// MinRaiseInterval since its last change, and asks to run again then.
func (l *siteLoop) rateLimited(ls *site.EVSELoopState, now time.Time) bool {
	if now.Sub(ls.LastChange) < l.m.cfg.MinRaiseInterval {
		l.want(ls.LastChange.Add(l.m.cfg.MinRaiseInterval))
		return true
	}
	return false
}

// decide returns the command EVSE i needs, if any.
func (l *siteLoop) decide(b *built, i int, ref evseRef, now time.Time) (plan, bool) {
	c, rt, ls, e := ref.c, ref.rt(), ref.ls(), &b.entries[i]
	if !c.st.Connected || c.st.Loop.NonCompliant || rt.inflight != nil {
		return plan{}, false
	}
	// The fallback first: until it is accepted the EVSE counts at its
	// maximum. A fallback raise on an EVSE that has one waits for its
	// dynamic change (often the lower that makes room for it).
	if !rt.fbGaveUp && (ls.Fallback.Accepted == nil || !same(ls.Fallback.Accepted.Limit, rt.fallback) ||
		len(ls.Fallback.Pending) > 0 || rt.resendFb) {
		if ls.Fallback.Accepted != nil && !rt.resendFb && len(ls.Fallback.Pending) == 0 {
			switch {
			case rt.fallback > e.Fallback()+near:
				if p, ok := l.decideDynamic(b, i, ref, now, false); ok {
					return p, true
				}
			case rt.fallback < e.Fallback()-near:
				// Both lowers are due: the dynamic one first, it is the
				// one the charger applies now.
				if p, ok := l.decideDynamic(b, i, ref, now, true); ok {
					return p, true
				}
			}
		}
		fb := rt.fallback
		if n := len(ls.Fallback.Pending); n > 0 {
			// Unanswered: ask again at most once per answer timeout.
			// Meanwhile it counts at the higher of both, and the dynamic
			// limit is not held up by it.
			if next := ls.Fallback.Pending[n-1].Sent.Add(l.m.cfg.AnswerTimeout); now.Before(next) {
				l.want(next)
				return l.decideDynamic(b, i, ref, now, false)
			}
			// It may have applied any unanswered one or none: asked
			// again for no more than the lowest it may apply (a pure
			// lower: asking for more would be a raise the ledger holds
			// while the unanswered ones keep the path over a limit, and
			// nothing would ever clear them). A raise goes the normal
			// way once it answers.
			fb = min(fb, lowestFallback(ls, e.Max))
		}
		forms := l.fbForms(c)
		if rt.fbFormIdx >= len(forms) {
			rt.fbGaveUp = true
			return plan{}, false
		}
		rt.resendFb = false
		cmd := l.newCommand(ref, kindFallback, forms[rt.fbFormIdx], fb, now, time.Time{})
		// A raise of the lowest fallback it may have, checked by the
		// ledger (counted at the highest).
		cmd.raise = fb > lowestFallback(ls, e.Max)+near
		return plan{i: i, ref: ref, cmd: cmd, exempt: true}, true
	}
	return l.decideDynamic(b, i, ref, now, false)
}

// decideDynamic returns the dynamic profile EVSE i needs, if any; with
// lowerOnly, only one that raises neither what the EVSE is counted at nor
// what it applies.
func (l *siteLoop) decideDynamic(b *built, i int, ref evseRef, now time.Time, lowerOnly bool) (plan, bool) {
	c, rt, ls, e := ref.c, ref.rt(), ref.ls(), &b.entries[i]
	var target site.Amps
	var resendPurpose site.ProfilePurpose // the slot a re-send goes to
	switch b.in.EVSEs[i].State {
	case scheduler.StateOffline:
		return plan{}, false
	case scheduler.StateUncontrollable:
		// Timed out: ask again, at most once per answer timeout, for no
		// more than it had before the unanswered change (limits may have
		// dropped since; a raise goes the normal way once it answers).
		rec := newestPending(ls)
		if rec == nil {
			return plan{}, false
		}
		if next := rec.Sent.Add(l.m.cfg.AnswerTimeout); now.Before(next) {
			l.want(next)
			return plan{}, false
		}
		// The lowest it may apply (a timed-out fallback raise may not
		// have been applied): a re-send never raises what it draws. Nor
		// more than fits on its path now: it may outlast what the
		// charger applies otherwise (an accepted lease that ends first).
		low := lowestFallback(ls, e.Max)
		if d, ok := e.Dynamic(now); ok {
			low = min(d, e.Max)
		}
		target = min(rec.Limit, low, b.count().Room(i))
		// Into the slot of the unanswered profile: its answer clears it.
		// (Sent into the other one, a TxDefault profile that timed out
		// before a transaction started stayed pending for its lease,
		// and the EVSE uncontrollable, its fallback frozen.)
		if rec.Purpose != site.PurposeTx || e.TxID != "" {
			resendPurpose = rec.Purpose
		}
	default:
		target = ls.Target
	}
	if rt.forceZero {
		target = 0
	}
	dyn, has := e.Dynamic(now)
	renew := false
	if has {
		if exp := l.leaseEnd(ls, e); !exp.IsZero() {
			renewAt := exp.Add(-l.m.cfg.RenewBefore)
			renew = !now.Before(renewAt)
			if !renew {
				l.want(renewAt)
			}
		}
	}
	forms := l.dynForms(c, e.TxID != "")
	if rt.formIdx >= len(forms) {
		rt.formIdx = 0
	}
	f := forms[rt.formIdx]
	if resendPurpose != 0 {
		f.purpose = resendPurpose
	}
	// Only an unanswered profile of the slot we send to asks for a
	// re-send (an uncontrollable EVSE's re-send goes to the slot of its
	// unanswered profile).
	into := &ls.TxDefault
	if f.purpose == site.PurposeTx {
		into = &ls.Tx
	}
	if has && same(dyn, target) && !renew && !rt.forceSend && !rt.resendDyn && !slotTimedOut(into, now) && !l.periodsDue(b, i, ref, now) {
		return l.lowerOtherSlot(i, ref, f, into, e, target, now)
	}
	if slotTimedOut(into, now) && !(has && same(dyn, target)) {
		// fall through: the change itself is due
	} else if slotTimedOut(into, now) {
		if rec := newestPending(ls); rec != nil && now.Before(rec.Sent.Add(l.m.cfg.AnswerTimeout)) {
			l.want(rec.Sent.Add(l.m.cfg.AnswerTimeout))
			return plan{}, false
		}
	}
	raise := target > e.CountedAt(now)+near
	// What the charger applies now may be lower than the ledger's
	// Applied: with no dynamic limit in force it is on a fallback, and a
	// pending (unanswered, timed-out) one may be applied already. Going
	// above that is a raise of what the car draws, checked as one.
	applied := e.Applied(now)
	if _, dyn := e.Dynamic(now); !dyn {
		applied = min(applied, lowestFallback(ls, e.Max))
	}
	up := raise || target > applied+near || l.periodsRaise(ref, e, target, now) // plan.go
	if lowerOnly && up {
		return plan{}, false
	}
	renewal := has && same(dyn, target) && renew && !rt.forceSend && !rt.resendDyn && !slotTimedOut(into, now)
	rt.forceSend, rt.resendDyn = false, false
	p := plan{i: i, ref: ref, up: up, renewal: renewal}
	end := now.Add(l.m.cfg.Lease)
	if !raise {
		end = l.leaseFor(&p, e, target, f.purpose, target < applied-near, now)
	}
	p.cmd = l.newCommand(ref, kindDynamic, f, target, now, end)
	p.cmd.raise = raise
	p.cmd.trigger = rt.trigger
	// Renewals, resume steps and other forms of a refused change are not
	// new changes: the rate limit does not hold them.
	p.exempt = (has && same(dyn, target)) || rt.resumeRaise || rt.formIdx > 0
	if up {
		rt.resumeRaise = false
	}
	return p, true
}

// leaseFor returns when a change of EVSE e to a (a profile of the given
// purpose) that is not a raise of what it is counted at ends, and sets
// p.mustWrite and p.covered; lower says it lowers what the charger
// applies now.
//
// Such a change goes out before its record is written (a forgotten one
// must only overcount). So it may not outlast what the records already
// written count the EVSE at: a restarted loop that read them would count
// the EVSE below what its charger applies once they ended (a renewal
// sent while Redis was down, the daemon killed, restarted past the old
// lease end). The written records never count an EVSE below the records
// in memory at any time ahead, also if its transaction ends (every record
// added unwritten ends by then, every raise is written first), so the
// records in memory tell: the change ends when they stop counting the
// EVSE at a (e.CoveredUntil). A lower goes so at once, however short
// that leaves its lease (its renewal, due sooner, is written first),
// unless under minLease; so does any other change that keeps most of a
// lease. The rest (renewals above all) get a full lease and are written
// before they are sent.
func (l *siteLoop) leaseFor(p *plan, e *ledger.Entry, a site.Amps, purpose site.ProfilePurpose, lower bool, now time.Time) time.Time {
	full := now.Add(l.m.cfg.Lease)
	until, forever := e.CoveredUntil(a-near, purpose, now)
	if forever || !until.Before(full) {
		return full
	}
	cfg := &l.m.cfg
	if (lower && until.Sub(now) >= minLease) || until.Sub(now) >= cfg.RenewBefore+(cfg.Lease-cfg.RenewBefore)/2 {
		return until
	}
	p.mustWrite, p.covered = true, until
	return full
}

// minLease is the shortest lease a dynamic profile is sent with. (OCPP
// durations are whole seconds, and a duration of 0 is none at all: the
// charger would apply the profile for ever.)
const minLease = 2 * time.Second

// lowerOtherSlot returns a lower of the dynamic profile in the slot we do
// not send to (TxDefault while the Tx profile carries the limit, or the
// other way round) when one is in force above target: the charger falls
// back to it when the other ends, so the ledger counts the EVSE at it
// until its lease ends. (A car plugged in right after its idle EVSE was
// raised to its maximum by TxDefault kept being counted at the maximum
// for the whole lease under its Tx limit, and held every raise of the
// site back.)
func (l *siteLoop) lowerOtherSlot(i int, ref evseRef, f form, into *site.ProfileSlot, e *ledger.Entry, target site.Amps, now time.Time) (plan, bool) {
	ls := ref.ls()
	other, purpose := &ls.TxDefault, site.PurposeTxDefault
	if into == &ls.TxDefault {
		other, purpose = &ls.Tx, site.PurposeTx
	}
	a := other.Accepted
	if a == nil || len(other.Pending) > 0 || (!a.Expires.IsZero() && !now.Before(a.Expires)) || a.Limit <= target+near {
		return plan{}, false
	}
	if purpose == site.PurposeTx && (e.TxID == "" || a.TransactionID != e.TxID) {
		return plan{}, false // the charger dropped it with its transaction
	}
	f.purpose = purpose
	p := plan{i: i, ref: ref, exempt: true}
	p.cmd = l.newCommand(ref, kindDynamic, f, target, now, l.leaseFor(&p, e, target, f.purpose, true, now))
	return p, true
}

// leaseEnd is when the dynamic profile in force ends.
func (l *siteLoop) leaseEnd(ls *site.EVSELoopState, e *ledger.Entry) time.Time {
	if a := ls.Tx.Accepted; a != nil && e.TxID != "" && a.TransactionID == e.TxID {
		return a.Expires
	}
	if a := ls.TxDefault.Accepted; a != nil {
		return a.Expires
	}
	return time.Time{}
}

func newestPending(ls *site.EVSELoopState) *site.ProfileRecord {
	var r *site.ProfileRecord
	for _, s := range [2]*site.ProfileSlot{&ls.TxDefault, &ls.Tx} {
		for i := range s.Pending {
			if r == nil || s.Pending[i].Seq > r.Seq {
				r = &s.Pending[i]
			}
		}
	}
	return r
}

// send records each command as pending, writes the chargers' state (the
// intent) and sends: a raise only after its intent is written (one whose
// intent cannot be written is not sent: after a restart it would be
// forgotten); other changes at once, their intents written meanwhile (a
// forgotten one only overcounts: it ends while the records written before
// still count the EVSE as high, see leaseFor), except those leaseFor says
// must be written first.
func (l *siteLoop) send(ctx context.Context, plans []plan, raises bool, now time.Time) {
	touched := map[*charger]bool{}
	for _, p := range plans {
		if !raises { // raises were made pending while checked
			s := slot(p.ref.ls(), p.cmd)
			s.Pending = append(s.Pending, p.cmd.rec)
		}
		touched[p.ref.c] = true
	}
	if len(plans) == 0 {
		return
	}
	if !raises {
		// They go out at once, their intents are written lazily (see
		// persistChargers). A thousand intent writes first put their time
		// on every lower's path and cost a third of the daemon's time.
		var must map[*charger]bool
		for _, p := range plans {
			if p.mustWrite {
				if must == nil {
					must = map[*charger]bool{}
				}
				must[p.ref.c] = true
				continue
			}
			l.launch(ctx, p, now)
			p.ref.c.lazy = true
		}
		if must == nil {
			return
		}
		failed := l.persistChargers(ctx, must, false)
		for _, p := range plans {
			if !p.mustWrite {
				continue
			}
			if failed[p.ref.c] {
				s := slot(p.ref.ls(), p.cmd)
				if p.renewal || p.covered.Sub(now) < minLease {
					// A renewal that cannot be written waits: sent, it
					// could not last longer than the one in force. So
					// does a change whose lease would be too short: the
					// charger is back on its fallback by then anyway.
					dropPending(s, p.cmd.rec.Seq)
					continue
				}
				// Still a lower of what the charger may apply: sent,
				// ending while the records written count it as high.
				p.cmd.endAt(p.covered)
				for i := range s.Pending {
					if s.Pending[i].Seq == p.cmd.rec.Seq {
						s.Pending[i].Expires = p.covered
					}
				}
			}
			l.launch(ctx, p, now)
			p.ref.c.lazy = true // LastChange, or the capped lease
		}
		return
	}
	// The intents of raises, with every other change not yet written.
	failed := l.persistChargers(ctx, touched, false)
	for _, p := range plans {
		if failed[p.ref.c] && p.cmd.raise {
			dropPending(slot(p.ref.ls(), p.cmd), p.cmd.rec.Seq)
			continue
		}
		l.launch(ctx, p, now)
	}
}

// launch sends a planned command.
func (l *siteLoop) launch(ctx context.Context, p plan, now time.Time) {
	if p.cmd.kind == kindDynamic && !p.exempt {
		p.ref.ls().LastChange = now
	}
	p.ref.rt().inflight = p.cmd
	l.want(p.cmd.deadline)
	l.start(ctx, p.cmd)
}

func dropPending(s *site.ProfileSlot, seq int64) {
	out := s.Pending[:0]
	for _, r := range s.Pending {
		if r.Seq != seq {
			out = append(out, r)
		}
	}
	s.Pending = out
	if len(s.Pending) == 0 {
		s.Pending = nil
	}
}

// drainResults handles the answers already queued: an answer that came
// is not to be taken for a timeout because the loop was busy (under
// load, answers waited in the queue past their deadline).
func (l *siteLoop) drainResults(ctx context.Context) {
	for {
		select {
		case r := <-l.results:
			l.inflight--
			l.handle(ctx, r)
		default:
			return
		}
	}
}

// expireAnswers marks commands whose answer is overdue as timed out: from
// now on they count at the higher of old and new limit, and raises no
// longer wait for them.
func (l *siteLoop) expireAnswers(now time.Time) {
	for _, c := range l.chargers {
		for id, rt := range c.evses {
			cmd := rt.inflight
			if cmd == nil || cmd.timedOut || now.Before(cmd.deadline) {
				continue
			}
			cmd.timedOut = true
			s := slot(c.loopEVSE(id), cmd)
			for i := range s.Pending {
				if s.Pending[i].Seq == cmd.rec.Seq {
					s.Pending[i].TimedOut = true
				}
			}
			c.stateDirty = true
			l.m.met.profiles.WithLabelValues(l.id, "timeout").Inc()
			l.log.Warn("charger did not answer in time: counted at the higher of its old and new limit",
				"charger", c.ref.ChargerID, "evse", id, "limit", float64(cmd.rec.Limit), "kind", cmd.kind.String())
			l.markDirty("timeout")
		}
	}
}

// handle takes a charger's answer.
func (l *siteLoop) handle(ctx context.Context, r cmdResult) {
	cmd := r.cmd
	if cmd == nil {
		return // a trigger
	}
	c := l.chargers[cmd.ref.ChargerID]
	if c == nil {
		return
	}
	now := l.m.cfg.Clock.Now()
	rt := c.rt(cmd.evse)
	if rt.inflight == cmd {
		rt.inflight = nil
	}
	ls := c.loopEVSE(cmd.evse)
	s := slot(ls, cmd)
	log := l.log.With("charger", c.ref.ChargerID, "evse", cmd.evse, "kind", cmd.kind.String(),
		"limit", float64(cmd.rec.Limit), "unit", cmd.form.unit.String(), "purpose", int(cmd.form.purpose), "stack", cmd.form.stack)
	switch {
	case r.err == nil && r.res.Status == site.CommandAccepted:
		rec := cmd.rec
		rec.Answered, rec.TimedOut = now, false
		prevFb := s.Accepted
		s.Accepted = &rec
		out := s.Pending[:0]
		for _, p := range s.Pending {
			if p.Seq > rec.Seq {
				out = append(out, p)
			}
		}
		s.Pending = out
		if len(s.Pending) == 0 {
			s.Pending = nil
		}
		l.m.met.profiles.WithLabelValues(l.id, "accepted").Inc()
		if !cmd.trigger.IsZero() {
			l.m.met.triggerToAccepted.WithLabelValues(l.id).Observe(now.Sub(cmd.trigger).Seconds())
			if rt.trigger.Equal(cmd.trigger) {
				rt.trigger = time.Time{}
			}
		}
		if cmd.kind == kindFallback && (prevFb == nil || rec.Limit < prevFb.Limit-near) && rec.Limit < rt.floor-near {
			// A lower the last run did not plan with (a re-send): it
			// made room that run did not see.
			l.markDirty("fallback")
		}
		if cmd.kind == kindDynamic {
			if rt.formIdx > 0 {
				l.learnForm(ctx, c, cmd.form)
				// The list of forms puts what was learnt first: keep
				// pointing at the form that worked, or a later change
				// would go out in a refused form (and a TxDefault sent
				// under an accepted Tx profile never takes effect).
				for i, f := range l.dynForms(c, c.txID(cmd.evse) != "") {
					if f == cmd.form {
						rt.formIdx = i
						break
					}
				}
			}
			if rt.forceZero && cmd.rec.Limit == 0 {
				rt.forceZero, rt.resumeRaise = false, true
			}
			l.readback(ctx, c, cmd, r)
		}
		log.Debug("profile accepted")
	case r.err == nil:
		dropPending(s, cmd.rec.Seq)
		l.m.met.profiles.WithLabelValues(l.id, "rejected").Inc()
		log.Info("profile refused, trying another form", "answer", r.res.Status.String(), "detail", r.res.Detail)
		l.noteRejected(ctx, c)
		if cmd.kind == kindFallback {
			rt.fbFormIdx++
			if rt.fbFormIdx >= len(l.fbForms(c)) {
				rt.fbGaveUp = true
				log.Warn("charger refuses every form of fallback profile: it counts at its maximum when offline")
			}
		} else {
			rt.formIdx++
			if rt.formIdx >= len(l.dynForms(c, c.txID(cmd.evse) != "")) {
				rt.formIdx = 0
				l.markNonCompliant(c, "refuses every form of charging profile")
			}
		}
	case errors.Is(r.err, site.ErrOffline) && !errors.Is(r.err, site.ErrTimeout):
		// Not sent. (A connection lost after sending is a timeout too:
		// the charger may have applied it, so it stays pending below.)
		dropPending(s, cmd.rec.Seq)
		c.st.Connected = false
		l.m.met.profiles.WithLabelValues(l.id, "error").Inc()
		log.Info("charger offline, profile not sent")
	default:
		for i := range s.Pending {
			if s.Pending[i].Seq == cmd.rec.Seq {
				s.Pending[i].TimedOut = true
			}
		}
		if !cmd.timedOut {
			l.m.met.profiles.WithLabelValues(l.id, "timeout").Inc()
		}
		log.Warn("no answer: counted at the higher of its old and new limit", "err", r.err)
	}
	// Written lazily (see persistChargers): a lost answer only leaves
	// the command pending, counted at the higher of old and new limit.
	c.lazy = true
}

// markNonCompliant counts a charger at its maximum from now on; the next
// run makes room for it.
func (l *siteLoop) markNonCompliant(c *charger, reason string) {
	if c.st.Loop.NonCompliant {
		return
	}
	c.st.Loop.NonCompliant = true
	c.st.Loop.NonCompliantReason = reason
	c.st.Loop.NonCompliantSince = l.m.cfg.Clock.Now()
	c.stateDirty = true
	l.log.Warn("charger non-compliant: counted at its maximum, others are lowered to make room",
		"charger", c.ref.ChargerID, "vendor", c.st.Boot.Vendor, "model", c.st.Boot.Model, "reason", reason)
	l.markDirty("non-compliant")
}

// readback checks the composite schedule the charger reports after it
// accepted a dynamic profile.
func (l *siteLoop) readback(ctx context.Context, c *charger, cmd *command, r cmdResult) {
	if r.sched == nil || r.schedErr != nil {
		return // not supported or failed: meter values still tell
	}
	s := r.sched
	if len(s.Periods) == 0 {
		l.markNonCompliant(c, fmt.Sprintf("composite schedule of EVSE %d is empty after a limit of %.1f A was accepted", cmd.evse, cmd.rec.Limit))
		return
	}
	got := s.Periods[0].Limit
	v := float64(l.voltage())
	gotA := got
	if s.Unit == site.UnitWatts {
		if cmd.form.unit == site.UnitAmps {
			l.learnQuirk(ctx, c, func(q *site.ModelQuirks) bool {
				if q.AnswersWatts {
					return false
				}
				q.AnswersWatts = true
				return true
			})
		}
		ph := float64(cmd.rec.Phases)
		if ph == 0 {
			ph = 3 // the charger's own conversion is unknown: the lenient one
		}
		gotA = got / (ph * v)
	}
	if site.Amps(gotA) > cmd.rec.Limit+l.m.cfg.Tolerance {
		l.markNonCompliant(c, fmt.Sprintf("composite schedule of EVSE %d shows %.1f A after %.1f A was accepted", cmd.evse, gotA, cmd.rec.Limit))
	}
}

// overloadGrace is the grace period of an EVSE drawing above its limit
// while a node above it is over its limit (Config.Grace when it is less):
// the overload is real, so the charger is counted at its maximum and the
// others lowered after a confirming sample within seconds, not a minute.
const overloadGrace = 10 * time.Second

// checkDraw marks a charger non-compliant when meter values show an EVSE
// drawing above what it may apply plus the tolerance: after Config.Grace
// while there is headroom (a car slow to follow a lower, a meter lagging),
// after overloadGrace and a second sample above when a node above it is
// over its limit now (pathOverloaded); then it also asks the charger for
// its meter values at once, so the confirming sample comes in seconds.
func (l *siteLoop) checkDraw(ctx context.Context, c *charger, evse int) {
	if c.st.Loop.NonCompliant {
		return
	}
	s := c.sample(evse)
	if s == nil || s.Current == nil {
		return
	}
	var cfg *site.EVSE
	for i := range c.cfg.EVSEs {
		if c.cfg.EVSEs[i].ID == evse {
			cfg = &c.cfg.EVSEs[i]
		}
	}
	if cfg == nil {
		return
	}
	now := l.m.cfg.Clock.Now()
	e := ledger.Entry{Max: cfg.MaxCurrent, Online: c.st.Connected, TxID: c.txID(evse), Slots: c.loopEVSE(evse)}
	// What it may apply now, not what it is counted at (its fallback
	// may be higher than its dynamic limit).
	limit := e.MayApply(now)
	drawn := max(s.Current[0], s.Current[1], s.Current[2])
	rt := c.rt(evse)
	if drawn <= limit+l.m.cfg.Tolerance {
		rt.overSince, rt.overSamples = time.Time{}, 0
		return
	}
	rt.overSamples++
	overloaded := l.pathOverloaded(c, now)
	grace := l.m.cfg.Grace
	if overloaded {
		grace = min(grace, overloadGrace)
	}
	if rt.overSince.IsZero() {
		rt.overSince = now
		l.log.Info("EVSE draws above its limit", "charger", c.ref.ChargerID, "evse", evse, "drawn", float64(drawn),
			"limit", float64(limit), "node_over_limit", overloaded, "grace", grace)
		if overloaded && c.st.Connected {
			l.trigger(ctx, c.ref, evse, site.TriggerMeterValues)
		}
		return
	}
	if now.Sub(rt.overSince) >= grace && rt.overSamples >= 2 {
		l.markNonCompliant(c, fmt.Sprintf("EVSE %d draws %.1f A above its limit of %.1f A for %s", evse, drawn, limit, now.Sub(rt.overSince)))
	}
}

// pathOverloaded reports whether a node above charger c carries more
// than its limit in force now: by its EMS reading where one is younger
// than MeterMaxAge, else by the meter samples (younger than SampleMaxAge)
// of our EVSEs below plus its other load. It uses the last run's tree.
func (l *siteLoop) pathOverloaded(c *charger, now time.Time) bool {
	b := l.last
	if b == nil {
		return false
	}
	ci := -1
	for n := range b.in.Nodes {
		if b.in.Nodes[n].Kind == scheduler.KindCharger && b.rawID[n] == c.ref.ChargerID {
			ci = n
			break
		}
	}
	if ci < 0 {
		return false
	}
	var drawn [][3]float64 // per node, summed from samples; made when needed
	for n := b.in.Nodes[ci].Parent; n >= 0; n = b.in.Nodes[n].Parent {
		var load [3]float64
		if r, ok := l.ls.Meters[b.rawID[n]]; ok && now.Sub(r.Time) <= l.m.cfg.MeterMaxAge {
			for p := range 3 {
				load[p] = float64(r.Current[p])
			}
		} else {
			if drawn == nil {
				drawn = l.sampledDraw(b, now)
			}
			for p := range 3 {
				load[p] = drawn[n][p] + max(0, float64(b.tree.Nodes[n].OtherLoad[p]))
			}
		}
		for p := range 3 {
			if load[p] > float64(b.tree.Nodes[n].Limit[p])+1e-6 {
				return true
			}
		}
	}
	return false
}

// sampledDraw sums per node and grid phase what the EVSEs below draw by
// their meter samples younger than SampleMaxAge.
func (l *siteLoop) sampledDraw(b *built, now time.Time) [][3]float64 {
	drawn := make([][3]float64, len(b.in.Nodes))
	for i, ref := range b.evs {
		s := ref.c.sample(ref.id())
		if s == nil || s.Current == nil || now.Sub(s.Time) > l.m.cfg.SampleMaxAge {
			continue
		}
		rot := ref.c.rotation()
		for n := b.in.EVSEs[i].Node; n >= 0; n = b.in.Nodes[n].Parent {
			for p := range 3 {
				drawn[n][rot.Grid(site.Phase(p+1)).Index()] += max(0, float64(s.Current[p]))
			}
		}
	}
	return drawn
}
