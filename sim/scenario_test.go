package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

func TestExampleScenariosParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "scenarios", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := LoadScenario(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.AllChargers()) == 0 {
				t.Error("no chargers")
			}
			if _, err := New(s, Options{Server: "ws://127.0.0.1:1/ocpp"}); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestParseScenario(t *testing.T) {
	const good = `
name: t
site:
  grid_limit: [63, 63, 40]
  circuits: [{id: c1, limit: 32}]
chargers:
  - {id: cp-1, ocpp: "2.0.1", circuit: c1, rotation: STR, evses: [{max_current: 16, phases: 1}]}
generate:
  - {count: 3, identity: "gen-%02d", charger: {ocpp: "1.6"}}
cars:
  models: {small: {battery_kwh: 30}}
  schedule: [{charger: gen-02, arrive: 90s, leave: 1h, model: small, soc: 0.5}]
`
	s, err := ParseScenario([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	all := s.AllChargers()
	var ids []string
	for _, c := range all {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "cp-1,gen-01,gen-02,gen-03" {
		t.Errorf("chargers %s", got)
	}
	if s.Site.GridLimit != (Currents{63, 63, 40}) || s.Site.Circuits[0].Limit != (Currents{32, 32, 32}) {
		t.Errorf("limits %v %v", s.Site.GridLimit, s.Site.Circuits[0].Limit)
	}
	if all[1].EVSEs[0] != (EVSESpec{MaxCurrent: 32, Phases: 3}) || all[1].SmartCharging.MaxStackLevel != 8 || all[1].MeterInterval.D() != time.Minute {
		t.Errorf("defaults not filled: %+v", all[1])
	}
	if v := s.Cars.Schedule[0]; v.Arrive.D() != 90*time.Second || v.Leave.D() != time.Hour {
		t.Errorf("visit times %v %v", v.Arrive, v.Leave)
	}
	if car := s.Cars.car("small", Car{MaxCurrent: 20}); car.BatteryKWh != 30 || car.MaxCurrent != 20 || car.Phases != 3 {
		t.Errorf("car model merge: %+v", car)
	}
	if all[0].Rotation != "STR" {
		t.Errorf("rotation %q", all[0].Rotation)
	}
	_ = site.L1
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		desc, doc string
		want      []string // substrings of the error, one per field
	}{
		{"empty document", ``, []string{"site.grid_limit"}},
		{"unknown field", "site: {grid_limit: 10}\nchargerz: []", []string{"chargerz"}},
		{"unknown JSON field", `{"site": {"grid_limit": 10}, "x": 1}`, []string{`unknown field "x"`}},
		{"bad currents", "site: {grid_limit: [1, 2]}", []string{"list of three"}},
		{"bad duration", "site: {grid_limit: 10}\nchargers: [{id: a, meter_interval: soon}]", []string{`duration "soon"`}},
		{"every bad field at once", `
site:
  grid_limit: 0
  circuits: [{id: c1, parent: nope, limit: 10}, {id: c1, limit: -1}]
chargers:
  - {id: "a/b", ocpp: "1.5", circuit: zz, rotation: RRS, evses: [{max_current: 0, phases: 2}]}
  - {id: ok, quirks: {reject_profiles: true, ignore_profiles: true}, smart_charging: {rate_units: [kW]}}
generate: [{count: 2, identity: "fixed", charger: {}}]
cars:
  schedule: [{charger: ghost, arrive: 10s, leave: 5s, soc: 2}]
  random: {arrivals_per_hour: 0, dwell: {min: 1h, max: 1m}}
`, []string{"site.grid_limit", "site.circuits[0].parent", "site.circuits[1].id", "site.circuits[1].limit",
			"chargers[0].id", "chargers[0].ocpp", "chargers[0].circuit", "chargers[0].rotation",
			"chargers[0].evses[0].max_current", "chargers[0].evses[0].phases", "chargers[1].quirks",
			"chargers[1].smart_charging.rate_units[0]", "generate[0].identity",
			"cars.schedule[0].charger", "cars.schedule[0].leave", "cars.schedule[0].soc",
			"cars.random.arrivals_per_hour", "cars.random.dwell", "cars.random.models"}},
		{"circuit cycle", "site: {grid_limit: 10, circuits: [{id: a, parent: b, limit: 5}, {id: b, parent: a, limit: 5}]}", []string{"cycle"}},
		{"duplicate generated identity", "site: {grid_limit: 10}\nchargers: [{id: g-1}]\ngenerate: [{count: 2, identity: 'g-%d', charger: {}}]", []string{"duplicate identity \"g-1\""}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.doc))
			if !errors.Is(err, ErrScenario) {
				t.Fatalf("err = %v, want ErrScenario", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}

// FuzzParseScenario: any input gives a scenario that validates and builds
// a fleet, or an ErrScenario; never a panic.
func FuzzParseScenario(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "scenarios", "*"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && len(b) < 8000 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"site":{"grid_limit":1},"generate":[{"count":1,"identity":"x%d","charger":{}}]}`))
	f.Add([]byte("site: {grid_limit: [1,2,3]}\ncars: {random: {arrivals_per_hour: 1}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenario(data)
		if err != nil {
			if !errors.Is(err, ErrScenario) {
				t.Fatalf("error without ErrScenario: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed scenario fails Validate: %v", err)
		}
		n := len(s.Chargers)
		for _, g := range s.Generate {
			n += g.Count
		}
		if n > 2000 {
			return // building huge fleets is not what this fuzzes
		}
		if _, err := New(s, Options{Server: "ws://127.0.0.1:1/ocpp"}); err != nil {
			t.Fatalf("New rejects a valid scenario: %v", err)
		}
	})
}

// FuzzParseFrame: the frame parser never panics, and what it accepts
// re-encodes to a frame that parses the same.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`[2,"1","BootNotification",{"chargePointVendor":"v"}]`,
		`[3,"1",{"status":"Accepted"}]`,
		`[4,"1","NotImplemented","no",{}]`,
		`[2,"","X",{}]`, `[2,1,"X",{}]`, `[5,"1",{}]`, `[2,"1","X",[]]`, `[]`, `{}`, `[2,"1234567890123456789012345678901234567","X",{}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ParseFrame(data)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error without ErrBadFrame: %v", err)
			}
			if len(fr.ID) > maxMessageIDLen {
				t.Fatalf("bad frame kept an over-long id %q", fr.ID)
			}
			return
		}
		var again []byte
		switch fr.Type {
		case msgCall:
			again, err = encodeCall(fr.ID, fr.Action, fr.Payload)
		case msgCallResult:
			again, err = encodeResult(fr.ID, fr.Payload)
		case msgCallError:
			again = encodeError(fr.ID, fr.ErrorCode, fr.ErrorDescription)
		}
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		fr2, err := ParseFrame(again)
		if err != nil || fr2.Type != fr.Type || fr2.ID != fr.ID || fr2.Action != fr.Action || fr2.ErrorCode != fr.ErrorCode {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", fr, again, fr2, err)
		}
	})
}
