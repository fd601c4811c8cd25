package apiserver

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// Etags (AIP-154) are the resource's generation in decimal: opaque to
// clients, cheap to compare.
func etagOf(gen int64) string {
	if gen <= 0 {
		return ""
	}
	return strconv.FormatInt(gen, 10)
}

// parseEtag reads an etag; "" gives 0 (no check).
func parseEtag(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	g, err := strconv.ParseInt(s, 10, 64)
	if err != nil || g <= 0 {
		return 0, fmt.Errorf("not an etag from this server")
	}
	return g, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(p *timestamppb.Timestamp, field string, v *site.ValidationError) time.Time {
	if p == nil {
		return time.Time{}
	}
	if err := p.CheckValid(); err != nil {
		v.Add(field, "not a valid timestamp: %v", err)
		return time.Time{}
	}
	return p.AsTime()
}

func kw(w site.Watts) float64 { return float64(w) / 1000 }

// watts converts kW to W rounded to mW, so that 1.1 kW is 1100 W exactly
// and a value read back compares equal to one written from a site file.
func watts(kw float64) site.Watts {
	if math.IsNaN(kw) || math.IsInf(kw, 0) {
		return site.Watts(kw)
	}
	return site.Watts(math.Round(kw*1e6) / 1e3)
}

func currentsToProto(c site.PhaseCurrents) *pb.PhaseCurrents {
	return &pb.PhaseCurrents{L1: float64(c[0]), L2: float64(c[1]), L3: float64(c[2])}
}

func currentsFromProto(p *pb.PhaseCurrents) site.PhaseCurrents {
	if p == nil {
		return site.PhaseCurrents{}
	}
	return site.PhaseCurrents{site.Amps(p.L1), site.Amps(p.L2), site.Amps(p.L3)}
}

var rotations = map[pb.PhaseRotation]site.PhaseRotation{
	pb.PhaseRotation_PHASE_ROTATION_UNSPECIFIED: {},
	pb.PhaseRotation_PHASE_ROTATION_RST:         {site.L1, site.L2, site.L3},
	pb.PhaseRotation_PHASE_ROTATION_RTS:         {site.L1, site.L3, site.L2},
	pb.PhaseRotation_PHASE_ROTATION_SRT:         {site.L2, site.L1, site.L3},
	pb.PhaseRotation_PHASE_ROTATION_STR:         {site.L2, site.L3, site.L1},
	pb.PhaseRotation_PHASE_ROTATION_TRS:         {site.L3, site.L1, site.L2},
	pb.PhaseRotation_PHASE_ROTATION_TSR:         {site.L3, site.L2, site.L1},
}

func rotationToProto(r site.PhaseRotation) pb.PhaseRotation {
	for k, v := range rotations {
		if v == r {
			return k
		}
	}
	return pb.PhaseRotation_PHASE_ROTATION_UNSPECIFIED
}

func rotationFromProto(p pb.PhaseRotation, field string, v *site.ValidationError) site.PhaseRotation {
	r, ok := rotations[p]
	if !ok {
		v.Add(field, "unknown phase rotation %d", int32(p))
	}
	return r
}

func sourceToProto(s site.LimitSource) pb.GridLimitSource {
	switch s {
	case site.SourceOwner:
		return pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER
	case site.SourceEMS:
		return pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS
	case site.SourceGridOperator:
		return pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR
	case site.SourceConnection:
		return pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION
	}
	return pb.GridLimitSource_GRID_LIMIT_SOURCE_UNSPECIFIED
}

func sourceFromProto(p pb.GridLimitSource, field string, v *site.ValidationError) site.LimitSource {
	switch p {
	case pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER:
		return site.SourceOwner
	case pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS:
		return site.SourceEMS
	case pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR:
		return site.SourceGridOperator
	case pb.GridLimitSource_GRID_LIMIT_SOURCE_UNSPECIFIED:
		return site.SourceUnspecified
	case pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION:
		v.Add(field, "GRID_LIMIT_SOURCE_CONNECTION is output only; use OWNER, EMS or GRID_OPERATOR")
	default:
		v.Add(field, "unknown grid limit source %d", int32(p))
	}
	return site.SourceUnspecified
}

var evseStates = map[site.EVSEStatus]pb.EvseState{
	site.StatusAvailable:     pb.EvseState_EVSE_STATE_AVAILABLE,
	site.StatusOccupied:      pb.EvseState_EVSE_STATE_OCCUPIED,
	site.StatusCharging:      pb.EvseState_EVSE_STATE_CHARGING,
	site.StatusSuspendedEV:   pb.EvseState_EVSE_STATE_SUSPENDED_EV,
	site.StatusSuspendedEVSE: pb.EvseState_EVSE_STATE_SUSPENDED_EVSE,
	site.StatusFinishing:     pb.EvseState_EVSE_STATE_FINISHING,
	site.StatusReserved:      pb.EvseState_EVSE_STATE_RESERVED,
	site.StatusUnavailable:   pb.EvseState_EVSE_STATE_UNAVAILABLE,
	site.StatusFaulted:       pb.EvseState_EVSE_STATE_FAULTED,
}

func siteToProto(s site.Site) *pb.Site {
	return &pb.Site{
		Name:             siteName(s.ID),
		DisplayName:      s.DisplayName,
		TimeZone:         s.TimeZone,
		NominalVoltage:   float64(s.NominalVoltage),
		GridLimit:        currentsToProto(s.GridLimit),
		GridPowerLimitKw: kw(s.GridPowerLimit),
		Etag:             etagOf(s.Generation),
		CreateTime:       ts(s.CreateTime),
		UpdateTime:       ts(s.UpdateTime),
	}
}

func circuitToProto(c site.Circuit) *pb.Circuit {
	p := &pb.Circuit{
		Name:           childName(c.SiteID, collCircuits, c.ID),
		DisplayName:    c.DisplayName,
		Limit:          currentsToProto(c.Limit),
		PowerLimitKw:   kw(c.PowerLimit),
		Oversubscribed: c.Oversubscribed,
		Etag:           etagOf(c.Generation),
		CreateTime:     ts(c.CreateTime),
		UpdateTime:     ts(c.UpdateTime),
	}
	if c.Parent != "" {
		p.Parent = childName(c.SiteID, collCircuits, c.Parent)
	}
	return p
}

// chargerToProto converts a charger; st may be nil when the live status
// is not wanted.
func chargerToProto(c site.Charger, st *site.ChargerState) *pb.Charger {
	p := &pb.Charger{
		Name:            childName(c.SiteID, collChargers, c.ID),
		DisplayName:     c.DisplayName,
		OcppIdentity:    c.OCPPIdentity,
		PhaseRotation:   rotationToProto(c.PhaseRotation),
		HasOcppPassword: c.PasswordHash != "",
		Etag:            etagOf(c.Generation),
		CreateTime:      ts(c.CreateTime),
		UpdateTime:      ts(c.UpdateTime),
	}
	if c.Circuit != "" {
		p.Circuit = childName(c.SiteID, collCircuits, c.Circuit)
	}
	for _, e := range c.EVSEs {
		p.Evses = append(p.Evses, &pb.Evse{
			EvseId:          int32(e.ID),
			MaxCurrent:      float64(e.MaxCurrent),
			MinCurrent:      float64(e.MinCurrent),
			Phases:          int32(e.Phases),
			CanSwitchPhases: e.CanSwitchPhases,
		})
	}
	if st != nil {
		p.Status = statusToProto(*st)
	}
	return p
}

func statusToProto(st site.ChargerState) *pb.ChargerStatus {
	p := &pb.ChargerStatus{
		Connected:       st.Connected,
		Protocol:        st.Protocol,
		LastSeenTime:    ts(st.LastSeen),
		LastBootTime:    ts(st.LastBoot),
		Vendor:          st.Boot.Vendor,
		Model:           st.Boot.Model,
		SerialNumber:    st.Boot.SerialNumber,
		FirmwareVersion: st.Boot.FirmwareVersion,
	}
	ids := make([]int, 0, len(st.EVSEs))
	for id := range st.EVSEs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := st.EVSEs[id]
		es := &pb.EvseStatus{EvseId: int32(id), State: evseStates[e.Status], StateTime: ts(e.StatusTime)}
		if e.Transaction != nil {
			es.TransactionId = e.Transaction.ID
		}
		p.Evses = append(p.Evses, es)
	}
	return p
}

