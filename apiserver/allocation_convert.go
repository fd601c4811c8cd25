package apiserver

import (
	"math"
	"regexp"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// Bounds of inputs to the control loop, on top of the site package's.
const (
	// maxReadAhead is how far a meter reading's time may be ahead of the
	// server's clock (clock skew between EMS and server).
	maxReadAhead = 5 * time.Minute
	// maxNeedsEnergyKWh bounds ChargingNeeds.energy_kwh (a heavy truck's
	// battery is below 1 MWh).
	maxNeedsEnergyKWh = 10_000
	// maxPriority bounds SetPriority's weight.
	maxPriority = 100
)

func allocationName(siteID string) string { return siteName(siteID) + "/allocation" }

var nodeKinds = map[string]pb.NodeKind{
	"grid":    pb.NodeKind_NODE_KIND_GRID,
	"circuit": pb.NodeKind_NODE_KIND_CIRCUIT,
	"charger": pb.NodeKind_NODE_KIND_CHARGER,
}

var controlStates = map[string]pb.EvseControlState{
	"no-car":         pb.EvseControlState_EVSE_CONTROL_STATE_NO_CAR,
	"charging":       pb.EvseControlState_EVSE_CONTROL_STATE_CHARGING,
	"suspended":      pb.EvseControlState_EVSE_CONTROL_STATE_SUSPENDED,
	"faulted":        pb.EvseControlState_EVSE_CONTROL_STATE_FAULTED,
	"offline":        pb.EvseControlState_EVSE_CONTROL_STATE_OFFLINE,
	"uncontrollable": pb.EvseControlState_EVSE_CONTROL_STATE_UNCONTROLLABLE,
}

// nodeName gives a node's resource name: the site for the grid
// connection, else the circuit's or charger's name.
func nodeName(siteID, kind, id string) string {
	switch kind {
	case "grid":
		return siteName(siteID)
	case "circuit":
		return childName(siteID, collCircuits, id)
	case "charger":
		return childName(siteID, collChargers, id)
	}
	return id
}

func nodeToProto(siteID string, n site.NodeView) *pb.NodeAllocation {
	return &pb.NodeAllocation{
		Node:      nodeName(siteID, n.Kind, n.ID),
		Kind:      nodeKinds[n.Kind],
		Limit:     currentsToProto(n.Limit),
		OtherLoad: currentsToProto(n.OtherLoad),
		Allocated: currentsToProto(n.Allocated),
	}
}

func evseToProto(siteID string, e site.EVSEView) *pb.EvseAllocation {
	ref := site.ChargerRef{SiteID: siteID, ChargerID: e.ChargerID}
	return &pb.EvseAllocation{
		Name:          evseName(ref, e.EVSE),
		Charger:       childName(siteID, collChargers, e.ChargerID),
		EvseId:        int32(e.EVSE),
		State:         controlStates[e.State],
		Limit:         float64(e.Limit),
		Phases:        int32(e.Phases),
		Reason:        e.Reason,
		ReasonCode:    e.ReasonCode,
		Binding:       bindingFromReason(siteID, e.ReasonCode, e.Reason),
		AcceptedLimit: float64(e.Accepted),
		Pending:       e.Pending,
		CountedAt:     float64(e.CountedAt),
		Drawn:         currentsToProto(e.Drawn),
		NonCompliant:  e.NonCompliant,
		ResumeFailed:  e.ResumeFailed,
	}
}

// allocationToProto converts a view; the zero view (none computed yet)
// gives seq 0 and nothing else but the name.
func allocationToProto(siteID string, v site.AllocationView) *pb.Allocation {
	out := &pb.Allocation{
		Name:            allocationName(siteID),
		Seq:             v.Seq,
		ComputeTime:     ts(v.Time),
		Trigger:         v.Trigger,
		Infeasibilities: v.Infeasible,
	}
	for _, n := range v.Nodes {
		out.Nodes = append(out.Nodes, nodeToProto(siteID, n))
	}
	for _, e := range v.EVSEs {
		out.Evses = append(out.Evses, evseToProto(siteID, e))
	}
	return out
}

// nodeReasons are the reason codes whose text names the node (and phase)
// that binds (see scheduler.Reason).
var nodeReasons = map[string]bool{
	"INFEASIBLE": true, "NO_ROOM": true, "ROTATION": true, "PHASE_LIMIT": true,
	"EXTERNAL_LIMIT": true, "POWER_LIMIT": true, "IMBALANCE": true,
}

// reasonNode matches the end of a reason's text: "<kind> <id>[ phase
// L<n>][ over by <x> A]", as the loop writes it ("limited by circuit
// hall-a phase L2", "paused, infeasible grid connection phase L1 over by
// 3.0 A", "limited by external limit EMS on charger cp1 phase L3").
var reasonNode = regexp.MustCompile(`(?:^| )(grid|circuit|charger) ([a-z](?:[a-z0-9-]{0,61}[a-z0-9])?)(?: phase L([123]))?(?: over by [0-9]+(?:\.[0-9]+)? A)?$`)

// bindingFromReason reads the binding node and phase from an EVSE's reason.
// The site's view carries them only in the text; nil when the code names
// no node or the text does not say which.
func bindingFromReason(siteID, code, reason string) *pb.BindingConstraint {
	if !nodeReasons[code] {
		return nil
	}
	m := reasonNode.FindStringSubmatch(reason)
	if m == nil {
		return nil
	}
	kind, id := m[1], m[2]
	if kind == "grid" && id != "connection" {
		return nil
	}
	b := &pb.BindingConstraint{Node: nodeName(siteID, kind, id), NodeKind: nodeKinds[kind]}
	if m[3] != "" {
		b.Phase = pb.Phase(m[3][0] - '0')
	}
	return b
}

// checkCurrent reports a current that is not a finite value within
// ±site.MaxPhaseCurrent.
func checkCurrent(v *site.ValidationError, field string, a float64) {
	if math.IsNaN(a) || math.IsInf(a, 0) || math.Abs(a) > float64(site.MaxPhaseCurrent) {
		v.Add(field, "must be a finite current within ±%g A", float64(site.MaxPhaseCurrent))
	}
}

// meterFromProto checks a reading of site siteID; the current is derived
// from power later (it needs the site's voltage). prefix names the
// reading in the request ("reading").
func meterFromProto(p *pb.MeterReading, siteID string, now time.Time, prefix string, v *site.ValidationError) site.MeterReading {
	var r site.MeterReading
	if p.GetCircuit() != "" {
		sid, id, err := parseChildName(p.GetCircuit(), patternCircuit)
		switch {
		case err != nil:
			v.Add(prefix+".circuit", "must be empty (the grid connection) or a circuit: %v", err)
		case sid != siteID:
			v.Add(prefix+".circuit", "%q is not a circuit of %s", p.GetCircuit(), siteName(siteID))
		default:
			r.Node = id
		}
	}
	r.Time = fromTS(p.GetReadTime(), prefix+".read_time", v)
	switch {
	case p.GetReadTime() == nil:
		r.Time = now
	case r.Time.After(now.Add(maxReadAhead)):
		v.Add(prefix+".read_time", "must not be more than %v ahead of the server's clock (%s)", maxReadAhead, now.Format(time.RFC3339))
	}
	if c := p.GetCurrent(); c != nil {
		checkCurrent(v, prefix+".current.l1", c.GetL1())
		checkCurrent(v, prefix+".current.l2", c.GetL2())
		checkCurrent(v, prefix+".current.l3", c.GetL3())
		r.Current = currentsFromProto(c)
	} else if pw := p.GetPower(); pw != nil {
		maxKW := float64(site.MaxPower) / 1000
		for i, x := range []float64{pw.GetL1Kw(), pw.GetL2Kw(), pw.GetL3Kw()} {
			if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > maxKW {
				v.Add(phaseFieldKW(prefix+".power", i), "must be a finite power within ±%g kW", maxKW)
			}
		}
	} else {
		v.Add(prefix+".current", "required: current, or power to derive it from")
	}
	return r
}

func phaseFieldKW(prefix string, i int) string {
	return prefix + [3]string{".l1_kw", ".l2_kw", ".l3_kw"}[i]
}

// deriveCurrent fills r.Current from power at the site's voltage when the
// reading came without current.
func deriveCurrent(r *site.MeterReading, p *pb.MeterReading, s site.Site) {
	if p.GetCurrent() != nil || p.GetPower() == nil {
		return
	}
	volts := float64(s.EffectiveNominalVoltage())
	pw := p.GetPower()
	for i, kw := range []float64{pw.GetL1Kw(), pw.GetL2Kw(), pw.GetL3Kw()} {
		r.Current[i] = site.Amps(kw * 1000 / volts)
	}
}

func meterToProto(siteID string, r site.MeterReading) *pb.MeterReading {
	out := &pb.MeterReading{ReadTime: ts(r.Time), Current: currentsToProto(r.Current)}
	if r.Node != "" {
		out.Circuit = childName(siteID, collCircuits, r.Node)
	}
	return out
}

// meterField maps the fields of site.MeterReading.Validate to the
// request's.
func meterField(prefix string) func(string) string {
	return func(f string) string {
		switch f {
		case "node":
			return prefix + ".circuit"
		case "time":
			return prefix + ".read_time"
		}
		return joinField(prefix, f)
	}
}

// needsFromProto checks charging needs; prefix names them in the request.
func needsFromProto(p *pb.ChargingNeeds, now time.Time, prefix string, v *site.ValidationError) site.ChargingNeeds {
	var n site.ChargingNeeds
	if e := p.GetEnergyKwh(); math.IsNaN(e) || e < 0 || e > maxNeedsEnergyKWh {
		v.Add(prefix+".energy_kwh", "must be 0 (unknown) to %d kWh", maxNeedsEnergyKWh)
	} else {
		n.Energy = site.WattHours(math.Round(e * 1000))
	}
	if p.GetDepartureTime() != nil {
		n.Departure = fromTS(p.GetDepartureTime(), prefix+".departure_time", v)
		if !n.Departure.IsZero() && !n.Departure.After(now) {
			v.Add(prefix+".departure_time", "must be in the future (the server's clock says %s)", now.Format(time.RFC3339))
		}
	}
	maxA, minA := p.GetMaxCurrent(), p.GetMinCurrent()
	okMax := !math.IsNaN(maxA) && maxA >= 0 && maxA <= float64(site.MaxEVSECurrent)
	okMin := !math.IsNaN(minA) && minA >= 0 && minA <= float64(site.MaxEVSECurrent)
	if !okMax {
		v.Add(prefix+".max_current", "must be 0 (unknown) to %g A", float64(site.MaxEVSECurrent))
	}
	if !okMin {
		v.Add(prefix+".min_current", "must be 0 (unknown) to %g A", float64(site.MaxEVSECurrent))
	}
	if okMax && okMin && maxA > 0 && minA > maxA {
		v.Add(prefix+".min_current", "must not be above max_current (%g A)", maxA)
	}
	n.MaxCurrent, n.MinCurrent = site.Amps(maxA), site.Amps(minA)
	return n
}

func needsToProto(n site.ChargingNeeds) *pb.ChargingNeeds {
	return &pb.ChargingNeeds{
		EnergyKwh:     float64(n.Energy) / 1000,
		DepartureTime: ts(n.Departure),
		MaxCurrent:    float64(n.MaxCurrent),
		MinCurrent:    float64(n.MinCurrent),
	}
}

// needsField maps the loop's field names to the request's.
func needsField(f string) string {
	if f == "needs.energy" {
		return "needs.energy_kwh"
	}
	if f == "" {
		return "needs"
	}
	return f
}
