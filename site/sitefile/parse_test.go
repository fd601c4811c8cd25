package sitefile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseExamples(t *testing.T) {
	tests := []struct {
		file                              string
		circuits, chargers, evses, limits int
		gridLimit                         site.PhaseCurrents
		check                             func(t *testing.T, c site.Config)
	}{
		{
			file: "demo-depot.yaml", circuits: 2, chargers: 12, evses: 20, limits: 1,
			gridLimit: site.Uniform(100),
			check: func(t *testing.T, c site.Config) {
				if c.Site.GridPowerLimit != 69000 || c.Site.NominalVoltage != 230 {
					t.Errorf("site = %+v", c.Site)
				}
				for i, ch := range c.Chargers {
					want := "DEPOT-CP" + []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"}[i]
					if ch.OCPPIdentity != want || ch.SiteID != "demo-depot" {
						t.Errorf("chargers[%d] = %q in %q, want %q", i, ch.OCPPIdentity, ch.SiteID, want)
					}
					if n := len(ch.EVSEs); n < 1 || n > 2 {
						t.Errorf("chargers[%d] has %d EVSEs", i, n)
					}
				}
				l := c.Limits[0]
				if l.Source != site.SourceGridOperator || l.Limit != site.Uniform(63) ||
					!l.Start.Equal(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)) || l.End.Sub(l.Start) != 4*time.Hour {
					t.Errorf("grid limit = %+v", l)
				}
				// cp07: explicit list; cp06: defaults with min_current_a.
				if got := c.Chargers[6].EVSEs; got[1] != (site.EVSE{ID: 2, MaxCurrent: 16, Phases: 1}) {
					t.Errorf("cp07 evses = %+v", got)
				}
				if got := c.Chargers[5].EVSEs; len(got) != 1 || got[0] != (site.EVSE{ID: 1, MaxCurrent: 32, MinCurrent: 8, Phases: 3}) {
					t.Errorf("cp06 evses = %+v", got)
				}
				if got := c.Chargers[1].PhaseRotation; got != (site.PhaseRotation{site.L2, site.L3, site.L1}) {
					t.Errorf("cp02 rotation = %v", got)
				}
			},
		},
		{
			file: "office.yaml", chargers: 4, evses: 4, limits: 1, gridLimit: site.Uniform(40),
			check: func(t *testing.T, c site.Config) {
				if got := c.Limits[0].Limit; got != (site.PhaseCurrents{32, 40, 40}) {
					t.Errorf("ems limit = %v", got)
				}
			},
		},
		{
			file: "oversubscribed.yaml", circuits: 3, chargers: 4, evses: 6, gridLimit: site.Uniform(63),
			check: func(t *testing.T, c site.Config) {
				if !c.Circuits[1].Oversubscribed || c.Circuits[1].Parent != "feeder" || c.Circuits[2].PowerLimit != 22000 {
					t.Errorf("circuits = %+v", c.Circuits)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Parse(tt.file, readExample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			evses := 0
			for _, ch := range c.Chargers {
				evses += len(ch.EVSEs)
			}
			if len(c.Circuits) != tt.circuits || len(c.Chargers) != tt.chargers || evses != tt.evses || len(c.Limits) != tt.limits {
				t.Errorf("got %d circuits, %d chargers, %d EVSEs, %d limits; want %d, %d, %d, %d",
					len(c.Circuits), len(c.Chargers), evses, len(c.Limits), tt.circuits, tt.chargers, tt.evses, tt.limits)
			}
			if c.Site.GridLimit != tt.gridLimit {
				t.Errorf("grid limit %v, want %v", c.Site.GridLimit, tt.gridLimit)
			}
			tt.check(t, c)
		})
	}
}

const minimalSite = "site:\n  id: s1\n  grid_limit_a: 50\n"

func TestParseGood(t *testing.T) {
	utc := func(h int) time.Time { return time.Date(2026, 1, 2, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		file string
		want site.Config
	}{
		{
			name: "minimal site",
			file: minimalSite,
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50)}},
		},
		{
			name: "per-phase grid limit and exact kW",
			file: "site:\n  id: s1\n  display_name: \"123\"\n  time_zone: UTC\n  nominal_voltage_v: 230.5\n" +
				"  grid_limit: {l1_a: 63, l2_a: 50.5, l3_a: 40}\n  grid_power_limit_kw: 69.3\n",
			want: site.Config{Site: site.Site{ID: "s1", DisplayName: "123", TimeZone: "UTC", NominalVoltage: 230.5,
				GridLimit: site.PhaseCurrents{63, 50.5, 40}, GridPowerLimit: 69300}},
		},
		{
			name: "kW in exponent form",
			file: "site:\n  id: s1\n  grid_limit_a: 50\n  grid_power_limit_kw: 1.5e-2\n",
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50), GridPowerLimit: 15}},
		},
		{
			name: "null values are absent",
			file: "site:\n  id: s1\n  display_name:\n  grid_limit_a: 50\ncircuits:\nchargers: ~\n",
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50)}},
		},
		{
			name: "circuit tree",
			file: minimalSite + "circuits:\n  - id: main\n    limit_a: 40\n    power_limit_kw: 20\n" +
				"  - id: sub\n    parent: main\n    limit: {l1_a: 50, l2_a: 32, l3_a: 32}\n    oversubscribed: true\n",
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50)}, Circuits: []site.Circuit{
				{SiteID: "s1", ID: "main", Limit: site.Uniform(40), PowerLimit: 20000},
				{SiteID: "s1", ID: "sub", Parent: "main", Limit: site.PhaseCurrents{50, 32, 32}, Oversubscribed: true},
			}},
		},
		{
			name: "evse_count with defaults",
			file: minimalSite + "chargers:\n  - id: c1\n    ocpp_identity: C1\n    phase_rotation: TSR\n" +
				"    evse_count: 2\n    max_current_a: 16\n    min_current_a: 8\n    phases: 3\n    can_switch_phases: true\n",
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50)}, Chargers: []site.Charger{{
				SiteID: "s1", ID: "c1", OCPPIdentity: "C1", PhaseRotation: site.PhaseRotation{site.L3, site.L2, site.L1},
				EVSEs: []site.EVSE{
					{ID: 1, MaxCurrent: 16, MinCurrent: 8, Phases: 3, CanSwitchPhases: true},
					{ID: 2, MaxCurrent: 16, MinCurrent: 8, Phases: 3, CanSwitchPhases: true},
				},
			}}},
		},
		{
			name: "evses list takes charger-level defaults",
			file: minimalSite + "chargers:\n  - id: c1\n    ocpp_identity: \"0001\"\n    phases: 1\n    max_current_a: 16\n" +
				"    evses:\n      - {}\n      - {max_current_a: 32, phases: 3}\n",
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50)}, Chargers: []site.Charger{{
				SiteID: "s1", ID: "c1", OCPPIdentity: "0001",
				EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 1}, {ID: 2, MaxCurrent: 32, Phases: 3}},
			}}},
		},
		{
			name: "grid limits",
			file: minimalSite + "grid_limits:\n  - id: a\n    source: owner\n    limit_a: 20\n" +
				"    start: 2026-01-02T10:00:00Z\n    end: \"2026-01-02T12:00:00Z\"\n    reason: test\n" +
				"  - id: b\n    source: ems\n    power_limit_kw: 11\n  - id: c\n    source: grid-operator\n    limit: {l1_a: 10, l2_a: 11, l3_a: 12}\n",
			want: site.Config{Site: site.Site{ID: "s1", GridLimit: site.Uniform(50)}, Limits: []site.GridLimit{
				{SiteID: "s1", ID: "a", Source: site.SourceOwner, Limit: site.Uniform(20), Start: utc(10), End: utc(12), Reason: "test"},
				{SiteID: "s1", ID: "b", Source: site.SourceEMS, PowerLimit: 11000},
				{SiteID: "s1", ID: "c", Source: site.SourceGridOperator, Limit: site.PhaseCurrents{10, 11, 12}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("t.yaml", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// wantErr is one expected error: its line and the start of its field path
// ("" for file-level errors), and a part of its message.
type wantErr struct {
	line  int
	field string
	msg   string
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []wantErr
	}{
		{"empty file", "", []wantErr{{0, "", "empty"}}},
		{"YAML syntax error", "site:\n  id: s1\n\tgrid_limit_a: 5\n", []wantErr{{2, "", "YAML syntax error (at or after this line): found a tab"}}},
		{"two documents", minimalSite + "---\nsite: {}\n", []wantErr{{4, "", "one YAML document"}}},
		{"not a mapping", "- a\n- b\n", []wantErr{{1, "", "must be a mapping"}}},
		{"missing site", "circuits: []\n", []wantErr{{1, "site", "required"}}},
		{"unknown top-level key with suggestion", minimalSite + "charger:\n  - id: c\n", []wantErr{{4, "charger", `did you mean "chargers"`}}},
		{"unknown key lists allowed keys", "site:\n  id: s1\n  grid_limit_a: 50\n  colour: red\n", []wantErr{{4, "site.colour", "want one of id,"}}},
		{"duplicate key", "site:\n  id: s1\n  grid_limit_a: 50\n  id: s2\n", []wantErr{{4, "site.id", "given twice (first on line 2)"}}},
		{"string for number", "site:\n  id: s1\n  grid_limit_a: \"50\"\n", []wantErr{{3, "site.grid_limit_a", `must be a number; got the string "50"`}}},
		{"number for string", "site:\n  id: 7\n  grid_limit_a: 50\n", []wantErr{{2, "site.id", `quote it: "7"`}}},
		{"bool for number", minimalSite + "circuits:\n  - id: c\n    limit_a: true\n", []wantErr{{6, "circuits[0].limit_a", "must be a number; got true"}}},
		{"number for bool", minimalSite + "circuits:\n  - id: c\n    limit_a: 5\n    oversubscribed: yes\n", []wantErr{{7, "circuits[0].oversubscribed", "true or false"}}},
		{"mapping for list", minimalSite + "circuits:\n  id: c\n", []wantErr{{5, "circuits", "must be a list"}}},
		{"list for mapping", "site:\n  - id: s1\n", []wantErr{{2, "site", "must be a mapping"}}},
		{"fraction for integer", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    evse_count: 1\n    max_current_a: 16\n    phases: 1.5\n",
			[]wantErr{{9, "chargers[0].phases", "whole number"}}},
		{"NaN", "site:\n  id: s1\n  grid_limit_a: .nan\n", []wantErr{{3, "site.grid_limit_a", "finite"}}},
		{"limit given twice", "site:\n  id: s1\n  grid_limit: {l1_a: 5, l2_a: 5, l3_a: 5}\n  grid_limit_a: 50\n",
			[]wantErr{{4, "site.grid_limit_a", "either grid_limit or grid_limit_a"}}},
		{"unknown phase key", "site:\n  id: s1\n  grid_limit: {l1_a: 5, l2_a: 5, l3_a: 5, l4_a: 5}\n",
			[]wantErr{{3, "site.grid_limit.l4_a", "unknown key"}}},
		{"evses and evse_count", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    evse_count: 1\n    max_current_a: 16\n    phases: 1\n    evses: [{}]\n",
			[]wantErr{{7, "chargers[0].evse_count", "either evses or evse_count"}}},
		{"evse_count too big", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    evse_count: 1000000000\n    max_current_a: 16\n    phases: 1\n",
			[]wantErr{{7, "chargers[0].evse_count", "between 1 and 32"}}},
		{"too many EVSEs listed", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    max_current_a: 16\n    phases: 1\n    evses: [" +
			strings.Repeat("{}, ", 33) + "{}]\n", []wantErr{{9, "chargers[0].evses[32]", "at most 32"}}},
		{"defaults without evse_count", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    max_current_a: 16\n",
			[]wantErr{{7, "chargers[0].max_current_a", "give evse_count"}}},
		{"bad phase rotation", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    phase_rotation: RRS\n    evse_count: 1\n    max_current_a: 16\n    phases: 3\n",
			[]wantErr{{7, "chargers[0].phase_rotation", "each of R, S, T"}}},
		{"bad source", minimalSite + "grid_limits:\n  - id: g\n    source: dso\n    limit_a: 5\n",
			[]wantErr{{6, "grid_limits[0].source", "owner, ems or grid-operator"}}},
		{"missing source", minimalSite + "grid_limits:\n  - id: g\n    limit_a: 5\n",
			[]wantErr{{5, "grid_limits[0].source", "required"}}},
		{"bad time", minimalSite + "grid_limits:\n  - id: g\n    source: ems\n    limit_a: 5\n    start: 2026-01-02 10:00\n",
			[]wantErr{{8, "grid_limits[0].start", "RFC 3339"}}},
		{"alias", "site:\n  id: &x s1\n  display_name: *x\n  grid_limit_a: 50\n", []wantErr{{3, "site.display_name", "aliases are not supported"}}},
		{"merge key", "site:\n  <<: {id: s1}\n  grid_limit_a: 50\n", []wantErr{{2, "site", "merge keys"}, {1, "site.id", "must be 1 to 63"}}},

		// Rules of site.Config.Validate, reported at the line of the field.
		{"validation: bad site id", "site:\n  id: S 1\n  grid_limit_a: 50\n", []wantErr{{2, "site.id", "AIP-122"}}},
		{"validation: circuit above parent", minimalSite + "circuits:\n  - id: a\n    limit_a: 40\n  - id: b\n    parent: a\n    limit:\n      l1_a: 32\n      l2_a: 63\n      l3_a: 32\n",
			[]wantErr{{11, "circuits[1].limit.l2_a", "must not exceed"}}},
		{"validation: shorthand limit above grid", minimalSite + "circuits:\n  - id: a\n    limit_a: 63\n",
			[]wantErr{{6, "circuits[0].limit_a", "must not exceed"}}},
		{"validation: per-phase errors stay apart when they differ", minimalSite + "circuits:\n  - id: a\n    limit: {l1_a: 63, l2_a: 40, l3_a: 70}\n",
			[]wantErr{{6, "circuits[0].limit.l1_a", "got 63"}, {6, "circuits[0].limit.l3_a", "got 70"}}},
		{"validation: unknown circuit", minimalSite + "chargers:\n  - id: c\n    ocpp_identity: C\n    circuit: nowhere\n    evse_count: 1\n    max_current_a: 16\n    phases: 3\n",
			[]wantErr{{7, "chargers[0].circuit", "no circuit"}}},
		{"validation: duplicate identity", minimalSite + "chargers:\n  - id: a\n    ocpp_identity: C\n    evse_count: 1\n    max_current_a: 16\n    phases: 3\n" +
			"  - id: b\n    ocpp_identity: C\n    evse_count: 1\n    max_current_a: 16\n    phases: 3\n",
			[]wantErr{{11, "chargers[1].ocpp_identity", "must be unique"}}},
		{"validation: min above max in list", minimalSite + "chargers:\n  - id: a\n    ocpp_identity: C\n    evses:\n      - max_current_a: 16\n        phases: 3\n      - max_current_a: 16\n        min_current_a: 20\n        phases: 3\n",
			[]wantErr{{11, "chargers[0].evses[1].min_current_a", "at most max_current"}}},
		{"validation: default applies to each EVSE", minimalSite + "chargers:\n  - id: a\n    ocpp_identity: C\n    evse_count: 2\n    max_current_a: 16\n    phases: 2\n",
			[]wantErr{{9, "chargers[0].evses[0].phases", "1 or 3"}, {9, "chargers[0].evses[1].phases", "1 or 3"}}},
		{"validation: end before start", minimalSite + "grid_limits:\n  - id: g\n    source: ems\n    limit_a: 5\n    start: 2026-01-02T10:00:00Z\n    end: 2026-01-02T09:00:00Z\n",
			[]wantErr{{9, "grid_limits[0].end", "after start_time"}}},
		{"validation: power limit in W instead of kW", minimalSite + "grid_limits:\n  - id: g\n    source: ems\n    power_limit_kw: 11000000\n",
			[]wantErr{{7, "grid_limits[0].power_limit_kw", "at most"}}},
		{"type error hides the validator's complaint about the zero", "site:\n  id: s1\n  grid_limit_a: fifty\n",
			[]wantErr{{3, "site.grid_limit_a", "must be a number"}}},
		{"every error at once, sorted by line", "site:\n  id: s1\n  grid_limit_a: 50\n  nominal_voltage_v: 2300\n" +
			"circuits:\n  - id: a\n    limit_a: 40\n    fuse: 3\n" +
			"chargers:\n  - id: c\n    ocpp_identity: C\n    circuit: b\n    evse_count: 1\n    max_current_a: 16\n    phases: \"3\"\n",
			[]wantErr{{4, "site.nominal_voltage_v", "100 to 400 V"}, {8, "circuits[0].fuse", "unknown key"},
				{12, "chargers[0].circuit", "no circuit"}, {15, "chargers[0].phases", "whole number"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tt.file))
			if err == nil {
				t.Fatalf("no error; parsed %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) is false for %v", err)
			}
			if !reflect.DeepEqual(c, site.Config{}) {
				t.Errorf("a refused file gave a config: %+v", c)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T, want *Error", err)
			}
			got := pe.Errors
			if len(got) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					if g.Line == w.line && g.Field == w.field && strings.Contains(g.Msg, w.msg) && g.File == "t.yaml" {
						found = true
					}
				}
				if !found {
					t.Errorf("missing error at line %d on %q containing %q; got:\n%v", w.line, w.field, w.msg, err)
				}
			}
			for i := 1; i < len(got); i++ {
				if got[i].Line < got[i-1].Line {
					t.Errorf("errors not sorted by line:\n%v", err)
				}
			}
			if got := err.Error(); !strings.HasPrefix(got, "t.yaml:") {
				t.Errorf("message %q does not start with the file name", got)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		e    FieldError
		want string
	}{
		{"full", FieldError{File: "a.yaml", Line: 3, Column: 5, Field: "site.id", Msg: "bad"}, "a.yaml:3:5: site.id: bad"},
		{"no column", FieldError{File: "a.yaml", Line: 3, Msg: "YAML syntax: x"}, "a.yaml:3: YAML syntax: x"},
		{"no position", FieldError{File: "a.yaml", Msg: "empty"}, "a.yaml: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileAt(t *testing.T) {
	f, err := ParseFile("demo.yaml", readExample(t, "demo-depot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, field, want string
	}{
		{"charger identity as the server names it", "chargers[2].ocpp_identity", "demo.yaml:40:20: chargers[2].ocpp_identity: taken"},
		{"site field without prefix", "grid_limit.l1", "demo.yaml:9:17: site.grid_limit.l1_a: taken"},
		{"grid limit by ID", "grid_limits[dso-evening-peak].end_time", "demo.yaml:130:10: grid_limits[0].end: taken"},
		{"unknown field falls back to the element", "chargers[0].ocpp_password", "demo.yaml:22:5: chargers[0].ocpp_password: taken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.At(tt.field, "taken").String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
