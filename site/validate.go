package site

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits checked by Validate. They keep obviously wrong numbers (a typo with
// three extra zeros, a value in W where A was meant) out of the store.
const (
	// MaxDisplayNameRunes is the longest display name.
	MaxDisplayNameRunes = 128
	// MaxReasonRunes is the longest GridLimit.Reason.
	MaxReasonRunes = 256
	// MaxPhaseCurrent is the highest per-phase limit of a grid connection,
	// circuit or grid limit.
	MaxPhaseCurrent Amps = 10_000
	// MaxPower is the highest power limit of a site, circuit or grid limit.
	MaxPower Watts = 10_000_000
	// MinNominalVoltage and MaxNominalVoltage bound Site.NominalVoltage
	// (phase to neutral) when it is set.
	MinNominalVoltage Volts = 100
	MaxNominalVoltage Volts = 400
	// DefaultNominalVoltage is used when Site.NominalVoltage is 0.
	DefaultNominalVoltage Volts = 230
	// MaxEVSEs is the most EVSEs one charger may have.
	MaxEVSEs = 32
	// MaxEVSECurrent is the highest MaxCurrent of an EVSE.
	MaxEVSECurrent Amps = 1000
	// MaxOCPPIdentityLen is the longest OCPP identity (OCPP 2.0.1 Part 4:
	// identifierString of at most 48 characters).
	MaxOCPPIdentityLen = 48
	// MaxResourceIDLen is the longest resource ID (AIP-122).
	MaxResourceIDLen = 63
)

// EffectiveNominalVoltage returns NominalVoltage, or DefaultNominalVoltage
// when it is 0.
func (s Site) EffectiveNominalVoltage() Volts {
	if s.NominalVoltage == 0 {
		return DefaultNominalVoltage
	}
	return s.NominalVoltage
}

// Location returns the site's time zone; "" means UTC. It fails only for a
// site that does not pass Validate.
func (s Site) Location() (*time.Location, error) {
	if s.TimeZone == "" {
		return time.UTC, nil
	}
	if s.TimeZone == "Local" {
		return nil, fmt.Errorf("site: time zone %q: want an IANA name", s.TimeZone)
	}
	return time.LoadLocation(s.TimeZone)
}

// ValidResourceID reports whether id is an AIP-122 resource ID: 1 to 63
// characters of a-z, 0-9 and '-', starting with a letter and not ending with
// '-' (the regular expression ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$).
func ValidResourceID(id string) bool {
	if len(id) == 0 || len(id) > MaxResourceIDLen {
		return false
	}
	if id[0] < 'a' || id[0] > 'z' || id[len(id)-1] == '-' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// ValidOCPPIdentity reports whether id can be a charger's OCPP identity: 1
// to 48 printable ASCII characters without space, '/', '?', '#' and ':'.
// The identity is the last path segment of the charger's WebSocket URL
// (OCPP-J 1.6 and OCPP 2.0.1 Part 4, at most 48 characters) and the user
// name of HTTP Basic authentication, where ':' separates the password.
// Identities are compared byte for byte (case-sensitive), after the URL
// path segment has been unescaped.
func ValidOCPPIdentity(id string) bool {
	if len(id) == 0 || len(id) > MaxOCPPIdentityLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '/', '?', '#', ':':
			return false
		}
	}
	return true
}

// finite reports whether f is neither NaN nor infinite.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// phaseField names phase i of a per-phase field: "limit.l1".
func phaseField(prefix string, i int) string { return fmt.Sprintf("%sl%d", prefix, i+1) }

func checkID(v *ValidationError, field, id string) {
	if !ValidResourceID(id) {
		v.Add(field, "must be 1 to 63 characters of a-z, 0-9 and '-', start with a letter and not end with '-' (AIP-122), got %q", id)
	}
}

func checkRefID(v *ValidationError, field, id string) {
	if id != "" && !ValidResourceID(id) {
		v.Add(field, "must be empty or a resource ID (AIP-122), got %q", id)
	}
}

func checkText(v *ValidationError, field, s string, maxRunes int) {
	if !utf8.ValidString(s) {
		v.Add(field, "must be valid UTF-8")
		return
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		v.Add(field, "must be at most %d characters, got %d", maxRunes, n)
	}
}

// checkPositiveLimit checks a per-phase limit that must be set on every
// phase: 0 < x <= MaxPhaseCurrent.
func checkPositiveLimit(v *ValidationError, prefix string, l PhaseCurrents) {
	for i, a := range l {
		if !finite(float64(a)) || a <= 0 || a > MaxPhaseCurrent {
			v.Add(phaseField(prefix, i), "must be above 0 and at most %g A, got %g", float64(MaxPhaseCurrent), float64(a))
		}
	}
}

