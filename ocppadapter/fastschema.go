package ocppadapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A compiled form of the OCA schemas for the hot path. Each action's
// schema becomes a small tree of fnodes once, when the Server is built;
// fastValid then walks a payload's bytes in one pass, without building a
// value tree and without allocating (strings with escapes excepted).
//
// It only ever says "certainly valid": whenever a payload is invalid, or
// uses a form the fast path does not decide (a number like 1.0 where an
// integer is wanted, a leap second, a schema keyword it does not know),
// fastValid returns false and the payload goes to jsonschema/v6, which
// decides and names the violation. So the CALLERROR codes and texts are
// jsonschema's by construction; FuzzFastSchema checks that fastValid
// never accepts what jsonschema refuses, and TestFastSchemaCoverage that
// the messages chargers send all day take the fast path.

// JSON types of the "type" keyword, as a bit set.
const (
	tObject uint8 = 1 << iota
	tArray
	tString
	tNumber // any number
	tInteger
	tBoolean
	tNull
)

var errUnsupportedSchema = errors.New("schema keyword not handled by the fast validator")

// fnode is one compiled schema. Keywords apply only to instances of their
// type, as in JSON Schema.
type fnode struct {
	types uint8 // 0: any type

	// objects
	props    map[string]fprop // nil: no "properties"
	required uint64           // bits of fprop
	closed   bool             // additionalProperties: false

	// arrays
	items              *fnode // nil: any item
	minItems, maxItems int    // -1: none

	// strings
	maxLength int // -1: none
	enum      map[string]struct{}
	dateTime  bool

	// numbers
	hasMin, hasMax bool
	min, max       int64
	tenth          bool // multipleOf 0.1
}

type fprop struct {
	node *fnode // nil: any value
	bit  uint64
}

// compileFast compiles one schema document (as decoded with UseNumber).
// errUnsupportedSchema means the schema uses something the fast path
// does not handle; such an action is always validated by jsonschema.
func compileFast(doc map[string]any) (*fnode, error) {
	c := fastCompiler{root: doc, defs: map[string]*fnode{}}
	return c.node(doc)
}

type fastCompiler struct {
	root map[string]any
	defs map[string]*fnode
}

func (c *fastCompiler) node(m map[string]any) (*fnode, error) {
	if ref, ok := m["$ref"]; ok {
		// Draft 4 to 7: $ref replaces its siblings.
		r, _ := ref.(string)
		return c.ref(r)
	}
	n := &fnode{minItems: -1, maxItems: -1, maxLength: -1}
	var itemsIsSchema bool
	if it, ok := m["items"]; ok {
		_, itemsIsSchema = it.(map[string]any)
	}
	for k, v := range m {
		var err error
		switch k {
		case "$id", "$schema", "description", "default", "definitions", "title", "$comment":
		case "type":
			err = n.setTypes(v)
		case "properties":
			err = c.properties(n, v)
		case "required":
			err = n.setRequired(v)
		case "additionalProperties":
			switch v {
			case false:
				n.closed = true
			case true:
			default:
				err = errUnsupportedSchema
			}
		case "items":
			sub, ok := v.(map[string]any)
			if !ok {
				return nil, errUnsupportedSchema
			}
			n.items, err = c.node(sub)
		case "additionalItems":
			// Ignored when items is one schema for every item.
			if !itemsIsSchema {
				err = errUnsupportedSchema
			}
		case "minItems":
			n.minItems, err = schemaInt(v)
		case "maxItems":
			n.maxItems, err = schemaInt(v)
		case "maxLength":
			n.maxLength, err = schemaInt(v)
		case "enum":
			err = n.setEnum(v)
		case "format":
			if v != "date-time" {
				err = errUnsupportedSchema
			}
			n.dateTime = true
		case "minimum", "maximum":
			var i int
			i, err = schemaInt(v)
			if k == "minimum" {
				n.hasMin, n.min = true, int64(i)
			} else {
				n.hasMax, n.max = true, int64(i)
			}
		case "multipleOf":
			if num, ok := v.(json.Number); !ok || num != "0.1" {
				err = errUnsupportedSchema
			}
			n.tenth = true
		default:
			err = errUnsupportedSchema
		}
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (c *fastCompiler) ref(r string) (*fnode, error) {
	const prefix = "#/definitions/"
	if len(r) <= len(prefix) || r[:len(prefix)] != prefix {
		return nil, errUnsupportedSchema
	}
	name := r[len(prefix):]
	if n, ok := c.defs[name]; ok {
		if n == nil { // a cycle: not handled
			return nil, errUnsupportedSchema
		}
		return n, nil
	}
	defs, _ := c.root["definitions"].(map[string]any)
	def, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("unresolved $ref %s: %w", r, errUnsupportedSchema)
	}
	c.defs[name] = nil
	n, err := c.node(def)
	if err != nil {
		return nil, err
	}
	c.defs[name] = n
	return n, nil
}

func schemaInt(v any) (int, error) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, errUnsupportedSchema
	}
	i, err := strconv.Atoi(string(num))
	if err != nil {
		return 0, errUnsupportedSchema
	}
	return i, nil
}

