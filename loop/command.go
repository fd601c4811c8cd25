package loop

import (
	"context"
	"slices"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

type cmdKind uint8

const (
	kindFallback cmdKind = iota + 1
	kindDynamic
)

func (k cmdKind) String() string {
	if k == kindFallback {
		return "fallback"
	}
	return "dynamic"
}

// profileID: one per EVSE and kind, so a new profile replaces the old
// (Config.ProfileIDBase).
func profileID(base int, k cmdKind, p site.ProfilePurpose, evse int) int {
	switch {
	case k == kindFallback:
		return base + evse
	case p == site.PurposeTx:
		return base + 2*profileIDSpan + evse
	}
	return base + profileIDSpan + evse
}

// form is one way of sending a limit.
type form struct {
	unit    site.RateUnit
	purpose site.ProfilePurpose
	stack   int
}

// command is one SetLimit in flight.
type command struct {
	kind     cmdKind
	ref      site.ChargerRef
	evse     int
	rec      site.ProfileRecord
	req      site.LimitRequest
	form     form
	deadline time.Time
	timedOut bool
	raise    bool
	trigger  time.Time
	readback bool
}

// cmdResult is a charger's answer to a command.
type cmdResult struct {
	cmd      *command
	res      site.CommandResult
	err      error
	sched    *site.Schedule
	schedErr error
}

// units lists the rate units to try, the learnt one first.
func units(caps site.Capabilities, q site.ModelQuirks) []site.RateUnit {
	var us []site.RateUnit
	add := func(u site.RateUnit) {
		for _, x := range us {
			if x == u {
				return
			}
		}
		ok := len(caps.RateUnits) == 0
		for _, x := range caps.RateUnits {
			ok = ok || x == u
		}
		if ok {
			us = append(us, u)
		}
	}
	if q.Unit != 0 {
		add(q.Unit)
	}
	add(site.UnitAmps)
	add(site.UnitWatts)
	return us
}

// dynForms lists the forms of a dynamic profile to try, in order.
func (l *siteLoop) dynForms(c *charger, txRunning bool) []form {
	q := l.ls.Quirks[site.ModelKey(c.st.Boot)]
	stacks := dynStacks(&l.m.cfg, q.StackLevel, c.st.Capabilities.MaxStackLevel)
	purposes := []site.ProfilePurpose{site.PurposeTxDefault}
	if txRunning {
		purposes = []site.ProfilePurpose{site.PurposeTx}
		if !q.TxDefaultNextTxOnly {
			purposes = append(purposes, site.PurposeTxDefault)
		}
	}
	var fs []form
	for _, s := range stacks {
		for _, p := range purposes {
			for _, u := range units(c.st.Capabilities, q) {
				fs = append(fs, form{unit: u, purpose: p, stack: s})
			}
		}
	}
	return fs
}

// dynStacks lists the stack levels of dynamic profiles to try, in order:
// the one learnt for the model, Config.StackLevel, then the charger's
// maximum (some chargers take only that). Only levels above the
// fallback's and within Config.MaxStackLevel (when set) and the charger's
// maximum (when known) are tried: a dynamic TxDefault at or below the
// fallback's level would not take effect or would replace the fallback,
// and in local controller mode levels outside the loop's band are the
// CSMS's. When none is left (the charger's maximum is below StackLevel)
// StackLevel is sent all the same: the charger refuses it and is
// reported non-compliant.
func dynStacks(cfg *Config, learnt, chargerMax int) []int {
	top := chargerMax
	if cfg.MaxStackLevel > 0 && (top <= 0 || cfg.MaxStackLevel < top) {
		top = cfg.MaxStackLevel
	}
	ok := func(s int) bool { return s > cfg.FallbackStackLevel && (top <= 0 || s <= top) }
	var out []int
	for _, s := range []int{learnt, cfg.StackLevel, top} {
		if s > 0 && ok(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []int{cfg.StackLevel}
	}
	return out
}

// fbForms lists the forms of a fallback profile: its stack level,
// TxDefault, each unit.
func (l *siteLoop) fbForms(c *charger) []form {
	var fs []form
	for _, u := range units(c.st.Capabilities, l.ls.Quirks[site.ModelKey(c.st.Boot)]) {
		fs = append(fs, form{unit: u, purpose: site.PurposeTxDefault, stack: l.m.cfg.FallbackStackLevel})
	}
	return fs
}

// newCommand builds a command to set limit a (A per phase) on an EVSE in
// form f; a dynamic one ends at end (its lease; see leaseFor). For watts, a is converted with the car's phases when learnt and
// one phase otherwise, so that a car on fewer phases than assumed can
// never draw more current per phase than a.
func (l *siteLoop) newCommand(ref evseRef, kind cmdKind, f form, a site.Amps, now, end time.Time) *command {
	c := ref.c
	v := l.voltage()
	seq := c.st.Loop.NextSeq
	c.st.Loop.NextSeq++
	rec := site.ProfileRecord{Seq: seq, Limit: a, Unit: f.unit, Value: float64(a), Purpose: f.purpose,
		StackLevel: f.stack, ProfileID: profileID(l.m.cfg.ProfileIDBase, kind, f.purpose, ref.id()), Sent: now}
	if f.unit == site.UnitWatts {
		ph := c.carPhases(ref.id()).Count()
		if ph == 0 {
			ph = 1
		}
		rec.Phases = ph
		rec.Value = float64(a) * float64(ph) * float64(v)
	}
	req := site.LimitRequest{EVSE: ref.id(), Purpose: f.purpose, ProfileID: rec.ProfileID, StackLevel: f.stack,
		Unit: f.unit, Periods: []site.Period{{Limit: rec.Value}}}
	if f.purpose == site.PurposeTx {
		rec.TransactionID = c.txID(ref.id())
		req.TransactionID = rec.TransactionID
	}
	if kind == kindDynamic {
		rec.Expires = end
		// Whole seconds (and a start in them): never applied past end.
		req.Start = now.Truncate(time.Second)
		req.Duration = end.Sub(req.Start).Truncate(time.Second)
		// Following a plan: later periods at its slot boundaries, none
		// above period 0 (plan.go). The schedule starts at now to the
		// second, so the periods start on the boundaries exactly and it
		// ends no later than the lease the ledger counts.
		start, later := l.planPeriods(ref, a, now)
		later = l.clampLater(ref, a, start, later, now)
		later = slices.DeleteFunc(later, func(p ampPeriod) bool { return !p.at.Before(end) })
		if len(later) > 0 && start.IsZero() {
			start = now.Truncate(time.Second)
		}
		for _, p := range later {
			if len(req.Periods) == 1 {
				req.Start = start
			}
			x := float64(p.limit)
			if f.unit == site.UnitWatts {
				x *= float64(rec.Phases) * float64(v)
			}
			req.Periods = append(req.Periods, site.Period{Offset: p.at.Sub(start), Limit: x})
		}
		req.Duration = end.Sub(req.Start).Truncate(time.Second)
		l.notePeriods(ref, rec.Seq, later)
	}
	return &command{kind: kind, ref: c.ref, evse: ref.id(), rec: rec, req: req, form: f,
		deadline: now.Add(l.m.cfg.AnswerTimeout), readback: kind == kindDynamic && !l.m.cfg.NoReadback}
}

// endAt ends the command's profile (a dynamic one) at t instead: its
// lease, its duration and its periods. (Durations are whole seconds in
// OCPP: rounded down, so the charger never applies it past t.)
func (cmd *command) endAt(t time.Time) {
	cmd.rec.Expires = t
	cmd.req.Duration = t.Sub(cmd.req.Start).Truncate(time.Second) // whole seconds, never past t
	cmd.req.Periods = slices.DeleteFunc(cmd.req.Periods, func(p site.Period) bool {
		return p.Offset > 0 && p.Offset >= cmd.req.Duration
	})
}

// slot returns the slot a command's profile goes into.
func slot(ls *site.EVSELoopState, cmd *command) *site.ProfileSlot {
	switch {
	case cmd.kind == kindFallback:
		return &ls.Fallback
	case cmd.rec.Purpose == site.PurposeTx:
		return &ls.Tx
	}
	return &ls.TxDefault
}

// start sends a command on its own goroutine; the answer comes back on
// l.results. The command is bounded by CommandTimeout and by ctx.
func (l *siteLoop) start(ctx context.Context, cmd *command) {
	l.inflight++
	l.cmds.Add(1)
	l.m.met.profiles.WithLabelValues(l.id, "sent").Inc()
	ctrl := l.m.cfg.Control
	timeout := l.m.cfg.CommandTimeout
	go func() {
		defer l.cmds.Done()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r := cmdResult{cmd: cmd}
		r.res, r.err = ctrl.SetLimit(cctx, cmd.ref, cmd.req)
		if r.err == nil && r.res.Status == site.CommandAccepted && cmd.readback {
			s, err := ctrl.CompositeSchedule(cctx, cmd.ref, cmd.evse, time.Minute, cmd.req.Unit)
			r.sched, r.schedErr = &s, err
		}
		select {
		case l.results <- r:
		case <-ctx.Done():
		}
	}()
}

// trigger asks a charger to send a message, on its own goroutine; the
// answer comes back on l.results (without a command) and is only logged.
func (l *siteLoop) trigger(ctx context.Context, ref site.ChargerRef, evse int, what site.TriggerKind) {
	l.inflight++
	l.cmds.Add(1)
	ctrl, log, timeout := l.m.cfg.Control, l.log, l.m.cfg.CommandTimeout
	go func() {
		defer l.cmds.Done()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r, err := ctrl.Trigger(cctx, ref, evse, what)
		if err != nil {
			log.Info("trigger failed", "charger", ref.ChargerID, "evse", evse, "what", int(what), "err", err)
		} else {
			log.Debug("trigger answered", "charger", ref.ChargerID, "evse", evse, "what", int(what), "status", r.Status)
		}
		select {
		case l.results <- cmdResult{res: r, err: err}:
		case <-ctx.Done():
		}
	}()
}

// voltage is the site's nominal voltage (its default when not set).
func (l *siteLoop) voltage() site.Volts {
	if v := l.conf.Site.NominalVoltage; v > 0 {
		return v
	}
	return site.DefaultNominalVoltage
}
