package ocppadapter

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// handles16 lists the 1.6 actions a charger may send us.
func handles16(action string) bool {
	switch action {
	case "BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
		"StopTransaction", "MeterValues", "DataTransfer", "DiagnosticsStatusNotification",
		"FirmwareStatusNotification":
		return true
	}
	return false
}

// handle16 answers a 1.6 CALL whose payload passed the schema. after, if
// not nil, runs once the answer is sent.
func (c *conn) handle16(ctx context.Context, action string, payload []byte) (resp any, after func(), cerr *CallError) {
	switch action {
	case "BootNotification":
		return c.boot16(ctx, payload)
	case "Heartbeat":
		return c.heartbeat(ctx), nil, nil
	case "StatusNotification":
		resp, cerr = c.status16(ctx, payload)
	case "Authorize":
		var req authorizeReq16
		if cerr = decode(payload, &req); cerr == nil {
			resp = authorizeConf16{IDTagInfo: idTagInfo16{Status: "Accepted"}}
		}
	case "StartTransaction":
		resp, cerr = c.startTx16(ctx, payload)
	case "StopTransaction":
		resp, cerr = c.stopTx16(ctx, payload)
	case "MeterValues":
		resp, cerr = c.meterValues(ctx, payload)
	case "DataTransfer":
		resp = dataTransferConf{Status: "UnknownVendorId"}
	case "DiagnosticsStatusNotification", "FirmwareStatusNotification":
		c.log.Info("ocpp: "+action, "payload", string(payload))
		resp = emptyConf{}
	default:
		cerr = &CallError{Code: CodeNotSupported, Description: "action " + action + " is not supported"}
	}
	return resp, nil, cerr
}

func bootInfo16(r bootReq16) site.BootInfo {
	serial := r.ChargePointSerialNumber
	if serial == "" {
		serial = r.ChargeBoxSerialNumber
	}
	return site.BootInfo{Vendor: r.ChargePointVendor, Model: r.ChargePointModel, SerialNumber: serial, FirmwareVersion: r.FirmwareVersion}
}

func (c *conn) boot16(ctx context.Context, payload []byte) (any, func(), *CallError) {
	var req bootReq16
	if cerr := decode(payload, &req); cerr != nil {
		return nil, nil, cerr
	}
	info := bootInfo16(req)
	st, now, cerr := c.recordBoot(ctx, info)
	if cerr != nil {
		return nil, nil, cerr
	}
	if hold, interval := c.commissionHold(ctx, st, now); hold {
		// commission.go: Pending until the loop's fallback is in.
		return bootConf16{Status: "Pending", CurrentTime: now.UTC(), Interval: interval}, nil, nil
	}
	return bootConf16{Status: "Accepted", CurrentTime: now.UTC(), Interval: c.heartbeatSeconds()}, func() { c.startCapabilityRead(ctx) }, nil
}

func (c *conn) heartbeatSeconds() int { return int(c.srv.cfg.HeartbeatInterval / time.Second) }

// recordBoot stores and publishes a boot and returns the charger's state
// as stored; shared by both versions.
func (c *conn) recordBoot(ctx context.Context, info site.BootInfo) (site.ChargerState, time.Time, *CallError) {
	now := c.now()
	st, err := c.updateState(ctx, func(st *site.ChargerState) error {
		st.Connected = true
		st.Protocol = c.version.Subprotocol()
		st.Boot = info
		st.LastBoot = now
		st.LastSeen = now
		return nil
	})
	if err != nil {
		return st, now, c.storeFailed("BootNotification", err)
	}
	c.log.Info("ocpp charger booted", "vendor", info.Vendor, "model", info.Model, "serial", info.SerialNumber, "firmware", info.FirmwareVersion)
	c.publish(site.ChargerBooted{EventHeader: c.header(now), Boot: info})
	return st, now, nil
}

func (c *conn) heartbeat(ctx context.Context) heartbeatConf {
	now := c.now()
	if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
		st.LastSeen = now
		return nil
	}); err != nil {
		// A heartbeat carries nothing to lose; answer it anyway.
		c.log.Warn("ocpp: cannot record heartbeat", "err", err)
	}
	return heartbeatConf{CurrentTime: now.UTC()}
}

