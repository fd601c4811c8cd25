package site_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // time zones do not depend on the machine

	"github.com/smartcharge/smartcharge/site"
)

// validConfig is a small site every case starts from: a 3x63 A connection,
// a 3x40 A board with a 3x32 A sub-board, two chargers and a grid limit.
func validConfig() site.Config {
	return site.Config{
		Site: site.Site{
			ID: "depot-1", DisplayName: "Depot 1", TimeZone: "Europe/Berlin",
			NominalVoltage: 230, GridLimit: site.Uniform(63), GridPowerLimit: 40_000,
		},
		Circuits: []site.Circuit{
			{ID: "board-a", Parent: "", Limit: site.Uniform(40)},
			{ID: "board-b", Parent: "board-a", Limit: site.Uniform(32)},
		},
		Chargers: []site.Charger{
			{
				ID: "cp-1", OCPPIdentity: "CP-0001", Circuit: "board-b", PhaseRotation: site.StandardRotation,
				EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 32, Phases: 3, CanSwitchPhases: true}, {ID: 2, MaxCurrent: 16, MinCurrent: 6, Phases: 1}},
			},
			{ID: "cp-2", OCPPIdentity: "CP-0002", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}}},
		},
		Limits: []site.GridLimit{
			{ID: "dso-cut", Source: site.SourceGridOperator, Limit: site.Uniform(50), Reason: "§14a EnWG"},
			{ID: "ems-power", Source: site.SourceEMS, PowerLimit: 20_000,
				Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		},
	}
}

