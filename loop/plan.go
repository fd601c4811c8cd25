package loop

// Following the plan.
//
// Package planning computes a plan per site (site.Plan: per session a
// limit per slot) from prices, limit windows, forecasts and needs. The
// loop follows it in two ways and stays the safety net in both:
//
//  1. A cap on now. When a fresh plan exists (Config.PlanMaxAge, by
//     default two of its slots, since it was computed, and now within its
//     horizon) for an EVSE's running session (same charger, EVSE and
//     transaction), the EVSE's limit in the real-time scheduler's input is
//     capped at the plan's limit for the slot now is in (through the car's
//     maximum, scheduler.EVSE.CarMaxCurrent). A limit below the EVSE's
//     (or car's) minimum, 0 included, pauses it (the scheduler finds its
//     minimum above its maximum); a car we started within the scheduler's
//     MinDwell is kept at its minimum until the dwell ends, as the
//     scheduler does. The scheduler only ever lowers below the cap, for
//     what is real now (other load, the limits in force, what cars draw),
//     and every limit is enforced as without a plan. Not capped: sessions
//     the planner charges as in real time (site.NeedDefault: no needs),
//     slots from the session's departure on, sessions of another
//     transaction, and any EVSE when the plan is missing, malformed or
//     stale: real time as without planning.
//  2. Multi-period profiles. The dynamic profile of a capped EVSE is sent
//     as an absolute schedule starting now (to the second) for the lease:
//     period 0 is the real-time limit (what the ledger counts the EVSE at),
//     and at every slot boundary of the plan within the lease a period of
//     min(the plan's limit for that slot, period 0), rounded down to 0.1 A
//     and 0 below the EVSE's minimum; slots after the horizon or the
//     departure get period 0's limit. So no later period is above period
//     0: the ledger, which counts the EVSE at period 0 until the lease
//     ends, never undercounts it, and a charger that loses us follows the
//     plan's reductions (pauses in expensive hours, grid-limit windows)
//     until its lease ends and then its fallback. Equal neighbours are
//     merged; when the charger takes fewer periods
//     (site.Capabilities.MaxPeriods; unknown counts as 1: a single period
//     as without a plan) the neighbouring later periods closest in value
//     are merged into their minimum until they fit. Period 0 is never
//     merged. Watts are converted like period 0.
//
// A profile is sent again when its period 0 changes (the scheduler's dead
// band and the raise rate limit as always), at renewal, and when a later
// period would change by more than the scheduler's dead band (a new plan,
// a plan gone stale), at most once per Config.MinRaiseInterval. What was
// sent in later periods is kept in memory only (planBook): after a
// restart a profile in force counts as a single period, so a plan with
// reductions is sent again once.
//
// A change that lets the charger apply more at some instant than the
// profiles it may apply (the new plan allows more where the old one
// paused) is an increase of what it applies (within what it is counted
// at): like any such change it waits while the EVSE's path is over a
// limit (periodsRaise); after a restart, when the later periods in force
// are not known, every change that does not lower period 0 counts as
// one. A change that lowers what the charger applies now goes at once,
// so its later periods are kept at most at what the profiles it may
// apply give at each instant (clampLater): a lower never raises a later
// instant; the increase follows as a change of its own (periodsDue).
//
// Hooks: build caps each EVSE (capByPlan, input.go), newCommand adds the
// periods (command.go), decideDynamic asks periodsDue and periodsRaise
// (reconcile.go). Config.Plans nil turns all of it off.

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// planBook keeps, per site of one Manager, the plan last read and the
// later periods of the profiles sent. Each site's entry is used only by
// its loop goroutine; the map is guarded by mu.
type planBook struct {
	mu    sync.Mutex
	sites map[string]*sitePlan
}

func newPlanBook() *planBook { return &planBook{sites: map[string]*sitePlan{}} }

func (b *planBook) site(id string) *sitePlan {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sites[id]
	if s == nil {
		s = &sitePlan{sent: map[string][]sentPeriods{}}
		b.sites[id] = s
	}
	return s
}

