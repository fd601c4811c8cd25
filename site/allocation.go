package site

import (
	"context"
	"time"
)

// This file holds what the control loop shows of its decisions to the gRPC
// layer, which imports site only: view types and the interfaces the loop
// implements ([AllocationReader], [LoopController]).

// AllocationView is a site's current allocation: what every EVSE may draw
// and why, and how much headroom every node has.
type AllocationView struct {
	SiteID string
	// Seq increases with every new allocation of the site (also across
	// restarts of the loop: it is persisted).
	Seq  uint64
	Time time.Time
	// Trigger says what caused the run ("tick", "event", "trigger", ...).
	Trigger string
	Nodes   []NodeView
	EVSEs   []EVSEView
	// Infeasible lists nodes that load we do not control already
	// overloads, as text ("circuit C1 phase L2 over by 3.0 A").
	Infeasible []string `json:",omitempty"`
}

// NodeView is one node of the site tree: the grid connection (ID "",
// Kind "grid"), a circuit or a charger.
type NodeView struct {
	ID   string
	Kind string
	// Limit in force per grid phase (grid limits and external limits
	// applied); 0 on a phase means none for charger nodes.
	Limit PhaseCurrents
	// OtherLoad is measured load that is not our EV charging.
	OtherLoad PhaseCurrents
	// Allocated is what our EVSEs below are counted at per grid phase.
	Allocated PhaseCurrents
}

// EVSEView is the decision for one EVSE.
type EVSEView struct {
	ChargerID string
	EVSE      int
	// State is the scheduler's view: "no-car", "charging", "suspended",
	// "faulted", "offline", "uncontrollable".
	State string
	// Limit is the current per phase decided (for offline and
	// uncontrollable EVSEs: what they are counted at).
	Limit Amps
	// Phases is the number of grid phases it is counted on.
	Phases int
	// Reason says why, in words; ReasonCode in one word.
	Reason     string
	ReasonCode string
	// Accepted is the limit the charger accepted last; Pending is set when
	// a change is sent and not yet answered (or timed out).
	Accepted Amps
	Pending  bool `json:",omitempty"`
	// CountedAt is what the safety ledger counts it at now.
	CountedAt Amps
	// Drawn is what the car draws per grid phase, from meter values.
	Drawn        PhaseCurrents
	NonCompliant bool `json:",omitempty"`
	ResumeFailed bool `json:",omitempty"`
}

// AllocationUpdate is one element of a watch stream: a new allocation.
type AllocationUpdate struct {
	Seq        uint64
	Allocation AllocationView
}

// AllocationReader gives the control loop's decisions.
//
// Allocation returns the newest allocation of a site; ErrNotFound when the
// site has none yet. Watch sends the current allocation (if any) and then
// every new one until ctx ends, then closes the channel; a slow reader
// misses intermediate updates but always gets the newest (Seq tells what
// it missed). Values are owned by the caller.
type AllocationReader interface {
	Allocation(ctx context.Context, siteID string) (AllocationView, error)
	Watch(ctx context.Context, siteID string) (<-chan AllocationUpdate, error)
}

// LoopController feeds the control loop from outside (the gRPC layer, an
// EMS). Errors: a *ValidationError (ErrInvalid) for bad input, ErrNotFound
// for an unknown site or EVSE, ErrUnavailable when the state cannot be
// stored.
type LoopController interface {
	// ReportMeter records a site or circuit meter reading; the loop
	// recomputes.
	ReportMeter(ctx context.Context, siteID string, r MeterReading) error
	// SetNeeds records what the car on an EVSE needs (from a user or app).
	SetNeeds(ctx context.Context, ref ChargerRef, evse int, n ChargingNeeds) error
	// SetPriority sets an EVSE's weight (0 means the default, 1).
	SetPriority(ctx context.Context, ref ChargerRef, evse int, priority float64) error
	// Trigger asks the site's loop to recompute now, e.g. after its grid
	// limits changed. It starts the loop if the site has none.
	Trigger(siteID string)
}
