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
