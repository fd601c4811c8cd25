package sitefile

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
	"pgregory.net/rapid"
)

// decodeOnly parses without running site.Config.Validate, so that configs
// the validator would refuse still test the format's round trip.
func decodeOnly(data []byte) (site.Config, error) {
	d := newDecoder("t.yaml")
	c, _ := d.decode(data)
	return c, d.err()
}

var rotations = []site.PhaseRotation{
	{}, {site.L1, site.L2, site.L3}, {site.L1, site.L3, site.L2}, {site.L2, site.L1, site.L3},
	{site.L2, site.L3, site.L1}, {site.L3, site.L1, site.L2}, {site.L3, site.L2, site.L1},
}

func genAmps(t *rapid.T, label string) site.Amps {
	return site.Amps(rapid.OneOf(
		rapid.Float64Range(-1e6, 1e6),
		rapid.SampledFrom([]float64{0, 6, 16, 32, 63, 0.1, 1e-7, 1e22, math.MaxFloat64, math.SmallestNonzeroFloat64}),
	).Draw(t, label))
}

func genPhaseCurrents(t *rapid.T, label string) site.PhaseCurrents {
	if rapid.Bool().Draw(t, label+"-uniform") {
		return site.Uniform(genAmps(t, label))
	}
	return site.PhaseCurrents{genAmps(t, label+"1"), genAmps(t, label+"2"), genAmps(t, label+"3")}
}

func genWatts(t *rapid.T, label string) site.Watts {
	return site.Watts(rapid.OneOf(
		rapid.Float64Range(0, 1e8),
		rapid.Float64(),
		rapid.SampledFrom([]float64{0, 1, 3, 69300, 0.1, 1e-9, 1.7e308}),
	).Draw(t, label))
}

func genTime(t *rapid.T, label string) time.Time {
	if rapid.Bool().Draw(t, label+"-zero") {
		return time.Time{}
	}
	sec := rapid.Int64Range(0, 4102444800).Draw(t, label)
	nsec := rapid.SampledFrom([]int64{0, 0, 1, 500_000_000, 123456789}).Draw(t, label+"-ns")
	return time.Unix(sec, nsec).UTC()
}

// genText is any valid UTF-8 string, including ones YAML would read as
// numbers, booleans or times unless quoted.
func genText(t *rapid.T, label string) string {
	return rapid.OneOf(
		rapid.String(),
		rapid.SampledFrom([]string{"", "0001", "true", "null", "~", "1e3", "- a", "a: b", "#x", " lead", "2026-01-01T00:00:00Z", "DEPOT-CP01"}),
	).Draw(t, label)
}

// genConfig draws any config a site file can hold, valid or not.
func genConfig(t *rapid.T) site.Config {
	var c site.Config
	c.Site = site.Site{
		ID:             genText(t, "site-id"),
		DisplayName:    genText(t, "site-name"),
		TimeZone:       genText(t, "tz"),
		NominalVoltage: site.Volts(genAmps(t, "voltage")),
		GridLimit:      genPhaseCurrents(t, "grid"),
		GridPowerLimit: genWatts(t, "grid-power"),
	}
	for i := range rapid.IntRange(0, 3).Draw(t, "circuits") {
		_ = i
		c.Circuits = append(c.Circuits, site.Circuit{
			SiteID:         c.Site.ID,
			ID:             genText(t, "circuit-id"),
			DisplayName:    genText(t, "circuit-name"),
			Parent:         genText(t, "parent"),
			Limit:          genPhaseCurrents(t, "circuit-limit"),
			PowerLimit:     genWatts(t, "circuit-power"),
			Oversubscribed: rapid.Bool().Draw(t, "oversubscribed"),
		})
	}
	for range rapid.IntRange(0, 3).Draw(t, "chargers") {
		ch := site.Charger{
			SiteID:        c.Site.ID,
			ID:            genText(t, "charger-id"),
			DisplayName:   genText(t, "charger-name"),
			OCPPIdentity:  genText(t, "identity"),
			Circuit:       genText(t, "circuit"),
			PhaseRotation: rapid.SampledFrom(rotations).Draw(t, "rotation"),
		}
		same := rapid.Bool().Draw(t, "same-evses")
		var first site.EVSE
		for j := range rapid.IntRange(0, 4).Draw(t, "evses") {
			e := site.EVSE{
				ID:              j + 1,
				MaxCurrent:      genAmps(t, "max"),
				MinCurrent:      genAmps(t, "min"),
				Phases:          rapid.IntRange(-1, 4).Draw(t, "phases"),
				CanSwitchPhases: rapid.Bool().Draw(t, "switch"),
			}
			if same && j > 0 {
				e = first
				e.ID = j + 1
			}
			if j == 0 {
				first = e
			}
			ch.EVSEs = append(ch.EVSEs, e)
		}
		c.Chargers = append(c.Chargers, ch)
	}
	for range rapid.IntRange(0, 3).Draw(t, "limits") {
		c.Limits = append(c.Limits, site.GridLimit{
			SiteID:     c.Site.ID,
			ID:         genText(t, "limit-id"),
			Source:     rapid.SampledFrom([]site.LimitSource{site.SourceOwner, site.SourceEMS, site.SourceGridOperator}).Draw(t, "source"),
			Limit:      genPhaseCurrents(t, "limit"),
			PowerLimit: genWatts(t, "limit-power"),
			Start:      genTime(t, "start"),
			End:        genTime(t, "end"),
			Reason:     genText(t, "reason"),
		})
	}
	return c
}