func (n *fnode) setTypes(v any) error {
	var names []any
	switch t := v.(type) {
	case string:
		names = []any{t}
	case []any:
		names = t
	default:
		return errUnsupportedSchema
	}
	for _, x := range names {
		switch x {
		case "object":
			n.types |= tObject
		case "array":
			n.types |= tArray
		case "string":
			n.types |= tString
		case "number":
			n.types |= tNumber
		case "integer":
			n.types |= tInteger
		case "boolean":
			n.types |= tBoolean
		case "null":
			n.types |= tNull
		default:
			return errUnsupportedSchema
		}
	}
	return nil
}

func (n *fnode) bitFor(name string) (uint64, error) {
	if n.props == nil {
		n.props = map[string]fprop{}
	}
	if p, ok := n.props[name]; ok {
		return p.bit, nil
	}
	if len(n.props) >= 64 {
		return 0, errUnsupportedSchema
	}
	bit := uint64(1) << len(n.props)
	n.props[name] = fprop{bit: bit}
	return bit, nil
}

func (c *fastCompiler) properties(n *fnode, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errUnsupportedSchema
	}
	if n.props == nil {
		n.props = map[string]fprop{}
	}
	for name, sub := range m {
		sm, ok := sub.(map[string]any)
		if !ok {
			return errUnsupportedSchema
		}
		node, err := c.node(sm)
		if err != nil {
			return err
		}
		bit, err := n.bitFor(name)
		if err != nil {
			return err
		}
		n.props[name] = fprop{node: node, bit: bit}
	}
	return nil
}

func (n *fnode) setRequired(v any) error {
	list, ok := v.([]any)
	if !ok {
		return errUnsupportedSchema
	}
	for _, x := range list {
		name, ok := x.(string)
		if !ok {
			return errUnsupportedSchema
		}
		bit, err := n.bitFor(name)
		if err != nil {
			return err
		}
		n.required |= bit
	}
	return nil
}

func (n *fnode) setEnum(v any) error {
	list, ok := v.([]any)
	if !ok {
		return errUnsupportedSchema
	}
	n.enum = make(map[string]struct{}, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return errUnsupportedSchema
		}
		n.enum[s] = struct{}{}
	}
	return nil
}

// fastValid reports whether payload (one JSON value) certainly passes the
// schema n; false means invalid or undecided (ask jsonschema).
func fastValid(n *fnode, payload []byte) bool {
	s := jsonScanner{data: payload}
	s.ws()
	if !validValue(&s, n) {
		return false
	}
	s.ws()
	return s.i == len(s.data)
}

func validValue(s *jsonScanner, n *fnode) bool {
	if s.i >= len(s.data) {
		return false
	}
	if n == nil {
		return s.skip() == nil
	}
	switch c := s.data[s.i]; {
	case c == '{':
		if n.types != 0 && n.types&tObject == 0 || n.enum != nil {
			return false
		}
		return validObject(s, n)
	case c == '[':
		if n.types != 0 && n.types&tArray == 0 || n.enum != nil {
			return false
		}
		return validArray(s, n)
	case c == '"':
		if n.types != 0 && n.types&tString == 0 {
			return false
		}
		raw, plain, err := s.stringSpan()
		if err != nil {
			return false
		}
		return validString(n, raw, plain)
	case c == '-' || (c >= '0' && c <= '9'):
		num, err := s.numberSpan()
		if err != nil || n.enum != nil {
			return false
		}
		return validNumber(n, num)
	case c == 't' || c == 'f' || c == 'n':
		if s.literal() != nil || n.enum != nil {
			return false
		}
		want := tBoolean
		if c == 'n' {
			want = tNull
		}
		return n.types == 0 || n.types&want != 0
	}
	return false
}

func validObject(s *jsonScanner, n *fnode) bool {
	if n.props == nil && !n.closed {
		return s.skip() == nil
	}
	s.depth++
	if s.depth > maxJSONDepth {
		return false
	}
	s.i++
	s.ws()
	var seen uint64
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		s.depth--
		return n.required == 0
	}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return false
		}
		raw, plain, err := s.stringSpan()
		if err != nil {
			return false
		}
		var (
			p  fprop
			ok bool
		)
		if plain {
			p, ok = n.props[string(raw)]
		} else {
			p, ok = n.props[unquote(raw, false)]
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		switch {
		case ok:
			seen |= p.bit
			if !validValue(s, p.node) {
				return false
			}
		case n.closed:
			return false
		default:
			if s.skip() != nil {
				return false
			}
		}
		s.ws()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return seen&n.required == n.required
		default:
			return false
		}
	}
}

func validArray(s *jsonScanner, n *fnode) bool {
	s.depth++
	if s.depth > maxJSONDepth {
		return false
	}
	s.i++
	s.ws()
	count := 0
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		s.depth--
	} else {
	loop:
		for {
			if !validValue(s, n.items) {
				return false
			}
			count++
			s.ws()
			if s.i >= len(s.data) {
				return false
			}
			switch s.data[s.i] {
			case ',':
				s.i++
				s.ws()
			case ']':
				s.i++
				s.depth--
				break loop
			default:
				return false
			}
		}
	}
	return (n.minItems < 0 || count >= n.minItems) && (n.maxItems < 0 || count <= n.maxItems)
}

