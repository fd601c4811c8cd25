package ocppadapter

import (
	"bytes"
	_ "embed" // the OCA schemas are compiled into the binary
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// The official OCPP JSON schemas, as shipped by npm ocpp-rpc 2.2.1 (see
// schemas/README.md). Read-only.
var (
	//go:embed schemas/ocpp1_6.json
	schemas16 []byte
	//go:embed schemas/ocpp2_0_1.json
	schemas201 []byte
)

// msgDir says which schema of an action applies: the request (.req) or
// the response (.conf).
type msgDir uint8

const (
	dirReq msgDir = iota
	dirConf
)

func (d msgDir) suffix() string {
	if d == dirConf {
		return ".conf"
	}
	return ".req"
}

// schemaSet holds one version's schemas. Each action's schema is compiled
// on first use and kept; compiled schemas are safe for concurrent use.
type schemaSet struct {
	version Version
	known   map[string]struct{} // "urn:Action.req"; read-only after construction
	// fast holds the compiled fast-path validators by direction and
	// action (see fastschema.go); an action missing here is always
	// validated by jsonschema. Read-only after construction.
	fast [2]map[string]*fnode

	mu       sync.Mutex // guards compiler
	compiler *jsonschema.Compiler
	compiled sync.Map // id -> *jsonschema.Schema
}

func newSchemaSet(v Version) (*schemaSet, error) {
	src := schemas16
	if v == V201 {
		src = schemas201
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("ocppadapter: read %s schemas: %w", v, err)
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("ocppadapter: %s schemas: not an array", v)
	}
	s := &schemaSet{version: v, known: make(map[string]struct{}, len(list)), compiler: jsonschema.NewCompiler()}
	s.fast[dirReq], s.fast[dirConf] = map[string]*fnode{}, map[string]*fnode{}
	s.compiler.DefaultDraft(jsonschema.Draft7)
	for _, d := range list {
		m, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("ocppadapter: %s schemas: entry is not an object", v)
		}
		id, _ := m["$id"].(string)
		if id == "" {
			return nil, fmt.Errorf("ocppadapter: %s schemas: entry without $id", v)
		}
		if err := s.compiler.AddResource(id, m); err != nil {
			return nil, fmt.Errorf("ocppadapter: %s schema %s: %w", v, id, err)
		}
		s.known[id] = struct{}{}
		if n, err := compileFast(m); err == nil {
			if action, ok := strings.CutSuffix(strings.TrimPrefix(id, "urn:"), ".req"); ok {
				s.fast[dirReq][action] = n
			} else if action, ok := strings.CutSuffix(strings.TrimPrefix(id, "urn:"), ".conf"); ok {
				s.fast[dirConf][action] = n
			}
		} else if !errors.Is(err, errUnsupportedSchema) {
			return nil, fmt.Errorf("ocppadapter: %s schema %s: %w", v, id, err)
		}
	}
	return s, nil
}

// has reports whether the version defines the action in direction d.
func (s *schemaSet) has(action string, d msgDir) bool {
	_, ok := s.known["urn:"+action+d.suffix()]
	return ok
}

func (s *schemaSet) schema(action string, d msgDir) (*jsonschema.Schema, error) {
	id := "urn:" + action + d.suffix()
	if sch, ok := s.compiled.Load(id); ok {
		return sch.(*jsonschema.Schema), nil
	}
	if _, ok := s.known[id]; !ok {
		return nil, fmt.Errorf("ocppadapter: OCPP %s has no schema %s", s.version, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.compiled.Load(id); ok {
		return sch.(*jsonschema.Schema), nil
	}
	sch, err := s.compiler.Compile(id)
	if err != nil {
		return nil, fmt.Errorf("ocppadapter: compile %s schema %s: %w", s.version, id, err)
	}
	s.compiled.Store(id, sch)
	return sch, nil
}

// validate checks payload against the action's schema and returns the
// CALLERROR that answers a violation, or nil. An action the version does
// not define gives NotImplemented. A payload the compiled fast path
// accepts is valid; everything else is decided by jsonschema, which also
// names the violation.
func (s *schemaSet) validate(action string, d msgDir, payload []byte) *CallError {
	if n := s.fast[d][action]; n != nil && fastValid(n, payload) {
		return nil
	}
	return s.reference(action, d, payload)
}

// reference validates with jsonschema/v6 alone: the slow path, and the
// reference the fast path is tested against.
func (s *schemaSet) reference(action string, d msgDir, payload []byte) *CallError {
	if !s.has(action, d) {
		return &CallError{Code: CodeNotImplemented, Description: "unknown action " + action, Action: action}
	}
	sch, err := s.schema(action, d)
	if err != nil {
		return &CallError{Code: CodeInternalError, Description: err.Error(), Action: action}
	}
	v, err := parseJSONValue(payload)
	if err != nil {
		return &CallError{Code: CodeFormatViolation, Description: "payload is not valid JSON: " + err.Error(), Action: action}
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &CallError{Code: CodeInternalError, Description: err.Error(), Action: action}
	}
	leaf := firstLeaf(ve)
	return &CallError{Code: codeForKind(leaf), Description: leaf.Error(), Action: action}
}

// firstLeaf picks the violation that answers the CALL: of all leaf
// errors, the one first in instance-location order (then by schema
// location), so that a payload with several faults gets the same answer
// every time (jsonschema's own order of causes follows map iteration).
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return e
	}
	var best *jsonschema.ValidationError
	var bestKey string
	for _, c := range e.Causes {
		l := firstLeaf(c)
		k := strings.Join(l.InstanceLocation, "\x00") + "\x01" + l.SchemaURL + "\x01" + l.Error()
		if best == nil || k < bestKey {
			best, bestKey = l, k
		}
	}
	return best
}

// codeForKind maps a schema violation to the RPC error code OCPP-J names
// for it: missing fields and wrong item counts are occurrence violations,
// wrong JSON types type violations, unknown fields and a non-object
// payload format violations, and every value rule (enum, range, length,
// pattern, date-time format, multipleOf) a property violation.
func codeForKind(e *jsonschema.ValidationError) ErrorCode {
	switch e.ErrorKind.(type) {
	case *kind.Required, *kind.MinItems, *kind.MaxItems, *kind.MinProperties, *kind.MaxProperties,
		*kind.DependentRequired, *kind.Dependency, *kind.MinContains, *kind.MaxContains:
		return CodeOccurrenceConstraintViolation
	case *kind.Type:
		if len(e.InstanceLocation) == 0 {
			return CodeFormatViolation
		}
		return CodeTypeConstraintViolation
	case *kind.AdditionalProperties, *kind.AdditionalItems, *kind.PropertyNames, *kind.InvalidJsonValue, *kind.FalseSchema:
		return CodeFormatViolation
	}
	return CodePropertyConstraintViolation
}
