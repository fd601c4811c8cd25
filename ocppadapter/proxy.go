package ocppadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/smartcharge/smartcharge/site"
)

// proxyFrame handles one frame from a proxied charger: CALLs go to the
// CSMS as they came (and are read as direct mode reads them, without
// answering), answers go to whoever asked: the CSMS or the adapter.
func (c *conn) proxyFrame(ctx context.Context, data []byte) {
	f, ferr := ParseFrame(data)
	if ferr != nil {
		switch ferr.Type {
		case TypeCallResult, TypeCallError:
			if !c.deliverRelayed(ferr.ID, data, nil) {
				c.deliver(ferr.ID, callResult{err: fmt.Errorf("%w: %s", ErrBadResponse, ferr.Reason)})
			}
			return
		}
		// A bad CALL: the CSMS judges it, as it would without us.
		if err := c.up.write(bytes.Clone(data)); err != nil {
			c.log.Warn("ocpp proxy: bad frame from charger not relayed", "err", err)
		}
		return
	}
	switch f.Type {
	case TypeCall:
		call := &upCall{id: f.ID, action: f.Action, frame: bytes.Clone(data)}
		if c.version == V16 && f.Action == "StartTransaction" {
			call.req = bytes.Clone(f.Payload)
		}
		if c.up.online() {
			c.up.relay(call)
			c.observeCall(ctx, f)
			return
		}
		resp := c.observeCall(ctx, f)
		if resp != nil && c.srv.cfg.Proxy.Offline == OfflineAnswer && answersOffline(f.Action) {
			if err := c.sendResult(ctx, f.ID, f.Action, resp); err == nil {
				call.local = true
			}
			if f.Action == "Heartbeat" {
				return
			}
		}
		c.up.relay(call)
	case TypeCallResult:
		if !c.deliverRelayed(f.ID, data, f.Payload) {
			c.handleResult(f)
		}
	case TypeCallError:
		if !c.deliverRelayed(f.ID, data, nil) {
			code, _ := ParseErrorCode(f.ErrorCode)
			c.deliver(f.ID, callResult{err: &CallError{Code: code, Description: f.ErrorDescription, Details: bytes.Clone(f.ErrorDetails)}})
		}
	}
}

// answersOffline lists the CALLs OfflineAnswer answers locally.
func answersOffline(action string) bool {
	switch action {
	case "BootNotification", "StartTransaction":
		return false
	}
	return true
}

// observeCall reads a charger's CALL as direct mode does (store, events)
// without answering it; it returns the answer direct mode would give, or
// nil for those that must come from the CSMS.
func (c *conn) observeCall(ctx context.Context, f Frame) any {
	if !c.known || !c.schemas.has(f.Action, dirReq) || !c.handles(f.Action) {
		return nil
	}
	if cerr := c.schemas.validate(f.Action, dirReq, f.Payload); cerr != nil {
		c.log.Info("ocpp proxy: charger CALL breaks the schema; relayed unread", "action", f.Action, "err", cerr.Description)
		return nil
	}
	switch {
	case f.Action == "BootNotification":
		var info site.BootInfo
		if c.version == V16 {
			var req bootReq16
			if decode(f.Payload, &req) != nil {
				return nil
			}
			info = bootInfo16(req)
		} else {
			var req bootReq201
			if decode(f.Payload, &req) != nil {
				return nil
			}
			info = bootInfo201(req)
		}
		c.recordBoot(ctx, info)
		return nil
	case c.version == V16 && f.Action == "StartTransaction":
		return nil // read with the CSMS's answer (transaction id)
	}
	var (
		resp any
		cerr *CallError
	)
	if c.version == V16 {
		resp, _, cerr = c.handle16(ctx, f.Action, f.Payload)
	} else {
		resp, _, cerr = c.handle201(ctx, f.Action, f.Payload)
	}
	if cerr != nil {
		c.log.Info("ocpp proxy: could not read charger CALL", "action", f.Action, "code", cerr.Code.String(), "err", cerr.Description)
		return nil
	}
	return resp
}

