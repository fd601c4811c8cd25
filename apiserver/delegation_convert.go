package apiserver

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// Bounds of delegation input.
const (
	maxEventsPerReport = 1000
	maxIDLen           = 64 // transaction ids: 2.0.1 identifierString(36), with room
	maxTextLen         = 256
	maxPower           = 10e6 // W
	maxEnergy          = 1e12 // Wh
	// external limit schedules per report, and periods per schedule
	maxExternalSchedules = 16
	maxExternalPeriods   = 1024
)

var rateUnits = map[pb.ChargingRateUnit]site.RateUnit{
	pb.ChargingRateUnit_CHARGING_RATE_UNIT_A: site.UnitAmps,
	pb.ChargingRateUnit_CHARGING_RATE_UNIT_W: site.UnitWatts,
}

func rateUnitToProto(u site.RateUnit) pb.ChargingRateUnit {
	for k, v := range rateUnits {
		if v == u {
			return k
		}
	}
	return pb.ChargingRateUnit_CHARGING_RATE_UNIT_UNSPECIFIED
}

var purposes = map[site.ProfilePurpose]pb.ChargingProfilePurpose{
	site.PurposeStationMax: pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_CHARGING_STATION_MAX,
	site.PurposeTxDefault:  pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX_DEFAULT,
	site.PurposeTx:         pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX,
}

var triggerKinds = map[site.TriggerKind]pb.TriggerMessageKind{
	site.TriggerStatus:      pb.TriggerMessageKind_TRIGGER_MESSAGE_KIND_STATUS_NOTIFICATION,
	site.TriggerMeterValues: pb.TriggerMessageKind_TRIGGER_MESSAGE_KIND_METER_VALUES,
	site.TriggerBoot:        pb.TriggerMessageKind_TRIGGER_MESSAGE_KIND_BOOT_NOTIFICATION,
	site.TriggerHeartbeat:   pb.TriggerMessageKind_TRIGGER_MESSAGE_KIND_HEARTBEAT,
}

// seconds rounds a duration up to whole seconds, as OCPP counts them.
func seconds(d time.Duration) int32 {
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(s)
}

func periodsToProto(ps []site.Period) []*pb.ChargingSchedulePeriod {
	out := make([]*pb.ChargingSchedulePeriod, 0, len(ps))
	for _, p := range ps {
		out = append(out, &pb.ChargingSchedulePeriod{StartPeriodSeconds: int32(p.Offset / time.Second), Limit: p.Limit, NumberPhases: int32(p.Phases)})
	}
	return out
}

// commandToProto turns a delegated command into its wire form.
func commandToProto(c site.DelegatedCommand) *pb.Command {
	out := &pb.Command{Seq: c.Seq, Charger: c.Ref.String(), CreateTime: ts(c.Created)}
	switch {
	case c.SetLimit != nil:
		r := c.SetLimit
		kind := pb.ChargingProfileKind_CHARGING_PROFILE_KIND_RELATIVE
		var start *timestamppb.Timestamp
		if !r.Start.IsZero() {
			kind, start = pb.ChargingProfileKind_CHARGING_PROFILE_KIND_ABSOLUTE, timestamppb.New(r.Start)
		}
		out.Command = &pb.Command_SetChargingProfile{SetChargingProfile: &pb.SetChargingProfileCommand{
			EvseId: int32(r.EVSE),
			ChargingProfile: &pb.ChargingProfile{
				ProfileId: int32(r.ProfileID), StackLevel: int32(r.StackLevel), Purpose: purposes[r.Purpose],
				Kind: kind, TransactionId: r.TransactionID,
				Schedule: &pb.ChargingSchedule{RateUnit: rateUnitToProto(r.Unit), StartSchedule: start,
					DurationSeconds: seconds(r.Duration), Periods: periodsToProto(r.Periods)},
			},
		}}
	case c.ClearLimit != nil:
		r := c.ClearLimit
		out.Command = &pb.Command_ClearChargingProfile{ClearChargingProfile: &pb.ClearChargingProfileCommand{
			ProfileId: int32(r.ProfileID), EvseId: int32(r.EVSE), Purpose: purposes[r.Purpose], StackLevel: int32(r.StackLevel),
		}}
	case c.Trigger != nil:
		out.Command = &pb.Command_TriggerMessage{TriggerMessage: &pb.TriggerMessageCommand{
			EvseId: int32(c.Trigger.EVSE), RequestedMessage: triggerKinds[c.Trigger.What],
		}}
	case c.CompositeSchedule != nil:
		r := c.CompositeSchedule
		out.Command = &pb.Command_GetCompositeSchedule{GetCompositeSchedule: &pb.GetCompositeScheduleCommand{
			EvseId: int32(r.EVSE), DurationSeconds: seconds(r.Duration), RateUnit: rateUnitToProto(r.Unit),
		}}
	}
	return out
}

