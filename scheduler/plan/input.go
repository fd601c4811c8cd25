package plan

import (
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// Money is an amount in the currency of the prices (e.g. EUR).
type Money float64

// PricePerKWh is a price of energy in money per kWh.
type PricePerKWh float64

// GramsPerKWh is a CO2 intensity in grams per kWh.
type GramsPerKWh float64

// Grams is a mass of CO2 in grams.
type Grams float64

// Input is everything [Plan] needs. Slot k covers
// [Start + k·Slot, Start + (k+1)·Slot); every per-slot series (other load,
// prices, CO2) is indexed by slot and must have exactly [Input.Slots]
// entries, or none.
type Input struct {
	// Start is the beginning of slot 0, usually "now" or the slot boundary
	// before it. The planner reads no clock.
	Start time.Time
	// From is when the plan takes effect, in slot 0 (Start <= From <
	// Start + Slot); zero means Start. With Start on a slot boundary before
	// "now" and From "now", slots stay on the clock (15-minute slots at
	// :00, :15, :30, :45) while slot 0 counts only from From: its energy
	// (and so its cost) and its PV surplus are scaled by the part of the
	// slot left. Its limits, forecasts and prices are those of the whole
	// slot (windows that overlap it at all apply).
	From time.Time
	// Slot is the slot length: 5 to 60 minutes; 0 means 15 minutes.
	Slot time.Duration
	// Horizon is how far the plan looks ahead: at most 48 h and at least
	// one slot; 0 means 24 h. It is rounded up to whole slots.
	Horizon time.Duration
	// Config tunes the planner; nil means [DefaultConfig].
	Config *Config
	// NominalVoltage (phase to neutral) turns currents into power and
	// energy; it must be positive.
	NominalVoltage scheduler.Volts
	// Nodes is the site tree as in [scheduler.Input]: Nodes[0] is the grid
	// connection (Parent -1), parents come before children.
	Nodes []Node
	// Sessions are the cars to plan for.
	Sessions []Session
	// Price is the import price per slot; empty means 0 (then CO2, then
	// time decides).
	Price []PricePerKWh
	// ExportPrice is what feeding a kWh into the grid earns per slot; empty
	// means 0. Charging from PV surplus (negative other load at Nodes[0])
	// costs the export price forgone instead of the import price.
	ExportPrice []PricePerKWh
	// CO2 is the grid's CO2 intensity per slot; empty means unknown. It
	// breaks ties between equal prices (PV surplus counts as 0 g).
	CO2 []GramsPerKWh
}

// Node is the grid connection, a circuit or a charger.
type Node struct {
	ID string
	// Parent is the index in Input.Nodes of the parent, -1 for Nodes[0].
	Parent int
	// Limit is the limit per grid phase outside any window;
	// [scheduler.Unlimited] for none. The zero value is 0 A.
	Limit scheduler.PhaseCurrents
	// PowerLimit is a limit on the total power through the node; 0: none.
	PowerLimit scheduler.Watts
	// Windows lower the limit for a while (grid-operator windows, owner
	// schedules, a capacity charge). A slot that a window overlaps at all
	// takes the window's limit for the whole slot.
	Windows []Window
	// OtherLoad is the forecast of the load through the node that is not
	// a planned session, per slot and grid phase (negative with PV); it
	// includes the other load of the node's children. Empty means 0;
	// otherwise it has exactly Input.Slots entries.
	OtherLoad []scheduler.PhaseCurrents
}

// Window is a lower limit on a node between From and To.
type Window struct {
	From, To time.Time
	// Limit per grid phase; [scheduler.Unlimited] on phases it does not
	// limit.
	Limit scheduler.PhaseCurrents
	// PowerLimit in W; 0 means none.
	PowerLimit scheduler.Watts
	// Source names who set it, for explanations (e.g. "dso", "owner").
	Source string
}

// RateUnit is the unit a charger accepts in a charging profile.
type RateUnit uint8

// Rate units. The zero value is amperes.
const (
	UnitAmps RateUnit = iota
	UnitWatts
)

func (u RateUnit) String() string {
	if u == UnitWatts {
		return "W"
	}
	return "A"
}

// Session is a car plugged in (or expected) at an EVSE.
type Session struct {
	// ID is unique among Input.Sessions; it breaks ties.
	ID string
	// Node is the index in Input.Nodes of the node the EVSE hangs on.
	Node int
	// Rotation maps the charger's phases to grid phases.
	Rotation scheduler.Rotation
	// Phases is the set of charger phases the car draws on; 0 means all
	// three.
	Phases scheduler.PhaseSet
	// MinCurrent is the lowest current per phase the car charges at; 0
	// means Config.DefaultMin. A slot's limit is 0 or at least this.
	MinCurrent scheduler.Amps
	// MaxCurrent is the most the EVSE and car take per phase; positive.
	MaxCurrent scheduler.Amps
	// Priority weighs the fraction of need met when not every need can
	// be met; 0 means 1.
	Priority float64
	// EnergyNeeded is what the car still needs. When 0, the need is
	// worked out from SoC, TargetSoC and BatteryCapacity if those are
	// set; otherwise the session has no needs (see Config.DefaultEnergy).
	EnergyNeeded scheduler.WattHours
	// SoC and TargetSoC are states of charge in percent (0..100);
	// TargetSoC 0 means 100.
	SoC, TargetSoC  float64
	BatteryCapacity scheduler.WattHours
	// Departure is when the car leaves. Zero means unknown: the end of
	// the horizon for a session with needs, Start + Config.DefaultStay
	// for one without.
	Departure time.Time
	// MaxPeriods is the most periods the charger accepts in one profile
	// (OCPP ChargingScheduleMaxPeriods); 0 means no limit.
	MaxPeriods int
	// Unit is the rate unit the charger accepts.
	Unit RateUnit
}

// Config tunes the planner. Start from [DefaultConfig].
type Config struct {
	// SafetyMargin is kept free on every phase limit of every node (three
	// times on power limits), as in the real-time scheduler.
	SafetyMargin scheduler.Amps
	// Step is the resolution of current limits; planned currents are
	// rounded down to it.
	Step scheduler.Amps
	// DefaultMin is the minimum current of a session that names none.
	DefaultMin scheduler.Amps
	// DefaultEnergy is the need of a session without needs (no energy,
	// no SoC). Such sessions are charged as in real time: as early as
	// possible, whatever the price.
	DefaultEnergy scheduler.WattHours
	// DefaultStay is how long a session without a departure and without
	// needs stays; 0 means to the end of the horizon.
	DefaultStay time.Duration
	// Rounds is the number of levels the fair sharing rises through when
	// not every need can be met; more is closer to exact and slower.
	Rounds int
}

// DefaultConfig returns the defaults: 0.5 A margin, 0.1 A step, 6 A
// minimum (IEC 61851), 20 kWh for sessions without needs staying to the
// end of the horizon, 64 rounds.
func DefaultConfig() Config {
	return Config{
		SafetyMargin:  0.5,
		Step:          0.1,
		DefaultMin:    6,
		DefaultEnergy: 20000,
		Rounds:        64,
	}
}

func (in *Input) config() Config {
	if in.Config == nil {
		return DefaultConfig()
	}
	return *in.Config
}

// SlotLen is the slot length in force (Slot, or 15 minutes).
func (in *Input) SlotLen() time.Duration {
	if in.Slot == 0 {
		return 15 * time.Minute
	}
	return in.Slot
}

// FirstFraction is the part of slot 0 the plan covers: 1 without From,
// else (Start + Slot - From) / Slot.
func (in *Input) FirstFraction() float64 {
	if in.From.IsZero() || !in.From.After(in.Start) {
		return 1
	}
	s := in.SlotLen()
	return float64(in.Start.Add(s).Sub(in.From)) / float64(s)
}

// Slots is the number of slots in the horizon.
func (in *Input) Slots() int {
	h := in.Horizon
	if h == 0 {
		h = 24 * time.Hour
	}
	s := in.SlotLen()
	if s <= 0 {
		return 0
	}
	return int((h + s - 1) / s)
}
