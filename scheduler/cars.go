package scheduler

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// mode is one way an EVSE can charge: on which grid phases.
type mode struct {
	grid     PhaseSet
	onePhase bool
}

// Admission groups, in the order cars are considered.
const (
	groupHeldOn    = iota // started within the dwell time: kept on if safe
	groupCharging         // wants current
	groupSuspended        // plugged in, takes no current: last
)

// car is an EVSE that wants current (a candidate for admission).
type car struct {
	idx  int32 // index in Input.EVSEs
	node int32
	// lo and hi bound its limit when admitted; hi may be lowered to what
	// the car draws plus ramp room; w is its weight.
	lo, hi, w float64
	// off is the part of its limit its floor already counts (min(floor,
	// max)); it costs only x - off on its phases, and lo >= off.
	off    float64
	hiCode ReasonCode // why hi is what it is
	modes  [2]mode
	nModes uint8
	group  uint8
	// key fields for the admission order.
	energy    float64
	waitSince int64
	// decided by admission
	admitted bool
	mode     mode
	block    blocker // why it was not admitted
}

// classify turns each EVSE into a result (for those that do not take part)
// or a car. It counts offline and uncontrollable EVSEs into the tree's base.
func classify(in *Input, cfg *Config, t *tree, res []Result) []car {
	cars := make([]car, 0, len(in.EVSEs))
	for i := range in.EVSEs {
		e := &in.EVSEs[i]
		r := &res[i]
		r.ID = e.ID
		r.Reason.Node = -1
		// A paused EVSE keeps its phase mode: no switch without need.
		r.OnePhase = e.Switch.Capable && e.Switch.OnePhase
		if e.State == StateOffline || e.State == StateUncontrollable {
			countUncontrolled(e, t, r)
			continue
		}
		// Its floor is taken whatever we decide: counted like load we do
		// not control, on every wired phase (the fallback applies to
		// whatever car is plugged in). An admitted car's load above it
		// is added later.
		if f := e.floor(); f > 0 {
			r.Load = e.load(0, 0)
			t.addBase(int32(e.Node), e.Rotation.GridSet(e.wiring()), f)
		}
		switch e.State {
		case StateNoCar:
			r.Reason.Code = ReasonNoCar
		case StateFaulted:
			r.Reason.Code = ReasonFaulted
		case StateCharging, StateSuspended:
			if e.heldOff(in.Now, cfg) {
				r.Reason.Code = ReasonDwellOff
				continue
			}
			if c, ok := newCar(in, cfg, int32(i), r); ok {
				cars = append(cars, c)
			}
		}
	}
	return cars
}

// floor is what e is counted at least at on its wired phases: Floor, at
// most its maximum (it cannot draw more).
func (e *EVSE) floor() float64 {
	return min(max(0, float64(e.Floor)), float64(e.MaxCurrent))
}

// loadWithFloor is the load of an EVSE with limit x on the grid phases in
// grid and floor f on its wired grid phases wired: the higher of the two
// on each phase.
func loadWithFloor(grid PhaseSet, x float64, wired PhaseSet, f float64) PhaseCurrents {
	l := loadOn(grid, x)
	for p := range 3 {
		if wired&(1<<p) != 0 && Amps(f) > l[p] {
			l[p] = Amps(f)
		}
	}
	return l
}

// load is what a controllable e is counted at on each grid phase with
// limit x on the grid phases in grid: x there, at least its floor on
// every wired phase.
func (e *EVSE) load(grid PhaseSet, x float64) PhaseCurrents {
	return loadWithFloor(grid, x, e.Rotation.GridSet(e.wiring()), e.floor())
}

// countUncontrolled counts e at what it may draw without us, on all its
// wired phases: the car behind it may change while we cannot see.
func countUncontrolled(e *EVSE, t *tree, r *Result) {
	a := float64(e.MaxCurrent)
	if e.HasFallback {
		a = min(a, float64(e.Fallback))
	}
	a = max(a, e.floor())
	r.Reason.Code = ReasonOffline
	if e.State == StateUncontrollable {
		r.Reason.Code = ReasonUncontrollable
	}
	r.Phases = e.Rotation.GridSet(e.wiring())
	r.Limit = Amps(a)
	r.Load = loadOn(r.Phases, a)
	t.addBase(int32(e.Node), r.Phases, a)
}

func loadOn(grid PhaseSet, a float64) PhaseCurrents {
	var l PhaseCurrents
	for p := range 3 {
		if grid&(1<<p) != 0 {
			l[p] = Amps(a)
		}
	}
	return l
}

