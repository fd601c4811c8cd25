package sitefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/smartcharge/smartcharge/site"
	"go.yaml.in/yaml/v3"
)

// MaxEVSEs is the most EVSEs one charger may have in a site file; it keeps
// evse_count from allocating without bound. site.Config.Validate has the
// same bound.
const MaxEVSEs = 32

// Keys allowed in each kind of mapping, in the order Marshal writes them.
var (
	topKeys     = []string{"site", "circuits", "chargers", "grid_limits"}
	siteKeys    = []string{"id", "display_name", "time_zone", "nominal_voltage_v", "grid_limit", "grid_limit_a", "grid_power_limit_kw"}
	phaseKeys   = []string{"l1_a", "l2_a", "l3_a"}
	circuitKeys = []string{"id", "display_name", "parent", "limit", "limit_a", "power_limit_kw", "oversubscribed"}
	evseKeys    = []string{"max_current_a", "min_current_a", "phases", "can_switch_phases"}
	chargerKeys = append([]string{"id", "display_name", "ocpp_identity", "circuit", "phase_rotation", "evses", "evse_count"}, evseKeys...)
	limitKeys   = []string{"id", "source", "limit", "limit_a", "power_limit_kw", "start", "end", "reason"}
)

// Parse reads a site file. name is used in error messages only. The
// returned Config has passed structural checks and site.Config.Validate;
// on any error it is the zero Config and the error is an [*Error] listing
// every problem found.
func Parse(name string, data []byte) (site.Config, error) {
	f, err := ParseFile(name, data)
	if err != nil {
		return site.Config{}, err
	}
	return f.Config, nil
}

// File is a site file that parsed: its configuration and where each of
// its fields is, for errors found later (by a server) about the same
// configuration.
type File struct {
	Name   string
	Config site.Config
	idx    *index
}

// ParseFile is [Parse], keeping the positions of the fields.
func ParseFile(name string, data []byte) (*File, error) {
	d := newDecoder(name)
	c, ok := d.decode(data)
	if ok {
		d.validate(c)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return &File{Name: name, Config: c, idx: d.idx}, nil
}

// At returns an error about field, placed at the line of the field (or of
// its nearest ancestor in the file). field is a path as site.Config.Validate
// and the API name fields ("chargers[3].ocpp_identity",
// "site.grid_limit.l1"); it is reported with the file's spelling.
func (f *File) At(field, msg string) FieldError {
	fe := FieldError{File: f.Name, Field: filePath(f.idx.rewriteIDs(normPath(field))), Msg: msg}
	if p, ok := f.idx.lookup(field); ok {
		fe.Line, fe.Column = p.line, p.col
	}
	return fe
}

// validate runs the domain rules and reports each violation at the line of
// the field it names.
func (d *decoder) validate(c site.Config) {
	err := c.Validate()
	if err == nil {
		return
	}
	var ve *site.ValidationError
	if !errors.As(err, &ve) {
		d.errs = append(d.errs, FieldError{File: d.file, Msg: err.Error()})
		return
	}
	for _, fv := range ve.Violations {
		if d.coveredByStructural(fv.Field) {
			continue
		}
		f := File{Name: d.file, idx: d.idx}
		d.errs = append(d.errs, f.At(fv.Field, fv.Rule))
	}
	d.errs = mergePhases(d.errs)
}

// mergePhases turns three equal errors about l1_a, l2_a and l3_a of a limit
// given as one value (limit_a: 120) into one error about that value.
func mergePhases(errs []FieldError) []FieldError {
	type key struct {
		line, col int
		prefix    string
		msg       string
	}
	count := map[key]int{}
	keyOf := func(e FieldError) (key, bool) {
		for _, ph := range phaseKeys {
			if p, ok := strings.CutSuffix(e.Field, "."+ph); ok {
				return key{e.Line, e.Column, p, e.Msg}, true
			}
		}
		return key{}, false
	}
	for _, e := range errs {
		if k, ok := keyOf(e); ok {
			count[k]++
		}
	}
	out := errs[:0:0]
	done := map[key]bool{}
	for _, e := range errs {
		k, ok := keyOf(e)
		if !ok || count[k] != len(phaseKeys) {
			out = append(out, e)
			continue
		}
		if !done[k] {
			done[k] = true
			e.Field = k.prefix + "_a"
			out = append(out, e)
		}
	}
	return out
}

// coveredByStructural reports whether a structural error was already
// reported on field or on one of its ancestors: a value that could not be
// read is left zero, and the validator's complaint about the zero would
// only repeat it.
func (d *decoder) coveredByStructural(field string) bool {
	f := d.idx.rewriteIDs(normPath(field))
	for _, p := range d.bad {
		if p == "" || (p == "site" && topSection(f) == "site") {
			return true
		}
		if f == p || strings.HasPrefix(f, p+".") || strings.HasPrefix(f, p+"[") {
			return true
		}
	}
	return false
}

type decoder struct {
	file string
	idx  *index
	errs []FieldError
	// bad holds the normalised paths of values that could not be read.
	bad []string
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, idx: newIndex()}
}

