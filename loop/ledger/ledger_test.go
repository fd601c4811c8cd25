package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/loop/fallback"
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
		{"dynamic below fallback: the fallback (it returns there when the lease ends)", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 10},
		{"dynamic above fallback: the dynamic limit until its lease ends", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(20, time.Minute)}}}, 20},
		{"no fallback accepted: the maximum even under a dynamic profile", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 32},
		{"pending fallback raise counts", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(6, 0), Pending: []site.ProfileRecord{*rec(12, 0)}}}}, 12},
		{"Tx and TxDefault both in force: the higher (either may outlast the other)", ledger.Entry{Max: 32, Online: true, TxID: "a", Slots: &site.EVSELoopState{
			Fallback:  site.ProfileSlot{Accepted: rec(0, 0)},
			TxDefault: site.ProfileSlot{Accepted: rec(16, 2*time.Minute)},
			Tx:        site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 8, TransactionID: "a", Expires: now.Add(time.Minute)}}}}, 16},
		{"dynamic lease over: fallback", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(6, -time.Minute)}}}, 10},
		{"offline: at least its fallback", ledger.Entry{Max: 32, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 10},
		{"pending raise counts", ledger.Entry{Max: 32, Online: true, Slots: &site.EVSELoopState{
			Fallback:  site.ProfileSlot{Accepted: rec(0, 0)},
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute), Pending: []site.ProfileRecord{*rec(16, time.Minute)}}}}, 16},
		{"Tx of another transaction does not apply", ledger.Entry{Max: 32, Online: true, TxID: "b", Slots: &site.EVSELoopState{
			Fallback:  site.ProfileSlot{Accepted: rec(0, 0)},
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)},
			Tx:        site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 20, TransactionID: "a", Expires: now.Add(time.Minute)}}}}, 6},
		{"non-compliant: maximum", ledger.Entry{Max: 32, Online: true, NonCompliant: true, Slots: &site.EVSELoopState{
			TxDefault: site.ProfileSlot{Accepted: rec(6, time.Minute)}}}, 32},
		{"a Tx profile of others above the fallback: it governs when our lease ends", ledger.Entry{Max: 32, Others: 20, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}, Tx: site.ProfileSlot{Accepted: rec(8, time.Minute)}}}, 20},
		{"a Tx profile of others below the fallback: the fallback", ledger.Entry{Max: 32, Others: 6, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}}}, 10},
		{"others above the maximum: the maximum", ledger.Entry{Max: 16, Others: 40, Slots: &site.EVSELoopState{
			Fallback: site.ProfileSlot{Accepted: rec(10, 0)}}}, 16},
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

// possible lists, independently of CountedAt, every limit an EVSE may apply
// at t if we went away now: its accepted fallback (the maximum when none
// was accepted) or any pending fallback, and any dynamic profile accepted
// or pending whose lease has not ended at t (the Tx profile only for the
// running transaction).
func possible(e *ledger.Entry, t time.Time) []site.Amps {
	s := e.Slots
	var out []site.Amps
	if s.Fallback.Accepted == nil {
		out = append(out, e.Max)
	} else {
		out = append(out, s.Fallback.Accepted.Limit)
	}
	for _, p := range s.Fallback.Pending {
		out = append(out, p.Limit)
	}
	inForce := func(r *site.ProfileRecord, tx bool) {
		if r == nil || !(r.Expires.IsZero() || t.Before(r.Expires)) {
			return
		}
		if tx && (e.TxID == "" || r.TransactionID != e.TxID) {
			return
		}
		out = append(out, r.Limit)
	}
	inForce(s.TxDefault.Accepted, false)
	inForce(s.Tx.Accepted, true)
	for i := range s.TxDefault.Pending {
		inForce(&s.TxDefault.Pending[i], false)
	}
	for i := range s.Tx.Pending {
		inForce(&s.Tx.Pending[i], true)
	}
	for i := range out {
		out[i] = min(out[i], e.Max)
	}
	return out
}

// everyMix checks every combination of what the EVSEs may apply: any
// subset back on its fallback, the others on any dynamic limit still in
// force, in any order of lease expiry.
func everyMix(tr *ledger.Tree, entries []ledger.Entry, t time.Time) error {
	opts := make([][]site.Amps, len(entries))
	for i := range entries {
		opts[i] = possible(&entries[i], t)
	}
	pick := make([]int, len(entries))
	for {
		override := map[int]site.Amps{}
		for i, k := range pick {
			override[i] = opts[i][k]
		}
		if err := ledger.Check(tr, ledger.Loads(tr, entries, t, override), nil); err != nil {
			return fmt.Errorf("with %v: %w", override, err)
		}
		i := 0
		for ; i < len(pick); i++ {
			if pick[i]++; pick[i] < len(opts[i]) {
				break
			}
			pick[i] = 0
		}
		if i == len(pick) {
			return nil
		}
	}
}

