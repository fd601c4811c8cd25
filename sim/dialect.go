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

// dialect is what differs between OCPP 1.6 and 2.0.1. Every method runs
// with the charger's lock held.
type dialect interface {
	subprotocol() string
	formatError() string
	bootCall() outCall
	heartbeatCall() outCall
	// statusAll reports every EVSE's status (after boot or a reconnect).
	statusAll() []outCall
	statusOf(e *evse) outCall
	plugged(e *evse) []outCall
	stateChanged(e *evse) []outCall
	meterValues(e *evse, now time.Time) outCall
	unplugged(e *evse) []outCall
	// txKnown reports whether the server knows the EVSE's transaction,
	// so state changes can be reported.
	txKnown(e *evse) bool
	handle(action string, payload json.RawMessage, now time.Time) (any, *callError)
}

// onBoot applies a BootNotification answer.
func (c *Charger) onBoot(status string, interval int) {
	now := c.fleet.clock.Now()
	if status == "Accepted" {
		c.booted = true
		if interval > 0 {
			c.heartbeat = time.Duration(interval) * time.Second
		}
		c.nextBeat = now.Add(c.heartbeat)
		c.queue(c.dialect.statusAll()...)
		return
	}
	wait := time.Duration(interval) * time.Second
	if wait <= 0 {
		wait = 30 * time.Second
	}
	c.bootRetryAt = now.Add(wait)
	c.log.Info("sim: boot not accepted", "status", status, "retry_in", wait)
}

// setProfile installs a profile, honouring the quirks. It returns the OCPP
// status and, when rejected, why.
func (c *Charger) setProfile(evseID int, p Profile, now time.Time) (string, string) {
	if c.quirks.RejectProfiles {
		return "Rejected", "quirk: rejects every profile"
	}
	units := make([]site.RateUnit, 0, 2)
	for _, u := range c.spec.SmartCharging.RateUnits {
		if u == "W" {
			units = append(units, site.UnitWatts)
		} else {
			units = append(units, site.UnitAmps)
		}
	}
	tx := make([]string, len(c.evses))
	for i, e := range c.evses {
		tx[i] = e.txID
	}
	sc := c.spec.SmartCharging
	next, err := InstallProfile(c.profiles, evseID, p, ProfileRules{
		Version: c.spec.OCPP, EVSEs: len(c.evses), MaxStackLevel: sc.MaxStackLevel,
		MaxPeriods: sc.MaxPeriods, MaxProfiles: sc.MaxProfiles, Units: units, TxIDs: tx, Now: now,
	})
	if err != nil {
		c.log.Info("sim: profile rejected", "profile", p.ID, "evse", evseID, "reason", err)
		return "Rejected", err.Error()
	}
	c.profiles = next
	return "Accepted", ""
}

// compositeFor computes the composite schedule answer for an EVSE (0: the
// station); ok is false for an unknown EVSE.
func (c *Charger) compositeFor(evseID int, d time.Duration, unit site.RateUnit, now time.Time) (periods []CompositePeriod, ok bool) {
	var ev EVSEView
	switch {
	case evseID == 0:
		ev = c.stationView()
	case evseID <= len(c.evses) && evseID > 0:
		ev = c.evseView(c.evses[evseID-1])
	default:
		return nil, false
	}
	return CompositeSchedule(c.profiles, ev, c.fleet.voltage, now, d), true
}

// periodValue turns a composite period into the requested unit.
func (c *Charger) periodValue(p CompositePeriod, unit site.RateUnit) float64 {
	if unit == site.UnitWatts {
		return roundDown1(float64(p.Amps) * float64(c.fleet.voltage) * float64(max(p.Phases, 1)))
	}
	return roundDown1(float64(p.Amps))
}

// sample is one EVSE meter reading.
type sample struct {
	at       time.Time
	currents [3]site.Amps // on the charger's own phases
	power    site.Watts
	energy   site.WattHours
	soc      float64
	offered  site.Amps
	car      bool
}

func (c *Charger) sampleLocked(e *evse, now time.Time) sample {
	s := sample{at: now, energy: e.register, offered: e.offer}
	if e.car != nil {
		s.car = true
		s.soc = e.car.SoC
		for p := 0; p < e.car.Phases && p < 3; p++ {
			s.currents[p] = e.car.Draw
		}
		s.power = e.car.Power(c.fleet.voltage)
	}
	return s
}

