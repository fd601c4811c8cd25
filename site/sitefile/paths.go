package sitefile

import (
	"strconv"
	"strings"
	"unicode"
)

// pos is a position in the file.
type pos struct{ line, col int }

// index maps field paths to the position of the node they were read from,
// so that validation errors, which name fields by path, can be reported at
// their line. Paths are stored normalised (see normPath) so that the
// validator's spelling ("limit.l1", "site.grid_limit", "Limits[0]") and the
// file's ("limit_a", "grid_limit_a", "grid_limits[0]") meet.
type index struct {
	at map[string]pos
	// ids maps "circuits[hall-a]" to "circuits[0]" for validators that name
	// list elements by ID.
	ids map[string]string
}

func newIndex() *index {
	return &index{at: map[string]pos{}, ids: map[string]string{}}
}

func (x *index) set(path string, p pos) {
	x.at[normPath(path)] = p
}

// setID records that the element path (e.g. "circuits[0]") has the given ID.
func (x *index) setID(list string, i int, id string) {
	if id == "" {
		return
	}
	x.ids[normPath(list)+"["+id+"]"] = normPath(list) + "[" + strconv.Itoa(i) + "]"
}

// lookup returns the position of path, or of its nearest ancestor that
// has one, and whether anything was found.
func (x *index) lookup(path string) (pos, bool) {
	p := x.rewriteIDs(normPath(path))
	for {
		if at, ok := x.at[p]; ok {
			return at, true
		}
		parent, ok := parentPath(p)
		if !ok {
			return pos{}, false
		}
		p = parent
	}
}

// rewriteIDs turns "circuits[hall-a].limit" into "circuits[0].limit".
func (x *index) rewriteIDs(p string) string {
	i := strings.IndexByte(p, '[')
	for i >= 0 {
		j := strings.IndexByte(p[i:], ']')
		if j < 0 {
			return p
		}
		j += i
		inner := strings.Trim(p[i+1:j], `"'`)
		if _, isNum := atoi(inner); !isNum {
			key := p[:i] + "[" + inner + "]"
			if to, ok := x.ids[key]; ok {
				p = to + p[j+1:]
				j = len(to) - 1
			}
		}
		k := strings.IndexByte(p[j+1:], '[')
		if k < 0 {
			return p
		}
		i = j + 1 + k
	}
	return p
}

// fileNames maps normalised field names to the names the site file uses.
var fileNames = func() map[string]string {
	m := map[string]string{}
	for _, keys := range [][]string{topKeys, siteKeys, phaseKeys, circuitKeys, chargerKeys, limitKeys} {
		for _, k := range keys {
			n := normName(k)
			if _, ok := m[n]; !ok || k == n {
				m[n] = k
			}
		}
	}
	return m
}()

// filePath spells a normalised path as the site file does:
// "grid_limit.l1" -> "site.grid_limit.l1_a".
func filePath(norm string) string {
	if norm == "" {
		return ""
	}
	segs := strings.Split(norm, ".")
	for i, s := range segs {
		name, idx := s, ""
		if j := strings.IndexByte(s, '['); j >= 0 {
			name, idx = s[:j], s[j:]
		}
		if f, ok := fileNames[name]; ok {
			name = f
		}
		segs[i] = name + idx
	}
	out := strings.Join(segs, ".")
	if top := topSection(norm); top == "site" && segs[0] != "site" {
		out = "site." + out
	}
	return out
}

// topSection names the top-level key a normalised path falls under.
func topSection(norm string) string {
	first := norm
	if i := strings.IndexAny(norm, ".["); i >= 0 {
		first = norm[:i]
	}
	switch first {
	case "circuits", "chargers", "grid_limits":
		return first
	}
	return "site"
}

// parentPath drops the last segment: "a[1].b" -> "a[1]" -> "a" -> "".
func parentPath(p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i], true
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i], true
	}
	return "", true
}

// normPath gives the canonical form of a field path: snake_case names
// without unit suffixes, no "site." prefix for site fields, and
// "grid_limits" for the list of grid limits.
func normPath(p string) string {
	p = strings.TrimSpace(p)
	segs := strings.Split(p, ".")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		name, idx := s, ""
		if j := strings.IndexByte(s, '['); j >= 0 {
			name, idx = s[:j], s[j:]
		}
		name = normName(name)
		if i == 0 && name == "site" && len(segs) > 1 && idx == "" {
			continue // "site.id" is the site's "id"
		}
		out = append(out, name+idx)
	}
	return strings.Join(out, ".")
}

func normName(s string) string {
	s = snake(s)
	for _, suffix := range []string{"_kw", "_w", "_a", "_v"} {
		if strings.HasSuffix(s, suffix) && len(s) > len(suffix) {
			s = strings.TrimSuffix(s, suffix)
			break
		}
	}
	switch s {
	case "limits":
		return "grid_limits"
	case "evse":
		return "evses"
	case "start_time":
		return "start"
	case "end_time":
		return "end"
	}
	return s
}

// snake turns "GridLimit" or "gridLimit" into "grid_limit".
func snake(s string) string {
	if strings.IndexFunc(s, unicode.IsUpper) < 0 {
		return s
	}
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
