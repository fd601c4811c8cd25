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

// v16 speaks OCPP-J 1.6.
type v16 struct{ c *Charger }

var _ dialect = (*v16)(nil)

func (d *v16) subprotocol() string { return "ocpp1.6" }
func (d *v16) formatError() string { return errFormation16 }

type bootReq16 struct {
	Vendor   string `json:"chargePointVendor"`
	Model    string `json:"chargePointModel"`
	Serial   string `json:"chargePointSerialNumber,omitempty"`
	Firmware string `json:"firmwareVersion,omitempty"`
}

type bootConf16 struct {
	Status   string `json:"status"`
	Interval int    `json:"interval"`
}

func (d *v16) bootCall() outCall {
	c := d.c
	return outCall{
		action: "BootNotification",
		build: func() (any, bool) {
			return bootReq16{Vendor: trunc(c.spec.Vendor, 20), Model: trunc(c.spec.Model, 20), Serial: trunc(c.spec.ID, 25), Firmware: "sim-1"}, true
		},
		onResult: func(p json.RawMessage) {
			var conf bootConf16
			_ = json.Unmarshal(p, &conf)
			c.onBoot(conf.Status, conf.Interval)
		},
	}
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (d *v16) heartbeatCall() outCall {
	return outCall{action: "Heartbeat", build: func() (any, bool) { return struct{}{}, true }}
}

type status16 struct {
	ConnectorID int    `json:"connectorId"`
	ErrorCode   string `json:"errorCode"`
	Status      string `json:"status"`
	Timestamp   string `json:"timestamp,omitempty"`
}

func (d *v16) statusCall(connector int, status string) outCall {
	now := d.c.fleet.clock.Now()
	return outCall{action: "StatusNotification", keepOffline: true, build: func() (any, bool) {
		return status16{ConnectorID: connector, ErrorCode: "NoError", Status: status, Timestamp: ocppTime(now)}, true
	}}
}

func (d *v16) statusOf(e *evse) outCall { return d.statusCall(e.id, e.status) }

func (d *v16) statusAll() []outCall {
	out := []outCall{d.statusCall(0, "Available")}
	for _, e := range d.c.evses {
		out = append(out, d.statusOf(e))
	}
	return out
}

func (d *v16) setStatus(e *evse, status string) outCall {
	e.status = status
	return d.statusCall(e.id, status)
}

type idTagInfo16 struct {
	Status string `json:"status"`
}

type startTx16 struct {
	ConnectorID int    `json:"connectorId"`
	IDTag       string `json:"idTag"`
	MeterStart  int    `json:"meterStart"`
	Timestamp   string `json:"timestamp"`
}

type startTxConf16 struct {
	TransactionID int         `json:"transactionId"`
	IDTagInfo     idTagInfo16 `json:"idTagInfo"`
}

type stopTx16 struct {
	TransactionID int    `json:"transactionId"`
	IDTag         string `json:"idTag,omitempty"`
	MeterStop     int    `json:"meterStop"`
	Timestamp     string `json:"timestamp"`
	Reason        string `json:"reason,omitempty"`
}

// tx16 is one 1.6 transaction as the charger knows it: the id arrives
// with StartTransaction.conf, possibly after the car has left.
type tx16 struct {
	id    int
	known bool
}

func (d *v16) plugged(e *evse) []outCall {
	c := d.c
	tag := e.idTag
	start := startTx16{ConnectorID: e.id, IDTag: tag, MeterStart: int(e.register), Timestamp: ocppTime(e.txStart)}
	tx := &tx16{}
	e.tx16 = tx
	return []outCall{
		d.setStatus(e, "Preparing"),
		{action: "Authorize", build: func() (any, bool) { return map[string]string{"idTag": tag}, true }},
		{action: "StartTransaction", keepOffline: true,
			build: func() (any, bool) { return start, true },
			onResult: func(p json.RawMessage) {
				var conf startTxConf16
				if err := json.Unmarshal(p, &conf); err != nil {
					c.log.Warn("sim: bad StartTransaction answer", "err", err)
					return
				}
				tx.id, tx.known = conf.TransactionID, true
				if e.tx16 == tx && e.car != nil {
					e.txID = strconv.Itoa(conf.TransactionID)
				}
			}},
	}
}

func (d *v16) txKnown(e *evse) bool { return e.txID != "" }

func (d *v16) stateChanged(e *evse) []outCall {
	return []outCall{d.setStatus(e, e.state.String())}
}

func (d *v16) unplugged(e *evse) []outCall {
	now := d.c.fleet.clock.Now()
	stop := stopTx16{IDTag: e.idTag, MeterStop: int(e.register), Timestamp: ocppTime(now), Reason: "EVDisconnected"}
	tx := e.tx16
	e.tx16 = nil
	out := []outCall{d.setStatus(e, "Finishing")}
	if tx != nil {
		// Queued after StartTransaction, so its answer is in when this is
		// built; without an id the server never saw the transaction.
		out = append(out, outCall{action: "StopTransaction", keepOffline: true, build: func() (any, bool) {
			stop.TransactionID = tx.id
			return stop, tx.known
		}})
	}
	return append(out, d.setStatus(e, "Available"))
}

type sampledValue16 struct {
	Value     string `json:"value"`
	Context   string `json:"context,omitempty"`
	Measurand string `json:"measurand,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Location  string `json:"location,omitempty"`
	Unit      string `json:"unit,omitempty"`
}

type meterValue16 struct {
	Timestamp    string           `json:"timestamp"`
	SampledValue []sampledValue16 `json:"sampledValue"`
}

type meterValues16 struct {
	ConnectorID   int            `json:"connectorId"`
	TransactionID *int           `json:"transactionId,omitempty"`
	MeterValue    []meterValue16 `json:"meterValue"`
}

func (d *v16) meterValues(e *evse, now time.Time) outCall {
	c := d.c
	s := c.sampleLocked(e, now)
	var svs []sampledValue16
	for _, v := range c.values(s, true) {
		svs = append(svs, sampledValue16{
			Value: strconv.FormatFloat(v.value, 'f', -1, 64), Context: "Sample.Periodic",
			Measurand: v.measurand, Phase: v.phase, Location: "Outlet", Unit: v.unit,
		})
	}
	if len(svs) == 0 {
		svs = []sampledValue16{{Value: strconv.FormatFloat(float64(s.energy), 'f', 3, 64), Context: "Sample.Periodic", Measurand: "Energy.Active.Import.Register", Unit: "Wh"}}
	}
	return outCall{action: "MeterValues", build: func() (any, bool) {
		mv := meterValues16{ConnectorID: e.id, MeterValue: []meterValue16{{Timestamp: ocppTime(s.at), SampledValue: svs}}}
		if e.txID != "" && e.car != nil {
			id, _ := strconv.Atoi(e.txID)
			mv.TransactionID = &id
		}
		return mv, true
	}}
}

// Incoming CALLs.

type schedulePeriod16 struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
}

type schedule16 struct {
	Duration         *int               `json:"duration,omitempty"`
	StartSchedule    *time.Time         `json:"startSchedule,omitempty"`
	ChargingRateUnit string             `json:"chargingRateUnit"`
	Periods          []schedulePeriod16 `json:"chargingSchedulePeriod"`
	MinChargingRate  *float64           `json:"minChargingRate,omitempty"`
}

type profile16 struct {
	ID             int        `json:"chargingProfileId"`
	TransactionID  *int       `json:"transactionId,omitempty"`
	StackLevel     int        `json:"stackLevel"`
	Purpose        string     `json:"chargingProfilePurpose"`
	Kind           string     `json:"chargingProfileKind"`
	RecurrencyKind string     `json:"recurrencyKind,omitempty"`
	ValidFrom      *time.Time `json:"validFrom,omitempty"`
	ValidTo        *time.Time `json:"validTo,omitempty"`
	Schedule       schedule16 `json:"chargingSchedule"`
}

type setProfile16 struct {
	ConnectorID int       `json:"connectorId"`
	Profile     profile16 `json:"csChargingProfiles"`
}

func (p profile16) toProfile() (Profile, error) {
	var out Profile
	var err error
	out.ID, out.StackLevel = p.ID, p.StackLevel
	if out.Purpose, err = purposeOf(p.Purpose); err != nil || p.Purpose == "ChargingStationMaxProfile" {
		return out, fmt.Errorf("purpose %q", p.Purpose)
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
	if p.TransactionID != nil {
		out.TransactionID = strconv.Itoa(*p.TransactionID)
	}
	s := p.Schedule
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

type statusConf16 struct {
	Status string `json:"status"`
}

type clearProfile16 struct {
	ID          *int   `json:"id,omitempty"`
	ConnectorID *int   `json:"connectorId,omitempty"`
	Purpose     string `json:"chargingProfilePurpose,omitempty"`
	StackLevel  *int   `json:"stackLevel,omitempty"`
}

type getComposite16 struct {
	ConnectorID int    `json:"connectorId"`
	Duration    int    `json:"duration"`
	Unit        string `json:"chargingRateUnit,omitempty"`
}

type compositeConf16 struct {
	Status        string      `json:"status"`
	ConnectorID   *int        `json:"connectorId,omitempty"`
	ScheduleStart string      `json:"scheduleStart,omitempty"`
	Schedule      *schedule16 `json:"chargingSchedule,omitempty"`
}

type trigger16 struct {
	RequestedMessage string `json:"requestedMessage"`
	ConnectorID      *int   `json:"connectorId,omitempty"`
}

type getConfig16 struct {
	Key []string `json:"key,omitempty"`
}

type configKey16 struct {
	Key      string `json:"key"`
	Readonly bool   `json:"readonly"`
	Value    string `json:"value"`
}

type getConfigConf16 struct {
	ConfigurationKey []configKey16 `json:"configurationKey,omitempty"`
	UnknownKey       []string      `json:"unknownKey,omitempty"`
}

type changeConfig16 struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// known16 are 1.6 actions a charger may receive that the simulator does not
// implement: they get NotSupported rather than NotImplemented.
var known16 = []string{
	"CancelReservation", "ChangeAvailability", "ClearCache", "DataTransfer",
	"GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction",
	"RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
	"UnlockConnector", "UpdateFirmware",
}

func (d *v16) handle(action string, payload json.RawMessage, now time.Time) (any, *callError) {
	c := d.c
	switch action {
	case "SetChargingProfile":
		var req setProfile16
		if e := decodeStrict(payload, &req, errFormation16); e != nil {
			return nil, e
		}
		p, err := req.Profile.toProfile()
		if err != nil {
			return nil, &callError{errPropertyConstraint, err.Error()}
		}
		status, _ := c.setProfile(req.ConnectorID, p, now)
		return statusConf16{status}, nil
	case "ClearChargingProfile":
		var req clearProfile16
		if e := decodeStrict(payload, &req, errFormation16); e != nil {
			return nil, e
		}
		crit := ClearCriteria{ID: req.ID, EVSE: req.ConnectorID, StackLevel: req.StackLevel}
		if req.Purpose != "" {
			p, err := purposeOf(req.Purpose)
			if err != nil {
				return nil, &callError{errPropertyConstraint, err.Error()}
			}
			crit.Purpose = p
		}
		var n int
		c.profiles, n = ClearProfiles(c.profiles, crit)
		if n == 0 {
			return statusConf16{"Unknown"}, nil
		}
		return statusConf16{"Accepted"}, nil
	case "GetCompositeSchedule":
		var req getComposite16
		if e := decodeStrict(payload, &req, errFormation16); e != nil {
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
			return compositeConf16{Status: "Rejected"}, nil
		}
		periods, ok := c.compositeFor(req.ConnectorID, time.Duration(req.Duration)*time.Second, unit, now)
		if !ok {
			return compositeConf16{Status: "Rejected"}, nil
		}
		dur := req.Duration
		start := now.Truncate(time.Second)
		sched := &schedule16{Duration: &dur, StartSchedule: &start, ChargingRateUnit: unit.String()}
		for _, p := range periods {
			per := schedulePeriod16{StartPeriod: int(p.Start / time.Second), Limit: c.periodValue(p, unit)}
			if p.Phases > 0 {
				ph := p.Phases
				per.NumberPhases = &ph
			}
			if n := len(sched.Periods); n > 0 && sched.Periods[n-1].StartPeriod == per.StartPeriod {
				sched.Periods[n-1] = per
				continue
			}
			sched.Periods = append(sched.Periods, per)
		}
		conn := req.ConnectorID
		return compositeConf16{Status: "Accepted", ConnectorID: &conn, ScheduleStart: ocppTime(start), Schedule: sched}, nil
	case "TriggerMessage":
		var req trigger16
		if e := decodeStrict(payload, &req, errFormation16); e != nil {
			return nil, e
		}
		return statusConf16{c.trigger(req.RequestedMessage, req.ConnectorID, now)}, nil
	case "GetConfiguration":
		var req getConfig16
		if e := decodeStrict(payload, &req, errFormation16); e != nil {
			return nil, e
		}
		return d.getConfiguration(req.Key), nil
	case "ChangeConfiguration":
		var req changeConfig16
		if e := decodeStrict(payload, &req, errFormation16); e != nil {
			return nil, e
		}
		return statusConf16{d.changeConfiguration(req.Key, req.Value)}, nil
	}
	if slices.Contains(known16, action) {
		return nil, &callError{errNotSupported, action + " is not supported by the simulator"}
	}
	return nil, &callError{errNotImplemented, "unknown action " + action}
}

func (d *v16) config() []configKey16 {
	c := d.c
	sc := c.spec.SmartCharging
	var units []string
	for _, u := range sc.RateUnits {
		if u == "W" {
			units = append(units, "Power")
		} else {
			units = append(units, "Current")
		}
	}
	rot := []string{"0." + c.rotation.String()}
	for _, e := range c.evses {
		rot = append(rot, strconv.Itoa(e.id)+"."+c.rotation.String())
	}
	return []configKey16{
		{"ChargeProfileMaxStackLevel", true, strconv.Itoa(sc.MaxStackLevel)},
		{"ChargingScheduleMaxPeriods", true, strconv.Itoa(sc.MaxPeriods)},
		{"ChargingScheduleAllowedChargingRateUnit", true, strings.Join(units, ",")},
		{"MaxChargingProfilesInstalled", true, strconv.Itoa(sc.MaxProfiles)},
		{"ConnectorPhaseRotation", false, strings.Join(rot, ",")},
		{"ConnectorSwitch3to1PhaseSupported", true, "false"},
		{"MeterValuesSampledData", false, strings.Join(c.measurands, ",")},
		{"MeterValueSampleInterval", false, strconv.Itoa(int(c.meterInterval / time.Second))},
		{"HeartbeatInterval", false, strconv.Itoa(int(c.heartbeat / time.Second))},
		{"NumberOfConnectors", true, strconv.Itoa(len(c.evses))},
		{"SupportedFeatureProfiles", true, "Core,SmartCharging,RemoteTrigger"},
	}
}

func (d *v16) getConfiguration(keys []string) getConfigConf16 {
	all := d.config()
	if len(keys) == 0 {
		return getConfigConf16{ConfigurationKey: all}
	}
	var out getConfigConf16
	for _, k := range keys {
		i := slices.IndexFunc(all, func(ck configKey16) bool { return ck.Key == k })
		if i < 0 {
			out.UnknownKey = append(out.UnknownKey, k)
			continue
		}
		out.ConfigurationKey = append(out.ConfigurationKey, all[i])
	}
	return out
}

func (d *v16) changeConfiguration(key, value string) string {
	c := d.c
	positive := func() (time.Duration, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < 1 || n > 86400 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	switch key {
	case "MeterValuesSampledData":
		m, ok := parseMeasurands(value)
		if !ok {
			return "Rejected"
		}
		c.measurands = m
	case "MeterValueSampleInterval":
		dur, ok := positive()
		if !ok {
			return "Rejected"
		}
		c.meterInterval = dur
		for _, e := range c.evses {
			e.nextMeter = c.fleet.clock.Now().Add(dur)
		}
	case "HeartbeatInterval":
		dur, ok := positive()
		if !ok {
			return "Rejected"
		}
		c.heartbeat = dur
		c.nextBeat = c.fleet.clock.Now().Add(dur)
	case "ConnectorPhaseRotation":
		// The wiring is physical: the charger records what it is told
		// but keeps drawing as wired. Accept well-formed values only.
		for e := range strings.SplitSeq(value, ",") {
			_, rot, ok := strings.Cut(strings.TrimSpace(e), ".")
			if !ok {
				rot = strings.TrimSpace(e)
			}
			if _, err := site.ParsePhaseRotation(rot); err != nil {
				return "Rejected"
			}
		}
	default:
		for _, ck := range d.config() {
			if ck.Key == key {
				return "Rejected" // read-only
			}
		}
		return "NotSupported"
	}
	return "Accepted"
}
