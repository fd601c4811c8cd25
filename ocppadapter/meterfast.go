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
func (s *jsonScanner) objOpen() (more, ok bool) { return s.open('{', '}') }

// arrOpen consumes '['; more is false for an empty array (consumed).
func (s *jsonScanner) arrOpen() (more, ok bool) { return s.open('[', ']') }

func (s *jsonScanner) open(begin, end byte) (more, ok bool) {
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != begin {
		return false, false
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == end {
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

// after ends an element or field read with ok: it consumes ',' (more)
// or the container's end. Not ok stays not ok, so a loop
//
//	for more, ok := s.objOpen(); ok && more; more, ok = s.after(ok, '}')
//
// stops at the first thing unexpected, with ok false.
func (s *jsonScanner) after(ok bool, end byte) (more, stillOK bool) {
	if !ok {
		return false, false
	}
	return s.next(end)
}

// plainIntInt reads a plainInt that fits an int.
func (s *jsonScanner) plainIntInt() (int, bool) {
	n, ok := s.plainInt()
	return int(n), ok && n == int64(int(n))
}

// fastMeterValues16 decodes the usual form of a schema-checked 1.6
// MeterValues payload; ok false means "use the reference".
func fastMeterValues16(payload []byte) (meterReq, bool) { return fastMeterValues(V16, payload) }

// fastMeterValues201 decodes the usual form of a schema-checked 2.0.1
// MeterValues payload; ok false means "use the reference".
func fastMeterValues201(payload []byte) (meterReq, bool) { return fastMeterValues(V201, payload) }

// fastMeterValues decodes a MeterValues payload of version v. The
// versions differ in a few keys: 1.6 has connectorId, transactionId and
// sampled values of strings with format and unit; 2.0.1 has evseId,
// customData, numbers and unitOfMeasure. Each key is taken once. A key
// that is not plain reads as "", which no case takes.
func fastMeterValues(v Version, payload []byte) (m meterReq, ok bool) {
	const evse, tx, list, custom = 1, 2, 4, 8
	evseKey := "connectorId"
	if v == V201 {
		evseKey = "evseId"
	}
	s := jsonScanner{data: payload}
	var keys uint32
	more, ok := s.objOpen()
	for ; ok && more; more, ok = s.after(ok, '}') {
		k, _ := s.key()
		switch string(k) {
		case "connectorId", "evseId": // 1.6, 2.0.1
			m.evse, ok = s.plainIntInt()
			ok = ok && string(k) == evseKey && seen(&keys, evse)
		case "transactionId":
			m.txID, ok = s.plainInt()
			m.hasTx = true
			ok = ok && v == V16 && seen(&keys, tx)
		case "meterValue":
			ok = seen(&keys, list) && meterValueList(&s, &m, v)
		case "customData":
			ok = v == V201 && seen(&keys, custom) && s.skip() == nil
		default:
			ok = false
		}
	}
	return m, ok && keys&(evse|list) == evse|list
}

// meterValueList decodes the meterValue array of version v into
// m.samples.
func meterValueList(s *jsonScanner, m *meterReq, v Version) bool {
	more, ok := s.arrOpen()
	for ; ok && more; more, ok = s.after(ok, ']') {
		var (
			keys uint32
			ts   time.Time
			acc  sampleAcc
		)
		const stamp, values, custom = 1, 2, 4
		mo, mok := s.objOpen()
		for ; mok && mo; mo, mok = s.after(mok, '}') {
			k, _ := s.key()
			switch string(k) {
			case "timestamp":
				ts, mok = s.timestamp()
				mok = mok && seen(&keys, stamp)
			case "sampledValue":
				mok = seen(&keys, values) && sampledValues(s, &acc, v)
			case "customData":
				mok = v == V201 && seen(&keys, custom) && s.skip() == nil
			default:
				mok = false
			}
		}
		if ok = mok && keys&(stamp|values) == stamp|values; ok {
			if smp, has := acc.sample(ts); has {
				m.samples = append(m.samples, smp)
			}
		}
	}
	return ok
}

// sampledValues decodes the sampledValue array of version v into acc. A
// 1.6 value is a string (not read with format SignedData), a 2.0.1 value
// a number scaled by unitOfMeasure's multiplier.
func sampledValues(s *jsonScanner, acc *sampleAcc, v Version) bool {
	more, ok := s.arrOpen()
	for ; ok && more; more, ok = s.after(ok, ']') {
		var (
			keys                                  uint32
			value, format, measurand, phase, unit []byte
			mult                                  int64
		)
		const val, context, form, meas, ph, loc, un = 1, 2, 4, 8, 16, 32, 64
		fo, fok := s.objOpen()
		for ; fok && fo; fo, fok = s.after(fok, '}') {
			k, _ := s.key()
			switch string(k) {
			case "value":
				if v == V16 {
					value, fok = s.plainString()
				} else {
					var err error
					value, err = s.numberSpan()
					fok = err == nil
				}
				fok = fok && seen(&keys, val)
			case "context":
				_, fok = s.plainString()
				fok = fok && seen(&keys, context)
			case "format":
				format, fok = s.plainString()
				fok = fok && v == V16 && seen(&keys, form)
			case "measurand":
				measurand, fok = s.plainString()
				fok = fok && seen(&keys, meas)
			case "phase":
				phase, fok = s.plainString()
				fok = fok && seen(&keys, ph)
			case "location":
				_, fok = s.plainString()
				fok = fok && seen(&keys, loc)
			case "unit":
				unit, fok = s.plainString()
				fok = fok && v == V16 && seen(&keys, un)
			case "unitOfMeasure":
				fok = v == V201 && seen(&keys, un) && readUnitOfMeasure201(s, &unit, &mult)
			case "signedMeterValue", "customData":
				fok = v == V201 && s.skip() == nil
			default:
				fok = false
			}
		}
		if ok = fok && keys&val != 0; !ok || string(format) == "SignedData" {
			continue
		}
		f, err := strconv.ParseFloat(string(value), 64)
		if ok = err == nil && !math.IsInf(f, 0) && !math.IsNaN(f); ok {
			acc.add(measurandOf(measurand), phaseOf(phase), unitOf(unit), f*math.Pow10(int(mult)))
		}
	}
	return ok
}

func readUnitOfMeasure201(s *jsonScanner, unit *[]byte, mult *int64) bool {
	var keys uint32
	more, ok := s.objOpen()
	for ; ok && more; more, ok = s.after(ok, '}') {
		k, _ := s.key()
		switch string(k) {
		case "unit":
			*unit, ok = s.plainString()
			ok = ok && seen(&keys, 1)
		case "multiplier":
			var n int
			n, ok = s.plainIntInt()
			*mult = int64(n)
			ok = ok && seen(&keys, 2)
		case "customData":
			ok = seen(&keys, 4) && s.skip() == nil
		default:
			ok = false
		}
	}
	return ok
}
