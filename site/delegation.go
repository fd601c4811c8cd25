package site

import (
	"context"
	"errors"
	"time"
)

// This file holds the contracts of delegated control: a site whose
// chargers stay connected to another central system (a CSMS) that reports
// what they do and carries smartcharge's commands to them. The delegation
// hub (package delegate) turns [ChargerControl] calls into
// [DelegatedCommand]s kept in a per-site outbox ([OutboxStore]); the gRPC
// layer streams them to the CSMS and hands its [DelegatedAck]s back.

// DelegatedCommandKind says which [ChargerControl] call a
// [DelegatedCommand] carries.
type DelegatedCommandKind int

// Kinds of delegated commands.
const (
	DelegatedSetLimit DelegatedCommandKind = iota + 1
	DelegatedClearLimit
	DelegatedTrigger
	DelegatedCompositeSchedule
)

func (k DelegatedCommandKind) String() string {
	switch k {
	case DelegatedSetLimit:
		return "set-limit"
	case DelegatedClearLimit:
		return "clear-limit"
	case DelegatedTrigger:
		return "trigger"
	case DelegatedCompositeSchedule:
		return "composite-schedule"
	}
	return "unknown"
}

// DelegatedCommand is one command for a delegated charger. Exactly the
// field of its Kind is set.
type DelegatedCommand struct {
	// Seq orders the commands of one site; it starts at 1 and only grows
	// (also across restarts). The outbox assigns it.
	Seq     uint64
	Ref     ChargerRef
	Kind    DelegatedCommandKind
	Created time.Time

	SetLimit          *LimitRequest     `json:",omitempty"`
	ClearLimit        *ClearRequest     `json:",omitempty"`
	Trigger           *TriggerRequest   `json:",omitempty"`
	CompositeSchedule *CompositeRequest `json:",omitempty"`
}

// TriggerRequest asks a charger to send a message (TriggerMessage).
type TriggerRequest struct {
	EVSE int
	What TriggerKind
}

// CompositeRequest asks a charger for its composite schedule
// (GetCompositeSchedule).
type CompositeRequest struct {
	EVSE     int
	Duration time.Duration
	// Unit is 0 when the charger may choose.
	Unit RateUnit
}

// DelegatedAck is a CSMS's answer to one [DelegatedCommand].
type DelegatedAck struct {
	Seq uint64
	// Status is the charger's answer; 0 when the CSMS got none
	// (TimedOut) or could not send the command (Offline).
	Status CommandStatus
	// TimedOut: the CSMS sent the command and the charger did not answer
	// in time; it may still apply it.
	TimedOut bool
	// Offline: the CSMS did not send the command, the charger is not
	// connected to it. The command was not applied.
	Offline bool
	Detail  string
	// Schedule answers an accepted CompositeSchedule command.
	Schedule *Schedule
}

// Validate checks an ack as a CSMS sent it.
func (a DelegatedAck) Validate() error {
	var e ValidationError
	if a.Seq == 0 {
		e.Add("seq", "must be the seq of a command (from 1)")
	}
	n := 0
	if a.Status != 0 {
		n++
		if a.Status < CommandAccepted || a.Status > CommandNotSupported {
			e.Add("status", "unknown status %d", int(a.Status))
		}
	}
	if a.TimedOut {
		n++
	}
	if a.Offline {
		n++
	}
	if n != 1 {
		e.Add("status", "exactly one of accepted, rejected, not supported, timed out or offline")
	}
	if a.Schedule != nil && a.Status != CommandAccepted {
		e.Add("composite_schedule", "only with status accepted")
	}
	return e.Err()
}

// OutboxStore keeps each delegated site's commands until the CSMS
// acknowledges them, so a CSMS that reconnects (or a restarted daemon)
// sends every unacknowledged command again, in order, and no acknowledged
// one twice. Implementations are safe for concurrent use.
//
// Errors: ErrUnavailable (retryable), wrapped with context; a Validate
// error of the command as it is.
type OutboxStore interface {
	// Enqueue stores cmd with the site's next Seq and returns it with Seq
	// set. Seqs are assigned and stored atomically: once a command with
	// Seq n can be read, every command below n of the site can too (or
	// has been acknowledged).
	Enqueue(ctx context.Context, siteID string, cmd DelegatedCommand) (DelegatedCommand, error)
	// Pending returns, in order of Seq, at most limit unacknowledged
	// commands of the site with a Seq above after. Values are owned by the
	// caller.
	Pending(ctx context.Context, siteID string, after uint64, limit int) ([]DelegatedCommand, error)
	// Acknowledge removes the command with seq; found is false when it
	// was not pending (acknowledged before, or never enqueued).
	Acknowledge(ctx context.Context, siteID string, seq uint64) (found bool, err error)
	// LastSeq is the highest Seq the site has handed out (0: none).
	LastSeq(ctx context.Context, siteID string) (uint64, error)
}

// ErrSuperseded: a newer command stream of the same site took over; the
// older one ends with it.
var ErrSuperseded = errors.New("site: superseded by a newer command stream")
