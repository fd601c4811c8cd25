package site

import "time"

// Site is one place with one grid connection: a depot, a car park, an office.
// Its ID is the {site} segment of the resource name "sites/{site}".
type Site struct {
	ID          string
	DisplayName string
	// TimeZone is an IANA name such as "Europe/Berlin".
	TimeZone string
	// NominalVoltage is the phase-to-neutral voltage, used to turn currents
	// into power (230 V in Europe).
	NominalVoltage Volts
	// GridLimit is the grid connection's hard limit per phase.
	GridLimit PhaseCurrents
	// GridPowerLimit is an optional limit on the total active power drawn
	// from the grid; 0 means none.
	GridPowerLimit Watts
	// Generation counts changes to this resource; it is the etag.
	Generation int64
	CreateTime time.Time
	UpdateTime time.Time
}

// Circuit is a sub-distribution board or fuse in the site's circuit tree.
// A circuit with no Parent hangs directly on the grid connection.
type Circuit struct {
	SiteID      string
	ID          string
	DisplayName string
	// Parent is the ID of the parent circuit, or "" for the grid connection.
	Parent string
	// Limit is the circuit's current limit per phase (its fuse).
	Limit PhaseCurrents
	// PowerLimit is an optional power limit; 0 means none.
	PowerLimit Watts
	// Oversubscribed allows Limit to exceed the parent's limit on some
	// phase: the scheduler then keeps the parent's limit.
	Oversubscribed bool
	Generation     int64
	CreateTime     time.Time
	UpdateTime     time.Time
}

// Charger is a charging station with one or more EVSEs.
type Charger struct {
	SiteID      string
	ID          string
	DisplayName string
	// OCPPIdentity is the identity the charger presents in its WebSocket
	// URL. It is unique across all sites.
	OCPPIdentity string
	// Circuit is the ID of the circuit it hangs on, or "" for the grid
	// connection itself.
	Circuit string
	// PhaseRotation says which grid phase feeds each of its phases.
	PhaseRotation PhaseRotation
	// EVSEs are numbered from 1 in order.
	EVSEs []EVSE
	// PasswordHash is the hash of the charger's HTTP Basic password for
	// OCPP security profiles 1 and 2 ("" if none is set); never the password.
	PasswordHash string
	Generation   int64
	CreateTime   time.Time
	UpdateTime   time.Time
}

// EVSE is one charging point of a charger (OCPP 1.6 calls it a connector).
type EVSE struct {
	// ID is the OCPP evseId / connectorId, from 1.
	ID int
	// MaxCurrent is the most the EVSE can give per phase.
	MaxCurrent Amps
	// MinCurrent is the least a car can charge with; 0 means the IEC 61851
	// default of 6 A.
	MinCurrent Amps
	// Phases is 1 or 3: how many phases the EVSE is wired with.
	Phases int
	// CanSwitchPhases reports whether the EVSE can switch a car between one
	// and three phases.
	CanSwitchPhases bool
}

// DefaultMinCurrent is the lowest current a car charges with per IEC 61851.
const DefaultMinCurrent Amps = 6

// EffectiveMinCurrent returns MinCurrent, or the IEC 61851 default.
func (e EVSE) EffectiveMinCurrent() Amps {
	if e.MinCurrent > 0 {
		return e.MinCurrent
	}
	return DefaultMinCurrent
}

// LimitSource says who set a grid limit.
type LimitSource int

// Sources of grid limits, from the least to the most authoritative.
const (
	SourceUnspecified  LimitSource = iota
	SourceOwner                    // the site owner
	SourceEMS                      // an energy management system
	SourceGridOperator             // the distribution system operator
	SourceConnection               // the grid connection itself (Site.GridLimit)
)

func (s LimitSource) String() string {
	switch s {
	case SourceOwner:
		return "owner"
	case SourceEMS:
		return "ems"
	case SourceGridOperator:
		return "grid-operator"
	case SourceConnection:
		return "connection"
	}
	return "unspecified"
}

// GridLimit is a limit set on the grid connection from outside, in force
// from Start (zero: always) until End (zero: open-ended).
type GridLimit struct {
	SiteID     string
	ID         string
	Source     LimitSource
	Limit      PhaseCurrents
	PowerLimit Watts // 0 means no power limit
	Start      time.Time
	End        time.Time
	Reason     string
	Generation int64
	CreateTime time.Time
	UpdateTime time.Time
}

// Active reports whether l is in force at t.
func (l GridLimit) Active(t time.Time) bool {
	if !l.Start.IsZero() && t.Before(l.Start) {
		return false
	}
	if !l.End.IsZero() && !t.Before(l.End) {
		return false
	}
	return true
}

// Config is everything configured for one site: the unit the store reads
// and writes atomically.
type Config struct {
	Site     Site
	Circuits []Circuit
	Chargers []Charger
	Limits   []GridLimit
}