// observeAnswer reads the CSMS's answer to a charger's CALL: the
// transaction id of a 1.6 StartTransaction, and a boot's acceptance
// (which starts the capability read).
func (c *conn) observeAnswer(ctx context.Context, call *upCall, payload []byte) {
	if !c.known {
		return
	}
	switch call.action {
	case "BootNotification":
		var conf struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(payload, &conf) == nil && conf.Status == "Accepted" {
			c.startCapabilityRead(c.srv.base)
		}
	case "StartTransaction":
		if c.version != V16 || call.req == nil {
			return
		}
		var (
			req  startTxReq16
			conf startTxConf16
		)
		if json.Unmarshal(call.req, &req) != nil || json.Unmarshal(payload, &conf) != nil {
			c.log.Warn("ocpp proxy: cannot read StartTransaction or its answer")
			return
		}
		id := conf.TransactionID
		if _, cerr := c.recordStart16(ctx, req, &id); cerr != nil {
			c.log.Warn("ocpp proxy: cannot record transaction", "transaction", id, "err", cerr.Description)
		}
	}
}

// profileRef is what the proxy reads of a charging profile.
type profileRef struct {
	id, stack, evse int
	purpose         string
	unit            string
	limit           float64
	hasLimit        bool
}

func (c *conn) readSetProfile(payload []byte) (profileRef, bool) {
	if c.version == V16 {
		var m setProfileReq16
		if json.Unmarshal(payload, &m) != nil {
			return profileRef{}, false
		}
		p := profileRef{id: m.Profile.ChargingProfileID, stack: m.Profile.StackLevel, evse: m.ConnectorID, purpose: m.Profile.Purpose, unit: m.Profile.Schedule.RateUnit}
		if ps := m.Profile.Schedule.Periods; len(ps) > 0 {
			p.limit, p.hasLimit = ps[0].Limit, true
		}
		return p, true
	}
	var m setProfileReq201
	if json.Unmarshal(payload, &m) != nil {
		return profileRef{}, false
	}
	p := profileRef{id: m.Profile.ID, stack: m.Profile.StackLevel, evse: m.EvseID, purpose: m.Profile.Purpose}
	if ss := m.Profile.Schedules; len(ss) > 0 {
		p.unit = ss[0].RateUnit
		if len(ss[0].Periods) > 0 {
			p.limit, p.hasLimit = ss[0].Periods[0].Limit, true
		}
	}
	return p, true
}

// clearRef is a ClearChargingProfile's criteria; nil fields match any.
type clearRef struct {
	id, evse, stack *int
	purpose         string
}

func (c *conn) readClear(payload []byte) (clearRef, bool) {
	if c.version == V16 {
		var m clearProfileReq16
		if json.Unmarshal(payload, &m) != nil {
			return clearRef{}, false
		}
		return clearRef{id: m.ID, evse: m.ConnectorID, stack: m.StackLevel, purpose: m.Purpose}, true
	}
	var m clearProfileReq201
	if json.Unmarshal(payload, &m) != nil {
		return clearRef{}, false
	}
	r := clearRef{id: m.ChargingProfileID}
	if k := m.Criteria; k != nil {
		r.evse, r.stack, r.purpose = k.EvseID, k.StackLevel, k.Purpose
	}
	return r, true
}

func (r clearRef) payload(v Version) []byte {
	var b []byte
	if v == V16 {
		b, _ = json.Marshal(clearProfileReq16{ID: r.id, ConnectorID: r.evse, Purpose: r.purpose, StackLevel: r.stack})
	} else {
		m := clearProfileReq201{ChargingProfileID: r.id}
		if r.evse != nil || r.stack != nil || r.purpose != "" {
			m.Criteria = &clearProfileCrit201{EvseID: r.evse, Purpose: r.purpose, StackLevel: r.stack}
		}
		b, _ = json.Marshal(m)
	}
	return b
}

