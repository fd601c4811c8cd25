package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

func ledgerScenario() *Scenario {
	return &Scenario{Site: SiteSpec{
		GridLimit: Currents{63, 63, 63},
		Circuits: []CircuitSpec{
			{ID: "board", Limit: Currents{40, 40, 40}},
			{ID: "fuse-a", Parent: "board", Limit: Currents{20, 20, 20}},
		},
	}}
}

func TestLedgerViolations(t *testing.T) {
	draw := func(id, node string, a, b, c site.Amps) ChargerSample {
		return ChargerSample{Charger: id, Node: node, Draw: site.PhaseCurrents{a, b, c}, Sources: []LimitSource{{ProfileID: 7, Purpose: PurposeTxDefault}}}
	}
	type moment []ChargerSample
	tests := []struct {
		desc    string
		moments []moment
		want    []Violation // Kind, Node, Phase, Peak, Offenders' chargers
	}{
		{desc: "within every limit", moments: []moment{
			{draw("a", "fuse-a", 16, 16, 16), draw("b", "board", 16, 16, 16), draw("c", GridNode, 16, 16, 16)},
		}},
		{desc: "over a fuse on one phase", moments: []moment{
			{draw("a", "fuse-a", 16, 16, 16), draw("a2", "fuse-a", 0, 6, 0)},
		}, want: []Violation{{Kind: ViolationDraw, Node: "fuse-a", Phase: site.L2, Peak: 22, Offenders: []Offender{{Charger: "a"}, {Charger: "a2"}}}}},
		{desc: "children add up at the parent", moments: []moment{
			{draw("a", "fuse-a", 20, 0, 0), draw("b", "board", 21, 0, 0)},
		}, want: []Violation{{Kind: ViolationDraw, Node: "board", Phase: site.L1, Peak: 41, Offenders: []Offender{{Charger: "a"}, {Charger: "b"}}}}},
		{desc: "grid limit counts every charger", moments: []moment{
			{draw("a", "fuse-a", 0, 0, 20), draw("b", "board", 0, 0, 20), draw("c", GridNode, 0, 0, 24)},
		}, want: []Violation{{Kind: ViolationDraw, Node: GridNode, Phase: site.L3, Peak: 64, Offenders: []Offender{{Charger: "a"}, {Charger: "b"}, {Charger: "c"}}}}},
		{desc: "consecutive moments over the limit are one episode; a later one is another", moments: []moment{
			{draw("a", "fuse-a", 21, 0, 0)},
			{draw("a", "fuse-a", 25, 0, 0)},
			{draw("a", "fuse-a", 10, 0, 0)},
			{draw("a", "fuse-a", 22, 0, 0)},
		}, want: []Violation{
			{Kind: ViolationDraw, Node: "fuse-a", Phase: site.L1, Peak: 25, Offenders: []Offender{{Charger: "a"}}},
			{Kind: ViolationDraw, Node: "fuse-a", Phase: site.L1, Peak: 22, Offenders: []Offender{{Charger: "a"}}},
		}},
		{desc: "float noise within the tolerance is no violation", moments: []moment{
			{draw("a", "fuse-a", 20.005, 0, 0)},
		}},
		{desc: "accepted limits above the fuse are an accepted violation", moments: []moment{
			{{Charger: "a", Node: "fuse-a", Accepted: site.PhaseCurrents{16, 16, 16}}, {Charger: "a2", Node: "fuse-a", Accepted: site.PhaseCurrents{16, 16, 16}, AcceptedActive: site.PhaseCurrents{16, 16, 16}}},
		}, want: []Violation{
			{Kind: ViolationAccepted, Node: "fuse-a", Phase: site.L1, Peak: 32, Offenders: []Offender{{Charger: "a"}, {Charger: "a2"}}},
			{Kind: ViolationAccepted, Node: "fuse-a", Phase: site.L2, Peak: 32, Offenders: []Offender{{Charger: "a"}, {Charger: "a2"}}},
			{Kind: ViolationAccepted, Node: "fuse-a", Phase: site.L3, Peak: 32, Offenders: []Offender{{Charger: "a"}, {Charger: "a2"}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			l := NewLedger(ledgerScenario())
			for i, m := range tc.moments {
				l.Record(t0.Add(time.Duration(i)*time.Second), site.PhaseCurrents{}, m)
			}
			got := l.Violations()
			if len(got) != len(tc.want) {
				t.Fatalf("%d violations, want %d: %v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Kind != w.Kind || g.Node != w.Node || g.Phase != w.Phase || g.Peak != w.Peak {
					t.Errorf("violation %d = %s, want %s at %s %s peak %v", i, g, w.Kind, w.Node, w.Phase, w.Peak)
				}
				if len(g.Offenders) != len(w.Offenders) {
					t.Errorf("violation %d offenders %v, want %v", i, g.Offenders, w.Offenders)
					continue
				}
				for k := range w.Offenders {
					if g.Offenders[k].Charger != w.Offenders[k].Charger {
						t.Errorf("violation %d offender %d = %s, want %s", i, k, g.Offenders[k].Charger, w.Offenders[k].Charger)
					}
				}
				if w.Kind == ViolationDraw && (len(g.Offenders[0].Sources) == 0 || g.Offenders[0].Sources[0].ProfileID != 7) {
					t.Errorf("violation %d does not name the profile the charger held: %+v", i, g.Offenders[0])
				}
			}
		})
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestFleetPhysicsAndLedger drives a fleet offline with a fake clock:
// profiles installed directly, cars following them, the ledger watching.
func TestFleetPhysicsAndLedger(t *testing.T) {
	scenario := func(ignore bool) *Scenario {
		return &Scenario{
			Site: SiteSpec{GridLimit: Currents{63, 63, 63}, Circuits: []CircuitSpec{{ID: "fuse", Limit: Currents{32, 32, 32}}}},
			Chargers: []ChargerSpec{
				{ID: "cp-1", OCPP: OCPP16, Circuit: "fuse", EVSEs: []EVSESpec{{MaxCurrent: 32, Phases: 3}}},
				{ID: "cp-2", OCPP: OCPP201, Circuit: "fuse", Rotation: "STR", EVSEs: []EVSESpec{{MaxCurrent: 32, Phases: 3}}, Quirks: Quirks{IgnoreProfiles: ignore}},
			},
		}
	}
	tests := []struct {
		desc           string
		ignore         bool
		wantViolations int
	}{
		{desc: "chargers keep their profiles: no violation", ignore: false, wantViolations: 0},
		{desc: "a charger that ignores profiles overloads the fuse: violation caught", ignore: true, wantViolations: 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			clk := &fakeClock{t: t0}
			f, err := New(scenario(tc.ignore), Options{Server: "ws://127.0.0.1:1/ocpp", Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, id := range []string{"cp-1", "cp-2"} {
				c, _ := f.Charger(id)
				c.mu.Lock()
				status, why := c.setProfile(0, prof(1, 0, PurposeTxDefault, 0, 16), clk.Now())
				c.mu.Unlock()
				if status != "Accepted" {
					t.Fatalf("%s: profile %s: %s", id, status, why)
				}
				if err := c.Plug(1, Car{MaxCurrent: 32, Phases: 1, RampDelay: Duration(2 * time.Second)}, 0.3, 0); err != nil {
					t.Fatal(err)
				}
			}
			// cp-2 is wired STR: its one-phase car draws on grid L2, so the
			// two one-phase cars share no grid phase.
			for range 5 {
				clk.Add(time.Second)
				f.Step(ctx)
			}
			c1, _ := f.Charger("cp-1")
			c2, _ := f.Charger("cp-2")
			s1, s2 := c1.State(), c2.State()
			if s1.EVSEs[0].Draw != 16 {
				t.Errorf("cp-1 draws %v A, want 16 A (its TxDefault)", s1.EVSEs[0].Draw)
			}
			wantDraw2 := site.Amps(16)
			if tc.ignore {
				wantDraw2 = 32
			}
			if s2.EVSEs[0].Draw != wantDraw2 {
				t.Errorf("cp-2 draws %v A, want %v A", s2.EVSEs[0].Draw, wantDraw2)
			}
			if s2.Grid != (site.PhaseCurrents{0, wantDraw2, 0}) {
				t.Errorf("cp-2 on the grid: %v, want its one phase on L2", s2.Grid)
			}
			// Now a three-phase car on cp-1 puts 16 A on L2 as well: with
			// cp-2 keeping its profile the fuse carries 32 A on L2; ignoring
			// it, 48 A.
			if err := c1.Unplug(1); err != nil {
				t.Fatal(err)
			}
			if err := c1.Plug(1, Car{MaxCurrent: 32, Phases: 3, RampDelay: Duration(2 * time.Second)}, 0.3, 0); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				clk.Add(time.Second)
				f.Step(ctx)
			}
			got := f.Ledger().Count(ViolationDraw)
			if got != tc.wantViolations {
				t.Fatalf("%d draw violations, want %d: %v", got, tc.wantViolations, f.Ledger().Violations())
			}
			if tc.wantViolations > 0 {
				v := f.Ledger().Violations()[0]
				if v.Node != "fuse" || v.Phase != site.L2 || v.Peak != 48 {
					t.Errorf("violation %s, want fuse L2 48 A", v)
				}
				found := false
				for _, o := range v.Offenders {
					if o.Charger == "cp-2" && len(o.Sources) == 1 && o.Sources[0].ProfileID == 1 {
						found = true
					}
				}
				if !found {
					t.Errorf("violation does not name cp-2 and the profile it held: %+v", v.Offenders)
				}
			}
			// Both chargers accepted 16 A per phase: 32 A on the 32 A fuse.
			if n := f.Ledger().Count(ViolationAccepted); n != 0 {
				t.Errorf("%d accepted-limit violations, want 0: %v", n, f.Ledger().Violations())
			}
		})
	}
}
