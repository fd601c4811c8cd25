package ocppadapter

import (
	"math"
	"strconv"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// MeterValues, the message chargers send most, is decoded straight from
// the payload's bytes into site.MeterSample values in one pass: no value
// tree, no reflection, no strings for the fields. The fast decoders run
// only on payloads that passed the schema and handle their usual form;
// anything else (escapes in a string, a repeated key, a number
// encoding/json would refuse, a value that is not a decimal) makes them
// give up, and the reference path (encoding/json, then samples16 or
// samples201) decodes the payload and names the error.
// FuzzMeterValuesDecoder checks that both give the same result.

// meterReq is a decoded MeterValues request of either version.
type meterReq struct {
	evse    int // 1.6 connectorId, 2.0.1 evseId
	txID    int64
	hasTx   bool // 1.6 transactionId present
	samples []site.MeterSample
}

func checkConnector16(id int) *CallError {
	if id < 0 || id > site.MaxEVSEs {
		return callErr(CodePropertyConstraintViolation, "connectorId %d out of range 0..%d", id, site.MaxEVSEs)
	}
	return nil
}

// refMeterValues16 is the reference decoder of a 1.6 MeterValues payload.
func refMeterValues16(payload []byte) (meterReq, *CallError) {
	var req meterValuesReq16
	if cerr := decode(payload, &req); cerr != nil {
		return meterReq{}, cerr
	}
	if cerr := checkConnector16(req.ConnectorID); cerr != nil {
		return meterReq{}, cerr
	}
	samples, cerr := samples16(req.MeterValue)
	if cerr != nil {
		return meterReq{}, cerr
	}
	m := meterReq{evse: req.ConnectorID, samples: samples}
	if req.TransactionID != nil {
		m.txID, m.hasTx = *req.TransactionID, true
	}
	return m, nil
}

// refMeterValues201 is the reference decoder of a 2.0.1 MeterValues payload.
func refMeterValues201(payload []byte) (meterReq, *CallError) {
	var req meterValuesReq201
	if cerr := decode(payload, &req); cerr != nil {
		return meterReq{}, cerr
	}
	if cerr := checkEVSE(req.EvseID, 0); cerr != nil {
		return meterReq{}, cerr
	}
	return meterReq{evse: req.EvseID, samples: samples201(req.MeterValue)}, nil
}

// decodeMeterValues decodes a schema-checked MeterValues payload of
// version v, fast when it can.
func decodeMeterValues(v Version, payload []byte) (meterReq, *CallError) {
	var (
		m  meterReq
		ok bool
	)
	if v == V16 {
		m, ok = fastMeterValues16(payload)
		if !ok {
			return refMeterValues16(payload)
		}
		return m, checkConnector16(m.evse)
	}
	m, ok = fastMeterValues201(payload)
	if !ok {
		return refMeterValues201(payload)
	}
	return m, checkEVSE(m.evse, 0)
}

// Helpers over a jsonScanner positioned on checked JSON. Each returns
// false on anything unexpected, which makes the fast decoder give up.

// objOpen consumes '{'; more is false for an empty object (consumed).
func (s *jsonScanner) objOpen() (more, ok bool) {
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != '{' {
		return false, false
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return false, true
	}
	return true, true
}

// arrOpen consumes '['; more is false for an empty array (consumed).
func (s *jsonScanner) arrOpen() (more, ok bool) {
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != '[' {
		return false, false
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return false, true
	}
	return true, true
}

// key reads a plain (escape-free ASCII) key and its ':'.
func (s *jsonScanner) key() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return nil, false
	}
	raw, plain, err := s.stringSpan()
	if err != nil || !plain {
		return nil, false
	}
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != ':' {
		return nil, false
	}
	s.i++
	s.ws()
	return raw, true
}

// next consumes ',' (more) or the container's end.
func (s *jsonScanner) next(end byte) (more, ok bool) {
	s.ws()
	if s.i >= len(s.data) {
		return false, false
	}
	switch s.data[s.i] {
	case ',':
		s.i++
		return true, true
	case end:
		s.i++
		return false, true
	}
	return false, false
}

// plainString reads a string value without escapes or non-ASCII bytes.
func (s *jsonScanner) plainString() ([]byte, bool) {
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return nil, false
	}
	raw, plain, err := s.stringSpan()
	return raw, err == nil && plain
}

// plainInt reads an integer without fraction or exponent.
func (s *jsonScanner) plainInt() (int64, bool) {
	num, err := s.numberSpan()
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	return n, err == nil
}

