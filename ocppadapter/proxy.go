package ocppadapter

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

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
		if tx := c.endedTransaction(f); tx != "" {
			c.up.profiles.txEnded(c, tx, func() (int, bool) { return c.transactionEVSE(ctx, tx) })
		} else if evse, ok := c.connectorFreed(f); ok {
			c.up.profiles.txEnded(c, "", func() (int, bool) { return evse, true })
		}
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
	// txID is a TxProfile's transaction ("" when not given).
	txID string
	// scheds are its schedules as limits (none when unreadable).
	scheds []site.ExternalSchedule
}

// csmsProfileMsg is what the proxy reads of a SetChargingProfile of
// either version: 1.6 connectorId/csChargingProfiles with one schedule,
// 2.0.1 evseId/chargingProfile with one to three. Times are read one by
// one so that a bad one does not hide the profile's id and stack level.
type csmsProfileMsg struct {
	ConnectorID int          `json:"connectorId"`
	EvseID      int          `json:"evseId"`
	P16         *csmsProfile `json:"csChargingProfiles"`
	P201        *csmsProfile `json:"chargingProfile"`
}

type csmsProfile struct {
	ChargingProfileID int             `json:"chargingProfileId"` // 1.6
	ID                int             `json:"id"`                // 2.0.1
	StackLevel        int             `json:"stackLevel"`
	Purpose           string          `json:"chargingProfilePurpose"`
	Kind              string          `json:"chargingProfileKind"`
	Recurrency        string          `json:"recurrencyKind"`
	ValidFrom         json.RawMessage `json:"validFrom"`
	ValidTo           json.RawMessage `json:"validTo"`
	TransactionID     json.RawMessage `json:"transactionId"` // 1.6 integer, 2.0.1 string
	Schedule          json.RawMessage `json:"chargingSchedule"`
}

type csmsSchedule struct {
	StartSchedule json.RawMessage `json:"startSchedule"`
	Duration      int             `json:"duration"`
	RateUnit      string          `json:"chargingRateUnit"`
	Periods       []struct {
		StartPeriod int     `json:"startPeriod"`
		Limit       float64 `json:"limit"`
	} `json:"chargingSchedulePeriod"`
}

