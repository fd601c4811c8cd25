package scheduler

import (
	"fmt"
	"strconv"
)

// ReasonCode says, in a word, why an EVSE got its limit.
type ReasonCode uint8

// Reason codes. Those marked "node" name a node (and a phase where one
// applies) in [Reason].
const (
	ReasonNone ReasonCode = iota
	// Not charging.
	ReasonNoCar
	ReasonFaulted
	ReasonOffline        // counted at its fallback limit or maximum
	ReasonUncontrollable // counted at its fallback limit or maximum
	ReasonMinAboveMax    // its minimum exceeds its maximum: cannot charge
	// Paused.
	ReasonInfeasible // node: what we do not control exceeds the limit
	ReasonNoRoom     // node: its minimum does not fit
	ReasonRotation   // node: its minimum does not fit; others of its priority charge first, it gets its turn
	ReasonDwellOff   // paused recently; stays paused for the dwell time
	// Charging.
	ReasonSuspended   // the car does not take current; held at its minimum
	ReasonAtMax       // at the EVSE's maximum
	ReasonAtCarMax    // at the car's maximum
	ReasonFollowsDraw // the car draws less: limited to what it draws plus ramp room
	ReasonPhaseLimit  // node: limited by a node's limit on a phase
	ReasonExternal    // node: limited by an external limit on a phase
	ReasonPowerLimit  // node: limited by a node's power limit
	ReasonImbalance   // node: limited by a node's maximum phase imbalance
	ReasonDeadBand    // the previous limit is kept: the change is below the dead band
	ReasonSafety      // paused by the final safety check (a bug if ever seen)
	ReasonAtFloor     // at its floor, above what it would get otherwise: that capacity is counted anyway
)

func (c ReasonCode) String() string {
	switch c {
	case ReasonNone:
		return ""
	case ReasonNoCar:
		return "no car"
	case ReasonFaulted:
		return "faulted"
	case ReasonOffline:
		return "offline, counted at what it may draw"
	case ReasonUncontrollable:
		return "not controllable, counted at what it may draw"
	case ReasonMinAboveMax:
		return "minimum above maximum"
	case ReasonInfeasible:
		return "paused, infeasible"
	case ReasonNoRoom:
		return "paused, no room"
	case ReasonRotation:
		return "paused for rotation"
	case ReasonDwellOff:
		return "paused, dwell time"
	case ReasonSuspended:
		return "car suspended, held at minimum"
	case ReasonAtMax:
		return "at EVSE maximum"
	case ReasonAtCarMax:
		return "at car maximum"
	case ReasonFollowsDraw:
		return "follows what the car draws"
	case ReasonPhaseLimit:
		return "limited by"
	case ReasonExternal:
		return "limited by external limit"
	case ReasonPowerLimit:
		return "limited by power limit of"
	case ReasonImbalance:
		return "limited by phase imbalance at"
	case ReasonDeadBand:
		return "kept, change below dead band"
	case ReasonSafety:
		return "paused by safety check"
	case ReasonAtFloor:
		return "at its floor (counted anyway)"
	}
	return "ReasonCode(" + strconv.Itoa(int(c)) + ")"
}

// Reason explains one EVSE's limit.
type Reason struct {
	Code ReasonCode
	// Node is the index of the node concerned, -1 if none; NodeID its ID
	// and NodeKind its kind.
	Node     int
	NodeID   string
	NodeKind NodeKind
	// Phase is the grid phase concerned, 0 if none.
	Phase Phase
	// Amount is by how much a limit is exceeded (ReasonInfeasible).
	Amount Amps
	// Source names an external limit (ReasonExternal).
	Source string
}

// String gives a short text such as "limited by circuit C1 phase L2".
func (r Reason) String() string {
	s := r.Code.String()
	if r.Code == ReasonExternal && r.Source != "" {
		s += " " + r.Source + " on"
	}
	if r.NodeID != "" {
		s += " " + r.NodeKind.String() + " " + r.NodeID
	}
	if r.Phase.Valid() {
		s += " phase " + r.Phase.String()
	}
	if r.Amount > 0 {
		s += fmt.Sprintf(" over by %.1f A", float64(r.Amount))
	}
	return s
}
