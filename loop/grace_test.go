package loop

import (
	"slices"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// A charger that goes on drawing above its limit is marked non-compliant
// (counted at its maximum, the others lowered) after the short grace when
// a node above it is over its limit now, and only after Config.Grace
// while there is headroom.
func TestOverloadShortensGrace(t *testing.T) {
	for _, tc := range []struct {
		desc string
		// cp1Draws is what cp1's car draws (its meter values; its limit
		// is 19.7 A); meter, if set, is an EMS reading of the grid
		// connection.
		cp1Draws site.Amps
		meter    *site.PhaseCurrents
		// overloaded: the grid connection (40 A) is over its limit.
		overloaded bool
	}{
		{desc: "samples show the grid over its limit", cp1Draws: 15, overloaded: true},
		{desc: "an EMS reading shows the grid over its limit", cp1Draws: 1, meter: &site.PhaseCurrents{45, 45, 45}, overloaded: true},
		{desc: "headroom: the cars draw less than the limit", cp1Draws: 1},
		{desc: "headroom by an EMS reading", cp1Draws: 1, meter: &site.PhaseCurrents{39, 39, 39}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, depot(63, 2), nil)
			h.ctrl.setPolicy("cp2", always(ignore))
			h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
			// The limit drops; cp2 ignores its lower and draws 32 A.
			h.setGridLimit(40)
			cur2 := [3]site.Amps{32, 32, 32}
			cur1 := [3]site.Amps{tc.cp1Draws, tc.cp1Draws, tc.cp1Draws}
			samples := func() []site.Event {
				return []site.Event{
					site.MeterSampled{EventHeader: h.hdr("cp1"), EVSE: 1, TransactionID: "tx-cp1", Sample: site.MeterSample{Time: h.clk.Now(), Current: &cur1}},
					site.MeterSampled{EventHeader: h.hdr("cp2"), EVSE: 1, TransactionID: "tx-cp2", Sample: site.MeterSample{Time: h.clk.Now(), Current: &cur2}},
				}
			}
			if tc.meter != nil {
				h.meter(*tc.meter)
			}
			h.run(samples()...)
			if v := h.evseView("cp2"); v.NonCompliant {
				t.Fatal("non-compliant on the first sample above its limit")
			}
			h.ctrl.mu.Lock()
			triggered := slices.Contains(h.ctrl.triggers, site.TriggerMeterValues)
			h.ctrl.mu.Unlock()
			if triggered != tc.overloaded {
				t.Errorf("meter values asked for at once: %v, want %v", triggered, tc.overloaded)
			}
			// The confirming sample, 10 s later.
			h.advance(10 * time.Second)
			if tc.meter != nil {
				h.meter(*tc.meter)
			}
			h.run(samples()...)
			if v := h.evseView("cp2"); v.NonCompliant != tc.overloaded {
				t.Fatalf("after 10 s: non-compliant %v, want %v (%+v)", v.NonCompliant, tc.overloaded, v)
			}
			if !tc.overloaded {
				// With headroom the full grace period applies.
				h.advance(51 * time.Second)
				h.run(samples()...)
				if v := h.evseView("cp2"); !v.NonCompliant {
					t.Fatalf("after 61 s: not non-compliant (%+v)", v)
				}
			}
			v := h.evseView("cp2")
			if v.CountedAt != 32 {
				t.Errorf("cp2 non-compliant but counted at %.1f A, want its maximum", v.CountedAt)
			}
			if a := h.evseView("cp1"); a.Limit > 40-0.5-32+1e-9 {
				t.Errorf("cp1 not lowered to make room: %+v", a)
			}
		})
	}
}
