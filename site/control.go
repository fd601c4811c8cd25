package site

import (
	"context"
	"errors"
	"time"
)

// Event is something a charger reported, in version-neutral form. The OCPP
// adapter produces them; the control loop consumes them. Concrete types:
// ChargerConnected, ChargerDisconnected, ChargerBooted, EVSEStatusChanged,
// TransactionStarted, TransactionUpdated, TransactionStopped, MeterSampled,
// ChargingNeedsReported, ExternalLimitReported.
type Event interface {
	// Charger is the charger the event is about.
	Charger() ChargerRef
	// At is when it happened (the charger's timestamp if it gave one).
	At() time.Time
}

// EventHeader is embedded in every event.
type EventHeader struct {
	Ref  ChargerRef
	Time time.Time
}

// Charger returns the charger the event is about.
func (h EventHeader) Charger() ChargerRef { return h.Ref }

// At returns when the event happened.
func (h EventHeader) At() time.Time { return h.Time }

// ChargerConnected: a charger opened its WebSocket connection.
type ChargerConnected struct {
	EventHeader
	Protocol string
}

// ChargerDisconnected: the connection is gone.
type ChargerDisconnected struct{ EventHeader }

// ChargerBooted: BootNotification accepted; Capabilities may be filled later
// by a ChargerCapabilities event.
type ChargerBooted struct {
	EventHeader
	Boot BootInfo
}

// ChargerCapabilitiesRead: the adapter read the charger's smart-charging
// capabilities after boot.
type ChargerCapabilitiesRead struct {
	EventHeader
	Capabilities Capabilities
}

// EVSEStatusChanged: an EVSE's status changed.
type EVSEStatusChanged struct {
	EventHeader
	EVSE   int
	Status EVSEStatus
}

// TransactionStarted: a charging session began.
type TransactionStarted struct {
	EventHeader
	Transaction Transaction
}

// TransactionUpdated: a running session reported progress.
type TransactionUpdated struct {
	EventHeader
	Transaction Transaction
}

// TransactionStopped: a session ended.
type TransactionStopped struct {
	EventHeader
	Transaction Transaction
	Reason      string
}

// MeterSampled: a meter value; EVSE 0 is the charger's main meter.
type MeterSampled struct {
	EventHeader
	EVSE          int
	TransactionID string
	Sample        MeterSample
}

// ChargingNeedsReported: the car (ISO 15118) said what it needs.
type ChargingNeedsReported struct {
	EventHeader
	EVSE  int
	Needs ChargingNeeds
}

// ExternalLimitReported: a limit set on the charger by someone else (OCPP
// 2.0.1 NotifyChargingLimit, ChargingStationExternalConstraints). A zero
// Limit with Cleared true means the limit was lifted.
type ExternalLimitReported struct {
	EventHeader
	EVSE    int
	Source  string
	Limit   Amps
	Power   Watts
	Cleared bool
}

// EventSink receives events. Publish must not block for long; a sink that
// cannot keep up coalesces (the loop recomputes from state, not from the
// event stream).
type EventSink interface {
	Publish(Event)
}

// ProfilePurpose is what a limit applies to.
type ProfilePurpose int

// Purposes, as in OCPP.
const (
	// PurposeStationMax limits the whole charger (ChargePointMaxProfile /
	// ChargingStationMaxProfile).
	PurposeStationMax ProfilePurpose = 1
	// PurposeTxDefault limits any transaction on the EVSE (or the
	// charger with EVSE 0), also ones yet to start.
	PurposeTxDefault ProfilePurpose = 2
	// PurposeTx limits one running transaction.
	PurposeTx ProfilePurpose = 3
)

// Period is one step of a schedule.
type Period struct {
	// Offset from the schedule's start.
	Offset time.Duration
	// Limit in the request's Unit (A per phase, or W in total).
	Limit float64
	// Phases the car may use in this period; 0 means as the charger sees fit.
	Phases int
}

// LimitRequest asks a charger to apply a limit.
type LimitRequest struct {
	// EVSE 0 means the whole charger.
	EVSE          int
	Purpose       ProfilePurpose
	TransactionID string // for PurposeTx
	ProfileID     int
	StackLevel    int
	Unit          RateUnit
	// Start is the absolute start of the schedule; zero means now
	// (a relative schedule).
	Start time.Time
	// Duration of the schedule; 0 means open-ended.
	Duration time.Duration
	Periods  []Period
}

// CommandStatus is a charger's answer to a command.
type CommandStatus int

// Answers.
const (
	CommandAccepted CommandStatus = iota + 1
	CommandRejected
	CommandNotSupported // the charger does not know the message (NotImplemented/NotSupported)
)

func (s CommandStatus) String() string {
	switch s {
	case CommandAccepted:
		return "accepted"
	case CommandRejected:
		return "rejected"
	case CommandNotSupported:
		return "not-supported"
	}
	return "unknown"
}

// CommandResult is a charger's answer.
type CommandResult struct {
	Status CommandStatus
	// Detail is the charger's reason, if it gave one.
	Detail string
}

// ClearRequest asks a charger to remove profiles; zero fields match any.
type ClearRequest struct {
	ProfileID  int
	EVSE       int
	Purpose    ProfilePurpose
	StackLevel int
}

// Schedule is a composite schedule read back from a charger.
type Schedule struct {
	EVSE    int
	Start   time.Time
	Unit    RateUnit
	Periods []Period
}

// TriggerKind names a message a charger can be asked to send.
type TriggerKind int

// Triggerable messages.
const (
	TriggerStatus TriggerKind = iota + 1
	TriggerMeterValues
	TriggerBoot
	TriggerHeartbeat
)

// Errors from a ChargerControl.
var (
	// ErrOffline: the charger is not connected.
	ErrOffline = errors.New("site: charger offline")
	// ErrTimeout: the charger did not answer in time; it may still apply
	// the command, so count it at the higher of old and new limit.
	ErrTimeout = errors.New("site: charger did not answer in time")
)

// ChargerControl sends commands to chargers. The OCPP adapter implements
// it; the control loop uses it. Each call blocks until the charger answers,
// ctx ends or the adapter's timeout passes (ErrTimeout).
type ChargerControl interface {
	SetLimit(ctx context.Context, ref ChargerRef, req LimitRequest) (CommandResult, error)
	ClearLimit(ctx context.Context, ref ChargerRef, req ClearRequest) (CommandResult, error)
	CompositeSchedule(ctx context.Context, ref ChargerRef, evse int, d time.Duration, unit RateUnit) (Schedule, error)
	Trigger(ctx context.Context, ref ChargerRef, evse int, what TriggerKind) (CommandResult, error)
}
