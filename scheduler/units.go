package scheduler

import (
	"fmt"
	"math"
)

// Amps is an electric current in amperes.
type Amps float64

// Watts is an active power in watts.
type Watts float64

// Volts is a voltage in volts, phase to neutral.
type Volts float64

// WattHours is an amount of energy in watt-hours.
type WattHours float64

// Unlimited is the value of a per-phase limit that does not limit.
// It is positive infinity; [Input.Validate] accepts it for limits only.
func Unlimited() Amps { return Amps(math.Inf(1)) }

// Phase names one grid (or charger) phase: L1, L2 or L3. The zero value is
// not a phase.
type Phase uint8

// The three phases.
const (
	L1 Phase = 1
	L2 Phase = 2
	L3 Phase = 3
)

// Valid reports whether p is L1, L2 or L3.
func (p Phase) Valid() bool { return p >= L1 && p <= L3 }

// Index is the zero-based position of p in a [PhaseCurrents].
func (p Phase) Index() int { return int(p) - 1 }

func (p Phase) String() string {
	if p.Valid() {
		return fmt.Sprintf("L%d", uint8(p))
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// PhaseSet is a set of phases, bit i set for phase L(i+1).
type PhaseSet uint8

// Common phase sets.
const (
	OnlyL1    PhaseSet = 1 << 0
	OnlyL2    PhaseSet = 1 << 1
	OnlyL3    PhaseSet = 1 << 2
	AllPhases PhaseSet = OnlyL1 | OnlyL2 | OnlyL3
)

// SetOf returns the set holding the given phases.
func SetOf(ps ...Phase) PhaseSet {
	var s PhaseSet
	for _, p := range ps {
		if p.Valid() {
			s |= 1 << p.Index()
		}
	}
	return s
}

// Has reports whether p is in s.
func (s PhaseSet) Has(p Phase) bool { return p.Valid() && s&(1<<p.Index()) != 0 }

// Count is the number of phases in s.
func (s PhaseSet) Count() int { return int(s&1) + int(s>>1&1) + int(s>>2&1) }

// Valid reports whether s holds only L1, L2 and L3.
func (s PhaseSet) Valid() bool { return s&^AllPhases == 0 }

func (s PhaseSet) String() string {
	if s == 0 {
		return "none"
	}
	b := make([]byte, 0, 8)
	for _, p := range [3]Phase{L1, L2, L3} {
		if s.Has(p) {
			if len(b) > 0 {
				b = append(b, '+')
			}
			b = append(b, 'L', byte('0'+p))
		}
	}
	return string(b)
}

// PhaseCurrents holds one current per grid phase, indexed by [Phase.Index].
type PhaseCurrents [3]Amps

// Uniform returns the same current on all three phases.
func Uniform(a Amps) PhaseCurrents { return PhaseCurrents{a, a, a} }

// On returns the current on phase p.
func (c PhaseCurrents) On(p Phase) Amps { return c[p.Index()] }

// Rotation says which grid phase feeds each of a charger's own phases:
// Rotation{L2, L3, L1} means the charger's L1 is wired to grid L2, its L2 to
// grid L3 and its L3 to grid L1 (OCPP "STR"). The zero value is the standard
// rotation (RST).
type Rotation [3]Phase

// Known reports whether r is set.
func (r Rotation) Known() bool { return r != Rotation{} }

// Grid returns the grid phase that feeds the charger's phase p.
func (r Rotation) Grid(p Phase) Phase {
	if !r.Known() {
		return p
	}
	return r[p.Index()]
}

// GridSet maps a set of charger phases to the set of grid phases.
func (r Rotation) GridSet(s PhaseSet) PhaseSet {
	var g PhaseSet
	for _, p := range [3]Phase{L1, L2, L3} {
		if s.Has(p) {
			g |= 1 << r.Grid(p).Index()
		}
	}
	return g
}

// Valid reports whether r is zero or a permutation of L1, L2, L3.
func (r Rotation) Valid() bool {
	if !r.Known() {
		return true
	}
	var seen PhaseSet
	for _, p := range r {
		if !p.Valid() || seen.Has(p) {
			return false
		}
		seen |= SetOf(p)
	}
	return true
}
