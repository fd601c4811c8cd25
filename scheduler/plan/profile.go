package plan

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// profiles turns the continuous plan into what chargers can follow: limits
// rounded down to the step, 0 or at least the minimum, at most MaxPeriods
// periods. Every change lowers a limit or raises one only within the room
// left by all the other sessions' rounded limits, so no limit is broken.
// It returns the current per session and slot.
func (p *problem) profiles(in *Input, cfg *Config) [][]float64 {
	step := float64(cfg.Step)
	for i := range p.ss {
		p.consolidate(&p.ss[i])
	}
	cur := make([][]float64, len(p.ss))
	flat := make([]float64, len(p.ss)*p.T)
	for i := range p.ss {
		s := &p.ss[i]
		c := flat[i*p.T : (i+1)*p.T : (i+1)*p.T]
		for t := range s.end {
			// The bias keeps 16 from becoming 15.9 through float error;
			// it adds at most a nanoampere, within the checks' noise.
			v := math.Floor((s.x[t]+1e-9)/step) * step
			v = min(v, s.hi)
			if v < s.lo-epsA {
				v = 0
			}
			c[t] = v
		}
		cur[i] = c
	}
	p.loadRounded(cur)
	// A current a hair (10 µA) below a step goes up to the step where the
	// room left by the rounded limits allows: the exact path holds
	// energies with a relative slack of 1e-8 per LP, so a car at 16 A may
	// come out at 15.9999988 A, and rounding that down would lose a whole
	// step over the slot.
	for i := range p.ss {
		s := &p.ss[i]
		for t := range s.end {
			c := cur[i][t]
			up := min(s.hi, math.Floor((s.x[t]+1e-5)/step)*step)
			if up <= c+step/2 || up < s.lo-epsA {
				continue
			}
			if room, _, _ := p.roomRounded(s, t, c); room >= up-c {
				p.set(s, cur[i], t, up, step)
			}
		}
	}
	// Give back what rounding and the minimum took, in the cheapest slots
	// with room, in steps; the sessions furthest from their need first.
	byLevel := make([]int, len(p.ss))
	for i := range byLevel {
		byLevel[i] = i
	}
	slices.SortStableFunc(byLevel, func(a, b int) int {
		return cmp.Compare(p.ss[a].level(), p.ss[b].level())
	})
	for _, i := range byLevel {
		s := &p.ss[i]
		lost := s.e - p.energyOf(s, cur[i])
		tol := metTolerance(cfg, p, s)
		for _, en := range p.order(s) {
			if lost <= epsWh {
				break
			}
			t := int(en.t)
			if t >= s.end {
				continue
			}
			k := p.k(s, t)
			room, _, _ := p.roomRounded(s, t, cur[i][t])
			var a float64
			if cur[i][t] > 0 {
				a = math.Floor(min(room, lost/k)/step+1e-9) * step
			} else if room >= s.lo && lost > tol {
				// A new slot at no less than the minimum: this may give a
				// little more than the need (at most the minimum for one
				// slot), which beats missing it.
				a = math.Floor(min(room, max(s.lo, lost/k))/step+1e-9) * step
				if a < s.lo {
					a = 0
				}
			}
			if a = min(cur[i][t]+a, s.hi) - cur[i][t]; a <= 0 {
				continue
			}
			p.set(s, cur[i], t, cur[i][t]+a, step)
			lost -= a * k
		}
		if lost > tol {
			p.topUp(s, cur, lost, step)
		}
		maxP := in.Sessions[i].MaxPeriods
		if maxP > 0 {
			compress(cur[i], s.end, p.T, maxP, func(t int) float64 { return p.k(s, t) })
		}
	}
	p.loadRounded(cur)
	return cur
}

// metTolerance is how far below its need a session still counts as met:
// one rounding step over one slot, the resolution of a charging profile.
func metTolerance(cfg *Config, p *problem, s *sess) float64 {
	return max(1, float64(cfg.Step)*p.v*s.nph*p.hours)
}

// loadRounded sets cap to the room left by the rounded currents.
func (p *problem) loadRounded(cur [][]float64) {
	copy(p.cap, p.room0)
	for i := range p.ss {
		s := &p.ss[i]
		for t := range s.end {
			if cur[i][t] != 0 {
				p.addRounded(s, t, cur[i][t])
			}
		}
	}
}

