package sitefile

import "testing"

func TestNormPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"site.grid_limit.l1_a", "grid_limit.l1"},
		{"grid_limit_a", "grid_limit"},
		{"site", "site"},
		{"Circuits[2].Limit.L1", "circuits[2].limit.l1"},
		{"limits[0].power_limit_w", "grid_limits[0].power_limit"},
		{"grid_limits[0].power_limit_kw", "grid_limits[0].power_limit"},
		{"grid_limits[1].end_time", "grid_limits[1].end"},
		{"chargers[0].evses[1].max_current_a", "chargers[0].evses[1].max_current"},
		{"site.nominal_voltage_v", "nominal_voltage"},
		{"site.GridPowerLimit", "grid_power_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := normPath(tt.in); got != tt.want {
				t.Errorf("normPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIndexLookup(t *testing.T) {
	x := newIndex()
	x.set("", pos{1, 1})
	x.set("circuits[0]", pos{5, 5})
	x.set("circuits[0].limit_a", pos{7, 14})
	x.set("circuits[1]", pos{9, 5})
	x.setID("circuits", 0, "hall-a")
	x.setID("circuits", 1, "hall-b")
	tests := []struct {
		name, path string
		want       pos
	}{
		{"exact", "circuits[0].limit_a", pos{7, 14}},
		{"validator spelling", "circuits[0].limit.l2", pos{7, 14}},
		{"missing field falls back to the element", "circuits[1].limit.l1_a", pos{9, 5}},
		{"element by ID", "circuits[hall-b].parent", pos{9, 5}},
		{"quoted ID", `circuits["hall-a"].limit_a`, pos{7, 14}},
		{"unknown list falls back to the root", "chargers[3].id", pos{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := x.lookup(tt.path)
			if !ok || got != tt.want {
				t.Errorf("lookup(%q) = %v, %v; want %v", tt.path, got, ok, tt.want)
			}
		})
	}
}

func TestShiftExp(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"69.3", "69.3e3", true},
		{"-1.5e-2", "-1.5e1", true},
		{"7", "7e3", true},
		{"0x1F", "", false},
		{"1_000", "", false},
		{".", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := shiftExp(tt.in, 3)
			if got != tt.want || ok != tt.ok {
				t.Errorf("shiftExp(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestShiftDecimal(t *testing.T) {
	tests := []struct {
		in   string
		by   int
		want string
	}{
		{"6.93e+04", -3, "69.3"},
		{"1.5e+01", -3, "0.015"},
		{"2.2e+04", -3, "22"},
		{"1e+00", -3, "0.001"},
		{"-1.25e+05", -3, "-125"},
		{"1.5e+300", -3, "1.5e297"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := shiftDecimal(tt.in, tt.by); got != tt.want {
				t.Errorf("shiftDecimal(%q, %d) = %q, want %q", tt.in, tt.by, got, tt.want)
			}
		})
	}
}
