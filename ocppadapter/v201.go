package ocppadapter

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// handles201 lists the 2.0.1 actions a charging station may send us.
func handles201(action string) bool {
	switch action {
	case "BootNotification", "Heartbeat", "StatusNotification", "TransactionEvent", "MeterValues",
		"Authorize", "NotifyEVChargingNeeds", "NotifyChargingLimit", "ClearedChargingLimit",
		"ReportChargingProfiles", "NotifyReport", "SecurityEventNotification",
		"FirmwareStatusNotification", "LogStatusNotification", "DataTransfer":
		return true
	}
	return false
}

// handle201 answers a 2.0.1 CALL whose payload passed the schema.
func (c *conn) handle201(ctx context.Context, action string, payload []byte) (resp any, after func(), cerr *CallError) {
	switch action {
	case "BootNotification":
		var req bootReq201
		if cerr = decode(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		_, now, cerr := c.recordBoot(ctx, bootInfo201(req))
		if cerr != nil {
			return nil, nil, cerr
		}
		return bootConf201{Status: "Accepted", CurrentTime: now.UTC(), Interval: c.heartbeatSeconds()}, func() { c.startCapabilityRead(ctx) }, nil
	case "Heartbeat":
		resp = c.heartbeat(ctx)
	case "StatusNotification":
		resp, cerr = c.status201(ctx, payload)
	case "TransactionEvent":
		resp, cerr = c.txEvent201(ctx, payload)
	case "MeterValues":
		resp, cerr = c.meterValues(ctx, payload)
	case "Authorize":
		resp = authorizeConf201{IDTokenInfo: idTokenInfo201{Status: "Accepted"}}
	case "NotifyEVChargingNeeds":
		resp, cerr = c.evNeeds201(payload)
	case "NotifyChargingLimit":
		resp, cerr = c.chargingLimit201(payload)
	case "ClearedChargingLimit":
		resp, cerr = c.clearedLimit201(payload)
	case "DataTransfer":
		resp = dataTransferConf{Status: "UnknownVendorId"}
	case "ReportChargingProfiles", "NotifyReport", "SecurityEventNotification", "FirmwareStatusNotification", "LogStatusNotification":
		c.log.Info("ocpp: "+action, "bytes", len(payload))
		resp = emptyConf{}
	default:
		cerr = &CallError{Code: CodeNotSupported, Description: "action " + action + " is not supported"}
	}
	return resp, nil, cerr
}

func bootInfo201(r bootReq201) site.BootInfo {
	cs := r.ChargingStation
	return site.BootInfo{Vendor: cs.VendorName, Model: cs.Model, SerialNumber: cs.SerialNumber, FirmwareVersion: cs.FirmwareVersion}
}

func checkEVSE(id, lowest int) *CallError {
	if id < lowest || id > site.MaxEVSEs {
		return callErr(CodePropertyConstraintViolation, "evseId %d out of range %d..%d", id, lowest, site.MaxEVSEs)
	}
	return nil
}

var statusMap201 = map[string]site.EVSEStatus{
	"Available":   site.StatusAvailable,
	"Occupied":    site.StatusOccupied,
	"Reserved":    site.StatusReserved,
	"Unavailable": site.StatusUnavailable,
	"Faulted":     site.StatusFaulted,
}

// charging reports whether s is one of the finer states 2.0.1 reports by
// TransactionEvent chargingState, which a connector's Occupied must not
// overwrite.
func charging(s site.EVSEStatus) bool {
	return s == site.StatusCharging || s == site.StatusSuspendedEV || s == site.StatusSuspendedEVSE
}

func (c *conn) status201(ctx context.Context, payload []byte) (any, *CallError) {
	var req statusReq201
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	if cerr := checkEVSE(req.EvseID, 0); cerr != nil {
		return nil, cerr
	}
	status := statusMap201[req.ConnectorStatus]
	var result site.EVSEStatus
	if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
		ev := st.EVSEs[req.EvseID]
		if !(status == site.StatusOccupied && charging(ev.Status)) {
			ev.Status = status
		}
		ev.StatusTime = req.Timestamp
		st.EVSEs[req.EvseID] = ev
		result = ev.Status
		return nil
	}); err != nil {
		return nil, c.storeFailed("StatusNotification", err)
	}
	c.publish(site.EVSEStatusChanged{EventHeader: c.header(req.Timestamp), EVSE: req.EvseID, Status: result})
	return emptyConf{}, nil
}

var chargingStateMap201 = map[string]site.EVSEStatus{
	"Charging":      site.StatusCharging,
	"EVConnected":   site.StatusOccupied,
	"SuspendedEV":   site.StatusSuspendedEV,
	"SuspendedEVSE": site.StatusSuspendedEVSE,
}

