package plan

import (
	"math"
	"time"
)

// profiles turns the continuous plan into what chargers can follow: limits
// rounded down to the step, 0 or at least the minimum, at most MaxPeriods
// periods. Every change lowers a limit or raises one only within the room
// left by all the other sessions' rounded limits, so no limit is broken.
// It returns the current per session and slot.
func (p *problem) profiles(in *Input, cfg *Config) [][]float64 {
	step := float64(cfg.Step)
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
	// Give back what rounding and the minimum took, in the cheapest slots
	// with room, in steps.
	for i := range p.ss {
		s := &p.ss[i]
		lost := s.e - p.energyOf(s, cur[i])
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
			} else if room >= s.lo && lost >= s.lo*k {
				a = math.Floor(min(room, lost/k)/step+1e-9) * step
				if a < s.lo {
					a = 0
				}
			}
			if a = min(cur[i][t]+a, s.hi) - cur[i][t]; a <= 0 {
				continue
			}
			p.addRounded(s, t, a)
			cur[i][t] += a
			lost -= a * k
		}
		maxP := in.Sessions[i].MaxPeriods
		if maxP > 0 {
			compress(cur[i], s.end, p.T, maxP, func(t int) float64 { return p.k(s, t) })
		}
	}
	p.loadRounded(cur)
	return cur
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
