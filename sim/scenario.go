package sim

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Scenario describes a site's electrical tree, the chargers on it and the
// cars that visit them. Parse one with [ParseScenario]; the file format is
// documented in docs/simulator.md.
type Scenario struct {
	Name string `yaml:"name" json:"name"`
	// Seed seeds the random car process; Options.Seed overrides it when set.
	Seed uint64 `yaml:"seed" json:"seed"`
	// Voltage is the phase-to-neutral voltage; 0 means 230 V.
	Voltage site.Volts `yaml:"voltage" json:"voltage"`
	Site    SiteSpec   `yaml:"site" json:"site"`
	// Chargers are listed one by one ...
	Chargers []ChargerSpec `yaml:"chargers" json:"chargers"`
	// ... or generated from a template (for load tests).
	Generate []TemplateSpec `yaml:"generate" json:"generate"`
	Cars     CarPlan        `yaml:"cars" json:"cars"`
}

// SiteSpec is the electrical tree the ledger checks draws against.
type SiteSpec struct {
	// GridLimit is the grid connection's limit per phase.
	GridLimit Currents      `yaml:"grid_limit" json:"grid_limit"`
	Circuits  []CircuitSpec `yaml:"circuits" json:"circuits"`
	// BuildingLoad is the site's own consumption: from each point's offset
	// on it is the point's current, reached in a step or, with the point's
	// Ramp, linearly over that time; it repeats every BuildingLoadPeriod
	// (0: holds the last value). It feeds the grid meter ([MeterReporter]).
	BuildingLoad       []LoadPoint `yaml:"building_load" json:"building_load"`
	BuildingLoadPeriod Duration    `yaml:"building_load_period" json:"building_load_period"`
	// CountBuildingLoad adds the building load to the grid node in the
	// ledger (meaningful when the central system is told the meter
	// readings: Options.Meter, chargersim --api).
	CountBuildingLoad bool `yaml:"count_building_load" json:"count_building_load"`
}

// CircuitSpec is one fuse or sub-board; Parent "" is the grid connection.
type CircuitSpec struct {
	ID     string   `yaml:"id" json:"id"`
	Parent string   `yaml:"parent" json:"parent"`
	Limit  Currents `yaml:"limit" json:"limit"`
}

// LoadPoint is the building load from At on. With a Ramp the load moves
// linearly from the value before At to Current, reaching it at At+Ramp
// (machines starting one after another, a soft-started drive); without, it
// steps at At (one machine switched on). A ramp ends by the next point.
type LoadPoint struct {
	At      Duration `yaml:"at" json:"at"`
	Ramp    Duration `yaml:"ramp,omitempty" json:"ramp,omitempty"`
	Current Currents `yaml:"current" json:"current"`
}

// OCPP versions a simulated charger speaks.
const (
	OCPP16  = "1.6"
	OCPP201 = "2.0.1"
)

// ChargerSpec is one simulated charging station.
type ChargerSpec struct {
	// ID is the OCPP identity (the last segment of the WebSocket URL).
	ID   string `yaml:"id" json:"id"`
	OCPP string `yaml:"ocpp" json:"ocpp"`
	// Circuit it hangs on; "" for the grid connection.
	Circuit string `yaml:"circuit" json:"circuit"`
	// Rotation is the OCPP phase rotation name (RST, STR, ...); "" is RST.
	Rotation string `yaml:"rotation" json:"rotation"`
	// Password for HTTP Basic auth (OCPP security profile 1); "" for none.
	Password string     `yaml:"password" json:"password"`
	Vendor   string     `yaml:"vendor" json:"vendor"`
	Model    string     `yaml:"model" json:"model"`
	EVSEs    []EVSESpec `yaml:"evses" json:"evses"`
	// SmartCharging is what the charger accepts in profiles.
	SmartCharging SmartChargingSpec `yaml:"smart_charging" json:"smart_charging"`
	// MeterInterval is the initial MeterValueSampleInterval /
	// TxUpdatedInterval; 0 means 60 s. The server may change it.
	MeterInterval Duration `yaml:"meter_interval" json:"meter_interval"`
	Quirks        Quirks   `yaml:"quirks" json:"quirks"`
}

// EVSESpec is one EVSE (1.6: connector).
type EVSESpec struct {
	MaxCurrent site.Amps `yaml:"max_current" json:"max_current"`
	// Phases is 1 or 3; 0 means 3.
	Phases int `yaml:"phases" json:"phases"`
}

