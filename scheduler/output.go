package scheduler

// Allocation is the result of [Allocate].
type Allocation struct {
	// EVSEs holds one result per Input.EVSEs, in the same order.
	EVSEs []Result
	// Infeasible lists limits that what we do not control already breaks;
	// every controllable EVSE below such a node is paused.
	Infeasible []Infeasibility
}

// Result is the decision for one EVSE.
type Result struct {
	ID string
	// Limit is the current limit per phase to send: 0 (paused) or between
	// the EVSE's minimum and maximum. For offline and uncontrollable EVSEs
	// it is what they are counted at, and nothing is to be sent.
	Limit Amps
	// Phases is the set of grid phases its limit is counted on (0 when
	// paused).
	Phases PhaseSet
	// OnePhase is set when an EVSE that can switch phases is to charge on
	// one phase (charger L1); a paused EVSE keeps its present mode.
	OnePhase bool
	// Load is what the EVSE is counted at on each grid phase: its limit on
	// Phases, at least its floor on every wired phase (also when paused or
	// without a car).
	Load PhaseCurrents
	// Reason says why the limit is what it is.
	Reason Reason
}

// Infeasibility is a limit that load we do not control already exceeds.
type Infeasibility struct {
	// Node is the index of the node in Input.Nodes; NodeID its ID.
	Node   int
	NodeID string
	// Phase is the grid phase over its limit, or 0 for the power limit.
	Phase Phase
	// Excess is by how much (in A; for a power limit, summed over phases),
	// counting the safety margin.
	Excess Amps
}
