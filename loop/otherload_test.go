package loop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// meter reports a grid meter reading taken now, as an EMS does, and lets
// the run it causes finish.
func (h *harness) meter(cur site.PhaseCurrents) {
	h.t.Helper()
	if err := h.m.ReportMeter(h.ctx, "depot", site.MeterReading{Time: h.clk.Now(), Current: cur}); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
	h.advance(h.m.cfg.Coalesce)
}

// accepted is what the site's three-phase EVSEs apply per grid phase
// (each car draws what it may, on all three phases).
func (h *harness) accepted() site.Amps {
	var sum site.Amps
	for _, e := range h.view().EVSEs {
		sum += e.Accepted
	}
	return sum
}

// sampleAll: every charger reports that its car draws what it applies.
func (h *harness) sampleAll() {
	h.t.Helper()
	var evs []site.Event
	for _, e := range h.view().EVSEs {
		a := e.Accepted
		evs = append(evs, site.MeterSampled{EventHeader: h.hdr(e.ChargerID), EVSE: 1, TransactionID: "tx-" + e.ChargerID,
			Sample: site.MeterSample{Time: h.clk.Now(), Current: &[3]site.Amps{a, a, a}}})
	}
	h.run(evs...)
}

func (h *harness) gridOther() site.PhaseCurrents {
	h.t.Helper()
	for _, n := range h.view().Nodes {
		if n.ID == "" {
			return n.OtherLoad
		}
	}
	h.t.Fatal("no grid node in the view")
	return site.PhaseCurrents{}
}

// Cars that ramp up after raises, with meter values that lag (taken
// before the raise, or not sent yet), do not inflate the other load: the
// grid meter shows building load plus what the cars draw now, and only
// the building load may count as other load. (Regression: the reading
// minus the EVSEs' last samples counted the whole ramp, tens of amps, as
// other load and paused most cars, which the dwell time then held off.)
func TestRampingCarsDoNotInflateOtherLoad(t *testing.T) {
	const n, building = 6, 10 // 6 x 6 A minimums + 10 A fit in 100 A easily
	h := newHarness(t, depot(100, n), nil)
	var evs []site.Event
	for i := 1; i <= n; i++ {
		evs = append(evs, h.connectIdle(fmt.Sprintf("cp%d", i))...)
	}
	h.run(evs...)
	h.meter(site.Uniform(building))
	mark := h.ctrl.mark()
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("cp%d", i)
		h.advance(2 * time.Second)
		h.run(h.arrive(id)...)
		// The charger samples once, before the car ramps up.
		h.run(site.MeterSampled{EventHeader: h.hdr(id), EVSE: 1, TransactionID: "tx-" + id,
			Sample: site.MeterSample{Time: h.clk.Now(), Current: &[3]site.Amps{}}})
	}
	// Three minutes of grid readings every 10 s: cars draw what they may
	// at once; their chargers sample every 60 s.
	for step := 1; step <= 18; step++ {
		h.advance(10 * time.Second)
		if step%6 == 0 {
			h.sampleAll()
		}
		h.meter(site.Uniform(building + h.accepted()))
		for p, o := range h.gridOther() {
			if o > building+1 {
				t.Fatalf("%ds: grid other load L%d = %.1f A, want about %d A (the building only)", step*10, p+1, o, building)
			}
		}
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("cp%d", i)
		if v := h.evseView(id); v.Limit < 6 {
			t.Errorf("%s: %+v, want charging", id, v)
		}
	}
	if p := pausedAfterStart(h.ctrl.since(mark)); len(p) > 0 {
		t.Errorf("cars paused after they were started: %v", p)
	}
	h.checkLedger()
}