// gridLimitToProto converts a limit; active is computed at now unless now
// is zero.
func gridLimitToProto(l site.GridLimit, now time.Time) *pb.GridLimit {
	return &pb.GridLimit{
		Name:         childName(l.SiteID, collGridLimits, l.ID),
		Source:       sourceToProto(l.Source),
		Limit:        currentsToProto(l.Limit),
		PowerLimitKw: kw(l.PowerLimit),
		StartTime:    ts(l.Start),
		EndTime:      ts(l.End),
		Reason:       l.Reason,
		Active:       !now.IsZero() && l.Active(now),
		Etag:         etagOf(l.Generation),
		CreateTime:   ts(l.CreateTime),
		UpdateTime:   ts(l.UpdateTime),
	}
}

// ConfigToProto converts a site's configuration to its API form, with
// names, etags and times. Password hashes are never copied (only
// has_ocpp_password); charger status and GridLimit.active are left unset.
func ConfigToProto(c site.Config) *pb.SiteConfig {
	return configToProto(c, time.Time{})
}

func configToProto(c site.Config, now time.Time) *pb.SiteConfig {
	p := &pb.SiteConfig{Site: siteToProto(c.Site)}
	for _, x := range c.Circuits {
		p.Circuits = append(p.Circuits, circuitToProto(x))
	}
	for _, x := range c.Chargers {
		p.Chargers = append(p.Chargers, chargerToProto(x, nil))
	}
	for _, x := range c.Limits {
		p.GridLimits = append(p.GridLimits, gridLimitToProto(x, now))
	}
	return p
}