// TestMarshalRoundTrip: a site file written by Marshal reads back to the
// same config, exactly (kW to W without rounding errors, strings that look
// like numbers, all shorthands).
func TestMarshalRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConfig(t)
		data, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := decodeOnly(data)
		if err != nil {
			t.Fatalf("reading back:\n%s\n%v", data, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip changed the config\nfile:\n%s\ngot  %+v\nwant %+v", data, got, c)
		}
	})
}

// TestMarshalRoundTripValid: for valid configs the whole Parse (with
// validation) gives the config back.
func TestMarshalRoundTripValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genValidConfig(t)
		if err := c.Validate(); err != nil {
			t.Fatalf("generator made an invalid config: %v", err)
		}
		data, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := Parse("t.yaml", data)
		if err != nil {
			t.Fatalf("Parse:\n%s\n%v", data, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip changed the config\nfile:\n%s\ngot  %+v\nwant %+v", data, got, c)
		}
	})
}

func genID(t *rapid.T, label string) string {
	return rapid.StringMatching(`[a-z][a-z0-9-]{0,10}[a-z0-9]`).Draw(t, label)
}

// genValidConfig draws configs that pass site.Config.Validate: unique IDs,
// a circuit tree whose limits fit under their parents, sensible currents.
func genValidConfig(t *rapid.T) site.Config {
	grid := site.Amps(rapid.IntRange(16, 400).Draw(t, "grid"))
	c := site.Config{Site: site.Site{
		ID:             genID(t, "site-id"),
		DisplayName:    rapid.StringMatching(`[A-Za-z0-9 ]{0,20}`).Draw(t, "name"),
		TimeZone:       rapid.SampledFrom([]string{"", "UTC", "Europe/Berlin"}).Draw(t, "tz"),
		NominalVoltage: site.Volts(rapid.SampledFrom([]float64{0, 230, 120, 240.5}).Draw(t, "voltage")),
		GridLimit:      site.Uniform(grid),
		GridPowerLimit: site.Watts(rapid.IntRange(0, 1_000_000).Draw(t, "grid-power")),
	}}
	ids := map[string]bool{}
	uniq := func(label string) string {
		for {
			id := genID(t, label)
			if !ids[id] {
				ids[id] = true
				return id
			}
		}
	}
	var circuitIDs []string
	for i := range rapid.IntRange(0, 4).Draw(t, "circuits") {
		ci := site.Circuit{SiteID: c.Site.ID, ID: uniq("circuit-id"), Limit: site.Uniform(grid)}
		if i > 0 && rapid.Bool().Draw(t, "has-parent") {
			ci.Parent = circuitIDs[rapid.IntRange(0, i-1).Draw(t, "parent")]
		}
		ci.Limit[rapid.IntRange(0, 2).Draw(t, "phase")] = grid / 2
		ci.Limit = site.PhaseCurrents{min(ci.Limit[0], grid/2), ci.Limit[1], ci.Limit[2]}
		if ci.Parent != "" {
			ci.Limit = site.Uniform(grid / 2) // parents are at most grid, at least grid/2
		}
		ci.PowerLimit = site.Watts(rapid.IntRange(0, 500_000).Draw(t, "circuit-power")) / 10
		c.Circuits = append(c.Circuits, ci)
		circuitIDs = append(circuitIDs, ci.ID)
	}
	for i := range rapid.IntRange(0, 5).Draw(t, "chargers") {
		ch := site.Charger{
			SiteID:        c.Site.ID,
			ID:            uniq("charger-id"),
			OCPPIdentity:  "CP-" + string(rune('A'+i)),
			PhaseRotation: rapid.SampledFrom(rotations).Draw(t, "rotation"),
		}
		if len(circuitIDs) > 0 && rapid.Bool().Draw(t, "on-circuit") {
			ch.Circuit = rapid.SampledFrom(circuitIDs).Draw(t, "circuit")
		}
		for j := range rapid.IntRange(1, 4).Draw(t, "evses") {
			phases := rapid.SampledFrom([]int{1, 3}).Draw(t, "phases")
			ch.EVSEs = append(ch.EVSEs, site.EVSE{
				ID:              j + 1,
				MaxCurrent:      site.Amps(rapid.IntRange(6, 80).Draw(t, "max")),
				MinCurrent:      site.Amps(rapid.SampledFrom([]float64{0, 1, 6, 5.5}).Draw(t, "min")),
				Phases:          phases,
				CanSwitchPhases: phases == 3 && rapid.Bool().Draw(t, "switch"),
			})
		}
		c.Chargers = append(c.Chargers, ch)
	}
	for range rapid.IntRange(0, 3).Draw(t, "limits") {
		start := genTime(t, "start")
		l := site.GridLimit{
			SiteID: c.Site.ID,
			ID:     uniq("limit-id"),
			Source: rapid.SampledFrom([]site.LimitSource{site.SourceOwner, site.SourceEMS, site.SourceGridOperator}).Draw(t, "source"),
			Limit:  site.Uniform(site.Amps(rapid.Float64Range(0.5, 100).Draw(t, "limit"))),
			Start:  start,
			Reason: rapid.StringMatching(`[a-z ]{0,30}`).Draw(t, "reason"),
		}
		if !start.IsZero() {
			l.End = start.Add(time.Duration(rapid.IntRange(1, 86400).Draw(t, "duration")) * time.Second)
		}
		c.Limits = append(c.Limits, l)
	}
	return c
}

