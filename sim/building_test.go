package sim

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

func TestBuildingLoad(t *testing.T) {
	mins := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
	pts := []LoadPoint{
		{At: 0, Current: Currents{10, 10, 10}},
		{At: Duration(2 * time.Minute), Ramp: Duration(time.Minute), Current: Currents{16, 13, 10}},
		{At: Duration(5 * time.Minute), Current: Currents{20, 20, 20}},
		{At: Duration(6 * time.Minute), Ramp: Duration(2 * time.Minute), Current: Currents{4, 4, 4}},
	}
	tests := []struct {
		name   string
		period time.Duration
		at     time.Duration
		want   site.PhaseCurrents
	}{
		{name: "first point", at: mins(1), want: site.PhaseCurrents{10, 10, 10}},
		{name: "ramp starts at its point", at: mins(2), want: site.PhaseCurrents{10, 10, 10}},
		{name: "half way up the ramp", at: mins(2.5), want: site.PhaseCurrents{13, 11.5, 10}},
		{name: "ramp reached", at: mins(3), want: site.PhaseCurrents{16, 13, 10}},
		{name: "held until the next point", at: mins(4.9), want: site.PhaseCurrents{16, 13, 10}},
		{name: "step without ramp", at: mins(5), want: site.PhaseCurrents{20, 20, 20}},
		{name: "ramp down", at: mins(7), want: site.PhaseCurrents{12, 12, 12}},
		{name: "last value held without period", at: mins(60), want: site.PhaseCurrents{4, 4, 4}},
		{name: "period repeats", period: mins(10), at: mins(12.5), want: site.PhaseCurrents{13, 11.5, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fleet{scenario: &Scenario{Site: SiteSpec{BuildingLoad: pts, BuildingLoadPeriod: Duration(tt.period)}}}
			got := f.buildingLoad(tt.at)
			for p := range 3 {
				if math.Abs(float64(got[p]-tt.want[p])) > 1e-9 {
					t.Fatalf("building load at %v = %v, want %v", tt.at, got, tt.want)
				}
			}
		})
	}
}

// TestBuildingLoadWrapsIntoRamp: in a repeating profile a ramp on the
// first point starts from the last point's value (the previous period's
// end), not from zero; in the first period there is nothing before it.
func TestBuildingLoadWrapsIntoRamp(t *testing.T) {
	f := &Fleet{scenario: &Scenario{Site: SiteSpec{
		BuildingLoad: []LoadPoint{
			{At: 0, Ramp: Duration(time.Minute), Current: Currents{10, 10, 10}},
			{At: Duration(5 * time.Minute), Current: Currents{30, 30, 30}},
		},
		BuildingLoadPeriod: Duration(10 * time.Minute),
	}}}
	tests := []struct {
		name string
		at   time.Duration
		want site.Amps
	}{
		{name: "first period ramps from zero", at: 30 * time.Second, want: 5},
		{name: "later periods ramp from the last value", at: 10*time.Minute + 30*time.Second, want: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.buildingLoad(tt.at); math.Abs(float64(got[0]-tt.want)) > 1e-9 {
				t.Errorf("building load at %v = %v, want %v on L1", tt.at, got, tt.want)
			}
		})
	}
}

func TestBuildingLoadRampErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string
	}{
		{name: "ramp past the next point", doc: "site: {grid_limit: 10, building_load: [{at: 0s, current: 1}, {at: 1m, ramp: 2m, current: 2}, {at: 2m, current: 3}]}",
			want: "site.building_load[1].ramp: must end by the next point's at"},
		{name: "ramp past the period", doc: "site: {grid_limit: 10, building_load_period: 5m, building_load: [{at: 4m, ramp: 2m, current: 2}]}",
			want: "site.building_load[0].ramp: must end by building_load_period"},
		{name: "negative ramp", doc: "site: {grid_limit: 10, building_load: [{at: 0s, ramp: -1s, current: 2}]}",
			want: "site.building_load[0].ramp: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tt.doc))
			if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrScenario naming %q", err, tt.want)
			}
		})
	}
	if _, err := ParseScenario([]byte("site: {grid_limit: 10, building_load_period: 5m, building_load: [{at: 0s, current: 1}, {at: 1m, ramp: 4m, current: 2}]}")); err != nil {
		t.Errorf("a ramp ending exactly at the period: %v", err)
	}
}
