package scheduler

import "time"

// Input is everything [Allocate] needs for one decision. The caller builds it
// from the site model and live state; Allocate reads it and never keeps or
// changes it.
type Input struct {
	// Now is the moment of the decision; dwell times are measured to it.
	Now time.Time
	// Config tunes the scheduler; nil means [DefaultConfig].
	Config *Config
	// NominalVoltage turns power limits in W into currents. It must be
	// positive when any node or external limit has a power limit.
	NominalVoltage Volts
	// Nodes is the site tree. Nodes[0] is the grid connection (Parent -1);
	// every other node names a parent that comes before it in the slice.
	Nodes []Node
	// EVSEs hang on nodes (usually nodes of kind [KindCharger]).
	EVSEs []EVSE
	// External are limits set from outside (OCPP NotifyChargingLimit, an
	// EMS): each lowers the limit of one node.
	External []ExternalLimit
}

// NodeKind says what a node is, for reasons only.
type NodeKind uint8

// Node kinds.
const (
	KindCircuit NodeKind = iota
	KindGrid
	KindCharger
)

func (k NodeKind) String() string {
	switch k {
	case KindGrid:
		return "grid"
	case KindCharger:
		return "charger"
	}
	return "circuit"
}

// Node is the grid connection, a circuit or a charger.
type Node struct {
	ID   string
	Kind NodeKind
	// Parent is the index in Input.Nodes of the parent node, -1 for the
	// root (Nodes[0] only). Parents come before their children.
	Parent int
	// Limit is the current limit per grid phase; [Unlimited] for none.
	// The zero value is a limit of 0 A: nothing may flow.
	Limit PhaseCurrents
	// PowerLimit is a limit on the total active power through the node;
	// 0 means none.
	PowerLimit Watts
	// OtherLoad is the measured load through the node that is not drawn
	// by any EVSE of Input.EVSEs, per grid phase; negative when PV feeds
	// in. Offline and uncontrollable EVSEs are counted separately (at what
	// they may draw), so their draw must not be in it either. It includes
	// the other load of the node's children: the caller gives what flows
	// through this node's meter or fuse, not a delta.
	OtherLoad PhaseCurrents
	// MaxImbalance is the most the per-phase currents through the node may
	// differ; 0 means no limit.
	MaxImbalance Amps
}

// ExternalLimit is a limit imposed on one node from outside.
type ExternalLimit struct {
	// Node is an index in Input.Nodes.
	Node int
	// Source names who set it, for reasons (e.g. "ocpp:NotifyChargingLimit").
	Source string
	// Limit per grid phase; [Unlimited] on phases it does not limit.
	Limit PhaseCurrents
	// PowerLimit in W; 0 means none.
	PowerLimit Watts
}

// State is what an EVSE is doing, from the scheduler's point of view.
type State uint8

// EVSE states. The zero value is invalid so that a forgotten field is caught
// by [Input.Validate].
const (
	StateUnspecified State = iota
	// StateNoCar: nothing plugged in; gets 0.
	StateNoCar
	// StateCharging: a car is plugged in and wants current, whether it
	// draws now or waits for us (OCPP Charging, SuspendedEVSE, authorised
	// Preparing).
	StateCharging
	// StateSuspended: the car is plugged in but does not take current (full
	// or paused by the car); it is held at its minimum when there is room
	// so that it can resume.
	StateSuspended
	// StateFaulted: the EVSE reports a fault; gets 0.
	StateFaulted
	// StateOffline: the charger does not answer; it is counted at its
	// fallback limit (or its maximum) on all wired phases.
	StateOffline
	// StateUncontrollable: online but does not accept our limits; counted
	// like an offline EVSE.
	StateUncontrollable
)

func (s State) String() string {
	switch s {
	case StateUnspecified:
		return "unspecified"
	case StateNoCar:
		return "no-car"
	case StateCharging:
		return "charging"
	case StateSuspended:
		return "suspended"
	case StateFaulted:
		return "faulted"
	case StateOffline:
		return "offline"
	case StateUncontrollable:
		return "uncontrollable"
	}
	return "invalid"
}

