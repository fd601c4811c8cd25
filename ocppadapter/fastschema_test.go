package ocppadapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// schemaDocs returns the schema documents of a version by "urn:" id.
func schemaDocs(t testing.TB, v Version) map[string]map[string]any {
	t.Helper()
	src := schemas16
	if v == V201 {
		src = schemas201
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var list []map[string]any
	if err := dec.Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, d := range list {
		out[d["$id"].(string)] = d
	}
	return out
}

type schemaCase struct {
	v      Version
	action string
	dir    msgDir
}

func (c schemaCase) String() string { return fmt.Sprintf("%s %s%s", c.v, c.action, c.dir.suffix()) }

// allSchemaCases lists every schema of both versions, sorted.
func allSchemaCases(t testing.TB) []schemaCase {
	var out []schemaCase
	for _, v := range []Version{V16, V201} {
		for id := range schemaDocs(t, v) {
			name := strings.TrimPrefix(id, "urn:")
			if a, ok := strings.CutSuffix(name, ".conf"); ok {
				out = append(out, schemaCase{v, a, dirConf})
			} else {
				out = append(out, schemaCase{v, strings.TrimSuffix(name, ".req"), dirReq})
			}
		}
	}
	slices.SortFunc(out, func(a, b schemaCase) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// The messages chargers send all the time, and our answers, are compiled
// for the fast path; only schemas with a keyword it does not handle (1.6
// format "uri", in messages to the charger) are left to jsonschema.
func TestFastSchemaCompiles(t *testing.T) {
	sets := map[Version]*schemaSet{V16: mustSchemas(t, V16), V201: mustSchemas(t, V201)}
	var slow []string
	for _, c := range allSchemaCases(t) {
		if sets[c.v].fast[c.dir][c.action] == nil {
			slow = append(slow, c.String())
		}
	}
	for _, want := range []schemaCase{
		{V16, "MeterValues", dirReq}, {V16, "StatusNotification", dirReq}, {V16, "Heartbeat", dirReq}, {V16, "BootNotification", dirReq},
		{V16, "StartTransaction", dirReq}, {V16, "StopTransaction", dirReq}, {V16, "Authorize", dirReq},
		{V201, "MeterValues", dirReq}, {V201, "TransactionEvent", dirReq}, {V201, "StatusNotification", dirReq},
		{V201, "Heartbeat", dirReq}, {V201, "BootNotification", dirReq}, {V201, "NotifyEVChargingNeeds", dirReq},
		{V16, "SetChargingProfile", dirConf}, {V201, "SetChargingProfile", dirConf}, {V201, "GetVariables", dirConf},
	} {
		if sets[want.v].fast[want.dir][want.action] == nil {
			t.Errorf("%s is not compiled for the fast path", want)
		}
	}
	if len(slow) > 4 {
		t.Errorf("%d schemas left to jsonschema: %v", len(slow), slow)
	}
	t.Logf("left to jsonschema: %v", slow)
}

// Named payloads: what the fast path decides (valid, or "ask jsonschema")
// and what jsonschema says.
func TestFastSchemaCoverage(t *testing.T) {
	mv16 := `{"connectorId":1,"transactionId":7,"meterValue":[{"timestamp":"2026-01-01T10:01:00Z","sampledValue":[` +
		`{"value":"15.5","measurand":"Current.Import","phase":"L1","unit":"A"},{"value":"1500","measurand":"Energy.Active.Import.Register","unit":"Wh","context":"Sample.Periodic","location":"Outlet","format":"Raw"}]}]}`
	mv201 := `{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T10:01:00.123+02:00","sampledValue":[{"value":16.1,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A","multiplier":0}}]}]}`
	tests := []struct {
		desc    string
		v       Version
		action  string
		dir     msgDir
		payload string
		fast    bool // the fast path decides it is valid
		valid   bool // jsonschema's verdict
	}{
		{"1.6 MeterValues as chargers send it", V16, "MeterValues", dirReq, mv16, true, true},
		{"2.0.1 MeterValues with offset and fraction", V201, "MeterValues", dirReq, mv201, true, true},
		{"2.0.1 MeterValues with customData anywhere", V201, "MeterValues", dirReq, `{"evseId":1,"customData":{"vendorId":"v","x":[1,{"y":null}]},"meterValue":[{"timestamp":"2026-01-01T10:01:00Z","sampledValue":[{"value":1}]}]}`, true, true},
		{"1.6 Heartbeat", V16, "Heartbeat", dirReq, `{}`, true, true},
		{"1.6 StatusNotification", V16, "StatusNotification", dirReq, `{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2026-01-01T00:00:00Z"}`, true, true},
		{"2.0.1 TransactionEvent", V201, "TransactionEvent", dirReq, `{"eventType":"Updated","timestamp":"2026-01-01T00:00:00Z","triggerReason":"MeterValuePeriodic","seqNo":3,"transactionInfo":{"transactionId":"t1","chargingState":"Charging"},"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1000.5}]}]}`, true, true},
		{"1.6 SetChargingProfile.conf", V16, "SetChargingProfile", dirConf, `{"status":"Accepted"}`, true, true},
		{"1.6 limit multiple of 0.1", V16, "SetChargingProfile", dirReq, `{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":9.9}]}}}`, true, true},
		{"1.6 limit 99e-1 is a multiple of 0.1", V16, "SetChargingProfile", dirReq, `{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":99e-1}]}}}`, true, true},
		{"1.6 limit 9.95 is not a multiple of 0.1", V16, "SetChargingProfile", dirReq, `{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":9.95}]}}}`, false, false},
		{"integer written 1.0: left to jsonschema, which accepts it", V16, "StatusNotification", dirReq, `{"connectorId":1.0,"errorCode":"NoError","status":"Available"}`, false, true},
		{"leap second: left to jsonschema, which accepts it", V16, "StatusNotification", dirReq, `{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2016-12-31T23:59:60Z"}`, false, true},
		{"lower-case t and z: left to jsonschema", V16, "StatusNotification", dirReq, `{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2026-01-01t00:00:00z"}`, false, true},
		{"escaped enum value decided on the decoded string", V16, "StatusNotification", dirReq, `{"connectorId":1,"errorCode":"NoError","status":"Avail\u0061ble"}`, true, true},
		{"non-ASCII string counted in characters", V16, "Authorize", dirReq, `{"idTag":"` + strings.Repeat("ü", 20) + `"}`, true, true},
		{"21 characters is too long", V16, "Authorize", dirReq, `{"idTag":"` + strings.Repeat("ü", 21) + `"}`, false, false},
		{"31 February", V16, "StatusNotification", dirReq, `{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2026-02-31T00:00:00Z"}`, false, false},
		{"29 February of a leap year", V16, "StatusNotification", dirReq, `{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2028-02-29T00:00:00Z"}`, true, true},
		{"missing required field", V201, "MeterValues", dirReq, `{"meterValue":[{"timestamp":"2026-01-01T10:01:00Z","sampledValue":[{"value":1}]}]}`, false, false},
		{"unknown field", V201, "Heartbeat", dirReq, `{"x":1}`, false, false},
		{"array below minItems", V201, "MeterValues", dirReq, `{"evseId":1,"meterValue":[]}`, false, false},
		{"minimum 0", V201, "StatusNotification", dirReq, `{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":-1,"connectorId":1}`, true, true},
		{"trailing data", V16, "Heartbeat", dirReq, `{} {}`, false, false},
	}
	sets := map[Version]*schemaSet{V16: mustSchemas(t, V16), V201: mustSchemas(t, V201)}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := sets[tc.v]
			n := s.fast[tc.dir][tc.action]
			if n == nil {
				t.Fatalf("%s %s not compiled", tc.v, tc.action)
			}
			fast := fastValid(n, []byte(tc.payload))
			ref := s.reference(tc.action, tc.dir, []byte(tc.payload))
			if fast != tc.fast || (ref == nil) != tc.valid {
				t.Fatalf("fast %v, jsonschema %v; want fast %v, valid %v", fast, ref, tc.fast, tc.valid)
			}
		})
	}
}