func (p *problem) addRounded(s *sess, t int, a float64) {
	base := t * p.nn
	for _, n := range s.path {
		c := p.cap[(base+int(n))*4:][:4]
		for ph := range 3 {
			if s.g[ph] {
				c[ph] -= a
			}
		}
		c[3] -= a * s.nph
	}
}

// roomRounded is the room for s in slot t above its current value now.
func (p *problem) roomRounded(s *sess, t int, now float64) (float64, int32, int) {
	x := s.x[t]
	s.x[t] = now
	r, n, c := p.room(s, t)
	s.x[t] = x
	return r, n, c
}

func (p *problem) energyOf(s *sess, c []float64) float64 {
	e := 0.0
	for t := range s.end {
		e += c[t] * p.k(s, t)
	}
	return e
}

// periods counts the runs of equal limits over the slots before departure,
// plus the closing 0 period when departure is within the horizon.
func periods(c []float64, end, T int) int {
	n := 0
	for t := range end {
		if t == 0 || c[t] != c[t-1] {
			n++
		}
	}
	if end < T && (end == 0 || c[end-1] != 0) {
		n++
	}
	return max(n, 1)
}

// compress merges neighbouring runs until at most maxP periods remain,
// each merge at the lower of the two limits (never higher than a slot was
// allowed), choosing the merge that loses the least energy.
func compress(c []float64, end, T, maxP int, k func(int) float64) {
	type run struct {
		from, to int // slots [from, to)
		v        float64
	}
	var rs []run
	for t := range end {
		if t == 0 || c[t] != c[t-1] {
			rs = append(rs, run{t, t + 1, c[t]})
		} else {
			rs[len(rs)-1].to = t + 1
		}
	}
	closing := 0
	if end < T && (end == 0 || c[end-1] != 0) {
		closing = 1
	}
	loss := func(r run, v float64) float64 {
		l := 0.0
		for t := r.from; t < r.to; t++ {
			l += (r.v - v) * k(t)
		}
		return l
	}
	for len(rs)+closing > maxP && len(rs) > 1 {
		best, bl := -1, math.Inf(1)
		for j := 0; j+1 < len(rs); j++ {
			v := min(rs[j].v, rs[j+1].v)
			if l := loss(rs[j], v) + loss(rs[j+1], v); l < bl {
				best, bl = j, l
			}
		}
		a, b := rs[best], rs[best+1]
		rs[best] = run{a.from, b.to, min(a.v, b.v)}
		rs = append(rs[:best+1], rs[best+2:]...)
	}
	if len(rs)+closing > maxP && len(rs) == 1 {
		// One period allowed and departure inside the horizon: the only
		// period cannot end, so it must be 0 or hold to the end; hold it
		// (the car leaves, nothing draws).
		closing = 0
	}
	for _, r := range rs {
		for t := r.from; t < r.to; t++ {
			c[t] = r.v
		}
	}
}

// schedule encodes the limits of one session as periods.
func schedule(c []float64, end, T int, slot time.Duration, unit RateUnit, v float64, nph int, maxP int) []Period {
	var ps []Period
	val := func(a float64) float64 {
		if unit == UnitWatts {
			return math.Floor(a*v*float64(nph) + 1e-9)
		}
		return a
	}
	for t := range end {
		if t == 0 || c[t] != c[t-1] {
			ps = append(ps, Period{Offset: time.Duration(t) * slot, Limit: val(c[t]), Unit: unit, Phases: nph})
		}
	}
	if end < T && (end == 0 || c[end-1] != 0) && (maxP == 0 || len(ps) < maxP) {
		ps = append(ps, Period{Offset: time.Duration(end) * slot, Limit: 0, Unit: unit, Phases: nph})
	}
	if len(ps) == 0 {
		ps = append(ps, Period{Limit: 0, Unit: unit, Phases: nph})
	}
	return ps
}

