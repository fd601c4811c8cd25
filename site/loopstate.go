package site

import (
	"context"
	"time"
)

// This file holds the control loop's persisted state: per charger in
// [ChargerState.Loop], per site in [LoopState] behind a [LoopStateStore].
// Everything is JSON-friendly (plain fields, no interfaces) so stores keep
// it as encoding/json; new fields must be additive.

// ProfileRecord is one charging profile the loop sent to an EVSE, as sent.
type ProfileRecord struct {
	// Seq orders the loop's commands to one charger; a later accepted
	// command supersedes every earlier one of the same purpose.
	Seq int64
	// Limit is the current per phase the profile allows, in amperes, also
	// when it was sent in watts (then Value is in W).
	Limit      Amps
	Unit       RateUnit
	Value      float64
	Phases     int // phases used to convert W to A; 0 for A profiles
	Purpose    ProfilePurpose
	StackLevel int
	ProfileID  int
	// TransactionID is set for PurposeTx.
	TransactionID string `json:",omitempty"`
	// Sent is when it was sent; Answered when the charger accepted it
	// (zero while pending).
	Sent     time.Time
	Answered time.Time `json:",omitzero"`
	// Expires is when the charger drops it on its own (the lease); zero
	// for profiles without a duration (the fallback).
	Expires time.Time `json:",omitzero"`
	// TimedOut is set on a pending record whose charger did not answer in
	// time: it may still have applied it.
	TimedOut bool `json:",omitempty"`
}

// ProfileSlot is what the loop knows of one kind of profile on one EVSE:
// the one the charger accepted last and those sent and not yet answered.
type ProfileSlot struct {
	Accepted *ProfileRecord  `json:",omitempty"`
	Pending  []ProfileRecord `json:",omitempty"`
}

// EVSELoopState is the loop's state of one EVSE.
type EVSELoopState struct {
	// Fallback is the default profile (PurposeTxDefault, lowest stack
	// level, no duration) the EVSE applies when it loses the loop.
	Fallback ProfileSlot
	// TxDefault and Tx are the dynamic profiles (higher stack level, with
	// a lease).
	TxDefault ProfileSlot
	Tx        ProfileSlot
	// Target is the limit the scheduler gave last time, in A per phase.
	Target Amps
	// Since is when Target last went from 0 to above 0 or back.
	Since time.Time `json:",omitzero"`
	// LastChange is when a change of limit was last sent (rate limit).
	LastChange time.Time `json:",omitzero"`
	// CarPhases is the set of the charger's own phases the car draws on,
	// learnt from meter values (bit i for phase L(i+1)); 0 if unknown.
	CarPhases uint8 `json:",omitempty"`
	// CarPhasesTx is the transaction CarPhases were learnt in.
	CarPhasesTx string `json:",omitempty"`
	// Resume is the step of the resume sequence for a car that stays in
	// SuspendedEVSE after a raise (0: none running); ResumeFailed is set
	// when every step failed.
	Resume       int  `json:",omitempty"`
	ResumeFailed bool `json:",omitempty"`
}

// ChargerLoopState is the loop's state of one charger, kept in
// [ChargerState.Loop].
type ChargerLoopState struct {
	// EVSEs by EVSE id.
	EVSEs map[int]*EVSELoopState `json:",omitempty"`
	// NextSeq is the Seq of the next command.
	NextSeq int64
	// NonCompliant is set when the charger refuses every form of profile or
	// draws above its limit; it is then counted at its maximum.
	NonCompliant       bool      `json:",omitempty"`
	NonCompliantReason string    `json:",omitempty"`
	NonCompliantSince  time.Time `json:",omitzero"`
	// External are the limits others set on the charger as last reported
	// (ExternalSchedulesReported), kept so that a restarted loop keeps
	// them until they are reported again; ordered by Source, then EVSE.
	External []ExternalRecord `json:",omitempty"`
}

// ExternalRecord is what one source last reported for one EVSE (0: the
// charger).
type ExternalRecord struct {
	Source    string
	EVSE      int
	Schedules []ExternalSchedule
}

// ModelQuirks is what the loop learnt about one charger model (vendor and
// model from [BootInfo]); it applies to every charger of that model.
type ModelQuirks struct {
	// TxDefaultNextTxOnly: a TxDefault profile does not change a running
	// transaction, only the next one.
	TxDefaultNextTxOnly bool `json:",omitempty"`
	// IgnoresStationMax: a StationMax profile is accepted but not applied.
	IgnoresStationMax bool `json:",omitempty"`
	// AnswersWatts: composite schedules come back in W when asked in A.
	AnswersWatts bool `json:",omitempty"`
	// NoResumeFromSuspendedEVSE: a car paused by 0 A does not start again
	// on a raise alone; it needs 0 then the limit.
	NoResumeFromSuspendedEVSE bool `json:",omitempty"`
	// Unit, StackLevel and TxForm are the form of dynamic profile the
	// model accepted last (0: not learnt).
	Unit       RateUnit `json:",omitempty"`
	StackLevel int      `json:",omitempty"`
	// Rejected counts refused forms, for display.
	Rejected int `json:",omitempty"`
	// UpdateTime is when it was last learnt.
	UpdateTime time.Time `json:",omitzero"`
}

// ModelKey is the key of a model in [LoopState.Quirks]: "vendor/model".
func ModelKey(b BootInfo) string { return b.Vendor + "/" + b.Model }

// MeterReading is a reading of a site or circuit meter, reported by an EMS.
type MeterReading struct {
	// Node is the circuit ID, or "" for the grid connection.
	Node string
	Time time.Time
	// Current per grid phase (import positive, export negative).
	Current PhaseCurrents
}

// Validate checks a reading.
func (m MeterReading) Validate() error {
	var e ValidationError
	if m.Node != "" && !ValidResourceID(m.Node) {
		e.Add("node", "must be \"\" (grid connection) or a circuit ID")
	}
	if m.Time.IsZero() {
		e.Add("time", "must be set")
	}
	for i, a := range m.Current {
		if a != a || a > MaxPhaseCurrent || a < -MaxPhaseCurrent {
			e.Add([3]string{"current.l1", "current.l2", "current.l3"}[i], "must be a finite current")
		}
	}
	return e.Err()
}

// EVSEKey names one EVSE of a site: "<charger>/<evse>".
func EVSEKey(chargerID string, evse int) string {
	return chargerID + "/" + itoa(evse)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// LoopState is the control loop's state of one site.
type LoopState struct {
	// Allocation is the last decision, with its reasons.
	Allocation *AllocationView `json:",omitempty"`
	// Meters are the EMS readings by node ("" for the grid connection).
	Meters map[string]MeterReading `json:",omitempty"`
	// Quirks by [ModelKey].
	Quirks map[string]ModelQuirks `json:",omitempty"`
	// Priorities and Needs set through the API, by [EVSEKey].
	Priorities map[string]float64       `json:",omitempty"`
	Needs      map[string]ChargingNeeds `json:",omitempty"`
	UpdateTime time.Time                `json:",omitzero"`
}

// LoopStateStore keeps the control loop's per-site state. Implementations
// are safe for concurrent use; UpdateLoopState is atomic. Values returned
// are owned by the caller. A site never written has the zero LoopState
// (not ErrNotFound). Errors: ErrUnavailable (retryable), ErrConflict after
// repeated lost races, and fn's own error as it is.
type LoopStateStore interface {
	LoopState(ctx context.Context, siteID string) (LoopState, error)
	UpdateLoopState(ctx context.Context, siteID string, fn func(*LoopState) error) (LoopState, error)
}