// SmartChargingSpec lists the charger's smart-charging capabilities.
// Zero values take the defaults in brackets.
type SmartChargingSpec struct {
	MaxStackLevel int `yaml:"max_stack_level" json:"max_stack_level"` // [8]
	MaxPeriods    int `yaml:"max_periods" json:"max_periods"`         // [24]
	// RateUnits accepted: "A", "W" [both].
	RateUnits   []string `yaml:"rate_units" json:"rate_units"`
	MaxProfiles int      `yaml:"max_profiles" json:"max_profiles"` // [16]
}

// Quirks make a charger misbehave the way real ones do.
type Quirks struct {
	// RejectProfiles answers every SetChargingProfile with Rejected.
	RejectProfiles bool `yaml:"reject_profiles" json:"reject_profiles"`
	// IgnoreProfiles answers Accepted but lets cars draw as if no profile
	// were installed. The ledger catches it.
	IgnoreProfiles bool `yaml:"ignore_profiles" json:"ignore_profiles"`
	// AnswerDelay holds every answer to the server's CALLs this long; the
	// CALL takes effect when answered.
	AnswerDelay Duration `yaml:"answer_delay" json:"answer_delay"`
	// DisconnectEvery drops the connection at random, on average this often
	// (0: never), for DisconnectFor [10 s] each time.
	DisconnectEvery Duration `yaml:"disconnect_every" json:"disconnect_every"`
	DisconnectFor   Duration `yaml:"disconnect_for" json:"disconnect_for"`
}

// TemplateSpec generates Count chargers from Charger, named by Identity, a
// fmt pattern with one integer verb ("load-%04d"), numbered from Start
// (default 1).
type TemplateSpec struct {
	Count    int         `yaml:"count" json:"count"`
	Identity string      `yaml:"identity" json:"identity"`
	Start    int         `yaml:"start" json:"start"`
	Charger  ChargerSpec `yaml:"charger" json:"charger"`
}

// CarPlan says when cars come and go.
type CarPlan struct {
	Schedule []Visit        `yaml:"schedule" json:"schedule"`
	Random   *RandomVisits  `yaml:"random" json:"random"`
	Models   map[string]Car `yaml:"models" json:"models"`
}

// Visit is one car plugging into one EVSE at a set time.
type Visit struct {
	Charger string `yaml:"charger" json:"charger"`
	// EVSE is the EVSE number from 1; 0 means 1.
	EVSE int `yaml:"evse" json:"evse"`
	// Arrive and Leave are offsets from the start in simulated time; Leave
	// 0 means the car stays to the end.
	Arrive Duration `yaml:"arrive" json:"arrive"`
	Leave  Duration `yaml:"leave" json:"leave"`
	// Model names an entry of CarPlan.Models; Car overrides its fields.
	Model string `yaml:"model" json:"model"`
	Car   Car    `yaml:"car" json:"car"`
	// SoC is the state of charge on arrival, 0..1.
	SoC   float64 `yaml:"soc" json:"soc"`
	IDTag string  `yaml:"id_tag" json:"id_tag"`
}

// RandomVisits is a seeded random arrival process on every free EVSE of
// the chosen chargers (all if none are named).
type RandomVisits struct {
	// ArrivalsPerHour per EVSE, while it is free (exponential gaps).
	ArrivalsPerHour float64    `yaml:"arrivals_per_hour" json:"arrivals_per_hour"`
	Chargers        []string   `yaml:"chargers" json:"chargers"`
	Dwell           Range      `yaml:"dwell" json:"dwell"` // in seconds when JSON numbers, or "30m"
	SoC             FloatRange `yaml:"soc" json:"soc"`
	// Models to pick from uniformly; empty means every model in CarPlan.Models.
	Models []string `yaml:"models" json:"models"`
}

// Range is a duration interval for uniform draws.
type Range struct {
	Min Duration `yaml:"min" json:"min"`
	Max Duration `yaml:"max" json:"max"`
}

// FloatRange is an interval for uniform draws.
type FloatRange struct {
	Min float64 `yaml:"min" json:"min"`
	Max float64 `yaml:"max" json:"max"`
}

func (s *Scenario) voltage() site.Volts {
	if s.Voltage > 0 {
		return s.Voltage
	}
	return 230
}

