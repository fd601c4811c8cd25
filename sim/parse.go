package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/smartcharge/smartcharge/site"
)

// maxScenarioBytes bounds what ParseScenario reads.
const maxScenarioBytes = 8 << 20

// ParseScenario reads a scenario in YAML or JSON (a document starting with
// '{' is read as JSON), rejects unknown fields and validates it.
// Errors wrap ErrScenario.
func ParseScenario(data []byte) (*Scenario, error) {
	if len(data) > maxScenarioBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrScenario, maxScenarioBytes)
	}
	var s Scenario
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrScenario, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: json: data after the document", ErrScenario)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: yaml: %w", ErrScenario, err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadScenario reads and parses a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: read scenario: %w", err)
	}
	s, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Duration is a time.Duration written as "90s", "15m" or a number of
// seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsDuration(f)
	}
	x, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. \"90s\", \"15m\" or seconds", s)
	}
	return Duration(x), nil
}

func secondsDuration(f float64) (Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
		return 0, fmt.Errorf("duration %v s out of range", f)
	}
	return Duration(f * float64(time.Second)), nil
}

// UnmarshalYAML reads a duration string or seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a scalar", n.Line)
	}
	x, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = x
	return nil
}

// UnmarshalJSON reads a duration string or seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		x, err := parseDuration(s)
		*d = x
		return err
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration: want a string or seconds")
	}
	x, err := secondsDuration(f)
	*d = x
	return err
}

// MarshalJSON writes the duration as a string ("1m30s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Currents is a per-phase current written as one number (all phases) or a
// list of three.
type Currents site.PhaseCurrents

func (c Currents) positive() bool    { return c[0] > 0 && c[1] > 0 && c[2] > 0 }
func (c Currents) nonNegative() bool { return c[0] >= 0 && c[1] >= 0 && c[2] >= 0 }

func (c *Currents) set(vals []float64) error {
	for _, f := range vals {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e6 {
			return fmt.Errorf("current %v out of range", f)
		}
	}
	switch len(vals) {
	case 1:
		*c = Currents{site.Amps(vals[0]), site.Amps(vals[0]), site.Amps(vals[0])}
	case 3:
		*c = Currents{site.Amps(vals[0]), site.Amps(vals[1]), site.Amps(vals[2])}
	default:
		return fmt.Errorf("currents: want one number or a list of three, got %d", len(vals))
	}
	return nil
}

// UnmarshalYAML reads 32 or [32, 32, 16].
func (c *Currents) UnmarshalYAML(n *yaml.Node) error {
	var vals []float64
	switch n.Kind {
	case yaml.ScalarNode:
		var f float64
		if err := n.Decode(&f); err != nil {
			return err
		}
		vals = []float64{f}
	case yaml.SequenceNode:
		if err := n.Decode(&vals); err != nil {
			return err
		}
	default:
		return fmt.Errorf("line %d: currents: want a number or a list of three", n.Line)
	}
	if err := c.set(vals); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// UnmarshalJSON reads 32 or [32, 32, 16].
func (c *Currents) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		return c.set([]float64{f})
	}
	var vals []float64
	if err := json.Unmarshal(b, &vals); err != nil {
		return fmt.Errorf("currents: want a number or a list of three")
	}
	return c.set(vals)
}
