package ledger_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/site"
)

func TestCoveredUntil(t *testing.T) {
	fb := func(a site.Amps) site.ProfileSlot { return site.ProfileSlot{Accepted: rec(a, 0)} }
	for _, tc := range []struct {
		desc    string
		e       ledger.Entry
		a       site.Amps
		purpose site.ProfilePurpose
		until   time.Duration // from now; ignored when forever
		forever bool
	}{
		{"fallback at a: forever", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{Fallback: fb(10),
			TxDefault: site.ProfileSlot{Accepted: rec(20, time.Minute)}}}, 10, site.PurposeTx, 0, true},
		{"no fallback accepted: counted at the maximum forever", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{}}, 16, site.PurposeTx, 0, true},
		{"above the fallback: until the lease ends", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(20, time.Minute)}}}, 16, site.PurposeTx, time.Minute, false},
		{"the latest of several records at a or above", ledger.Entry{Max: 32, TxID: "a", Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(20, time.Minute), Pending: []site.ProfileRecord{*rec(18, 3*time.Minute), *rec(12, 9*time.Minute)}},
			Tx:        site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 16, TransactionID: "a", Expires: now.Add(5 * time.Minute)}}}}, 16, site.PurposeTx, 5 * time.Minute, false},
		{"a Tx record of another transaction covers nothing", ledger.Entry{Max: 32, TxID: "b", Slots: &site.EVSELoopState{Fallback: fb(6),
			Tx: site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 16, TransactionID: "a", Expires: now.Add(5 * time.Minute)}}}}, 10, site.PurposeTx, 0, false},
		{"nothing at a or above: not covered (until now)", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(8, time.Minute)}}}, 10, site.PurposeTx, 0, false},
		{"an ended lease covers nothing", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(20, -time.Minute)}}}, 10, site.PurposeTx, 0, false},
		{"others' Tx profile does not cover (it is not in our records)", ledger.Entry{Max: 32, Others: 20, Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(16, time.Minute)}}}, 16, site.PurposeTx, time.Minute, false},
		{"a TxDefault change is not covered by a Tx record (it ends with the transaction)", ledger.Entry{Max: 32, TxID: "a", Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(16, time.Minute)},
			Tx:        site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 16, Purpose: site.PurposeTx, TransactionID: "a", Expires: now.Add(5 * time.Minute)}}}},
			10, site.PurposeTxDefault, time.Minute, false},
		{"non-compliant: forever", ledger.Entry{Max: 32, NonCompliant: true, Slots: &site.EVSELoopState{Fallback: fb(0)}}, 32, site.PurposeTx, 0, true},
		{"a above the maximum is taken as the maximum", ledger.Entry{Max: 16, Slots: &site.EVSELoopState{Fallback: fb(6),
			TxDefault: site.ProfileSlot{Accepted: rec(16, time.Minute)}}}, 20, site.PurposeTx, time.Minute, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			until, forever := tc.e.CoveredUntil(tc.a, tc.purpose, now)
			if forever != tc.forever || (!forever && !until.Equal(now.Add(tc.until))) {
				t.Fatalf("CoveredUntil(%v) = %v, %v; want %v, %v", tc.a, until.Sub(now), forever, tc.until, tc.forever)
			}
		})
	}
}

// TestCoveredUntilAgreesWithCountedAt: on random records, CountedAt stays
// at a or above exactly until CoveredUntil says (sampled every second).
func TestCoveredUntilAgreesWithCountedAt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lim := rapid.SampledFrom([]site.Amps{0, 6, 10, 16, 20, 32})
		exp := rapid.SampledFrom([]time.Duration{-time.Minute, 0, 30 * time.Second, time.Minute, 2 * time.Minute})
		r := func(name string) *site.ProfileRecord {
			if !rapid.Bool().Draw(t, name) {
				return nil
			}
			x := rec(lim.Draw(t, name+"-limit"), exp.Draw(t, name+"-exp"))
			x.TransactionID = rapid.SampledFrom([]string{"a", "b"}).Draw(t, name+"-tx")
			return x
		}
		pend := func(name string) []site.ProfileRecord {
			var ps []site.ProfileRecord
			for i := range rapid.IntRange(0, 2).Draw(t, name) {
				if p := r(name + string(rune('0'+i))); p != nil {
					ps = append(ps, *p)
				}
			}
			return ps
		}
		ls := &site.EVSELoopState{
			Fallback:  site.ProfileSlot{Accepted: r("fb")},
			TxDefault: site.ProfileSlot{Accepted: r("txd"), Pending: pend("txdp")},
			Tx:        site.ProfileSlot{Accepted: r("tx"), Pending: pend("txp")},
		}
		if ls.Fallback.Accepted != nil {
			ls.Fallback.Accepted.Expires = time.Time{}
		}
		for _, r := range append([]*site.ProfileRecord{ls.Tx.Accepted}, ptrs(ls.Tx.Pending)...) {
			if r != nil {
				r.Purpose = site.PurposeTx
			}
		}
		e := ledger.Entry{Max: 32, TxID: rapid.SampledFrom([]string{"", "a"}).Draw(t, "txid"),
			NonCompliant: rapid.Float64().Draw(t, "nc") < 0.1, Slots: ls}
		a := lim.Draw(t, "a")
		// A Tx profile: covered exactly while CountedAt stays at a.
		until, forever := e.CoveredUntil(a, site.PurposeTx, now)
		for s := 0; s <= 180; s++ {
			at := now.Add(time.Duration(s) * time.Second)
			covered := forever || at.Before(until)
			if got := e.CountedAt(at) >= a; got != covered {
				t.Fatalf("at +%ds CountedAt = %v, a = %v, CoveredUntil = +%v (forever %v)", s, e.CountedAt(at), a, until.Sub(now), forever)
			}
		}
		// A TxDefault profile: covered also if the transaction ends.
		until, forever = e.CoveredUntil(a, site.PurposeTxDefault, now)
		ended := e
		ended.TxID = ""
		for s := 0; s <= 180; s++ {
			at := now.Add(time.Duration(s) * time.Second)
			if (forever || at.Before(until)) && (e.CountedAt(at) < a || ended.CountedAt(at) < a) {
				t.Fatalf("TxDefault covered until +%v (forever %v), but at +%ds CountedAt = %v, %v once the transaction ended",
					until.Sub(now), forever, s, e.CountedAt(at), ended.CountedAt(at))
			}
		}
	})
}