// AllChargers returns the listed chargers followed by the generated ones,
// with defaults filled in. It does not validate.
func (s *Scenario) AllChargers() []ChargerSpec {
	n := len(s.Chargers)
	for _, t := range s.Generate {
		if t.Count > 0 && t.Count <= maxGenerated {
			n += t.Count
		}
	}
	out := make([]ChargerSpec, 0, n)
	for _, c := range s.Chargers {
		out = append(out, c.withDefaults())
	}
	for _, t := range s.Generate {
		if t.Count <= 0 || t.Count > maxGenerated {
			continue
		}
		start := t.Start
		if start == 0 {
			start = 1
		}
		for i := range t.Count {
			c := t.Charger
			c.ID = fmt.Sprintf(t.Identity, start+i)
			out = append(out, c.withDefaults())
		}
	}
	return out
}

const (
	maxGenerated    = 100_000
	maxIdentityLen  = 48
	defaultInterval = 60 * time.Second
)

func (c ChargerSpec) withDefaults() ChargerSpec {
	if c.OCPP == "" {
		c.OCPP = OCPP16
	}
	if len(c.EVSEs) == 0 {
		c.EVSEs = []EVSESpec{{MaxCurrent: 32, Phases: 3}}
	} else {
		c.EVSEs = append([]EVSESpec(nil), c.EVSEs...)
	}
	for i := range c.EVSEs {
		if c.EVSEs[i].Phases == 0 {
			c.EVSEs[i].Phases = 3
		}
	}
	sc := &c.SmartCharging
	if sc.MaxStackLevel == 0 {
		sc.MaxStackLevel = 8
	}
	if sc.MaxPeriods == 0 {
		sc.MaxPeriods = 24
	}
	if len(sc.RateUnits) == 0 {
		sc.RateUnits = []string{"A", "W"}
	}
	if sc.MaxProfiles == 0 {
		sc.MaxProfiles = 16
	}
	if c.MeterInterval == 0 {
		c.MeterInterval = Duration(defaultInterval)
	}
	if c.Quirks.DisconnectEvery > 0 && c.Quirks.DisconnectFor == 0 {
		c.Quirks.DisconnectFor = Duration(10 * time.Second)
	}
	if c.Vendor == "" {
		c.Vendor = "smartcharge-sim"
	}
	if c.Model == "" {
		c.Model = "SimCharger"
	}
	return c
}

// Validate checks the whole scenario and lists every broken rule;
// errors.Is(err, ErrScenario) holds for the result.
func (s *Scenario) Validate() error {
	var v violations
	if s.Voltage != 0 && (s.Voltage < 100 || s.Voltage > 400) {
		v.add("voltage", "must be 0 (230 V) or 100..400 V")
	}
	if !s.Site.GridLimit.positive() {
		v.add("site.grid_limit", "must be above 0 A on every phase")
	}
	circuits := map[string]CircuitSpec{}
	for i, c := range s.Site.Circuits {
		p := fmt.Sprintf("site.circuits[%d]", i)
		if c.ID == "" || c.ID == GridNode {
			v.add(p+".id", "must be set and not %q", GridNode)
		} else if _, dup := circuits[c.ID]; dup {
			v.add(p+".id", "duplicate circuit %q", c.ID)
		}
		if !c.Limit.positive() {
			v.add(p+".limit", "must be above 0 A on every phase")
		}
		circuits[c.ID] = c
	}
	for i, c := range s.Site.Circuits {
		if c.Parent != "" {
			if _, ok := circuits[c.Parent]; !ok {
				v.add(fmt.Sprintf("site.circuits[%d].parent", i), "unknown circuit %q", c.Parent)
			}
		}
		// cycle check: walk up at most len(circuits) steps
		seen, cur := 0, c
		for cur.Parent != "" && seen <= len(circuits) {
			cur = circuits[cur.Parent]
			seen++
		}
		if seen > len(circuits) {
			v.add(fmt.Sprintf("site.circuits[%d].parent", i), "circuit tree has a cycle through %q", c.ID)
		}
	}
	for i, lp := range s.Site.BuildingLoad {
		if !lp.Current.nonNegative() {
			v.add(fmt.Sprintf("site.building_load[%d].current", i), "must not be negative")
		}
		if i > 0 && lp.At <= s.Site.BuildingLoad[i-1].At {
			v.add(fmt.Sprintf("site.building_load[%d].at", i), "must be after the previous point")
		}
		if lp.At < 0 {
			v.add(fmt.Sprintf("site.building_load[%d].at", i), "must not be negative")
		}
		switch {
		case lp.Ramp < 0:
			v.add(fmt.Sprintf("site.building_load[%d].ramp", i), "must not be negative")
		case i+1 < len(s.Site.BuildingLoad) && lp.At+lp.Ramp > s.Site.BuildingLoad[i+1].At:
			v.add(fmt.Sprintf("site.building_load[%d].ramp", i), "must end by the next point's at (%s)", s.Site.BuildingLoad[i+1].At)
		case i+1 == len(s.Site.BuildingLoad) && s.Site.BuildingLoadPeriod > 0 && lp.At+lp.Ramp > s.Site.BuildingLoadPeriod:
			v.add(fmt.Sprintf("site.building_load[%d].ramp", i), "must end by building_load_period (%s)", s.Site.BuildingLoadPeriod)
		}
	}
	if s.Site.BuildingLoadPeriod < 0 {
		v.add("site.building_load_period", "must not be negative")
	}
	ids := map[string]bool{}
	for i, c := range s.Chargers {
		p := fmt.Sprintf("chargers[%d]", i)
		c.withDefaults().validate(&v, p, circuits, true)
		if ids[c.ID] {
			v.add(p+".id", "duplicate charger identity %q", c.ID)
		}
		ids[c.ID] = true
	}
	for i, t := range s.Generate {
		p := fmt.Sprintf("generate[%d]", i)
		if t.Count < 1 || t.Count > maxGenerated {
			v.add(p+".count", "must be 1..%d", maxGenerated)
			continue
		}
		if !identityPatternOK(t.Identity) {
			v.add(p+".identity", "must be a pattern with one integer verb, such as \"load-%%04d\"")
			continue
		}
		t.Charger.withDefaults().validate(&v, p+".charger", circuits, false)
		start := t.Start
		if start == 0 {
			start = 1
		}
		for k := range t.Count {
			id := fmt.Sprintf(t.Identity, start+k)
			if ids[id] {
				v.add(p+".identity", "generates duplicate identity %q", id)
				break
			}
			if !validIdentity(id) {
				v.add(p+".identity", "generates invalid identity %q", id)
				break
			}
			ids[id] = true
		}
	}
	s.Cars.validate(&v, ids)
	return v.err()
}