func TestMarshalRefuses(t *testing.T) {
	base := site.Config{Site: site.Site{ID: "s", GridLimit: site.Uniform(10)}}
	tests := []struct {
		name   string
		change func(c *site.Config)
		want   string
	}{
		{"EVSE ids out of order", func(c *site.Config) {
			c.Chargers = []site.Charger{{ID: "c", EVSEs: []site.EVSE{{ID: 2}}}}
		}, "numbers EVSEs"},
		{"connection source", func(c *site.Config) {
			c.Limits = []site.GridLimit{{ID: "l", Source: site.SourceConnection}}
		}, "grid_limits[0].source"},
		{"NaN current", func(c *site.Config) { c.Site.GridLimit[1] = site.Amps(math.NaN()) }, "cannot be written"},
		{"bad rotation", func(c *site.Config) {
			c.Chargers = []site.Charger{{ID: "c", PhaseRotation: site.PhaseRotation{site.L1, site.L1, site.L2}}}
		}, "phase_rotation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			_, err := Marshal(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMarshalExamplesStable(t *testing.T) {
	for _, name := range []string{"demo-depot.yaml", "office.yaml", "oversubscribed.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse(name, readExample(t, name))
			if err != nil {
				t.Fatal(err)
			}
			data, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(name, data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if !reflect.DeepEqual(again, c) {
				t.Errorf("round trip changed %s:\n%s", name, data)
			}
		})
	}
}

// TestMarshalTrickyStrings: texts YAML would read differently, or whose
// block style the YAML library cannot read back (found by rapid: "\t\n").
func TestMarshalTrickyStrings(t *testing.T) {
	for _, s := range []string{"\t\n", " lead", "trail ", "a\nb", "line\r\n", "\u0085x", "x\u2028y", "123", "true", "~", "null", "- x", "a: b", "#c", "'q'", "\"dq\"", "é ☀"} {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			c := site.Config{Site: site.Site{ID: "s", DisplayName: s, TimeZone: s}, Limits: []site.GridLimit{{SiteID: "s", ID: s, Source: site.SourceEMS, Reason: s}}}
			data, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeOnly(data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("got %+v\nfile:\n%s", got, data)
			}
		})
	}
}
