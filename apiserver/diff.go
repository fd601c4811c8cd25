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

// fieldDiff collects the names of the fields that differ; nil if none.
type fieldDiff []string

func (f *fieldDiff) add(field string, differs bool) {
	if differs {
		*f = append(*f, field)
	}
}

func diffSite(a, b site.Site) []string {
	var f fieldDiff
	f.add("display_name", a.DisplayName != b.DisplayName)
	f.add("time_zone", a.TimeZone != b.TimeZone)
	f.add("nominal_voltage", a.NominalVoltage != b.NominalVoltage)
	f.add("grid_limit", a.GridLimit != b.GridLimit)
	f.add("grid_power_limit_kw", a.GridPowerLimit != b.GridPowerLimit)
	return f
}

func diffCircuit(a, b site.Circuit) []string {
	var f fieldDiff
	f.add("display_name", a.DisplayName != b.DisplayName)
	f.add("parent", a.Parent != b.Parent)
	f.add("limit", a.Limit != b.Limit)
	f.add("power_limit_kw", a.PowerLimit != b.PowerLimit)
	f.add("oversubscribed", a.Oversubscribed != b.Oversubscribed)
	return f
}

func diffCharger(a, b site.Charger) []string {
	var f fieldDiff
	f.add("display_name", a.DisplayName != b.DisplayName)
	f.add("ocpp_identity", a.OCPPIdentity != b.OCPPIdentity)
	f.add("circuit", a.Circuit != b.Circuit)
	f.add("phase_rotation", a.PhaseRotation != b.PhaseRotation)
	f.add("evses", !slices.Equal(a.EVSEs, b.EVSEs))
	return f
}

func diffLimit(a, b site.GridLimit) []string {
	var f fieldDiff
	f.add("source", a.Source != b.Source)
	f.add("limit", a.Limit != b.Limit)
	f.add("power_limit_kw", a.PowerLimit != b.PowerLimit)
	f.add("start_time", !a.Start.Equal(b.Start))
	f.add("end_time", !a.End.Equal(b.End))
	f.add("reason", a.Reason != b.Reason)
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
