package planning

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/site"
)

// Snapshot is everything one plan of a site is made from. [Build] and
// [Assemble] are pure functions of it.
type Snapshot struct {
	// Now is the start of the plan (slot 0).
	Now    time.Time
	Config site.Config
	// States are the chargers' live states by charger ID (missing: no
	// session).
	States map[string]site.ChargerState
	// Loop holds the needs and priorities set through the API or by the
	// car.
	Loop   site.LoopState
	Inputs site.PlanInputs
	// Previous is the site's last plan (nil if none): its baselines say
	// how much of an energy need was delivered before.
	Previous *site.Plan
}

// sessionMeta is what Build knows of a planned session beyond plan.Session.
type sessionMeta struct {
	chargerID string
	evse      int
	txID      string
	source    site.NeedSource
	need      site.WattHours // still needed at Now (soc: computed by the planner)
	departure time.Time
	baseline  *site.Baseline
}

type nodeMeta struct {
	id   string // "" for the grid connection
	kind string
}

// Built is a plan.Input with what is needed to turn the planner's result
// into a [site.Plan].
type Built struct {
	Input    plan.Input
	sessions []sessionMeta
	nodes    []nodeMeta
	warnings []string
	currency string
}

// planNodeID is the planner's node ID for a site node: the planner wants
// non-empty, unique IDs.
func planNodeID(kind, id string) string { return kind + ":" + id }

