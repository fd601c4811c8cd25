package loop

import (
	"fmt"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// lastDynamic returns each charger's last dynamic limit sent in calls.
func lastDynamic(calls []call) map[string]float64 {
	out := map[string]float64{}
	for _, c := range calls {
		if c.Req.StackLevel > 0 {
			out[c.Ref.ChargerID] = c.Req.Periods[0].Limit
		}
	}
	return out
}

// A grid limit lowered below what the fallbacks the chargers may apply
// sum to (accepted, raised by pending ones) keeps every car charging at
// its share of the new limit: the fallbacks are lowered in the same pass,
// the scheduler plans with the new ones, nothing is paused (so no dwell
// time holds the cars off afterwards) and the ledger never breaks a
// limit. (Regression: the scheduler took the accepted and pending
// fallbacks as floors, found the input infeasible and paused every car;
// the dwell held them for two minutes.)
func TestLoweredLimitKeepsCarsCharging(t *testing.T) {
	const n = 4
	for _, tc := range []struct {
		desc string
		// fallback: how chargers answer fallback profiles once the grid
		// limit was raised (dynamic ones are accepted).
		fallback answer
		// then: what happens before the check.
		then func(h *harness)
	}{
		{"fallback raises still unanswered when the limit drops", late, func(h *harness) {
			h.ctrl.releaseLate()
			h.settle()
		}},
		{"fallback profiles time out", timeout, func(h *harness) {
			h.advance(5 * time.Second) // answer timeouts, retries
			h.advance(5 * time.Second)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, depot(63, n), nil)
			h.setGridLimit(40)
			var evs []site.Event
			for i := 1; i <= n; i++ {
				evs = append(evs, h.plugIn(fmt.Sprintf("cp%d", i), caps16, acme)...)
			}
			h.run(evs...)
			h.advance(15 * time.Second) // past the raise rate limit
			// Raise: dynamic limits and fallbacks go up to (63-0.5)/4 =
			// 15.6 A; the fallback raises are answered as tc says.
			for i := 1; i <= n; i++ {
				h.ctrl.setPolicy(fmt.Sprintf("cp%d", i), func(r site.LimitRequest) answer {
					if r.StackLevel == 0 {
						return tc.fallback
					}
					return accept
				})
			}
			h.setGridLimit(63)
			if tc.fallback == timeout {
				h.advance(5 * time.Second)
			}
			h.checkLedger()
			if got := lastDynamic(h.ctrl.since(0)); !near1(got["cp1"], 15.6) {
				t.Fatalf("setup: cp1 dynamic limit %v after the raise, want 15.6 A", got["cp1"])
			}
			mark := h.ctrl.mark()
			// Lower to 30 A: 4 x 15.6 A of fallbacks (pending) no longer
			// fit; each car's share is (30-0.5)/4 = 7.3 A. (The ledger is
			// over the new limit until the lowers are answered.)
			h.setGridLimit(30)
			for _, e := range h.view().EVSEs {
				if e.ReasonCode == "INFEASIBLE" || e.Limit < 7.2 {
					t.Errorf("right after the lower: %s allocated %.1f A (%s), want its share 7.3 A", e.ChargerID, e.Limit, e.Reason)
				}
			}
			for i := 1; i <= n; i++ {
				h.ctrl.setPolicy(fmt.Sprintf("cp%d", i), always(accept))
			}
			tc.then(h)
			h.checkLedger()
			calls := h.ctrl.since(mark)
			if p := pausedAfterStart(calls); len(p) > 0 {
				t.Errorf("cars paused by the lower: %v", p)
			}
			last := lastDynamic(calls)
			for i := 1; i <= n; i++ {
				id := fmt.Sprintf("cp%d", i)
				if a, ok := last[id]; !ok || !near1(a, 7.3) {
					t.Errorf("%s: last dynamic limit %v (sent: %v), want 7.3 A", id, a, ok)
				}
			}
			for _, e := range h.view().EVSEs {
				if !near1(float64(e.Limit), 7.3) || e.ReasonCode == "INFEASIBLE" {
					t.Errorf("after the answers: %s allocated %.1f A (%s), want 7.3 A", e.ChargerID, e.Limit, e.Reason)
				}
			}
		})
	}
}

// A car that starts charging before its transaction gets its limit as a
// TxDefault profile, then as a Tx profile; when the limit drops later,
// the TxDefault profile (the charger returns to it when the Tx profile
// ends) is lowered too, so the EVSE is counted at its new limit, not at
// the old TxDefault one for the rest of its lease. (Regression: at 1,000
// chargers, EVSEs counted at their maximum by leftover TxDefault profiles
// held every raise of the site back for ten minutes.)
func TestStaleTxDefaultLowered(t *testing.T) {
	h := newHarness(t, depot(63, 2), nil)
	evs := append(h.connectIdle("cp1"), site.EVSEStatusChanged{EventHeader: h.hdr("cp1"), EVSE: 1, Status: site.StatusCharging})
	h.run(evs...)
	if got := lastDynamic(h.ctrl.since(0)); got["cp1"] < 25 {
		t.Fatalf("setup: cp1 TxDefault limit %v, want the whole site less the margin", got["cp1"])
	}
	h.run(site.TransactionStarted{EventHeader: h.hdr("cp1"), Transaction: site.Transaction{ID: "tx-cp1", EVSE: 1, Start: h.clk.Now()}})
	h.run(h.plugIn("cp2", caps16, acme)...)
	h.advance(15 * time.Second)
	mark := h.ctrl.mark()
	h.setGridLimit(40)
	v := h.evseView("cp1")
	if v.Limit > 20 || !near1(float64(v.CountedAt), float64(v.Limit)) {
		t.Errorf("cp1 after the lower: limit %.1f A, counted at %.1f A; want counted at its limit", v.Limit, v.CountedAt)
	}
	lowered := false
	for _, c := range h.ctrl.since(mark) {
		if c.Ref.ChargerID == "cp1" && c.Req.StackLevel > 0 && c.Req.Purpose == site.PurposeTxDefault && near1(c.Req.Periods[0].Limit, float64(v.Limit)) {
			lowered = true
		}
	}
	if !lowered {
		t.Errorf("cp1's TxDefault profile not lowered: %+v", h.ctrl.since(mark))
	}
	h.checkLedger()
}
