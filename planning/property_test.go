package planning

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/site"
)

// genSnapshot draws a valid snapshot: a tree of up to 3 circuits, up to 4
// chargers (1- and 3-phase EVSEs, rotations), cars with and without needs,
// SoC targets, priorities, prices, windows (configured and scheduled),
// load and PV forecasts, slot and horizon settings.
func genSnapshot(t *rapid.T) Snapshot {
	now := t0.Add(time.Duration(rapid.IntRange(0, 96).Draw(t, "now")) * 7 * time.Minute)
	hour := func(label string) time.Time {
		return now.Add(time.Duration(rapid.IntRange(-4, 16).Draw(t, label)) * 30 * time.Minute)
	}
	cfg := site.Config{Site: site.Site{ID: "s", GridLimit: site.Uniform(site.Amps(rapid.IntRange(16, 100).Draw(t, "grid")))}}
	if rapid.Bool().Draw(t, "gridPower") {
		cfg.Site.GridPowerLimit = site.Watts(rapid.IntRange(5, 60).Draw(t, "gridKW") * 1000)
	}
	nc := rapid.IntRange(0, 3).Draw(t, "circuits")
	for i := range nc {
		parent := ""
		if i > 0 && rapid.Bool().Draw(t, "nested") {
			parent = fmt.Sprintf("k%d", rapid.IntRange(0, i-1).Draw(t, "parent"))
		}
		var lim site.PhaseCurrents
		for p := range 3 {
			lim[p] = site.Amps(rapid.IntRange(6, 63).Draw(t, "climit"))
		}
		cfg.Circuits = append(cfg.Circuits, site.Circuit{ID: fmt.Sprintf("k%d", i), Parent: parent, Limit: lim, Oversubscribed: true})
	}
	rotations := []site.PhaseRotation{{}, site.StandardRotation, {site.L2, site.L3, site.L1}, {site.L3, site.L1, site.L2}}
	states := map[string]site.ChargerState{}
	ls := site.LoopState{Needs: map[string]site.ChargingNeeds{}, Priorities: map[string]float64{}}
	in := site.PlanInputs{Targets: map[string]site.SoCTarget{}}
	nch := rapid.IntRange(0, 4).Draw(t, "chargers")
	for i := range nch {
		ch := site.Charger{ID: fmt.Sprintf("c%d", i), PhaseRotation: rotations[rapid.IntRange(0, 3).Draw(t, "rot")]}
		if nc > 0 && rapid.Bool().Draw(t, "onCircuit") {
			ch.Circuit = fmt.Sprintf("k%d", rapid.IntRange(0, nc-1).Draw(t, "circuit"))
		}
		st := site.ChargerState{Connected: true, EVSEs: map[int]site.EVSEState{}}
		for e := 1; e <= rapid.IntRange(1, 2).Draw(t, "evses"); e++ {
			phases := []int{1, 3}[rapid.IntRange(0, 1).Draw(t, "phases")]
			ev := site.EVSE{ID: e, MaxCurrent: site.Amps(rapid.IntRange(6, 32).Draw(t, "max")), Phases: phases}
			ch.EVSEs = append(ch.EVSEs, ev)
			if !rapid.Bool().Draw(t, "car") {
				continue
			}
			tx := fmt.Sprintf("t%d%d", i, e)
			es := site.EVSEState{Status: site.StatusCharging, Transaction: &site.Transaction{ID: tx, Energy: site.WattHours(rapid.IntRange(0, 5000).Draw(t, "delivered"))}}
			key := site.EVSEKey(ch.ID, e)
			switch rapid.IntRange(0, 3).Draw(t, "needKind") {
			case 1:
				ls.Needs[key] = site.ChargingNeeds{Energy: site.WattHours(rapid.IntRange(1, 60).Draw(t, "kwh") * 1000), Departure: hour("dep")}
			case 2:
				soc := float64(rapid.IntRange(0, 100).Draw(t, "soc"))
				es.LastSample = &site.MeterSample{Time: now, SoC: &soc}
				in.Targets[key] = site.SoCTarget{TargetSoC: float64(rapid.IntRange(1, 100).Draw(t, "target")), BatteryCapacity: 60000, TransactionID: tx}
				ls.Needs[key] = site.ChargingNeeds{Departure: hour("dep")}
			case 3:
				ls.Needs[key] = site.ChargingNeeds{MaxCurrent: site.Amps(rapid.IntRange(1, 32).Draw(t, "carMax"))}
			}
			if rapid.Bool().Draw(t, "prio") {
				ls.Priorities[key] = float64(rapid.IntRange(1, 4).Draw(t, "priority"))
			}
			st.EVSEs[e] = es
		}
		cfg.Chargers = append(cfg.Chargers, ch)
		states[ch.ID] = st
	}
	nodes := []string{""}
	for _, c := range cfg.Circuits {
		nodes = append(nodes, c.ID)
	}
	for range rapid.IntRange(0, 2).Draw(t, "gridLimits") {
		from := hour("glFrom")
		cfg.Limits = append(cfg.Limits, site.GridLimit{ID: fmt.Sprintf("g%d", len(cfg.Limits)), Limit: site.Uniform(site.Amps(rapid.IntRange(6, 60).Draw(t, "gl"))),
			Start: from, End: from.Add(time.Duration(rapid.IntRange(1, 8).Draw(t, "glLen")) * 30 * time.Minute)})
	}
	for range rapid.IntRange(0, 3).Draw(t, "windows") {
		from := hour("wFrom")
		w := site.LimitWindow{Node: nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "wNode")], From: from,
			Until: from.Add(time.Duration(rapid.IntRange(1, 8).Draw(t, "wLen")) * 30 * time.Minute)}
		w.Limit[rapid.IntRange(0, 2).Draw(t, "wPhase")] = site.Amps(rapid.IntRange(0, 40).Draw(t, "wLimit"))
		if w.Limit == (site.PhaseCurrents{}) {
			w.PowerLimit = 4000
		}
		in.Limits.Windows = append(in.Limits.Windows, w)
	}
	seen := map[string]bool{}
	for range rapid.IntRange(0, 3).Draw(t, "forecasts") {
		f := site.Forecast{Node: nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "fNode")], Kind: site.ForecastKind(rapid.IntRange(1, 2).Draw(t, "fKind"))}
		if seen[f.Node+f.Kind.String()] {
			continue
		}
		seen[f.Node+f.Kind.String()] = true
		start := hour("fStart")
		for k := range rapid.IntRange(1, 6).Draw(t, "fPoints") {
			var c site.PhaseCurrents
			for p := range 3 {
				c[p] = site.Amps(rapid.IntRange(0, 30).Draw(t, "fA"))
			}
			f.Points = append(f.Points, site.PhaseSeriesPoint{Start: start.Add(time.Duration(k) * time.Hour), Current: c})
		}
		in.Forecasts.Forecasts = append(in.Forecasts.Forecasts, f)
	}
	if rapid.Bool().Draw(t, "prices") {
		start := hour("pStart")
		for k := range rapid.IntRange(1, 12).Draw(t, "pPoints") {
			in.Prices.Import = append(in.Prices.Import, site.SeriesPoint{Start: start.Add(time.Duration(k) * time.Hour), Value: float64(rapid.IntRange(-5, 50).Draw(t, "price")) / 100})
		}
		if rapid.Bool().Draw(t, "export") {
			in.Prices.Export = []site.SeriesPoint{{Start: start, Value: 0.05}}
		}
	}
	in.Settings = site.PlanSettings{
		Slot:    []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour}[rapid.IntRange(0, 2).Draw(t, "slot")],
		Horizon: time.Duration(rapid.IntRange(2, 12).Draw(t, "horizon")) * time.Hour,
	}
	return Snapshot{Now: now, Config: cfg, States: states, Loop: ls, Inputs: in}
}

