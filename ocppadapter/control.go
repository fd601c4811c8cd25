package ocppadapter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// ValidateLimitRequest reports every rule a LimitRequest breaks as a
// *site.ValidationError (errors.Is(err, site.ErrInvalid)).
func ValidateLimitRequest(req site.LimitRequest) error {
	var v site.ValidationError
	if req.EVSE < 0 || req.EVSE > site.MaxEVSEs {
		v.Add("evse", "must be 0 (the whole charger) to %d", site.MaxEVSEs)
	}
	switch req.Purpose {
	case site.PurposeStationMax:
		if req.EVSE != 0 {
			v.Add("evse", "must be 0 for a station-max limit")
		}
	case site.PurposeTxDefault:
	case site.PurposeTx:
		if req.TransactionID == "" {
			v.Add("transaction_id", "is required for a transaction limit")
		}
		if req.EVSE == 0 {
			v.Add("evse", "must name the EVSE of the transaction")
		}
	default:
		v.Add("purpose", "must be station-max, tx-default or tx")
	}
	if req.Unit != site.UnitAmps && req.Unit != site.UnitWatts {
		v.Add("unit", "must be A or W")
	}
	if req.ProfileID < 0 {
		v.Add("profile_id", "must not be negative")
	}
	if req.StackLevel < 0 {
		v.Add("stack_level", "must not be negative")
	}
	if req.Duration < 0 {
		v.Add("duration", "must not be negative")
	}
	if len(req.Periods) == 0 {
		v.Add("periods", "need at least one period")
	}
	for i, p := range req.Periods {
		if i == 0 && p.Offset != 0 {
			v.Add("periods[0].offset", "must be 0")
		}
		if i > 0 && p.Offset <= req.Periods[i-1].Offset {
			v.Add(fmt.Sprintf("periods[%d].offset", i), "must be after the previous period's")
		}
		if p.Limit < 0 || math.IsNaN(p.Limit) || math.IsInf(p.Limit, 0) {
			v.Add(fmt.Sprintf("periods[%d].limit", i), "must be a non-negative number")
		}
		if p.Phases < 0 || p.Phases > 3 {
			v.Add(fmt.Sprintf("periods[%d].phases", i), "must be 0, 1, 2 or 3")
		}
	}
	return v.Err()
}

// floorTenth rounds a limit down to the 0.1 step the schemas require
// (multipleOf 0.1): a limit sent is never above the one asked for.
func floorTenth(l float64) float64 {
	return math.Floor(l*10+1e-9) / 10
}

func unitString(u site.RateUnit) string {
	if u == site.UnitWatts {
		return "W"
	}
	return "A"
}

func parseUnit(s string) site.RateUnit {
	if s == "W" {
		return site.UnitWatts
	}
	return site.UnitAmps
}

func optInt(n int) *int { return &n }

// scheduleStart decides between an absolute and a relative schedule: a
// given Start is absolute; without one, a station-max limit starts now
// (a relative one has no start point without a transaction) and a
// transaction limit is relative to the transaction's start.
func scheduleStart(req site.LimitRequest, now time.Time) (kind string, start *time.Time) {
	switch {
	case !req.Start.IsZero():
		t := req.Start.UTC()
		return "Absolute", &t
	case req.Purpose == site.PurposeStationMax:
		t := now.UTC().Truncate(time.Second)
		return "Absolute", &t
	}
	return "Relative", nil
}

func durationSeconds(d time.Duration) *int {
	if d <= 0 {
		return nil
	}
	return optInt(int(math.Ceil(d.Seconds())))
}

func purpose16(p site.ProfilePurpose) string {
	switch p {
	case site.PurposeStationMax:
		return "ChargePointMaxProfile"
	case site.PurposeTx:
		return "TxProfile"
	}
	return "TxDefaultProfile"
}

func purpose201(p site.ProfilePurpose) string {
	switch p {
	case site.PurposeStationMax:
		return "ChargingStationMaxProfile"
	case site.PurposeTx:
		return "TxProfile"
	}
	return "TxDefaultProfile"
}

