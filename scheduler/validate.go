package scheduler

import (
	"errors"
	"fmt"
	"math"
)

// FieldError is one bad field of an [Input]. It matches [ErrInvalidInput]
// with errors.Is.
type FieldError struct {
	// Field is a path such as "evses[3].max_current" or "nodes[2].limit[L1]".
	Field string
	// Problem says what is wrong, e.g. "must be positive".
	Problem string
}

func (e *FieldError) Error() string {
	return ErrInvalidInput.Error() + ": " + e.Field + ": " + e.Problem
}

// Unwrap returns [ErrInvalidInput].
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

// path names an element of a list in an error, built only when needed.
type path struct {
	list string
	i    int
}

func (p path) field(name string) string {
	if p.list == "" {
		return name
	}
	return fmt.Sprintf("%s[%d].%s", p.list, p.i, name)
}

// validator collects one error per bad field.
type validator struct{ errs []error }

func (v *validator) add(field, problem string) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: problem})
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// nonNegative checks a finite value >= 0.
func (v *validator) nonNegative(x float64, at path, name string) {
	switch {
	case !finite(x):
		v.add(at.field(name), "must be a finite number")
	case x < 0:
		v.add(at.field(name), "must not be negative")
	}
}

func (v *validator) positive(x float64, at path, name string) {
	switch {
	case !finite(x):
		v.add(at.field(name), "must be a finite number")
	case x <= 0:
		v.add(at.field(name), "must be positive")
	}
}

// limit checks a per-phase limit: >= 0, +Inf allowed.
func (v *validator) limit(c PhaseCurrents, at path, name string) {
	for i, a := range c {
		x := float64(a)
		if math.IsNaN(x) || x < 0 {
			v.add(fmt.Sprintf("%s[%v]", at.field(name), Phase(i+1)), "must be >= 0 (Unlimited for none)")
		}
	}
}

func (v *validator) finiteAll(c PhaseCurrents, at path, name string) {
	for i, a := range c {
		if !finite(float64(a)) {
			v.add(fmt.Sprintf("%s[%v]", at.field(name), Phase(i+1)), "must be a finite number")
		}
	}
}

// Validate reports every bad field of in, each as a [*FieldError] joined
// into one error that matches [ErrInvalidInput]; nil if in is valid.
func (in *Input) Validate() error {
	var v validator
	if in.Config != nil {
		in.Config.validate(&v)
	}
	v.nonNegative(float64(in.NominalVoltage), path{}, "nominal_voltage")
	in.validateNodes(&v)
	in.validateExternal(&v)
	in.validateEVSEs(&v)
	if in.needsVoltage() && !(in.NominalVoltage > 0) {
		v.add("nominal_voltage", "must be positive when a power limit is set")
	}
	return errors.Join(v.errs...)
}

func (c *Config) validate(v *validator) {
	v.nonNegative(float64(c.DeadBand), path{}, "config.dead_band")
	v.nonNegative(float64(c.SafetyMargin), path{}, "config.safety_margin")
	if c.MinDwell < 0 {
		v.add("config.min_dwell", "must not be negative")
	}
	if c.PhaseSwitchDwell < 0 {
		v.add("config.phase_switch_dwell", "must not be negative")
	}
	v.nonNegative(float64(c.RampRoom), path{}, "config.ramp_room")
	v.positive(float64(c.DefaultMin), path{}, "config.default_min")
	v.positive(float64(c.Step), path{}, "config.step")
}

func (in *Input) needsVoltage() bool {
	for i := range in.Nodes {
		if in.Nodes[i].PowerLimit > 0 {
			return true
		}
	}
	for i := range in.External {
		if in.External[i].PowerLimit > 0 {
			return true
		}
	}
	return false
}

