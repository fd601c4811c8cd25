package sitefile

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics; a config it accepts passes
// site.Config.Validate and survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no examples for the seed corpus: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "site: {id: s, grid_limit_a: 5}\n", "site:\n  id: &a s\n  display_name: *a\n",
		minimalSite + "chargers:\n  - {id: c, ocpp_identity: C, evse_count: 3, max_current_a: 16, phases: 3}\n",
		minimalSite + "grid_limits:\n  - {id: g, source: ems, limit: {l1_a: 1, l2_a: 2, l3_a: 3}, start: 2026-01-01T00:00:00Z}\n",
		minimalSite + "circuits:\n  - {id: a, limit_a: 40, power_limit_kw: 1e-3}\n  - {id: b, parent: a, limit_a: 63, oversubscribed: true}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that fails Validate: %v", err)
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		again, err := Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("Parse of Marshal output:\n%s\n%v", out, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the config:\n%s", out)
		}
	})
}
