package ledger_test

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/site"
)

// TestCounterAgreesWithCanRaise: through any series of raises made
// pending, answers and lowers (each recounted), the Counter's check
// decides exactly as CanRaise on the whole ledger, and its loads equal
// Loads.
func TestCounterAgreesWithCanRaise(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := &ledger.Tree{Voltage: 230, Nodes: []ledger.Node{
			{ID: "grid", Parent: -1, Limit: site.Uniform(site.Amps(rapid.Float64Range(10, 100).Draw(t, "grid"))),
				PowerLimit: site.Watts(rapid.SampledFrom([]float64{0, 30000}).Draw(t, "power"))},
			{ID: "c1", Parent: 0, Limit: site.Uniform(site.Amps(rapid.Float64Range(10, 63).Draw(t, "c1")))},
			{ID: "c2", Parent: 1, Limit: site.Uniform(ledger.Unlimited()), OtherLoad: site.Uniform(site.Amps(rapid.Float64Range(0, 5).Draw(t, "other")))},
		}}
		n := rapid.IntRange(1, 8).Draw(t, "n")
		entries := make([]ledger.Entry, n)
		for i := range entries {
			entries[i] = ledger.Entry{Node: rapid.IntRange(0, 2).Draw(t, "node"), Phases: ledger.PhaseSet(rapid.IntRange(1, 7).Draw(t, "ph")),
				Max: 32, Online: true, NonCompliant: rapid.IntRange(0, 9).Draw(t, "nc") == 0, Slots: &site.EVSELoopState{
					Fallback:  site.ProfileSlot{Accepted: rec(site.Amps(rapid.Float64Range(0, 6).Draw(t, "fb")), 0)},
					TxDefault: site.ProfileSlot{Accepted: rec(site.Amps(rapid.Float64Range(0, 8).Draw(t, "dyn")), time.Hour)}}}
		}
		c := ledger.NewCounter(tr, entries, now)
		for step := range 30 {
			i := rapid.IntRange(0, n-1).Draw(t, "evse")
			a := site.Amps(rapid.Float64Range(0, 32).Draw(t, "limit"))
			want := ledger.CanRaise(tr, entries, i, a, now)
			got := c.CanRaise(i, a)
			if (want == nil) != (got == nil) || (got != nil && !errors.Is(got, ledger.ErrOverLimit)) {
				t.Fatalf("step %d: Counter.CanRaise = %v, CanRaise = %v", step, got, want)
			}
			s := &entries[i].Slots.TxDefault
			switch rapid.IntRange(0, 2).Draw(t, "what") {
			case 0: // made pending (a raise only when it fits)
				if got == nil {
					s.Pending = append(s.Pending, site.ProfileRecord{Seq: int64(step), Limit: a, Expires: now.Add(time.Hour)})
				}
			case 1: // answered
				if len(s.Pending) > 0 {
					p := s.Pending[len(s.Pending)-1]
					s.Accepted, s.Pending = &p, nil
				}
			case 2: // a lower accepted
				if s.Accepted != nil && a < s.Accepted.Limit {
					s.Accepted = rec(a, time.Hour)
				}
			}
			c.Recount(i)
			full := ledger.Loads(tr, entries, now, nil)
			for nd := range full {
				for p := range 3 {
					if d := full[nd][p] - c.Loads()[nd][p]; d > 1e-9 || d < -1e-9 {
						t.Fatalf("step %d: node %d L%d: Counter %v, Loads %v", step, nd, p+1, c.Loads()[nd][p], full[nd][p])
					}
				}
			}
		}
	})
}

// BenchmarkRaises compares checking a raise of every EVSE of a
// 1,000-EVSE ledger one by one with CanRaise and with a Counter.
func BenchmarkRaises(b *testing.B) {
	const n = 1000
	tr := &ledger.Tree{Voltage: 230, Nodes: []ledger.Node{{ID: "grid", Parent: -1, Limit: site.Uniform(20000)}}}
	entries := make([]ledger.Entry, n)
	for i := range entries {
		entries[i] = ledger.Entry{Phases: ledger.AllPhases, Max: 16, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(7, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(7, time.Hour)}}}
	}
	b.Run("CanRaise", func(b *testing.B) {
		for b.Loop() {
			for i := range entries {
				_ = ledger.CanRaise(tr, entries, i, 9, now)
			}
		}
	})
	b.Run("Counter", func(b *testing.B) {
		for b.Loop() {
			c := ledger.NewCounter(tr, entries, now)
			for i := range entries {
				_ = c.CanRaise(i, 9)
			}
		}
	})
}
