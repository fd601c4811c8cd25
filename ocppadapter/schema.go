package ocppadapter

import (
	"bytes"
	_ "embed" // the OCA schemas are compiled into the binary
	"errors"
	"fmt"
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
// not define gives NotImplemented.
func (s *schemaSet) validate(action string, d msgDir, payload []byte) *CallError {
	_, cerr := s.check(action, d, payload)
	return cerr
}

// check is validate that also returns the parsed payload (map[string]any
// and so on) when it is valid.
func (s *schemaSet) check(action string, d msgDir, payload []byte) (any, *CallError) {
	if !s.has(action, d) {
		return nil, &CallError{Code: CodeNotImplemented, Description: "unknown action " + action, Action: action}
	}
	sch, err := s.schema(action, d)
	if err != nil {
		return nil, &CallError{Code: CodeInternalError, Description: err.Error(), Action: action}
	}
	v, err := parseJSONValue(payload)
	if err != nil {
		return nil, &CallError{Code: CodeFormatViolation, Description: "payload is not valid JSON: " + err.Error(), Action: action}
	}
	err = sch.Validate(v)
	if err == nil {
		return v, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, &CallError{Code: CodeInternalError, Description: err.Error(), Action: action}
	}
	leaf := firstLeaf(ve)
	return nil, &CallError{Code: codeForKind(leaf), Description: leaf.Error(), Action: action}
}

func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
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
