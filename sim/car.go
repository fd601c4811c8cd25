package sim

import (
	"fmt"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Car is an electric vehicle model. Zero fields take the defaults in
// brackets.
type Car struct {
	// BatteryKWh is the usable battery size [60].
	BatteryKWh float64 `yaml:"battery_kwh" json:"battery_kwh"`
	// MaxCurrent is the on-board charger's limit per phase [16 A].
	MaxCurrent site.Amps `yaml:"max_current" json:"max_current"`
	// Phases the on-board charger uses: 1 or 3 [3].
	Phases int `yaml:"phases" json:"phases"`
	// TaperFrom is the state of charge (0..1) above which the car's current
	// falls linearly towards 0 at 100 % [0.8].
	TaperFrom float64 `yaml:"taper_from" json:"taper_from"`
	// TargetSoC is where the car stops charging (SuspendedEV) [1.0].
	TargetSoC float64 `yaml:"target_soc" json:"target_soc"`
	// RampDelay is how long the car takes to start drawing more after the
	// EVSE offers more (IEC 61851 allows a few seconds) [3 s]. Decreases
	// take effect at the next physics step. It runs in real time, not
	// scaled by the speed factor.
	RampDelay Duration `yaml:"ramp_delay" json:"ramp_delay"`
	// MinCurrent is the least offer the car charges with; below it the car
	// pauses (SuspendedEVSE) [6 A].
	MinCurrent site.Amps `yaml:"min_current" json:"min_current"`
}

func (c Car) withDefaults() Car {
	if c.BatteryKWh == 0 {
		c.BatteryKWh = 60
	}
	if c.MaxCurrent == 0 {
		c.MaxCurrent = 16
	}
	if c.Phases == 0 {
		c.Phases = 3
	}
	if c.TaperFrom == 0 {
		c.TaperFrom = 0.8
	}
	if c.TargetSoC == 0 {
		c.TargetSoC = 1
	}
	if c.RampDelay == 0 {
		c.RampDelay = Duration(3 * time.Second)
	}
	if c.MinCurrent == 0 {
		c.MinCurrent = site.DefaultMinCurrent
	}
	return c
}

func (c Car) validate(v *violations, p string, complete bool) {
	if c.BatteryKWh < 0 || c.BatteryKWh > 1000 {
		v.add(p+".battery_kwh", "must be 0..1000")
	}
	if c.MaxCurrent < 0 || c.MaxCurrent > 500 {
		v.add(p+".max_current", "must be 0..500 A")
	}
	if c.Phases != 0 && c.Phases != 1 && c.Phases != 3 {
		v.add(p+".phases", "must be 1 or 3")
	}
	if c.TaperFrom < 0 || c.TaperFrom >= 1 {
		v.add(p+".taper_from", "must be 0..1 (exclusive)")
	}
	if c.TargetSoC < 0 || c.TargetSoC > 1 {
		v.add(p+".target_soc", "must be 0..1")
	}
	if c.RampDelay < 0 || c.RampDelay > Duration(time.Minute) {
		v.add(p+".ramp_delay", "must be 0..1m")
	}
	if c.MinCurrent < 0 || (complete && c.MinCurrent > c.MaxCurrent) {
		v.add(p+".min_current", "must be 0..max_current")
	}
}

// CarState is a plugged-in car's physical state. [CarState.Step] advances
// it; it is a value so table tests can drive it without a clock.
type CarState struct {
	Car Car
	// SoC is the state of charge, 0..1.
	SoC float64
	// Draw is the current per phase the car takes, on Phases phases.
	Draw   site.Amps
	Phases int
	// Energy delivered since plug-in.
	Energy site.WattHours
	// raiseSince is when the car was first offered more than it draws.
	raiseSince time.Time
}

// NewCarState plugs car in with the given state of charge.
func NewCarState(car Car, soc float64) CarState {
	car = car.withDefaults()
	return CarState{Car: car, SoC: min(max(soc, 0), 1), Phases: car.Phases}
}

// StepInput is what the EVSE offers for one physics step.
type StepInput struct {
	// Now is the real (wall) time, used for the ramp delay.
	Now time.Time
	// Dt is the simulated time the step covers (real time times speed).
	Dt time.Duration
	// Offer is the EVSE's current limit per phase (0: none).
	Offer site.Amps
	// Phases the EVSE lets the car use (EVSE wiring, numberPhases).
	Phases  int
	Voltage site.Volts
}

// Want is the current the car would take at its state of charge if
// offered offer: 0 below its minimum or when full, else the smallest of
// the offer, its on-board charger and its taper.
func (s CarState) Want(offer site.Amps) site.Amps {
	c := s.Car
	if offer < c.MinCurrent || s.SoC >= c.TargetSoC {
		return 0
	}
	w := min(offer, c.MaxCurrent)
	if s.SoC > c.TaperFrom {
		taper := c.MaxCurrent * site.Amps((1-s.SoC)/(1-c.TaperFrom))
		w = min(w, max(taper, 1)) // cars keep ~1 A to the end of the taper
	}
	return w
}

// Step advances the car by one physics step: the draw follows the offer
// (down at once, up after the ramp delay), then the battery fills with the
// energy drawn over in.Dt.
func (s CarState) Step(in StepInput) CarState {
	phases := min(s.Car.Phases, max(in.Phases, 1))
	want := s.Want(in.Offer)
	switch {
	case want < s.Draw || phases < s.Phases:
		s.Draw, s.Phases = want, phases
		s.raiseSince = time.Time{}
	case want > s.Draw || phases > s.Phases:
		if s.raiseSince.IsZero() {
			s.raiseSince = in.Now
		}
		if in.Now.Sub(s.raiseSince) >= s.Car.RampDelay.D() {
			s.Draw, s.Phases = want, phases
			s.raiseSince = time.Time{}
		}
	default:
		s.raiseSince = time.Time{}
	}
	if s.Draw > 0 && in.Dt > 0 {
		wh := site.WattHours(float64(s.Draw) * float64(in.Voltage) * float64(s.Phases) * in.Dt.Hours())
		room := site.WattHours((1 - s.SoC) * s.Car.BatteryKWh * 1000)
		wh = min(wh, room)
		s.Energy += wh
		s.SoC = min(1, s.SoC+float64(wh)/(s.Car.BatteryKWh*1000))
	}
	return s
}

// Power is the active power the car takes.
func (s CarState) Power(v site.Volts) site.Watts {
	return site.Watts(float64(s.Draw) * float64(v) * float64(s.Phases))
}

// ChargingState says what an EVSE with this car reports.
func (s CarState) ChargingState(offer site.Amps) ChargingState {
	switch {
	case s.Draw > 0:
		return StateCharging
	case s.SoC >= s.Car.TargetSoC:
		return StateSuspendedEV
	case offer < s.Car.MinCurrent:
		return StateSuspendedEVSE
	}
	return StateCharging // ramping up
}

// ChargingState is the state of an EVSE with a car.
type ChargingState int

// Charging states (1.6 status names; 2.0.1 chargingState).
const (
	StateCharging ChargingState = iota + 1
	StateSuspendedEV
	StateSuspendedEVSE
)

func (s ChargingState) String() string {
	switch s {
	case StateCharging:
		return "Charging"
	case StateSuspendedEV:
		return "SuspendedEV"
	case StateSuspendedEVSE:
		return "SuspendedEVSE"
	}
	return fmt.Sprintf("ChargingState(%d)", int(s))
}

// GridDraw maps a draw of amps on the charger's first phases phases to the
// grid phases through rotation: a one-phase car on a charger wired STR
// draws on grid L2.
func GridDraw(rotation site.PhaseRotation, phases int, amps site.Amps) site.PhaseCurrents {
	var out site.PhaseCurrents
	for p := site.L1; p <= site.L3 && int(p) <= phases; p++ {
		out[rotation.Grid(p).Index()] += amps
	}
	return out
}
