package site_test

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/site"
)

// TestValidateTreeAgainstReference draws arbitrary parent pointers (so
// cycles and missing parents happen) and compares Validate's verdict with a
// plain walk up the tree.
func TestValidateTreeAgainstReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 8).Draw(t, "n")
		c := site.Config{Site: site.Site{ID: "s", GridLimit: site.Uniform(100)}}
		for i := range n {
			parent := rapid.IntRange(-1, n).Draw(t, fmt.Sprintf("parent%d", i)) // -1: grid, n: missing
			p := ""
			if parent >= 0 {
				p = fmt.Sprintf("c%d", parent)
			}
			c.Circuits = append(c.Circuits, site.Circuit{ID: fmt.Sprintf("c%d", i), Parent: p, Limit: site.Uniform(100)})
		}
		// Reference: a circuit is fine when walking up reaches "" in at
		// most n steps through existing circuits.
		wantOK := true
		for i := range n {
			cur := i
			for steps := 0; ; steps++ {
				p := c.Circuits[cur].Parent
				if p == "" {
					break
				}
				var j int
				fmt.Sscanf(p, "c%d", &j)
				if j >= n || steps > n {
					wantOK = false
					break
				}
				cur = j
			}
		}
		err := c.Validate()
		if (err == nil) != wantOK {
			t.Fatalf("Validate() = %v, reference says valid=%v for %+v", err, wantOK, c.Circuits)
		}
	})
}

// TestValidateLimitsProperty builds valid trees (children within parents),
// checks they pass, then raises one circuit above its parent on one phase
// and checks exactly that field is reported unless the circuit is
// oversubscribed.
func TestValidateLimitsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		amps := func(lo, hi site.Amps, label string) site.Amps {
			return site.Amps(rapid.Float64Range(float64(lo), float64(hi)).Draw(t, label))
		}
		grid := site.PhaseCurrents{amps(1, 10_000, "g1"), amps(1, 10_000, "g2"), amps(1, 10_000, "g3")}
		c := site.Config{Site: site.Site{ID: "s", GridLimit: grid}}
		n := rapid.IntRange(1, 8).Draw(t, "n")
		for i := range n {
			parent := rapid.IntRange(-1, i-1).Draw(t, fmt.Sprintf("parent%d", i))
			pl, p := grid, ""
			if parent >= 0 {
				pl, p = c.Circuits[parent].Limit, c.Circuits[parent].ID
			}
			var l site.PhaseCurrents
			for ph := range 3 {
				l[ph] = amps(pl[ph]/100, pl[ph], fmt.Sprintf("l%d-%d", i, ph))
			}
			c.Circuits = append(c.Circuits, site.Circuit{ID: fmt.Sprintf("c%d", i), Parent: p, Limit: l})
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("valid tree rejected: %v", err)
		}

		i := rapid.IntRange(0, n-1).Draw(t, "victim")
		ph := rapid.IntRange(0, 2).Draw(t, "phase")
		over := rapid.Bool().Draw(t, "oversubscribed")
		ci := &c.Circuits[i]
		parentLimit := grid[ph]
		for _, p := range c.Circuits {
			if p.ID == ci.Parent {
				parentLimit = p.Limit[ph]
			}
		}
		raised := min(parentLimit+amps(0.001, 100, "extra"), site.MaxPhaseCurrent)
		if raised <= parentLimit {
			return // the parent is at the sane maximum already
		}
		ci.Limit[ph] = raised
		ci.Oversubscribed = over
		var want []string
		if !over {
			want = append(want, fmt.Sprintf("circuits[%d].limit.l%d", i, ph+1))
		}
		// The raised circuit's children were drawn below its old, lower
		// limit, so nothing else breaks.
		var got []string
		if err := c.Validate(); err != nil {
			for _, v := range err.(*site.ValidationError).Violations {
				got = append(got, v.Field)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("violations %q, want %q", got, want)
		}
	})
}