// ackFromProto checks an AckCommand request's ack fields.
func ackFromProto(req *pb.AckCommandRequest, v *site.ValidationError) site.DelegatedAck {
	a := site.DelegatedAck{Seq: req.GetSeq(), Detail: req.GetDetail()}
	if a.Seq == 0 {
		v.Add("seq", "required: the seq of a command (from 1)")
	}
	if len(a.Detail) > maxTextLen {
		v.Add("detail", "at most %d bytes", maxTextLen)
	}
	switch req.GetStatus() {
	case pb.CommandStatus_COMMAND_STATUS_ACCEPTED:
		a.Status = site.CommandAccepted
	case pb.CommandStatus_COMMAND_STATUS_REJECTED:
		a.Status = site.CommandRejected
	case pb.CommandStatus_COMMAND_STATUS_NOT_SUPPORTED:
		a.Status = site.CommandNotSupported
	case pb.CommandStatus_COMMAND_STATUS_TIMED_OUT:
		a.TimedOut = true
	case pb.CommandStatus_COMMAND_STATUS_OFFLINE:
		a.Offline = true
	default:
		v.Add("status", "required: ACCEPTED, REJECTED, NOT_SUPPORTED, TIMED_OUT or OFFLINE")
	}
	if cs := req.GetCompositeSchedule(); cs != nil {
		if a.Status != site.CommandAccepted {
			v.Add("composite_schedule", "only with status COMMAND_STATUS_ACCEPTED")
		}
		s := &site.Schedule{EVSE: int(cs.GetEvseId()), Start: fromTS(cs.GetStartTime(), "composite_schedule.start_time", v)}
		checkEVSEID(v, "composite_schedule.evse_id", cs.GetEvseId(), 0)
		if u, ok := rateUnits[cs.GetRateUnit()]; ok {
			s.Unit = u
		} else {
			v.Add("composite_schedule.rate_unit", "required: CHARGING_RATE_UNIT_A or _W")
		}
		s.Periods = periodsFromProto(cs.GetPeriods(), "composite_schedule.periods", v)
		a.Schedule = s
	}
	return a
}

func periodsFromProto(ps []*pb.ChargingSchedulePeriod, field string, v *site.ValidationError) []site.Period {
	out := make([]site.Period, 0, len(ps))
	prev := int32(-1)
	for i, p := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		if p.GetStartPeriodSeconds() < 0 || p.GetStartPeriodSeconds() <= prev {
			v.Add(f+".start_period_seconds", "must not be negative and must grow from period to period")
		}
		prev = p.GetStartPeriodSeconds()
		if l := p.GetLimit(); math.IsNaN(l) || math.IsInf(l, 0) || l < 0 || l > maxPower {
			v.Add(f+".limit", "must be a finite limit from 0 to %g", float64(maxPower))
		}
		if n := p.GetNumberPhases(); n < 0 || n > 3 {
			v.Add(f+".number_phases", "must be 0 (not given) to 3")
		}
		out = append(out, site.Period{Offset: time.Duration(p.GetStartPeriodSeconds()) * time.Second, Limit: p.GetLimit(), Phases: int(p.GetNumberPhases())})
	}
	return out
}