// A real step up of the building load is followed at the first reading
// that shows it (safety): whether the cars' draw is known from steady
// samples or only bounded by their limits (in flux, no samples), the
// other load is at least the new building load and the cars are lowered
// to fit.
func TestBuildingLoadStepFollowedWithinOneReading(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		samples bool
	}{
		{desc: "steady samples", samples: true},
		{desc: "no samples, cars at their limits", samples: false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			const n, grid = 4, 60
			h := newHarness(t, depot(grid, n), nil)
			var evs []site.Event
			for i := 1; i <= n; i++ {
				evs = append(evs, h.connectIdle(fmt.Sprintf("cp%d", i))...)
			}
			h.run(evs...)
			h.meter(site.Uniform(10))
			evs = nil
			for i := 1; i <= n; i++ {
				evs = append(evs, h.arrive(fmt.Sprintf("cp%d", i))...)
			}
			h.run(evs...)
			for range 4 {
				h.advance(10 * time.Second)
				if tc.samples {
					h.sampleAll()
				}
				h.meter(site.Uniform(10 + h.accepted()))
			}
			if got := h.accepted(); got < 40 {
				t.Fatalf("before the step the cars get %.1f A in all, want the room left by 10 A", got)
			}
			h.advance(5 * time.Second)
			const building = 30
			h.meter(site.Uniform(building + h.accepted()))
			for p, o := range h.gridOther() {
				if o < building-0.1 {
					t.Errorf("grid other load L%d = %.1f A after a step to %d A, want it followed", p+1, o, building)
				}
			}
			if got := h.accepted(); got+building > grid {
				t.Errorf("after the step the cars apply %.1f A in all, with %d A building load over %d A", got, building, grid)
			}
			h.checkLedger()
		})
	}
}

// A meter that goes silent is not trusted forever: once its reading is
// older than MeterMaxAge the other load is the most that reading allows
// (here the whole reading: no car's draw is known), never a held value,
// and the reasons and the log say so.
func TestStaleMeterReadingNotTrustedForever(t *testing.T) {
	const n, building = 4, 10
	h := newHarness(t, depot(100, n), nil)
	var evs []site.Event
	for i := 1; i <= n; i++ {
		evs = append(evs, h.connectIdle(fmt.Sprintf("cp%d", i))...)
	}
	h.run(evs...)
	h.meter(site.Uniform(building))
	evs = nil
	for i := 1; i <= n; i++ {
		evs = append(evs, h.arrive(fmt.Sprintf("cp%d", i))...)
	}
	h.run(evs...)
	h.advance(10 * time.Second)
	reading := building + h.accepted()
	h.meter(site.Uniform(reading))
	if o := h.gridOther()[0]; o > building+1 {
		t.Fatalf("fresh reading: other load %.1f A, want the held %d A", o, building)
	}
	for h.clk.Now().Sub(t0) < h.m.cfg.MeterMaxAge+30*time.Second {
		h.advance(5 * time.Second)
	}
	if o := h.gridOther()[0]; o < reading-0.1 {
		t.Errorf("silent meter: other load %.1f A, want the most its reading allows, %.1f A", o, reading)
	}
	for _, e := range h.view().EVSEs {
		if !strings.Contains(e.Reason, "silent") {
			t.Errorf("%s: reason %q does not say the meter is silent", e.ChargerID, e.Reason)
		}
	}
	h.checkLedger()
	// It reports again, with every car's draw known: measured again.
	h.sampleAll()
	h.advance(20 * time.Second)
	h.sampleAll()
	h.meter(site.Uniform(building + h.accepted()))
	if o := h.gridOther()[0]; o > building+1 || o < building-1 {
		t.Errorf("meter back: other load %.1f A, want %d A", o, building)
	}
}

func TestAppliedRange(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	h := []appliedAt{{at(0), 6}, {at(10), 16}, {at(20), 8}}
	for _, tc := range []struct {
		desc     string
		from, to int
		lo, hi   site.Amps
		known    bool
	}{
		{desc: "before the history: unknown", from: -5, to: 30, lo: 0, hi: 32},
		{desc: "within one value", from: 1, to: 9, lo: 6, hi: 6, known: true},
		{desc: "across a raise", from: 5, to: 12, lo: 6, hi: 16, known: true},
		{desc: "across a raise and a lower", from: 5, to: 25, lo: 6, hi: 16, known: true},
		{desc: "after the last change", from: 21, to: 40, lo: 8, hi: 8, known: true},
		{desc: "starting at a change", from: 10, to: 15, lo: 16, hi: 16, known: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			lo, hi, known := appliedRange(h, at(tc.from), at(tc.to), 32)
			if lo != tc.lo || hi != tc.hi || known != tc.known {
				t.Errorf("got [%v, %v] known %v, want [%v, %v] known %v", lo, hi, known, tc.lo, tc.hi, tc.known)
			}
		})
	}
}
