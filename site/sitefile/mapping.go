package sitefile

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/site"
	"go.yaml.in/yaml/v3"
)

// mapping is one YAML mapping of the site file, checked against the keys
// allowed in its place. Its readers record an error and return the zero
// value when a value is missing the right type.
type mapping struct {
	d    *decoder
	path string
	// keys and vals hold the key and value nodes of each known key given;
	// null values and aliases are left out of vals.
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
	// pos is where each key's value is reported: the value for scalars,
	// the key for mappings and lists (whose own node starts a line later).
	pos map[string]pos
	bad map[string]bool
}

// mapping checks that n is a mapping with only allowed keys, each once.
// It returns nil (after recording the error) if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, allowed []string) *mapping {
	if n.Kind == yaml.AliasNode {
		d.badValue(n, path, "YAML aliases are not supported; write the value out")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.badValue(n, path, "must be a mapping of %s; got %s", strings.Join(allowed, ", "), kindName(n))
		return nil
	}
	if path == "" {
		d.idx.set("", pos{n.Line, n.Column})
	}
	m := &mapping{d: d, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{},
		pos: map[string]pos{}, bad: map[string]bool{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!merge") {
			d.fail(k, path, "keys must be plain names; got %s", kindName(k))
			continue
		}
		name := k.Value
		cp := m.child(name)
		if k.ShortTag() == "!!merge" {
			d.fail(k, path, "YAML merge keys (<<) are not supported; write the fields out")
			continue
		}
		if !contains(allowed, name) {
			d.fail(k, cp, "unknown key %q%s", name, suggest(name, allowed))
			continue
		}
		if first, dup := m.keys[name]; dup {
			d.fail(k, cp, "given twice (first on line %d)", first.Line)
			continue
		}
		m.keys[name] = k
		p := pos{v.Line, v.Column}
		if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
			p = pos{k.Line, k.Column}
		}
		m.pos[name] = p
		d.idx.set(cp, p)
		switch {
		case v.Kind == yaml.AliasNode:
			d.badValue(v, cp, "YAML aliases are not supported; write the value out")
			m.bad[name] = true
		case isNull(v):
		default:
			m.vals[name] = v
		}
	}
	return m
}

func (m *mapping) child(key string) string {
	if m.path == "" {
		return key
	}
	return m.path + "." + key
}

// present returns the value node of key, or nil if it is absent or null.
func (m *mapping) present(key string) *yaml.Node { return m.vals[key] }

// failed reports whether reading key gave an error.
func (m *mapping) failed(key string) bool { return m.bad[key] }

func (m *mapping) wrong(key string, v *yaml.Node, format string, args ...any) {
	m.bad[key] = true
	m.d.badValue(v, m.child(key), format, args...)
}

// scalar returns the value of key if it is a scalar with one of the tags.
func (m *mapping) scalar(key, want string, tags ...string) *yaml.Node {
	v := m.vals[key]
	if v == nil {
		return nil
	}
	if v.Kind == yaml.ScalarNode && contains(tags, v.ShortTag()) {
		return v
	}
	hint := ""
	if want == "a string" && v.Kind == yaml.ScalarNode {
		hint = "; quote it: \"" + v.Value + "\""
	}
	m.wrong(key, v, "must be %s; got %s%s", want, kindName(v), hint)
	return nil
}

func (m *mapping) str(key string) string {
	if v := m.scalar(key, "a string", "!!str"); v != nil {
		return v.Value
	}
	return ""
}

func (m *mapping) number(key string) float64 {
	v := m.scalar(key, "a number", "!!int", "!!float")
	if v == nil {
		return 0
	}
	var f float64
	if err := v.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		m.wrong(key, v, "must be a finite number; got %q", v.Value)
		return 0
	}
	return f
}

// kilowatts reads a power given in kW as watts, exactly: "69.3" kW is
// 69300 W, not 69.3*1000 with a rounding error.
func (m *mapping) kilowatts(key string) site.Watts {
	f := m.number(key)
	if f == 0 || m.failed(key) {
		return 0
	}
	if s, ok := shiftExp(m.vals[key].Value, 3); ok {
		if w, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(w, 0) {
			return site.Watts(w)
		}
	}
	return site.Watts(f * 1000)
}

