package plan

import (
	"fmt"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// Result is what [Plan] returns.
type Result struct {
	Start time.Time
	Slot  time.Duration
	Slots int
	// Sessions holds one plan per Input.Sessions, in the same order.
	Sessions []SessionPlan
	// Nodes holds the planned load per Input.Nodes, in the same order.
	Nodes []NodeLoad
	// Level is the fair-sharing level reached: every session with needs
	// that is still there gets at least min(1, Priority·Level) of its need
	// in the continuous plan (before profile rounding); +Inf when every
	// such need is met.
	Level float64
	// Exact reports that the continuous plan (SessionPlan.Planned) is the
	// optimum of the linear program (see PLANNER.md): every independent
	// part of the site was small enough to be solved exactly. When false,
	// at least one part was planned by the heuristic.
	Exact bool
	// Cost is the expected energy cost of the profiles (import price, or
	// the export price forgone on PV surplus); CO2 the expected emissions
	// (0 when no CO2 series is given).
	Cost Money
	CO2  Grams
	// Infeasible lists slots where the other load alone breaks a limit;
	// nothing is planned below such a node in such a slot.
	Infeasible []Infeasibility
}

// SessionPlan is the plan for one session.
type SessionPlan struct {
	ID string
	// Need is the energy the plan aims at (given, from SoC, or the
	// default); NoNeeds reports that it is the default.
	Need    scheduler.WattHours
	NoNeeds bool
	// Energy is what the profile delivers by departure if the car takes
	// what it is allowed; Met reports Energy >= Need, to within one
	// rounding step (Config.Step) over one slot.
	Energy scheduler.WattHours
	Met    bool
	// Planned is the continuous optimum per slot (A per phase), before
	// the 0-or-minimum rule, rounding and period limits.
	Planned []scheduler.Amps
	// Current is the limit per slot that Periods encode (A per phase).
	Current []scheduler.Amps
	// Periods is the charging schedule for the charger, starting at
	// Result.Start: at most the session's MaxPeriods, in its Unit; it
	// ends with a 0 period at departure when departure is in the horizon
	// and the charger accepts one more period.
	Periods []Period
	// Duration is how long the schedule runs (OCPP duration): to the end
	// of the departure slot, or the horizon.
	Duration time.Duration
	// Phases is the number of phases the car draws on (OCPP numberPhases).
	Phases int
	// Why says for each slot why the session gets no more than Current.
	Why []Why
	// Cost is the session's share of Result.Cost (at the marginal price of
	// each slot).
	Cost Money
}

// Period is one period of a charging schedule.
type Period struct {
	// Offset is the start relative to Result.Start (OCPP startPeriod).
	Offset time.Duration
	// Limit is in the session's Unit: A per phase or W in total.
	Limit float64
	Unit  RateUnit
	// Phases is the number of phases (OCPP numberPhases).
	Phases int
}

// NodeLoad is the planned load through a node.
type NodeLoad struct {
	ID string
	// Ours is the load of the planned sessions per slot and grid phase;
	// Total adds the forecast other load.
	Ours, Total []scheduler.PhaseCurrents
}

// Infeasibility is a slot where the forecast other load alone breaks a
// node's limit (with the safety margin).
type Infeasibility struct {
	Slot   int
	Node   int
	NodeID string
	// Phase is the grid phase over its limit, 0 for the power limit.
	Phase scheduler.Phase
	// Excess is by how much, in A (summed over phases for power).
	Excess scheduler.Amps
}

// WhyCode says why a session gets no more in a slot.
type WhyCode uint8

// Reasons, see [Why].
const (
	// WhyMax: the session gets its maximum current.
	WhyMax WhyCode = iota
	// WhyDeparted: the car has left (or the slot is after departure).
	WhyDeparted
	// WhyNodeLimit: a node's limit (Why.Node, Why.Phase; phase 0 means
	// the power limit) is full in this slot.
	WhyNodeLimit
	// WhyPrice: there was room, but the plan meets the need in cheaper
	// (or, on equal price, earlier) slots.
	WhyPrice
	// WhyMinCurrent: the room or the share left was below the minimum
	// current, so the slot was set to 0.
	WhyMinCurrent
	// WhyProfile: the charger's period limit or the rounding step cost
	// the difference.
	WhyProfile
	// WhyInfeasible: the other load alone breaks a limit above the
	// session in this slot.
	WhyInfeasible
	// WhyNeedMet: there was room, but the need is met before this slot
	// (or, for a session without needs, at all: it charges as early as it
	// can, so it is done).
	WhyNeedMet
)

func (c WhyCode) String() string {
	switch c {
	case WhyMax:
		return "max-current"
	case WhyDeparted:
		return "departed"
	case WhyNodeLimit:
		return "node-limit"
	case WhyPrice:
		return "price"
	case WhyMinCurrent:
		return "min-current"
	case WhyProfile:
		return "profile"
	case WhyInfeasible:
		return "infeasible"
	case WhyNeedMet:
		return "need-met"
	}
	return fmt.Sprintf("WhyCode(%d)", uint8(c))
}

// Why explains one slot of a session.
type Why struct {
	Code WhyCode
	// Node is the index of the limiting node (WhyNodeLimit, WhyInfeasible),
	// -1 otherwise; NodeID its ID.
	Node   int
	NodeID string
	Phase  scheduler.Phase
}

func (w Why) String() string {
	if w.Node < 0 {
		return w.Code.String()
	}
	if w.Phase == 0 {
		return fmt.Sprintf("%v at %s (power)", w.Code, w.NodeID)
	}
	return fmt.Sprintf("%v at %s %v", w.Code, w.NodeID, w.Phase)
}