// ConfigFromProto converts and validates a whole site configuration in
// API form, as ApplySiteConfig would. Every resource needs its name; the
// site's name gives the site ID. Output-only fields and passwords are
// ignored. The error is a *site.ValidationError whose fields are paths in
// p ("site.grid_limit.l1", "circuits[2].parent").
func ConfigFromProto(p *pb.SiteConfig) (site.Config, error) {
	v := &site.ValidationError{}
	c := configFromProto(p, "", "", v)
	if v.Err() != nil {
		return c, v
	}
	return c, validateConfig(&c).Err()
}

// configFromProto converts p, recording conversion errors (bad names,
// unknown enums) under prefix. siteID, if not empty, is the site the
// config must be for.
func configFromProto(p *pb.SiteConfig, siteID, prefix string, v *site.ValidationError) site.Config {
	var c site.Config
	if p == nil {
		v.Add(joinField(prefix, ""), "required")
		return c
	}
	if p.Site == nil {
		v.Add(joinField(prefix, "site"), "required")
		return c
	}
	if p.Site.Name == "" && siteID != "" {
		// the request names the site
	} else if id, err := parseSiteName(p.Site.Name); err != nil {
		v.Add(joinField(prefix, "site.name"), "%v", err)
	} else if siteID != "" && id != siteID {
		v.Add(joinField(prefix, "site.name"), "%q differs from the request's name %q", p.Site.Name, siteName(siteID))
	} else {
		siteID = id
	}
	if siteID == "" {
		return c
	}
	c.Site = siteFromProto(p.Site, siteID)
	for i, x := range p.Circuits {
		f := joinField(prefix, fmt.Sprintf("circuits[%d]", i))
		id := childID(x.GetName(), patternCircuit, siteID, f+".name", v)
		c.Circuits = append(c.Circuits, circuitFromProto(x, siteID, id, f, v))
	}
	for i, x := range p.Chargers {
		f := joinField(prefix, fmt.Sprintf("chargers[%d]", i))
		id := childID(x.GetName(), patternCharger, siteID, f+".name", v)
		c.Chargers = append(c.Chargers, chargerFromProto(x, siteID, id, f, v))
	}
	for i, x := range p.GridLimits {
		f := joinField(prefix, fmt.Sprintf("grid_limits[%d]", i))
		id := childID(x.GetName(), patternGridLimit, siteID, f+".name", v)
		c.Limits = append(c.Limits, gridLimitFromProto(x, siteID, id, f, v))
	}
	return c
}

