package planning

import (
	"math"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has

	"github.com/smartcharge/smartcharge/site"
)

func TestAlignSlot(t *testing.T) {
	zone := func(name string) *time.Location {
		l, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	berlin, kolkata := zone("Europe/Berlin"), zone("Asia/Kolkata")
	for _, tc := range []struct {
		name string
		now  time.Time
		slot time.Duration
		loc  *time.Location
		want time.Time
	}{
		{"UTC quarter hour", time.Date(2026, 11, 25, 17, 7, 30, 0, time.UTC), 15 * time.Minute, time.UTC, time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)},
		{"on a boundary", time.Date(2026, 11, 25, 17, 45, 0, 0, time.UTC), 15 * time.Minute, time.UTC, time.Date(2026, 11, 25, 17, 45, 0, 0, time.UTC)},
		{"Berlin quarter hour", time.Date(2026, 11, 25, 18, 59, 59, 0, berlin), 15 * time.Minute, berlin, time.Date(2026, 11, 25, 18, 45, 0, 0, berlin)},
		{"Kolkata hour is :30 UTC", time.Date(2026, 11, 25, 10, 50, 0, 0, time.UTC), time.Hour, kolkata, time.Date(2026, 11, 25, 16, 0, 0, 0, kolkata)},
		{"Kolkata quarter hour", time.Date(2026, 11, 25, 10, 50, 0, 0, time.UTC), 15 * time.Minute, kolkata, time.Date(2026, 11, 25, 16, 15, 0, 0, kolkata)},
		{"Berlin after the spring change", time.Date(2026, 3, 29, 3, 10, 0, 0, berlin), time.Hour, berlin, time.Date(2026, 3, 29, 3, 0, 0, 0, berlin)},
		{"Berlin after the autumn change", time.Date(2026, 10, 25, 2, 40, 0, 0, time.UTC), 30 * time.Minute, berlin, time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC)},
		{"7-minute slots from midnight", time.Date(2026, 11, 25, 0, 20, 0, 0, time.UTC), 7 * time.Minute, time.UTC, time.Date(2026, 11, 25, 0, 14, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AlignSlot(tc.now, tc.slot, tc.loc)
			if !got.Equal(tc.want) || got.After(tc.now) || tc.now.Sub(got) >= tc.slot {
				t.Errorf("AlignSlot(%v, %v, %v) = %v, want %v", tc.now, tc.slot, tc.loc, got.In(tc.loc), tc.want.In(tc.loc))
			}
		})
	}
}

// TestBuildAlignsSlots: a plan made at 18:07:30 in Berlin has slots at
// 18:00, 18:15, ... of the site's clock; slot 0 counts only from now:
// the car charging at full power in it gets half a slot's energy, and the
// limits hold in every slot, slot 0 included.
func TestBuildAlignsSlots(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 18, 7, 30, 0, berlin)
	s := snap(func(s *Snapshot) {
		s.Now = now
		s.Config.Site.TimeZone = "Europe/Berlin"
		s.Inputs.Settings.Slot = 15 * time.Minute
		s.Loop = site.LoopState{Needs: map[string]site.ChargingNeeds{"c1/1": {Energy: 100000, Departure: now.Add(2 * time.Hour)}}}
	})
	b, p := planOf(t, s)
	if want := time.Date(2026, 11, 25, 18, 0, 0, 0, berlin); !b.Input.Start.Equal(want) || !p.Start.Equal(want) {
		t.Fatalf("plan starts at %v, want %v", p.Start.In(berlin), want)
	}
	if !b.Input.From.Equal(now) {
		t.Fatalf("plan in force from %v, want %v", b.Input.From, now)
	}
	sp := p.Sessions[0]
	if sp.Current[0] < 16 || sp.Current[1] < 16 {
		t.Fatalf("a car needing 100 kWh gets %v A in the first slots, want its 16 A", sp.Current[:2])
	}
	// 16 A on 3 phases: a whole slot is 2,760 Wh; slot 0 has half of it
	// left. The car leaves at 20:07:30: whole slots up to 20:00, 8 of
	// them, the first half.
	perSlot := 16 * 230 * 3 * 0.25
	want := 7.5 * perSlot
	// (A whole slot 0 would be 1,380 Wh more.)
	if math.Abs(float64(sp.Energy)-want) > 1e-6*want {
		t.Errorf("planned %.1f Wh by departure, want %.1f (slot 0 from 18:07:30 only)", float64(sp.Energy), want)
	}
	for k := range p.Slots {
		for _, n := range p.Nodes {
			for ph := range 3 {
				// 0: no limit (chargers); else with the 0.5 A margin.
				if lim := n.Limit[k][ph]; lim > 0 && n.Ours[k][ph] > lim-0.5+1e-9 {
					t.Errorf("slot %d node %q phase %d: %.1f A over %.1f A", k, n.ID, ph+1, float64(n.Ours[k][ph]), float64(n.Limit[k][ph]))
				}
			}
		}
	}
}
