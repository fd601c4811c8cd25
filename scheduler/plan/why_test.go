package plan_test

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
)

// TestWhyPriceAndNeedMet: slots left empty with room say "price" when
// the need is met in cheaper slots later and "need-met" once the need is
// met (every slot after the last one charged; for a session without needs,
// which charges as early as it can, every slot it does not fill). Before
// 2026-11-25 they said "profile": the check used the energy after rounding,
// a little below the need.
func TestWhyPriceAndNeedMet(t *testing.T) {
	start := time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC)
	slot := 15 * time.Minute
	for _, tc := range []struct {
		name  string
		price []float64 // per hour
		s     plan.Session
		// per slot, the code wanted where the session gets less than its
		// maximum; "" means any (node limits, rounding)
		want func(k int, last int) string
	}{
		{"cheap second hour", []float64{0.3, 0.1, 0.2, 0.3},
			plan.Session{ID: "a", MaxCurrent: 16, EnergyNeeded: 8000},
			func(k, last int) string {
				switch {
				case k < 4:
					return "price"
				case k > last:
					return "need-met"
				}
				return ""
			}},
		{"no needs", []float64{0.3, 0.1, 0.2, 0.3},
			plan.Session{ID: "b", MaxCurrent: 16},
			func(k, last int) string {
				if k > last {
					return "need-met"
				}
				return ""
			}},
		{"cheap last hour", []float64{0.3, 0.3, 0.2, 0.1},
			plan.Session{ID: "c", MaxCurrent: 32, EnergyNeeded: 10000},
			func(k, last int) string {
				if k < 12 {
					return "price"
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := plan.DefaultConfig()
			cfg.DefaultEnergy = 5000
			in := plan.Input{Start: start, Horizon: 4 * time.Hour, NominalVoltage: 230, Config: &cfg,
				Nodes:    []plan.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(63)}},
				Price:    hourly(slot, tc.price),
				Sessions: []plan.Session{tc.s}}
			res := mustPlan(t, in)
			sp := res.Sessions[0]
			if !sp.Met {
				t.Fatalf("need not met: %v", sp.String())
			}
			last := -1
			for k, a := range sp.Current {
				if a > 0 {
					last = k
				}
			}
			if last < 0 {
				t.Fatal("the session charges in no slot")
			}
			for k, w := range sp.Why {
				if sp.Current[k] >= tc.s.MaxCurrent {
					continue
				}
				if want := tc.want(k, last); want != "" && w.Code.String() != want {
					t.Errorf("slot %d (%.1f A): why %v, want %s", k, sp.Current[k], w, want)
				}
			}
		})
	}
}