// jsonTime reads an OCPP dateTime; zero when absent or unreadable.
func jsonTime(raw json.RawMessage) time.Time {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (c *conn) readSetProfile(payload []byte) (profileRef, bool) {
	var m csmsProfileMsg
	if json.Unmarshal(payload, &m) != nil {
		return profileRef{}, false
	}
	pr, evse, id := m.P201, m.EvseID, 0
	if c.version == V16 {
		pr, evse = m.P16, m.ConnectorID
	}
	if pr == nil {
		return profileRef{}, false
	}
	id = pr.ID
	if c.version == V16 {
		id = pr.ChargingProfileID
	}
	p := profileRef{id: id, stack: pr.StackLevel, evse: evse, purpose: pr.Purpose}
	if len(pr.TransactionID) > 0 {
		var s string
		if json.Unmarshal(pr.TransactionID, &s) != nil {
			s = string(bytes.TrimSpace(pr.TransactionID)) // 1.6: a number
		}
		p.txID = s
	}
	var scheds []csmsSchedule
	if c.version == V16 {
		var one csmsSchedule
		if json.Unmarshal(pr.Schedule, &one) == nil {
			scheds = []csmsSchedule{one}
		}
	} else {
		_ = json.Unmarshal(pr.Schedule, &scheds)
	}
	for _, cs := range scheds {
		if s, ok := externalSchedule(pr, cs); ok {
			s.ProfileID, s.StackLevel, s.TransactionID = id, pr.StackLevel, p.txID
			p.scheds = append(p.scheds, s)
		}
	}
	return p, true
}

// externalSchedule turns a CSMS schedule into a limit schedule: absolute
// and recurring (daily, weekly) schedules keep their start; relative ones
// (and those without a start) start with a transaction the proxy does not
// follow, so their lowest period counts all the time (on the safe side).
func externalSchedule(p *csmsProfile, cs csmsSchedule) (site.ExternalSchedule, bool) {
	s := site.ExternalSchedule{ValidFrom: jsonTime(p.ValidFrom), ValidTo: jsonTime(p.ValidTo)}
	switch p.Purpose {
	case "ChargePointMaxProfile", "ChargingStationMaxProfile":
		s.Purpose = site.PurposeStationMax
	case "TxDefaultProfile":
		s.Purpose = site.PurposeTxDefault
	case "TxProfile":
		s.Purpose = site.PurposeTx
	}
	switch cs.RateUnit {
	case "A":
		s.Unit = site.UnitAmps
	case "W":
		s.Unit = site.UnitWatts
	default:
		return s, false
	}
	for _, pp := range cs.Periods {
		s.Periods = append(s.Periods, site.Period{Offset: time.Duration(pp.StartPeriod) * time.Second, Limit: pp.Limit})
	}
	s.Periods = tidyPeriods(s.Periods)
	if len(s.Periods) == 0 {
		return s, false
	}
	if cs.Duration > 0 {
		s.Duration = time.Duration(cs.Duration) * time.Second
	}
	start := jsonTime(cs.StartSchedule)
	switch {
	case p.Kind == "Absolute":
		s.Start = start
	case p.Kind == "Recurring" && p.Recurrency == "Daily":
		s.Start, s.Recurrency = start, site.RecurrencyDaily
	case p.Kind == "Recurring" && p.Recurrency == "Weekly":
		s.Start, s.Recurrency = start, site.RecurrencyWeekly
	}
	if s.Validate() != nil {
		// Not a schedule we can follow in time: its lowest limit while
		// valid.
		s.Start, s.Recurrency, s.Duration = time.Time{}, site.RecurrencyNone, 0
		if !s.ValidTo.IsZero() && !s.ValidTo.After(s.ValidFrom) {
			s.ValidFrom, s.ValidTo = time.Time{}, time.Time{}
		}
	}
	return s, true
}

// tidyPeriods makes periods read from a charger or CSMS fit
// site.ExternalSchedule: in order of offset, offsets and limits not
// negative (a negative limit, a discharge limit of older systems, counts
// as 0), one per offset (periods given twice for one offset: the lowest
// limit, on the safe side).
func tidyPeriods(ps []site.Period) []site.Period {
	for i := range ps {
		ps[i].Offset, ps[i].Limit = max(ps[i].Offset, 0), max(ps[i].Limit, 0)
	}
	slices.SortStableFunc(ps, func(a, b site.Period) int { return cmp.Compare(a.Offset, b.Offset) })
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Offset == p.Offset {
			if p.Limit < out[n-1].Limit {
				out[n-1] = p
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

// rejects reports whether a CSMS SetChargingProfile is refused: it uses
// a reserved profile id or stack level (it would replace smartcharge's
// profile: OCPP 2.0.1 K01.FR.05, 1.6 section 5.16.1) or would shadow
// smartcharge's profiles.
func (p *ProxyConfig) rejects(pr profileRef) bool {
	return p.ReservedProfileIDs.Contains(pr.id) || p.ReservedStackLevels.Contains(pr.stack) || p.shadows(pr.purpose, pr.stack)
}

// shadows reports whether a CSMS profile at stack level stack with
// purpose would take effect over smartcharge's: within Tx and TxDefault
// the highest stack level in force leads (OCPP 2.0.1 K08, 1.6 section
// 3.13.2), so a CSMS Tx/TxDefault profile above the reserved band would
// override smartcharge's limits. Station maxima combine with the others
// by the lowest limit and are never shadowing.
func (p *ProxyConfig) shadows(purpose string, stack int) bool {
	switch purpose {
	case "TxProfile", "TxDefaultProfile":
		return stack > p.ReservedStackLevels.Hi
	}
	return false
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
		if !ok || !cfg.rejects(p) {
			return false
		}
		c.log.Warn("ocpp proxy: CSMS SetChargingProfile uses a reserved profile id or stack level (or a Tx/TxDefault level above them); answered Rejected, not relayed",
			"profile_id", p.id, "stack_level", p.stack, "purpose", p.purpose, "reserved_ids", cfg.ReservedProfileIDs, "reserved_stack_levels", cfg.ReservedStackLevels)
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
// through the proxy; each EVSE's schedules are published as an
// ExternalSchedulesReported.
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

// txEnded drops the CSMS's Tx profiles of a transaction that ended (the
// charger discards them with it): those naming txID, and those sent
// without a transactionId on the EVSE it ran on (1.6 allows that: the
// profile belongs to the transaction running on the connector when it is
// set, section 3.13.4). evse tells that EVSE (ok false: not known, and
// such profiles stay until cleared or replaced); it is asked only when
// there are such profiles. txID "" drops only those on the EVSE.
func (ps *csmsProfiles) txEnded(c *conn, txID string, evse func() (int, bool)) {
	ps.mu.Lock()
	unbound := slices.ContainsFunc(ps.m, func(o profileRef) bool { return o.purpose == "TxProfile" && o.txID == "" })
	ps.mu.Unlock()
	n, known := 0, false
	if unbound {
		n, known = evse()
	}
	if txID == "" && !known {
		return
	}
	ps.mu.Lock()
	var touched []int
	ps.m = slices.DeleteFunc(ps.m, func(o profileRef) bool {
		if o.purpose == "TxProfile" && ((txID != "" && o.txID == txID) || (known && o.txID == "" && o.evse == n)) {
			touched = append(touched, o.evse)
			return true
		}
		return false
	})
	ps.mu.Unlock()
	if unbound && !known {
		c.log.Info("ocpp proxy: transaction ended on an EVSE not known; CSMS TxProfiles without transactionId kept until the connector is free", "transaction", txID)
	}
	ps.publish(c, touched)
}

// transactionEVSE returns the EVSE the stored state has transaction txID
// on (ok false when not found or the store fails).
func (c *conn) transactionEVSE(ctx context.Context, txID string) (int, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.StoreTimeout)
	defer cancel()
	st, err := c.srv.cfg.Store.ChargerState(ctx, c.ref)
	if err != nil {
		c.log.Warn("ocpp proxy: cannot read the charger's state for an ended transaction", "transaction", txID, "err", err)
		return 0, false
	}
	for n, ev := range st.EVSEs {
		if ev.Transaction != nil && ev.Transaction.ID == txID {
			return n, true
		}
	}
	return 0, false
}

// connectorFreed returns the connector a 1.6 StatusNotification reports
// Finishing or Available: no transaction runs there any more, so the
// charger has dropped its Tx profiles (also those of a transaction the
// proxy did not see end).
func (c *conn) connectorFreed(f Frame) (int, bool) {
	if c.version != V16 || f.Action != "StatusNotification" {
		return 0, false
	}
	var m struct {
		ConnectorID int    `json:"connectorId"`
		Status      string `json:"status"`
	}
	if json.Unmarshal(f.Payload, &m) != nil || m.ConnectorID < 1 || (m.Status != "Available" && m.Status != "Finishing") {
		return 0, false
	}
	return m.ConnectorID, true
}

// endedTransaction returns the id of the transaction a charger's CALL
// ends (1.6 StopTransaction, 2.0.1 TransactionEvent Ended), or "".
func (c *conn) endedTransaction(f Frame) string {
	switch {
	case c.version == V16 && f.Action == "StopTransaction":
		var m struct {
			TransactionID json.Number `json:"transactionId"`
		}
		if json.Unmarshal(f.Payload, &m) == nil {
			return m.TransactionID.String()
		}
	case c.version == V201 && f.Action == "TransactionEvent":
		var m struct {
			EventType string `json:"eventType"`
			Info      struct {
				TransactionID string `json:"transactionId"`
			} `json:"transactionInfo"`
		}
		if json.Unmarshal(f.Payload, &m) == nil && m.EventType == "Ended" {
			return m.Info.TransactionID
		}
	}
	return ""
}

// publish reports, for each touched EVSE, the schedules of every CSMS
// profile there (the loop follows the lowest in force at each moment),
// or that none is left.
func (ps *csmsProfiles) publish(c *conn, evses []int) {
	slices.Sort(evses)
	evses = slices.Compact(evses)
	for _, evse := range evses {
		ev := site.ExternalSchedulesReported{EventHeader: c.header(c.now()), EVSE: evse, Source: "CSMS"}
		ps.mu.Lock()
		for _, p := range ps.m {
			if p.evse == evse {
				ev.Schedules = append(ev.Schedules, p.scheds...)
			}
		}
		ps.mu.Unlock()
		a, hasA, w, hasW, _ := site.ExternalLimitsAt(ev.Schedules, ev.Time)
		c.log.Info("ocpp proxy: CSMS charging limit", "evse", evse, "schedules", len(ev.Schedules),
			"amps_now", float64(a), "has_amps", hasA, "watts_now", float64(w), "has_watts", hasW, "cleared", ev.Cleared())
		c.publish(ev)
	}
}
