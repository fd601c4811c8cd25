package ledger_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/site"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func rec(a site.Amps, exp time.Duration) *site.ProfileRecord {
	r := &site.ProfileRecord{Limit: a}
	if exp != 0 {
		r.Expires = now.Add(exp)
	}
	return r
}

func TestCountedAt(t *testing.T) {
	for _, tc := range []struct {
		desc string
		e    ledger.Entry
		want site.Amps
	}{
		{"nothing known: maximum", ledger.Entry{Max: 32, Online: true}, 32},
		{"fallback only", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{Fallback: site.ProfileSlot{Accepted: rec(10, 0)}}}, 10},
		{"dynamic below fallback", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 6},
		{"dynamic lease over: fallback", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(6, -time.Minute)}}}, 10},
		{"offline: at least its fallback", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 10},
		{"pending raise counts", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute), Pending: []site.ProfileRecord{*rec(16, time.Minute)}}}}, 16},
		{"Tx of another transaction does not apply", ledger.Entry{Max: 32, Online: true, TxID: "b", Slots: &site.EVSELoopState{
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)},
			Tx:        site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 20, TransactionID: "a", Expires: now.Add(time.Minute)}}}}, 6},
		{"non-compliant: maximum", ledger.Entry{Max: 32, Online: true, NonCompliant: true, Slots: &site.EVSELoopState{
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 32},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.e.CountedAt(now); got != tc.want {
				t.Fatalf("CountedAt = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCanRaiseKeepsLimits: starting from a ledger within limits, raises
// admitted by CanRaise and then counted as pending, in any order, keep it
// within limits; and the count never falls below what is applied.
func TestCanRaiseKeepsLimits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := &ledger.Tree{Voltage: 230, Nodes: []ledger.Node{
			{ID: "grid", Parent: -1, Limit: site.Uniform(site.Amps(rapid.Float64Range(10, 100).Draw(t, "grid")))},
			{ID: "c1", Parent: 0, Limit: site.Uniform(site.Amps(rapid.Float64Range(10, 63).Draw(t, "c1")))},
		}}
		n := rapid.IntRange(1, 6).Draw(t, "n")
		entries := make([]ledger.Entry, n)
		for i := range entries {
			entries[i] = ledger.Entry{Node: rapid.IntRange(0, 1).Draw(t, "node"), Phases: ledger.PhaseSet(rapid.IntRange(1, 7).Draw(t, "ph")),
				Max: 32, Online: true, Slots: &site.EVSELoopState{
					Fallback:  site.ProfileSlot{Accepted: rec(0, 0)},
					TxDefault: site.ProfileSlot{Accepted: rec(0, time.Hour)}}}
		}
		for step := range 20 {
			i := rapid.IntRange(0, n-1).Draw(t, "evse")
			a := site.Amps(rapid.Float64Range(0, 32).Draw(t, "limit"))
			e := &entries[i]
			before := e.CountedAt(now)
			if ledger.CanRaise(tr, entries, i, a, now) == nil {
				e.Slots.TxDefault.Pending = append(e.Slots.TxDefault.Pending, site.ProfileRecord{Seq: int64(step), Limit: a, Expires: now.Add(time.Hour)})
			} else if a <= before {
				t.Fatalf("a change to %v not above %v refused", a, before)
			}
			if err := ledger.CheckAll(tr, entries, now); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if e.CountedAt(now) < e.Applied(now) {
				t.Fatalf("counted below applied")
			}
			// Sometimes the charger answers: the pending becomes accepted.
			if rapid.Bool().Draw(t, "answer") && len(e.Slots.TxDefault.Pending) > 0 {
				p := e.Slots.TxDefault.Pending[len(e.Slots.TxDefault.Pending)-1]
				e.Slots.TxDefault.Accepted = &p
				e.Slots.TxDefault.Pending = nil
			}
		}
	})
}