// Build turns a snapshot into the planner's input. base tunes the planner
// (nil: plan.DefaultConfig); the site's settings override its default
// energy and stay. Inputs naming nodes the site does not have are left out
// with a warning in the plan.
func Build(s Snapshot, base *plan.Config) (*Built, error) {
	cfg := plan.DefaultConfig()
	if base != nil {
		cfg = *base
	}
	st := s.Inputs.Settings
	cfg.DefaultEnergy = scheduler.WattHours(st.EffectiveDefaultEnergy())
	cfg.DefaultStay = st.DefaultStay
	slot, horizon := st.EffectiveSlot(), st.EffectiveHorizon()
	b := &Built{currency: s.Inputs.Prices.Currency}
	now := s.Now.UTC().Truncate(time.Second)
	loc, err := s.Config.Site.Location()
	if err != nil {
		b.warnf("site time zone: %v; slots aligned in UTC", err)
		loc = time.UTC
	}
	start := AlignSlot(now, slot, loc)
	b.Input = plan.Input{
		Start: start, Slot: slot, Horizon: horizon, Config: &cfg,
		NominalVoltage: scheduler.Volts(s.Config.Site.NominalVoltage),
	}
	if now.After(start) {
		b.Input.From = now
	}
	if b.Input.NominalVoltage == 0 {
		b.Input.NominalVoltage = scheduler.Volts(site.DefaultNominalVoltage)
	}
	n := b.Input.Slots()
	end := start.Add(time.Duration(n) * slot)

	// Nodes: the grid connection, circuits parents first, chargers.
	index := map[string]int{"": 0}
	gridPower := scheduler.Watts(s.Config.Site.GridPowerLimit)
	b.Input.Nodes = append(b.Input.Nodes, plan.Node{ID: planNodeID("grid", ""), Parent: -1,
		Limit: limits(s.Config.Site.GridLimit), PowerLimit: gridPower})
	b.nodes = append(b.nodes, nodeMeta{id: "", kind: "grid"})
	for _, c := range circuitsInOrder(s.Config.Circuits) {
		index[c.ID] = len(b.Input.Nodes)
		b.Input.Nodes = append(b.Input.Nodes, plan.Node{ID: planNodeID("circuit", c.ID), Parent: index[c.Parent],
			Limit: limits(c.Limit), PowerLimit: scheduler.Watts(c.PowerLimit)})
		b.nodes = append(b.nodes, nodeMeta{id: c.ID, kind: "circuit"})
	}
	chargerNode := map[string]int{}
	for _, ch := range s.Config.Chargers {
		p, ok := index[ch.Circuit]
		if !ok {
			p = 0
		}
		chargerNode[ch.ID] = len(b.Input.Nodes)
		b.Input.Nodes = append(b.Input.Nodes, plan.Node{ID: planNodeID("charger", ch.ID), Parent: p,
			Limit: scheduler.Uniform(scheduler.Unlimited())})
		b.nodes = append(b.nodes, nodeMeta{id: ch.ID, kind: "charger"})
	}

	// Windows: the configuration's grid limits, then the schedule.
	for _, l := range s.Config.Limits {
		from, to := l.Start, l.End
		if from.IsZero() || from.Before(start) {
			from = start
		}
		if to.IsZero() || to.After(end) {
			to = end
		}
		if !to.After(from) {
			continue
		}
		b.Input.Nodes[0].Windows = append(b.Input.Nodes[0].Windows, plan.Window{From: from, To: to,
			Limit: windowLimits(l.Limit), PowerLimit: scheduler.Watts(l.PowerLimit), Source: "grid-limit " + l.ID})
	}
	for i, w := range s.Inputs.Limits.Windows {
		ni, ok := index[w.Node]
		if !ok {
			b.warnf("limits.windows[%d]: the site has no circuit %q; window left out", i, w.Node)
			continue
		}
		if !w.Until.After(start) || !w.From.Before(end) {
			continue
		}
		src := w.Source.String()
		if w.Reason != "" {
			src += ": " + w.Reason
		}
		b.Input.Nodes[ni].Windows = append(b.Input.Nodes[ni].Windows, plan.Window{From: w.From, To: w.Until,
			Limit: windowLimits(w.Limit), PowerLimit: scheduler.Watts(w.PowerLimit), Source: src})
	}

	// Forecasts: a node's own (load minus PV), else its children's sum.
	own := make([][][3]float64, len(b.Input.Nodes))
	for i, f := range s.Inputs.Forecasts.Forecasts {
		ni, ok := index[f.Node]
		if !ok {
			b.warnf("forecasts[%d]: the site has no circuit %q; forecast left out", i, f.Node)
			continue
		}
		v := forecastSlots(f, start, slot, n)
		if own[ni] == nil {
			own[ni] = make([][3]float64, n)
		}
		sign := 1.0
		if f.Kind == site.ForecastPV {
			sign = -1
		}
		for k := range v {
			for p := range 3 {
				own[ni][k][p] += sign * v[k][p]
			}
		}
	}
	acc := make([][][3]float64, len(b.Input.Nodes))
	for i := len(b.Input.Nodes) - 1; i >= 0; i-- {
		eff := own[i]
		if eff == nil {
			eff = acc[i]
		}
		if eff == nil {
			continue
		}
		ol := make([]scheduler.PhaseCurrents, n)
		for k := range eff {
			for p := range 3 {
				ol[k][p] = scheduler.Amps(eff[k][p])
			}
		}
		b.Input.Nodes[i].OtherLoad = ol
		if par := b.Input.Nodes[i].Parent; par >= 0 {
			if acc[par] == nil {
				acc[par] = make([][3]float64, n)
			}
			for k := range eff {
				for p := range 3 {
					acc[par][k][p] += eff[k][p]
				}
			}
		}
	}

	// Prices.
	pr := s.Inputs.Prices
	for _, v := range priceSlots(pr.Import, pr.End, start, slot, n) {
		b.Input.Price = append(b.Input.Price, plan.PricePerKWh(v))
	}
	for _, v := range priceSlots(pr.Export, pr.End, start, slot, n) {
		b.Input.ExportPrice = append(b.Input.ExportPrice, plan.PricePerKWh(v))
	}
	for _, v := range priceSlots(pr.CO2, pr.End, start, slot, n) {
		b.Input.CO2 = append(b.Input.CO2, plan.GramsPerKWh(max(0, v)))
	}

	// Sessions: EVSEs with a car.
	for _, ch := range s.Config.Chargers {
		state, ok := s.States[ch.ID]
		if !ok {
			continue
		}
		for _, e := range ch.EVSEs {
			es, ok := state.EVSEs[e.ID]
			if !ok || !hasCar(es) {
				continue
			}
			b.addSession(&s, ch, e, state, es, chargerNode[ch.ID])
		}
	}
	if err := b.Input.Validate(); err != nil {
		return nil, fmt.Errorf("planning: site %s: built an invalid planner input: %w", s.Config.Site.ID, err)
	}
	return b, nil
}

