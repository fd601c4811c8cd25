package loop

import (
	"fmt"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// connectIdle: a charger connects and boots with no car.
func (h *harness) connectIdle(charger string) []site.Event {
	return []site.Event{
		site.ChargerConnected{EventHeader: h.hdr(charger), Protocol: "ocpp1.6"},
		site.ChargerBooted{EventHeader: h.hdr(charger), Boot: acme},
		site.ChargerCapabilitiesRead{EventHeader: h.hdr(charger), Capabilities: caps16},
		site.EVSEStatusChanged{EventHeader: h.hdr(charger), EVSE: 1, Status: site.StatusAvailable},
	}
}

// arrive: a car plugs in and starts a transaction.
func (h *harness) arrive(charger string) []site.Event {
	return []site.Event{
		site.EVSEStatusChanged{EventHeader: h.hdr(charger), EVSE: 1, Status: site.StatusCharging},
		site.TransactionStarted{EventHeader: h.hdr(charger), Transaction: site.Transaction{ID: "tx-" + charger, EVSE: 1, Start: h.clk.Now()}},
	}
}

// pausedAfterStart reports, per charger, whether a dynamic limit of 0 was
// sent after a limit above 0.
func pausedAfterStart(calls []call) map[string]bool {
	started, paused := map[string]bool{}, map[string]bool{}
	for _, c := range calls {
		if c.Req.StackLevel == 0 {
			continue
		}
		id := c.Ref.ChargerID
		switch {
		case c.Req.Periods[0].Limit > 0:
			started[id] = true
		case started[id]:
			paused[id] = true
		}
	}
	return paused
}

// Cars arriving one after another at a site with room for every minimum
// all charge at once: none is held paused by the dwell time. (Regression:
// the loop fed the scheduler what the charger applied (0, the raise held
// by the rate limit) with the time the car was started, which read as
// "paused just now" and held the first cars off for the whole dwell time.)
func TestArrivingCarsNotHeldByDwell(t *testing.T) {
	const n = 4 // 4 x 6 A fit in 62.5 A
	h := newHarness(t, depot(63, n), nil)
	var evs []site.Event
	for i := 1; i <= n; i++ {
		evs = append(evs, h.connectIdle(fmt.Sprintf("cp%d", i))...)
	}
	h.run(evs...) // fallbacks, and 0 A to every EVSE without a car
	mark := h.ctrl.mark()
	for i := 1; i <= n; i++ {
		h.advance(2 * time.Second) // within the raise rate limit of the 0 A
		h.run(h.arrive(fmt.Sprintf("cp%d", i))...)
	}
	h.advance(11 * time.Second) // past the raise rate limit
	h.advance(11 * time.Second)
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("cp%d", i)
		v := h.evseView(id)
		if v.Limit < 6 || v.ReasonCode == "DWELL_OFF" || !near1(float64(v.Accepted), float64(v.Limit)) {
			t.Errorf("%s: %+v, want charging at its share", id, v)
		}
	}
	if p := pausedAfterStart(h.ctrl.since(mark)); len(p) > 0 {
		t.Errorf("cars paused after they were started: %v", p)
	}
	h.checkLedger()
}

// Where not every minimum fits, started cars are kept on for the dwell
// time and a car paused by us stays paused for the dwell time (unless a
// limit needs otherwise); a car that never charged waits without dwell.
func TestDwellStillHoldsWhenNoRoom(t *testing.T) {
	h := newHarness(t, depot(13, 3), nil) // 12.5 A: two minimums fit
	var evs []site.Event
	for i := 1; i <= 3; i++ {
		evs = append(evs, h.connectIdle(fmt.Sprintf("cp%d", i))...)
	}
	h.run(evs...)
	for i := 1; i <= 3; i++ {
		h.advance(2 * time.Second)
		h.run(h.arrive(fmt.Sprintf("cp%d", i))...)
	}
	h.advance(11 * time.Second)
	charging := func() map[string]bool {
		m := map[string]bool{}
		for _, e := range h.view().EVSEs {
			if e.Limit > 0 {
				m[e.ChargerID] = true
			}
		}
		return m
	}
	first := charging()
	if len(first) != 2 || !first["cp1"] || !first["cp2"] {
		t.Fatalf("charging %v, want the first two", first)
	}
	if v := h.evseView("cp3"); v.ReasonCode == "DWELL_OFF" {
		t.Fatalf("cp3 never charged but is held by dwell: %+v", v)
	}
	// Within the dwell time the started cars stay on.
	for range 8 {
		h.advance(10 * time.Second)
		if got := charging(); !got["cp1"] || !got["cp2"] {
			t.Fatalf("a started car was switched off within its dwell time: %v", got)
		}
	}
	// The limit drops: one car must go (safety over dwell).
	h.setGridLimit(7)
	h.advance(time.Second)
	var paused string
	for _, id := range []string{"cp1", "cp2"} {
		if !charging()[id] {
			paused = id
		}
	}
	if paused == "" || len(charging()) != 1 {
		t.Fatalf("after the limit dropped: charging %v, want one car", charging())
	}
	pausedAt := h.clk.Now()
	// Room again: the car we paused stays paused for the dwell time.
	h.setGridLimit(13)
	for h.clk.Now().Sub(pausedAt) < h.m.cfg.Scheduler.MinDwell-10*time.Second {
		h.advance(10 * time.Second)
		if charging()[paused] {
			t.Fatalf("%s restarted %v after we paused it, within the dwell time", paused, h.clk.Now().Sub(pausedAt))
		}
		if v := h.evseView(paused); v.ReasonCode != "DWELL_OFF" && v.Limit == 0 {
			// it may be held for another reason (cp3 took the room)
			continue
		}
	}
	h.checkLedger()
}

func TestLiftHeldDraw(t *testing.T) {
	for _, tc := range []struct {
		desc          string
		prev, applied float64
		drawn         float64
		wantDrawn     float64 // max drawn on wired phases after
	}{
		{"raise applied: draw as it is", 16, 16, 10, 10},
		{"raise held, car at what it may: lifted by the difference", 16, 6, 5.5, 15.5},
		{"raise held, car draws nothing yet, nothing applied: lifted", 16, 0, 0, 16},
		{"raise held, car draws clearly less than applied: as it is", 16, 10, 3, 3},
		{"lower not yet applied: as it is", 6, 16, 12, 12},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			se := schedEVSE(tc.prev, tc.drawn)
			liftHeldDraw(&se, site.Amps(tc.applied), 2)
			got := float64(max(se.Drawn[0], se.Drawn[1], se.Drawn[2]))
			if !near1(got, tc.wantDrawn) {
				t.Fatalf("drawn %v, want %v", se.Drawn, tc.wantDrawn)
			}
		})
	}
}

func schedEVSE(prev, drawn float64) scheduler.EVSE {
	return scheduler.EVSE{PrevLimit: scheduler.Amps(prev), Wiring: scheduler.AllPhases, Drawn: scheduler.Uniform(scheduler.Amps(drawn))}
}
