package site

import "time"

// EVSEStatus is the state of an EVSE as a charger reports it, without the
// OCPP version's own names.
type EVSEStatus int

// EVSE states.
const (
	StatusUnknown       EVSEStatus = iota
	StatusAvailable                // no car
	StatusOccupied                 // car plugged in, not yet charging (Preparing)
	StatusCharging                 // car draws current
	StatusSuspendedEV              // the car does not take current (full, paused by the car)
	StatusSuspendedEVSE            // the charger holds the car (limit 0, not authorised)
	StatusFinishing
	StatusReserved
	StatusUnavailable
	StatusFaulted
)

var evseStatusNames = [...]string{"unknown", "available", "occupied", "charging", "suspended-ev", "suspended-evse", "finishing", "reserved", "unavailable", "faulted"}

func (s EVSEStatus) String() string {
	if s >= 0 && int(s) < len(evseStatusNames) {
		return evseStatusNames[s]
	}
	return "unknown"
}

// BootInfo is what a charger says of itself when it boots.
type BootInfo struct {
	Vendor          string
	Model           string
	SerialNumber    string
	FirmwareVersion string
}

// RateUnit is the unit a charging profile's limits are given in.
type RateUnit int

// Rate units.
const (
	UnitAmps  RateUnit = 1
	UnitWatts RateUnit = 2
)

func (u RateUnit) String() string {
	switch u {
	case UnitAmps:
		return "A"
	case UnitWatts:
		return "W"
	}
	return "?"
}

// Capabilities is what a charger can do for smart charging, read after boot.
type Capabilities struct {
	// MaxStackLevel is the highest stack level it accepts.
	MaxStackLevel int
	// MaxPeriods is the most periods one schedule may have.
	MaxPeriods int
	// RateUnits it accepts; empty means unknown (try amperes).
	RateUnits []RateUnit
	// MaxProfiles is how many profiles it can hold installed.
	MaxProfiles int
	// PhaseRotation as the charger reports it (zero if not reported).
	PhaseRotation PhaseRotation
	// CanSwitchPhases reports 1/3-phase switching support.
	CanSwitchPhases bool
}

// Transaction is a charging session as the charger reports it.
type Transaction struct {
	// ID is the transaction id (1.6: the integer the service assigned,
	// written in decimal; 2.0.1: the charger's string).
	ID         string
	EVSE       int
	IDTag      string
	Start      time.Time
	MeterStart WattHours
	// Energy delivered so far in this transaction.
	Energy WattHours
}

// EVSEState is the live state of one EVSE.
type EVSEState struct {
	Status      EVSEStatus
	StatusTime  time.Time
	Transaction *Transaction
	// LastSample is the newest meter sample for the EVSE.
	LastSample *MeterSample
}

// ChargerState is the live state of one charger.
type ChargerState struct {
	Connected bool
	// Protocol is the negotiated OCPP subprotocol, for display only.
	Protocol     string
	LastSeen     time.Time
	LastBoot     time.Time
	Boot         BootInfo
	Capabilities Capabilities
	// EVSEs by EVSE id (0 is the charger as a whole).
	EVSEs map[int]EVSEState
	// NextTransactionID is the last integer transaction id handed out to
	// this charger (OCPP 1.6 StartTransaction).
	NextTransactionID int64
	// Loop is the control loop's state of the charger (profiles sent and
	// accepted, learnt car phases, compliance); nil until the loop manages
	// it. Only the loop writes it; see loopstate.go.
	Loop *ChargerLoopState `json:",omitempty"`
}

// MeterSample is one reading of a meter. Fields not reported are nil.
type MeterSample struct {
	Time time.Time
	// Current per charger phase (the charger's own L1, L2, L3).
	Current *[3]Amps
	// Power is the total active power imported.
	Power *Watts
	// Energy is the active energy import register.
	Energy *WattHours
	// SoC is the car's state of charge in percent.
	SoC *float64
}

// ChargingNeeds is what a car (ISO 15118) or a user says it needs.
type ChargingNeeds struct {
	Energy     WattHours // 0 if unknown
	Departure  time.Time // zero if unknown
	MaxCurrent Amps      // 0 if unknown
	MinCurrent Amps      // 0 if unknown
}