var statusMap16 = map[string]site.EVSEStatus{
	"Available":     site.StatusAvailable,
	"Preparing":     site.StatusOccupied,
	"Charging":      site.StatusCharging,
	"SuspendedEVSE": site.StatusSuspendedEVSE,
	"SuspendedEV":   site.StatusSuspendedEV,
	"Finishing":     site.StatusFinishing,
	"Reserved":      site.StatusReserved,
	"Unavailable":   site.StatusUnavailable,
	"Faulted":       site.StatusFaulted,
}

func (c *conn) status16(ctx context.Context, payload []byte) (any, *CallError) {
	var req statusReq16
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	if req.ConnectorID < 0 || req.ConnectorID > site.MaxEVSEs {
		return nil, callErr(CodePropertyConstraintViolation, "connectorId %d out of range 0..%d", req.ConnectorID, site.MaxEVSEs)
	}
	t := c.now()
	if req.Timestamp != nil {
		t = *req.Timestamp
	}
	if cerr := c.setStatus(ctx, "StatusNotification", req.ConnectorID, statusMap16[req.Status], t); cerr != nil {
		return nil, cerr
	}
	return emptyConf{}, nil
}

// setStatus stores and publishes an EVSE status; shared by both versions.
func (c *conn) setStatus(ctx context.Context, action string, evse int, status site.EVSEStatus, t time.Time) *CallError {
	if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
		ev := st.EVSEs[evse]
		ev.Status = status
		ev.StatusTime = t
		st.EVSEs[evse] = ev
		return nil
	}); err != nil {
		return c.storeFailed(action, err)
	}
	c.publish(site.EVSEStatusChanged{EventHeader: c.header(t), EVSE: evse, Status: status})
	return nil
}

func (c *conn) startTx16(ctx context.Context, payload []byte) (any, *CallError) {
	var req startTxReq16
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	tx, cerr := c.recordStart16(ctx, req, nil)
	if cerr != nil {
		return nil, cerr
	}
	id, _ := strconv.ParseInt(tx.ID, 10, 64)
	return startTxConf16{IDTagInfo: idTagInfo16{Status: "Accepted"}, TransactionID: id}, nil
}

// recordStart16 stores and publishes a 1.6 transaction start. A nil given
// allocates an id from ChargerState.NextTransactionID (direct mode);
// otherwise it is the id the CSMS assigned (proxy mode).
func (c *conn) recordStart16(ctx context.Context, req startTxReq16, given *int64) (site.Transaction, *CallError) {
	if req.ConnectorID < 1 || req.ConnectorID > site.MaxEVSEs {
		return site.Transaction{}, callErr(CodePropertyConstraintViolation, "connectorId %d out of range 1..%d", req.ConnectorID, site.MaxEVSEs)
	}
	var (
		tx    site.Transaction
		fresh bool
	)
	if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
		ev := st.EVSEs[req.ConnectorID]
		if old := ev.Transaction; old != nil && old.Start.Equal(req.Timestamp) && old.MeterStart == site.WattHours(req.MeterStart) && old.IDTag == req.IDTag &&
			(given == nil || old.ID == strconv.FormatInt(*given, 10)) {
			// The charger repeats a StartTransaction whose answer it lost.
			tx, fresh = *old, false
			return nil
		}
		var id int64
		if given != nil {
			id = *given
		} else {
			if st.NextTransactionID >= math.MaxInt32 {
				st.NextTransactionID = 0
			}
			st.NextTransactionID++
			id = st.NextTransactionID
		}
		tx = site.Transaction{
			ID:         strconv.FormatInt(id, 10),
			EVSE:       req.ConnectorID,
			IDTag:      req.IDTag,
			Start:      req.Timestamp,
			MeterStart: site.WattHours(req.MeterStart),
		}
		fresh = true
		t := tx
		ev.Transaction = &t
		st.EVSEs[req.ConnectorID] = ev
		return nil
	}); err != nil {
		return tx, c.storeFailed("StartTransaction", err)
	}
	if fresh {
		c.publish(site.TransactionStarted{EventHeader: c.header(req.Timestamp), Transaction: tx})
	}
	return tx, nil
}

