package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// v201 speaks OCPP 2.0.1.
type v201 struct {
	c *Charger
	// txStarted and txEnded are SampledDataCtrlr's TxStartedMeasurands and
	// TxEndedMeasurands: kept for GetVariables, not used for sampling.
	txStarted, txEnded []string
}

var _ dialect = (*v201)(nil)

func (d *v201) subprotocol() string { return "ocpp2.0.1" }
func (d *v201) formatError() string { return errFormat201 }

type chargingStation201 struct {
	Model        string `json:"model"`
	VendorName   string `json:"vendorName"`
	SerialNumber string `json:"serialNumber,omitempty"`
	Firmware     string `json:"firmwareVersion,omitempty"`
}

type bootReq201 struct {
	Reason  string             `json:"reason"`
	Station chargingStation201 `json:"chargingStation"`
}

type bootConf201 struct {
	Status   string `json:"status"`
	Interval int    `json:"interval"`
}

func (d *v201) bootCall() outCall {
	c := d.c
	return outCall{
		action: "BootNotification",
		build: func() (any, bool) {
			return bootReq201{Reason: "PowerUp", Station: chargingStation201{Model: trunc(c.spec.Model, 20), VendorName: trunc(c.spec.Vendor, 50), SerialNumber: trunc(c.spec.ID, 25), Firmware: "sim-1"}}, true
		},
		onResult: func(p json.RawMessage) {
			var conf bootConf201
			_ = json.Unmarshal(p, &conf)
			c.onBoot(conf.Status, conf.Interval)
		},
	}
}

func (d *v201) heartbeatCall() outCall {
	return outCall{action: "Heartbeat", build: func() (any, bool) { return struct{}{}, true }}
}

type status201 struct {
	Timestamp       string `json:"timestamp"`
	ConnectorStatus string `json:"connectorStatus"`
	EVSEID          int    `json:"evseId"`
	ConnectorID     int    `json:"connectorId"`
}

func (d *v201) statusOf(e *evse) outCall {
	now := d.c.fleet.clock.Now()
	st := "Available"
	if e.car != nil {
		st = "Occupied"
	}
	e.status = st
	return outCall{action: "StatusNotification", keepOffline: true, build: func() (any, bool) {
		return status201{Timestamp: ocppTime(now), ConnectorStatus: st, EVSEID: e.id, ConnectorID: 1}, true
	}}
}

func (d *v201) statusAll() []outCall {
	var out []outCall
	for _, e := range d.c.evses {
		out = append(out, d.statusOf(e))
	}
	return out
}

type idToken201 struct {
	IDToken string `json:"idToken"`
	Type    string `json:"type"`
}

