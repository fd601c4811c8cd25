package loop

import (
	"fmt"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// changes counts, per charger, the dynamic limits sent in calls that
// differ from the charger's previous one (renewals of the same limit do
// not count), and the fallbacks sent.
func changes(calls []call) (dynamic, fallbacks map[string]int) {
	dynamic, fallbacks = map[string]int{}, map[string]int{}
	last := map[string]float64{}
	for _, c := range calls {
		id := c.Ref.ChargerID
		a := c.Req.Periods[0].Limit
		if c.Req.StackLevel == 0 {
			fallbacks[id]++
			continue
		}
		if prev, ok := last[id]; !ok || !near1(prev, a) {
			dynamic[id]++
		}
		last[id] = a
	}
	return dynamic, fallbacks
}

// Calm control: after the building load falls and the cars are raised
// into the room, grid readings every 10 s that show the cars ramping up
// (their meter values, every 60 s, still show the old draw) do not make
// the loop count the ramp as other load: no lower follows the raise, and
// the limits do not cycle. (Regression, issue #6 "chatty" cause 1: the
// narrow interval of a reading within DrawSettle of our own raise was
// taken at its cap, the raise counted as other load, the car lowered and
// raised again every ~20 s: four profiles per cycle per EVSE.)
func TestRaiseNotCountedAsOtherLoad(t *testing.T) {
	const n = 2
	building := site.Amps(10)
	h := newHarness(t, depot(40, n), nil)
	var evs []site.Event
	for i := 1; i <= n; i++ {
		evs = append(evs, h.plugIn(fmt.Sprintf("cp%d", i), caps16, acme)...)
	}
	h.run(evs...)
	// Steady: samples and readings agree, other load well-founded.
	step := func(k int) {
		h.advance(10 * time.Second)
		if k%6 == 0 {
			h.sampleAll()
		}
		h.meter(site.Uniform(building + h.accepted()))
	}
	h.sampleAll()
	for k := 1; k <= 18; k++ {
		step(k)
	}
	before := h.evseView("cp1").Limit
	// The building load falls by 3 A: the cars get 1.5 A more each.
	building = 7
	mark := h.ctrl.mark()
	for k := 1; k <= 18; k++ {
		step(k)
	}
	after := h.evseView("cp1").Limit
	if after < before+1.4 {
		t.Errorf("cars not raised into the room the building left: %.1f A -> %.1f A", before, after)
	}
	all, _ := changes(h.ctrl.since(0))
	pre, _ := changes(h.ctrl.since(0)[:mark])
	dyn := map[string]int{}
	for id, k := range all {
		dyn[id] = k - pre[id]
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("cp%d", i)
		if dyn[id] != 1 {
			t.Errorf("%s: %d changes of its dynamic limit in 3 minutes, want 1 (the raise); all: %v, since: %v", id, dyn[id], limitsOf(h.ctrl.since(0), id, true), limitsOf(h.ctrl.since(mark), id, true))
		}
	}
	for p, o := range h.gridOther() {
		if o > building+0.5 {
			t.Errorf("grid other load L%d = %.1f A, want the building's %.0f A", p+1, o, building)
		}
	}
	h.checkLedger()
}

// Calm control: while the cars' share moves by less than fallbackSlack
// plus fallbackBand (building load moving by a few amperes), only the
// dynamic limits follow it; the fallbacks stay where they are (they only
// apply when we are gone) and are not sent with every change. (Issue #6,
// cause 2: every dynamic change went out with a fallback change, half of
// all profiles.)
func TestFallbackKeptForSmallShareChanges(t *testing.T) {
	const n = 2
	building := site.Amps(10)
	h := newHarness(t, depot(40, n), nil)
	var evs []site.Event
	for i := 1; i <= n; i++ {
		evs = append(evs, h.plugIn(fmt.Sprintf("cp%d", i), caps16, acme)...)
	}
	h.run(evs...)
	step := func(k int) {
		h.advance(10 * time.Second)
		if k%6 == 0 {
			h.sampleAll()
		}
		h.meter(site.Uniform(building + h.accepted()))
	}
	h.sampleAll()
	for k := 1; k <= 18; k++ {
		step(k)
	}
	// The building load falls to 7 A: shares of 16.2 A, fallbacks raised
	// to the share less the slack.
	building = 7
	for k := 1; k <= 12; k++ {
		step(k)
	}
	mark := h.ctrl.mark()
	// It moves between 8.5 A and 7 A (shares 15.5 and 16.2 A), each for
	// a minute.
	for _, b := range []site.Amps{8.5, 7, 8.5, 7} {
		building = b
		for k := 1; k <= 6; k++ {
			step(k)
		}
	}
	all, allFb := changes(h.ctrl.since(0))
	pre, preFb := changes(h.ctrl.since(0)[:mark])
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("cp%d", i)
		if d := all[id] - pre[id]; d < 1 {
			t.Errorf("%s: dynamic limit did not follow the share: %v", id, limitsOf(h.ctrl.since(mark), id, true))
		}
		if d := allFb[id] - preFb[id]; d != 0 {
			t.Errorf("%s: %d fallbacks sent while its share moved by less than %.0f A, want none: %v", id, d,
				float64(fallbackSlack+fallbackBand), limitsOf(h.ctrl.since(mark), id, false))
		}
	}
	h.checkLedger()
}