// consolidate gathers a session's slots below its minimum into its other
// slots, directly where there is room, or by swapping with a session that
// takes the same current the other way: energies stay, and fewer slots
// fall to 0 in rounding.
func (p *problem) consolidate(s *sess) {
	for range s.end {
		t1, m := -1, s.lo
		for t := range s.end {
			if x := s.x[t]; x > epsA && x < m-epsA {
				t1, m = t, x
			}
		}
		if t1 < 0 || !p.gather(s, t1) {
			return
		}
	}
}

// gather moves all of s's current in t1 to one other slot that already
// has current (or takes at least the minimum).
func (p *problem) gather(s *sess, t1 int) bool {
	m := s.x[t1]
	for t2 := range s.end {
		if t2 == t1 || (s.x[t2] <= epsA && m < s.lo) || s.x[t2]+m > s.hi+epsA {
			continue
		}
		if r, _, _ := p.room(s, t2); r >= m-epsA {
			p.add(s, t1, -m)
			p.add(s, t2, min(m, r))
			return true
		}
		_, node, con := p.room(s, t2)
		if node < 0 {
			continue
		}
		sp := p.span[node]
		tried := 0
		for _, j := range p.byNode[sp[0]:sp[1]] {
			a := &p.ss[j]
			if a == s || a.x[t2] < m || t1 >= a.end || !a.loads(con) || a.nph != s.nph {
				continue
			}
			if tried++; tried > p.donors {
				break
			}
			p.add(s, t1, -m)
			p.add(a, t2, -m)
			ra, _, _ := p.room(a, t1)
			rs, _, _ := p.room(s, t2)
			if ra >= m-epsA && rs >= m-epsA {
				p.add(a, t1, min(m, ra))
				p.add(s, t2, min(m, rs))
				return true
			}
			p.add(a, t2, m)
			p.add(s, t1, m)
		}
	}
	return false
}

// topUp gives s up to lost Wh more in slots where it charges already, by
// moving another session's current out of that slot into a slot of its
// own with room (both in steps, both staying 0 or at least the minimum):
// rounding leaves slivers of room below the minimum that only such a swap
// can use.
func (p *problem) topUp(s *sess, cur [][]float64, lost, step float64) {
	me := cur[s.idx]
	for t := range s.end {
		if lost <= epsWh {
			return
		}
		if me[t] <= 0 || me[t] >= s.hi {
			continue
		}
		_, node, con := p.roomRounded(s, t, me[t])
		if node < 0 {
			continue
		}
		sp := p.span[node]
		tried := 0
		for _, j := range p.byNode[sp[0]:sp[1]] {
			a := &p.ss[j]
			ca := cur[j]
			// A donor with a period limit may have been compressed
			// already: moving its current would add periods.
			if a == s || ca[t] <= 0 || !a.loads(con) || a.nph != s.nph || a.maxP > 0 {
				continue
			}
			if tried++; tried > p.donors || lost <= epsWh {
				break
			}
			want := math.Floor(min(lost/p.k(s, t), s.hi-me[t], ca[t]-a.lo)/step+1e-9) * step
			if want <= 0 {
				continue
			}
			for u := range a.end {
				if u == t || ca[u] <= 0 {
					continue
				}
				r, _, _ := p.roomRounded(a, u, ca[u])
				d := math.Floor(min(want, r, a.hi-ca[u])/step+1e-9) * step
				if d <= 0 {
					continue
				}
				p.addRounded(a, t, -d)
				if rs, _, _ := p.roomRounded(s, t, me[t]); rs < d-epsA {
					p.addRounded(a, t, d) // s cannot use it: undo
					continue
				}
				p.addRounded(a, t, d) // back, then by the snapped amounts
				p.set(a, ca, t, ca[t]-d, step)
				p.set(a, ca, u, ca[u]+d, step)
				p.set(s, me, t, me[t]+d, step)
				lost -= d * p.k(s, t)
				want -= d
				if want <= 0 || lost <= epsWh {
					break
				}
			}
		}
	}
}

// set changes s's rounded current in slot t to v snapped to the step grid
// (so that 16 stays 16, not 16.000000000000004) and never above its
// maximum, and updates the room.
func (p *problem) set(s *sess, c []float64, t int, v, step float64) {
	v = min(s.hi, math.Round(v/step)*step)
	p.addRounded(s, t, v-c[t])
	c[t] = v
}