// supportedMeasurands are the measurands the simulator can sample.
var supportedMeasurands = []string{
	"Energy.Active.Import.Register", "Current.Import", "Current.Offered",
	"Power.Active.Import", "SoC", "Voltage",
}

// parseMeasurands reads a comma-separated measurand list; ok is false if
// one is unknown.
func parseMeasurands(v string) ([]string, bool) {
	var out []string
	for m := range strings.SplitSeq(v, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !slices.Contains(supportedMeasurands, m) {
			return nil, false
		}
		out = append(out, m)
	}
	return out, true
}

// sampledValue is one measurand reading, version-neutral.
type sampledValue struct {
	measurand string
	phase     string
	unit      string
	value     float64
}

// values lists the configured measurands of s.
func (c *Charger) values(s sample, withSoC bool) []sampledValue {
	var out []sampledValue
	for _, m := range c.measurands {
		switch m {
		case "Energy.Active.Import.Register":
			out = append(out, sampledValue{m, "", "Wh", round3(float64(s.energy))})
		case "Power.Active.Import":
			out = append(out, sampledValue{m, "", "W", round3(float64(s.power))})
		case "Current.Import":
			for p := range 3 {
				out = append(out, sampledValue{m, site.Phase(p + 1).String(), "A", round3(float64(s.currents[p]))})
			}
		case "Current.Offered":
			out = append(out, sampledValue{m, "", "A", round3(float64(s.offered))})
		case "Voltage":
			out = append(out, sampledValue{m, "", "V", float64(c.fleet.voltage)})
		case "SoC":
			if withSoC && s.car {
				out = append(out, sampledValue{m, "", "Percent", round3(s.soc * 100)})
			}
		}
	}
	return out
}

func round3(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 3, 64), 64)
	return v
}

// trigger answers a TriggerMessage for one of the common messages.
func (c *Charger) trigger(what string, evseID *int, now time.Time) string {
	if evseID != nil && (*evseID < 0 || *evseID > len(c.evses)) {
		return "Rejected"
	}
	pick := func() []*evse {
		if evseID == nil || *evseID == 0 {
			return c.evses
		}
		return []*evse{c.evses[*evseID-1]}
	}
	switch what {
	case "BootNotification":
		c.outbox = append([]outCall{c.dialect.bootCall()}, c.outbox...)
	case "Heartbeat":
		c.queue(c.dialect.heartbeatCall())
	case "StatusNotification":
		if evseID == nil || *evseID == 0 {
			c.queue(c.dialect.statusAll()...)
		} else {
			c.queue(c.dialect.statusOf(c.evses[*evseID-1]))
		}
	case "MeterValues":
		for _, e := range pick() {
			c.queue(c.dialect.meterValues(e, now))
		}
	default:
		return "NotImplemented"
	}
	return "Accepted"
}

func unitOf(s string) (site.RateUnit, error) {
	switch s {
	case "A":
		return site.UnitAmps, nil
	case "W":
		return site.UnitWatts, nil
	}
	return 0, fmt.Errorf("charging rate unit %q: want A or W", s)
}

func purposeOf(s string) (Purpose, error) {
	switch s {
	case "ChargePointMaxProfile", "ChargingStationMaxProfile":
		return PurposeStationMax, nil
	case "TxDefaultProfile":
		return PurposeTxDefault, nil
	case "TxProfile":
		return PurposeTx, nil
	}
	return 0, fmt.Errorf("purpose %q not supported", s)
}

func kindOf(s string) (Kind, error) {
	switch s {
	case "Absolute":
		return KindAbsolute, nil
	case "Recurring":
		return KindRecurring, nil
	case "Relative":
		return KindRelative, nil
	}
	return 0, fmt.Errorf("profile kind %q", s)
}

func recurrencyOf(s string) (Recurrency, error) {
	switch s {
	case "":
		return RecurNone, nil
	case "Daily":
		return RecurDaily, nil
	case "Weekly":
		return RecurWeekly, nil
	}
	return 0, fmt.Errorf("recurrency kind %q", s)
}

func kindString(k Kind) string { return kindName(k) }

func recurrencyString(r Recurrency) string {
	switch r {
	case RecurDaily:
		return "Daily"
	case RecurWeekly:
		return "Weekly"
	}
	return ""
}
