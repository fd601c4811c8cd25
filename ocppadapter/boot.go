package ocppadapter

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Measurands the adapter asks chargers to sample during transactions;
// SoC is dropped and the rest retried if a charger rejects the list.
const (
	sampledMeasurands      = "Current.Import,Power.Active.Import,Energy.Active.Import.Register,SoC"
	sampledMeasurandsNoSoC = "Current.Import,Power.Active.Import,Energy.Active.Import.Register"
)

// Configuration keys read from 1.6 chargers after boot.
var capabilityKeys16 = [...]string{
	"ChargeProfileMaxStackLevel",
	"ChargingScheduleMaxPeriods",
	"ChargingScheduleAllowedChargingRateUnit",
	"MaxChargingProfilesInstalled",
	"ConnectorPhaseRotation",
	"ConnectorSwitch3to1PhaseSupported",
}

// startCapabilityRead reads the charger's smart-charging capabilities and
// sets its meter sampling, in a goroutine that ends with the connection.
// At most one runs per connection.
func (c *conn) startCapabilityRead(ctx context.Context) {
	if c.srv.cfg.SkipCapabilityRead || !c.capReading.CompareAndSwap(false, true) {
		return
	}
	c.goBound(ctx, func(ctx context.Context) {
		defer c.capReading.Store(false)
		var caps site.Capabilities
		// A proxied charger's configuration belongs to its CSMS.
		sampling := c.up == nil || c.srv.cfg.Proxy.SetSampling
		if c.version == V16 {
			caps = c.readCapabilities16(ctx)
			if sampling {
				c.setSampling16(ctx)
			}
		} else {
			caps = c.readCapabilities201(ctx)
			if sampling {
				c.setSampling201(ctx)
			}
		}
		if c.up != nil {
			c.up.maxStack.Store(int32(caps.MaxStackLevel))
		}
		if ctx.Err() != nil {
			return
		}
		if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
			st.Capabilities = caps
			return nil
		}); err != nil {
			c.log.Error("ocpp: cannot store capabilities", "err", err)
		}
		c.log.Info("ocpp: capabilities read", "max_stack_level", caps.MaxStackLevel, "max_periods", caps.MaxPeriods,
			"rate_units", caps.RateUnits, "max_profiles", caps.MaxProfiles, "phase_rotation", caps.PhaseRotation.String())
		c.publish(site.ChargerCapabilitiesRead{EventHeader: c.header(c.now()), Capabilities: caps})
	})
}

func atoiTrim(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

// parseRateUnits reads "Current,Power" (1.6) or "A,W" (2.0.1).
func parseRateUnits(s string) []site.RateUnit {
	var out []site.RateUnit
	for u := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(u) {
		case "Current", "A":
			out = append(out, site.UnitAmps)
		case "Power", "W":
			out = append(out, site.UnitWatts)
		}
	}
	return out
}

// parseRotation16 reads ConnectorPhaseRotation ("0.RST,1.RST,2.RTS" or
// "RST"): the charger's own entry (connector 0), else the first.
func parseRotation16(s string) site.PhaseRotation {
	var first site.PhaseRotation
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		conn, rot, ok := strings.Cut(e, ".")
		if !ok {
			rot, conn = e, ""
		}
		r, err := site.ParsePhaseRotation(rot)
		if err != nil {
			continue
		}
		if conn == "0" {
			return r
		}
		if i == 0 || !first.Known() {
			first = r
		}
	}
	return first
}

