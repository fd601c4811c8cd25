package loop

import (
	"fmt"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// The other load of a node with an EMS meter is the reading minus what our
// EVSEs below drew at the reading's time. What they drew is known only
// from their meter values, which come at other times (often a minute
// apart) and lag behind every change of limit while cars ramp. So each
// EVSE's draw at the reading's time is bounded, not guessed (drawBounds),
// and the other load is an interval [floor, cap]: floor = reading − Σ
// highest draw, cap = reading − Σ lowest draw. Underestimating other load
// lets us allocate too much (unsafe), overestimating only costs energy;
// floor is a proven lower bound, cap the safe upper one. See "Other load"
// in doc.go for how a value is picked from the interval.

// wellFoundedBand: an interval narrower than this (per phase) pins the
// other load down: its safe end (the cap) is taken as measured and kept
// as the node's well-founded value. Since the cap is never below the true
// other load, the band only bounds how much energy an overestimate may
// cost, not safety: limits wobbling by 0.1 A and cars drawing a little
// off their samples must not keep a site of many EVSEs "uncertain".
const wellFoundedBand = 3.0

// appliedAt is a value of what an EVSE may apply (ledger MayApply) and
// since when.
type appliedAt struct {
	at time.Time
	a  site.Amps
}

// heldLoad is a node's last well-founded other load on one phase and
// the time of the reading it came from.
type heldLoad struct {
	at    time.Time
	other float64
}

// noteApplied records what an EVSE may apply now, keeping the history
// drawBounds needs (changes within the longest window it looks at, and
// the value in force before them).
func (l *siteLoop) noteApplied(rt *evseRT, a site.Amps, now time.Time) {
	if n := len(rt.applied); n == 0 || !same(rt.applied[n-1].a, a) {
		rt.applied = append(rt.applied, appliedAt{at: now, a: a})
	}
	cfg := l.m.cfg
	keep := now.Add(-(cfg.SampleMaxAge + cfg.MeterMaxAge + cfg.DrawSettle))
	i := 0
	for i+1 < len(rt.applied) && !rt.applied[i+1].at.After(keep) {
		i++
	}
	rt.applied = rt.applied[i:]
}

// appliedRange returns the lowest and highest limit the EVSE may have
// applied at any time in [from, to]; known is false when the history does
// not reach back to from (the loop started later): anything up to max.
func appliedRange(h []appliedAt, from, to time.Time, maxA site.Amps) (lo, hi site.Amps, known bool) {
	if len(h) == 0 || h[0].at.After(from) {
		return 0, maxA, false
	}
	lo, hi = maxA, 0
	for i, e := range h {
		if e.at.After(to) {
			break
		}
		if i+1 < len(h) && !h[i+1].at.After(from) {
			continue // superseded before the window
		}
		lo, hi = min(lo, e.a), max(hi, e.a)
	}
	return lo, hi, true
}

// drawBounds bounds what EVSE i drew per grid phase at the time of a
// meter reading taken at tm.
//
//   - A sample within SampleMaxAge with no change of the limit from
//     DrawSettle before the earlier of sample and reading up to the later
//     one: the car drew what the sample shows (lo = hi = sample).
//   - A change in that window (a ramp after a raise, a lower): between the
//     sample and every limit in force in the window (a ramping car draws
//     at least what it drew before the raise; a lowered one follows the
//     lower within DrawSettle); not above the sample when the car drew
//     clearly less than it was allowed (more than RampRoom below) when
//     sampled: it takes what it wants, a raise does not change that.
//   - No usable sample: between 0 and the highest limit in force.
//
// A car drawing above its limit is caught by checkDraw; its sample still
// counts as it is.
func (l *siteLoop) drawBounds(b *built, i int, tm time.Time) (lo, hi [3]float64) {
	ref := b.evs[i]
	cfg := l.m.cfg
	switch b.in.EVSEs[i].State {
	case scheduler.StateNoCar, scheduler.StateFaulted:
		// No car now; one that left after the reading drew at most what
		// it last showed, and at least 0.
		if s := ref.c.sample(ref.id()); s != nil && s.Current != nil && b.now.Sub(s.Time) <= cfg.SampleMaxAge {
			rot := ref.c.rotation()
			for p := range 3 {
				hi[rot.Grid(site.Phase(p+1)).Index()] += float64(max(0, s.Current[p]))
			}
		}
		return lo, hi
	}
	maxA := ref.cfg.MaxCurrent
	if maxA <= 0 {
		maxA = site.MaxPhaseCurrent
	}
	var sample *[3]site.Amps
	ts := tm
	if s := ref.c.sample(ref.id()); s != nil && s.Current != nil && b.now.Sub(s.Time) <= cfg.SampleMaxAge {
		sample, ts = s.Current, s.Time
	}
	from, to := tm, ts
	if to.Before(from) {
		from, to = to, from
	}
	lim, limHi, known := appliedRange(ref.rt().applied, from.Add(-cfg.DrawSettle), to, maxA)
	if !known {
		lim, limHi = 0, maxA
	}
	steady := known && same(lim, limHi)
	// Below what it was allowed in the settle time before the sample by
	// more than the ramp room, the car took what it wanted, not what it
	// was allowed: a raise since then does not make it draw more.
	var carLimited site.Amps = -1
	if sample != nil {
		if low, _, ok := appliedRange(ref.rt().applied, ts.Add(-cfg.DrawSettle), ts, maxA); ok {
			carLimited = low - site.Amps(cfg.Scheduler.RampRoom)
		}
	}
	wired := wiring(ref.cfg)
	rot := ref.c.rotation()
	for p := range 3 {
		if !wired.Has(scheduler.Phase(p+1)) && (sample == nil || sample[p] <= 0) {
			continue
		}
		var plo, phi site.Amps
		switch {
		case sample == nil:
			plo, phi = 0, limHi
		case steady:
			plo, phi = max(0, sample[p]), max(0, sample[p])
		default:
			s := max(0, sample[p])
			plo, phi = min(s, lim), max(s, limHi)
			if s < carLimited {
				phi = s
			}
		}
		if !wired.Has(scheduler.Phase(p + 1)) {
			plo, phi = max(0, sample[p]), max(0, sample[p])
		}
		g := rot.Grid(site.Phase(p + 1)).Index()
		lo[g] += float64(plo)
		hi[g] += float64(phi)
	}
	return lo, hi
}

// otherLoad fills Node.OtherLoad. A node with an EMS meter reading gets
// the estimate described in doc.go ("Other load"); one without gets the
// sum of its children's other load.
func (b *built) otherLoad(l *siteLoop) {
	nn := len(b.in.Nodes)
	b.otherNote = make([]string, nn)
	type bounds struct{ lo, hi [3]float64 }
	perNode := map[int]*bounds{}
	for n := range nn {
		if r, ok := l.ls.Meters[b.rawID[n]]; ok && b.in.Nodes[n].Kind != scheduler.KindCharger {
			perNode[n] = &bounds{}
			for i := range b.evs {
				on := false
				for m := b.in.EVSEs[i].Node; m >= 0; m = b.in.Nodes[m].Parent {
					on = on || m == n
				}
				if !on {
					continue
				}
				lo, hi := l.drawBounds(b, i, r.Time)
				for p := range 3 {
					perNode[n].lo[p] += lo[p]
					perNode[n].hi[p] += hi[p]
				}
			}
		}
	}
	childSum := make([][3]float64, nn)
	for n := nn - 1; n >= 0; n-- {
		var other [3]float64
		if bd, ok := perNode[n]; ok {
			r := l.ls.Meters[b.rawID[n]]
			other = l.estimate(b, n, r, bd.lo, bd.hi)
		} else {
			other = childSum[n]
		}
		for p := range 3 {
			b.in.Nodes[n].OtherLoad[p] = scheduler.Amps(other[p])
			b.tree.Nodes[n].OtherLoad[p] = site.Amps(other[p])
		}
		if par := b.in.Nodes[n].Parent; par >= 0 {
			for p := range 3 {
				childSum[par][p] += other[p]
			}
		}
	}
}

// estimate picks node n's other load from the interval its reading r and
// the bounds of our EVSEs' draw allow, phase by phase (see doc.go, "Other
// load").
func (l *siteLoop) estimate(b *built, n int, r site.MeterReading, drawLo, drawHi [3]float64) [3]float64 {
	cfg := l.m.cfg
	node := b.rawID[n]
	if l.held == nil {
		l.held = map[string]*[3]heldLoad{}
	}
	h := l.held[node]
	if h == nil {
		h = &[3]heldLoad{}
		l.held[node] = h
	}
	age := b.now.Sub(r.Time)
	var other [3]float64
	var modes [3]string
	for p := range 3 {
		floor := float64(r.Current[p]) - drawHi[p]
		capv := float64(r.Current[p]) - drawLo[p]
		hp := &h[p]
		switch {
		case age > cfg.MeterMaxAge:
			// The reading says nothing about now: the most it allowed,
			// never a held or lower value.
			other[p], modes[p] = capv, "stale"
			if !hp.at.IsZero() && !hp.at.Before(r.Time) {
				other[p] = max(other[p], hp.other)
			}
		case capv-floor <= wellFoundedBand && capv-floor > float64(near) &&
			!hp.at.IsZero() && b.now.Sub(hp.at) <= cfg.OtherLoadHold && hp.other >= floor && hp.other <= capv:
			// Narrow, but not exact: one of our limits changed within
			// DrawSettle of the reading (a car ramping after our own
			// raise). The last well-founded value agrees with the
			// reading: kept (not renewed). Taking the cap counted our
			// own raise as other load, lowered the car and raised it
			// again once the draw was known: a limit cycle of two
			// profiles every 20 s per EVSE.
			other[p], modes[p] = hp.other, "held"
		case capv-floor <= wellFoundedBand:
			other[p], modes[p] = capv, "measured"
			*hp = heldLoad{at: r.Time, other: capv}
		case !hp.at.IsZero() && b.now.Sub(hp.at) <= cfg.OtherLoadHold:
			// Cars in flux: the last well-founded value, moved into the
			// interval (a rise the reading proves, even with every car
			// at its highest, is followed at once).
			other[p], modes[p] = min(max(hp.other, floor), capv), "held"
		default:
			other[p], modes[p] = capv, "uncertain"
		}
	}
	mode := modes[0]
	for _, m := range modes[1:] {
		if rank[m] > rank[mode] {
			mode = m
		}
	}
	note := ""
	switch mode {
	case "stale":
		note = fmt.Sprintf("meter of %s silent for %s: other load assumed at the most its last reading allows", nodeName(node), age.Round(time.Second))
	case "uncertain":
		note = fmt.Sprintf("draw of our EVSEs below %s uncertain, no well-founded other load within %s: other load assumed at the most the reading allows", nodeName(node), cfg.OtherLoadHold)
	}
	b.otherNote[n] = note
	l.log.Debug("other load", "node", nodeName(node), "modes", modes, "reading", r.Current, "reading_age", age.String(),
		"draw_lo", drawLo, "draw_hi", drawHi, "other", other)
	if l.otherMode == nil {
		l.otherMode = map[string]string{}
	}
	if prev := l.otherMode[node]; prev != mode {
		l.otherMode[node] = mode
		switch {
		case note != "":
			l.log.Warn("other load: conservative assumption", "node", nodeName(node), "why", note, "other", other)
		case prev == "stale" || prev == "uncertain":
			l.log.Info("other load: estimate well-founded again", "node", nodeName(node), "mode", mode, "other", other)
		}
	}
	return other
}

// rank orders estimate modes by how little they rest on: the worst phase
// names a node's mode.
var rank = map[string]int{"measured": 0, "held": 1, "uncertain": 2, "stale": 3}

func nodeName(id string) string {
	if id == "" {
		return "grid connection"
	}
	return "circuit " + id
}
