package site

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// This file holds the contracts of planning (package planning, the gRPC
// PlanService): what a site is given to plan with ([PlanInputs]: prices,
// limit schedules, forecasts, settings, state-of-charge targets), the plan
// computed from it ([Plan]) and the [PlanStore] that keeps both. Like
// [LoopState] everything is JSON-friendly; new fields must be additive.

// Bounds of plan inputs.
const (
	// MaxSeriesPoints is the most points of one time series.
	MaxSeriesPoints = 10_000
	// MaxLimitWindows is the most windows of a site's limit schedule.
	MaxLimitWindows = 1_000
	// MaxForecasts is the most forecasts of a site.
	MaxForecasts = 1_000
	// MaxPricePerKWh bounds prices (in the site's currency per kWh).
	MaxPricePerKWh = 1_000.0
	// MaxCO2PerKWh bounds CO2 intensities in g/kWh.
	MaxCO2PerKWh = 5_000.0
	// MaxNeedEnergy bounds energy needs and battery capacities.
	MaxNeedEnergy WattHours = 1_000_000
	// MinPlanSlot and MaxPlanSlot bound the slot length; MaxPlanHorizon
	// the horizon.
	MinPlanSlot    = 5 * time.Minute
	MaxPlanSlot    = time.Hour
	MaxPlanHorizon = 48 * time.Hour
)

// Defaults of [PlanSettings].
const (
	DefaultPlanSlot    = 15 * time.Minute
	DefaultPlanHorizon = 24 * time.Hour
	// DefaultNeedEnergy is the need of a session without needs.
	DefaultNeedEnergy WattHours = 20_000
)

// SeriesPoint is one step of a time series: Value holds from Start until
// the next point's Start (the last point until the series' end).
type SeriesPoint struct {
	Start time.Time
	Value float64
}

// PhaseSeriesPoint is one step of a per-phase time series of currents.
type PhaseSeriesPoint struct {
	Start   time.Time
	Current PhaseCurrents
}

// PriceSeries is what energy costs at the grid connection over time, as
// an energy management system or a tariff gives it (e.g. day-ahead
// prices). The series are step functions (see [SeriesPoint]); before the
// first point a series has its first value, after End (or, with End zero,
// after the last point) its last value. Import is required once any
// series is set; Export and CO2 are optional.
type PriceSeries struct {
	// Currency is an ISO 4217 code such as "EUR" (display only; "" if
	// not given).
	Currency string `json:",omitempty"`
	// Import is the price of a kWh drawn from the grid, per kWh.
	Import []SeriesPoint `json:",omitempty"`
	// Export is what a kWh fed into the grid earns, per kWh.
	Export []SeriesPoint `json:",omitempty"`
	// CO2 is the grid's intensity in g/kWh.
	CO2 []SeriesPoint `json:",omitempty"`
	// End is where the series stop being known; zero means open-ended.
	End        time.Time `json:",omitzero"`
	UpdateTime time.Time `json:",omitzero"`
}

// LimitWindow lowers the limit of one node (the grid connection or a
// circuit) from From until Until: a grid-operator window, an owner's
// schedule, a tariff's capacity charge.
type LimitWindow struct {
	// Node is "" for the grid connection or a circuit ID.
	Node        string `json:",omitempty"`
	From, Until time.Time
	// Limit per grid phase in A; 0 on a phase means the window does not
	// limit that phase.
	Limit PhaseCurrents
	// PowerLimit in W; 0 means none.
	PowerLimit Watts `json:",omitempty"`
	Source     LimitSource
	Reason     string `json:",omitempty"`
}

// LimitSchedule is a site's limit windows for planning. (Grid limits of
// the configuration, [GridLimit], are planned with too.)
type LimitSchedule struct {
	Windows    []LimitWindow `json:",omitempty"`
	UpdateTime time.Time     `json:",omitzero"`
}

// ForecastKind says what a forecast is of.
type ForecastKind int

// Kinds of forecast.
const (
	// ForecastLoad is load that is not our EV charging (A per grid phase,
	// import positive).
	ForecastLoad ForecastKind = 1
	// ForecastPV is generation behind the node (A per grid phase,
	// positive when producing); it counts as negative other load.
	ForecastPV ForecastKind = 2
)