// violations returns the fields err names, sorted, or fails if err is not
// a *site.ValidationError.
func violations(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *site.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *site.ValidationError", err, err)
	}
	if !errors.Is(err, site.ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
	var fields []string
	for _, v := range ve.Violations {
		if v.Rule == "" {
			t.Errorf("violation on %s has no rule", v.Field)
		}
		fields = append(fields, v.Field)
	}
	slices.Sort(fields)
	return fields
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		desc   string
		mutate func(*site.Config)
		want   []string // violated fields; nil means valid
	}{
		{desc: "valid config", mutate: func(*site.Config) {}},
		{desc: "minimal site without time zone and voltage", mutate: func(c *site.Config) {
			*c = site.Config{Site: site.Site{ID: "a", GridLimit: site.Uniform(25)}}
		}},
		{desc: "resources may carry the site ID", mutate: func(c *site.Config) {
			c.Circuits[0].SiteID, c.Chargers[0].SiteID, c.Limits[0].SiteID = "depot-1", "depot-1", "depot-1"
		}},
		{desc: "resources with another site ID", mutate: func(c *site.Config) {
			c.Circuits[0].SiteID, c.Chargers[1].SiteID, c.Limits[1].SiteID = "x", "x", "x"
		}, want: []string{"chargers[1].site_id", "circuits[0].site_id", "grid_limits[1].site_id"}},
		{desc: "site ID upper case", mutate: func(c *site.Config) { c.Site.ID = "Depot" }, want: []string{"site.id"}},
		{desc: "site ID empty", mutate: func(c *site.Config) { c.Site.ID = "" }, want: []string{"site.id"}},
		{desc: "site ID ends with dash", mutate: func(c *site.Config) { c.Site.ID = "depot-" }, want: []string{"site.id"}},
		{desc: "site ID starts with digit", mutate: func(c *site.Config) { c.Site.ID = "1depot" }, want: []string{"site.id"}},
		{desc: "site ID 63 characters", mutate: func(c *site.Config) { c.Site.ID = "a" + strings.Repeat("b", 62) }},
		{desc: "site ID 64 characters", mutate: func(c *site.Config) { c.Site.ID = "a" + strings.Repeat("b", 63) }, want: []string{"site.id"}},
		{desc: "display name 128 runes", mutate: func(c *site.Config) { c.Site.DisplayName = strings.Repeat("ä", 128) }},
		{desc: "display name 129 runes", mutate: func(c *site.Config) { c.Site.DisplayName = strings.Repeat("ä", 129) }, want: []string{"site.display_name"}},
		{desc: "display name not UTF-8", mutate: func(c *site.Config) { c.Site.DisplayName = "\xff" }, want: []string{"site.display_name"}},
		{desc: "unknown time zone", mutate: func(c *site.Config) { c.Site.TimeZone = "Europe/Atlantis" }, want: []string{"site.time_zone"}},
		{desc: "Local is not a time zone", mutate: func(c *site.Config) { c.Site.TimeZone = "Local" }, want: []string{"site.time_zone"}},
		{desc: "voltage 0 means default", mutate: func(c *site.Config) { c.Site.NominalVoltage = 0 }},
		{desc: "voltage 120", mutate: func(c *site.Config) { c.Site.NominalVoltage = 120 }},
		{desc: "voltage 99", mutate: func(c *site.Config) { c.Site.NominalVoltage = 99 }, want: []string{"site.nominal_voltage"}},
		{desc: "voltage 401", mutate: func(c *site.Config) { c.Site.NominalVoltage = 401 }, want: []string{"site.nominal_voltage"}},
		{desc: "voltage NaN", mutate: func(c *site.Config) { c.Site.NominalVoltage = site.Volts(math.NaN()) }, want: []string{"site.nominal_voltage"}},
		{desc: "grid limit zero on L2", mutate: func(c *site.Config) { c.Site.GridLimit[1] = 0 }, want: []string{"site.grid_limit.l2"}},
		{desc: "grid limit insane", mutate: func(c *site.Config) { c.Site.GridLimit = site.Uniform(10_001) }, want: []string{"site.grid_limit.l1", "site.grid_limit.l2", "site.grid_limit.l3"}},
		{desc: "grid limit infinite", mutate: func(c *site.Config) { c.Site.GridLimit[2] = site.Amps(math.Inf(1)) }, want: []string{"site.grid_limit.l3"}},
		{desc: "grid power negative", mutate: func(c *site.Config) { c.Site.GridPowerLimit = -1 }, want: []string{"site.grid_power_limit_kw"}},
		{desc: "grid power above 10 MW", mutate: func(c *site.Config) { c.Site.GridPowerLimit = 10_000_001 }, want: []string{"site.grid_power_limit_kw"}},

		{desc: "circuit parent missing", mutate: func(c *site.Config) { c.Circuits[1].Parent = "nope" }, want: []string{"circuits[1].parent"}},
		{desc: "circuit parent not an ID", mutate: func(c *site.Config) { c.Circuits[1].Parent = "No Pe" }, want: []string{"circuits[1].parent", "circuits[1].parent"}},
		{desc: "circuit is its own parent", mutate: func(c *site.Config) { c.Circuits[0].Parent = "board-a" }, want: []string{"circuits[0].parent", "circuits[0].parent"}},
		{desc: "circuit cycle of two", mutate: func(c *site.Config) { c.Circuits[0].Parent = "board-b" }, want: []string{"circuits[0].parent", "circuits[1].parent"}},
		{desc: "circuit cycle of three with a tail", mutate: func(c *site.Config) {
			c.Circuits = append(c.Circuits,
				site.Circuit{ID: "c1", Parent: "c3", Limit: site.Uniform(10)},
				site.Circuit{ID: "c2", Parent: "c1", Limit: site.Uniform(10)},
				site.Circuit{ID: "c3", Parent: "c2", Limit: site.Uniform(10)},
				site.Circuit{ID: "tail", Parent: "c3", Limit: site.Uniform(50)})
		}, want: []string{"circuits[2].parent", "circuits[3].parent", "circuits[4].parent", "circuits[5].limit.l1", "circuits[5].limit.l2", "circuits[5].limit.l3"}},
		{desc: "circuit duplicate ID", mutate: func(c *site.Config) { c.Circuits[1].ID = "board-a"; c.Circuits[1].Parent = "" }, want: []string{"chargers[0].circuit", "circuits[1].id"}},
		{desc: "circuit limit above parent on L3", mutate: func(c *site.Config) { c.Circuits[1].Limit[2] = 41 }, want: []string{"circuits[1].limit.l3"}},
		{desc: "circuit limit above parent but oversubscribed", mutate: func(c *site.Config) { c.Circuits[1].Limit[2] = 41; c.Circuits[1].Oversubscribed = true }},
		{desc: "top circuit above grid limit", mutate: func(c *site.Config) { c.Circuits[0].Limit = site.Uniform(64) }, want: []string{"circuits[0].limit.l1", "circuits[0].limit.l2", "circuits[0].limit.l3"}},
		{desc: "circuit limit zero", mutate: func(c *site.Config) { c.Circuits[0].Limit[0] = 0 }, want: []string{"circuits[0].limit.l1"}},
		{desc: "circuit limit equal to parent", mutate: func(c *site.Config) { c.Circuits[1].Limit = c.Circuits[0].Limit }},
		{desc: "circuit power negative", mutate: func(c *site.Config) { c.Circuits[0].PowerLimit = -5 }, want: []string{"circuits[0].power_limit_kw"}},

		{desc: "charger circuit missing", mutate: func(c *site.Config) { c.Chargers[0].Circuit = "board-z" }, want: []string{"chargers[0].circuit"}},
		{desc: "charger duplicate ID", mutate: func(c *site.Config) { c.Chargers[1].ID = "cp-1" }, want: []string{"chargers[1].id"}},
		{desc: "charger duplicate identity", mutate: func(c *site.Config) { c.Chargers[1].OCPPIdentity = "CP-0001" }, want: []string{"chargers[1].ocpp_identity"}},
		{desc: "identity empty", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity 48 characters", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = strings.Repeat("X", 48) }},
		{desc: "identity 49 characters", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = strings.Repeat("X", 49) }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity with slash", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "a/b" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity with colon", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "a:b" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity with space", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "a b" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity with query and fragment", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "a?b#c" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity non-ASCII", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "ä" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity control character", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "a\tb" }, want: []string{"chargers[0].ocpp_identity"}},
		{desc: "identity with punctuation", mutate: func(c *site.Config) { c.Chargers[0].OCPPIdentity = "DE*ABC*E1.2_x-y+z|@=" }},
		{desc: "phase rotation repeated phase", mutate: func(c *site.Config) { c.Chargers[0].PhaseRotation = site.PhaseRotation{site.L1, site.L1, site.L2} }, want: []string{"chargers[0].phase_rotation"}},
		{desc: "phase rotation unknown is fine", mutate: func(c *site.Config) { c.Chargers[0].PhaseRotation = site.PhaseRotation{} }},
		{desc: "no EVSEs", mutate: func(c *site.Config) { c.Chargers[1].EVSEs = nil }, want: []string{"chargers[1].evses"}},
		{desc: "33 EVSEs", mutate: func(c *site.Config) {
			c.Chargers[1].EVSEs = nil
			for i := range 33 {
				c.Chargers[1].EVSEs = append(c.Chargers[1].EVSEs, site.EVSE{ID: i + 1, MaxCurrent: 16, Phases: 1})
			}
		}, want: []string{"chargers[1].evses"}},
		{desc: "EVSE IDs out of order", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[0].ID, c.Chargers[0].EVSEs[1].ID = 2, 1 }, want: []string{"chargers[0].evses[0].evse_id", "chargers[0].evses[1].evse_id"}},
		{desc: "EVSE max current zero", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].MaxCurrent = 0 }, want: []string{"chargers[0].evses[1].max_current"}},
		{desc: "EVSE max current above 1000 A", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].MaxCurrent = 1001 }, want: []string{"chargers[0].evses[1].max_current"}},
		{desc: "EVSE min above max", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].MinCurrent = 17 }, want: []string{"chargers[0].evses[1].min_current"}},
		{desc: "EVSE min below 1 A", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].MinCurrent = 0.5 }, want: []string{"chargers[0].evses[1].min_current"}},
		{desc: "EVSE max below default min", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].MinCurrent = 0; c.Chargers[0].EVSEs[1].MaxCurrent = 5 }, want: []string{"chargers[0].evses[1].min_current"}},
		{desc: "EVSE low max with explicit min", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].MinCurrent = 2; c.Chargers[0].EVSEs[1].MaxCurrent = 5 }},
		{desc: "EVSE two phases", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[0].Phases = 2 }, want: []string{"chargers[0].evses[0].can_switch_phases", "chargers[0].evses[0].phases"}},
		{desc: "EVSE switching on one phase", mutate: func(c *site.Config) { c.Chargers[0].EVSEs[1].CanSwitchPhases = true }, want: []string{"chargers[0].evses[1].can_switch_phases"}},

		{desc: "grid limit power only", mutate: func(c *site.Config) { c.Limits[0].Limit = site.PhaseCurrents{}; c.Limits[0].PowerLimit = 1000 }},
		{desc: "grid limit neither set", mutate: func(c *site.Config) { c.Limits[0].Limit = site.PhaseCurrents{} }, want: []string{"grid_limits[0].limit"}},
		{desc: "grid limit one phase unset", mutate: func(c *site.Config) { c.Limits[0].Limit[1] = 0 }, want: []string{"grid_limits[0].limit.l2"}},
		{desc: "grid limit negative phase", mutate: func(c *site.Config) { c.Limits[0].Limit[0] = -1 }, want: []string{"grid_limits[0].limit.l1"}},
		{desc: "grid limit negative power", mutate: func(c *site.Config) { c.Limits[1].PowerLimit = -1 }, want: []string{"grid_limits[1].power_limit_kw"}},
		{desc: "grid limit end before start", mutate: func(c *site.Config) { c.Limits[1].End = c.Limits[1].Start.Add(-time.Second) }, want: []string{"grid_limits[1].end_time"}},
		{desc: "grid limit end equals start", mutate: func(c *site.Config) { c.Limits[1].End = c.Limits[1].Start }, want: []string{"grid_limits[1].end_time"}},
		{desc: "grid limit open start", mutate: func(c *site.Config) { c.Limits[1].Start = time.Time{} }},
		{desc: "grid limit reason 257 runes", mutate: func(c *site.Config) { c.Limits[0].Reason = strings.Repeat("€", 257) }, want: []string{"grid_limits[0].reason"}},
		{desc: "grid limit source connection", mutate: func(c *site.Config) { c.Limits[0].Source = site.SourceConnection }, want: []string{"grid_limits[0].source"}},
		{desc: "grid limit duplicate ID", mutate: func(c *site.Config) { c.Limits[1].ID = "dso-cut" }, want: []string{"grid_limits[1].id"}},
		{desc: "grid limit bad ID", mutate: func(c *site.Config) { c.Limits[1].ID = "EMS" }, want: []string{"grid_limits[1].id"}},

		{desc: "every broken rule is listed", mutate: func(c *site.Config) {
			c.Site.ID = "X"
			c.Circuits[1].Parent = "missing"
			c.Chargers[0].EVSEs[0].Phases = 0
			c.Chargers[1].OCPPIdentity = "a:b"
			c.Limits[0].Reason = "\xfe"
		}, want: []string{"chargers[0].evses[0].can_switch_phases", "chargers[0].evses[0].phases", "chargers[1].ocpp_identity", "circuits[1].parent", "grid_limits[0].reason", "site.id"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			got := violations(t, c.Validate())
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("violations = %q, want %q\nerror: %v", got, want, c.Validate())
			}
		})
	}
}

