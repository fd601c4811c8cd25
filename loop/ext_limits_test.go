package loop

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// dynamicCalls returns the charger's dynamic SetLimit calls (stack level
// above the default fallback's 0).
func dynamicCalls(calls []call, charger string) []call {
	var out []call
	for _, c := range calls {
		if c.Ref.ChargerID == charger && c.Req.StackLevel > 0 {
			out = append(out, c)
		}
	}
	return out
}

func (h *harness) csmsLimit(charger string, ss ...site.ExternalSchedule) site.Event {
	return site.ExternalSchedulesReported{EventHeader: h.hdr(charger), EVSE: 1, Source: "CSMS", Schedules: ss}
}

// A CSMS limit of 0 (A or W) pauses the EVSE; a cleared one does not.
// (Regression: limits <= 0 were taken for "no limit".)
func TestExternalZeroPauses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ev    func(h *harness) site.Event
		pause bool
	}{
		{name: "0 A", pause: true, ev: func(h *harness) site.Event {
			return h.csmsLimit("cp1", site.ExternalSchedule{Unit: site.UnitAmps, Periods: []site.Period{{Limit: 0}}})
		}},
		{name: "0 W", pause: true, ev: func(h *harness) site.Event {
			return h.csmsLimit("cp1", site.ExternalSchedule{Unit: site.UnitWatts, Periods: []site.Period{{Limit: 0}}})
		}},
		{name: "0 A in force, 0 from a Tx profile's schedule start", pause: true, ev: func(h *harness) site.Event {
			return h.csmsLimit("cp1", site.ExternalSchedule{Purpose: site.PurposeTx, Unit: site.UnitAmps, Start: h.clk.Now().Add(-time.Minute),
				Periods: []site.Period{{Limit: 0}}})
		}},
		{name: "cleared", pause: false, ev: func(h *harness) site.Event { return h.csmsLimit("cp1") }},
		{name: "constant report without a limit (NotifyChargingLimit without schedule)", pause: false, ev: func(h *harness) site.Event {
			return site.ExternalLimitReported{EventHeader: h.hdr("cp1"), EVSE: 1, Source: "EMS"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, depot(32, 1), nil)
			h.run(h.plugIn("cp1", caps16, acme)...)
			h.advance(15 * time.Second)
			mark := h.ctrl.mark()
			h.run(tc.ev(h))
			v := h.evseView("cp1")
			got := dynamicCalls(h.ctrl.since(mark), "cp1")
			if tc.pause {
				if len(got) == 0 || got[len(got)-1].Req.Periods[0].Limit != 0 || v.Accepted != 0 {
					t.Fatalf("want cp1 paused (dynamic 0), got calls %+v, view %+v", got, v)
				}
				// The scheduler keeps its safety margin below every
				// limit, so a limit of 0 shows as infeasible by the margin.
				if v.ReasonCode != "EXTERNAL_LIMIT" && v.ReasonCode != "INFEASIBLE" {
					t.Errorf("reason %q (%s), want EXTERNAL_LIMIT or INFEASIBLE", v.ReasonCode, v.Reason)
				}
			} else if len(got) != 0 || !near1(float64(v.Accepted), 31.5) {
				t.Fatalf("want cp1 left at 31.5 A, got calls %+v, view %+v", got, v)
			}
			h.checkLedger()
		})
	}
}

// A CSMS schedule with several periods is followed: the period in force
// now applies, and the loop wakes itself at each boundary (not at its
// tick, which is an hour here).
func TestExternalSchedulePeriods(t *testing.T) {
	h := newHarness(t, depot(32, 1), func(c *Config) { c.Tick = time.Hour })
	h.run(h.plugIn("cp1", caps16, acme)...)
	h.advance(15 * time.Second)
	start := h.clk.Now()
	mark := h.ctrl.mark()
	h.run(h.csmsLimit("cp1", site.ExternalSchedule{Unit: site.UnitAmps, Start: start, Duration: 30 * time.Minute,
		Periods: []site.Period{{Limit: 20}, {Offset: 10 * time.Minute, Limit: 8}, {Offset: 20 * time.Minute, Limit: 0}}}))
	want := func(at time.Time, limit float64) {
		t.Helper()
		got := dynamicCalls(h.ctrl.since(mark), "cp1")
		if len(got) == 0 {
			t.Fatalf("no dynamic change, want %g A at %s", limit, at.Sub(start))
		}
		last := got[len(got)-1]
		if !near1(last.Req.Periods[0].Limit, limit) || last.At.Sub(at) > time.Second || last.At.Before(at) {
			t.Fatalf("last change %g A at %s, want %g A at %s (+coalesce)", last.Req.Periods[0].Limit, last.At.Sub(start), limit, at.Sub(start))
		}
		h.checkLedger()
		mark = h.ctrl.mark()
	}
	// Limits less the scheduler's safety margin (0.5 A).
	want(start, 19.5)
	// Just before the boundary nothing changes (the lease renewal at 5
	// minutes re-sends 19.5 A).
	h.advance(10*time.Minute - time.Second - h.m.cfg.Coalesce)
	for _, c := range dynamicCalls(h.ctrl.since(mark), "cp1") {
		if !near1(c.Req.Periods[0].Limit, 19.5) {
			t.Fatalf("changed before the boundary: %+v", c)
		}
	}
	mark = h.ctrl.mark()
	h.advance(time.Second)
	h.advance(h.m.cfg.Coalesce)
	want(start.Add(10*time.Minute), 7.5)
	h.advance(10 * time.Minute)
	h.advance(h.m.cfg.Coalesce)
	want(start.Add(20*time.Minute), 0)
	// The schedule ends at 30 minutes: no limit; the car may start again
	// (the raise waits for nothing but the loop's own rules).
	h.advance(10 * time.Minute)
	h.advance(h.m.cfg.Coalesce)
	h.advance(15 * time.Second)
	got := dynamicCalls(h.ctrl.since(mark), "cp1")
	if len(got) == 0 || !near1(got[len(got)-1].Req.Periods[0].Limit, 31.5) {
		t.Fatalf("after the schedule ended want 31.5 A, got %+v", got)
	}
	h.checkLedger()
}

// Limits of several sources on one charger all hold; clearing one leaves
// the other.
func TestExternalSourcesApart(t *testing.T) {
	h := newHarness(t, depot(32, 1), nil)
	h.run(h.plugIn("cp1", caps16, acme)...)
	h.advance(15 * time.Second)
	h.run(site.ExternalLimitReported{EventHeader: h.hdr("cp1"), EVSE: 1, Source: "EMS", Limit: 16},
		h.csmsLimit("cp1", site.ExternalSchedule{Unit: site.UnitAmps, Periods: []site.Period{{Limit: 10}}}))
	if v := h.evseView("cp1"); !near1(float64(v.Accepted), 9.5) {
		t.Fatalf("want the lower (CSMS 10 A less the margin), got %+v", v)
	}
	h.run(h.csmsLimit("cp1"))
	h.advance(15 * time.Second)
	if v := h.evseView("cp1"); !near1(float64(v.Accepted), 15.5) {
		t.Fatalf("CSMS cleared: want the EMS's 16 A less the margin, got %+v", v)
	}
	h.checkLedger()
}