// sitePlan is one site's plan as last read and what was sent with it.
type sitePlan struct {
	plan   site.Plan
	has    bool
	readAt time.Time
	// idx maps an EVSE key to its session in plan.Sessions.
	idx map[string]int
	// sent holds, per EVSE key, the later periods of the dynamic
	// profiles it has (accepted or pending, by the record's Seq).
	sent map[string][]sentPeriods
}

// sentPeriods are the later periods (after period 0) sent with the
// dynamic profile of record seq; none: a single period.
type sentPeriods struct {
	seq     int64
	periods []ampPeriod
}

// ampPeriod is a period of a schedule in A per phase from an absolute
// time on.
type ampPeriod struct {
	at    time.Time
	limit site.Amps
}

// planPause is the car maximum that makes the scheduler pause an EVSE the
// plan pauses (any value below every minimum current).
const planPause scheduler.Amps = 1e-3

// plans returns the site's plan state, reading the plan again when it
// was last read more than Config.PlanPoll ago; nil without Config.Plans.
func (l *siteLoop) plans(now time.Time) *sitePlan {
	cfg := &l.m.cfg
	if cfg.Plans == nil || cfg.book == nil {
		return nil
	}
	sp := cfg.book.site(l.id)
	if !sp.readAt.IsZero() && now.Sub(sp.readAt) < cfg.PlanPoll && !now.Before(sp.readAt) {
		return sp
	}
	sp.readAt = now
	// The planning runner answers from memory; the store only before
	// its first plan.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p, err := cfg.Plans.Plan(ctx, l.id)
	switch {
	case errors.Is(err, site.ErrNotFound):
		sp.has, sp.plan, sp.idx = false, site.Plan{}, nil
	case err != nil:
		// Kept: it goes stale by its age (PlanMaxAge).
		l.log.Debug("cannot read the site's plan", "err", err)
	case !sp.has || p.Seq != sp.plan.Seq || !p.ComputedAt.Equal(sp.plan.ComputedAt):
		sp.has, sp.plan = true, p
		sp.idx = make(map[string]int, len(p.Sessions))
		for i, s := range p.Sessions {
			sp.idx[site.EVSEKey(s.ChargerID, s.EVSE)] = i
		}
	}
	return sp
}

// session returns the plan of an EVSE's running session when the loop
// follows it at now: a fresh, well-formed plan with now in its horizon,
// a session of the same transaction with needs.
func (l *siteLoop) session(ref evseRef, now time.Time) (*site.Plan, *site.SessionPlan, bool) {
	sp := l.plans(now)
	if sp == nil || !sp.has {
		return nil, nil, false
	}
	p := &sp.plan
	if p.Slot <= 0 || p.Slots <= 0 || now.Before(p.Start) || !now.Before(p.Start.Add(time.Duration(p.Slots)*p.Slot)) {
		return nil, nil, false
	}
	maxAge := l.m.cfg.PlanMaxAge
	if maxAge == 0 {
		maxAge = 2 * p.Slot
	}
	if now.Sub(p.ComputedAt) > maxAge {
		return nil, nil, false
	}
	i, ok := sp.idx[ref.key()]
	if !ok {
		return nil, nil, false
	}
	s := &p.Sessions[i]
	if s.Source == site.NeedDefault || len(s.Current) != p.Slots || s.TransactionID != ref.c.txID(ref.id()) {
		return nil, nil, false
	}
	return p, s, true
}

// planLimit is the session's planned limit at t, if the plan says one:
// t within the horizon and before the session's departure.
func planLimit(p *site.Plan, s *site.SessionPlan, t time.Time) (site.Amps, bool) {
	if t.Before(p.Start) {
		return 0, false
	}
	k := int(t.Sub(p.Start) / p.Slot)
	if k >= p.Slots || k >= len(s.Current) {
		return 0, false
	}
	if !s.Departure.IsZero() && !p.Start.Add(time.Duration(k)*p.Slot).Before(s.Departure) {
		return 0, false
	}
	a := s.Current[k]
	if math.IsNaN(float64(a)) || a < 0 {
		a = 0
	}
	return a, true
}

