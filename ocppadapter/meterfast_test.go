package ocppadapter

import (
	"testing"
)

// Usual MeterValues payloads: the fast decoders must take each of them
// (not give up) and agree with the reference.
var meterFastCases = []struct {
	name    string
	version Version
	payload string
	samples int
}{
	{"1.6 three phases, power, energy", V16, `{"connectorId":1,"transactionId":7,"meterValue":[{"timestamp":"2026-01-01T10:01:00Z","sampledValue":[` +
		`{"value":"15.5","measurand":"Current.Import","phase":"L1","unit":"A"},{"value":"15.0","measurand":"Current.Import","phase":"L2","unit":"A"},` +
		`{"value":"14.5","measurand":"Current.Import","phase":"L3","unit":"A"},{"value":"10500","measurand":"Power.Active.Import","unit":"W"},` +
		`{"value":"1500","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}`, 1},
	{"1.6 no transaction, kWh, context and location", V16, `{"connectorId":2,"meterValue":[{"timestamp":"2026-01-01T10:01:00.5+01:00","sampledValue":[` +
		`{"value":"1.5","context":"Sample.Periodic","format":"Raw","measurand":"Energy.Active.Import.Register","location":"Outlet","unit":"kWh"}]}]}`, 1},
	{"1.6 signed data skipped, SoC, two meter values", V16, `{ "meterValue" : [ {"sampledValue":[{"value":"AbC=","format":"SignedData"},{"value":"55","measurand":"SoC"}],"timestamp":"2026-01-01T10:00:00Z"},` +
		` {"timestamp":"2026-01-01T10:00:10Z","sampledValue":[{"value":"16","measurand":"Current.Import","phase":"L1-N"}]} ] , "connectorId" : 0 }`, 2},
	{"1.6 empty meter value list", V16, `{"connectorId":1,"meterValue":[]}`, 0},
	{"2.0.1 three phases, power, energy", V201, `{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T10:01:00Z","sampledValue":[` +
		`{"value":15.5,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A"}},{"value":15,"measurand":"Current.Import","phase":"L2"},` +
		`{"value":14.5,"measurand":"Current.Import","phase":"L3"},{"value":10.5,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"kW"}},` +
		`{"value":1500,"measurand":"Energy.Active.Import.Register","context":"Sample.Periodic","location":"Outlet"}]}]}`, 1},
	{"2.0.1 multiplier, customData, signed value", V201, `{"customData":{"vendorId":"V","x":[1,{"y":null}]},"evseId":2,"meterValue":[{"customData":{"vendorId":"V"},"timestamp":"2026-01-01T10:00:00Z",` +
		`"sampledValue":[{"value":15,"unitOfMeasure":{"unit":"Wh","multiplier":3,"customData":{"vendorId":"V"}},"measurand":"Energy.Active.Import.Register",` +
		`"signedMeterValue":{"signedMeterData":"AbC=","signingMethod":"M","encodingMethod":"E","publicKey":"K"},"customData":{"vendorId":"V"}},` +
		`{"value":80,"measurand":"SoC"}]}]}`, 1},
	{"2.0.1 current without phase, exponent", V201, `{"evseId":0,"meterValue":[{"sampledValue":[{"value":1.6e1,"measurand":"Current.Import"}],"timestamp":"2026-01-01T10:00:00Z"}]}`, 1},
}

func TestFastMeterValuesTakesUsualForms(t *testing.T) {
	for _, tc := range meterFastCases {
		t.Run(tc.name, func(t *testing.T) {
			c := fuzzConn(t, tc.version)
			payload := []byte(tc.payload)
			if cerr := c.schemas.validate("MeterValues", dirReq, payload); cerr != nil {
				t.Fatalf("seed breaks the schema: %v", cerr)
			}
			var (
				got meterReq
				ok  bool
			)
			if tc.version == V16 {
				got, ok = fastMeterValues16(payload)
			} else {
				got, ok = fastMeterValues201(payload)
			}
			if !ok {
				t.Fatalf("fast decoder gave up on %s", payload)
			}
			checkMeterDecoder(t, tc.version, payload)
			if len(got.samples) != tc.samples {
				t.Fatalf("%d samples decoded, want %d", len(got.samples), tc.samples)
			}
		})
	}
}

// FuzzMeterValuesDecoder: on every MeterValues payload that passes the
// schema, the fast decoder of its version either gives up or gives what
// the reference gives (checkMeterDecoder).
func FuzzMeterValuesDecoder(f *testing.F) {
	for _, tc := range meterFastCases {
		f.Add(tc.version == V201, []byte(tc.payload))
	}
	c16, c201 := fuzzConn(f, V16), fuzzConn(f, V201)
	f.Fuzz(func(t *testing.T, v201 bool, payload []byte) {
		c := c16
		if v201 {
			c = c201
		}
		if c.schemas.validate("MeterValues", dirReq, payload) != nil {
			return
		}
		checkMeterDecoder(t, c.version, payload)
	})
}

// BenchmarkDecodeMeterValues16/201: the decoder alone on a schema-checked
// payload of three phase currents, power and energy.
func BenchmarkDecodeMeterValues16(b *testing.B) { benchDecodeMeter(b, 0) }

func BenchmarkDecodeMeterValues201(b *testing.B) { benchDecodeMeter(b, 4) }

func benchDecodeMeter(b *testing.B, i int) {
	tc := meterFastCases[i]
	payload := []byte(tc.payload)
	b.ReportAllocs()
	for b.Loop() {
		m, cerr := decodeMeterValues(tc.version, payload)
		if cerr != nil || len(m.samples) != 1 {
			b.Fatal(cerr, len(m.samples))
		}
	}
}