// childID parses a child resource name that must belong to siteID.
func childID(name, pattern, siteID, field string, v *site.ValidationError) string {
	s, id, err := parseChildName(name, pattern)
	if err != nil {
		v.Add(field, "%v", err)
		return ""
	}
	if s != siteID {
		v.Add(field, "%q is not in site %q", name, siteName(siteID))
		return ""
	}
	return id
}

// refID parses an optional reference to a circuit of siteID ("" for the
// grid connection).
func refID(name, siteID, field string, v *site.ValidationError) string {
	if name == "" {
		return ""
	}
	return childID(name, patternCircuit, siteID, field, v)
}

func siteFromProto(p *pb.Site, id string) site.Site {
	return site.Site{
		ID:             id,
		DisplayName:    p.GetDisplayName(),
		TimeZone:       p.GetTimeZone(),
		NominalVoltage: site.Volts(p.GetNominalVoltage()),
		GridLimit:      currentsFromProto(p.GetGridLimit()),
		GridPowerLimit: watts(p.GetGridPowerLimitKw()),
	}
}

func circuitFromProto(p *pb.Circuit, siteID, id, prefix string, v *site.ValidationError) site.Circuit {
	return site.Circuit{
		SiteID:         siteID,
		ID:             id,
		DisplayName:    p.GetDisplayName(),
		Parent:         refID(p.GetParent(), siteID, prefix+".parent", v),
		Limit:          currentsFromProto(p.GetLimit()),
		PowerLimit:     watts(p.GetPowerLimitKw()),
		Oversubscribed: p.GetOversubscribed(),
	}
}

func chargerFromProto(p *pb.Charger, siteID, id, prefix string, v *site.ValidationError) site.Charger {
	return site.Charger{
		SiteID:        siteID,
		ID:            id,
		DisplayName:   p.GetDisplayName(),
		OCPPIdentity:  p.GetOcppIdentity(),
		Circuit:       refID(p.GetCircuit(), siteID, prefix+".circuit", v),
		PhaseRotation: rotationFromProto(p.GetPhaseRotation(), prefix+".phase_rotation", v),
		EVSEs:         evsesFromProto(p.GetEvses()),
	}
}

func evsesFromProto(ps []*pb.Evse) []site.EVSE {
	var out []site.EVSE
	for i, e := range ps {
		id := int(e.GetEvseId())
		if id == 0 {
			id = i + 1
		}
		out = append(out, site.EVSE{
			ID:              id,
			MaxCurrent:      site.Amps(e.GetMaxCurrent()),
			MinCurrent:      site.Amps(e.GetMinCurrent()),
			Phases:          int(e.GetPhases()),
			CanSwitchPhases: e.GetCanSwitchPhases(),
		})
	}
	return out
}

func gridLimitFromProto(p *pb.GridLimit, siteID, id, prefix string, v *site.ValidationError) site.GridLimit {
	return site.GridLimit{
		SiteID:     siteID,
		ID:         id,
		Source:     sourceFromProto(p.GetSource(), prefix+".source", v),
		Limit:      currentsFromProto(p.GetLimit()),
		PowerLimit: watts(p.GetPowerLimitKw()),
		Start:      fromTS(p.GetStartTime(), prefix+".start_time", v),
		End:        fromTS(p.GetEndTime(), prefix+".end_time", v),
		Reason:     p.GetReason(),
	}
}