func ptrs(rs []site.ProfileRecord) []*site.ProfileRecord {
	out := make([]*site.ProfileRecord, len(rs))
	for i := range rs {
		out[i] = &rs[i]
	}
	return out
}

// TestCounterRoom: counted at Room, entry i keeps every node on its path
// within its limits; 0.1 A more breaks one (unless Room is its maximum),
// on random trees, loads and records.
func TestCounterRoom(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tree := ledger.Tree{Voltage: 230, Nodes: []ledger.Node{
			{ID: "", Parent: -1, Limit: site.Uniform(site.Amps(rapid.SampledFrom([]float64{16, 32, 63}).Draw(t, "grid")))},
			{ID: "c1", Parent: 0, Limit: site.Uniform(site.Amps(rapid.SampledFrom([]float64{10, 25, 100}).Draw(t, "c1")))},
		}}
		if rapid.Bool().Draw(t, "power") {
			tree.Nodes[0].PowerLimit = site.Watts(rapid.SampledFrom([]float64{7000, 15000, 30000}).Draw(t, "kw"))
		}
		for p := range 3 {
			tree.Nodes[0].OtherLoad[p] = site.Amps(rapid.SampledFrom([]float64{0, 2.5, 9}).Draw(t, "other"))
			tree.Nodes[1].OtherLoad[p] = site.Amps(rapid.SampledFrom([]float64{0, 1.5}).Draw(t, "other c1"))
			tree.Nodes[0].OtherLoad[p] += tree.Nodes[1].OtherLoad[p]
		}
		var entries []ledger.Entry
		for range rapid.IntRange(1, 4).Draw(t, "entries") {
			ph := ledger.PhaseSet(rapid.SampledFrom([]int{1, 2, 4, 7}).Draw(t, "phases"))
			fb := site.Amps(rapid.SampledFrom([]float64{0, 6, 10, 16}).Draw(t, "fallback"))
			entries = append(entries, ledger.Entry{Node: rapid.IntRange(0, 1).Draw(t, "node"), Phases: ph, Max: 32,
				Slots: &site.EVSELoopState{Fallback: site.ProfileSlot{Accepted: rec(fb, 0)}}})
		}
		i := rapid.IntRange(0, len(entries)-1).Draw(t, "i")
		c := ledger.NewCounter(&tree, entries, now)
		room := c.Room(i)
		e := &entries[i]
		// fits: every limit entry i loads (its phases and power on its
		// path) holds with it counted at a.
		fits := func(a site.Amps) bool {
			loads := ledger.Loads(&tree, entries, now, map[int]site.Amps{i: a})
			for _, n := range ledger.Path(&tree, e.Node) {
				sum := 0.0
				for p := range 3 {
					sum += loads[n][p]
					if e.Phases.Has(p) && loads[n][p] > float64(tree.Nodes[n].Limit[p])+1e-6 {
						return false
					}
				}
				if pl := tree.Nodes[n].PowerLimit; pl > 0 && sum*float64(tree.Voltage) > float64(pl)+1e-6 {
					return false
				}
			}
			return true
		}
		if room > 0 && !fits(room) {
			t.Fatalf("counted at its room %.1f A it breaks a limit", room)
		}
		if room < e.Max && fits(room+0.1) {
			t.Fatalf("room %.1f A, but %.1f A fits too", room, room+0.1)
		}
	})
}