// AlignSlot returns the slot boundary at or before now: boundaries are
// whole multiples of slot from local midnight in loc (15-minute slots at
// :00, :15, :30 and :45 of the site's clock, also in zones half an hour off
// UTC). On the day clocks change, they count from midnight in elapsed
// time, so after the change they fall where the offset puts them (for
// slots that divide an hour, still on the quarter hours).
func AlignSlot(now time.Time, slot time.Duration, loc *time.Location) time.Time {
	if slot <= 0 {
		return now
	}
	l := now.In(loc)
	midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	since := now.Sub(midnight)
	return midnight.Add(since - since%slot).UTC()
}

func (b *Built) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// hasCar reports whether an EVSE has a car: plugged in, charging or
// suspended, or a transaction running.
func hasCar(es site.EVSEState) bool {
	switch es.Status {
	case site.StatusOccupied, site.StatusCharging, site.StatusSuspendedEV, site.StatusSuspendedEVSE:
		return true
	case site.StatusUnknown:
		return es.Transaction != nil
	}
	return false
}

func (b *Built) addSession(s *Snapshot, ch site.Charger, e site.EVSE, state site.ChargerState, es site.EVSEState, node int) {
	key := site.EVSEKey(ch.ID, e.ID)
	needs := s.Loop.Needs[key]
	ps := plan.Session{
		ID: key, Node: node, Rotation: rotation(ch.PhaseRotation),
		MinCurrent: scheduler.Amps(e.MinCurrent), MaxCurrent: scheduler.Amps(e.MaxCurrent),
		Priority: s.Loop.Priorities[key], Departure: needs.Departure,
		MaxPeriods: state.Capabilities.MaxPeriods, Unit: unit(state.Capabilities.RateUnits),
	}
	wiring := scheduler.AllPhases
	if e.Phases == 1 {
		wiring = scheduler.OnlyL1
	}
	ps.Phases = wiring
	var txID string
	var delivered site.WattHours
	if es.Transaction != nil {
		txID, delivered = es.Transaction.ID, es.Transaction.Energy
	}
	if state.Loop != nil {
		if ls := state.Loop.EVSEs[e.ID]; ls != nil && ls.CarPhases != 0 && ls.CarPhasesTx == txID {
			if cp := scheduler.PhaseSet(ls.CarPhases) & wiring; cp != 0 {
				ps.Phases = cp
			}
		}
	}
	if needs.MaxCurrent > 0 && scheduler.Amps(needs.MaxCurrent) < ps.MaxCurrent {
		ps.MaxCurrent = scheduler.Amps(needs.MaxCurrent)
	}
	if needs.MinCurrent > 0 && scheduler.Amps(needs.MinCurrent) > ps.MinCurrent {
		ps.MinCurrent = min(scheduler.Amps(needs.MinCurrent), ps.MaxCurrent)
	}
	if ps.MinCurrent == 0 && b.Input.Config.DefaultMin > ps.MaxCurrent {
		ps.MinCurrent = ps.MaxCurrent
	}
	meta := sessionMeta{chargerID: ch.ID, evse: e.ID, txID: txID, departure: needs.Departure}
	target, hasTarget := s.Inputs.Targets[key]
	var soc *float64
	if es.LastSample != nil {
		soc = es.LastSample.SoC
	}
	switch {
	case hasTarget && (target.TransactionID == "" || target.TransactionID == txID) && soc != nil:
		ps.SoC, ps.TargetSoC, ps.BatteryCapacity = math.Min(100, math.Max(0, *soc)), target.TargetSoC, scheduler.WattHours(target.BatteryCapacity)
		if ps.SoC >= ps.TargetSoC {
			// already there: a need of (almost) nothing, not "no needs"
			ps.SoC, ps.TargetSoC, ps.BatteryCapacity = 0, 0, 0
			ps.EnergyNeeded = metNeed
		}
		meta.source = site.NeedSoC
		meta.need = site.WattHours(max(0, target.TargetSoC-ps.SoC) / 100 * float64(target.BatteryCapacity))
	case needs.Energy > 0:
		if hasTarget && soc == nil {
			b.warnf("%s: state-of-charge target without a state of charge from the car; planned with the energy need", key)
		}
		base := site.Baseline{TransactionID: txID, Need: needs.Energy, Delivered: delivered}
		if s.Previous != nil {
			if old, ok := s.Previous.Baseline[key]; ok && old.TransactionID == txID && old.Need == needs.Energy && old.Delivered <= delivered {
				base = old
			}
		}
		left := needs.Energy - (delivered - base.Delivered)
		meta.need = max(0, left)
		meta.source = site.NeedEnergy
		meta.baseline = &base
		ps.EnergyNeeded = scheduler.WattHours(meta.need)
		if ps.EnergyNeeded <= 0 {
			ps.EnergyNeeded = metNeed
		}
	default:
		if hasTarget && soc == nil {
			b.warnf("%s: state-of-charge target without a state of charge from the car; planned with the default need", key)
		}
		meta.source = site.NeedDefault
		meta.need = site.WattHours(b.Input.Config.DefaultEnergy)
	}
	b.Input.Sessions = append(b.Input.Sessions, ps)
	b.sessions = append(b.sessions, meta)
}