func (r clearRef) matches(p profileRef) bool {
	if r.id != nil {
		return *r.id == p.id
	}
	return (r.evse == nil || *r.evse == p.evse) && (r.stack == nil || *r.stack == p.stack) && (r.purpose == "" || r.purpose == p.purpose)
}

// rejectedPayload answers a CSMS SetChargingProfile that uses
// smartcharge's reserved profile ids or stack levels.
func rejectedPayload(v Version) []byte {
	if v == V16 {
		return []byte(`{"status":"Rejected"}`)
	}
	return []byte(`{"status":"Rejected","statusInfo":{"reasonCode":"LocalControllerOwned","additionalInfo":"profile id or stack level reserved by the local controller"}}`)
}

var unknownPayload = []byte(`{"status":"Unknown"}`)

// intercept handles the CSMS's CALLs that must not reach the charger as
// they are; true if it took the CALL (answered it or queued its
// narrowed form).
func (u *upstream) intercept(f Frame) bool {
	c, cfg := u.c, u.cfg
	switch f.Action {
	case "SetChargingProfile":
		p, ok := c.readSetProfile(f.Payload)
		if !ok || (!cfg.ReservedProfileIDs.Contains(p.id) && !cfg.ReservedStackLevels.Contains(p.stack)) {
			return false
		}
		c.log.Warn("ocpp proxy: CSMS SetChargingProfile uses a reserved profile id or stack level; answered Rejected, not relayed",
			"profile_id", p.id, "stack_level", p.stack, "reserved_ids", cfg.ReservedProfileIDs, "reserved_stack_levels", cfg.ReservedStackLevels)
		u.writeCSMSAnswer(f.ID, rejectedPayload(c.version))
		return true
	case "ClearChargingProfile":
		r, ok := c.readClear(f.Payload)
		if !ok {
			return false
		}
		switch {
		case r.id != nil && cfg.ReservedProfileIDs.Contains(*r.id):
			c.log.Warn("ocpp proxy: CSMS ClearChargingProfile of a reserved profile id answered Unknown, not relayed", "profile_id", *r.id)
			u.writeCSMSAnswer(f.ID, unknownPayload)
			return true
		case r.id != nil && (r.evse != nil || r.stack != nil || r.purpose != ""):
			narrow := clearRef{id: r.id}
			c.log.Warn("ocpp proxy: CSMS ClearChargingProfile narrowed to its profile id", "profile_id", *r.id)
			u.toDownItem(downItem{data: AppendCall(nil, f.ID, f.Action, narrow.payload(c.version))})
			return true
		case r.id != nil:
			return false
		case r.stack != nil && !cfg.ReservedStackLevels.Contains(*r.stack):
			return false
		case r.stack != nil:
			c.log.Warn("ocpp proxy: CSMS ClearChargingProfile of a reserved stack level answered Unknown, not relayed", "stack_level", *r.stack)
			u.writeCSMSAnswer(f.ID, unknownPayload)
			return true
		}
		id := f.ID
		u.toDownItem(downItem{run: func(ctx context.Context) { u.narrowClear(ctx, id, r) }})
		return true
	}
	return false
}

// narrowClear clears what r matches on every stack level that is not
// reserved, one ClearChargingProfile each (sent as the adapter's own
// CALLs), and answers the CSMS once: Accepted if any level was cleared.
func (u *upstream) narrowClear(ctx context.Context, csmsID string, r clearRef) {
	c := u.c
	top := int(u.maxStack.Load())
	if top <= 0 {
		top = defaultMaxStackLevel
	}
	top = max(top, u.cfg.ReservedStackLevels.Hi+1)
	var levels []int
	for l := 0; l <= top; l++ {
		if !u.cfg.ReservedStackLevels.Contains(l) {
			levels = append(levels, l)
		}
	}
	c.log.Warn("ocpp proxy: CSMS ClearChargingProfile would remove smartcharge's profiles; narrowed to the other stack levels", "levels", levels)
	status := "Unknown"
	for _, l := range levels {
		sub := r
		sub.stack = &l
		raw, err := c.call(ctx, "ClearChargingProfile", json.RawMessage(sub.payload(c.version)))
		if err != nil {
			c.log.Warn("ocpp proxy: narrowed ClearChargingProfile failed", "stack_level", l, "err", err)
			continue
		}
		var conf statusConf16
		if json.Unmarshal(raw, &conf) == nil && conf.Status == "Accepted" {
			status = "Accepted"
			u.profiles.clear(c, sub)
		}
	}
	u.writeCSMSAnswer(csmsID, []byte(`{"status":"`+status+`"}`))
}