func TestResourceValidate(t *testing.T) {
	good := validConfig()
	tests := []struct {
		desc string
		err  error
		want []string
	}{
		{desc: "site valid", err: good.Site.Validate()},
		{desc: "site fields have no prefix", err: site.Site{ID: "a", GridLimit: site.PhaseCurrents{1, 0, 1}}.Validate(), want: []string{"grid_limit.l2"}},
		{desc: "circuit valid", err: good.Circuits[1].Validate()},
		{desc: "circuit parent is not checked alone", err: site.Circuit{ID: "a", Parent: "gone", Limit: site.Uniform(1)}.Validate()},
		{desc: "circuit bad site ID", err: site.Circuit{SiteID: "A", ID: "a", Limit: site.Uniform(1)}.Validate(), want: []string{"site_id"}},
		{desc: "charger valid", err: good.Chargers[0].Validate()},
		{desc: "charger broken", err: site.Charger{ID: "c", OCPPIdentity: "x", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 4}}}.Validate(), want: []string{"evses[0].phases"}},
		{desc: "EVSE valid", err: site.EVSE{ID: 3, MaxCurrent: 16, Phases: 1}.Validate()},
		{desc: "EVSE ID 0", err: site.EVSE{ID: 0, MaxCurrent: 16, Phases: 1}.Validate(), want: []string{"evse_id"}},
		{desc: "grid limit valid", err: good.Limits[1].Validate()},
		{desc: "grid limit empty", err: site.GridLimit{}.Validate(), want: []string{"id", "limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := violations(t, tt.err); !slices.Equal(got, tt.want) {
				t.Errorf("violations = %q, want %q (%v)", got, tt.want, tt.err)
			}
		})
	}
}

