package site

import "fmt"

// Amps is an electric current in amperes.
type Amps float64

// Watts is an active power in watts.
type Watts float64

// Volts is a voltage in volts (phase to neutral unless said otherwise).
type Volts float64

// WattHours is an amount of energy in watt-hours.
type WattHours float64

// Phase names one phase of the grid connection: L1, L2 or L3.
// The zero value is not a phase.
type Phase uint8

// The three phases of a grid connection.
const (
	L1 Phase = 1
	L2 Phase = 2
	L3 Phase = 3
)

// Valid reports whether p is L1, L2 or L3.
func (p Phase) Valid() bool { return p >= L1 && p <= L3 }

func (p Phase) String() string {
	if p.Valid() {
		return fmt.Sprintf("L%d", uint8(p))
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Index is the zero-based position of p in a [PhaseCurrents].
func (p Phase) Index() int { return int(p) - 1 }

// PhaseCurrents holds one current per grid phase, indexed by [Phase.Index].
type PhaseCurrents [3]Amps

// Uniform returns the same current on all three phases.
func Uniform(a Amps) PhaseCurrents { return PhaseCurrents{a, a, a} }

// On returns the current on phase p.
func (c PhaseCurrents) On(p Phase) Amps { return c[p.Index()] }

// Max returns the largest of the three currents.
func (c PhaseCurrents) Max() Amps { return max(c[0], c[1], c[2]) }

// Min returns the smallest of the three currents.
func (c PhaseCurrents) Min() Amps { return min(c[0], c[1], c[2]) }

// PhaseRotation says which grid phase feeds each of a charger's own phases:
// PhaseRotation{L2, L3, L1} means the charger's L1 is wired to the grid's
// L2, its L2 to L3 and its L3 to L1 (OCPP "STR"). The zero value means
// unknown and is treated as the standard rotation RST.
type PhaseRotation [3]Phase

// StandardRotation is RST: charger L1, L2, L3 on grid L1, L2, L3.
var StandardRotation = PhaseRotation{L1, L2, L3}

// Known reports whether r is set.
func (r PhaseRotation) Known() bool { return r != PhaseRotation{} }

// Grid returns the grid phase that feeds the charger's phase p; unknown
// rotations map as RST.
func (r PhaseRotation) Grid(p Phase) Phase {
	if !r.Known() {
		return p
	}
	return r[p.Index()]
}

// Valid reports whether r is unknown or a permutation of L1, L2, L3.
func (r PhaseRotation) Valid() bool {
	if !r.Known() {
		return true
	}
	seen := [4]bool{}
	for _, p := range r {
		if !p.Valid() || seen[p] {
			return false
		}
		seen[p] = true
	}
	return true
}

// String gives the OCPP name of the rotation (RST, RTS, SRT, STR, TRS, TSR),
// or "Unknown".
func (r PhaseRotation) String() string {
	if !r.Known() || !r.Valid() {
		return "Unknown"
	}
	const letters = "RST"
	b := make([]byte, 3)
	for i, p := range r {
		b[i] = letters[p.Index()]
	}
	return string(b)
}

// ParsePhaseRotation reads an OCPP rotation name such as "RST" or "TRS".
// "" , "Unknown" and "NotApplicable" give the zero (unknown) rotation.
func ParsePhaseRotation(s string) (PhaseRotation, error) {
	switch s {
	case "", "Unknown", "NotApplicable":
		return PhaseRotation{}, nil
	}
	if len(s) != 3 {
		return PhaseRotation{}, fmt.Errorf("site: phase rotation %q: want three letters of R, S, T", s)
	}
	var r PhaseRotation
	for i := range 3 {
		switch s[i] {
		case 'R':
			r[i] = L1
		case 'S':
			r[i] = L2
		case 'T':
			r[i] = L3
		default:
			return PhaseRotation{}, fmt.Errorf("site: phase rotation %q: want three letters of R, S, T", s)
		}
	}
	if !r.Valid() {
		return PhaseRotation{}, fmt.Errorf("site: phase rotation %q: each of R, S, T must appear once", s)
	}
	return r, nil
}