func (c *conn) stopTx16(ctx context.Context, payload []byte) (any, *CallError) {
	var req stopTxReq16
	if cerr := decode(payload, &req); cerr != nil {
		return nil, cerr
	}
	samples, cerr := samples16(req.TransactionData)
	if cerr != nil {
		return nil, cerr
	}
	id := strconv.FormatInt(req.TransactionID, 10)
	tx := site.Transaction{ID: id}
	found := false
	if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
		found = false
		for n, ev := range st.EVSEs {
			if ev.Transaction == nil || ev.Transaction.ID != id {
				continue
			}
			tx = *ev.Transaction
			tx.Energy = site.WattHours(req.MeterStop) - tx.MeterStart
			ev.Transaction = nil
			st.EVSEs[n] = ev
			found = true
		}
		return nil
	}); err != nil {
		return nil, c.storeFailed("StopTransaction", err)
	}
	if !found {
		// StopTransaction must be accepted anyway (1.6 section 4.10).
		c.log.Warn("ocpp: StopTransaction for an unknown transaction", "transaction", id)
	}
	for _, s := range samples {
		c.publish(site.MeterSampled{EventHeader: c.header(s.Time), EVSE: tx.EVSE, TransactionID: id, Sample: s})
	}
	reason := req.Reason
	if reason == "" {
		reason = "Local"
	}
	c.publish(site.TransactionStopped{EventHeader: c.header(req.Timestamp), Transaction: tx, Reason: reason})
	var resp stopTxConf16
	if req.IDTag != "" {
		resp.IDTagInfo = &idTagInfo16{Status: "Accepted"}
	}
	return resp, nil
}

// samples16 reads 1.6 meter values; a value that is not a decimal number
// is a PropertyConstraintViolation.
func samples16(mvs []meterValue16) ([]site.MeterSample, *CallError) {
	var out []site.MeterSample
	for i, mv := range mvs {
		var acc sampleAcc
		for j, sv := range mv.SampledValue {
			if sv.Format == "SignedData" {
				continue
			}
			v, err := strconv.ParseFloat(sv.Value, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, callErr(CodePropertyConstraintViolation, "meterValue[%d].sampledValue[%d].value %q is not a decimal number", i, j, sv.Value)
			}
			acc.add(sv.Measurand, sv.Phase, sv.Unit, v)
		}
		if s, ok := acc.sample(mv.Timestamp); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *conn) meterValues(ctx context.Context, payload []byte) (any, *CallError) {
	m, cerr := decodeMeterValues(c.version, payload)
	if cerr != nil {
		return nil, cerr
	}
	txID := ""
	if m.hasTx {
		txID = strconv.FormatInt(m.txID, 10)
	}
	if cerr := c.recordSamples(ctx, "MeterValues", m.evse, txID, m.samples); cerr != nil {
		return nil, cerr
	}
	return emptyConf{}, nil
}

// recordSamples stores the newest sample of an EVSE, updates its running
// transaction's energy and publishes the samples; shared by both versions.
// The store write may be deferred (see meterstore.go).
func (c *conn) recordSamples(ctx context.Context, action string, evse int, txID string, samples []site.MeterSample) *CallError {
	if len(samples) == 0 {
		return nil
	}
	last := samples[len(samples)-1]
	c.storeMu.Lock()
	updated, deferred := c.deferSample(ctx, evse, txID, last)
	if !deferred {
		wctx, cancel := context.WithTimeout(ctx, c.srv.cfg.StoreTimeout)
		_, err := c.persistLocked(wctx, func(st *site.ChargerState) error {
			updated = nil
			ev := st.EVSEs[evse]
			l := last
			ev.LastSample = &l
			if tx := ev.Transaction; tx != nil && (txID == "" || tx.ID == txID) && last.Energy != nil {
				t := *tx
				t.Energy = *last.Energy - t.MeterStart
				ev.Transaction = &t
				u := t
				updated = &u
			}
			st.EVSEs[evse] = ev
			return nil
		})
		cancel()
		if err != nil {
			c.storeMu.Unlock()
			return c.storeFailed(action, err)
		}
	}
	c.storeMu.Unlock()
	if txID == "" && updated != nil {
		txID = updated.ID
	}
	for _, s := range samples {
		c.publish(site.MeterSampled{EventHeader: c.header(s.Time), EVSE: evse, TransactionID: txID, Sample: s})
	}
	if updated != nil {
		c.publish(site.TransactionUpdated{EventHeader: c.header(last.Time), Transaction: *updated})
	}
	return nil
}
