package apiserver

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smartcharge/smartcharge/site"
)

// Bounds on inputs. They keep out typos (a fuse of 16000 A) and absurd
// sizes, not real installations.
const (
	maxDisplayName   = 200
	maxReason        = 500
	maxCurrent       = 100000 // A, a grid connection
	maxEVSECurrent   = 1000   // A per EVSE phase
	maxVoltage       = 1000   // V phase to neutral
	maxPowerKW       = 1e6    // kW
	maxIdentity      = 48     // OCPP 2.0.1 identity: string[0..48]
	maxEVSEs         = 64
	minPasswordLen   = 16 // OCPP A00.FR.205
	maxPasswordLen   = 64 // OCPP 2.0.1: BasicAuthPassword maxLimit <= 64
	maxResources     = 10000
	defaultVoltage   = 230
	passwordAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-_=:+|@."
)

// validateConfig checks a whole site configuration against the domain's
// rules and returns every violation, with paths such as
// "site.grid_limit.l1", "circuits[2].parent" and "chargers[0].evses[1].phases"
// (see relocate for how they become request fields).
func validateConfig(c *site.Config) *site.ValidationError {
	v := &site.ValidationError{}
	validateSite(&c.Site, "site", v)
	n := len(c.Circuits) + len(c.Chargers) + len(c.Limits)
	if n > maxResources {
		v.Add("site", "at most %d circuits, chargers and grid limits together, got %d", maxResources, n)
		return v
	}

	circuits := map[string]int{}
	for i, x := range c.Circuits {
		f := fmt.Sprintf("circuits[%d]", i)
		checkChildID(x.ID, f, circuits, i, v)
	}
	for i, x := range c.Circuits {
		validateCircuit(c, i, x, fmt.Sprintf("circuits[%d]", i), circuits, v)
	}

	chargers := map[string]int{}
	identities := map[string]int{}
	for i, x := range c.Chargers {
		f := fmt.Sprintf("chargers[%d]", i)
		checkChildID(x.ID, f, chargers, i, v)
		validateCharger(x, f, circuits, v)
		if x.OCPPIdentity != "" {
			if j, dup := identities[x.OCPPIdentity]; dup {
				v.Add(f+".ocpp_identity", "%q is used by chargers[%d] too", x.OCPPIdentity, j)
			} else {
				identities[x.OCPPIdentity] = i
			}
		}
	}

	limits := map[string]int{}
	for i, x := range c.Limits {
		f := fmt.Sprintf("grid_limits[%d]", i)
		checkChildID(x.ID, f, limits, i, v)
		validateGridLimit(x, f, v)
	}
	return v
}

func checkChildID(id, f string, seen map[string]int, i int, v *site.ValidationError) {
	switch {
	case !validID(id):
		v.Add(f+".name", "ID %q %s", id, idRule)
	default:
		if j, dup := seen[id]; dup {
			v.Add(f+".name", "ID %q is used by [%d] too", id, j)
			return
		}
		seen[id] = i
	}
}

func validateSite(s *site.Site, f string, v *site.ValidationError) {
	if !validID(s.ID) {
		v.Add(f+".name", "ID %q %s", s.ID, idRule)
	}
	checkText(s.DisplayName, maxDisplayName, f+".display_name", v)
	switch {
	case s.TimeZone == "":
		v.Add(f+".time_zone", "required, an IANA time zone such as \"Europe/Berlin\"")
	default:
		if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
			v.Add(f+".time_zone", "%q is not an IANA time zone such as \"Europe/Berlin\"", s.TimeZone)
		}
	}
	if !finite(float64(s.NominalVoltage)) || s.NominalVoltage <= 0 || s.NominalVoltage > maxVoltage {
		v.Add(f+".nominal_voltage", "must be above 0 and at most %d V", maxVoltage)
	}
	checkCurrents(s.GridLimit, maxCurrent, f+".grid_limit", true, v)
	checkPower(s.GridPowerLimit, f+".grid_power_limit_kw", v)
}

func validateCircuit(c *site.Config, i int, x site.Circuit, f string, ids map[string]int, v *site.ValidationError) {
	checkText(x.DisplayName, maxDisplayName, f+".display_name", v)
	checkCurrents(x.Limit, maxCurrent, f+".limit", true, v)
	checkPower(x.PowerLimit, f+".power_limit_kw", v)
	parentLimit := c.Site.GridLimit
	parentName := "the grid connection"
	if x.Parent != "" {
		j, ok := ids[x.Parent]
		switch {
		case x.Parent == x.ID:
			v.Add(f+".parent", "a circuit cannot be its own parent")
			return
		case !ok:
			v.Add(f+".parent", "no circuit %q in the site", x.Parent)
			return
		}
		if cyc := cycleFrom(c, i, ids); cyc != "" {
			v.Add(f+".parent", "makes a cycle: %s", cyc)
			return
		}
		parentLimit = c.Circuits[j].Limit
		parentName = "parent circuit " + x.Parent
	}
	if x.Oversubscribed {
		return
	}
	for k, name := range []string{"l1", "l2", "l3"} {
		if x.Limit[k] > parentLimit[k] {
			v.Add(f+".limit."+name, "%g A exceeds the %g A of %s; set oversubscribed to allow it",
				float64(x.Limit[k]), float64(parentLimit[k]), parentName)
		}
	}
}

// cycleFrom follows parents from circuit i and describes the cycle it runs
// into, or returns "".
func cycleFrom(c *site.Config, i int, ids map[string]int) string {
	seen := map[string]bool{}
	path := []string{}
	for cur := c.Circuits[i]; ; {
		if seen[cur.ID] {
			path = append(path, cur.ID)
			if path[0] != cur.ID {
				return "" // a cycle further up, reported on its own members
			}
			return strings.Join(path, " -> ")
		}
		seen[cur.ID] = true
		path = append(path, cur.ID)
		j, ok := ids[cur.Parent]
		if cur.Parent == "" || !ok {
			return ""
		}
		cur = c.Circuits[j]
	}
}

