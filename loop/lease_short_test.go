package loop

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/smartcharge/smartcharge/site"
)

// A lower decided less than a second before the lease that covers it ends
// was sent with Duration 0 (whole seconds, rounded down): the adapter
// sends no duration then, so the charger applied it for ever, and after
// Redis came back the room was given away (found by review). Now such a
// change is written first, or not sent when it cannot be (the charger
// returns to its counted fallback at the lease end).
func TestLowerNearLeaseEndHasADuration(t *testing.T) {
	mr := miniredis.RunT(t)
	h := newHarnessOn(t, mr.Addr(), depot(32, 2), func(c *Config) { c.FallbackFraction = 0.5 })
	h.run(h.plugIn("cp1", caps16, acme)...)
	h.run(site.ChargerConnected{EventHeader: h.hdr("cp2")}, site.ChargerBooted{EventHeader: h.hdr("cp2"), Boot: acme},
		site.ChargerCapabilitiesRead{EventHeader: h.hdr("cp2"), Capabilities: caps16})
	h.advance(15 * time.Second)
	var exp time.Time
	h.do("depot", func(l *siteLoop) {
		ls := l.chargers["cp1"].st.Loop.EVSEs[1]
		for _, s := range []*site.ProfileSlot{&ls.Tx, &ls.TxDefault} {
			if s.Accepted != nil && s.Accepted.Expires.After(exp) {
				exp = s.Accepted.Expires
			}
		}
	})
	t.Logf("cp1 %+v lease ends %v (in %v)", h.evseView("cp1"), exp, exp.Sub(h.clk.Now()))
	mr.Close() // renewals cannot be written from here on
	for h.clk.Now().Add(10 * time.Second).Before(exp) {
		h.advance(5 * time.Second)
	}
	h.clk.Advance(exp.Sub(h.clk.Now()) - 1500*time.Millisecond)
	h.settle()
	mark := h.ctrl.mark()
	// cp2's car arrives (the adapter could not write it either).
	for _, ev := range []site.Event{
		site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusCharging},
		site.TransactionStarted{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2", EVSE: 1, Start: h.clk.Now()}},
	} {
		h.m.Publish(ev)
	}
	h.settle()
	h.advance(h.m.cfg.Coalesce + 900*time.Millisecond)
	for _, c := range h.ctrl.since(mark) {
		t.Logf("%s at %v: %+v", c.Ref.ChargerID, c.At.Sub(exp), c.Req)
		if c.Ref.ChargerID == "cp1" && c.Req.StackLevel != 0 && c.Req.Duration == 0 {
			t.Errorf("cp1 got a dynamic profile with Duration 0 (no end: applied forever): %+v", c.Req)
		}
	}
	// cp1 falls silent; Redis comes back: the loop gives cp1's room to cp2.
	h.advance(2 * time.Second)
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	waitStore(t, h)
	h.adapterWrite(site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusCharging})
	h.adapterWrite(site.TransactionStarted{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2", EVSE: 1, Start: h.clk.Now()}})
	h.run(site.ChargerDisconnected{EventHeader: h.hdr("cp1")})
	txs := map[string]string{"cp1": "tx-cp1", "cp2": "tx-cp2"}
	for range 6 {
		h.advance(11 * time.Second)
		t.Logf("truth cp1 %.1f cp2 %.1f; views cp1 %+v cp2 %+v", truthSum(h, txs, "cp1"), truthSum(h, txs, "cp2"), h.evseView("cp1"), h.evseView("cp2"))
	}
	if sum := truthSum(h, txs, "cp1", "cp2"); sum > 32+1e-6 {
		t.Errorf("the chargers apply %.1f A > 32 A", sum)
	}
}
