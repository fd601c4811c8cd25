package apiserver

import (
	"cmp"
	"slices"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// The diff functions name the API fields in which two versions of a
// resource differ, ignoring generations, times and (for chargers) the
// password hash.

func diffSite(a, b site.Site) []string {
	var f []string
	if a.DisplayName != b.DisplayName {
		f = append(f, "display_name")
	}
	if a.TimeZone != b.TimeZone {
		f = append(f, "time_zone")
	}
	if a.NominalVoltage != b.NominalVoltage {
		f = append(f, "nominal_voltage")
	}
	if a.GridLimit != b.GridLimit {
		f = append(f, "grid_limit")
	}
	if a.GridPowerLimit != b.GridPowerLimit {
		f = append(f, "grid_power_limit_kw")
	}
	return f
}

func diffCircuit(a, b site.Circuit) []string {
	var f []string
	if a.DisplayName != b.DisplayName {
		f = append(f, "display_name")
	}
	if a.Parent != b.Parent {
		f = append(f, "parent")
	}
	if a.Limit != b.Limit {
		f = append(f, "limit")
	}
	if a.PowerLimit != b.PowerLimit {
		f = append(f, "power_limit_kw")
	}
	if a.Oversubscribed != b.Oversubscribed {
		f = append(f, "oversubscribed")
	}
	return f
}

func diffCharger(a, b site.Charger) []string {
	var f []string
	if a.DisplayName != b.DisplayName {
		f = append(f, "display_name")
	}
	if a.OCPPIdentity != b.OCPPIdentity {
		f = append(f, "ocpp_identity")
	}
	if a.Circuit != b.Circuit {
		f = append(f, "circuit")
	}
	if a.PhaseRotation != b.PhaseRotation {
		f = append(f, "phase_rotation")
	}
	if !slices.Equal(a.EVSEs, b.EVSEs) {
		f = append(f, "evses")
	}
	return f
}

func diffLimit(a, b site.GridLimit) []string {
	var f []string
	if a.Source != b.Source {
		f = append(f, "source")
	}
	if a.Limit != b.Limit {
		f = append(f, "limit")
	}
	if a.PowerLimit != b.PowerLimit {
		f = append(f, "power_limit_kw")
	}
	if !a.Start.Equal(b.Start) {
		f = append(f, "start_time")
	}
	if !a.End.Equal(b.End) {
		f = append(f, "end_time")
	}
	if a.Reason != b.Reason {
		f = append(f, "reason")
	}
	return f
}

// sortedConfig returns c with its resources sorted by ID, in new slices.
func sortedConfig(c site.Config) site.Config {
	c.Circuits = slices.SortedFunc(slices.Values(c.Circuits), func(a, b site.Circuit) int { return cmp.Compare(a.ID, b.ID) })
	c.Chargers = slices.SortedFunc(slices.Values(c.Chargers), func(a, b site.Charger) int { return cmp.Compare(a.ID, b.ID) })
	c.Limits = slices.SortedFunc(slices.Values(c.Limits), func(a, b site.GridLimit) int { return cmp.Compare(a.ID, b.ID) })
	return c
}

// sortChanges orders changes: the site, then circuits, chargers and grid
// limits, each by name.
func sortChanges(ch []*pb.ConfigChange) []*pb.ConfigChange {
	rank := func(name string) int {
		for i, pat := range []string{patternCircuit, patternCharger, patternGridLimit} {
			if _, _, err := parseChildName(name, pat); err == nil {
				return i + 1
			}
		}
		return 0 // the site
	}
	slices.SortStableFunc(ch, func(a, b *pb.ConfigChange) int {
		return cmp.Or(cmp.Compare(rank(a.Name), rank(b.Name)), cmp.Compare(a.Name, b.Name))
	})
	return ch
}