func (m *mapping) integer(key string) int {
	v := m.scalar(key, "a whole number", "!!int")
	if v == nil {
		return 0
	}
	var i int
	if err := v.Decode(&i); err != nil || i > math.MaxInt32 || i < math.MinInt32 {
		m.wrong(key, v, "must be a whole number; %q is out of range", v.Value)
		return 0
	}
	return i
}

func (m *mapping) boolean(key string) bool {
	v := m.scalar(key, "true or false", "!!bool")
	if v == nil {
		return false
	}
	var b bool
	if err := v.Decode(&b); err != nil {
		m.wrong(key, v, "must be true or false; got %q", v.Value)
	}
	return b
}

func (m *mapping) time(key string) time.Time {
	v := m.scalar(key, "an RFC 3339 time", "!!str", "!!timestamp")
	if v == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v.Value)
	if err != nil {
		m.wrong(key, v, "must be an RFC 3339 time such as 2025-01-31T17:00:00+01:00; got %q", v.Value)
		return time.Time{}
	}
	return t
}

// phaseLimit reads a per-phase limit written as a mapping {l1_a, l2_a,
// l3_a} under mapKey, or as one value for all phases under scalarKey.
func (m *mapping) phaseLimit(mapKey, scalarKey string) site.PhaseCurrents {
	mv, sv := m.keys[mapKey], m.keys[scalarKey]
	if mv != nil && sv != nil {
		m.wrong(scalarKey, sv, "give either %s or %s, not both", mapKey, scalarKey)
		return site.PhaseCurrents{}
	}
	if sv != nil {
		a := site.Amps(m.number(scalarKey))
		// Errors about any phase of the limit belong to this line.
		if p, ok := m.pos[scalarKey]; ok {
			mp := m.child(mapKey)
			m.d.idx.set(mp, p)
			for _, k := range phaseKeys {
				m.d.idx.set(mp+"."+k, p)
			}
		}
		if m.failed(scalarKey) {
			m.d.bad = append(m.d.bad, normPath(m.child(mapKey)))
		}
		return site.Uniform(a)
	}
	v := m.vals[mapKey]
	if v == nil {
		return site.PhaseCurrents{}
	}
	pm := m.d.mapping(v, m.child(mapKey), phaseKeys)
	if pm == nil {
		return site.PhaseCurrents{}
	}
	var c site.PhaseCurrents
	for i, k := range phaseKeys {
		c[i] = site.Amps(pm.number(k))
	}
	return c
}

// list calls fn for each element of the list under key.
func (m *mapping) list(key string, fn func(n *yaml.Node, path string, i int)) {
	v := m.vals[key]
	if v == nil {
		return
	}
	if v.Kind != yaml.SequenceNode {
		m.wrong(key, v, "must be a list (lines starting with \"- \"); got %s", kindName(v))
		return
	}
	for i, item := range v.Content {
		p := m.child(key) + "[" + strconv.Itoa(i) + "]"
		m.d.idx.set(p, pos{item.Line, item.Column})
		fn(item, p, i)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "the string " + strconv.Quote(n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		case "!!null":
			return "nothing"
		case "!!timestamp":
			return "the time " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest names the closest allowed key to a misspelt one, or lists them.
func suggest(key string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(key, a); d < bestD {
			best, bestD = a, d
		}
	}
	if best != "" {
		return " (did you mean " + strconv.Quote(best) + "?)"
	}
	return "; want one of " + strings.Join(allowed, ", ")
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// shiftExp multiplies a plain decimal number by 10^by, exactly, by moving
// its exponent: "69.3" -> "69.3e3", "1.5e-2" -> "1.5e1". It reports false
// for numbers not written in plain decimal (hex, underscores).
func shiftExp(s string, by int) (string, bool) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return "", false
		}
		mant, exp = s[:i], e
	}
	digits := strings.TrimLeft(mant, "+-")
	if digits == "" || strings.Trim(digits, "0123456789.") != "" || strings.Count(digits, ".") > 1 || digits == "." {
		return "", false
	}
	return mant + "e" + strconv.Itoa(exp+by), true
}
