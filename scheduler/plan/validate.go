package plan

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// ErrInvalidInput is returned (wrapped, one [*FieldError] per bad field)
// when [Input.Validate] rejects an input. Match it with errors.Is.
var ErrInvalidInput = errors.New("plan: invalid input")

// FieldError is one bad field of an [Input]; it matches [ErrInvalidInput].
type FieldError struct {
	// Field is a path such as "sessions[3].max_current".
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	return ErrInvalidInput.Error() + ": " + e.Field + ": " + e.Problem
}

// Unwrap returns [ErrInvalidInput].
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func (v *validator) nonNeg(x float64, field string) {
	if !finite(x) || x < 0 {
		v.add(field, "must be a finite number >= 0")
	}
}

func (v *validator) limit(c scheduler.PhaseCurrents, field string) {
	for i, a := range c {
		if math.IsNaN(float64(a)) || a < 0 {
			v.add(fmt.Sprintf("%s[%v]", field, scheduler.Phase(i+1)), "must be >= 0 (Unlimited for none)")
		}
	}
}

// Validate reports every bad field of in, joined into one error that
// matches [ErrInvalidInput]; nil if in is valid.
func (in *Input) Validate() error {
	var v validator
	cfg := in.config()
	if in.Config != nil {
		v.nonNeg(float64(cfg.SafetyMargin), "config.safety_margin")
		if !(cfg.Step > 0) || !finite(float64(cfg.Step)) {
			v.add("config.step", "must be positive")
		}
		if !(cfg.DefaultMin > 0) || !finite(float64(cfg.DefaultMin)) {
			v.add("config.default_min", "must be positive")
		}
		v.nonNeg(float64(cfg.DefaultEnergy), "config.default_energy")
		if cfg.DefaultStay < 0 {
			v.add("config.default_stay", "must not be negative")
		}
		if cfg.Rounds < 1 || cfg.Rounds > 100000 {
			v.add("config.rounds", "must be 1..100000")
		}
	}
	if in.Start.IsZero() {
		v.add("start", "must be set")
	}
	if s := in.SlotLen(); s < 5*time.Minute || s > time.Hour {
		v.add("slot", "must be 5 to 60 minutes, got %v", s)
	}
	if !in.From.IsZero() && (in.From.Before(in.Start) || !in.From.Before(in.Start.Add(in.SlotLen()))) {
		v.add("from", "must be in slot 0 (%v to %v), got %v", in.Start, in.Start.Add(in.SlotLen()), in.From)
	}
	if in.Horizon < 0 || in.Horizon > 48*time.Hour {
		v.add("horizon", "must be 0 (24 h) to 48 h, got %v", in.Horizon)
	}
	if !(in.NominalVoltage > 0) || !finite(float64(in.NominalVoltage)) {
		v.add("nominal_voltage", "must be positive")
	}
	n := in.Slots()
	series := func(l int, field string) {
		if l != 0 && l != n {
			v.add(field, "has %d entries, want 0 or %d (one per slot)", l, n)
		}
	}
	series(len(in.Price), "price")
	series(len(in.ExportPrice), "export_price")
	series(len(in.CO2), "co2")
	for i, p := range in.Price {
		if !finite(float64(p)) {
			v.add(fmt.Sprintf("price[%d]", i), "must be a finite number")
		}
	}
	for i, p := range in.ExportPrice {
		if !finite(float64(p)) {
			v.add(fmt.Sprintf("export_price[%d]", i), "must be a finite number")
		}
	}
	for i, p := range in.CO2 {
		v.nonNeg(float64(p), fmt.Sprintf("co2[%d]", i))
	}
	in.validateNodes(&v, n)
	in.validateSessions(&v)
	return errors.Join(v.errs...)
}

func (in *Input) validateNodes(v *validator, slots int) {
	if len(in.Nodes) == 0 {
		v.add("nodes", "must hold at least the grid connection")
		return
	}
	ids := make(map[string]bool, len(in.Nodes))
	for i := range in.Nodes {
		nd := &in.Nodes[i]
		at := fmt.Sprintf("nodes[%d]", i)
		if nd.ID == "" {
			v.add(at+".id", "must not be empty")
		} else if ids[nd.ID] {
			v.add(at+".id", "duplicate id %q", nd.ID)
		}
		ids[nd.ID] = true
		switch {
		case i == 0 && nd.Parent != -1:
			v.add(at+".parent", "must be -1 for the grid connection")
		case i > 0 && (nd.Parent < 0 || nd.Parent >= i):
			v.add(at+".parent", "must name an earlier node, got %d", nd.Parent)
		}
		v.limit(nd.Limit, at+".limit")
		v.nonNeg(float64(nd.PowerLimit), at+".power_limit")
		for k := range nd.Windows {
			w := &nd.Windows[k]
			wat := fmt.Sprintf("%s.windows[%d]", at, k)
			if !w.To.After(w.From) {
				v.add(wat+".to", "must be after from")
			}
			v.limit(w.Limit, wat+".limit")
			v.nonNeg(float64(w.PowerLimit), wat+".power_limit")
		}
		if l := len(nd.OtherLoad); l != 0 && l != slots {
			v.add(at+".other_load", "has %d entries, want 0 or %d (one per slot)", l, slots)
		}
		for k, c := range nd.OtherLoad {
			for p, a := range c {
				if !finite(float64(a)) {
					v.add(fmt.Sprintf("%s.other_load[%d][%v]", at, k, scheduler.Phase(p+1)), "must be a finite number")
				}
			}
		}
	}
}

func (in *Input) validateSessions(v *validator) {
	cfg := in.config()
	ids := make(map[string]bool, len(in.Sessions))
	for i := range in.Sessions {
		s := &in.Sessions[i]
		at := fmt.Sprintf("sessions[%d]", i)
		if s.ID == "" {
			v.add(at+".id", "must not be empty")
		} else if ids[s.ID] {
			v.add(at+".id", "duplicate id %q", s.ID)
		}
		ids[s.ID] = true
		if s.Node < 0 || s.Node >= len(in.Nodes) {
			v.add(at+".node", "must index nodes, got %d", s.Node)
		}
		if !s.Rotation.Valid() {
			v.add(at+".rotation", "must be a permutation of L1, L2, L3")
		}
		if !s.Phases.Valid() {
			v.add(at+".phases", "must hold only L1, L2, L3")
		}
		v.nonNeg(float64(s.MinCurrent), at+".min_current")
		if !(s.MaxCurrent > 0) || !finite(float64(s.MaxCurrent)) {
			v.add(at+".max_current", "must be positive")
		}
		lo := s.MinCurrent
		if lo == 0 {
			lo = cfg.DefaultMin
		}
		if s.MaxCurrent > 0 && lo > s.MaxCurrent {
			v.add(at+".min_current", "%.1f A is above max_current %.1f A", float64(lo), float64(s.MaxCurrent))
		}
		v.nonNeg(s.Priority, at+".priority")
		v.nonNeg(float64(s.EnergyNeeded), at+".energy_needed")
		if !finite(s.SoC) || s.SoC < 0 || s.SoC > 100 {
			v.add(at+".soc", "must be 0..100 %%")
		}
		if !finite(s.TargetSoC) || s.TargetSoC < 0 || s.TargetSoC > 100 {
			v.add(at+".target_soc", "must be 0..100 %% (0 means 100)")
		}
		v.nonNeg(float64(s.BatteryCapacity), at+".battery_capacity")
		if s.MaxPeriods < 0 {
			v.add(at+".max_periods", "must not be negative")
		}
		if s.Unit > UnitWatts {
			v.add(at+".unit", "must be amps or watts")
		}
	}
}
