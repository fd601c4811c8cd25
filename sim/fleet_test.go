package sim

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

func randomScenario() *Scenario {
	return &Scenario{
		Site:     SiteSpec{GridLimit: Currents{400, 400, 400}, BuildingLoad: []LoadPoint{{At: 0, Current: Currents{10, 20, 30}}}},
		Generate: []TemplateSpec{{Count: 20, Identity: "r-%02d", Charger: ChargerSpec{OCPP: OCPP16}}},
		Cars: CarPlan{
			Models: map[string]Car{"a": {BatteryKWh: 40, Phases: 1}, "b": {BatteryKWh: 80, MaxCurrent: 32}},
			Random: &RandomVisits{ArrivalsPerHour: 6, Dwell: Range{Min: Duration(10 * time.Minute), Max: Duration(time.Hour)}, SoC: FloatRange{Min: 0.1, Max: 0.9}},
		},
	}
}

// trace runs the random car process offline with a fake clock and records
// who is plugged in, with what state of charge, every simulated minute.
func trace(t *testing.T, seed uint64) []string {
	clk := &fakeClock{t: t0}
	f, err := New(randomScenario(), Options{Server: "ws://127.0.0.1:1/ocpp", Clock: clk, Seed: seed, Speed: 60})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for range 120 { // two simulated hours
		clk.Add(time.Second)
		f.Step(context.Background())
		for _, c := range f.Chargers() {
			for _, e := range c.State().EVSEs {
				if e.Car {
					out = append(out, fmt.Sprintf("%s:%.4f", c.ID(), e.SoC))
				}
			}
		}
		out = append(out, "|")
	}
	return out
}

func TestRandomProcessDeterministic(t *testing.T) {
	a, b, c := trace(t, 1), trace(t, 1), trace(t, 2)
	if !slices.Equal(a, b) {
		t.Error("same seed, different car process")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same car process")
	}
	plugged := 0
	for _, s := range a {
		if s != "|" {
			plugged++
		}
	}
	if plugged == 0 {
		t.Error("no car ever arrived")
	}
}

type meterRecorder struct {
	mu       sync.Mutex
	readings []GridReading
}

func (m *meterRecorder) ReportMeter(_ context.Context, r GridReading) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readings = append(m.readings, r)
	return nil
}

func TestMeterReporter(t *testing.T) {
	clk := &fakeClock{t: t0}
	rec := &meterRecorder{}
	s := &Scenario{
		Site:     SiteSpec{GridLimit: Currents{63, 63, 63}, BuildingLoad: []LoadPoint{{At: 0, Current: Currents{10, 20, 30}}, {At: Duration(time.Minute), Current: Currents{1, 2, 3}}}},
		Chargers: []ChargerSpec{{ID: "m", Rotation: "TRS"}},
	}
	f, err := New(s, Options{Server: "ws://127.0.0.1:1/ocpp", Clock: clk, Meter: rec, MeterInterval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.Charger("m")
	if err := c.Plug(1, Car{MaxCurrent: 16, Phases: 1, RampDelay: Duration(time.Second)}, 0.5, 0); err != nil {
		t.Fatal(err)
	}
	for range 70 {
		clk.Add(time.Second)
		f.Step(context.Background())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.readings) != 7 {
		t.Fatalf("%d readings in 70 s at a 10 s interval, want 7", len(rec.readings))
	}
	// 30 s in: building [10 20 30], the one-phase car on a TRS charger on grid L3.
	r := rec.readings[3]
	if r.Building != (site.PhaseCurrents{10, 20, 30}) || r.EV != (site.PhaseCurrents{0, 0, 16}) || r.Total != (site.PhaseCurrents{10, 20, 46}) {
		t.Errorf("reading %+v", r)
	}
	if want := site.Watts(76 * 230); r.Power != want {
		t.Errorf("power %v, want %v", r.Power, want)
	}
	if last := rec.readings[6]; last.Building != (site.PhaseCurrents{1, 2, 3}) {
		t.Errorf("building load after a minute %v, want the second point", last.Building)
	}
}