func (k ForecastKind) String() string {
	switch k {
	case ForecastLoad:
		return "load"
	case ForecastPV:
		return "pv"
	}
	return "unspecified"
}

// Forecast is a forecast of other load or of PV at one node. A node's
// forecast is what a meter at the node would see (besides our charging),
// its sub-circuits included; a node without a forecast of its own gets
// the sum of its children's. Outside its points (before the first; after
// End, or after the last point when End is zero) a forecast is 0.
type Forecast struct {
	// Node is "" for the grid connection or a circuit ID.
	Node   string `json:",omitempty"`
	Kind   ForecastKind
	Points []PhaseSeriesPoint
	// End is where the last point stops holding; zero means one hour
	// after the last point's start.
	End time.Time `json:",omitzero"`
}

// Forecasts are a site's forecasts, at most one per node and kind.
type Forecasts struct {
	Forecasts  []Forecast `json:",omitempty"`
	UpdateTime time.Time  `json:",omitzero"`
}

// PlanSettings tune a site's planning. Zero fields take the defaults.
type PlanSettings struct {
	// Slot is the slot length, 5 to 60 minutes dividing an hour; 0 means
	// 15 minutes.
	Slot time.Duration `json:",omitempty"`
	// Horizon is how far the plan looks, one slot to 48 h; 0 means 24 h.
	Horizon time.Duration `json:",omitempty"`
	// DefaultEnergy is the need of a session without needs; 0 means
	// [DefaultNeedEnergy]. Such sessions charge as early as the limits
	// allow, as in real time.
	DefaultEnergy WattHours `json:",omitempty"`
	// DefaultStay is how long a session without needs and departure
	// stays; 0 means to the end of the horizon.
	DefaultStay time.Duration `json:",omitempty"`
	// Disabled turns planning off for the site.
	Disabled   bool      `json:",omitempty"`
	UpdateTime time.Time `json:",omitzero"`
}

// EffectiveSlot is Slot or its default.
func (s PlanSettings) EffectiveSlot() time.Duration {
	if s.Slot == 0 {
		return DefaultPlanSlot
	}
	return s.Slot
}

// EffectiveHorizon is Horizon or its default.
func (s PlanSettings) EffectiveHorizon() time.Duration {
	if s.Horizon == 0 {
		return DefaultPlanHorizon
	}
	return s.Horizon
}

// EffectiveDefaultEnergy is DefaultEnergy or its default.
func (s PlanSettings) EffectiveDefaultEnergy() WattHours {
	if s.DefaultEnergy == 0 {
		return DefaultNeedEnergy
	}
	return s.DefaultEnergy
}

// SoCTarget is a state-of-charge need of the car on an EVSE: charge to
// TargetSoC percent of a battery of BatteryCapacity, from the state of
// charge the charger reports (MeterSample.SoC). It applies to the
// transaction it was set in (or, with TransactionID "", to the next one).
// The departure is in the EVSE's [ChargingNeeds].
type SoCTarget struct {
	TargetSoC       float64
	BatteryCapacity WattHours
	TransactionID   string    `json:",omitempty"`
	UpdateTime      time.Time `json:",omitzero"`
}

// PlanInputs is everything a site is given to plan with besides its
// configuration and live state.
type PlanInputs struct {
	Prices    PriceSeries
	Limits    LimitSchedule
	Forecasts Forecasts
	Settings  PlanSettings
	// Targets are state-of-charge needs by [EVSEKey].
	Targets map[string]SoCTarget `json:",omitempty"`
	// Seq increases with every change (the store sets it).
	Seq        uint64
	UpdateTime time.Time `json:",omitzero"`
}

// Plan is a site's stored plan: per session the schedule it is to follow
// and what it gives, per node the planned load per slot.
type Plan struct {
	SiteID string
	// Seq increases with every plan stored for the site (the store sets
	// it).
	Seq uint64
	// ComputedAt is when it was computed; Trigger says why ("tick",
	// "needs", "prices", ...).
	ComputedAt time.Time
	Trigger    string `json:",omitempty"`
	// InputsSeq is the PlanInputs.Seq it was computed from.
	InputsSeq uint64 `json:",omitempty"`
	// Slot k covers [Start + k·Slot, Start + (k+1)·Slot).
	Start time.Time
	Slot  time.Duration
	Slots int
	// Currency of Cost (from the prices).
	Currency string `json:",omitempty"`
	// Energy is the total expected energy of all sessions by their
	// departures; Cost its expected cost; CO2 in g (0 without CO2 data).
	Energy WattHours
	Cost   float64
	CO2    float64 `json:",omitempty"`
	// Exact reports that the planner solved every part exactly.
	Exact    bool                `json:",omitempty"`
	Sessions []SessionPlan       `json:",omitempty"`
	Nodes    []NodePlan          `json:",omitempty"`
	Warnings []string            `json:",omitempty"`
	Baseline map[string]Baseline `json:",omitempty"`
}