// setProfile16 builds a 1.6 SetChargingProfile request.
func setProfile16(req site.LimitRequest, now time.Time) (setProfileReq16, error) {
	kind, start := scheduleStart(req, now)
	p := chargingProfile16{
		ChargingProfileID: req.ProfileID,
		StackLevel:        req.StackLevel,
		Purpose:           purpose16(req.Purpose),
		Kind:              kind,
		Schedule: schedule16{
			Duration:      durationSeconds(req.Duration),
			StartSchedule: start,
			RateUnit:      unitString(req.Unit),
		},
	}
	if req.Purpose == site.PurposeTx {
		id, err := strconv.ParseInt(req.TransactionID, 10, 64)
		if err != nil {
			return setProfileReq16{}, &site.ValidationError{Violations: []site.FieldViolation{{Field: "transaction_id", Rule: "must be an integer for an OCPP 1.6 charger"}}}
		}
		p.TransactionID = &id
	}
	for _, per := range req.Periods {
		pp := period16{StartPeriod: int(per.Offset / time.Second), Limit: floorTenth(per.Limit)}
		if per.Phases > 0 {
			pp.NumberPhases = optInt(per.Phases)
		}
		p.Schedule.Periods = append(p.Schedule.Periods, pp)
	}
	return setProfileReq16{ConnectorID: req.EVSE, Profile: p}, nil
}

// setProfile201 builds a 2.0.1 SetChargingProfile request.
func setProfile201(req site.LimitRequest, now time.Time) setProfileReq201 {
	kind, start := scheduleStart(req, now)
	s := schedule201{
		ID:            req.ProfileID,
		StartSchedule: start,
		Duration:      durationSeconds(req.Duration),
		RateUnit:      unitString(req.Unit),
	}
	for _, per := range req.Periods {
		pp := period201{StartPeriod: int(per.Offset / time.Second), Limit: floorTenth(per.Limit)}
		if per.Phases > 0 {
			pp.NumberPhases = optInt(per.Phases)
		}
		s.Periods = append(s.Periods, pp)
	}
	p := chargingProfile201{
		ID:         req.ProfileID,
		StackLevel: req.StackLevel,
		Purpose:    purpose201(req.Purpose),
		Kind:       kind,
		Schedules:  []schedule201{s},
	}
	if req.Purpose == site.PurposeTx {
		p.TransactionID = req.TransactionID
	}
	return setProfileReq201{EvseID: req.EVSE, Profile: p}
}

// commandResult turns a charger's status into a CommandResult.
func commandResult(status string, info *statusInfo201) site.CommandResult {
	r := site.CommandResult{Status: site.CommandRejected, Detail: status}
	switch status {
	case "Accepted":
		r = site.CommandResult{Status: site.CommandAccepted}
	case "NotSupported", "NotImplemented":
		r.Status = site.CommandNotSupported
	}
	if info != nil {
		r.Detail = info.ReasonCode
		if info.AdditionalInfo != "" {
			r.Detail += ": " + info.AdditionalInfo
		}
	}
	return r
}

// commandError turns a NotImplemented/NotSupported CALLERROR into a
// CommandNotSupported result; other errors are returned as they are.
func commandError(err error) (site.CommandResult, error) {
	var ce *CallError
	if errors.As(err, &ce) && (ce.Code == CodeNotImplemented || ce.Code == CodeNotSupported) {
		return site.CommandResult{Status: site.CommandNotSupported, Detail: ce.Description}, nil
	}
	return site.CommandResult{}, err
}