// timestamp reads a plain string as encoding/json reads a time.Time.
func (s *jsonScanner) timestamp() (time.Time, bool) {
	start := s.i
	if _, ok := s.plainString(); !ok {
		return time.Time{}, false
	}
	var t time.Time
	if t.UnmarshalJSON(s.data[start:s.i]) != nil {
		return time.Time{}, false
	}
	return t, true
}

// seen marks bit in set and reports false if it was already set (a
// repeated key: encoding/json's "last one wins" is left to the reference).
func seen(set *uint32, bit uint32) bool {
	if *set&bit != 0 {
		return false
	}
	*set |= bit
	return true
}

// Canonical measurand, phase and unit strings for sampleAcc: only the
// ones it tells apart, "?" for any other non-empty one (it ignores those,
// as it ignores the original strings).
func measurandOf(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "Current.Import":
		return "Current.Import"
	case "Power.Active.Import":
		return "Power.Active.Import"
	case "Energy.Active.Import.Register":
		return "Energy.Active.Import.Register"
	case "SoC":
		return "SoC"
	}
	return "?"
}

func phaseOf(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "L1":
		return "L1"
	case "L2":
		return "L2"
	case "L3":
		return "L3"
	case "L1-N":
		return "L1-N"
	case "L2-N":
		return "L2-N"
	case "L3-N":
		return "L3-N"
	}
	return "?"
}

func unitOf(b []byte) string {
	switch string(b) {
	case "kWh":
		return "kWh"
	case "kW":
		return "kW"
	}
	return ""
}

// fastMeterValues16 decodes the usual form of a schema-checked 1.6
// MeterValues payload; ok false means "use the reference".
func fastMeterValues16(payload []byte) (m meterReq, ok bool) {
	s := jsonScanner{data: payload}
	more, ok := s.objOpen()
	if !ok {
		return m, false
	}
	var keys uint32
	for more {
		k, ok := s.key()
		if !ok {
			return m, false
		}
		switch string(k) {
		case "connectorId":
			n, ok := s.plainInt()
			if !ok || !seen(&keys, 1) || n != int64(int(n)) {
				return m, false
			}
			m.evse = int(n)
		case "transactionId":
			n, ok := s.plainInt()
			if !ok || !seen(&keys, 2) {
				return m, false
			}
			m.txID, m.hasTx = n, true
		case "meterValue":
			if !seen(&keys, 4) || !meterValueList16(&s, &m) {
				return m, false
			}
		default:
			return m, false
		}
		if more, ok = s.next('}'); !ok {
			return m, false
		}
	}
	return m, keys&5 == 5
}

func meterValueList16(s *jsonScanner, m *meterReq) bool {
	more, ok := s.arrOpen()
	if !ok {
		return false
	}
	for more {
		mo, ok := s.objOpen()
		if !ok {
			return false
		}
		var (
			keys uint32
			ts   time.Time
			acc  sampleAcc
		)
		for mo {
			k, ok := s.key()
			if !ok {
				return false
			}
			switch string(k) {
			case "timestamp":
				if ts, ok = s.timestamp(); !ok || !seen(&keys, 1) {
					return false
				}
			case "sampledValue":
				if !seen(&keys, 2) || !sampledValues16(s, &acc) {
					return false
				}
			default:
				return false
			}
			if mo, ok = s.next('}'); !ok {
				return false
			}
		}
		if keys != 3 {
			return false
		}
		if smp, ok := acc.sample(ts); ok {
			m.samples = append(m.samples, smp)
		}
		if more, ok = s.next(']'); !ok {
			return false
		}
	}
	return true
}

func sampledValues16(s *jsonScanner, acc *sampleAcc) bool {
	more, ok := s.arrOpen()
	if !ok {
		return false
	}
	for more {
		fo, ok := s.objOpen()
		if !ok {
			return false
		}
		var (
			keys                                  uint32
			value, format, measurand, phase, unit []byte
		)
		for fo {
			k, ok := s.key()
			if !ok {
				return false
			}
			var v []byte
			if v, ok = s.plainString(); !ok {
				return false
			}
			switch string(k) {
			case "value":
				value, ok = v, seen(&keys, 1)
			case "context":
				ok = seen(&keys, 2)
			case "format":
				format, ok = v, seen(&keys, 4)
			case "measurand":
				measurand, ok = v, seen(&keys, 8)
			case "phase":
				phase, ok = v, seen(&keys, 16)
			case "location":
				ok = seen(&keys, 32)
			case "unit":
				unit, ok = v, seen(&keys, 64)
			default:
				ok = false
			}
			if !ok {
				return false
			}
			if fo, ok = s.next('}'); !ok {
				return false
			}
		}
		if keys&1 == 0 {
			return false
		}
		if string(format) != "SignedData" {
			f, err := strconv.ParseFloat(string(value), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return false
			}
			acc.add(measurandOf(measurand), phaseOf(phase), unitOf(unit), f)
		}
		if more, ok = s.next(']'); !ok {
			return false
		}
	}
	return true
}