// Baseline records the energy a transaction had delivered when its energy
// need was last set, so that the need still open is the need minus what
// was delivered since. Keyed by [EVSEKey] in [Plan.Baseline].
type Baseline struct {
	TransactionID string
	// Need is the energy need as set; Delivered the transaction's energy
	// at the time.
	Need      WattHours
	Delivered WattHours
}

// NeedSource says where a session's need in a plan came from.
type NeedSource string

// Sources of needs.
const (
	NeedEnergy  NeedSource = "energy"  // an energy need (user, app, the car)
	NeedSoC     NeedSource = "soc"     // a state-of-charge target
	NeedDefault NeedSource = "default" // none given: PlanSettings.DefaultEnergy
)

// SessionPlan is the plan of one session (a car on an EVSE).
type SessionPlan struct {
	ChargerID     string
	EVSE          int
	TransactionID string `json:",omitempty"`
	// Departure is when the car leaves (as given, or the default).
	Departure time.Time `json:",omitzero"`
	// Need is the energy still needed at ComputedAt; Source where it came
	// from.
	Need   WattHours
	Source NeedSource
	// Energy is what the schedule delivers by departure if the car takes
	// it; Met reports that the need is met.
	Energy WattHours
	Met    bool
	// Cost is the session's share of the plan's cost.
	Cost float64
	// Periods is the schedule: each period holds from its Start until the
	// next one's (the last until Start + Duration).
	Periods  []PlanPeriod
	Duration time.Duration
	// Current is the limit per slot in A per phase.
	Current []Amps `json:",omitempty"`
	// WhyNot says, in runs of slots, why the session gets no more.
	WhyNot []WhyNot `json:",omitempty"`
}

// PlanPeriod is one period of a session's schedule.
type PlanPeriod struct {
	Start time.Time
	// Limit in Unit: A per phase or W in total.
	Limit  float64
	Unit   RateUnit
	Phases int
}

// WhyNot explains slots From..To (inclusive) of a session: Code is one
// word ("price", "node-limit", "departed", "max-current", "min-current",
// "profile", "infeasible", "need-met"), Node the binding node ("" grid, else a
// circuit or charger ID) where there is one, Reason the text.
type WhyNot struct {
	From, To int
	Code     string
	Node     string `json:",omitempty"`
	// NodeKind is "grid", "circuit" or "charger" when Node is set (or the
	// grid connection binds).
	NodeKind string `json:",omitempty"`
	Reason   string
}

// NodePlan is the planned load through one node per slot.
type NodePlan struct {
	// ID is "" for the grid connection, else a circuit or charger ID;
	// Kind "grid", "circuit" or "charger".
	ID   string
	Kind string
	// Ours is our planned charging, Total adds the forecast other load;
	// Limit is the limit in force (windows applied), all per grid phase.
	Ours  []PhaseCurrents
	Total []PhaseCurrents
	Limit []PhaseCurrents
}

// PlanUpdate is one element of a plan watch stream.
type PlanUpdate struct {
	Seq  uint64
	Plan Plan
}

// PlanStore keeps a site's plan inputs and its newest plan.
// Implementations are safe for concurrent use; UpdatePlanInputs is atomic
// and validates the result (a *ValidationError, nothing written), and
// sets Seq to the previous Seq + 1 and UpdateTime. A site never written
// has zero PlanInputs (not ErrNotFound); Plan is ErrNotFound until one is
// stored. PutPlan stores p with Seq one above the last stored plan's and
// returns it. Errors: ErrUnavailable (retryable), ErrConflict after
// repeated lost races, ErrNotFound for a malformed site ID, fn's own
// error as it is.
type PlanStore interface {
	PlanInputs(ctx context.Context, siteID string) (PlanInputs, error)
	UpdatePlanInputs(ctx context.Context, siteID string, fn func(*PlanInputs) error) (PlanInputs, error)
	Plan(ctx context.Context, siteID string) (Plan, error)
	PutPlan(ctx context.Context, siteID string, p Plan) (Plan, error)
}