// TestPropertyPlans: every valid snapshot builds; the plan keeps every
// limit in force in every slot (windows and forecasts applied, with the
// safety margin) wherever it plans load, never gives a session more than
// its maximum, and passes site.Plan.Validate.
func TestPropertyPlans(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		if err := s.Inputs.Validate(); err != nil {
			t.Fatalf("generator made invalid inputs: %v", err)
		}
		b, err := Build(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := plan.Plan(b.Input)
		if err != nil {
			t.Fatal(err)
		}
		p := Assemble(b, res, "s", s.Now, "prop", 0)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		cars := 0
		for _, st := range s.States {
			cars += len(st.EVSEs)
		}
		if len(p.Sessions) != cars {
			t.Fatalf("%d sessions for %d cars", len(p.Sessions), cars)
		}
		margin := float64(plan.DefaultConfig().SafetyMargin)
		for _, n := range p.Nodes {
			for k := range p.Slots {
				for ph := range 3 {
					lim, ours, total := float64(n.Limit[k][ph]), float64(n.Ours[k][ph]), float64(n.Total[k][ph])
					if lim > 0 && ours > 1e-9 && total > lim-margin+1e-6 {
						t.Fatalf("node %s %q slot %d L%d: total %.3f A (ours %.3f) over limit %.3f A - margin", n.Kind, n.ID, k, ph+1, total, ours, lim)
					}
				}
			}
		}
		for i, sp := range p.Sessions {
			maxA := float64(b.Input.Sessions[i].MaxCurrent)
			for k, a := range sp.Current {
				if float64(a) > maxA+1e-9 {
					t.Fatalf("session %s/%d slot %d: %.2f A above its maximum %.2f A", sp.ChargerID, sp.EVSE, k, float64(a), maxA)
				}
			}
			if sp.Met && sp.Source != site.NeedDefault && sp.Energy+site.WattHours(3*230*float64(p.Slot.Hours())) < sp.Need {
				t.Fatalf("session %s/%d met with %.0f of %.0f Wh", sp.ChargerID, sp.EVSE, float64(sp.Energy), float64(sp.Need))
			}
		}
	})
}
