package ocppadapter

import (
	"encoding/json"
	"strconv"
	"time"
)

// Decoders for the hottest messages (MeterValues of both versions) that
// read the value tree the schema check already built, instead of parsing
// the payload a second time with encoding/json. They run only on trees
// that passed the schema, so the shapes are known; numbers and times are
// still checked, and fail as encoding/json would. FuzzPayload16/201 check
// them against encoding/json.

func treeInt(v any) (int64, *CallError) {
	n, _ := v.(json.Number)
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, callErr(CodeTypeConstraintViolation, "number %s is not an integer", n)
	}
	return i, nil
}

func treeFloat(v any) (float64, *CallError) {
	n, _ := v.(json.Number)
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, callErr(CodeTypeConstraintViolation, "number %s out of range", n)
	}
	return f, nil
}

func treeTime(v any) (time.Time, *CallError) {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, callErr(CodePropertyConstraintViolation, "date-time %q: %v", s, err)
	}
	return t, nil
}

func treeString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func meterValues16FromTree(v any) (meterValuesReq16, *CallError) {
	var req meterValuesReq16
	m, _ := v.(map[string]any)
	id, cerr := treeInt(m["connectorId"])
	if cerr != nil {
		return req, cerr
	}
	req.ConnectorID = int(id)
	if id != int64(req.ConnectorID) {
		return req, callErr(CodeTypeConstraintViolation, "connectorId %d out of range", id)
	}
	if tx, ok := m["transactionId"]; ok {
		t, cerr := treeInt(tx)
		if cerr != nil {
			return req, cerr
		}
		req.TransactionID = &t
	}
	mvs, _ := m["meterValue"].([]any)
	req.MeterValue = make([]meterValue16, 0, len(mvs))
	for _, x := range mvs {
		mv, _ := x.(map[string]any)
		ts, cerr := treeTime(mv["timestamp"])
		if cerr != nil {
			return req, cerr
		}
		svs, _ := mv["sampledValue"].([]any)
		out := meterValue16{Timestamp: ts, SampledValue: make([]sampledValue16, 0, len(svs))}
		for _, y := range svs {
			sv, _ := y.(map[string]any)
			out.SampledValue = append(out.SampledValue, sampledValue16{
				Value: treeString(sv, "value"), Context: treeString(sv, "context"), Format: treeString(sv, "format"),
				Measurand: treeString(sv, "measurand"), Phase: treeString(sv, "phase"), Location: treeString(sv, "location"),
				Unit: treeString(sv, "unit"),
			})
		}
		req.MeterValue = append(req.MeterValue, out)
	}
	return req, nil
}

func meterValues201FromTree(v any) (meterValuesReq201, *CallError) {
	var req meterValuesReq201
	m, _ := v.(map[string]any)
	id, cerr := treeInt(m["evseId"])
	if cerr != nil {
		return req, cerr
	}
	req.EvseID = int(id)
	if id != int64(req.EvseID) {
		return req, callErr(CodeTypeConstraintViolation, "evseId %d out of range", id)
	}
	mvs, _ := m["meterValue"].([]any)
	req.MeterValue, cerr = meterValueList201(mvs)
	return req, cerr
}

func meterValueList201(mvs []any) ([]meterValue201, *CallError) {
	list := make([]meterValue201, 0, len(mvs))
	for _, x := range mvs {
		mv, _ := x.(map[string]any)
		ts, cerr := treeTime(mv["timestamp"])
		if cerr != nil {
			return nil, cerr
		}
		svs, _ := mv["sampledValue"].([]any)
		out := meterValue201{Timestamp: ts, SampledValue: make([]sampledValue201, 0, len(svs))}
		for _, y := range svs {
			sv, _ := y.(map[string]any)
			val, cerr := treeFloat(sv["value"])
			if cerr != nil {
				return nil, cerr
			}
			s := sampledValue201{Value: val, Context: treeString(sv, "context"), Measurand: treeString(sv, "measurand"),
				Phase: treeString(sv, "phase"), Location: treeString(sv, "location")}
			if u, ok := sv["unitOfMeasure"].(map[string]any); ok {
				s.UnitOfMeasure = &unitOfMeasure201{Unit: treeString(u, "unit")}
				if mul, ok := u["multiplier"]; ok {
					n, cerr := treeInt(mul)
					if cerr != nil {
						return nil, cerr
					}
					s.UnitOfMeasure.Multiplier = int(n)
					if n != int64(s.UnitOfMeasure.Multiplier) {
						return nil, callErr(CodeTypeConstraintViolation, "multiplier %d out of range", n)
					}
				}
			}
			out.SampledValue = append(out.SampledValue, s)
		}
		list = append(list, out)
	}
	return list, nil
}