// metNeed stands for a need that is met: the planner takes 0 as "no
// needs" (the default), so a met need is planned as a sliver.
const metNeed scheduler.WattHours = 1e-3

func limits(c site.PhaseCurrents) scheduler.PhaseCurrents {
	var out scheduler.PhaseCurrents
	for p := range 3 {
		out[p] = scheduler.Amps(c[p])
	}
	return out
}

// windowLimits: 0 on a phase means the window does not limit it.
func windowLimits(c site.PhaseCurrents) scheduler.PhaseCurrents {
	var out scheduler.PhaseCurrents
	for p := range 3 {
		if c[p] > 0 {
			out[p] = scheduler.Amps(c[p])
		} else {
			out[p] = scheduler.Unlimited()
		}
	}
	return out
}

func rotation(r site.PhaseRotation) scheduler.Rotation {
	if !r.Known() || !r.Valid() {
		return scheduler.Rotation{}
	}
	return scheduler.Rotation{scheduler.Phase(r[0]), scheduler.Phase(r[1]), scheduler.Phase(r[2])}
}

// unit: amperes unless the charger takes only watts.
func unit(us []site.RateUnit) plan.RateUnit {
	if len(us) == 0 || slices.Contains(us, site.UnitAmps) {
		return plan.UnitAmps
	}
	return plan.UnitWatts
}

