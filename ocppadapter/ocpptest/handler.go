package ocpptest

import (
	"encoding/json"

	"github.com/smartcharge/smartcharge/ocppadapter"
)

// Canned configuration a DefaultHandler charger reports.
var defaultConfig16 = map[string]string{
	"ChargeProfileMaxStackLevel":              "8",
	"ChargingScheduleMaxPeriods":              "24",
	"ChargingScheduleAllowedChargingRateUnit": "Current,Power",
	"MaxChargingProfilesInstalled":            "16",
	"ConnectorPhaseRotation":                  "0.STR,1.STR,2.RST",
	"ConnectorSwitch3to1PhaseSupported":       "true",
}

var defaultVariables201 = map[string]string{
	"SmartChargingCtrlr.ProfileStackLevel":  "8",
	"SmartChargingCtrlr.PeriodsPerSchedule": "24",
	"SmartChargingCtrlr.RateUnit":           "A,W",
	"SmartChargingCtrlr.Entries":            "16",
	"SmartChargingCtrlr.Phases3to1":         "true",
	"ChargingStation.PhaseRotation":         "STR",
}

// DefaultHandler answers every smart-charging CALL the adapter sends as a
// cooperative charger would (Accepted, with the canned configuration
// above); other actions get NotImplemented.
func DefaultHandler(protocol string) Handler {
	v16 := protocol == ocppadapter.Subprotocol16
	return func(action string, payload json.RawMessage) (any, error) {
		switch action {
		case "GetConfiguration":
			var req struct {
				Key []string `json:"key"`
			}
			_ = json.Unmarshal(payload, &req)
			type kv struct {
				Key      string `json:"key"`
				Readonly bool   `json:"readonly"`
				Value    string `json:"value"`
			}
			var known []kv
			var unknown []string
			for _, k := range req.Key {
				if v, ok := defaultConfig16[k]; ok {
					known = append(known, kv{Key: k, Readonly: true, Value: v})
				} else {
					unknown = append(unknown, k)
				}
			}
			return struct {
				Known   []kv     `json:"configurationKey,omitempty"`
				Unknown []string `json:"unknownKey,omitempty"`
			}{known, unknown}, nil
		case "ChangeConfiguration", "SetChargingProfile", "ClearChargingProfile", "TriggerMessage", "GetBaseReport", "GetChargingProfiles":
			return map[string]string{"status": "Accepted"}, nil
		case "GetVariables":
			var req struct {
				Data []struct {
					Component json.RawMessage `json:"component"`
					Variable  json.RawMessage `json:"variable"`
				} `json:"getVariableData"`
			}
			_ = json.Unmarshal(payload, &req)
			var results []map[string]any
			for _, d := range req.Data {
				var comp, vr struct {
					Name string `json:"name"`
				}
				_ = json.Unmarshal(d.Component, &comp)
				_ = json.Unmarshal(d.Variable, &vr)
				r := map[string]any{"component": d.Component, "variable": d.Variable, "attributeStatus": "UnknownVariable"}
				if v, ok := defaultVariables201[comp.Name+"."+vr.Name]; ok {
					r["attributeStatus"] = "Accepted"
					r["attributeValue"] = v
				}
				results = append(results, r)
			}
			return map[string]any{"getVariableResult": results}, nil
		case "SetVariables":
			var req struct {
				Data []struct {
					Component json.RawMessage `json:"component"`
					Variable  json.RawMessage `json:"variable"`
				} `json:"setVariableData"`
			}
			_ = json.Unmarshal(payload, &req)
			var results []map[string]any
			for _, d := range req.Data {
				results = append(results, map[string]any{"component": d.Component, "variable": d.Variable, "attributeStatus": "Accepted"})
			}
			return map[string]any{"setVariableResult": results}, nil
		case "GetCompositeSchedule":
			if v16 {
				return map[string]any{"status": "Accepted", "connectorId": 1, "scheduleStart": "2026-01-01T00:00:00Z",
					"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16.0}}}}, nil
			}
			return map[string]any{"status": "Accepted", "schedule": map[string]any{"evseId": 1, "duration": 3600, "scheduleStart": "2026-01-01T00:00:00Z",
				"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16.0}}}}, nil
		}
		return nil, &ocppadapter.CallError{Code: ocppadapter.CodeNotImplemented, Description: "not implemented by the test charger"}
	}
}