// TestLeasesRunOutInAnyOrder: raises of dynamic and fallback profiles
// admitted by CanRaise (lowers always sent), answers and time passing, in
// any order, from fallbacks that fit: at every step, whatever subset of
// EVSEs is back on its fallback and whatever the others still apply
// (accepted or pending, leases in force), every limit holds, now and at
// every later lease end.
func TestLeasesRunOutInAnyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := &ledger.Tree{Voltage: 230, Nodes: []ledger.Node{
			{ID: "grid", Parent: -1, Limit: site.Uniform(site.Amps(rapid.Float64Range(10, 100).Draw(t, "grid")))},
			{ID: "c1", Parent: 0, Limit: site.Uniform(site.Amps(rapid.Float64Range(10, 63).Draw(t, "c1")))},
			{ID: "c2", Parent: 0, Limit: site.Uniform(ledger.Unlimited()), PowerLimit: site.Watts(rapid.Float64Range(5000, 40000).Draw(t, "c2.power"))},
		}}
		n := rapid.IntRange(1, 4).Draw(t, "n")
		entries := make([]ledger.Entry, n)
		fbIn := make([]fallback.EVSE, n)
		for i := range entries {
			entries[i] = ledger.Entry{Node: rapid.IntRange(0, 2).Draw(t, "node"), Phases: ledger.PhaseSet(rapid.IntRange(1, 7).Draw(t, "ph")),
				Max: 32, Online: true, TxID: "tx", Slots: &site.EVSELoopState{}}
			fbIn[i] = fallback.EVSE{Node: entries[i].Node, Phases: entries[i].Phases, Max: 32, Min: 6}
		}
		for i, a := range fallback.Limits(tr, fbIn) {
			entries[i].Slots.Fallback.Accepted = &site.ProfileRecord{Limit: a}
		}
		clock := now
		seq := int64(0)
		for step := range 30 {
			i := rapid.IntRange(0, n-1).Draw(t, "evse")
			e := &entries[i]
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0, 1: // a dynamic profile (Tx or TxDefault) with a lease
				seq++
				r := site.ProfileRecord{Seq: seq, Limit: site.Amps(rapid.Float64Range(0, 32).Draw(t, "limit")),
					Expires: clock.Add(time.Duration(rapid.IntRange(1, 20).Draw(t, "lease")) * time.Minute)}
				s := &e.Slots.TxDefault
				if rapid.Bool().Draw(t, "tx") {
					s, r.TransactionID = &e.Slots.Tx, "tx"
				}
				if r.Limit <= e.CountedAt(clock) || ledger.CanRaise(tr, entries, i, r.Limit, clock) == nil {
					s.Pending = append(s.Pending, r)
				}
			case 2: // a new fallback
				seq++
				r := site.ProfileRecord{Seq: seq, Limit: site.Amps(rapid.SampledFrom([]float64{0, 6, 8, 10, 16}).Draw(t, "fb"))}
				if r.Limit <= e.CountedAt(clock) || ledger.CanRaise(tr, entries, i, r.Limit, clock) == nil {
					e.Slots.Fallback.Pending = append(e.Slots.Fallback.Pending, r)
				}
			case 3: // the charger answers its oldest pending profile
				for _, s := range []*site.ProfileSlot{&e.Slots.Fallback, &e.Slots.TxDefault, &e.Slots.Tx} {
					if len(s.Pending) > 0 {
						p := s.Pending[0]
						s.Accepted, s.Pending = &p, s.Pending[1:]
						break
					}
				}
			default: // time passes: some leases end
				clock = clock.Add(time.Duration(rapid.IntRange(1, 15).Draw(t, "minutes")) * time.Minute)
			}
			// Now and at every later lease end: each EVSE's options only
			// shrink as leases end, so checking the ends checks all times.
			times := []time.Time{clock}
			for _, e := range entries {
				for _, s := range []*site.ProfileSlot{&e.Slots.TxDefault, &e.Slots.Tx} {
					if s.Accepted != nil && s.Accepted.Expires.After(clock) {
						times = append(times, s.Accepted.Expires)
					}
					for _, p := range s.Pending {
						if p.Expires.After(clock) {
							times = append(times, p.Expires)
						}
					}
				}
			}
			for _, at := range times {
				if err := everyMix(tr, entries, at); err != nil {
					t.Fatalf("step %d, at %v: %v", step, at.Sub(now), err)
				}
			}
		}
	})
}
