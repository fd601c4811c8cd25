package site

import (
	"context"
	"fmt"
	"time"
)

// ControlRouter is a [ChargerControl] that sends each command to the
// ChargerControl Route picks for the charger, so one control loop drives
// chargers connected over OCPP and chargers of delegated sites alike. A
// nil Route or a nil pick answers ErrOffline.
//
//	router := &site.ControlRouter{Route: func(ref site.ChargerRef) site.ChargerControl {
//		if hub.Owns(ref) {
//			return hub
//		}
//		return ocppServer
//	}}
type ControlRouter struct {
	Route func(ChargerRef) ChargerControl
}

var _ ChargerControl = (*ControlRouter)(nil)

func (r *ControlRouter) pick(ref ChargerRef) (ChargerControl, error) {
	if r == nil || r.Route == nil {
		return nil, fmt.Errorf("%s: no control routes to it: %w", ref, ErrOffline)
	}
	c := r.Route(ref)
	if c == nil {
		return nil, fmt.Errorf("%s: no control routes to it: %w", ref, ErrOffline)
	}
	return c, nil
}

// SetLimit sends req through the charger's control.
func (r *ControlRouter) SetLimit(ctx context.Context, ref ChargerRef, req LimitRequest) (CommandResult, error) {
	c, err := r.pick(ref)
	if err != nil {
		return CommandResult{}, err
	}
	return c.SetLimit(ctx, ref, req)
}

// ClearLimit sends req through the charger's control.
func (r *ControlRouter) ClearLimit(ctx context.Context, ref ChargerRef, req ClearRequest) (CommandResult, error) {
	c, err := r.pick(ref)
	if err != nil {
		return CommandResult{}, err
	}
	return c.ClearLimit(ctx, ref, req)
}

// CompositeSchedule asks through the charger's control.
func (r *ControlRouter) CompositeSchedule(ctx context.Context, ref ChargerRef, evse int, d time.Duration, unit RateUnit) (Schedule, error) {
	c, err := r.pick(ref)
	if err != nil {
		return Schedule{}, err
	}
	return c.CompositeSchedule(ctx, ref, evse, d, unit)
}

// Trigger asks through the charger's control.
func (r *ControlRouter) Trigger(ctx context.Context, ref ChargerRef, evse int, what TriggerKind) (CommandResult, error) {
	c, err := r.pick(ref)
	if err != nil {
		return CommandResult{}, err
	}
	return c.Trigger(ctx, ref, evse, what)
}