func samples201(mvs []meterValue201) []site.MeterSample {
	var out []site.MeterSample
	for _, mv := range mvs {
		var acc sampleAcc
		for _, sv := range mv.SampledValue {
			unit, mult := "", 0
			if u := sv.UnitOfMeasure; u != nil {
				unit, mult = u.Unit, u.Multiplier
			}
			acc.add(sv.Measurand, sv.Phase, unit, sv.Value*math.Pow10(mult))
		}
		if s, ok := acc.sample(mv.Timestamp); ok {
			out = append(out, s)
		}
	}
	return out
}

var errNoEVSE = errors.New("no evse")

func (c *conn) txEvent201(ctx context.Context, payload []byte) (any, *CallError) {
	var req txEventReq201
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	evseID := -1
	if req.Evse != nil {
		if cerr := checkEVSE(req.Evse.ID, 1); cerr != nil {
			return nil, cerr
		}
		evseID = req.Evse.ID
	}
	samples := samples201(req.MeterValue)
	id := req.Info.TransactionID
	status, hasStatus := chargingStateMap201[req.Info.ChargingState]
	ended := req.EventType == "Ended"
	var (
		tx      site.Transaction
		fresh   bool
		evse    int
		current site.EVSEStatus
	)
	_, err := c.updateState(ctx, func(st *site.ChargerState) error {
		fresh = false
		at := -1
		for n, ev := range st.EVSEs {
			if ev.Transaction != nil && ev.Transaction.ID == id {
				at = n
			}
		}
		evse = evseID
		if evse < 0 {
			evse = at
		}
		if evse < 0 {
			return errNoEVSE
		}
		ev := st.EVSEs[evse]
		if at >= 0 && at != evse {
			old := st.EVSEs[at]
			ev.Transaction, old.Transaction = old.Transaction, nil
			st.EVSEs[at] = old
		}
		if ev.Transaction != nil && ev.Transaction.ID == id {
			tx = *ev.Transaction
		} else {
			tx = site.Transaction{ID: id, EVSE: evse, Start: req.Timestamp}
			if len(samples) > 0 && samples[0].Energy != nil {
				tx.MeterStart = *samples[0].Energy
			}
			fresh = true
		}
		tx.EVSE = evse
		if req.IDToken != nil && req.IDToken.IDToken != "" {
			tx.IDTag = req.IDToken.IDToken
		}
		if n := len(samples); n > 0 {
			last := samples[n-1]
			if last.Energy != nil {
				tx.Energy = *last.Energy - tx.MeterStart
			}
			ev.LastSample = &last
		}
		if hasStatus {
			ev.Status = status
			ev.StatusTime = req.Timestamp
		}
		current = ev.Status
		if ended {
			ev.Transaction = nil
		} else {
			t := tx
			ev.Transaction = &t
		}
		st.EVSEs[evse] = ev
		return nil
	})
	if errors.Is(err, errNoEVSE) {
		return nil, callErr(CodeOccurrenceConstraintViolation, "evse is required in the first TransactionEvent of transaction %q", id)
	}
	if err != nil {
		return nil, c.storeFailed("TransactionEvent", err)
	}
	h := c.header(req.Timestamp)
	if hasStatus {
		c.publish(site.EVSEStatusChanged{EventHeader: h, EVSE: evse, Status: current})
	}
	for _, s := range samples {
		c.publish(site.MeterSampled{EventHeader: c.header(s.Time), EVSE: evse, TransactionID: id, Sample: s})
	}
	if fresh {
		c.publish(site.TransactionStarted{EventHeader: h, Transaction: tx})
	}
	switch {
	case ended:
		reason := req.Info.StoppedReason
		if reason == "" {
			reason = "Local"
		}
		c.publish(site.TransactionStopped{EventHeader: h, Transaction: tx, Reason: reason})
	case !fresh:
		c.publish(site.TransactionUpdated{EventHeader: h, Transaction: tx})
	}
	var resp txEventConf201
	if req.IDToken != nil {
		resp.IDTokenInfo = &idTokenInfo201{Status: "Accepted"}
	}
	return resp, nil
}

func (c *conn) evNeeds201(payload []byte) (any, *CallError) {
	var req evNeedsReq201
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	if cerr := checkEVSE(req.EvseID, 1); cerr != nil {
		return nil, cerr
	}
	var needs site.ChargingNeeds
	n := req.ChargingNeeds
	if n.DepartureTime != nil {
		needs.Departure = *n.DepartureTime
	}
	if ac := n.AC; ac != nil {
		needs.Energy = site.WattHours(ac.EnergyAmount)
		needs.MinCurrent = site.Amps(ac.EVMinCurrent)
		needs.MaxCurrent = site.Amps(ac.EVMaxCurrent)
	}
	if dc := n.DC; dc != nil {
		needs.MaxCurrent = site.Amps(dc.EVMaxCurrent)
		if dc.EnergyAmount != nil {
			needs.Energy = site.WattHours(*dc.EnergyAmount)
		}
	}
	c.publish(site.ChargingNeedsReported{EventHeader: c.header(c.now()), EVSE: req.EvseID, Needs: needs})
	return evNeedsConf201{Status: "Accepted"}, nil
}