func validString(n *fnode, raw []byte, plain bool) bool {
	if n.maxLength < 0 && n.enum == nil && !n.dateTime {
		return true
	}
	if !plain {
		// Escapes or non-ASCII: rare; compare the decoded string as
		// jsonschema does (invalid UTF-8 is U+FFFD there too).
		str := unquote(raw, false)
		if n.maxLength >= 0 && utf8.RuneCountInString(str) > n.maxLength {
			return false
		}
		if n.enum != nil {
			if _, ok := n.enum[str]; !ok {
				return false
			}
		}
		return !n.dateTime || validDateTime([]byte(str))
	}
	if n.maxLength >= 0 && len(raw) > n.maxLength {
		return false
	}
	if n.enum != nil {
		if _, ok := n.enum[string(raw)]; !ok {
			return false
		}
	}
	return !n.dateTime || validDateTime(raw)
}

// decimal is a checked JSON number's parts.
type decimal struct {
	neg      bool
	intPart  []byte // no leading zeros but "0"
	frac     []byte
	exp      int
	hasExp   bool
	expLarge bool
}

func splitNumber(num []byte) decimal {
	var d decimal
	i := 0
	if num[0] == '-' {
		d.neg = true
		i++
	}
	j := i
	for j < len(num) && num[j] >= '0' && num[j] <= '9' {
		j++
	}
	d.intPart = num[i:j]
	if j < len(num) && num[j] == '.' {
		k := j + 1
		for k < len(num) && num[k] >= '0' && num[k] <= '9' {
			k++
		}
		d.frac = num[j+1 : k]
		j = k
	}
	if j < len(num) {
		d.hasExp = true
		e, err := strconv.Atoi(string(num[j+1:]))
		if err != nil || e > 1000 || e < -1000 {
			d.expLarge = true
		}
		d.exp = e
	}
	return d
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

func validNumber(n *fnode, num []byte) bool {
	d := splitNumber(num)
	plainInt := len(d.frac) == 0 && !d.hasExp
	if n.types != 0 && n.types&tNumber == 0 && !(n.types&tInteger != 0 && plainInt) {
		return false
	}
	if n.hasMin || n.hasMax {
		if d.hasExp {
			return false // undecided here
		}
		if n.hasMin && cmpDecimalInt(d, n.min) < 0 {
			return false
		}
		if n.hasMax && cmpDecimalInt(d, n.max) > 0 {
			return false
		}
	}
	if n.tenth && !multipleOfTenth(d) {
		return false
	}
	return true
}

// cmpDecimalInt compares an exponent-free decimal with b.
func cmpDecimalInt(d decimal, b int64) int {
	fracNZ := !allZero(d.frac)
	huge := len(d.intPart) > 18
	var ip int64
	if !huge {
		ip, _ = strconv.ParseInt(string(d.intPart), 10, 64)
	}
	if ip == 0 && !huge && !fracNZ {
		return cmpInt(0, b) // -0 is 0
	}
	if !d.neg {
		switch {
		case b < 0 || huge || ip > b:
			return 1
		case ip < b:
			return -1
		case fracNZ:
			return 1
		}
		return 0
	}
	if b >= 0 {
		return -1
	}
	c := -b // the value is -(ip+frac); compare magnitudes the other way round
	switch {
	case huge || ip > c:
		return -1
	case ip < c:
		return 1
	case fracNZ:
		return -1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// multipleOfTenth reports whether d is an exact multiple of 0.1: at most
// one significant digit after the decimal point once the exponent is
// applied.
func multipleOfTenth(d decimal) bool {
	if d.expLarge {
		return false // undecided here
	}
	digits := make([]byte, 0, 32)
	if len(d.intPart)+len(d.frac) > cap(digits) {
		return false
	}
	digits = append(append(digits, d.intPart...), d.frac...)
	if allZero(digits) {
		return true
	}
	tz := 0
	for i := len(digits) - 1; i >= 0 && digits[i] == '0'; i-- {
		tz++
	}
	// value = D * 10^(exp - len(frac)), D with tz trailing zeros; a
	// multiple of 10^-1 iff exp - len(frac) + tz >= -1.
	return d.exp-len(d.frac)+tz >= -1
}

// validDateTime accepts the RFC 3339 date-times jsonschema accepts, in
// their usual form only: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
// with upper-case T and Z and no leap second. Anything else is left to
// jsonschema.
func validDateTime(b []byte) bool {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	m, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || h > 23 || m > 59 || sec > 59 {
		return false
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 {
			return false
		}
		rest = rest[k:]
	}
	if len(rest) == 1 && rest[0] == 'Z' {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	zh, ok1 := digits(rest[1:3])
	zm, ok2 := digits(rest[4:6])
	return ok1 && ok2 && zh <= 23 && zm <= 59
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
