package sitefile

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/site"
	"go.yaml.in/yaml/v3"
)

// Marshal writes c as a site file that Parse reads back to c. Zero values
// are left out, per-phase limits equal on all phases use the scalar
// shorthand, and a charger whose EVSEs are all alike is written with
// evse_count. Generations, times, site IDs of the parts and password hashes
// are not written. It fails for values a site file cannot hold: EVSE IDs
// other than 1, 2, ... in order, non-finite numbers, and grid limit
// sources other than owner, ems and grid-operator.
func Marshal(c site.Config) ([]byte, error) {
	w := &writer{}
	root := w.mapping()
	s := w.mapping()
	w.str(s, "id", c.Site.ID)
	w.str(s, "display_name", c.Site.DisplayName)
	w.str(s, "time_zone", c.Site.TimeZone)
	w.num(s, "nominal_voltage_v", float64(c.Site.NominalVoltage))
	w.phaseLimit(s, "grid_limit", "grid_limit_a", c.Site.GridLimit)
	w.kw(s, "grid_power_limit_kw", c.Site.GridPowerLimit)
	add(root, "site", s)

	if len(c.Circuits) > 0 {
		list := seq()
		for _, ci := range c.Circuits {
			m := w.mapping()
			w.str(m, "id", ci.ID)
			w.str(m, "display_name", ci.DisplayName)
			w.str(m, "parent", ci.Parent)
			w.phaseLimit(m, "limit", "limit_a", ci.Limit)
			w.kw(m, "power_limit_kw", ci.PowerLimit)
			w.boolean(m, "oversubscribed", ci.Oversubscribed)
			list.Content = append(list.Content, m)
		}
		add(root, "circuits", list)
	}

	if len(c.Chargers) > 0 {
		list := seq()
		for i, ch := range c.Chargers {
			m := w.mapping()
			w.str(m, "id", ch.ID)
			w.str(m, "display_name", ch.DisplayName)
			w.str(m, "ocpp_identity", ch.OCPPIdentity)
			w.str(m, "circuit", ch.Circuit)
			if ch.PhaseRotation.Known() {
				if !ch.PhaseRotation.Valid() {
					return nil, fmt.Errorf("sitefile: chargers[%d].phase_rotation: %v is not a permutation of L1, L2, L3", i, ch.PhaseRotation)
				}
				w.str(m, "phase_rotation", ch.PhaseRotation.String())
			}
			if err := w.evses(m, ch.EVSEs); err != nil {
				return nil, fmt.Errorf("sitefile: chargers[%d]: %w", i, err)
			}
			list.Content = append(list.Content, m)
		}
		add(root, "chargers", list)
	}

	if len(c.Limits) > 0 {
		list := seq()
		for i, l := range c.Limits {
			m := w.mapping()
			w.str(m, "id", l.ID)
			switch l.Source {
			case site.SourceOwner, site.SourceEMS, site.SourceGridOperator:
				w.str(m, "source", l.Source.String())
			default:
				return nil, fmt.Errorf("sitefile: grid_limits[%d].source: %s cannot be written in a site file", i, l.Source)
			}
			w.phaseLimit(m, "limit", "limit_a", l.Limit)
			w.kw(m, "power_limit_kw", l.PowerLimit)
			w.time(m, "start", l.Start)
			w.time(m, "end", l.End)
			w.str(m, "reason", l.Reason)
			list.Content = append(list.Content, m)
		}
		add(root, "grid_limits", list)
	}
	if w.err != nil {
		return nil, w.err
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("sitefile: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("sitefile: %w", err)
	}
	return buf.Bytes(), nil
}

type writer struct{ err error }

func (w *writer) mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func seq() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func (w *writer) str(m *yaml.Node, key, v string) {
	if v == "" {
		return
	}
	n := scalar("!!str", v)
	if needsQuotes(v) {
		// Block styles, which the encoder picks for text with line
		// breaks, do not survive leading tabs and similar; double quotes
		// with escapes always do.
		n.Style = yaml.DoubleQuotedStyle
	}
	add(m, key, n)
}

func needsQuotes(s string) bool {
	if strings.TrimSpace(s) != s {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xfeff
	})
}

func (w *writer) boolean(m *yaml.Node, key string, v bool) {
	if v {
		add(m, key, scalar("!!bool", "true"))
	}
}