// circuitsInOrder returns circuits with every parent before its children
// (circuits whose parent is missing hang on the grid connection).
func circuitsInOrder(cs []site.Circuit) []site.Circuit {
	byID := map[string]site.Circuit{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	sorted := slices.Clone(cs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	var out []site.Circuit
	done := map[string]bool{}
	var visit func(c site.Circuit, depth int)
	visit = func(c site.Circuit, depth int) {
		if done[c.ID] || depth > len(cs) {
			return
		}
		if p, ok := byID[c.Parent]; ok && c.Parent != "" {
			visit(p, depth+1)
		} else {
			c.Parent = ""
		}
		if !done[c.ID] {
			done[c.ID] = true
			out = append(out, c)
		}
	}
	for _, c := range sorted {
		visit(c, 0)
	}
	return out
}

// Assemble turns the planner's result into the plan to store.
func Assemble(b *Built, res plan.Result, siteID string, now time.Time, trigger string, inputsSeq uint64) site.Plan {
	p := site.Plan{
		SiteID: siteID, ComputedAt: now, Trigger: trigger, InputsSeq: inputsSeq,
		Start: res.Start, Slot: res.Slot, Slots: res.Slots, Currency: b.currency,
		Cost: float64(res.Cost), CO2: float64(res.CO2), Exact: res.Exact,
		Warnings: slices.Clone(b.warnings),
	}
	for _, inf := range res.Infeasible {
		nm := b.nodes[inf.Node]
		what := "power"
		if inf.Phase != 0 {
			what = inf.Phase.String()
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("slot %d (%s): the forecast other load alone is over the limit of %s on %s by %.1f A",
			inf.Slot, res.Start.Add(time.Duration(inf.Slot)*res.Slot).Format(time.RFC3339), nodeLabel(nm), what, float64(inf.Excess)))
	}
	for i, sp := range res.Sessions {
		m := b.sessions[i]
		out := site.SessionPlan{
			ChargerID: m.chargerID, EVSE: m.evse, TransactionID: m.txID, Departure: m.departure,
			Need: m.need, Source: m.source, Energy: site.WattHours(sp.Energy), Met: sp.Met,
			Cost: float64(sp.Cost), Duration: sp.Duration,
		}
		if m.source == site.NeedSoC {
			out.Need = site.WattHours(sp.Need)
		}
		if m.source != site.NeedDefault && out.Need <= site.WattHours(metNeed) {
			out.Need, out.Met = 0, true
		}
		if out.Departure.IsZero() && sp.Duration > 0 {
			out.Departure = res.Start.Add(sp.Duration)
		}
		for _, per := range sp.Periods {
			u := site.UnitAmps
			if per.Unit == plan.UnitWatts {
				u = site.UnitWatts
			}
			out.Periods = append(out.Periods, site.PlanPeriod{Start: res.Start.Add(per.Offset), Limit: per.Limit, Unit: u, Phases: per.Phases})
		}
		out.Current = make([]site.Amps, len(sp.Current))
		for k, a := range sp.Current {
			out.Current[k] = site.Amps(a)
		}
		out.WhyNot = whyRuns(sp.Why, b.nodes)
		p.Energy += out.Energy
		p.Sessions = append(p.Sessions, out)
		if m.baseline != nil {
			if p.Baseline == nil {
				p.Baseline = map[string]site.Baseline{}
			}
			p.Baseline[site.EVSEKey(m.chargerID, m.evse)] = *m.baseline
		}
	}
	for i, nl := range res.Nodes {
		m := b.nodes[i]
		np := site.NodePlan{ID: m.id, Kind: m.kind,
			Ours: phaseSlots(nl.Ours), Total: phaseSlots(nl.Total), Limit: nodeLimits(&b.Input, i, res.Slots)}
		p.Nodes = append(p.Nodes, np)
	}
	return p
}

func nodeLabel(m nodeMeta) string {
	if m.kind == "grid" {
		return "the grid connection"
	}
	return m.kind + " " + m.id
}

func phaseSlots(in []scheduler.PhaseCurrents) []site.PhaseCurrents {
	out := make([]site.PhaseCurrents, len(in))
	for k, c := range in {
		for p := range 3 {
			out[k][p] = site.Amps(c[p])
		}
	}
	return out
}

// nodeLimits is the phase limit of node i per slot with the windows that
// overlap the slot applied, as the planner applies them; 0 means none.
func nodeLimits(in *plan.Input, i, n int) []site.PhaseCurrents {
	nd := &in.Nodes[i]
	slot := in.SlotLen()
	out := make([]site.PhaseCurrents, n)
	for k := range n {
		a := in.Start.Add(time.Duration(k) * slot)
		b := a.Add(slot)
		l := nd.Limit
		for _, w := range nd.Windows {
			if w.From.Before(b) && w.To.After(a) {
				for p := range 3 {
					l[p] = min(l[p], w.Limit[p])
				}
			}
		}
		for p := range 3 {
			if !math.IsInf(float64(l[p]), 1) {
				out[k][p] = site.Amps(l[p])
			}
		}
	}
	return out
}

// whyRuns compresses the per-slot explanations into runs.
func whyRuns(why []plan.Why, nodes []nodeMeta) []site.WhyNot {
	var out []site.WhyNot
	for k, w := range why {
		wn := site.WhyNot{From: k, To: k, Code: w.Code.String(), Reason: whyText(w, nodes)}
		if w.Node >= 0 && w.Node < len(nodes) {
			wn.Node, wn.NodeKind = nodes[w.Node].id, nodes[w.Node].kind
		}
		if l := len(out); l > 0 && out[l-1].Code == wn.Code && out[l-1].NodeKind == wn.NodeKind && out[l-1].Node == wn.Node && out[l-1].Reason == wn.Reason && out[l-1].To == k-1 {
			out[l-1].To = k
			continue
		}
		out = append(out, wn)
	}
	return out
}

func whyText(w plan.Why, nodes []nodeMeta) string {
	switch w.Code {
	case plan.WhyMax:
		return "at its maximum current"
	case plan.WhyDeparted:
		return "after departure"
	case plan.WhyPrice:
		return "the need is met in cheaper or earlier slots"
	case plan.WhyMinCurrent:
		return "the room left is below the minimum current"
	case plan.WhyProfile:
		return "the charger's period limit or the rounding step"
	case plan.WhyNeedMet:
		return "the need is met by then"
	}
	label := "a node"
	if w.Node >= 0 && w.Node < len(nodes) {
		label = nodeLabel(nodes[w.Node])
	}
	what := "power limit"
	if w.Phase != 0 {
		what = w.Phase.String() + " limit"
	}
	if w.Code == plan.WhyInfeasible {
		return "the forecast other load alone overloads " + label
	}
	return "the " + what + " of " + label + " is full"
}