// floorTenth rounds a limit down to the chargers' 0.1 A step.
func floorTenth(a site.Amps) site.Amps { return site.Amps(math.Floor(float64(a)*10+1e-6) / 10) }

// capByPlan caps an EVSE of the scheduler's input at its plan's limit for
// now (see the top of this file).
func (l *siteLoop) capByPlan(now time.Time, ref evseRef, se *scheduler.EVSE) {
	p, s, ok := l.session(ref, now)
	if !ok {
		return
	}
	a, ok := planLimit(p, s, now)
	if !ok {
		return
	}
	limit := scheduler.Amps(floorTenth(a))
	cfg := l.m.cfg.Scheduler
	lo := cfg.DefaultMin
	if se.MinCurrent > 0 {
		lo = se.MinCurrent
	}
	lo = max(lo, se.CarMinCurrent)
	if limit < lo {
		if se.PrevLimit > 0 && !se.Since.IsZero() && now.Sub(se.Since) < cfg.MinDwell {
			limit = lo // started within the dwell time: held at its minimum
		} else {
			limit = planPause
		}
	}
	if se.CarMaxCurrent <= 0 || limit < se.CarMaxCurrent {
		se.CarMaxCurrent = limit
	}
}

// planPeriods returns the later periods of a dynamic profile with
// period 0 at a, sent at now, and the schedule's start (now to the
// second); none when no plan is followed or the charger takes a single
// period.
func (l *siteLoop) planPeriods(ref evseRef, a site.Amps, now time.Time) (time.Time, []ampPeriod) {
	maxP := ref.c.st.Capabilities.MaxPeriods
	if a <= 0 || maxP < 2 {
		return time.Time{}, nil
	}
	p, s, ok := l.session(ref, now)
	if !ok {
		return time.Time{}, nil
	}
	start := now.Truncate(time.Second)
	end := start.Add(l.m.cfg.Lease)
	minA := ref.cfg.EffectiveMinCurrent()
	var out []ampPeriod
	prev := a
	for k := int(start.Sub(p.Start)/p.Slot) + 1; ; k++ {
		t := p.Start.Add(time.Duration(k) * p.Slot)
		if !t.Before(end) {
			break
		}
		v := a
		if x, ok := planLimit(p, s, t); ok {
			v = min(floorTenth(x), a)
			if v < minA {
				v = 0
			}
		}
		if same(v, prev) {
			continue
		}
		out = append(out, ampPeriod{at: t, limit: v})
		prev = v
	}
	return start, mergePeriods(a, out, maxP-1)
}

// mergePeriods merges later periods (after period 0 at a) until at most
// n are left: the neighbours closest in value become one period at
// their minimum (never above either). Periods equal to the one before
// are dropped.
func mergePeriods(a site.Amps, ps []ampPeriod, n int) []ampPeriod {
	for len(ps) > max(n, 0) {
		if len(ps) == 1 {
			return nil // n == 0
		}
		best, bestD := 0, math.Inf(1)
		for j := 0; j+1 < len(ps); j++ {
			if d := math.Abs(float64(ps[j].limit - ps[j+1].limit)); d < bestD {
				best, bestD = j, d
			}
		}
		ps[best].limit = min(ps[best].limit, ps[best+1].limit)
		ps = append(ps[:best+1], ps[best+2:]...)
		// A merge may make it equal to its neighbours.
		out := ps[:0]
		prev := a
		for _, q := range ps {
			if !same(q.limit, prev) {
				out = append(out, q)
				prev = q.limit
			}
		}
		ps = out
	}
	return ps
}