// EVSE is one charging point with what we know of its car.
type EVSE struct {
	// ID is unique among Input.EVSEs; it breaks ties, so results are
	// deterministic.
	ID string
	// Node is the index in Input.Nodes of the node it hangs on.
	Node int
	// Rotation maps the charger's phases to grid phases.
	Rotation Rotation
	// Wiring is the set of charger phases the EVSE is wired with; 0 means
	// all three.
	Wiring PhaseSet
	State  State
	// MinCurrent is the EVSE's lowest current; 0 means Config.DefaultMin.
	MinCurrent Amps
	// CarMinCurrent is the car's lowest current (some need 8-10 A); 0 if
	// unknown. The higher of the two minimums applies.
	CarMinCurrent Amps
	// MaxCurrent is the most the EVSE gives per phase; must be positive.
	MaxCurrent Amps
	// CarMaxCurrent is the most the car takes per phase; 0 if unknown.
	CarMaxCurrent Amps
	// CarPhases is the set of charger phases the car draws on, learnt from
	// per-phase meter values; 0 means unknown and counts as Wiring.
	CarPhases PhaseSet
	// Drawn is what the car draws now per charger phase.
	Drawn PhaseCurrents
	// Priority is the car's weight, both for who charges first and for its
	// share above the minimum; 0 means 1.
	Priority float64
	// EnergyNeeded and Departure are what the car still needs and when it
	// leaves (0 and zero if unknown). The real-time allocation does not use
	// them; the planner will.
	EnergyNeeded WattHours
	Departure    time.Time
	// Energy is what the car received so far in this session; the car that
	// received least goes first among equal priorities.
	Energy WattHours
	// PrevLimit is the limit we allocated last time (0: paused or new).
	PrevLimit Amps
	// Since is when the EVSE was last started (PrevLimit went above 0) or
	// paused (went to 0) by us; zero if never, which no dwell holds.
	Since time.Time
	// Fallback is the limit the charger applies on its own when it loses
	// us (its default profile); used only when HasFallback.
	Fallback    Amps
	HasFallback bool
	// Floor: the EVSE is counted at least at this on its wired phases
	// whatever its limit, e.g. the fallback it returns to when a lease runs
	// out (0: none; above MaxCurrent counts as MaxCurrent). Its load on a
	// grid phase is max(limit on the phases its car draws on, Floor on
	// every wired phase), also when it has no car or is paused. That
	// capacity is taken anyway, so a car gets at least min(Floor, its
	// maximum) when admitted, and admitting it costs only what it gets
	// above Floor (nothing when Floor reaches its minimum).
	Floor Amps
	// Switch describes 1/3-phase switching, if the EVSE can do it.
	Switch PhaseSwitch
}

// PhaseSwitch is the 1/3-phase switching state of an EVSE.
type PhaseSwitch struct {
	// Capable reports whether the EVSE can switch the car between one and
	// three phases.
	Capable bool
	// OnePhase reports whether it is switched to one phase (charger L1) now.
	OnePhase bool
	// Since is when it last switched; zero if never.
	Since time.Time
}

// Config tunes the scheduler. Use [DefaultConfig] and change fields; every
// field is used as given.
type Config struct {
	// DeadBand: a new limit closer than this to PrevLimit is not made.
	DeadBand Amps
	// SafetyMargin is kept free on every phase limit of every node (three
	// times on power limits).
	SafetyMargin Amps
	// MinDwell is the least time an EVSE stays started or paused before
	// the scheduler switches it again (unless safety needs it).
	MinDwell time.Duration
	// PhaseSwitchDwell is the least time between two 1/3-phase switches.
	PhaseSwitchDwell time.Duration
	// RampRoom is added to what a car draws when it draws less than it is
	// allowed: its limit becomes drawn + RampRoom.
	RampRoom Amps
	// DefaultMin is the minimum current of an EVSE that names none.
	DefaultMin Amps
	// Step is the resolution of limits; limits are rounded down to it.
	Step Amps
}

// DefaultConfig returns the defaults: 1 A dead band, 0.5 A margin, 2 min
// dwell, 5 min phase-switch dwell, 2 A ramp room, 6 A minimum (IEC 61851),
// 0.1 A step.
func DefaultConfig() Config {
	return Config{
		DeadBand:         1,
		SafetyMargin:     0.5,
		MinDwell:         2 * time.Minute,
		PhaseSwitchDwell: 5 * time.Minute,
		RampRoom:         2,
		DefaultMin:       6,
		Step:             0.1,
	}
}

func (in *Input) config() Config {
	if in.Config == nil {
		return DefaultConfig()
	}
	return *in.Config
}