// checkPower checks a power limit; the API gives it in kW.
func checkPower(v *ValidationError, field string, w Watts) {
	if !finite(float64(w)) || w < 0 || w > MaxPower {
		v.Add(field, "must be 0 (none) or above 0 and at most %g kW, got %g kW", float64(MaxPower)/1000, float64(w)/1000)
	}
}

func checkSiteID(v *ValidationError, field, siteID, want string) {
	switch {
	case want != "" && siteID != "" && siteID != want:
		v.Add(field, "must be empty or the site's ID %q, got %q", want, siteID)
	case want == "":
		checkRefID(v, field, siteID)
	}
}

// Validate checks the site's own fields. Field paths have no prefix
// ("grid_limit.l1").
func (s Site) Validate() error {
	var v ValidationError
	s.validate(&v, "")
	return v.Err()
}

func (s Site) validate(v *ValidationError, p string) {
	checkID(v, p+"id", s.ID)
	checkText(v, p+"display_name", s.DisplayName, MaxDisplayNameRunes)
	if s.TimeZone != "" {
		if _, err := s.Location(); err != nil {
			v.Add(p+"time_zone", "must be empty (UTC) or an IANA time zone such as \"Europe/Berlin\", got %q", s.TimeZone)
		}
	}
	if u := s.NominalVoltage; !finite(float64(u)) || (u != 0 && (u < MinNominalVoltage || u > MaxNominalVoltage)) {
		v.Add(p+"nominal_voltage", "must be 0 (default %g V) or %g to %g V, got %g",
			float64(DefaultNominalVoltage), float64(MinNominalVoltage), float64(MaxNominalVoltage), float64(u))
	}
	checkPositiveLimit(v, p+"grid_limit.", s.GridLimit)
	checkPower(v, p+"grid_power_limit_kw", s.GridPowerLimit)
}

// Validate checks the circuit's own fields; whether its parent exists and
// its limit fits under the parent's is checked by [Config.Validate].
func (c Circuit) Validate() error {
	var v ValidationError
	c.validate(&v, "", "")
	return v.Err()
}

func (c Circuit) validate(v *ValidationError, p, siteID string) {
	checkSiteID(v, p+"site_id", c.SiteID, siteID)
	checkID(v, p+"id", c.ID)
	checkText(v, p+"display_name", c.DisplayName, MaxDisplayNameRunes)
	checkRefID(v, p+"parent", c.Parent)
	if c.Parent != "" && c.Parent == c.ID {
		v.Add(p+"parent", "must not be the circuit itself")
	}
	checkPositiveLimit(v, p+"limit.", c.Limit)
	checkPower(v, p+"power_limit_kw", c.PowerLimit)
}

// Validate checks the charger's own fields; whether its circuit exists and
// its identity is unique is checked by [Config.Validate] and the store.
func (c Charger) Validate() error {
	var v ValidationError
	c.validate(&v, "", "")
	return v.Err()
}

func (c Charger) validate(v *ValidationError, p, siteID string) {
	checkSiteID(v, p+"site_id", c.SiteID, siteID)
	checkID(v, p+"id", c.ID)
	checkText(v, p+"display_name", c.DisplayName, MaxDisplayNameRunes)
	if !ValidOCPPIdentity(c.OCPPIdentity) {
		v.Add(p+"ocpp_identity", "must be 1 to %d printable ASCII characters without space, '/', '?', '#' or ':', got %q",
			MaxOCPPIdentityLen, c.OCPPIdentity)
	}
	checkRefID(v, p+"circuit", c.Circuit)
	if !c.PhaseRotation.Valid() {
		v.Add(p+"phase_rotation", "must be unknown or a permutation of L1, L2, L3, got %v", [3]Phase(c.PhaseRotation))
	}
	if n := len(c.EVSEs); n < 1 || n > MaxEVSEs {
		v.Add(p+"evses", "must have 1 to %d EVSEs, got %d", MaxEVSEs, n)
	}
	for i, e := range c.EVSEs {
		if i >= MaxEVSEs {
			break
		}
		e.validate(v, fmt.Sprintf("%sevses[%d].", p, i), i+1)
	}
	if len(c.PasswordHash) > 1024 || strings.ContainsAny(c.PasswordHash, "\x00\n\r") {
		v.Add(p+"ocpp_password", "must be at most 1024 bytes on one line")
	}
}