// notePeriods records the later periods sent with a dynamic profile, and
// forgets those of profiles the EVSE no longer has (accepted or
// pending).
func (l *siteLoop) notePeriods(ref evseRef, seq int64, ps []ampPeriod) {
	if l.m.cfg.book == nil || l.m.cfg.Plans == nil {
		return
	}
	sp := l.m.cfg.book.site(l.id)
	k := ref.key()
	ls := ref.ls()
	keep := sp.sent[k][:0]
	for _, s := range sp.sent[k] {
		if hasRecord(ls, s.seq) {
			keep = append(keep, s)
		}
	}
	sp.sent[k] = append(keep, sentPeriods{seq: seq, periods: ps})
}

// hasRecord reports whether an EVSE has the dynamic profile of record
// seq, accepted or pending.
func hasRecord(ls *site.EVSELoopState, seq int64) bool {
	for _, s := range [2]*site.ProfileSlot{&ls.TxDefault, &ls.Tx} {
		if s.Accepted != nil && s.Accepted.Seq == seq {
			return true
		}
		for _, p := range s.Pending {
			if p.Seq == seq {
				return true
			}
		}
	}
	return false
}

// sentFor returns the later periods of the profile of record r, and
// whether they are known (a profile sent before a restart: not known).
func (l *siteLoop) sentFor(ref evseRef, r *site.ProfileRecord) ([]ampPeriod, bool) {
	if l.m.cfg.book == nil || l.m.cfg.Plans == nil {
		return nil, false
	}
	for _, s := range l.m.cfg.book.site(l.id).sent[ref.key()] {
		if s.seq == r.Seq {
			return s.periods, true
		}
	}
	return nil, false
}

// valueAt is a schedule's limit at t: period 0 at a, then ps.
func valueAt(a site.Amps, ps []ampPeriod, t time.Time) site.Amps {
	v := a
	for _, q := range ps {
		if t.Before(q.at) {
			break
		}
		v = q.limit
	}
	return v
}

// periodsDue reports whether EVSE i's dynamic profile in force, whose
// period 0 is what the EVSE should have, is to be sent again for its
// later periods: one of them differs from what the plan now asks for by
// more than the scheduler's dead band at some instant of the lease, and
// the profile is at least Config.MinRaiseInterval old.
func (l *siteLoop) periodsDue(b *built, i int, ref evseRef, now time.Time) bool {
	if l.m.cfg.Plans == nil {
		return false
	}
	r := b.entries[i].DynamicRecord(now)
	if r == nil {
		return false
	}
	start, want := l.planPeriods(ref, r.Limit, now)
	have, _ := l.sentFor(ref, r) // not known: a single period (sent once more)
	if len(want) == 0 && len(have) == 0 {
		return false
	}
	end := r.Expires
	if !start.IsZero() {
		end = minTime(end, start.Add(l.m.cfg.Lease))
	}
	band := site.Amps(l.m.cfg.Scheduler.DeadBand)
	differs := false
	for _, t := range breakpoints(now, end, want, have) {
		if d := valueAt(r.Limit, want, t) - valueAt(r.Limit, have, t); d > band+near || -d > band+near {
			differs = true
			break
		}
	}
	if !differs {
		return false
	}
	if next := r.Sent.Add(l.m.cfg.MinRaiseInterval); now.Before(next) {
		l.want(next)
		return false
	}
	return true
}

// applying is one dynamic profile an EVSE may apply: period 0 at a,
// later periods ps (known: sent by this process), until end.
type applying struct {
	a     site.Amps
	ps    []ampPeriod
	end   time.Time
	known bool
}

// mayApply lists the dynamic profiles an EVSE may apply from now on:
// the accepted one in force and every pending one whose lease runs.
func (l *siteLoop) mayApply(ref evseRef, ls *site.EVSELoopState, txID string, now time.Time) []applying {
	var out []applying
	add := func(r *site.ProfileRecord) {
		ps, known := l.sentFor(ref, r)
		out = append(out, applying{r.Limit, ps, r.Expires, known})
	}
	if r := (&ledger.Entry{TxID: txID, Slots: ls}).DynamicRecord(now); r != nil {
		add(r)
	}
	for _, s := range [2]*site.ProfileSlot{&ls.TxDefault, &ls.Tx} {
		for j := range s.Pending {
			if r := &s.Pending[j]; r.Expires.IsZero() || now.Before(r.Expires) {
				add(r)
			}
		}
	}
	return out
}