// PlanReader gives a site's plan and its changes (package planning's
// Runner implements it).
//
// Plan returns the newest plan; ErrNotFound when none was made. Watch
// sends the newest plan (if any) and then every new one until ctx ends,
// then closes the channel; a slow reader misses intermediate plans but
// always gets the newest.
type PlanReader interface {
	Plan(ctx context.Context, siteID string) (Plan, error)
	WatchPlan(ctx context.Context, siteID string) (<-chan PlanUpdate, error)
}

// PlanTrigger asks for a site to be planned again (after its plan inputs
// or needs changed). It never blocks; triggers are coalesced.
type PlanTrigger interface {
	Replan(siteID, reason string)
}

// ---- validation ----

func finiteF(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func validSeries(e *ValidationError, field string, pts []SeriesPoint, lo, hi float64) {
	if len(pts) > MaxSeriesPoints {
		e.Add(field, "at most %d points, got %d", MaxSeriesPoints, len(pts))
		return
	}
	for i, p := range pts {
		f := fmt.Sprintf("%s[%d]", field, i)
		if p.Start.IsZero() {
			e.Add(f+".start_time", "must be set")
		} else if i > 0 && !p.Start.After(pts[i-1].Start) {
			e.Add(f+".start_time", "must be after the previous point's")
		}
		if !finiteF(p.Value) || p.Value < lo || p.Value > hi {
			e.Add(f+".value", "must be a number from %g to %g", lo, hi)
		}
	}
}

// Validate checks a price series.
func (p PriceSeries) Validate() error {
	var e ValidationError
	if p.Currency != "" && !validCurrency(p.Currency) {
		e.Add("currency", "must be an ISO 4217 code of three upper-case letters such as EUR")
	}
	if len(p.Import) == 0 && (len(p.Export) > 0 || len(p.CO2) > 0) {
		e.Add("import", "required when export or co2 is given")
	}
	validSeries(&e, "import", p.Import, -MaxPricePerKWh, MaxPricePerKWh)
	validSeries(&e, "export", p.Export, -MaxPricePerKWh, MaxPricePerKWh)
	validSeries(&e, "co2", p.CO2, 0, MaxCO2PerKWh)
	if !p.End.IsZero() {
		for _, s := range [][]SeriesPoint{p.Import, p.Export, p.CO2} {
			if n := len(s); n > 0 && !p.End.After(s[n-1].Start) {
				e.Add("end_time", "must be after the last point of every series")
				break
			}
		}
	}
	return e.Err()
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range 3 {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

func validNode(e *ValidationError, field, node string) {
	if node != "" && !ValidResourceID(node) {
		e.Add(field, "must be \"\" (the grid connection) or a circuit ID")
	}
}

func validPhaseLimit(e *ValidationError, field string, c PhaseCurrents) {
	for i, a := range c {
		if !finiteF(float64(a)) || a < 0 || a > MaxPhaseCurrent {
			e.Add(fmt.Sprintf("%s.l%d", field, i+1), "must be 0 (not limited) to %g A", float64(MaxPhaseCurrent))
		}
	}
}

// Validate checks one window; fields are named without a prefix.
func (w LimitWindow) Validate() error {
	var e ValidationError
	w.validate(&e, "")
	return e.Err()
}

func (w LimitWindow) validate(e *ValidationError, prefix string) {
	validNode(e, prefix+"node", w.Node)
	if w.From.IsZero() {
		e.Add(prefix+"start_time", "must be set")
	}
	if w.Until.IsZero() {
		e.Add(prefix+"end_time", "must be set")
	} else if !w.From.IsZero() && !w.Until.After(w.From) {
		e.Add(prefix+"end_time", "must be after start_time")
	}
	validPhaseLimit(e, prefix+"limit", w.Limit)
	if !finiteF(float64(w.PowerLimit)) || w.PowerLimit < 0 || w.PowerLimit > MaxPower {
		e.Add(prefix+"power_limit_kw", "must be 0 (none) to %g kW", float64(MaxPower)/1000)
	}
	if w.Limit == (PhaseCurrents{}) && w.PowerLimit == 0 {
		e.Add(prefix+"limit", "a window must limit a phase or the power")
	}
	if w.Source < SourceUnspecified || w.Source > SourceGridOperator {
		e.Add(prefix+"source", "must be owner, ems or grid-operator")
	}
	if len([]rune(w.Reason)) > MaxReasonRunes {
		e.Add(prefix+"reason", "at most %d characters", MaxReasonRunes)
	}
}

// Validate checks a limit schedule.
func (s LimitSchedule) Validate() error {
	var e ValidationError
	if len(s.Windows) > MaxLimitWindows {
		e.Add("windows", "at most %d windows, got %d", MaxLimitWindows, len(s.Windows))
		return e.Err()
	}
	for i, w := range s.Windows {
		w.validate(&e, fmt.Sprintf("windows[%d].", i))
	}
	return e.Err()
}

// Validate checks one forecast; fields are named without a prefix.
func (f Forecast) Validate() error {
	var e ValidationError
	f.validate(&e, "")
	return e.Err()
}

func (f Forecast) validate(e *ValidationError, prefix string) {
	validNode(e, prefix+"node", f.Node)
	if f.Kind != ForecastLoad && f.Kind != ForecastPV {
		e.Add(prefix+"kind", "must be load or pv")
	}
	if len(f.Points) == 0 {
		e.Add(prefix+"points", "at least one point")
	}
	if len(f.Points) > MaxSeriesPoints {
		e.Add(prefix+"points", "at most %d points, got %d", MaxSeriesPoints, len(f.Points))
		return
	}
	for i, p := range f.Points {
		pf := fmt.Sprintf("%spoints[%d]", prefix, i)
		if p.Start.IsZero() {
			e.Add(pf+".start_time", "must be set")
		} else if i > 0 && !p.Start.After(f.Points[i-1].Start) {
			e.Add(pf+".start_time", "must be after the previous point's")
		}
		for ph, a := range p.Current {
			if !finiteF(float64(a)) || a < -MaxPhaseCurrent || a > MaxPhaseCurrent {
				e.Add(fmt.Sprintf("%s.current.l%d", pf, ph+1), "must be a finite current within ±%g A", float64(MaxPhaseCurrent))
			} else if f.Kind == ForecastPV && a < 0 {
				e.Add(fmt.Sprintf("%s.current.l%d", pf, ph+1), "PV generation must be >= 0")
			}
		}
	}
	if n := len(f.Points); n > 0 && !f.End.IsZero() && !f.End.After(f.Points[n-1].Start) {
		e.Add(prefix+"end_time", "must be after the last point")
	}
}

// Validate checks a site's forecasts: each, and at most one per node and
// kind.
func (fs Forecasts) Validate() error {
	var e ValidationError
	if len(fs.Forecasts) > MaxForecasts {
		e.Add("forecasts", "at most %d forecasts, got %d", MaxForecasts, len(fs.Forecasts))
		return e.Err()
	}
	seen := map[[2]string]int{}
	for i, f := range fs.Forecasts {
		f.validate(&e, fmt.Sprintf("forecasts[%d].", i))
		k := [2]string{f.Node, f.Kind.String()}
		if j, dup := seen[k]; dup {
			e.Add(fmt.Sprintf("forecasts[%d]", i), "a second %s forecast of node %q (first at forecasts[%d])", f.Kind, f.Node, j)
		}
		seen[k] = i
	}
	return e.Err()
}

// Validate checks planning settings.
func (s PlanSettings) Validate() error {
	var e ValidationError
	if s.Slot != 0 && (s.Slot < MinPlanSlot || s.Slot > MaxPlanSlot || time.Hour%s.Slot != 0 || s.Slot%time.Minute != 0) {
		e.Add("slot", "must be 0 (15 minutes) or whole minutes from 5 to 60 dividing an hour, got %v", s.Slot)
	}
	if s.Horizon < 0 || s.Horizon > MaxPlanHorizon || (s.Horizon != 0 && s.Horizon < s.EffectiveSlot()) {
		e.Add("horizon", "must be 0 (24 h) or one slot to 48 h, got %v", s.Horizon)
	}
	if !finiteF(float64(s.DefaultEnergy)) || s.DefaultEnergy < 0 || s.DefaultEnergy > MaxNeedEnergy {
		e.Add("default_energy_kwh", "must be 0 (20 kWh) to %g kWh", float64(MaxNeedEnergy)/1000)
	}
	if s.DefaultStay < 0 || s.DefaultStay > MaxPlanHorizon {
		e.Add("default_stay", "must be 0 (to the end of the horizon) to 48 h")
	}
	return e.Err()
}

// Validate checks a state-of-charge target.
func (t SoCTarget) Validate() error {
	var e ValidationError
	if !finiteF(t.TargetSoC) || t.TargetSoC <= 0 || t.TargetSoC > 100 {
		e.Add("target_soc_percent", "must be above 0 and at most 100")
	}
	if !finiteF(float64(t.BatteryCapacity)) || t.BatteryCapacity <= 0 || t.BatteryCapacity > MaxNeedEnergy {
		e.Add("battery_capacity_kwh", "must be above 0 and at most %g kWh", float64(MaxNeedEnergy)/1000)
	}
	return e.Err()
}

// Validate checks all plan inputs; fields are prefixed with "prices.",
// "limits.", "forecasts.", "settings." and "targets[<key>].".
func (in PlanInputs) Validate() error {
	var e ValidationError
	merge := func(prefix string, err error) {
		if ve, ok := err.(*ValidationError); ok {
			for _, v := range ve.Violations {
				e.Add(prefix+v.Field, "%s", v.Rule)
			}
		}
	}
	merge("prices.", in.Prices.Validate())
	merge("limits.", in.Limits.Validate())
	merge("", in.Forecasts.Validate())
	merge("settings.", in.Settings.Validate())
	for k, t := range in.Targets {
		if c, evse, ok := strings.Cut(k, "/"); !ok || !ValidResourceID(c) || evse == "" {
			e.Add(fmt.Sprintf("targets[%s]", k), "key must be \"<charger>/<evse>\"")
		}
		merge(fmt.Sprintf("targets[%s].", k), t.Validate())
	}
	return e.Err()
}

// Validate checks a plan before it is stored: the shape (one entry per
// slot), finite numbers, sessions naming their EVSE.
func (p Plan) Validate() error {
	var e ValidationError
	if !ValidResourceID(p.SiteID) {
		e.Add("site_id", "must be a site ID")
	}
	if p.Start.IsZero() {
		e.Add("start_time", "must be set")
	}
	if p.Slot <= 0 {
		e.Add("slot", "must be positive")
	}
	if p.Slots < 0 {
		e.Add("slots", "must be >= 0")
	}
	if !finiteF(float64(p.Energy)) || !finiteF(p.Cost) || !finiteF(p.CO2) {
		e.Add("cost", "energy, cost and co2 must be finite")
	}
	for i, s := range p.Sessions {
		f := fmt.Sprintf("sessions[%d]", i)
		if !ValidResourceID(s.ChargerID) || s.EVSE < 1 {
			e.Add(f+".evse", "must name a charger and an EVSE from 1")
		}
		if len(s.Current) != 0 && len(s.Current) != p.Slots {
			e.Add(f+".current", "must have one entry per slot (%d), got %d", p.Slots, len(s.Current))
		}
		if !finiteF(float64(s.Need)) || !finiteF(float64(s.Energy)) || s.Need < 0 || s.Energy < 0 {
			e.Add(f+".energy", "need and energy must be finite and >= 0")
		}
		for j, pp := range s.Periods {
			if !finiteF(pp.Limit) || pp.Limit < 0 {
				e.Add(fmt.Sprintf("%s.periods[%d].limit", f, j), "must be finite and >= 0")
			}
			if j > 0 && !pp.Start.After(s.Periods[j-1].Start) {
				e.Add(fmt.Sprintf("%s.periods[%d].start_time", f, j), "must be after the previous period's")
			}
		}
	}
	for i, n := range p.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		if len(n.Ours) != p.Slots || len(n.Total) != p.Slots || (len(n.Limit) != 0 && len(n.Limit) != p.Slots) {
			e.Add(f, "must have one entry per slot (%d)", p.Slots)
		}
	}
	return e.Err()
}