// Validate checks the EVSE's fields; its ID is checked against its place
// by [Charger.Validate].
func (e EVSE) Validate() error {
	var v ValidationError
	e.validate(&v, "", 0)
	return v.Err()
}

// validate checks e; wantID > 0 is the ID its position requires.
func (e EVSE) validate(v *ValidationError, p string, wantID int) {
	switch {
	case wantID > 0 && e.ID != wantID:
		v.Add(p+"evse_id", "must be %d: EVSEs are numbered from 1 in order, got %d", wantID, e.ID)
	case e.ID < 1 || e.ID > MaxEVSEs:
		v.Add(p+"evse_id", "must be 1 to %d, got %d", MaxEVSEs, e.ID)
	}
	maxOK := finite(float64(e.MaxCurrent)) && e.MaxCurrent > 0 && e.MaxCurrent <= MaxEVSECurrent
	if !maxOK {
		v.Add(p+"max_current", "must be above 0 and at most %g A, got %g", float64(MaxEVSECurrent), float64(e.MaxCurrent))
	}
	switch {
	case !finite(float64(e.MinCurrent)) || (e.MinCurrent != 0 && e.MinCurrent < 1):
		v.Add(p+"min_current", "must be 0 (default %g A) or at least 1 A, got %g", float64(DefaultMinCurrent), float64(e.MinCurrent))
	case maxOK && e.MinCurrent > e.MaxCurrent:
		v.Add(p+"min_current", "must be at most max_current (%g A), got %g", float64(e.MaxCurrent), float64(e.MinCurrent))
	case maxOK && e.MinCurrent == 0 && e.MaxCurrent < DefaultMinCurrent:
		// A car could never charge: the default minimum is above the maximum.
		v.Add(p+"min_current", "must be set (1 A to max_current) when max_current is below the default minimum of %g A",
			float64(DefaultMinCurrent))
	}
	if e.Phases != 1 && e.Phases != 3 {
		v.Add(p+"phases", "must be 1 or 3, got %d", e.Phases)
	}
	if e.CanSwitchPhases && e.Phases != 3 {
		v.Add(p+"can_switch_phases", "needs phases 3: an EVSE wired with one phase cannot switch to three")
	}
}

// Validate checks the grid limit's fields. The rule for Limit: either every
// phase is above 0, or all three are 0 and PowerLimit is above 0 (a pure
// power limit). A phase cannot be left unlimited on its own.
func (l GridLimit) Validate() error {
	var v ValidationError
	l.validate(&v, "", "")
	return v.Err()
}

func (l GridLimit) validate(v *ValidationError, p, siteID string) {
	checkSiteID(v, p+"site_id", l.SiteID, siteID)
	checkID(v, p+"id", l.ID)
	if l.Source < SourceUnspecified || l.Source >= SourceConnection {
		v.Add(p+"source", "must be unspecified, owner, ems or grid-operator, got %d", int(l.Source))
	}
	if l.Limit == (PhaseCurrents{}) {
		if l.PowerLimit == 0 {
			v.Add(p+"limit", "must be set on every phase, or power_limit_kw must be set")
		}
	} else {
		checkPositiveLimit(v, p+"limit.", l.Limit)
	}
	checkPower(v, p+"power_limit_kw", l.PowerLimit)
	if !l.Start.IsZero() && !l.End.IsZero() && !l.End.After(l.Start) {
		v.Add(p+"end_time", "must be after start_time")
	}
	checkText(v, p+"reason", l.Reason, MaxReasonRunes)
}