func TestValidResourceID(t *testing.T) {
	tests := []struct {
		desc string
		id   string
		want bool
	}{
		{"one letter", "a", true},
		{"letters digits dashes", "a-1-b2", true},
		{"empty", "", false},
		{"leading dash", "-a", false},
		{"trailing dash", "a-", false},
		{"upper case", "aB", false},
		{"underscore", "a_b", false},
		{"leading digit", "9a", false},
		{"63 characters", "a" + strings.Repeat("0", 62), true},
		{"64 characters", "a" + strings.Repeat("0", 63), false},
		{"non-ASCII", "aé", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := site.ValidResourceID(tt.id); got != tt.want {
				t.Errorf("ValidResourceID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestSiteDefaults(t *testing.T) {
	tests := []struct {
		desc    string
		s       site.Site
		voltage site.Volts
		zone    string
	}{
		{desc: "zero values", s: site.Site{}, voltage: 230, zone: "UTC"},
		{desc: "set values", s: site.Site{NominalVoltage: 120, TimeZone: "America/New_York"}, voltage: 120, zone: "America/New_York"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := tt.s.EffectiveNominalVoltage(); got != tt.voltage {
				t.Errorf("EffectiveNominalVoltage = %v, want %v", got, tt.voltage)
			}
			loc, err := tt.s.Location()
			if err != nil || loc.String() != tt.zone {
				t.Errorf("Location = %v, %v; want %s", loc, err, tt.zone)
			}
		})
	}
}
