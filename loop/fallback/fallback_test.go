package fallback_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/loop/fallback"
	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/site"
)

func genTree(t *rapid.T) (*ledger.Tree, []fallback.EVSE) {
	tr := &ledger.Tree{Voltage: 230}
	nn := rapid.IntRange(1, 8).Draw(t, "nodes")
	for i := range nn {
		parent := -1
		if i > 0 {
			parent = rapid.IntRange(0, i-1).Draw(t, fmt.Sprintf("parent%d", i))
		}
		var lim site.PhaseCurrents
		for p := range 3 {
			if rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("unl%d.%d", i, p)) == 0 {
				lim[p] = ledger.Unlimited()
			} else {
				lim[p] = site.Amps(rapid.Float64Range(0, 100).Draw(t, fmt.Sprintf("lim%d.%d", i, p)))
			}
		}
		var pw site.Watts
		if rapid.Bool().Draw(t, fmt.Sprintf("haspower%d", i)) {
			pw = site.Watts(rapid.Float64Range(1000, 60000).Draw(t, fmt.Sprintf("power%d", i)))
		}
		var other site.PhaseCurrents
		for p := range 3 {
			other[p] = site.Amps(rapid.Float64Range(-10, 20).Draw(t, fmt.Sprintf("other%d.%d", i, p)))
		}
		tr.Nodes = append(tr.Nodes, ledger.Node{ID: fmt.Sprint("n", i), Parent: parent, Limit: lim, PowerLimit: pw, OtherLoad: other})
	}
	ne := rapid.IntRange(0, 20).Draw(t, "evses")
	var evses []fallback.EVSE
	for i := range ne {
		evses = append(evses, fallback.EVSE{
			Node:   rapid.IntRange(0, nn-1).Draw(t, fmt.Sprintf("node%d", i)),
			Phases: ledger.PhaseSet(rapid.IntRange(1, 7).Draw(t, fmt.Sprintf("phases%d", i))),
			Max:    site.Amps(rapid.SampledFrom([]float64{6, 10, 16, 32, 63}).Draw(t, fmt.Sprintf("max%d", i))),
			Min:    site.Amps(rapid.SampledFrom([]float64{0, 6, 8}).Draw(t, fmt.Sprintf("min%d", i))),
		})
	}
	return tr, evses
}

// TestFallbackFitsEveryNode: whatever subset of chargers falls back, the
// sum of fallbacks below every node fits it on every phase and in power
// (checking the full set covers every subset, fallbacks being >= 0).
func TestFallbackFitsEveryNode(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr, evses := genTree(t)
		fb := fallback.Limits(tr, evses)
		if len(fb) != len(evses) {
			t.Fatalf("got %d limits for %d EVSEs", len(fb), len(evses))
		}
		// The check counts PV (negative other load) as 0, as Limits does.
		chk := *tr
		chk.Nodes = append([]ledger.Node(nil), tr.Nodes...)
		for n := range chk.Nodes {
			for p := range 3 {
				chk.Nodes[n].OtherLoad[p] = max(0, chk.Nodes[n].OtherLoad[p])
			}
		}
		entries := make([]ledger.Entry, len(evses))
		for i, e := range evses {
			a := fb[i]
			if a < 0 || a > e.Max || math.IsNaN(float64(a)) {
				t.Fatalf("evse %d: fallback %v outside [0, %v]", i, a, e.Max)
			}
			if a > 0 && a < max(e.Min, 0) {
				t.Fatalf("evse %d: fallback %v below minimum %v", i, a, e.Min)
			}
			entries[i] = ledger.Entry{Node: e.Node, Phases: e.Phases, Max: a, NonCompliant: true}
		}
		base := ledger.Loads(&chk, nil, time.Time{}, nil)
		full := ledger.Loads(&chk, entries, time.Time{}, nil)
		for n, nd := range chk.Nodes {
			sumB, sumF := 0.0, 0.0
			for p := range 3 {
				sumB += base[n][p]
				sumF += full[n][p]
				// Where other load alone breaks a limit, fallbacks below
				// must add nothing.
				if full[n][p] > float64(nd.Limit[p])+1e-6 && full[n][p] > base[n][p]+1e-9 {
					t.Fatalf("fallbacks %v: node %s L%d: %.3f A > %.3f A", fb, nd.ID, p+1, full[n][p], nd.Limit[p])
				}
			}
			if nd.PowerLimit > 0 && sumF*230 > float64(nd.PowerLimit)+1e-6 && sumF > sumB+1e-9 {
				t.Fatalf("fallbacks %v: node %s power %.0f W > %.0f W", fb, nd.ID, sumF*230, nd.PowerLimit)
			}
		}
	})
}

func TestFallbackTable(t *testing.T) {
	one := func(lim site.Amps) *ledger.Tree {
		return &ledger.Tree{Voltage: 230, Nodes: []ledger.Node{{ID: "grid", Parent: -1, Limit: site.Uniform(lim)}}}
	}
	evse := func(maxA site.Amps) fallback.EVSE {
		return fallback.EVSE{Node: 0, Phases: ledger.AllPhases, Max: maxA, Min: 6}
	}
	for _, tc := range []struct {
		desc  string
		tree  *ledger.Tree
		evses []fallback.EVSE
		want  []site.Amps
	}{
		{"equal split", one(32), []fallback.EVSE{evse(32), evse(32)}, []site.Amps{16, 16}},
		{"max caps, rest to others", one(40), []fallback.EVSE{evse(10), evse(32)}, []site.Amps{10, 30}},
		{"below minimum is 0, room goes to others", one(20), []fallback.EVSE{evse(32), evse(32), evse(32), evse(32)}, []site.Amps{6.6, 6.6, 6.6, 0}},
		{"none fits", one(5), []fallback.EVSE{evse(32), evse(32)}, []site.Amps{0, 0}},
		{"one of three too small", one(13), []fallback.EVSE{evse(32), evse(32)}, []site.Amps{6.5, 6.5}},
		{"no room", one(0), []fallback.EVSE{evse(32)}, []site.Amps{0}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := fallback.Limits(tc.tree, tc.evses)
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-9 {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