func (c ChargerSpec) validate(v *violations, p string, circuits map[string]CircuitSpec, checkID bool) {
	if checkID && !validIdentity(c.ID) {
		v.add(p+".id", "must be 1..%d characters without '/', ':' or spaces", maxIdentityLen)
	}
	if c.OCPP != OCPP16 && c.OCPP != OCPP201 {
		v.add(p+".ocpp", "must be %q or %q", OCPP16, OCPP201)
	}
	if c.Circuit != "" {
		if _, ok := circuits[c.Circuit]; !ok {
			v.add(p+".circuit", "unknown circuit %q", c.Circuit)
		}
	}
	if _, err := site.ParsePhaseRotation(c.Rotation); err != nil {
		v.add(p+".rotation", "%v", err)
	}
	if len(c.EVSEs) > 32 {
		v.add(p+".evses", "at most 32 EVSEs")
	}
	for i, e := range c.EVSEs {
		if e.MaxCurrent <= 0 || e.MaxCurrent > 1000 {
			v.add(fmt.Sprintf("%s.evses[%d].max_current", p, i), "must be above 0 and at most 1000 A")
		}
		if e.Phases != 1 && e.Phases != 3 {
			v.add(fmt.Sprintf("%s.evses[%d].phases", p, i), "must be 1 or 3")
		}
	}
	sc := c.SmartCharging
	if sc.MaxStackLevel < 0 || sc.MaxStackLevel > 1000 {
		v.add(p+".smart_charging.max_stack_level", "must be 0..1000")
	}
	if sc.MaxPeriods < 1 || sc.MaxPeriods > 1024 {
		v.add(p+".smart_charging.max_periods", "must be 1..1024")
	}
	if sc.MaxProfiles < 1 || sc.MaxProfiles > 1000 {
		v.add(p+".smart_charging.max_profiles", "must be 1..1000")
	}
	for i, u := range sc.RateUnits {
		if u != "A" && u != "W" {
			v.add(fmt.Sprintf("%s.smart_charging.rate_units[%d]", p, i), "must be \"A\" or \"W\"")
		}
	}
	if c.MeterInterval < Duration(time.Second) {
		v.add(p+".meter_interval", "must be at least 1s")
	}
	q := c.Quirks
	if q.AnswerDelay < 0 || q.AnswerDelay > Duration(10*time.Minute) {
		v.add(p+".quirks.answer_delay", "must be 0..10m")
	}
	if q.DisconnectEvery < 0 || (q.DisconnectEvery > 0 && q.DisconnectEvery < Duration(time.Second)) {
		v.add(p+".quirks.disconnect_every", "must be 0 or at least 1s")
	}
	if q.DisconnectFor < 0 {
		v.add(p+".quirks.disconnect_for", "must not be negative")
	}
	if q.RejectProfiles && q.IgnoreProfiles {
		v.add(p+".quirks", "reject_profiles and ignore_profiles exclude each other")
	}
}