func (w *writer) integer(m *yaml.Node, key string, v int) {
	if v != 0 {
		add(m, key, scalar("!!int", strconv.Itoa(v)))
	}
}

func (w *writer) num(m *yaml.Node, key string, v float64) {
	if v != 0 {
		add(m, key, w.number(key, v))
	}
}

func (w *writer) number(key string, v float64) *yaml.Node {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		if w.err == nil {
			w.err = fmt.Errorf("sitefile: %s: %v cannot be written", key, v)
		}
		return scalar("", "0")
	}
	return scalar("", formatNumber(v))
}

// kw writes watts as kilowatts, exactly (see shiftExp).
func (w *writer) kw(m *yaml.Node, key string, v site.Watts) {
	if v == 0 {
		return
	}
	n := w.number(key, float64(v))
	if w.err == nil {
		n.Value = shiftDecimal(strconv.FormatFloat(float64(v), 'e', -1, 64), -3)
	}
	add(m, key, n)
}

func (w *writer) time(m *yaml.Node, key string, t time.Time) {
	if !t.IsZero() {
		add(m, key, scalar("", t.Format(time.RFC3339Nano)))
	}
}

func (w *writer) phaseLimit(m *yaml.Node, mapKey, scalarKey string, c site.PhaseCurrents) {
	switch {
	case c == site.PhaseCurrents{}:
	case c[0] == c[1] && c[1] == c[2]:
		add(m, scalarKey, w.number(scalarKey, float64(c[0])))
	default:
		pm := w.mapping()
		for i, k := range phaseKeys {
			add(pm, k, w.number(mapKey+"."+k, float64(c[i])))
		}
		pm.Style = yaml.FlowStyle
		add(m, mapKey, pm)
	}
}

func (w *writer) evses(m *yaml.Node, evses []site.EVSE) error {
	same := len(evses) > 0
	for i, e := range evses {
		if e.ID != i+1 {
			return fmt.Errorf("evses[%d]: EVSE id %d: a site file numbers EVSEs 1, 2, ... in order", i, e.ID)
		}
		if !sameEVSE(e, evses[0]) {
			same = false
		}
	}
	if len(evses) > MaxEVSEs {
		return fmt.Errorf("%d EVSEs: a site file holds at most %d per charger", len(evses), MaxEVSEs)
	}
	if same {
		add(m, "evse_count", scalar("!!int", strconv.Itoa(len(evses))))
		w.evseFields(m, evses[0])
		return nil
	}
	if len(evses) > 0 {
		list := seq()
		for _, e := range evses {
			em := w.mapping()
			w.evseFields(em, e)
			em.Style = yaml.FlowStyle
			list.Content = append(list.Content, em)
		}
		add(m, "evses", list)
	}
	return nil
}

func (w *writer) evseFields(m *yaml.Node, e site.EVSE) {
	w.num(m, "max_current_a", float64(e.MaxCurrent))
	w.num(m, "min_current_a", float64(e.MinCurrent))
	w.integer(m, "phases", e.Phases)
	w.boolean(m, "can_switch_phases", e.CanSwitchPhases)
}

func sameEVSE(a, b site.EVSE) bool {
	a.ID, b.ID = 0, 0
	return a == b
}

// formatNumber writes v in plain decimal unless that would be very long.
func formatNumber(v float64) string {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(v, 'e', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// shiftDecimal multiplies the number s, written as strconv's 'e' format
// ("6.93e+04"), by 10^by without rounding, and writes it in plain decimal
// ("69.3") unless that would be very long.
func shiftDecimal(s string, by int) string {
	i := strings.IndexByte(s, 'e')
	if i < 0 {
		return s
	}
	exp, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return s
	}
	exp += by
	mant := s[:i]
	sign := ""
	if strings.HasPrefix(mant, "-") {
		sign, mant = "-", mant[1:]
	}
	digits := strings.Replace(mant, ".", "", 1)
	point := 1 + exp // digits before the decimal point
	switch {
	case point < -6 || point > 21:
		return sign + mant + "e" + strconv.Itoa(exp)
	case point <= 0:
		return sign + "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		return sign + digits + strings.Repeat("0", point-len(digits))
	default:
		return sign + digits[:point] + "." + digits[point:]
	}
}