func validateCharger(x site.Charger, f string, circuits map[string]int, v *site.ValidationError) {
	checkText(x.DisplayName, maxDisplayName, f+".display_name", v)
	if err := checkIdentity(x.OCPPIdentity); err != "" {
		v.Add(f+".ocpp_identity", "%s", err)
	}
	if x.Circuit != "" {
		if _, ok := circuits[x.Circuit]; !ok {
			v.Add(f+".circuit", "no circuit %q in the site", x.Circuit)
		}
	}
	if !x.PhaseRotation.Valid() {
		v.Add(f+".phase_rotation", "must be a permutation of L1, L2, L3")
	}
	switch {
	case len(x.EVSEs) == 0:
		v.Add(f+".evses", "at least one EVSE is required")
	case len(x.EVSEs) > maxEVSEs:
		v.Add(f+".evses", "at most %d EVSEs", maxEVSEs)
	}
	for j, e := range x.EVSEs {
		ef := fmt.Sprintf("%s.evses[%d]", f, j)
		if e.ID != j+1 {
			v.Add(ef+".evse_id", "must be %d: EVSEs are numbered from 1 in order", j+1)
		}
		if !finite(float64(e.MaxCurrent)) || e.MaxCurrent <= 0 || e.MaxCurrent > maxEVSECurrent {
			v.Add(ef+".max_current", "must be above 0 and at most %d A", maxEVSECurrent)
		} else if e.MinCurrent == 0 && e.MaxCurrent < site.DefaultMinCurrent {
			v.Add(ef+".max_current", "%g A is below the IEC 61851 minimum of %g A; set min_current", float64(e.MaxCurrent), float64(site.DefaultMinCurrent))
		}
		if !finite(float64(e.MinCurrent)) || e.MinCurrent < 0 {
			v.Add(ef+".min_current", "must be 0 (meaning 6 A) or more")
		} else if e.MinCurrent > e.MaxCurrent {
			v.Add(ef+".min_current", "%g A exceeds max_current %g A", float64(e.MinCurrent), float64(e.MaxCurrent))
		}
		if e.Phases != 1 && e.Phases != 3 {
			v.Add(ef+".phases", "must be 1 or 3")
		}
		if e.CanSwitchPhases && e.Phases != 3 {
			v.Add(ef+".can_switch_phases", "needs phases = 3")
		}
	}
}

// checkIdentity returns what is wrong with an OCPP identity, or "".
// The identity is a path segment of the charger's WebSocket URL and the
// user name of HTTP Basic auth, hence no '/' and no ':'.
func checkIdentity(id string) string {
	if id == "" {
		return "required"
	}
	if len(id) > maxIdentity {
		return fmt.Sprintf("at most %d characters", maxIdentity)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' || r == ':' || r == '/' || r == '%' || r == '?' || r == '#' {
			return fmt.Sprintf("%q: only printable ASCII without spaces, ':', '/', '%%', '?' and '#'", id)
		}
	}
	return ""
}

// checkPassword returns what is wrong with an OCPP Basic auth password, or
// "" (OCPP 2.0.1 A00.FR.205 and passwordString).
func checkPassword(pw string) string {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return fmt.Sprintf("must be %d to %d characters (OCPP A00.FR.205)", minPasswordLen, maxPasswordLen)
	}
	for _, r := range pw {
		if !strings.ContainsRune(passwordAlphabet, r) {
			return "only a-z A-Z 0-9 * - _ = : + | @ . are allowed (OCPP passwordString)"
		}
	}
	return ""
}

func validateGridLimit(x site.GridLimit, f string, v *site.ValidationError) {
	switch x.Source {
	case site.SourceOwner, site.SourceEMS, site.SourceGridOperator:
	case site.SourceUnspecified:
		v.Add(f+".source", "required: OWNER, EMS or GRID_OPERATOR")
	default:
		v.Add(f+".source", "must be OWNER, EMS or GRID_OPERATOR")
	}
	checkCurrents(x.Limit, maxCurrent, f+".limit", false, v)
	checkPower(x.PowerLimit, f+".power_limit_kw", v)
	if x.Limit == (site.PhaseCurrents{}) && x.PowerLimit == 0 {
		v.Add(f+".limit", "set a limit on at least one phase, or power_limit_kw")
	}
	if !x.Start.IsZero() && !x.End.IsZero() && !x.End.After(x.Start) {
		v.Add(f+".end_time", "must be after start_time")
	}
	checkText(x.Reason, maxReason, f+".reason", v)
}

func checkCurrents(c site.PhaseCurrents, limit float64, f string, needOne bool, v *site.ValidationError) {
	for k, name := range []string{"l1", "l2", "l3"} {
		a := float64(c[k])
		if !finite(a) || a < 0 || a > limit {
			v.Add(f+"."+name, "must be 0 to %g A", limit)
		}
	}
	if needOne && c.Max() <= 0 {
		v.Add(f, "required: a limit above 0 A on at least one phase")
	}
}

func checkPower(w site.Watts, f string, v *site.ValidationError) {
	k := kw(w)
	if !finite(k) || k < 0 || k > maxPowerKW {
		v.Add(f, "must be 0 (none) to %g kW", float64(maxPowerKW))
	}
}

func checkText(s string, n int, f string, v *site.ValidationError) {
	switch {
	case !utf8.ValidString(s):
		v.Add(f, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > n:
		v.Add(f, "at most %d characters", n)
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