type txInfo201 struct {
	TransactionID string `json:"transactionId"`
	ChargingState string `json:"chargingState,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
}

type evseRef201 struct {
	ID          int  `json:"id"`
	ConnectorID *int `json:"connectorId,omitempty"`
}

type unit201 struct {
	Unit string `json:"unit,omitempty"`
}

type sampledValue201 struct {
	Value         float64  `json:"value"`
	Context       string   `json:"context,omitempty"`
	Measurand     string   `json:"measurand,omitempty"`
	Phase         string   `json:"phase,omitempty"`
	Location      string   `json:"location,omitempty"`
	UnitOfMeasure *unit201 `json:"unitOfMeasure,omitempty"`
}

type meterValue201 struct {
	Timestamp    string            `json:"timestamp"`
	SampledValue []sampledValue201 `json:"sampledValue"`
}

type txEvent201 struct {
	EventType     string          `json:"eventType"`
	Timestamp     string          `json:"timestamp"`
	TriggerReason string          `json:"triggerReason"`
	SeqNo         int             `json:"seqNo"`
	Offline       bool            `json:"offline,omitempty"`
	Info          txInfo201       `json:"transactionInfo"`
	IDToken       *idToken201     `json:"idToken,omitempty"`
	EVSE          *evseRef201     `json:"evse,omitempty"`
	MeterValue    []meterValue201 `json:"meterValue,omitempty"`
}

func (d *v201) txEvent(e *evse, typ, trigger string, now time.Time, mv []meterValue201) outCall {
	c := d.c
	ev := txEvent201{
		EventType: typ, Timestamp: ocppTime(now), TriggerReason: trigger, SeqNo: e.txSeq,
		Info: txInfo201{TransactionID: e.txID}, MeterValue: mv,
	}
	e.txSeq++
	offline := c.conn == nil
	ev.Offline = offline
	switch typ {
	case "Started":
		one := 1
		ev.EVSE = &evseRef201{ID: e.id, ConnectorID: &one}
		ev.IDToken = &idToken201{IDToken: e.idTag, Type: "ISO14443"}
		ev.Info.ChargingState = "EVConnected"
	case "Ended":
		ev.Info.StoppedReason = "EVDisconnected"
		ev.Info.ChargingState = "Idle"
	default:
		if e.state != 0 {
			ev.Info.ChargingState = e.state.String()
		}
	}
	return outCall{action: "TransactionEvent", keepOffline: true, build: func() (any, bool) { return ev, true }}
}

func (d *v201) plugged(e *evse) []outCall {
	c := d.c
	e.txID = fmt.Sprintf("%s-%d", trunc(c.spec.ID, 24), c.txCounter)
	e.txSeq = 0
	return []outCall{d.statusOf(e), d.txEvent(e, "Started", "CablePluggedIn", e.txStart, nil)}
}

func (d *v201) txKnown(e *evse) bool { return e.txID != "" }

func (d *v201) stateChanged(e *evse) []outCall {
	return []outCall{d.txEvent(e, "Updated", "ChargingStateChanged", d.c.fleet.clock.Now(), nil)}
}

func (d *v201) meterValue(e *evse, now time.Time, context string) []meterValue201 {
	c := d.c
	s := c.sampleLocked(e, now)
	var svs []sampledValue201
	for _, v := range c.values(s, true) {
		svs = append(svs, sampledValue201{Value: v.value, Context: context, Measurand: v.measurand, Phase: v.phase, Location: "Outlet", UnitOfMeasure: &unit201{Unit: v.unit}})
	}
	if len(svs) == 0 {
		svs = []sampledValue201{{Value: round3(float64(s.energy)), Context: context, Measurand: "Energy.Active.Import.Register", UnitOfMeasure: &unit201{Unit: "Wh"}}}
	}
	return []meterValue201{{Timestamp: ocppTime(now), SampledValue: svs}}
}

type meterValues201 struct {
	EVSEID     int             `json:"evseId"`
	MeterValue []meterValue201 `json:"meterValue"`
}

func (d *v201) meterValues(e *evse, now time.Time) outCall {
	mv := d.meterValue(e, now, "Sample.Periodic")
	if e.car != nil && e.txID != "" {
		return d.txEvent(e, "Updated", "MeterValuePeriodic", now, mv)
	}
	return outCall{action: "MeterValues", build: func() (any, bool) { return meterValues201{EVSEID: e.id, MeterValue: mv}, true }}
}

func (d *v201) unplugged(e *evse) []outCall {
	now := d.c.fleet.clock.Now()
	out := []outCall{}
	if e.txID != "" {
		out = append(out, d.txEvent(e, "Ended", "EVCommunicationLost", now, d.meterValue(e, now, "Transaction.End")))
	}
	car := e.car
	e.car = nil // statusOf reads it
	out = append(out, d.statusOf(e))
	e.car = car
	return out
}

// Incoming CALLs.

type period201 struct {
	StartPeriod  int             `json:"startPeriod"`
	Limit        float64         `json:"limit"`
	NumberPhases *int            `json:"numberPhases,omitempty"`
	PhaseToUse   *int            `json:"phaseToUse,omitempty"`
	CustomData   json.RawMessage `json:"customData,omitempty"`
}

type schedule201 struct {
	ID               int             `json:"id"`
	StartSchedule    *time.Time      `json:"startSchedule,omitempty"`
	Duration         *int            `json:"duration,omitempty"`
	ChargingRateUnit string          `json:"chargingRateUnit"`
	Periods          []period201     `json:"chargingSchedulePeriod"`
	MinChargingRate  *float64        `json:"minChargingRate,omitempty"`
	SalesTariff      json.RawMessage `json:"salesTariff,omitempty"`
	CustomData       json.RawMessage `json:"customData,omitempty"`
}

type profile201 struct {
	ID             int             `json:"id"`
	StackLevel     int             `json:"stackLevel"`
	Purpose        string          `json:"chargingProfilePurpose"`
	Kind           string          `json:"chargingProfileKind"`
	RecurrencyKind string          `json:"recurrencyKind,omitempty"`
	ValidFrom      *time.Time      `json:"validFrom,omitempty"`
	ValidTo        *time.Time      `json:"validTo,omitempty"`
	TransactionID  string          `json:"transactionId,omitempty"`
	Schedules      []schedule201   `json:"chargingSchedule"`
	CustomData     json.RawMessage `json:"customData,omitempty"`
}

type setProfile201 struct {
	EVSEID     int             `json:"evseId"`
	Profile    profile201      `json:"chargingProfile"`
	CustomData json.RawMessage `json:"customData,omitempty"`
}

func (p profile201) toProfile() (Profile, error) {
	var out Profile
	var err error
	out.ID, out.StackLevel, out.TransactionID = p.ID, p.StackLevel, p.TransactionID
	if out.Purpose, err = purposeOf(p.Purpose); err != nil || p.Purpose == "ChargePointMaxProfile" {
		return out, fmt.Errorf("purpose %q not supported", p.Purpose)
	}
	if out.Kind, err = kindOf(p.Kind); err != nil {
		return out, err
	}
	if out.Recurrency, err = recurrencyOf(p.RecurrencyKind); err != nil {
		return out, err
	}
	if p.ValidFrom != nil {
		out.ValidFrom = *p.ValidFrom
	}
	if p.ValidTo != nil {
		out.ValidTo = *p.ValidTo
	}
	if len(p.Schedules) == 0 {
		return out, fmt.Errorf("no chargingSchedule")
	}
	// More than one schedule is for ISO 15118 negotiation; the charger
	// applies the first.
	s := p.Schedules[0]
	if out.Schedule.Unit, err = unitOf(s.ChargingRateUnit); err != nil {
		return out, err
	}
	if s.Duration != nil {
		out.Schedule.Duration = time.Duration(*s.Duration) * time.Second
	}
	if s.StartSchedule != nil {
		out.Schedule.Start = *s.StartSchedule
	}
	if s.MinChargingRate != nil {
		out.Schedule.MinRate = *s.MinChargingRate
	}
	for _, per := range s.Periods {
		np := 0
		if per.NumberPhases != nil {
			np = *per.NumberPhases
		}
		out.Schedule.Periods = append(out.Schedule.Periods, Period{Start: time.Duration(per.StartPeriod) * time.Second, Limit: per.Limit, Phases: np})
	}
	return out, nil
}

func fromProfile201(p Profile, scheduleID int) profile201 {
	out := profile201{ID: p.ID, StackLevel: p.StackLevel, Purpose: p.Purpose.String(), Kind: kindString(p.Kind), RecurrencyKind: recurrencyString(p.Recurrency), TransactionID: p.TransactionID}
	if !p.ValidFrom.IsZero() {
		t := p.ValidFrom
		out.ValidFrom = &t
	}
	if !p.ValidTo.IsZero() {
		t := p.ValidTo
		out.ValidTo = &t
	}
	s := schedule201{ID: scheduleID, ChargingRateUnit: p.Schedule.Unit.String()}
	if !p.Schedule.Start.IsZero() {
		t := p.Schedule.Start
		s.StartSchedule = &t
	}
	if p.Schedule.Duration > 0 {
		d := int(p.Schedule.Duration / time.Second)
		s.Duration = &d
	}
	for _, per := range p.Schedule.Periods {
		pp := period201{StartPeriod: int(per.Start / time.Second), Limit: per.Limit}
		if per.Phases > 0 {
			n := per.Phases
			pp.NumberPhases = &n
		}
		s.Periods = append(s.Periods, pp)
	}
	out.Schedules = []schedule201{s}
	return out
}

type statusInfo201 struct {
	ReasonCode     string `json:"reasonCode"`
	AdditionalInfo string `json:"additionalInfo,omitempty"`
}

type statusConf201 struct {
	Status     string         `json:"status"`
	StatusInfo *statusInfo201 `json:"statusInfo,omitempty"`
}

type clearCriteria201 struct {
	EVSEID     *int            `json:"evseId,omitempty"`
	Purpose    string          `json:"chargingProfilePurpose,omitempty"`
	StackLevel *int            `json:"stackLevel,omitempty"`
	CustomData json.RawMessage `json:"customData,omitempty"`
}

type clearProfile201 struct {
	ID         *int              `json:"chargingProfileId,omitempty"`
	Criteria   *clearCriteria201 `json:"chargingProfileCriteria,omitempty"`
	CustomData json.RawMessage   `json:"customData,omitempty"`
}

type getComposite201 struct {
	Duration   int             `json:"duration"`
	Unit       string          `json:"chargingRateUnit,omitempty"`
	EVSEID     int             `json:"evseId"`
	CustomData json.RawMessage `json:"customData,omitempty"`
}

type compositePeriod201 struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
}

type compositeSchedule201 struct {
	EVSEID        int                  `json:"evseId"`
	Duration      int                  `json:"duration"`
	ScheduleStart string               `json:"scheduleStart"`
	Unit          string               `json:"chargingRateUnit"`
	Periods       []compositePeriod201 `json:"chargingSchedulePeriod"`
}

type compositeConf201 struct {
	Status     string                `json:"status"`
	StatusInfo *statusInfo201        `json:"statusInfo,omitempty"`
	Schedule   *compositeSchedule201 `json:"schedule,omitempty"`
}

type profileCriterion201 struct {
	Purpose    string          `json:"chargingProfilePurpose,omitempty"`
	StackLevel *int            `json:"stackLevel,omitempty"`
	IDs        []int           `json:"chargingProfileId,omitempty"`
	Sources    []string        `json:"chargingLimitSource,omitempty"`
	CustomData json.RawMessage `json:"customData,omitempty"`
}

type getProfiles201 struct {
	RequestID  int                 `json:"requestId"`
	EVSEID     *int                `json:"evseId,omitempty"`
	Criterion  profileCriterion201 `json:"chargingProfile"`
	CustomData json.RawMessage     `json:"customData,omitempty"`
}

type reportProfiles201 struct {
	RequestID int          `json:"requestId"`
	Source    string       `json:"chargingLimitSource"`
	Tbc       bool         `json:"tbc,omitempty"`
	EVSEID    int          `json:"evseId"`
	Profiles  []profile201 `json:"chargingProfile"`
}

type trigger201 struct {
	RequestedMessage string          `json:"requestedMessage"`
	EVSE             *evseRef201     `json:"evse,omitempty"`
	CustomData       json.RawMessage `json:"customData,omitempty"`
}

type getBaseReport201 struct {
	RequestID  int             `json:"requestId"`
	ReportBase string          `json:"reportBase"`
	CustomData json.RawMessage `json:"customData,omitempty"`
}

// known201 are 2.0.1 actions the simulator does not implement: they get
// NotSupported rather than NotImplemented.
var known201 = []string{
	"CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
	"ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation",
	"DataTransfer", "DeleteCertificate", "GetDisplayMessages", "GetInstalledCertificateIds",
	"GetLocalListVersion", "GetLog", "GetMonitoringReport", "GetReport", "GetTransactionStatus",
	"InstallCertificate", "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction",
	"ReserveNow", "Reset", "SendLocalList", "SetDisplayMessage", "SetMonitoringBase",
	"SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring", "UnlockConnector",
	"UnpublishFirmware", "UpdateFirmware",
}

func (d *v201) handle(action string, payload json.RawMessage, now time.Time) (any, *callError) {
	c := d.c
	switch action {
	case "SetChargingProfile":
		var req setProfile201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		p, err := req.Profile.toProfile()
		if err != nil {
			return statusConf201{"Rejected", &statusInfo201{ReasonCode: "InvalidProfile", AdditionalInfo: trunc(err.Error(), 512)}}, nil
		}
		status, why := c.setProfile(req.EVSEID, p, now)
		if status != "Accepted" {
			return statusConf201{status, &statusInfo201{ReasonCode: "InvalidProfile", AdditionalInfo: trunc(why, 512)}}, nil
		}
		return statusConf201{Status: status}, nil
	case "ClearChargingProfile":
		var req clearProfile201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		crit := ClearCriteria{ID: req.ID}
		if req.Criteria != nil {
			crit.EVSE, crit.StackLevel = req.Criteria.EVSEID, req.Criteria.StackLevel
			if req.Criteria.Purpose != "" {
				p, err := purposeOf(req.Criteria.Purpose)
				if err != nil {
					return nil, &callError{errPropertyConstraint, err.Error()}
				}
				crit.Purpose = p
			}
		}
		var n int
		c.profiles, n = ClearProfiles(c.profiles, crit)
		if n == 0 {
			return statusConf201{Status: "Unknown"}, nil
		}
		return statusConf201{Status: "Accepted"}, nil
	case "GetCompositeSchedule":
		var req getComposite201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		unit := site.UnitAmps
		if req.Unit != "" {
			u, err := unitOf(req.Unit)
			if err != nil {
				return nil, &callError{errPropertyConstraint, err.Error()}
			}
			unit = u
		}
		if req.Duration <= 0 {
			return compositeConf201{Status: "Rejected", StatusInfo: &statusInfo201{ReasonCode: "InvalidValue"}}, nil
		}
		periods, ok := c.compositeFor(req.EVSEID, time.Duration(req.Duration)*time.Second, unit, now)
		if !ok {
			// K08: an unknown evseId is rejected.
			return compositeConf201{Status: "Rejected", StatusInfo: &statusInfo201{ReasonCode: "UnknownEvse"}}, nil
		}
		start := now.Truncate(time.Second)
		cs := &compositeSchedule201{EVSEID: req.EVSEID, Duration: req.Duration, ScheduleStart: ocppTime(start), Unit: unit.String()}
		for _, p := range periods {
			per := compositePeriod201{StartPeriod: int(p.Start / time.Second), Limit: c.periodValue(p, unit)}
			if p.Phases > 0 {
				ph := p.Phases
				per.NumberPhases = &ph
			}
			if n := len(cs.Periods); n > 0 && cs.Periods[n-1].StartPeriod == per.StartPeriod {
				cs.Periods[n-1] = per
				continue
			}
			cs.Periods = append(cs.Periods, per)
		}
		return compositeConf201{Status: "Accepted", Schedule: cs}, nil
	case "GetChargingProfiles":
		var req getProfiles201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		return d.getProfiles(req), nil
	case "TriggerMessage":
		var req trigger201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		var evseID *int
		if req.EVSE != nil {
			evseID = &req.EVSE.ID
		}
		if req.RequestedMessage == "TransactionEvent" {
			n := 0
			for _, e := range c.evses {
				if e.car != nil && e.txID != "" && (evseID == nil || *evseID == e.id) {
					c.queue(d.txEvent(e, "Updated", "Trigger", now, d.meterValue(e, now, "Trigger")))
					n++
				}
			}
			if n == 0 {
				return statusConf201{Status: "Rejected"}, nil
			}
			return statusConf201{Status: "Accepted"}, nil
		}
		return statusConf201{Status: c.trigger(req.RequestedMessage, evseID, now)}, nil
	case "GetVariables":
		var req getVariables201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		return d.getVariables(req), nil
	case "SetVariables":
		var req setVariables201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		return d.setVariables(req), nil
	case "GetBaseReport":
		var req getBaseReport201
		if e := decodeStrict(payload, &req, errFormat201); e != nil {
			return nil, e
		}
		switch req.ReportBase {
		case "ConfigurationInventory", "FullInventory", "SummaryInventory":
		default:
			return statusConf201{Status: "NotSupported"}, nil
		}
		c.queue(d.notifyReport(req.RequestID, now))
		return statusConf201{Status: "Accepted"}, nil
	}
	if slices.Contains(known201, action) {
		return nil, &callError{errNotSupported, action + " is not supported by the simulator"}
	}
	return nil, &callError{errNotImplemented, "unknown action " + action}
}

func (d *v201) getProfiles(req getProfiles201) statusConf201 {
	c := d.c
	byEVSE := map[int][]profile201{}
	for _, ip := range c.profiles {
		p := ip.Profile
		if req.EVSEID != nil && ip.EVSE != *req.EVSEID {
			continue
		}
		cr := req.Criterion
		if cr.Purpose != "" {
			if pp, err := purposeOf(cr.Purpose); err != nil || pp != p.Purpose {
				continue
			}
		}
		if cr.StackLevel != nil && *cr.StackLevel != p.StackLevel {
			continue
		}
		if len(cr.IDs) > 0 && !slices.Contains(cr.IDs, p.ID) {
			continue
		}
		if len(cr.Sources) > 0 && !slices.Contains(cr.Sources, "CSO") {
			continue
		}
		byEVSE[ip.EVSE] = append(byEVSE[ip.EVSE], fromProfile201(p, p.ID))
	}
	if len(byEVSE) == 0 {
		return statusConf201{Status: "NoProfiles"}
	}
	evses := make([]int, 0, len(byEVSE))
	for k := range byEVSE {
		evses = append(evses, k)
	}
	slices.Sort(evses)
	for i, ev := range evses {
		r := reportProfiles201{RequestID: req.RequestID, Source: "CSO", Tbc: i < len(evses)-1, EVSEID: ev, Profiles: byEVSE[ev]}
		c.queue(outCall{action: "ReportChargingProfiles", build: func() (any, bool) { return r, true }})
	}
	return statusConf201{Status: "Accepted"}
}

// Device model.

type component201 struct {
	Name     string          `json:"name"`
	Instance string          `json:"instance,omitempty"`
	EVSE     *evseRef201     `json:"evse,omitempty"`
	Custom   json.RawMessage `json:"customData,omitempty"`
}

type variable201 struct {
	Name     string          `json:"name"`
	Instance string          `json:"instance,omitempty"`
	Custom   json.RawMessage `json:"customData,omitempty"`
}

type getVariableData201 struct {
	AttributeType string          `json:"attributeType,omitempty"`
	Component     component201    `json:"component"`
	Variable      variable201     `json:"variable"`
	Custom        json.RawMessage `json:"customData,omitempty"`
}

type getVariables201 struct {
	Data   []getVariableData201 `json:"getVariableData"`
	Custom json.RawMessage      `json:"customData,omitempty"`
}

type getVariableResult201 struct {
	AttributeStatus string       `json:"attributeStatus"`
	AttributeType   string       `json:"attributeType,omitempty"`
	AttributeValue  *string      `json:"attributeValue,omitempty"`
	Component       component201 `json:"component"`
	Variable        variable201  `json:"variable"`
}

type getVariablesConf201 struct {
	Results []getVariableResult201 `json:"getVariableResult"`
}

type setVariableData201 struct {
	AttributeType  string          `json:"attributeType,omitempty"`
	AttributeValue string          `json:"attributeValue"`
	Component      component201    `json:"component"`
	Variable       variable201     `json:"variable"`
	Custom         json.RawMessage `json:"customData,omitempty"`
}

type setVariables201 struct {
	Data   []setVariableData201 `json:"setVariableData"`
	Custom json.RawMessage      `json:"customData,omitempty"`
}

type setVariableResult201 struct {
	AttributeType   string       `json:"attributeType,omitempty"`
	AttributeStatus string       `json:"attributeStatus"`
	Component       component201 `json:"component"`
	Variable        variable201  `json:"variable"`
}

type setVariablesConf201 struct {
	Results []setVariableResult201 `json:"setVariableResult"`
}

// dmVar is one variable of the simulated device model.
type dmVar struct {
	component, instance string
	evse                int
	name, varInstance   string
	dataType            string
	get                 func(attr string) (string, bool)
	set                 func(string) bool // nil: read-only
}

func actual(v string) func(string) (string, bool) {
	return func(attr string) (string, bool) { return v, attr == "" || attr == "Actual" }
}

func (d *v201) variables() []dmVar {
	c := d.c
	sc := c.spec.SmartCharging
	seconds := func(dst *time.Duration, after func()) func(string) bool {
		return func(v string) bool {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > 86400 {
				return false
			}
			if n == 0 && dst == &c.meterInterval {
				return false // the simulator always samples
			}
			*dst = time.Duration(n) * time.Second
			if after != nil {
				after()
			}
			return true
		}
	}
	measurands := func(dst *[]string) func(string) bool {
		return func(v string) bool {
			m, ok := parseMeasurands(v)
			if ok {
				*dst = m
			}
			return ok
		}
	}
	vars := []dmVar{
		{component: "SmartChargingCtrlr", name: "Enabled", dataType: "boolean", get: actual("true")},
		{component: "SmartChargingCtrlr", name: "Available", dataType: "boolean", get: actual("true")},
		{component: "SmartChargingCtrlr", name: "ProfileStackLevel", dataType: "integer", get: actual(strconv.Itoa(sc.MaxStackLevel))},
		{component: "SmartChargingCtrlr", name: "PeriodsPerSchedule", dataType: "integer", get: actual(strconv.Itoa(sc.MaxPeriods))},
		{component: "SmartChargingCtrlr", name: "RateUnit", dataType: "MemberList", get: actual(strings.Join(sc.RateUnits, ","))},
		{component: "SmartChargingCtrlr", name: "Entries", varInstance: "ChargingProfiles", dataType: "integer", get: func(attr string) (string, bool) {
			switch attr {
			case "", "Actual":
				return strconv.Itoa(len(c.profiles)), true
			case "MaxSet":
				return strconv.Itoa(sc.MaxProfiles), true
			}
			return "", false
		}},
		{component: "SmartChargingCtrlr", name: "Phases3to1", dataType: "boolean", get: actual("false")},
		{component: "SmartChargingCtrlr", name: "ACPhaseSwitchingSupported", dataType: "boolean", get: actual("false")},
		{component: "SmartChargingCtrlr", name: "ExternalControlSignalsEnabled", dataType: "boolean", get: actual("false")},
		{component: "SampledDataCtrlr", name: "Enabled", dataType: "boolean", get: actual("true")},
		{component: "SampledDataCtrlr", name: "TxUpdatedMeasurands", dataType: "MemberList",
			get: func(a string) (string, bool) { return strings.Join(c.measurands, ","), a == "" || a == "Actual" },
			set: measurands(&c.measurands)},
		{component: "SampledDataCtrlr", name: "TxUpdatedInterval", dataType: "integer",
			get: func(a string) (string, bool) {
				return strconv.Itoa(int(c.meterInterval / time.Second)), a == "" || a == "Actual"
			},
			set: seconds(&c.meterInterval, func() {
				for _, e := range c.evses {
					e.nextMeter = c.fleet.clock.Now().Add(c.meterInterval)
				}
			})},
		{component: "SampledDataCtrlr", name: "TxEndedMeasurands", dataType: "MemberList",
			get: func(a string) (string, bool) { return strings.Join(d.txEnded, ","), a == "" || a == "Actual" },
			set: measurands(&d.txEnded)},
		{component: "SampledDataCtrlr", name: "TxStartedMeasurands", dataType: "MemberList",
			get: func(a string) (string, bool) { return strings.Join(d.txStarted, ","), a == "" || a == "Actual" },
			set: measurands(&d.txStarted)},
		{component: "OCPPCommCtrlr", name: "HeartbeatInterval", dataType: "integer",
			get: func(a string) (string, bool) {
				return strconv.Itoa(int(c.heartbeat / time.Second)), a == "" || a == "Actual"
			},
			set: seconds(&c.heartbeat, func() { c.nextBeat = c.fleet.clock.Now().Add(c.heartbeat) })},
		{component: "ChargingStation", name: "PhaseRotation", dataType: "string", get: actual(c.rotation.String())},
		{component: "ChargingStation", name: "Available", dataType: "boolean", get: actual("true")},
	}
	for _, e := range c.evses {
		vars = append(vars,
			dmVar{component: "EVSE", evse: e.id, name: "PhaseRotation", dataType: "string", get: actual(c.rotation.String())},
			dmVar{component: "EVSE", evse: e.id, name: "Available", dataType: "boolean", get: actual("true")},
			dmVar{component: "EVSE", evse: e.id, name: "Power", dataType: "decimal", get: func(a string) (string, bool) {
				p := float64(e.spec.MaxCurrent) * float64(c.fleet.voltage) * float64(e.spec.Phases)
				return strconv.FormatFloat(p, 'f', 0, 64), a == "MaxSet" || a == "" || a == "Actual"
			}},
		)
	}
	return vars
}

// lookup finds a variable; the status says why not.
func lookup(vars []dmVar, comp component201, v variable201) (*dmVar, string) {
	compKnown := false
	for i := range vars {
		x := &vars[i]
		evse := 0
		if comp.EVSE != nil {
			evse = comp.EVSE.ID
		}
		if x.component != comp.Name || x.instance != comp.Instance || x.evse != evse {
			continue
		}
		compKnown = true
		if x.name == v.Name && x.varInstance == v.Instance {
			return x, ""
		}
	}
	if !compKnown {
		return nil, "UnknownComponent"
	}
	return nil, "UnknownVariable"
}

func (d *v201) getVariables(req getVariables201) getVariablesConf201 {
	vars := d.variables()
	var out getVariablesConf201
	for _, g := range req.Data {
		r := getVariableResult201{AttributeType: g.AttributeType, Component: g.Component, Variable: g.Variable}
		r.Component.Custom, r.Variable.Custom = nil, nil
		x, why := lookup(vars, g.Component, g.Variable)
		switch {
		case x == nil:
			r.AttributeStatus = why
		default:
			val, ok := x.get(g.AttributeType)
			if !ok {
				r.AttributeStatus = "NotSupportedAttributeType"
				break
			}
			r.AttributeStatus, r.AttributeValue = "Accepted", &val
		}
		out.Results = append(out.Results, r)
	}
	return out
}

func (d *v201) setVariables(req setVariables201) setVariablesConf201 {
	vars := d.variables()
	var out setVariablesConf201
	for _, s := range req.Data {
		r := setVariableResult201{AttributeType: s.AttributeType, Component: s.Component, Variable: s.Variable}
		r.Component.Custom, r.Variable.Custom = nil, nil
		x, why := lookup(vars, s.Component, s.Variable)
		switch {
		case x == nil:
			r.AttributeStatus = why
		case s.AttributeType != "" && s.AttributeType != "Actual":
			r.AttributeStatus = "NotSupportedAttributeType"
		case x.set == nil || !x.set(s.AttributeValue):
			r.AttributeStatus = "Rejected"
		default:
			r.AttributeStatus = "Accepted"
		}
		out.Results = append(out.Results, r)
	}
	return out
}

type variableAttribute201 struct {
	Type       string `json:"type,omitempty"`
	Value      string `json:"value,omitempty"`
	Mutability string `json:"mutability,omitempty"`
}

type variableCharacteristics201 struct {
	DataType           string `json:"dataType"`
	SupportsMonitoring bool   `json:"supportsMonitoring"`
}

type reportData201 struct {
	Component       component201               `json:"component"`
	Variable        variable201                `json:"variable"`
	Attributes      []variableAttribute201     `json:"variableAttribute"`
	Characteristics variableCharacteristics201 `json:"variableCharacteristics"`
}

type notifyReport201 struct {
	RequestID   int             `json:"requestId"`
	GeneratedAt string          `json:"generatedAt"`
	Tbc         bool            `json:"tbc,omitempty"`
	SeqNo       int             `json:"seqNo"`
	ReportData  []reportData201 `json:"reportData,omitempty"`
}

func (d *v201) notifyReport(requestID int, now time.Time) outCall {
	var data []reportData201
	for _, x := range d.variables() {
		val, _ := x.get("Actual")
		mut := "ReadOnly"
		if x.set != nil {
			mut = "ReadWrite"
		}
		comp := component201{Name: x.component, Instance: x.instance}
		if x.evse > 0 {
			comp.EVSE = &evseRef201{ID: x.evse}
		}
		data = append(data, reportData201{
			Component: comp, Variable: variable201{Name: x.name, Instance: x.varInstance},
			Attributes:      []variableAttribute201{{Type: "Actual", Value: val, Mutability: mut}},
			Characteristics: variableCharacteristics201{DataType: x.dataType},
		})
	}
	r := notifyReport201{RequestID: requestID, GeneratedAt: ocppTime(now), ReportData: data}
	return outCall{action: "NotifyReport", build: func() (any, bool) { return r, true }}
}
