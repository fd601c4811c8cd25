package loop

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// A CSMS's Tx profile for a running transaction governs the charger once
// the loop's dynamic Tx profile ends (a Tx profile wins over the loop's
// TxDefault fallback at any stack level): the ledger counts the EVSE at
// it, the other chargers' fallbacks make room for it, and a restarted
// loop still knows it.
func TestCSMSTxProfileCountsWhenGone(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.advance(15 * time.Second)
	csmsTx := site.ExternalSchedule{Purpose: site.PurposeTx, StackLevel: 2, TransactionID: "tx-cp1", Unit: site.UnitAmps,
		Periods: []site.Period{{Limit: 20}}}
	h.run(h.csmsLimit("cp1", csmsTx))
	h.advance(15 * time.Second)
	check := func(when string) {
		t.Helper()
		if v := h.evseView("cp1"); v.CountedAt < 20 || v.Accepted > 20+1e-9 {
			t.Fatalf("%s: cp1 %+v, want counted at 20 A at least (the CSMS's Tx profile) and allowed at most 20 A", when, v)
		}
		fb1, fb2 := fallbackOf(h, "cp1"), fallbackOf(h, "cp2")
		if 20+fb2 > 32+1e-9 {
			t.Fatalf("%s: the CSMS's 20 A on cp1 and cp2's fallback %.1f A break 32 A when we are gone", when, fb2)
		}
		if fb1 != 0 {
			t.Errorf("%s: cp1's own fallback %.1f A, want 0 while the CSMS's Tx profile governs", when, fb1)
		}
		if err := h.ledgerErr(); err != nil {
			t.Fatalf("%s: %v\n%+v\n%s", when, err, h.evseView("cp2"), h.dumpLoop())
		}
	}
	check("at once")
	h.stopManager()
	h.start()
	h.advance(15 * time.Second)
	check("after a restart")
	// The transaction ends: the charger drops the CSMS's Tx profile, and
	// the fallbacks are shared again once a car is back.
	h.run(site.TransactionStopped{EventHeader: h.hdr("cp1"), Transaction: site.Transaction{ID: "tx-cp1", EVSE: 1}},
		site.EVSEStatusChanged{EventHeader: h.hdr("cp1"), EVSE: 1, Status: site.StatusAvailable})
	h.run(site.EVSEStatusChanged{EventHeader: h.hdr("cp1"), EVSE: 1, Status: site.StatusCharging},
		site.TransactionStarted{EventHeader: h.hdr("cp1"), Transaction: site.Transaction{ID: "tx-cp1b", EVSE: 1, Start: h.clk.Now()}})
	for range 3 {
		h.advance(15 * time.Second)
	}
	if v := h.evseView("cp1"); v.CountedAt > 17 {
		t.Fatalf("a new transaction: cp1 %+v, want it counted at its share again", v)
	}
	if fb := fallbackOf(h, "cp1"); fb < 6 {
		t.Fatalf("a new transaction: cp1's fallback %.1f A, want its share back", fb)
	}
	h.checkLedger()
}

// The loop's fallback leads over a CSMS's TxDefault profile when
// smartcharge is gone (a higher stack level), so it is never above a
// period the CSMS's profile has ahead: a 6 A period from 22:00 caps it
// now; a Tx profile does not (it goes with its transaction; one of the
// running transaction governs instead of the fallback, see above).
func TestFallbackBelowLaterCSMSPeriods(t *testing.T) {
	for _, tc := range []struct {
		name    string
		purpose site.ProfilePurpose
		unit    site.RateUnit
		later   float64
		want    func(fb site.Amps) bool
	}{
		{"TxDefault, 6 A later", site.PurposeTxDefault, site.UnitAmps, 6, func(fb site.Amps) bool { return fb <= 6 }},
		{"TxDefault, 4140 W later (6 A on 3 phases)", site.PurposeTxDefault, site.UnitWatts, 4140, func(fb site.Amps) bool { return fb <= 6+1e-9 }},
		{"Tx profile of another transaction, 6 A later", site.PurposeTx, site.UnitAmps, 6, func(fb site.Amps) bool { return fb > 6 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, depot(32, 1), nil)
			h.run(h.plugIn("cp1", caps16, acme)...)
			h.advance(15 * time.Second)
			now := h.clk.Now()
			high := 32.0
			if tc.unit == site.UnitWatts {
				high = 32 * 3 * 230
			}
			s := site.ExternalSchedule{Purpose: tc.purpose, StackLevel: 1, Unit: tc.unit, Start: now,
				Periods: []site.Period{{Limit: high}, {Offset: 10 * time.Hour, Limit: tc.later}}}
			if tc.purpose == site.PurposeTx {
				s.TransactionID = "tx-before"
			}
			h.run(h.csmsLimit("cp1", s))
			h.advance(15 * time.Second)
			if fb := fallbackOf(h, "cp1"); !tc.want(fb) {
				t.Fatalf("cp1's fallback %.1f A", fb)
			}
			if v := h.evseView("cp1"); v.Accepted < 20 {
				t.Fatalf("cp1 %+v: the limit in force now (32 A) should not hold it back", v)
			}
		})
	}
}
