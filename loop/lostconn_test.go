package loop

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// lostConn delivers a SetLimit to the fake charger and then reports what
// the adapter reports when the connection drops before the answer.
type lostConn struct {
	*fakeControl
	cut atomic.Bool
}

func (l *lostConn) SetLimit(ctx context.Context, ref site.ChargerRef, req site.LimitRequest) (site.CommandResult, error) {
	res, err := l.fakeControl.SetLimit(ctx, ref, req)
	if ref.ChargerID == "cp1" && l.cut.Load() {
		return site.CommandResult{}, fmt.Errorf("%s: SetChargingProfile: connection lost before the answer: %w (%w)", ref, site.ErrTimeout, site.ErrOffline)
	}
	return res, err
}

// A connection lost after a SetChargingProfile went out is reported as a
// timeout and offline at once (the charger may have applied it): the
// profile stays pending, counted at the higher limit. (It was dropped as
// "not sent", and a raise the charger applied was forgotten: found by
// review.)
func TestConnectionLostAfterSendStaysPending(t *testing.T) {
	lc := &lostConn{}
	h := newHarness(t, depot(32, 2), func(c *Config) {
		lc.fakeControl = c.Control.(*fakeControl)
		c.Control = lc
		c.FallbackFraction = 0.5
	})
	txs := map[string]string{"cp1": "tx-cp1", "cp2": "tx-cp2"}
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.advance(15 * time.Second)
	h.advance(15 * time.Second)
	lc.cut.Store(true)
	txs["cp2"] = ""
	h.run(site.TransactionStopped{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2", EVSE: 1}},
		site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusAvailable})
	h.run(site.ChargerDisconnected{EventHeader: h.hdr("cp1")})
	h.advance(15 * time.Second)
	t.Log(h.dumpLoop())
	tr := &truth{h: h, txs: txs, conf: depot(32, 2)}
	if err := tr.undercount(); err != nil {
		t.Error(err)
	}
	txs["cp2"] = "tx-cp2b"
	h.run(site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusCharging},
		site.TransactionStarted{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2b", EVSE: 1, Start: h.clk.Now()}})
	for range 3 {
		h.advance(11 * time.Second)
	}
	if sum := truthSum(h, txs, "cp1", "cp2"); sum > 32+1e-6 {
		t.Errorf("the chargers apply %.1f A > 32 A (cp1 %.1f)", sum, truthSum(h, txs, "cp1"))
	}
}