func checkEVSEID(v *site.ValidationError, field string, id int32, lowest int32) {
	if id < lowest || id > site.MaxEVSEs {
		v.Add(field, "must be an EVSE id from %d to %d", lowest, site.MaxEVSEs)
	}
}

func checkFinite(v *site.ValidationError, field string, x, lo, hi float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < lo || x > hi {
		v.Add(field, "must be a finite value from %g to %g", lo, hi)
	}
}

func checkText(v *site.ValidationError, field, s string, n int) {
	if len(s) > n {
		v.Add(field, "at most %d bytes", n)
	}
}

var evseStatesFromProto = func() map[pb.EvseState]site.EVSEStatus {
	m := map[pb.EvseState]site.EVSEStatus{}
	for k, v := range evseStates {
		m[v] = k
	}
	return m
}()

// eventFromProto checks one reported event of site siteID and converts
// it; prefix names it in the request ("events[3]").
func eventFromProto(p *pb.ChargerEvent, siteID string, now time.Time, prefix string, v *site.ValidationError) site.Event {
	if p == nil {
		v.Add(prefix, "required")
		return nil
	}
	f := func(s string) string { return prefix + "." + s }
	n := len(v.Violations)
	sid, cid, err := parseChildName(p.GetCharger(), patternCharger)
	switch {
	case err != nil:
		v.Add(f("charger"), "%v", err)
	case sid != siteID:
		v.Add(f("charger"), "must be a charger of %s (the request's site), not of %s", siteName(siteID), siteName(sid))
	}
	t := fromTS(p.GetEventTime(), f("event_time"), v)
	if t.IsZero() {
		t = now
	}
	if t.After(now.Add(maxReadAhead)) {
		v.Add(f("event_time"), "must not be more than %s ahead of the server's clock", maxReadAhead)
	}
	h := site.EventHeader{Ref: site.ChargerRef{SiteID: siteID, ChargerID: cid}, Time: t}
	var ev site.Event
	switch e := p.GetEvent().(type) {
	case *pb.ChargerEvent_Connected:
		checkText(v, f("connected.protocol"), e.Connected.GetProtocol(), 32)
		ev = site.ChargerConnected{EventHeader: h, Protocol: e.Connected.GetProtocol()}
	case *pb.ChargerEvent_Disconnected:
		ev = site.ChargerDisconnected{EventHeader: h}
	case *pb.ChargerEvent_Booted:
		b := e.Booted
		for _, x := range []struct{ name, val string }{{"vendor", b.GetVendor()}, {"model", b.GetModel()},
			{"serial_number", b.GetSerialNumber()}, {"firmware_version", b.GetFirmwareVersion()}} {
			checkText(v, f("booted."+x.name), x.val, maxTextLen)
		}
		ev = site.ChargerBooted{EventHeader: h, Boot: site.BootInfo{Vendor: b.GetVendor(), Model: b.GetModel(),
			SerialNumber: b.GetSerialNumber(), FirmwareVersion: b.GetFirmwareVersion()}}
	case *pb.ChargerEvent_Capabilities:
		c := e.Capabilities
		caps := site.Capabilities{MaxStackLevel: int(c.GetMaxStackLevel()), MaxPeriods: int(c.GetMaxPeriods()),
			MaxProfiles: int(c.GetMaxProfiles()), CanSwitchPhases: c.GetCanSwitchPhases(),
			PhaseRotation: rotationFromProto(c.GetPhaseRotation(), f("capabilities.phase_rotation"), v)}
		for name, x := range map[string]int32{"max_stack_level": c.GetMaxStackLevel(), "max_periods": c.GetMaxPeriods(), "max_profiles": c.GetMaxProfiles()} {
			if x < 0 || x > 10000 {
				v.Add(f("capabilities."+name), "must be 0 (unknown) to 10000")
			}
		}
		for i, u := range c.GetRateUnits() {
			ru, ok := rateUnits[u]
			if !ok {
				v.Add(fmt.Sprintf("%s.capabilities.rate_units[%d]", prefix, i), "must be CHARGING_RATE_UNIT_A or _W")
			}
			caps.RateUnits = append(caps.RateUnits, ru)
		}
		ev = site.ChargerCapabilitiesRead{EventHeader: h, Capabilities: caps}
	case *pb.ChargerEvent_EvseStatus:
		s := e.EvseStatus
		checkEVSEID(v, f("evse_status.evse_id"), s.GetEvseId(), 0)
		st, ok := evseStatesFromProto[s.GetState()]
		if !ok {
			v.Add(f("evse_status.state"), "required: one of EVSE_STATE_AVAILABLE ... EVSE_STATE_FAULTED")
		}
		ev = site.EVSEStatusChanged{EventHeader: h, EVSE: int(s.GetEvseId()), Status: st}
	case *pb.ChargerEvent_TransactionStarted:
		ev = site.TransactionStarted{EventHeader: h, Transaction: txFromProto(e.TransactionStarted, f("transaction_started"), v)}
	case *pb.ChargerEvent_TransactionUpdated:
		ev = site.TransactionUpdated{EventHeader: h, Transaction: txFromProto(e.TransactionUpdated, f("transaction_updated"), v)}
	case *pb.ChargerEvent_TransactionStopped:
		reason := e.TransactionStopped.GetStoppedReason()
		checkText(v, f("transaction_stopped.stopped_reason"), reason, 64)
		if reason == "" {
			reason = "Local"
		}
		ev = site.TransactionStopped{EventHeader: h, Transaction: txFromProto(e.TransactionStopped, f("transaction_stopped"), v), Reason: reason}
	case *pb.ChargerEvent_MeterSample:
		m := e.MeterSample
		checkEVSEID(v, f("meter_sample.evse_id"), m.GetEvseId(), 0)
		checkText(v, f("meter_sample.transaction_id"), m.GetTransactionId(), maxIDLen)
		s := site.MeterSample{Time: t}
		if c := m.GetCurrent(); c != nil {
			for i, a := range []float64{c.GetL1(), c.GetL2(), c.GetL3()} {
				checkFinite(v, fmt.Sprintf("%s.meter_sample.current.l%d", prefix, i+1), a, -float64(site.MaxPhaseCurrent), float64(site.MaxPhaseCurrent))
			}
			cur := [3]site.Amps(currentsFromProto(c))
			s.Current = &cur
		}
		if m.PowerW != nil {
			checkFinite(v, f("meter_sample.power_w"), m.GetPowerW(), -maxPower, maxPower)
			w := site.Watts(m.GetPowerW())
			s.Power = &w
		}
		if m.EnergyWh != nil {
			checkFinite(v, f("meter_sample.energy_wh"), m.GetEnergyWh(), 0, maxEnergy)
			wh := site.WattHours(m.GetEnergyWh())
			s.Energy = &wh
		}
		if m.SocPercent != nil {
			checkFinite(v, f("meter_sample.soc_percent"), m.GetSocPercent(), 0, 100)
			soc := m.GetSocPercent()
			s.SoC = &soc
		}
		ev = site.MeterSampled{EventHeader: h, EVSE: int(m.GetEvseId()), TransactionID: m.GetTransactionId(), Sample: s}
	case *pb.ChargerEvent_ChargingNeeds:
		c := e.ChargingNeeds
		checkEVSEID(v, f("charging_needs.evse_id"), c.GetEvseId(), 1)
		checkFinite(v, f("charging_needs.energy_wh"), c.GetEnergyWh(), 0, maxEnergy)
		checkFinite(v, f("charging_needs.max_current"), c.GetMaxCurrent(), 0, float64(site.MaxPhaseCurrent))
		checkFinite(v, f("charging_needs.min_current"), c.GetMinCurrent(), 0, float64(site.MaxPhaseCurrent))
		if c.GetMaxCurrent() > 0 && c.GetMinCurrent() > c.GetMaxCurrent() {
			v.Add(f("charging_needs.min_current"), "must not be above max_current")
		}
		ev = site.ChargingNeedsReported{EventHeader: h, EVSE: int(c.GetEvseId()), Needs: site.ChargingNeeds{
			Energy: site.WattHours(c.GetEnergyWh()), Departure: fromTS(c.GetDepartureTime(), f("charging_needs.departure_time"), v),
			MaxCurrent: site.Amps(c.GetMaxCurrent()), MinCurrent: site.Amps(c.GetMinCurrent())}}
	case *pb.ChargerEvent_ExternalLimit:
		ev = externalFromProto(e.ExternalLimit, h, f("external_limit"), v)
	default:
		v.Add(f("event"), "required: one of connected, disconnected, booted, capabilities, evse_status, transaction_started, transaction_updated, transaction_stopped, meter_sample, charging_needs, external_limit")
	}
	if len(v.Violations) > n {
		return nil
	}
	return ev
}

