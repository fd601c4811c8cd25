package loop

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// After a model's form is learnt the list of forms starts with it: the
// EVSE must go on using the form that was accepted. (Regression: the index
// into the list kept pointing where the form had been before, so the next
// change went out in a refused form, walked the list again and ended with
// the charger marked non-compliant.)
func TestLearntFormKeptForNextChange(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	onlyW8 := func(r site.LimitRequest) answer {
		if r.StackLevel == 0 || (r.StackLevel == 8 && r.Unit == site.UnitWatts) {
			return accept
		}
		return reject
	}
	h.ctrl.setPolicy("cp1", onlyW8)
	h.run(h.plugIn("cp1", caps16, acme)...)
	dyn := func(calls []call) []call {
		var out []call
		for _, c := range calls {
			if c.Ref.ChargerID == "cp1" && c.Req.StackLevel > 0 {
				out = append(out, c)
			}
		}
		return out
	}
	first := dyn(h.ctrl.since(0))
	if n := len(first); n < 2 || first[n-1].Req.StackLevel != 8 || first[n-1].Req.Unit != site.UnitWatts {
		t.Fatalf("want forms tried up to W at stack level 8, got %+v", first)
	}
	h.advance(15 * time.Second)
	// A second car (another model) makes cp1's limit change.
	mark := h.ctrl.mark()
	h.run(h.plugIn("cp2", caps16, site.BootInfo{Vendor: "Other", Model: "Y"})...)
	h.advance(15 * time.Second)
	got := dyn(h.ctrl.since(mark))
	if len(got) == 0 {
		t.Fatal("cp1's limit did not change")
	}
	for _, c := range got {
		if c.Req.StackLevel != 8 || c.Req.Unit != site.UnitWatts || c.Req.Purpose != site.PurposeTx {
			t.Errorf("change sent in another form than the learnt one: %+v", c.Req)
		}
	}
	if v := h.evseView("cp1"); v.NonCompliant || v.Pending {
		t.Errorf("cp1: %+v", v)
	}
	h.checkLedger()
}