// SetLimit sends SetChargingProfile: 1.6 with connectorId and
// csChargingProfiles (TxProfile with the integer transactionId,
// ChargePointMaxProfile on connector 0), 2.0.1 with evseId and a
// chargingProfile holding one chargingSchedule. Limits are rounded down to
// 0.1.
func (s *Server) SetLimit(ctx context.Context, ref site.ChargerRef, req site.LimitRequest) (site.CommandResult, error) {
	if err := ValidateLimitRequest(req); err != nil {
		return site.CommandResult{}, err
	}
	c, err := s.connFor(ref)
	if err != nil {
		return site.CommandResult{}, err
	}
	now := s.cfg.Clock.Now()
	if c.version == V16 {
		msg, err := setProfile16(req, now)
		if err != nil {
			return site.CommandResult{}, err
		}
		var conf statusConf16
		if err := c.callInto(ctx, "SetChargingProfile", msg, &conf); err != nil {
			c.noteProfile(req, false)
			return commandError(err)
		}
		c.noteProfile(req, conf.Status == "Accepted") // commission.go
		return commandResult(conf.Status, nil), nil
	}
	var conf statusConf201
	if err := c.callInto(ctx, "SetChargingProfile", setProfile201(req, now), &conf); err != nil {
		return commandError(err)
	}
	return commandResult(conf.Status, conf.StatusInfo), nil
}

func clearProfile16(req site.ClearRequest) clearProfileReq16 {
	var m clearProfileReq16
	if req.ProfileID != 0 {
		m.ID = optInt(req.ProfileID)
	}
	if req.EVSE != 0 {
		m.ConnectorID = optInt(req.EVSE)
	}
	if req.Purpose != 0 {
		m.Purpose = purpose16(req.Purpose)
	}
	if req.StackLevel != 0 {
		m.StackLevel = optInt(req.StackLevel)
	}
	return m
}

func clearProfile201(req site.ClearRequest) clearProfileReq201 {
	var m clearProfileReq201
	if req.ProfileID != 0 {
		m.ChargingProfileID = optInt(req.ProfileID)
	}
	var crit clearProfileCrit201
	if req.EVSE != 0 {
		crit.EvseID = optInt(req.EVSE)
	}
	if req.Purpose != 0 {
		crit.Purpose = purpose201(req.Purpose)
	}
	if req.StackLevel != 0 {
		crit.StackLevel = optInt(req.StackLevel)
	}
	if crit != (clearProfileCrit201{}) {
		m.Criteria = &crit
	}
	return m
}

// ClearLimit sends ClearChargingProfile; zero fields of req match any
// profile. A charger answering Unknown (nothing matched) gives
// CommandRejected with Detail "Unknown".
func (s *Server) ClearLimit(ctx context.Context, ref site.ChargerRef, req site.ClearRequest) (site.CommandResult, error) {
	c, err := s.connFor(ref)
	if err != nil {
		return site.CommandResult{}, err
	}
	if c.version == V16 {
		var conf statusConf16
		if err := c.callInto(ctx, "ClearChargingProfile", clearProfile16(req), &conf); err != nil {
			return commandError(err)
		}
		return commandResult(conf.Status, nil), nil
	}
	var conf statusConf201
	if err := c.callInto(ctx, "ClearChargingProfile", clearProfile201(req), &conf); err != nil {
		return commandError(err)
	}
	return commandResult(conf.Status, conf.StatusInfo), nil
}