// fastMeterValues201 decodes the usual form of a schema-checked 2.0.1
// MeterValues payload; ok false means "use the reference".
func fastMeterValues201(payload []byte) (m meterReq, ok bool) {
	s := jsonScanner{data: payload}
	more, ok := s.objOpen()
	if !ok {
		return m, false
	}
	var keys uint32
	for more {
		k, ok := s.key()
		if !ok {
			return m, false
		}
		switch string(k) {
		case "evseId":
			n, ok := s.plainInt()
			if !ok || !seen(&keys, 1) || n != int64(int(n)) {
				return m, false
			}
			m.evse = int(n)
		case "meterValue":
			if !seen(&keys, 2) || !meterValueList201(&s, &m) {
				return m, false
			}
		case "customData":
			if !seen(&keys, 4) || s.skip() != nil {
				return m, false
			}
		default:
			return m, false
		}
		if more, ok = s.next('}'); !ok {
			return m, false
		}
	}
	return m, keys&3 == 3
}

func meterValueList201(s *jsonScanner, m *meterReq) bool {
	more, ok := s.arrOpen()
	if !ok {
		return false
	}
	for more {
		mo, ok := s.objOpen()
		if !ok {
			return false
		}
		var (
			keys uint32
			ts   time.Time
			acc  sampleAcc
		)
		for mo {
			k, ok := s.key()
			if !ok {
				return false
			}
			switch string(k) {
			case "timestamp":
				if ts, ok = s.timestamp(); !ok || !seen(&keys, 1) {
					return false
				}
			case "sampledValue":
				if !seen(&keys, 2) || !sampledValues201(s, &acc) {
					return false
				}
			case "customData":
				if !seen(&keys, 4) || s.skip() != nil {
					return false
				}
			default:
				return false
			}
			if mo, ok = s.next('}'); !ok {
				return false
			}
		}
		if keys&3 != 3 {
			return false
		}
		if smp, ok := acc.sample(ts); ok {
			m.samples = append(m.samples, smp)
		}
		if more, ok = s.next(']'); !ok {
			return false
		}
	}
	return true
}

func sampledValues201(s *jsonScanner, acc *sampleAcc) bool {
	more, ok := s.arrOpen()
	if !ok {
		return false
	}
	for more {
		fo, ok := s.objOpen()
		if !ok {
			return false
		}
		var (
			keys                   uint32
			value                  float64
			measurand, phase, unit []byte
			mult                   int64
		)
		for fo {
			k, ok := s.key()
			if !ok {
				return false
			}
			switch string(k) {
			case "value":
				num, err := s.numberSpan()
				if err != nil || !seen(&keys, 1) {
					return false
				}
				if value, err = strconv.ParseFloat(string(num), 64); err != nil {
					return false
				}
			case "measurand":
				measurand, ok = s.plainString()
				ok = ok && seen(&keys, 2)
			case "phase":
				phase, ok = s.plainString()
				ok = ok && seen(&keys, 4)
			case "context", "location":
				_, ok = s.plainString()
				bit := uint32(8)
				if string(k) == "location" {
					bit = 16
				}
				ok = ok && seen(&keys, bit)
			case "unitOfMeasure":
				ok = seen(&keys, 32) && readUnitOfMeasure201(s, &unit, &mult)
			case "signedMeterValue", "customData":
				ok = s.skip() == nil
			default:
				ok = false
			}
			if !ok {
				return false
			}
			if fo, ok = s.next('}'); !ok {
				return false
			}
		}
		if keys&1 == 0 {
			return false
		}
		acc.add(measurandOf(measurand), phaseOf(phase), unitOf(unit), value*math.Pow10(int(mult)))
		if more, ok = s.next(']'); !ok {
			return false
		}
	}
	return true
}

func readUnitOfMeasure201(s *jsonScanner, unit *[]byte, mult *int64) bool {
	more, ok := s.objOpen()
	if !ok {
		return false
	}
	var keys uint32
	for more {
		k, ok := s.key()
		if !ok {
			return false
		}
		switch string(k) {
		case "unit":
			*unit, ok = s.plainString()
			ok = ok && seen(&keys, 1)
		case "multiplier":
			n, ok2 := s.plainInt()
			ok = ok2 && seen(&keys, 2) && n == int64(int(n))
			*mult = n
		case "customData":
			ok = seen(&keys, 4) && s.skip() == nil
		default:
			ok = false
		}
		if !ok {
			return false
		}
		if more, ok = s.next('}'); !ok {
			return false
		}
	}
	return true
}