// chargingLimit201 reads NotifyChargingLimit (OCPP 2.0.1 K11, K12): a
// limit an external system (chargingLimitSource EMS, SO, Other) set on
// the station (evseId absent or 0) or on one EVSE. It replaces what that
// source reported there before and is published as an
// ExternalSchedulesReported with the schedules the charger sent (it sends
// them when EnableNotifyChargingLimitWithSchedules is true, K12.FR.03): a
// limit of 0 in them is a limit of 0. Without a schedule the limit's value
// is not known: the event has no schedules (the charger enforces the
// limit itself, K11.FR.01, K12.FR.01; smartcharge takes none from it).
func (c *conn) chargingLimit201(payload []byte) (any, *CallError) {
	var req chargingLimitReq201
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	src := req.ChargingLimit.Source
	ev := site.ExternalSchedulesReported{EventHeader: c.header(c.now()), Source: src}
	if req.EvseID != nil {
		if cerr := checkEVSE(*req.EvseID, 0); cerr != nil {
			return nil, cerr
		}
		ev.EVSE = *req.EvseID
	}
	if src == "CSO" {
		// K12.FR.04: a station must not report a limit as the CSO's (the
		// CSO's limits are its charging profiles). Followed all the same:
		// a limit can only lower what smartcharge allows.
		c.log.Warn("ocpp: NotifyChargingLimit with chargingLimitSource CSO (K12.FR.04 forbids it); followed as an external limit", "evse", ev.EVSE)
	}
	for i, s := range req.ChargingSchedule {
		x, ok := externalSchedule201(s)
		if !ok {
			c.log.Warn("ocpp: NotifyChargingLimit schedule cannot be read; left out", "evse", ev.EVSE, "schedule", i)
			continue
		}
		ev.Schedules = append(ev.Schedules, x)
	}
	if len(req.ChargingSchedule) > 0 && len(ev.Schedules) == 0 {
		return nil, callErr(CodePropertyConstraintViolation, "chargingSchedule: no readable schedule")
	}
	a, hasA, w, hasW, _ := site.ExternalLimitsAt(ev.Schedules, ev.Time)
	c.log.Info("ocpp: external charging limit", "source", src, "evse", ev.EVSE, "schedules", len(ev.Schedules),
		"amps_now", float64(a), "has_amps", hasA, "watts_now", float64(w), "has_watts", hasW,
		"grid_critical", req.ChargingLimit.GridCritical != nil && *req.ChargingLimit.GridCritical)
	c.publish(ev)
	return emptyConf{}, nil
}

// clearedLimit201 reads ClearedChargingLimit (OCPP 2.0.1 K13): the
// source's limit on the EVSE is gone (K13.FR.01), published as an
// ExternalSchedulesReported without schedules. Without evseId it is the
// station's limit (EVSE 0), as in NotifyChargingLimit; limits the source
// reported on single EVSEs stay until cleared there.
func (c *conn) clearedLimit201(payload []byte) (any, *CallError) {
	var req clearedLimitReq201
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	evse := 0
	if req.EvseID != nil {
		if cerr := checkEVSE(*req.EvseID, 0); cerr != nil {
			return nil, cerr
		}
		evse = *req.EvseID
	}
	c.log.Info("ocpp: external charging limit cleared", "source", req.Source, "evse", evse)
	c.publish(site.ExternalSchedulesReported{EventHeader: c.header(c.now()), EVSE: evse, Source: req.Source})
	return emptyConf{}, nil
}

// externalSchedule201 turns a chargingSchedule of NotifyChargingLimit
// into a limit schedule. Without startSchedule the start is not known
// and the lowest period counts while it is reported (on the safe side).
// A negative limit (a discharge limit of older systems) counts as 0.
func externalSchedule201(s schedule201) (site.ExternalSchedule, bool) {
	x := site.ExternalSchedule{}
	switch s.RateUnit {
	case "A":
		x.Unit = site.UnitAmps
	case "W":
		x.Unit = site.UnitWatts
	default:
		return x, false
	}
	for _, p := range s.Periods {
		q := site.Period{Offset: time.Duration(p.StartPeriod) * time.Second, Limit: p.Limit}
		if p.NumberPhases != nil {
			q.Phases = *p.NumberPhases
		}
		x.Periods = append(x.Periods, q)
	}
	x.Periods = tidyPeriods(x.Periods)
	if s.StartSchedule != nil {
		x.Start = *s.StartSchedule
	}
	if s.Duration != nil && *s.Duration > 0 {
		x.Duration = time.Duration(*s.Duration) * time.Second
	}
	if x.Validate() != nil {
		x.Start, x.Duration = time.Time{}, 0
	}
	return x, x.Validate() == nil
}
