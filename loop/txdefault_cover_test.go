package loop

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// A TxDefault change sent before it is written may not take its lease
// from a Tx record: that one stops counting when the transaction ends,
// the TxDefault profile does not (found by review: kill -9 in the lazy
// write window, then the transaction stops).
func TestTxDefaultLowerNotCoveredByTxRecord(t *testing.T) {
	h := newHarness(t, depot(32, 3), func(c *Config) { c.FallbackFraction = 0.2 })
	conn := func(c string) []site.Event {
		return []site.Event{site.ChargerConnected{EventHeader: h.hdr(c), Protocol: "ocpp1.6"}, site.ChargerBooted{EventHeader: h.hdr(c), Boot: acme},
			site.ChargerCapabilitiesRead{EventHeader: h.hdr(c), Capabilities: caps16}}
	}
	tx := func(c, id string) site.Event {
		return site.TransactionStarted{EventHeader: h.hdr(c), Transaction: site.Transaction{ID: id, EVSE: 1, Start: h.clk.Now()}}
	}
	charging := func(c string) site.Event {
		return site.EVSEStatusChanged{EventHeader: h.hdr(c), EVSE: 1, Status: site.StatusCharging}
	}
	draw := func(c string, a site.Amps) site.Event {
		cur := [3]site.Amps{a, a, a}
		return site.MeterSampled{EventHeader: h.hdr(c), EVSE: 1, Sample: site.MeterSample{Time: h.clk.Now(), Current: &cur}}
	}
	h.run(append(append(append(conn("cp1"), charging("cp1"), draw("cp1", 25)), conn("cp2")...), conn("cp3")...)...)
	h.advance(15 * time.Second)
	h.run(draw("cp1", 25))
	h.advance(15 * time.Second)
	h.run(draw("cp1", 25))
	t.Log("stage1 ", h.dumpLoop(), h.evseView("cp1"))
	h.setGridLimit(20)
	h.run(draw("cp1", 19))
	h.advance(15 * time.Second)
	h.run(draw("cp1", 19))
	h.advance(15 * time.Second)
	h.run(tx("cp1", "tx-cp1"), draw("cp1", 19))
	h.advance(30 * time.Second)
	t.Log("stage2 ", h.dumpLoop())
	h.setGridLimit(32)
	h.run(draw("cp1", 30))
	h.advance(15 * time.Second)
	h.run(draw("cp1", 30))
	h.advance(15 * time.Second)
	t.Log(h.dumpLoop())
	// cp3 answers late from here on: commands stay in flight, lazy writes wait (up to a second).
	h.ctrl.setPolicy("cp3", always(late))
	h.run(charging("cp2"), tx("cp2", "tx-cp2b"), charging("cp3"), tx("cp3", "tx-cp3"))
	t.Log(h.dumpLoop())
	h.stopManager() // kill -9 within the lazy window
	// cp1's car leaves while we are down (the adapter of the restarted daemon writes it).
	h.adapterWrite(site.TransactionStopped{EventHeader: h.hdr("cp1"), Transaction: site.Transaction{ID: "tx-cp1", EVSE: 1}})
	h.adapterWrite(site.ChargerDisconnected{EventHeader: h.hdr("cp1")})
	h.clk.Advance(8*time.Minute + 45*time.Second)
	h.start()
	txs := map[string]string{"cp1": "", "cp2": "tx-cp2b", "cp3": "tx-cp3"}
	t.Log(h.dumpLoop())
	tr := &truth{h: h, txs: txs, conf: depot(32, 3)}
	if err := tr.undercount(); err != nil {
		t.Error(err)
	}
}
