package planning

import (
	"fmt"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/site"
)

// benchSnapshot is a depot of n cars on a three-level tree (grid, 10
// boards, chargers of a 3-phase 16 A and a 1-phase 32 A EVSE), 96 slots of
// 15 minutes, day-ahead prices by hour, a grid-operator window and a PV
// forecast. rotated spreads the chargers' phase rotations (RST, STR, TRS)
// as installers do, so the 1-phase cars spread over the phases; without
// it every 1-phase car is on L1.
func benchSnapshot(n int, rotated bool) Snapshot {
	rots := []site.PhaseRotation{site.StandardRotation, {site.L2, site.L3, site.L1}, {site.L3, site.L1, site.L2}}
	cfg := site.Config{Site: site.Site{ID: "depot", GridLimit: site.Uniform(site.Amps(16 * n / 3))}}
	for b := range 10 {
		cfg.Circuits = append(cfg.Circuits, site.Circuit{ID: fmt.Sprintf("board-%d", b), Limit: site.Uniform(site.Amps(16 * n / 15))})
	}
	states := map[string]site.ChargerState{}
	ls := site.LoopState{Needs: map[string]site.ChargingNeeds{}}
	for c := range (n + 1) / 2 {
		ch := site.Charger{ID: fmt.Sprintf("c%d", c), Circuit: fmt.Sprintf("board-%d", c%10),
			EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}, {ID: 2, MaxCurrent: 32, Phases: 1}}}
		if rotated {
			ch.PhaseRotation = rots[c%3]
		}
		cfg.Chargers = append(cfg.Chargers, ch)
		st := site.ChargerState{Connected: true, EVSEs: map[int]site.EVSEState{}}
		for e := 1; e <= 2 && 2*c+e <= n; e++ {
			st.EVSEs[e] = site.EVSEState{Status: site.StatusCharging, Transaction: &site.Transaction{ID: fmt.Sprintf("t%d-%d", c, e)}}
			ls.Needs[site.EVSEKey(ch.ID, e)] = site.ChargingNeeds{Energy: site.WattHours(10000 + 1000*((c+e)%30)), Departure: t0.Add(time.Duration(10+(c+e)%8) * time.Hour)}
		}
		states[ch.ID] = st
	}
	var prices []site.SeriesPoint
	for h := range 25 {
		v := 0.30
		if h >= 4 && h < 13 {
			v = 0.10
		}
		prices = append(prices, site.SeriesPoint{Start: t0.Add(time.Duration(h) * time.Hour), Value: v + 0.001*float64(h%5)})
	}
	in := site.PlanInputs{
		Prices: site.PriceSeries{Currency: "EUR", Import: prices},
		Limits: site.LimitSchedule{Windows: []site.LimitWindow{{From: t0, Until: t0.Add(3 * time.Hour), Limit: site.Uniform(site.Amps(8 * n / 3)), Source: site.SourceGridOperator}}},
		Forecasts: site.Forecasts{Forecasts: []site.Forecast{{Kind: site.ForecastPV, End: t0.Add(22 * time.Hour),
			Points: []site.PhaseSeriesPoint{{Start: t0.Add(18 * time.Hour), Current: site.Uniform(30)}}}}},
	}
	return Snapshot{Now: t0, Config: cfg, States: states, Loop: ls, Inputs: in}
}

// BenchmarkPlanSite measures one plan of a site as the runner makes it:
// Build, the planner, Assemble (no Redis). "single-phase-L1" is the
// planner's slow case: hundreds of 1-phase cars all on L1 of 3-phase
// circuits, needs just short of feasible (1,000 such sessions took 13-30 s
// per plan before 2026-11-25, about 0.4 s after).
//
//	go test -run '^$' -bench PlanSite -benchmem ./planning/
func BenchmarkPlanSite(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n       int
		rotated bool
	}{{"sessions=10", 10, true}, {"sessions=100", 100, true}, {"sessions=1000", 1000, true}, {"single-phase-L1/sessions=100", 100, false}, {"single-phase-L1/sessions=1000", 1000, false}} {
		s := benchSnapshot(tc.n, tc.rotated)
		n := tc.n
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				built, err := Build(s, nil)
				if err != nil {
					b.Fatal(err)
				}
				res, err := plan.Plan(built.Input)
				if err != nil {
					b.Fatal(err)
				}
				p := Assemble(built, res, "depot", s.Now, "bench", 0)
				if len(p.Sessions) != n {
					b.Fatalf("%d sessions, want %d", len(p.Sessions), n)
				}
			}
		})
	}
}

// BenchmarkBuildAssemble measures what the runner adds to the planner:
// Build and Assemble for 1,000 sessions (the planner's result computed
// once).
func BenchmarkBuildAssemble(b *testing.B) {
	s := benchSnapshot(1000, true)
	built, err := Build(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	res, err := plan.Plan(built.Input)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		bb, err := Build(s, nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = Assemble(bb, res, "depot", s.Now, "bench", 0)
	}
}