// instanceGen writes random instances of a schema: mostly valid, in the
// forms chargers use (plain integers, RFC 3339 with T and Z), with one
// kind of fault now and then (a wrong type, a missing or unknown field, a
// bad enum value, a string too long, a number off its range or step, a
// bad date, an array of the wrong size).
type instanceGen struct {
	r    *rand.Rand
	root map[string]any
	// fault is the chance in 1000 of a fault at each node.
	fault int
}

func (g *instanceGen) faulty() bool { return g.r.IntN(1000) < g.fault }

func (g *instanceGen) resolve(m map[string]any) map[string]any {
	for {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		m = g.root["definitions"].(map[string]any)[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
	}
}

func (g *instanceGen) value(b *bytes.Buffer, m map[string]any, depth int) {
	m = g.resolve(m)
	if g.faulty() {
		// A value of another kind.
		b.WriteString([]string{`"x"`, `1`, `1.5`, `true`, `null`, `{}`, `[]`, `-3`, `"2026-01-01T00:00:00Z"`}[g.r.IntN(9)])
		return
	}
	typ, _ := m["type"].(string)
	if e, ok := m["enum"].([]any); ok {
		if g.faulty() {
			b.WriteString(`"NotAValue"`)
			return
		}
		s := e[g.r.IntN(len(e))].(string)
		if g.r.IntN(20) == 0 && s != "" { // escape the first letter
			fmt.Fprintf(b, `"\u%04x%s"`, s[0], s[1:])
			return
		}
		b.Write(must(json.Marshal(s)))
		return
	}
	switch typ {
	case "object":
		g.object(b, m, depth)
	case "array":
		min, max := 0, 3
		if n, ok := m["minItems"].(json.Number); ok {
			min = int(must(n.Int64()))
		}
		if n, ok := m["maxItems"].(json.Number); ok {
			max = int(must(n.Int64()))
		}
		count := min + g.r.IntN(max-min+1)
		if g.faulty() {
			count = max + 1
			if min > 0 && g.r.IntN(2) == 0 {
				count = min - 1
			}
		}
		if depth > 6 {
			count = min
		}
		items, _ := m["items"].(map[string]any)
		b.WriteByte('[')
		for i := range count {
			if i > 0 {
				b.WriteByte(',')
			}
			g.value(b, items, depth+1)
		}
		b.WriteByte(']')
	case "string":
		g.str(b, m)
	case "integer":
		lo, hi := int64(-5), int64(1000)
		if n, ok := m["minimum"].(json.Number); ok {
			lo = must(n.Int64())
		}
		if n, ok := m["maximum"].(json.Number); ok {
			hi = must(n.Int64())
		}
		v := lo + g.r.Int64N(hi-lo+1)
		if g.faulty() {
			v = []int64{lo - 1, hi + 1}[g.r.IntN(2)]
		}
		fmt.Fprintf(b, "%d", v)
	case "number":
		tenths := g.r.IntN(200000) - 1000
		if _, ok := m["multipleOf"]; ok && !g.faulty() {
			fmt.Fprintf(b, "%d.%d", tenths/10, abs(tenths%10))
			return
		}
		_, hasMin := m["minimum"]
		_, hasMax := m["maximum"]
		if hasMin || hasMax {
			fmt.Fprintf(b, "%d.%d", tenths/1000, abs(tenths%10))
			return
		}
		switch g.r.IntN(5) {
		case 0:
			fmt.Fprintf(b, "%d", tenths)
		case 1:
			fmt.Fprintf(b, "%de-2", tenths)
		case 2:
			fmt.Fprintf(b, "%d.%02d", tenths/100, abs(tenths%100))
		case 3:
			fmt.Fprintf(b, "%dE1", tenths)
		default:
			fmt.Fprintf(b, "%d.%d0", tenths/10, abs(tenths%10))
		}
	case "boolean":
		b.WriteString([]string{"true", "false"}[g.r.IntN(2)])
	default:
		b.WriteString(`{"any":[1,"x",null]}`)
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func (g *instanceGen) str(b *bytes.Buffer, m map[string]any) {
	if m["format"] == "date-time" {
		good := []string{"2026-01-01T00:00:00Z", "2028-02-29T23:59:59.123456Z", "2026-06-30T12:00:00+02:00", "1999-12-31T23:59:59-11:30"}
		bad := []string{"2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01 00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00", "yesterday", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+2:00"}
		if g.faulty() {
			b.WriteString(`"` + bad[g.r.IntN(len(bad))] + `"`)
		} else {
			b.WriteString(`"` + good[g.r.IntN(len(good))] + `"`)
		}
		return
	}
	max := 20
	if n, ok := m["maxLength"].(json.Number); ok {
		max = int(must(n.Int64()))
	}
	n := g.r.IntN(min(max, 12) + 1)
	if g.faulty() {
		n = max + 1
	}
	var s strings.Builder
	for range n {
		switch g.r.IntN(30) {
		case 0:
			s.WriteString("ü")
		case 1:
			s.WriteString(`\n`)
		case 2:
			s.WriteString(`\"`)
		default:
			s.WriteByte(byte('a' + g.r.IntN(26)))
		}
	}
	b.WriteString(`"` + s.String() + `"`)
}

func (g *instanceGen) object(b *bytes.Buffer, m map[string]any, depth int) {
	props, _ := m["properties"].(map[string]any)
	req := map[string]bool{}
	if r, ok := m["required"].([]any); ok {
		for _, x := range r {
			req[x.(string)] = true
		}
	}
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	b.WriteByte('{')
	first := true
	field := func(name string, write func()) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(must(json.Marshal(name)))
		b.WriteByte(':')
		write()
	}
	for _, name := range names {
		switch {
		case req[name] && g.faulty(): // left out
			continue
		case !req[name] && (depth > 5 || g.r.IntN(2) == 0):
			continue
		}
		sub := props[name].(map[string]any)
		field(name, func() { g.value(b, sub, depth+1) })
	}
	if g.faulty() {
		field("unknownField", func() { b.WriteString("1") })
	}
	b.WriteByte('}')
}

// The fast path never accepts what jsonschema refuses, and on the forms
// it decides (all that instanceGen writes) it agrees with jsonschema
// both ways: random instances of every schema of both versions, mostly
// valid, some with one fault.
func TestFastSchemaAgreesWithJSONSchema(t *testing.T) {
	sets := map[Version]*schemaSet{V16: mustSchemas(t, V16), V201: mustSchemas(t, V201)}
	docs := map[Version]map[string]map[string]any{V16: schemaDocs(t, V16), V201: schemaDocs(t, V201)}
	perSchema := 60
	if testing.Short() {
		perSchema = 10
	}
	var total, valid, invalid int
	for i, c := range allSchemaCases(t) {
		s := sets[c.v]
		n := s.fast[c.dir][c.action]
		if n == nil {
			continue
		}
		root := docs[c.v]["urn:"+c.action+c.dir.suffix()]
		g := instanceGen{r: rand.New(rand.NewPCG(uint64(i), 42)), root: root}
		for k := range perSchema {
			g.fault = []int{0, 20, 100}[k%3]
			var b bytes.Buffer
			g.value(&b, root, 0)
			payload := b.Bytes()
			fast := fastValid(n, payload)
			ref := s.reference(c.action, c.dir, payload)
			total++
			if ref == nil {
				valid++
			} else {
				invalid++
			}
			if fast != (ref == nil) {
				t.Fatalf("%s: fast %v, jsonschema %v on %s", c, fast, ref, payload)
			}
			if got := s.validate(c.action, c.dir, payload); errorCode(got) != errorCode(ref) {
				t.Fatalf("%s: validate %v, jsonschema %v", c, got, ref)
			}
		}
	}
	if valid < total/4 || invalid < total/10 {
		t.Fatalf("generator too one-sided: %d valid, %d invalid of %d", valid, invalid, total)
	}
	t.Logf("%d instances: %d valid, %d invalid", total, valid, invalid)
}

// errorCode is the code of a CALLERROR, 0 for none. (jsonschema's texts
// list some things in map order, so only codes are compared.)
func errorCode(e *CallError) ErrorCode {
	if e == nil {
		return 0
	}
	return e.Code
}

// FuzzFastSchema: for any payload and any schema of either version, the
// fast path accepts only what jsonschema accepts, and validate (fast path
// first) gives jsonschema's CALLERROR code.
func FuzzFastSchema(f *testing.F) {
	cases := allSchemaCases(f)
	index := map[string]uint16{}
	for i, c := range cases {
		index[c.String()] = uint16(i)
	}
	// Seeds: every golden frame the adapter sends, the payload fuzzers'
	// seeds and instances of every schema.
	files, _ := filepath.Glob("testdata/*.golden")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		fr, ferr := ParseFrame(bytes.TrimSpace(data))
		if ferr != nil {
			continue
		}
		v := V16
		if strings.HasPrefix(filepath.Base(file), "v201") {
			v = V201
		}
		name := fr.Action
		dir := dirReq
		if fr.Type == TypeCallResult {
			// Named <version>_<action>_conf.golden.
			base := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "v16_"), "_conf.golden")
			base = strings.TrimPrefix(base, "v201_")
			for _, c := range cases {
				if c.v == v && c.dir == dirConf && strings.EqualFold(c.action, base) {
					name, dir = c.action, dirConf
				}
			}
		}
		if i, ok := index[schemaCase{v, name, dir}.String()]; ok {
			f.Add(i, []byte(fr.Payload))
		}
	}
	docs := map[Version]map[string]map[string]any{V16: schemaDocs(f, V16), V201: schemaDocs(f, V201)}
	for i, c := range cases {
		g := instanceGen{r: rand.New(rand.NewPCG(uint64(i), 7)), root: docs[c.v]["urn:"+c.action+c.dir.suffix()]}
		var b bytes.Buffer
		g.value(&b, g.root, 0)
		f.Add(uint16(i), b.Bytes())
	}
	sets := map[Version]*schemaSet{V16: mustSchemas(f, V16), V201: mustSchemas(f, V201)}
	f.Fuzz(func(t *testing.T, which uint16, payload []byte) {
		c := cases[int(which)%len(cases)]
		s := sets[c.v]
		ref := s.reference(c.action, c.dir, payload)
		if n := s.fast[c.dir][c.action]; n != nil && fastValid(n, payload) && ref != nil {
			t.Fatalf("%s: fast path accepts %q, jsonschema says %v", c, payload, ref)
		}
		if got := s.validate(c.action, c.dir, payload); errorCode(got) != errorCode(ref) {
			t.Fatalf("%s: validate %v, jsonschema %v", c, got, ref)
		}
	})
}