var recurrencies = map[pb.ExternalLimitRecurrency]site.Recurrency{
	pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_UNSPECIFIED: site.RecurrencyNone,
	pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_DAILY:       site.RecurrencyDaily,
	pb.ExternalLimitRecurrency_EXTERNAL_LIMIT_RECURRENCY_WEEKLY:      site.RecurrencyWeekly,
}

// externalFromProto checks an external limit report (field names it) and
// converts it to the schedules of its source on the EVSE: its schedules,
// and its constant limit_current / limit_power_w above 0 as schedules
// without start (0 there means "no limit in that unit", as before
// schedules existed). Cleared, or no limit at all, is a report without
// schedules: the source has no limit there any more.
func externalFromProto(x *pb.ExternalLimitEvent, h site.EventHeader, field string, v *site.ValidationError) site.Event {
	f := func(s string) string { return field + "." + s }
	checkEVSEID(v, f("evse_id"), x.GetEvseId(), 0)
	checkText(v, f("source"), x.GetSource(), 32)
	checkFinite(v, f("limit_current"), x.GetLimitCurrent(), 0, float64(site.MaxPhaseCurrent))
	checkFinite(v, f("limit_power_w"), x.GetLimitPowerW(), 0, maxPower)
	ev := site.ExternalSchedulesReported{EventHeader: h, EVSE: int(x.GetEvseId()), Source: x.GetSource()}
	if x.GetCleared() {
		if len(x.GetSchedules()) > 0 {
			v.Add(f("schedules"), "must be empty when cleared is set")
		}
		return ev
	}
	if n := len(x.GetSchedules()); n > maxExternalSchedules {
		v.Add(f("schedules"), "at most %d schedules, got %d", maxExternalSchedules, n)
		return ev
	}
	for i, s := range x.GetSchedules() {
		ev.Schedules = append(ev.Schedules, externalScheduleFromProto(s, fmt.Sprintf("%s.schedules[%d]", field, i), v))
	}
	if a := x.GetLimitCurrent(); a > 0 {
		ev.Schedules = append(ev.Schedules, site.ExternalSchedule{Unit: site.UnitAmps, Periods: []site.Period{{Limit: a}}})
	}
	if w := x.GetLimitPowerW(); w > 0 {
		ev.Schedules = append(ev.Schedules, site.ExternalSchedule{Unit: site.UnitWatts, Periods: []site.Period{{Limit: w}}})
	}
	return ev
}

