package ocppadapter

import (
	"bytes"

	"context"
	"encoding/json"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"testing"
)

const benchMeterValues = `[2,"m1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T10:01:00Z","sampledValue":[` +
	`{"value":"15.5","measurand":"Current.Import","phase":"L1","unit":"A"},{"value":"15.0","measurand":"Current.Import","phase":"L2","unit":"A"},` +
	`{"value":"14.5","measurand":"Current.Import","phase":"L3","unit":"A"},{"value":"10500","measurand":"Power.Active.Import","unit":"W"},` +
	`{"value":"1500","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}]`

// BenchmarkHandleMeterValues: the server's CPU per 1.6 MeterValues
// without the network: frame parse, schema validation, decode, state
// update, answer encoding.
func BenchmarkHandleMeterValues(b *testing.B) {
	c := fuzzConn(b, V16)
	ctx := context.Background()
	data := []byte(benchMeterValues)
	b.ReportAllocs()
	for b.Loop() {
		f, ferr := ParseFrame(data)
		if ferr != nil {
			b.Fatal(ferr)
		}
		if cerr := c.schemas.validate(f.Action, dirReq, f.Payload); cerr != nil {
			b.Fatal(cerr)
		}
		resp, _, cerr := c.handle16(ctx, f.Action, f.Payload)
		if cerr != nil {
			b.Fatal(cerr)
		}
		p, _ := json.Marshal(resp)
		_ = AppendCallResult(nil, f.ID, p)
	}
}

// BenchmarkValidateMeterValues: the schema check alone (fast path), and
// jsonschema alone.
func BenchmarkValidateMeterValuesReference(b *testing.B) {
	s := mustSchemas(b, V16)
	f, _ := ParseFrame([]byte(benchMeterValues))
	b.ReportAllocs()
	for b.Loop() {
		if cerr := s.reference("MeterValues", dirReq, f.Payload); cerr != nil {
			b.Fatal(cerr)
		}
	}
}

func BenchmarkValidateMeterValues(b *testing.B) {
	s := mustSchemas(b, V16)
	f, _ := ParseFrame([]byte(benchMeterValues))
	b.ReportAllocs()
	for b.Loop() {
		if cerr := s.validate("MeterValues", dirReq, f.Payload); cerr != nil {
			b.Fatal(cerr)
		}
	}
}

func BenchmarkParseJSONFast(b *testing.B) {
	f, _ := ParseFrame([]byte(benchMeterValues))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseJSONValue(f.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONLibrary(b *testing.B) {
	f, _ := ParseFrame([]byte(benchMeterValues))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Payload)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFrame(b *testing.B) {
	data := []byte(benchMeterValues)
	b.ReportAllocs()
	for b.Loop() {
		if _, ferr := ParseFrame(data); ferr != nil {
			b.Fatal(ferr)
		}
	}
}