// CompositeSchedule sends GetCompositeSchedule for d from now. A charger
// answering Rejected gives ErrRejected; one that does not know the message
// ErrNotSupported.
func (s *Server) CompositeSchedule(ctx context.Context, ref site.ChargerRef, evse int, d time.Duration, unit site.RateUnit) (site.Schedule, error) {
	if evse < 0 || evse > site.MaxEVSEs || d <= 0 {
		return site.Schedule{}, &site.ValidationError{Violations: []site.FieldViolation{{Field: "evse/duration", Rule: "evse must be 0.." + strconv.Itoa(site.MaxEVSEs) + " and duration positive"}}}
	}
	c, err := s.connFor(ref)
	if err != nil {
		return site.Schedule{}, err
	}
	secs := *durationSeconds(d)
	u := ""
	if unit != 0 {
		u = unitString(unit)
	}
	out := site.Schedule{EVSE: evse, Unit: unit}
	if c.version == V16 {
		var conf compositeConf16
		if err := c.callInto(ctx, "GetCompositeSchedule", compositeReq16{ConnectorID: evse, Duration: secs, RateUnit: u}, &conf); err != nil {
			return out, err
		}
		if conf.Status != "Accepted" {
			return out, fmt.Errorf("%s: GetCompositeSchedule: %w", ref, ErrRejected)
		}
		if sch := conf.Schedule; sch != nil {
			out.Unit = parseUnit(sch.RateUnit)
			if sch.StartSchedule != nil {
				out.Start = *sch.StartSchedule
			}
			for _, p := range sch.Periods {
				out.Periods = append(out.Periods, site.Period{Offset: time.Duration(p.StartPeriod) * time.Second, Limit: p.Limit, Phases: deref(p.NumberPhases)})
			}
		}
		if conf.ScheduleStart != nil {
			out.Start = *conf.ScheduleStart
		}
		return out, nil
	}
	var conf compositeConf201
	if err := c.callInto(ctx, "GetCompositeSchedule", compositeReq201{Duration: secs, RateUnit: u, EvseID: evse}, &conf); err != nil {
		return out, err
	}
	if conf.Status != "Accepted" {
		return out, fmt.Errorf("%s: GetCompositeSchedule: %w", ref, ErrRejected)
	}
	if sch := conf.Schedule; sch != nil {
		out.Start = sch.ScheduleStart
		out.Unit = parseUnit(sch.RateUnit)
		for _, p := range sch.Periods {
			out.Periods = append(out.Periods, site.Period{Offset: time.Duration(p.StartPeriod) * time.Second, Limit: p.Limit, Phases: deref(p.NumberPhases)})
		}
	}
	return out, nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

var triggerNames = map[site.TriggerKind]string{
	site.TriggerStatus:      "StatusNotification",
	site.TriggerMeterValues: "MeterValues",
	site.TriggerBoot:        "BootNotification",
	site.TriggerHeartbeat:   "Heartbeat",
}

// Trigger sends TriggerMessage; evse 0 means the whole charger.
func (s *Server) Trigger(ctx context.Context, ref site.ChargerRef, evse int, what site.TriggerKind) (site.CommandResult, error) {
	name, ok := triggerNames[what]
	if !ok || evse < 0 || evse > site.MaxEVSEs {
		return site.CommandResult{}, &site.ValidationError{Violations: []site.FieldViolation{{Field: "trigger", Rule: "unknown message kind or evse out of range"}}}
	}
	c, err := s.connFor(ref)
	if err != nil {
		return site.CommandResult{}, err
	}
	perEVSE := evse > 0 && (what == site.TriggerStatus || what == site.TriggerMeterValues)
	if c.version == V16 {
		m := triggerReq16{RequestedMessage: name}
		if perEVSE {
			m.ConnectorID = optInt(evse)
		}
		var conf statusConf16
		if err := c.callInto(ctx, "TriggerMessage", m, &conf); err != nil {
			return commandError(err)
		}
		return commandResult(conf.Status, nil), nil
	}
	m := triggerReq201{RequestedMessage: name}
	if perEVSE {
		m.Evse = &evse201{ID: evse}
	}
	var conf statusConf201
	if err := c.callInto(ctx, "TriggerMessage", m, &conf); err != nil {
		return commandError(err)
	}
	return commandResult(conf.Status, conf.StatusInfo), nil
}

// HashPassword hashes a charger's Basic-auth password for
// site.Charger.PasswordHash (salted SHA-256, see site.HashPassword).
func HashPassword(password string) (string, error) { return site.HashPassword(password) }

// CheckPassword reports whether password matches a hash made by
// HashPassword, in constant time.
func CheckPassword(hash, password string) (bool, error) { return site.CheckPassword(hash, password) }

// getChargingProfiles201 builds a 2.0.1 GetChargingProfiles request; the
// charger answers with ReportChargingProfiles CALLs.
func getChargingProfiles201(requestID, evse int, p site.ProfilePurpose) getProfilesReq201 {
	m := getProfilesReq201{RequestID: requestID}
	if evse > 0 {
		m.EvseID = optInt(evse)
	}
	if p != 0 {
		m.Criteria.Purpose = purpose201(p)
	}
	return m
}