func (in *Input) validateNodes(v *validator) {
	if len(in.Nodes) == 0 {
		v.add("nodes", "must hold at least the grid connection")
		return
	}
	ids := make(map[string]int, len(in.Nodes))
	for i := range in.Nodes {
		n := &in.Nodes[i]
		at := path{"nodes", i}
		switch {
		case n.ID == "":
			v.add(at.field("id"), "must not be empty")
		default:
			if j, dup := ids[n.ID]; dup {
				v.add(at.field("id"), fmt.Sprintf("duplicates nodes[%d].id %q", j, n.ID))
			} else {
				ids[n.ID] = i
			}
		}
		switch {
		case i == 0 && n.Parent != -1:
			v.add(at.field("parent"), "must be -1: nodes[0] is the root")
		case i > 0 && (n.Parent < 0 || n.Parent >= i):
			v.add(at.field("parent"), fmt.Sprintf("must be the index of an earlier node (0..%d), got %d", i-1, n.Parent))
		}
		v.limit(n.Limit, at, "limit")
		v.nonNegative(float64(n.PowerLimit), at, "power_limit")
		v.finiteAll(n.OtherLoad, at, "other_load")
		v.nonNegative(float64(n.MaxImbalance), at, "max_imbalance")
	}
}

func (in *Input) validateExternal(v *validator) {
	for i := range in.External {
		x := &in.External[i]
		at := path{"external", i}
		if x.Node < 0 || x.Node >= len(in.Nodes) {
			v.add(at.field("node"), fmt.Sprintf("must be a node index (0..%d), got %d", len(in.Nodes)-1, x.Node))
		}
		v.limit(x.Limit, at, "limit")
		v.nonNegative(float64(x.PowerLimit), at, "power_limit")
	}
}

func (in *Input) validateEVSEs(v *validator) {
	ids := make(map[string]int, len(in.EVSEs))
	for i := range in.EVSEs {
		e := &in.EVSEs[i]
		at := path{"evses", i}
		switch {
		case e.ID == "":
			v.add(at.field("id"), "must not be empty")
		default:
			if j, dup := ids[e.ID]; dup {
				v.add(at.field("id"), fmt.Sprintf("duplicates evses[%d].id %q", j, e.ID))
			} else {
				ids[e.ID] = i
			}
		}
		if e.Node < 0 || e.Node >= len(in.Nodes) {
			v.add(at.field("node"), fmt.Sprintf("must be a node index (0..%d), got %d", len(in.Nodes)-1, e.Node))
		}
		e.validatePhases(v, at)
		if e.State == StateUnspecified || e.State > StateUncontrollable {
			v.add(at.field("state"), fmt.Sprintf("must be a known state, got %d", e.State))
		}
		v.nonNegative(float64(e.MinCurrent), at, "min_current")
		v.nonNegative(float64(e.CarMinCurrent), at, "car_min_current")
		v.positive(float64(e.MaxCurrent), at, "max_current")
		v.nonNegative(float64(e.CarMaxCurrent), at, "car_max_current")
		v.finiteAll(e.Drawn, at, "drawn")
		v.nonNegative(e.Priority, at, "priority")
		v.nonNegative(float64(e.EnergyNeeded), at, "energy_needed")
		v.nonNegative(float64(e.Energy), at, "energy")
		v.nonNegative(float64(e.PrevLimit), at, "prev_limit")
		v.nonNegative(float64(e.Fallback), at, "fallback")
		v.nonNegative(float64(e.Floor), at, "floor")
	}
}

func (e *EVSE) validatePhases(v *validator, at path) {
	if !e.Rotation.Valid() {
		v.add(at.field("rotation"), "must be zero or a permutation of L1, L2, L3")
	}
	if !e.Wiring.Valid() {
		v.add(at.field("wiring"), "must hold only L1, L2, L3")
	}
	if !e.CarPhases.Valid() {
		v.add(at.field("car_phases"), "must hold only L1, L2, L3")
	} else if e.CarPhases&^e.wiring() != 0 {
		v.add(at.field("car_phases"), fmt.Sprintf("%v is not within wiring %v", e.CarPhases, e.wiring()))
	}
}

// wiring returns the wired charger phases, all three if unset.
func (e *EVSE) wiring() PhaseSet {
	if e.Wiring == 0 {
		return AllPhases
	}
	return e.Wiring & AllPhases
}