func (cp *CarPlan) validate(v *violations, ids map[string]bool) {
	for name, m := range cp.Models {
		m.validate(v, "cars.models."+name, false)
	}
	for i, vis := range cp.Schedule {
		p := fmt.Sprintf("cars.schedule[%d]", i)
		if !ids[vis.Charger] {
			v.add(p+".charger", "unknown charger %q", vis.Charger)
		}
		if vis.EVSE < 0 || vis.EVSE > 32 {
			v.add(p+".evse", "must be 1..32 (0 means 1)")
		}
		if vis.Arrive < 0 {
			v.add(p+".arrive", "must not be negative")
		}
		if vis.Leave != 0 && vis.Leave <= vis.Arrive {
			v.add(p+".leave", "must be after arrive (or 0: stay)")
		}
		if vis.SoC < 0 || vis.SoC > 1 {
			v.add(p+".soc", "must be 0..1")
		}
		if vis.Model != "" {
			if _, ok := cp.Models[vis.Model]; !ok {
				v.add(p+".model", "unknown car model %q", vis.Model)
			}
		}
		cp.car(vis.Model, vis.Car).validate(v, p+".car", true)
		if len(vis.IDTag) > 20 {
			v.add(p+".id_tag", "at most 20 characters")
		}
	}
	if r := cp.Random; r != nil {
		if r.ArrivalsPerHour <= 0 || r.ArrivalsPerHour > 3600 {
			v.add("cars.random.arrivals_per_hour", "must be above 0 and at most 3600")
		}
		for i, id := range r.Chargers {
			if !ids[id] {
				v.add(fmt.Sprintf("cars.random.chargers[%d]", i), "unknown charger %q", id)
			}
		}
		if r.Dwell.Min <= 0 || r.Dwell.Max < r.Dwell.Min {
			v.add("cars.random.dwell", "needs 0 < min <= max")
		}
		if r.SoC.Min < 0 || r.SoC.Max > 1 || r.SoC.Max < r.SoC.Min {
			v.add("cars.random.soc", "needs 0 <= min <= max <= 1")
		}
		if len(cp.Models) == 0 && len(r.Models) == 0 {
			v.add("cars.random.models", "random arrivals need at least one car model in cars.models")
		}
		for i, m := range r.Models {
			if _, ok := cp.Models[m]; !ok {
				v.add(fmt.Sprintf("cars.random.models[%d]", i), "unknown car model %q", m)
			}
		}
	}
}

// car merges a model with per-visit overrides.
func (cp *CarPlan) car(model string, over Car) Car {
	c := cp.Models[model]
	if over.BatteryKWh != 0 {
		c.BatteryKWh = over.BatteryKWh
	}
	if over.MaxCurrent != 0 {
		c.MaxCurrent = over.MaxCurrent
	}
	if over.Phases != 0 {
		c.Phases = over.Phases
	}
	if over.TaperFrom != 0 {
		c.TaperFrom = over.TaperFrom
	}
	if over.TargetSoC != 0 {
		c.TargetSoC = over.TargetSoC
	}
	if over.RampDelay != 0 {
		c.RampDelay = over.RampDelay
	}
	if over.MinCurrent != 0 {
		c.MinCurrent = over.MinCurrent
	}
	return c.withDefaults()
}

func identityPatternOK(p string) bool {
	a, b := fmt.Sprintf(p, 1), fmt.Sprintf(p, 2)
	return a != b && !strings.Contains(a, "%!") && strings.Count(p, "%") == 1
}

func validIdentity(id string) bool {
	if id == "" || len(id) > maxIdentityLen {
		return false
	}
	return !strings.ContainsAny(id, "/: \t\r\n?#%")
}

type violations struct{ errs []error }

func (v *violations) add(field, rule string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(rule, args...)))
}

func (v *violations) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrScenario, errors.Join(v.errs...))
}