func newCar(in *Input, cfg *Config, i int32, r *Result) (car, bool) {
	e := &in.EVSEs[i]
	lo := float64(cfg.DefaultMin)
	if e.MinCurrent > 0 {
		lo = float64(e.MinCurrent)
	}
	lo = max(lo, float64(e.CarMinCurrent))
	hi, hiCode := float64(e.MaxCurrent), ReasonAtMax
	if e.CarMaxCurrent > 0 && float64(e.CarMaxCurrent) < hi {
		hi, hiCode = float64(e.CarMaxCurrent), ReasonAtCarMax
	}
	if lo > hi {
		r.Reason.Code = ReasonMinAboveMax
		return car{}, false
	}
	c := car{
		idx: i, node: int32(e.Node), lo: lo, hi: hi, hiCode: hiCode,
		w: e.Priority, energy: float64(e.Energy),
		group: groupCharging, waitSince: math.MaxInt64,
	}
	if c.w == 0 {
		c.w = 1
	}
	c.nModes = e.modes(in.Now, cfg, &c.modes)
	switch {
	case e.State == StateSuspended:
		c.hi, c.hiCode, c.group = c.lo, ReasonSuspended, groupSuspended
	case e.PrevLimit > 0:
		if d := e.drawn() + float64(cfg.RampRoom); d < float64(e.PrevLimit) && d < c.hi {
			c.hi, c.hiCode = max(c.lo, d), ReasonFollowsDraw
		}
	}
	// The floor's capacity is counted anyway: up to it the car charges
	// at no cost to anyone, so its bounds are lifted to min(floor, max)
	// and it costs only what it gets above that.
	c.off = min(e.floor(), e.maxLimit())
	c.lo = max(c.lo, c.off)
	if c.off > c.hi {
		c.hi, c.hiCode = c.off, ReasonAtFloor
	}
	if e.PrevLimit > 0 && within(in.Now, e.Since, cfg.MinDwell) {
		c.group = groupHeldOn
	}
	if e.PrevLimit == 0 {
		c.waitSince = e.Since.UnixNano()
		if e.Since.IsZero() {
			c.waitSince = math.MinInt64
		}
	}
	return c, true
}

// heldOff reports whether e was paused by us within the dwell time.
func (e *EVSE) heldOff(now time.Time, cfg *Config) bool {
	return e.PrevLimit == 0 && within(now, e.Since, cfg.MinDwell)
}

// within reports whether since is set and now is less than d after it.
func within(now, since time.Time, d time.Duration) bool {
	return !since.IsZero() && now.Sub(since) < d
}

// drawn is the most e draws on any wired phase; never negative.
func (e *EVSE) drawn() float64 {
	d := 0.0
	w := e.wiring()
	for p := range 3 {
		if w&(1<<p) != 0 {
			d = max(d, float64(e.Drawn[p]))
		}
	}
	return d
}

// modes fills the ways e may charge now, the current way first, then (if a
// phase switch is allowed) the other; three phases before one phase.
func (e *EVSE) modes(now time.Time, cfg *Config, m *[2]mode) uint8 {
	wiring := e.wiring()
	three := wiring
	if e.CarPhases != 0 && !e.Switch.OnePhase {
		three = e.CarPhases
	}
	canSwitch := e.Switch.Capable && wiring.Has(L1) && three.Count() > 1
	if !canSwitch {
		m[0] = mode{grid: e.Rotation.GridSet(three)}
		return 1
	}
	one := mode{grid: e.Rotation.GridSet(OnlyL1), onePhase: true}
	threeMode := mode{grid: e.Rotation.GridSet(three)}
	if within(now, e.Switch.Since, cfg.PhaseSwitchDwell) {
		if e.Switch.OnePhase {
			m[0] = one
		} else {
			m[0] = threeMode
		}
		return 1
	}
	m[0], m[1] = threeMode, one
	return 2
}

// admKey is what orders cars for admission, kept small and free of
// pointers so that sorting ten thousand of them is cheap.
type admKey struct {
	group     uint8
	w         float64
	energy    float64
	waitSince int64
	car       int32 // index in the cars slice
}

// admissionOrder returns the cars' indices in admission order: held-on cars
// first, suspended cars last; then priority (higher first), energy
// received (less first), waiting since (earlier first), ID.
func admissionOrder(cars []car, evses []EVSE) []int32 {
	keys := make([]admKey, len(cars))
	for i := range cars {
		c := &cars[i]
		keys[i] = admKey{group: c.group, w: c.w, energy: c.energy, waitSince: c.waitSince, car: int32(i)}
	}
	slices.SortFunc(keys, func(a, b admKey) int {
		if a.group != b.group {
			return cmp.Compare(a.group, b.group)
		}
		if a.w != b.w {
			return cmp.Compare(b.w, a.w)
		}
		if a.energy != b.energy {
			return cmp.Compare(a.energy, b.energy)
		}
		if a.waitSince != b.waitSince {
			return cmp.Compare(a.waitSince, b.waitSince)
		}
		return cmp.Compare(evses[cars[a.car].idx].ID, evses[cars[b.car].idx].ID)
	})
	order := make([]int32, len(cars))
	for i, k := range keys {
		order[i] = k.car
	}
	return order
}