// Validate checks the whole configuration: every resource's own fields,
// unique IDs, the circuit tree (parents exist, no cycles, a child's limit
// not above its parent's on any phase unless Oversubscribed; the grid
// connection is the parent of top-level circuits), chargers' circuits and
// OCPP identities unique within the site. Identity uniqueness across sites
// is the store's job.
//
// Field paths start with "site.", "circuits[i].", "chargers[i]." or
// "grid_limits[i]." where i is the index in c. Resources' SiteID may be
// empty (the store fills it in) or the site's ID. Every broken rule is
// listed; the error is a *ValidationError.
func (c Config) Validate() error {
	var v ValidationError
	c.Site.validate(&v, "site.")
	siteID := c.Site.ID
	if siteID == "" {
		siteID = "\x00" // no resource may claim a site ID then
	}

	circuits := make(map[string]int, len(c.Circuits))
	for i, ci := range c.Circuits {
		p := fmt.Sprintf("circuits[%d].", i)
		ci.validate(&v, p, siteID)
		if j, dup := circuits[ci.ID]; dup {
			v.Add(p+"id", "must be unique: circuits[%d] has ID %q too", j, ci.ID)
			continue
		}
		circuits[ci.ID] = i
	}
	c.validateTree(&v, circuits)

	chargers := make(map[string]int, len(c.Chargers))
	identities := make(map[string]int, len(c.Chargers))
	for i, ch := range c.Chargers {
		p := fmt.Sprintf("chargers[%d].", i)
		ch.validate(&v, p, siteID)
		if j, dup := chargers[ch.ID]; dup {
			v.Add(p+"id", "must be unique: chargers[%d] has ID %q too", j, ch.ID)
		} else {
			chargers[ch.ID] = i
		}
		if ch.Circuit != "" {
			if _, ok := circuits[ch.Circuit]; !ok {
				v.Add(p+"circuit", "must name a circuit of the site or be empty (grid connection): no circuit %q", ch.Circuit)
			}
		}
		if ch.OCPPIdentity != "" {
			if j, dup := identities[ch.OCPPIdentity]; dup {
				v.Add(p+"ocpp_identity", "must be unique: chargers[%d] has identity %q too", j, ch.OCPPIdentity)
			} else {
				identities[ch.OCPPIdentity] = i
			}
		}
	}

	limits := make(map[string]int, len(c.Limits))
	for i, l := range c.Limits {
		p := fmt.Sprintf("grid_limits[%d].", i)
		l.validate(&v, p, siteID)
		if j, dup := limits[l.ID]; dup {
			v.Add(p+"id", "must be unique: grid_limits[%d] has ID %q too", j, l.ID)
		} else {
			limits[l.ID] = i
		}
	}
	return v.Err()
}

// validateTree checks parents, cycles and child-under-parent limits.
// byID maps each circuit ID to the index of its first occurrence.
func (c Config) validateTree(v *ValidationError, byID map[string]int) {
	const (
		unvisited = iota
		onPath
		done
		inCycle
	)
	state := make([]int, len(c.Circuits))
	var path []int
	for start := range c.Circuits {
		if state[start] != unvisited {
			continue
		}
		path = path[:0]
		i := start
		for {
			if state[i] != unvisited {
				if state[i] == onPath {
					// The path from i onwards is a cycle.
					k := len(path) - 1
					for path[k] != i {
						k--
					}
					cyc := path[k:]
					ids := make([]string, 0, len(cyc)+1)
					for _, j := range cyc {
						ids = append(ids, c.Circuits[j].ID)
					}
					ids = append(ids, c.Circuits[i].ID)
					for _, j := range cyc {
						state[j] = inCycle
						v.Add(fmt.Sprintf("circuits[%d].parent", j), "must not form a cycle: %s", strings.Join(ids, " -> "))
					}
				}
				break
			}
			state[i] = onPath
			path = append(path, i)
			parent := c.Circuits[i].Parent
			if parent == "" {
				break
			}
			j, ok := byID[parent]
			if !ok {
				v.Add(fmt.Sprintf("circuits[%d].parent", i), "must name a circuit of the site or be empty (grid connection): no circuit %q", parent)
				break
			}
			i = j
		}
		for _, j := range path {
			if state[j] == onPath {
				state[j] = done
			}
		}
	}

	for i, ci := range c.Circuits {
		if ci.Oversubscribed || state[i] == inCycle {
			continue
		}
		if j, ok := byID[ci.ID]; !ok || j != i {
			continue // duplicate, reported already
		}
		parentLimit, parentName := c.Site.GridLimit, "the site's grid_limit"
		if ci.Parent != "" {
			j, ok := byID[ci.Parent]
			if !ok {
				continue
			}
			parentLimit, parentName = c.Circuits[j].Limit, fmt.Sprintf("circuit %q", ci.Parent)
		}
		for ph := range 3 {
			pl := parentLimit[ph]
			if pl <= 0 || pl > MaxPhaseCurrent || !finite(float64(pl)) {
				continue // the parent's own limit is reported already
			}
			if ci.Limit[ph] > pl {
				v.Add(phaseField(fmt.Sprintf("circuits[%d].limit.", i), ph),
					"must not exceed the parent's limit (%s: %g A) unless oversubscribed, got %g",
					parentName, float64(parentLimit[ph]), float64(ci.Limit[ph]))
			}
		}
	}
}
