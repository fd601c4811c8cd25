package loop

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// A TxDefault profile that timed out before a transaction started is
// asked again in its own slot: re-sends in the Tx slot never cleared it,
// so the EVSE stayed "uncontrollable" for the rest of the lease, with
// its fallback frozen above a lowered grid limit.
func TestTimedOutTxDefaultClearedUnderTransaction(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(h.plugIn("cp2", caps16, acme)...)
	h.ctrl.setPolicy("cp1", always(timeout))
	h.run(h.connectIdle("cp1")...)
	h.advance(15 * time.Second)
	h.advance(15 * time.Second)
	h.ctrl.setPolicy("cp1", always(accept))
	h.run(site.EVSEStatusChanged{EventHeader: h.hdr("cp1"), EVSE: 1, Status: site.StatusCharging},
		site.TransactionStarted{EventHeader: h.hdr("cp1"), Transaction: site.Transaction{ID: "tx-cp1", EVSE: 1, Start: h.clk.Now()}})
	for range 3 {
		h.advance(15 * time.Second)
	}
	var stale bool
	h.do("depot", func(l *siteLoop) { stale = timedOut(l.chargers["cp1"].st.Loop.EVSEs[1], h.clk.Now()) })
	if stale {
		t.Errorf("cp1 still has timed-out profiles pending, so it stays uncontrollable with its fallback frozen:\n%s", h.dumpLoop())
	}
	if v := h.evseView("cp1"); v.State != "charging" {
		t.Errorf("cp1 %+v, want charging", v)
	}
	h.setGridLimit(10)
	for range 4 {
		h.advance(15 * time.Second)
	}
	if err := h.ledgerErr(); err != nil {
		t.Fatalf("%v\n%s", err, h.dumpLoop())
	}
	if fb1, fb2 := fallbackOf(h, "cp1"), fallbackOf(h, "cp2"); fb1+fb2 > 10+1e-9 {
		t.Fatalf("fallbacks %.1f + %.1f A above the 10 A grid\n%s", fb1, fb2, h.dumpLoop())
	}
}