func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &Error{Errors: d.errs}
}

// fail records an error at node n about the field at path.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	fe := FieldError{File: d.file, Field: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		fe.Line, fe.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, fe)
}

// bad records an error about a value that could not be read.
func (d *decoder) badValue(n *yaml.Node, path, format string, args ...any) {
	d.fail(n, path, format, args...)
	d.bad = append(d.bad, normPath(path))
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) syntax(err error) {
	msg := err.Error()
	fe := FieldError{File: d.file, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		// The YAML parser gives the line where the construct with the
		// error began, which may be a line before the error itself.
		fe.Msg = "YAML syntax error (at or after this line): " + m[2]
	} else {
		fe.Msg = "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")
	}
	d.errs = append(d.errs, fe)
}

// decode reads the document structurally; false means it is not YAML.
func (d *decoder) decode(data []byte) (site.Config, bool) {
	var c site.Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.fail(nil, "", "the file is empty; want a mapping with the keys %s", strings.Join(topKeys, ", "))
			return c, false
		}
		d.syntax(err)
		return c, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.fail(&extra, "", "a site file holds one YAML document; found a second")
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		d.fail(root, "", "the file is empty; want a mapping with the keys %s", strings.Join(topKeys, ", "))
		return c, true
	}
	m := d.mapping(root, "", topKeys)
	if m == nil {
		return c, false
	}
	if n := m.vals["site"]; n != nil {
		c.Site = d.site(n)
	} else if !m.failed("site") {
		d.badValue(root, "site", "required: the site's id, grid_limit and the rest")
	}
	m.list("circuits", func(n *yaml.Node, path string, i int) {
		ci := d.circuit(n, path)
		ci.SiteID = c.Site.ID
		d.idx.setID("circuits", i, ci.ID)
		c.Circuits = append(c.Circuits, ci)
	})
	m.list("chargers", func(n *yaml.Node, path string, i int) {
		ch := d.charger(n, path)
		ch.SiteID = c.Site.ID
		d.idx.setID("chargers", i, ch.ID)
		c.Chargers = append(c.Chargers, ch)
	})
	m.list("grid_limits", func(n *yaml.Node, path string, i int) {
		l := d.gridLimit(n, path)
		l.SiteID = c.Site.ID
		d.idx.setID("grid_limits", i, l.ID)
		c.Limits = append(c.Limits, l)
	})
	return c, true
}

func (d *decoder) site(n *yaml.Node) site.Site {
	var s site.Site
	m := d.mapping(n, "site", siteKeys)
	if m == nil {
		return s
	}
	s.ID = m.str("id")
	s.DisplayName = m.str("display_name")
	s.TimeZone = m.str("time_zone")
	s.NominalVoltage = site.Volts(m.number("nominal_voltage_v"))
	s.GridLimit = m.phaseLimit("grid_limit", "grid_limit_a")
	s.GridPowerLimit = m.kilowatts("grid_power_limit_kw")
	return s
}

func (d *decoder) circuit(n *yaml.Node, path string) site.Circuit {
	var c site.Circuit
	m := d.mapping(n, path, circuitKeys)
	if m == nil {
		return c
	}
	c.ID = m.str("id")
	c.DisplayName = m.str("display_name")
	c.Parent = m.str("parent")
	c.Limit = m.phaseLimit("limit", "limit_a")
	c.PowerLimit = m.kilowatts("power_limit_kw")
	c.Oversubscribed = m.boolean("oversubscribed")
	return c
}