func (c *conn) readCapabilities16(ctx context.Context) site.Capabilities {
	var caps site.Capabilities
	var conf getConfigConf16
	if err := c.callInto(ctx, "GetConfiguration", getConfigReq16{Key: capabilityKeys16[:]}, &conf); err != nil {
		c.log.Warn("ocpp: GetConfiguration of smart-charging keys failed", "err", err)
		return caps
	}
	for _, k := range conf.ConfigurationKey {
		if k.Value == nil {
			continue
		}
		v := *k.Value
		switch k.Key {
		case "ChargeProfileMaxStackLevel":
			caps.MaxStackLevel, _ = atoiTrim(v)
		case "ChargingScheduleMaxPeriods":
			caps.MaxPeriods, _ = atoiTrim(v)
		case "ChargingScheduleAllowedChargingRateUnit":
			caps.RateUnits = parseRateUnits(v)
		case "MaxChargingProfilesInstalled":
			caps.MaxProfiles, _ = atoiTrim(v)
		case "ConnectorPhaseRotation":
			caps.PhaseRotation = parseRotation16(v)
		case "ConnectorSwitch3to1PhaseSupported":
			caps.CanSwitchPhases = strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	return caps
}

func (c *conn) changeConfig16(ctx context.Context, key, value string) (string, error) {
	var conf statusConf16
	err := c.callInto(ctx, "ChangeConfiguration", changeConfigReq16{Key: key, Value: value}, &conf)
	return conf.Status, err
}

func (c *conn) setSampling16(ctx context.Context) {
	status, err := c.changeConfig16(ctx, "MeterValuesSampledData", sampledMeasurands)
	if err == nil && status == "Rejected" {
		status, err = c.changeConfig16(ctx, "MeterValuesSampledData", sampledMeasurandsNoSoC)
	}
	if err != nil || (status != "Accepted" && status != "RebootRequired") {
		c.log.Warn("ocpp: cannot set MeterValuesSampledData", "status", status, "err", err)
	}
	secs := strconv.Itoa(int(c.srv.cfg.MeterSampleInterval / time.Second))
	status, err = c.changeConfig16(ctx, "MeterValueSampleInterval", secs)
	if err != nil || (status != "Accepted" && status != "RebootRequired") {
		c.log.Warn("ocpp: cannot set MeterValueSampleInterval", "status", status, "err", err)
	}
}

func smartVar(name, instance, attr string) getVariableData201 {
	return getVariableData201{AttributeType: attr, Component: component201{Name: "SmartChargingCtrlr"}, Variable: variable201{Name: name, Instance: instance}}
}

func capabilityVariables201() getVariablesReq201 {
	return getVariablesReq201{Data: []getVariableData201{
		smartVar("ProfileStackLevel", "", ""),
		smartVar("PeriodsPerSchedule", "", ""),
		smartVar("RateUnit", "", ""),
		smartVar("Entries", "ChargingProfiles", "MaxSet"),
		smartVar("Phases3to1", "", ""),
		{Component: component201{Name: "ChargingStation"}, Variable: variable201{Name: "PhaseRotation"}},
	}}
}

func (c *conn) readCapabilities201(ctx context.Context) site.Capabilities {
	var caps site.Capabilities
	var conf getVariablesConf201
	if err := c.callInto(ctx, "GetVariables", capabilityVariables201(), &conf); err != nil {
		c.log.Warn("ocpp: GetVariables of smart-charging variables failed", "err", err)
		return caps
	}
	for _, r := range conf.Results {
		if r.AttributeStatus != "Accepted" {
			continue
		}
		v := r.AttributeValue
		switch r.Component.Name + "." + r.Variable.Name {
		case "SmartChargingCtrlr.ProfileStackLevel":
			caps.MaxStackLevel, _ = atoiTrim(v)
		case "SmartChargingCtrlr.PeriodsPerSchedule":
			caps.MaxPeriods, _ = atoiTrim(v)
		case "SmartChargingCtrlr.RateUnit":
			caps.RateUnits = parseRateUnits(v)
		case "SmartChargingCtrlr.Entries":
			caps.MaxProfiles, _ = atoiTrim(v)
		case "SmartChargingCtrlr.Phases3to1":
			caps.CanSwitchPhases = strings.EqualFold(strings.TrimSpace(v), "true")
		case "ChargingStation.PhaseRotation":
			caps.PhaseRotation, _ = site.ParsePhaseRotation(strings.TrimSpace(v))
		}
	}
	return caps
}

func samplingVariables201(measurands string, interval time.Duration) setVariablesReq201 {
	comp := component201{Name: "SampledDataCtrlr"}
	return setVariablesReq201{Data: []setVariableData201{
		{AttributeValue: measurands, Component: comp, Variable: variable201{Name: "TxUpdatedMeasurands"}},
		{AttributeValue: strconv.Itoa(int(interval / time.Second)), Component: comp, Variable: variable201{Name: "TxUpdatedInterval"}},
	}}
}

func (c *conn) setSampling201(ctx context.Context) {
	for _, m := range []string{sampledMeasurands, sampledMeasurandsNoSoC} {
		var conf setVariablesConf201
		if err := c.callInto(ctx, "SetVariables", samplingVariables201(m, c.srv.cfg.MeterSampleInterval), &conf); err != nil {
			c.log.Warn("ocpp: SetVariables of meter sampling failed", "err", err)
			return
		}
		retry := false
		for _, r := range conf.Results {
			if r.AttributeStatus != "Accepted" && r.AttributeStatus != "RebootRequired" {
				c.log.Warn("ocpp: meter sampling variable not set", "variable", r.Variable.Name, "status", r.AttributeStatus)
				retry = retry || r.Variable.Name == "TxUpdatedMeasurands"
			}
		}
		if !retry {
			return
		}
	}
}