// externalScheduleFromProto checks one external limit schedule; field
// names it ("events[0].external_limit.schedules[1]").
func externalScheduleFromProto(p *pb.ExternalLimitSchedule, field string, v *site.ValidationError) site.ExternalSchedule {
	f := func(s string) string { return field + "." + s }
	n := len(v.Violations)
	s := site.ExternalSchedule{
		Start:     fromTS(p.GetStartTime(), f("start_time"), v),
		ValidFrom: fromTS(p.GetValidFrom(), f("valid_from"), v),
		ValidTo:   fromTS(p.GetValidTo(), f("valid_to"), v),
		Duration:  time.Duration(p.GetDurationSeconds()) * time.Second,
	}
	top := maxPower
	switch p.GetRateUnit() {
	case pb.ChargingRateUnit_CHARGING_RATE_UNIT_A:
		s.Unit, top = site.UnitAmps, float64(site.MaxPhaseCurrent)
	case pb.ChargingRateUnit_CHARGING_RATE_UNIT_W:
		s.Unit = site.UnitWatts
	default:
		v.Add(f("rate_unit"), "required: CHARGING_RATE_UNIT_A or _W")
	}
	if p.GetDurationSeconds() < 0 {
		v.Add(f("duration_seconds"), "must not be negative (0: open-ended)")
	}
	switch np := len(p.GetPeriods()); {
	case np == 0:
		v.Add(f("periods"), "required: 1 to %d periods", maxExternalPeriods)
	case np > maxExternalPeriods:
		v.Add(f("periods"), "at most %d periods, got %d", maxExternalPeriods, np)
	default:
		s.Periods = periodsFromProto(p.GetPeriods(), f("periods"), v)
		for i, q := range s.Periods {
			if s.Unit == site.UnitAmps && q.Limit > top {
				v.Add(fmt.Sprintf("%s.periods[%d].limit", field, i), "must be a finite limit from 0 to %g in the schedule's rate unit", top)
			}
		}
	}
	if !s.ValidFrom.IsZero() && !s.ValidTo.IsZero() && !s.ValidTo.After(s.ValidFrom) {
		v.Add(f("valid_to"), "must be after valid_from")
	}
	r, ok := recurrencies[p.GetRecurrency()]
	if !ok {
		v.Add(f("recurrency"), "must be EXTERNAL_LIMIT_RECURRENCY_UNSPECIFIED, _DAILY or _WEEKLY")
	}
	s.Recurrency = r
	if r != site.RecurrencyNone {
		if s.Start.IsZero() {
			v.Add(f("start_time"), "required when the schedule recurs")
		}
		cycle := 24 * time.Hour
		if r == site.RecurrencyWeekly {
			cycle *= 7
		}
		if s.Duration > cycle {
			v.Add(f("duration_seconds"), "must not be longer than one recurrence (%d s)", int64(cycle/time.Second))
		}
	}
	if len(v.Violations) == n {
		if err := s.Validate(); err != nil { // a backstop: the checks above cover it
			v.Add(field, "%v", err)
		}
	}
	return s
}

func txFromProto(p *pb.TransactionEvent, field string, v *site.ValidationError) site.Transaction {
	if p.GetTransactionId() == "" {
		v.Add(field+".transaction_id", "required")
	}
	checkText(v, field+".transaction_id", p.GetTransactionId(), maxIDLen)
	checkText(v, field+".id_tag", p.GetIdTag(), maxIDLen)
	checkEVSEID(v, field+".evse_id", p.GetEvseId(), 1)
	checkFinite(v, field+".meter_start_wh", p.GetMeterStartWh(), 0, maxEnergy)
	checkFinite(v, field+".energy_wh", p.GetEnergyWh(), -maxEnergy, maxEnergy)
	return site.Transaction{ID: p.GetTransactionId(), EVSE: int(p.GetEvseId()), IDTag: p.GetIdTag(),
		Start: fromTS(p.GetStartTime(), field+".start_time", v), MeterStart: site.WattHours(p.GetMeterStartWh()),
		Energy: site.WattHours(p.GetEnergyWh())}
}