// mayAt is the most the profiles may let the EVSE apply at t; -1 when
// none is in force then (its fallback, counted anyway).
func mayAt(have []applying, t time.Time) site.Amps {
	may := site.Amps(-1)
	for _, h := range have {
		if h.end.IsZero() || t.Before(h.end) {
			may = max(may, valueAt(h.a, h.ps, t))
		}
	}
	return may
}

// periodsRaise reports whether a dynamic profile with period 0 at target
// sent now, which does not lower what EVSE e applies now, would let it
// apply more at some instant of its lease than the dynamic profiles it
// may apply (with their later periods): an increase of what the charger
// applies, within what it is counted at when period 0 is. A profile the
// charger got before a restart may apply less than its period 0 now: a
// change that does not lower its period 0 counts as such an increase.
// (A change that lowers now is a lower: newCommand keeps its later
// periods at most at the profile in force, see clampLater.)
func (l *siteLoop) periodsRaise(ref evseRef, e *ledger.Entry, target site.Amps, now time.Time) bool {
	if l.m.cfg.Plans == nil || e.Slots == nil {
		return false
	}
	have := l.mayApply(ref, e.Slots, e.TxID, now)
	if len(have) == 0 {
		return false // Applied (the fallback) tells
	}
	if target < mayAt(have, now)-near {
		return false
	}
	for _, h := range have {
		if !h.known && target > h.a-near {
			return true
		}
	}
	start, want := l.planPeriods(ref, target, now)
	if start.IsZero() {
		start = now
	}
	end := start.Add(l.m.cfg.Lease)
	var pts []ampPeriod
	for _, h := range have {
		pts = append(pts, h.ps...)
	}
	for _, t := range breakpoints(now, end, want, pts) {
		if may := mayAt(have, t); may >= 0 && valueAt(target, want, t) > may+near {
			return true
		}
	}
	return false
}

// clampLater keeps the later periods of a profile with period 0 at a
// that lowers what the EVSE applies now at most at what the profiles it
// may apply give at each instant: a lower is sent at once, without
// waiting for room, so it must not raise anything later. (What the plan
// allows more later is sent afterwards as a change of its own, see
// periodsDue and periodsRaise.)
func (l *siteLoop) clampLater(ref evseRef, a site.Amps, start time.Time, later []ampPeriod, now time.Time) []ampPeriod {
	maxP := ref.c.st.Capabilities.MaxPeriods
	if l.m.cfg.Plans == nil || maxP < 2 {
		return later
	}
	have := l.mayApply(ref, ref.ls(), ref.c.txID(ref.id()), now)
	if len(have) == 0 || !(a < mayAt(have, now)-near) {
		return later
	}
	if start.IsZero() {
		start = now.Truncate(time.Second)
	}
	end := start.Add(l.m.cfg.Lease)
	var pts []ampPeriod
	for _, h := range have {
		pts = append(pts, h.ps...)
	}
	var out []ampPeriod
	prev := a
	for _, t := range breakpoints(now, end, later, pts) {
		if !t.After(now) {
			continue
		}
		v := valueAt(a, later, t)
		if may := mayAt(have, t); may >= 0 {
			v = min(v, floorTenth(may))
		}
		if !same(v, prev) {
			out = append(out, ampPeriod{at: t, limit: v})
			prev = v
		}
	}
	return mergePeriods(a, out, maxP-1)
}

// breakpoints are now and every period start of the schedules within
// [now, end), in order, each once.
func breakpoints(now, end time.Time, pss ...[]ampPeriod) []time.Time {
	ts := []time.Time{now}
	for _, ps := range pss {
		for _, q := range ps {
			if q.at.After(now) && q.at.Before(end) {
				ts = append(ts, q.at)
			}
		}
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(ts, func(a, b time.Time) bool { return a.Equal(b) })
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