func (d *decoder) charger(n *yaml.Node, path string) site.Charger {
	var c site.Charger
	m := d.mapping(n, path, chargerKeys)
	if m == nil {
		return c
	}
	c.ID = m.str("id")
	c.DisplayName = m.str("display_name")
	c.OCPPIdentity = m.str("ocpp_identity")
	c.Circuit = m.str("circuit")
	if v := m.present("phase_rotation"); v != nil {
		s := m.str("phase_rotation")
		r, err := site.ParsePhaseRotation(s)
		if err != nil {
			d.badValue(v, m.child("phase_rotation"), "%s", strings.TrimPrefix(err.Error(), "site: "))
		}
		c.PhaseRotation = r
	}

	// Per-EVSE defaults given at charger level.
	def := d.evseFields(m)
	defaults := m.present("max_current_a") != nil || m.present("min_current_a") != nil ||
		m.present("phases") != nil || m.present("can_switch_phases") != nil

	list, count := m.present("evses"), m.present("evse_count")
	switch {
	case list != nil && count != nil:
		d.badValue(m.keys["evse_count"], m.child("evse_count"), "give either evses or evse_count, not both")
		d.bad = append(d.bad, normPath(m.child("evses")))
	case count != nil:
		k := m.integer("evse_count")
		if k < 1 || k > MaxEVSEs {
			if !m.failed("evse_count") {
				d.badValue(count, m.child("evse_count"), "must be between 1 and %d", MaxEVSEs)
			}
			d.bad = append(d.bad, normPath(m.child("evses")))
			break
		}
		evses := m.child("evses")
		at := pos{count.Line, count.Column}
		d.idx.set(evses, at)
		for i := range k {
			ep := evses + "[" + strconv.Itoa(i) + "]"
			d.idx.set(ep, at)
			d.inheritDefaults(m, ep, nil)
			e := def
			e.ID = i + 1
			c.EVSEs = append(c.EVSEs, e)
		}
	case list != nil:
		m.list("evses", func(n *yaml.Node, ep string, i int) {
			if i >= MaxEVSEs {
				if i == MaxEVSEs {
					d.badValue(n, ep, "a charger has at most %d EVSEs", MaxEVSEs)
				}
				return
			}
			em := d.mapping(n, ep, evseKeys)
			e := def
			e.ID = i + 1
			if em != nil {
				d.inheritDefaults(m, ep, em)
				e = mergeEVSE(e, d.evseFields(em), em)
			}
			c.EVSEs = append(c.EVSEs, e)
		})
	case defaults:
		for _, key := range evseKeys {
			if v := m.keys[key]; v != nil {
				d.fail(v, m.child(key), "%s is a per-EVSE default: give evse_count (or evses) too", key)
				d.bad = append(d.bad, normPath(m.child("evses")))
				break
			}
		}
	}
	return c
}

// inheritDefaults reports errors about the EVSE at path ep that concern a
// field it takes from the charger's defaults at the line of the default.
// em is the EVSE's own mapping (nil with evse_count).
func (d *decoder) inheritDefaults(charger *mapping, ep string, em *mapping) {
	for _, key := range evseKeys {
		if em != nil && (em.keys[key] != nil) {
			continue
		}
		if p, ok := charger.pos[key]; ok {
			d.idx.set(ep+"."+key, p)
		}
		if charger.failed(key) {
			d.bad = append(d.bad, normPath(ep+"."+key))
		}
	}
}

// evseFields reads the EVSE fields of m (an EVSE, or a charger's defaults).
func (d *decoder) evseFields(m *mapping) site.EVSE {
	return site.EVSE{
		MaxCurrent:      site.Amps(m.number("max_current_a")),
		MinCurrent:      site.Amps(m.number("min_current_a")),
		Phases:          m.integer("phases"),
		CanSwitchPhases: m.boolean("can_switch_phases"),
	}
}

// mergeEVSE overrides the defaults in e with the fields em gives.
func mergeEVSE(e, own site.EVSE, em *mapping) site.EVSE {
	if em.present("max_current_a") != nil {
		e.MaxCurrent = own.MaxCurrent
	}
	if em.present("min_current_a") != nil {
		e.MinCurrent = own.MinCurrent
	}
	if em.present("phases") != nil {
		e.Phases = own.Phases
	}
	if em.present("can_switch_phases") != nil {
		e.CanSwitchPhases = own.CanSwitchPhases
	}
	return e
}

func (d *decoder) gridLimit(n *yaml.Node, path string) site.GridLimit {
	var l site.GridLimit
	m := d.mapping(n, path, limitKeys)
	if m == nil {
		return l
	}
	l.ID = m.str("id")
	if v := m.present("source"); v != nil {
		s := m.str("source")
		src, ok := parseSource(s)
		if !ok && !m.failed("source") {
			d.badValue(v, m.child("source"), "unknown source %q; want owner, ems or grid-operator", s)
		}
		l.Source = src
	} else {
		d.badValue(n, m.child("source"), "required: owner, ems or grid-operator")
	}
	l.Limit = m.phaseLimit("limit", "limit_a")
	l.PowerLimit = m.kilowatts("power_limit_kw")
	l.Start = m.time("start")
	l.End = m.time("end")
	l.Reason = m.str("reason")
	return l
}

// parseSource reads the sources a site file may set; "connection" is the
// site's own grid_limit and cannot be given as a grid limit.
func parseSource(s string) (site.LimitSource, bool) {
	switch s {
	case "owner":
		return site.SourceOwner, true
	case "ems":
		return site.SourceEMS, true
	case "grid-operator":
		return site.SourceGridOperator, true
	}
	return site.SourceUnspecified, false
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}