// defaultMaxStackLevel is the highest stack level cleared when the
// charger's is not known.
const defaultMaxStackLevel = 8

// observeCSMSCall reads the charger's answer to a CSMS CALL: accepted
// charging profiles of the CSMS become external limits.
func (c *conn) observeCSMSCall(ctx context.Context, f Frame, answer []byte) {
	var conf statusConf16
	if json.Unmarshal(answer, &conf) != nil || conf.Status != "Accepted" {
		return
	}
	switch f.Action {
	case "SetChargingProfile":
		if p, ok := c.readSetProfile(f.Payload); ok {
			c.up.profiles.set(c, p)
		}
	case "ClearChargingProfile":
		if r, ok := c.readClear(f.Payload); ok {
			c.up.profiles.clear(c, r)
		}
	}
}

// csmsProfiles are the CSMS's charging profiles the charger accepted
// through the proxy; each EVSE's lowest limit in force is published as
// an ExternalLimitReported.
type csmsProfiles struct {
	mu sync.Mutex
	m  []profileRef
}

// constraining reports whether a profile of purpose p limits what
// smartcharge's profiles allow.
func constraining(purpose string) bool {
	switch purpose {
	case "ChargePointMaxProfile", "ChargingStationMaxProfile", "TxProfile", "TxDefaultProfile":
		return true
	}
	return false
}

func (ps *csmsProfiles) set(c *conn, p profileRef) {
	if !constraining(p.purpose) {
		return
	}
	ps.mu.Lock()
	touched := []int{p.evse}
	// A profile with the same id, or the same purpose and stack level on
	// the EVSE, replaces the old one (1.6 section 5.16.1, 2.0.1 K01).
	ps.m = slices.DeleteFunc(ps.m, func(o profileRef) bool {
		if o.id == p.id || (o.evse == p.evse && o.purpose == p.purpose && o.stack == p.stack) {
			touched = append(touched, o.evse)
			return true
		}
		return false
	})
	ps.m = append(ps.m, p)
	ps.mu.Unlock()
	ps.publish(c, touched)
}

func (ps *csmsProfiles) clear(c *conn, r clearRef) {
	ps.mu.Lock()
	var touched []int
	ps.m = slices.DeleteFunc(ps.m, func(o profileRef) bool {
		if r.matches(o) {
			touched = append(touched, o.evse)
			return true
		}
		return false
	})
	ps.mu.Unlock()
	ps.publish(c, touched)
}

// publish reports each touched EVSE's lowest CSMS limits (A and W), or
// that none is left.
func (ps *csmsProfiles) publish(c *conn, evses []int) {
	slices.Sort(evses)
	evses = slices.Compact(evses)
	for _, evse := range evses {
		ev := site.ExternalLimitReported{EventHeader: c.header(c.now()), EVSE: evse, Source: "CSMS"}
		found := false
		ps.mu.Lock()
		for _, p := range ps.m {
			if p.evse != evse || !p.hasLimit {
				continue
			}
			found = true
			if p.unit == "W" {
				if ev.Power == 0 || site.Watts(p.limit) < ev.Power {
					ev.Power = site.Watts(p.limit)
				}
			} else if ev.Limit == 0 || site.Amps(p.limit) < ev.Limit {
				ev.Limit = site.Amps(p.limit)
			}
		}
		ps.mu.Unlock()
		ev.Cleared = !found
		c.log.Info("ocpp proxy: CSMS charging limit", "evse", evse, "amps", float64(ev.Limit), "watts", float64(ev.Power), "cleared", ev.Cleared)
		c.publish(ev)
	}
}
