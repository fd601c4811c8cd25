package site_test

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

var pt0 = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func hours(v ...float64) []site.SeriesPoint {
	out := make([]site.SeriesPoint, len(v))
	for i, x := range v {
		out[i] = site.SeriesPoint{Start: pt0.Add(time.Duration(i) * time.Hour), Value: x}
	}
	return out
}

func validInputs() site.PlanInputs {
	return site.PlanInputs{
		Prices: site.PriceSeries{Currency: "EUR", Import: hours(0.30, 0.20, 0.10), Export: hours(0.08), CO2: hours(300, 200)},
		Limits: site.LimitSchedule{Windows: []site.LimitWindow{
			{From: pt0.Add(17 * time.Hour), Until: pt0.Add(20 * time.Hour), Limit: site.Uniform(50), Source: site.SourceGridOperator, Reason: "§14a"},
			{Node: "board-a", From: pt0, Until: pt0.Add(time.Hour), PowerLimit: 11000},
		}},
		Forecasts: site.Forecasts{Forecasts: []site.Forecast{
			{Kind: site.ForecastLoad, Points: []site.PhaseSeriesPoint{{Start: pt0, Current: site.Uniform(10)}}},
			{Kind: site.ForecastPV, Points: []site.PhaseSeriesPoint{{Start: pt0.Add(12 * time.Hour), Current: site.Uniform(30)}}, End: pt0.Add(13 * time.Hour)},
			{Node: "board-a", Kind: site.ForecastLoad, Points: []site.PhaseSeriesPoint{{Start: pt0, Current: site.PhaseCurrents{-3, 2, 0}}}},
		}},
		Settings: site.PlanSettings{Slot: 30 * time.Minute, Horizon: 36 * time.Hour, DefaultEnergy: 10000},
		Targets:  map[string]site.SoCTarget{"cp-1/1": {TargetSoC: 80, BatteryCapacity: 60000}},
	}
}

// TestPlanInputsValidate: every rule names its field; valid inputs pass.
func TestPlanInputsValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*site.PlanInputs)
		fields []string // nil: valid
	}{
		{"valid", func(*site.PlanInputs) {}, nil},
		{"zero is valid", func(in *site.PlanInputs) { *in = site.PlanInputs{} }, nil},
		{"bad currency", func(in *site.PlanInputs) { in.Prices.Currency = "eur" }, []string{"prices.currency"}},
		{"export without import", func(in *site.PlanInputs) { in.Prices.Import = nil }, []string{"prices.import"}},
		{"price NaN", func(in *site.PlanInputs) { in.Prices.Import[1].Value = math.NaN() }, []string{"prices.import[1].value"}},
		{"price too high", func(in *site.PlanInputs) { in.Prices.Import[0].Value = 5000 }, []string{"prices.import[0].value"}},
		{"negative price ok", func(in *site.PlanInputs) { in.Prices.Import[0].Value = -0.05 }, nil},
		{"co2 negative", func(in *site.PlanInputs) { in.Prices.CO2[0].Value = -1 }, []string{"prices.co2[0].value"}},
		{"points out of order", func(in *site.PlanInputs) { in.Prices.Import[2].Start = pt0 }, []string{"prices.import[2].start_time"}},
		{"point without start", func(in *site.PlanInputs) { in.Prices.Import[0].Start = time.Time{} }, []string{"prices.import[0].start_time"}},
		{"end before last point", func(in *site.PlanInputs) { in.Prices.End = pt0.Add(time.Hour) }, []string{"prices.end_time"}},
		{"window end before start", func(in *site.PlanInputs) { in.Limits.Windows[0].Until = in.Limits.Windows[0].From }, []string{"limits.windows[0].end_time"}},
		{"window without start", func(in *site.PlanInputs) { in.Limits.Windows[1].From = time.Time{} }, []string{"limits.windows[1].start_time"}},
		{"window limits nothing", func(in *site.PlanInputs) { in.Limits.Windows[1].PowerLimit = 0 }, []string{"limits.windows[1].limit"}},
		{"window bad node", func(in *site.PlanInputs) { in.Limits.Windows[1].Node = "Board A" }, []string{"limits.windows[1].node"}},
		{"window negative phase", func(in *site.PlanInputs) { in.Limits.Windows[0].Limit[2] = -1 }, []string{"limits.windows[0].limit.l3"}},
		{"window bad source", func(in *site.PlanInputs) { in.Limits.Windows[0].Source = site.SourceConnection }, []string{"limits.windows[0].source"}},
		{"forecast no points", func(in *site.PlanInputs) { in.Forecasts.Forecasts[0].Points = nil }, []string{"forecasts[0].points"}},
		{"forecast bad kind", func(in *site.PlanInputs) { in.Forecasts.Forecasts[0].Kind = 0 }, []string{"forecasts[0].kind"}},
		{"negative PV", func(in *site.PlanInputs) { in.Forecasts.Forecasts[1].Points[0].Current[1] = -2 }, []string{"forecasts[1].points[0].current.l2"}},
		{"forecast inf", func(in *site.PlanInputs) { in.Forecasts.Forecasts[2].Points[0].Current[0] = site.Amps(math.Inf(1)) }, []string{"forecasts[2].points[0].current.l1"}},
		{"duplicate forecast", func(in *site.PlanInputs) {
			in.Forecasts.Forecasts = append(in.Forecasts.Forecasts, in.Forecasts.Forecasts[0])
		}, []string{"forecasts[3]"}},
		{"slot 7 min", func(in *site.PlanInputs) { in.Settings.Slot = 7 * time.Minute }, []string{"settings.slot"}},
		{"slot 2 h", func(in *site.PlanInputs) { in.Settings.Slot = 2 * time.Hour }, []string{"settings.slot"}},
		{"horizon 3 days", func(in *site.PlanInputs) { in.Settings.Horizon = 72 * time.Hour }, []string{"settings.horizon"}},
		{"horizon below slot", func(in *site.PlanInputs) { in.Settings.Horizon = 10 * time.Minute }, []string{"settings.horizon"}},
		{"negative default energy", func(in *site.PlanInputs) { in.Settings.DefaultEnergy = -1 }, []string{"settings.default_energy_kwh"}},
		{"target SoC 120", func(in *site.PlanInputs) { in.Targets["cp-1/1"] = site.SoCTarget{TargetSoC: 120, BatteryCapacity: 1} }, []string{"targets[cp-1/1].target_soc_percent"}},
		{"target no battery", func(in *site.PlanInputs) { in.Targets["cp-1/1"] = site.SoCTarget{TargetSoC: 80} }, []string{"targets[cp-1/1].battery_capacity_kwh"}},
		{"target bad key", func(in *site.PlanInputs) { in.Targets["x"] = site.SoCTarget{TargetSoC: 80, BatteryCapacity: 1} }, []string{"targets[x]"}},
		{"two at once", func(in *site.PlanInputs) {
			in.Prices.Currency = "E"
			in.Settings.Slot = time.Minute
		}, []string{"prices.currency", "settings.slot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := validInputs()
			tc.change(&in)
			err := in.Validate()
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *site.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, site.ErrInvalid) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			var got []string
			for _, v := range ve.Violations {
				got = append(got, v.Field)
			}
			for _, f := range tc.fields {
				if !slices.Contains(got, f) {
					t.Errorf("violations %v lack %q", got, f)
				}
			}
			if len(got) != len(tc.fields) {
				t.Errorf("violations %v, want exactly %v", got, tc.fields)
			}
		})
	}
}

func validPlan() site.Plan {
	return site.Plan{
		SiteID: "depot-1", ComputedAt: pt0, Start: pt0, Slot: time.Hour, Slots: 2,
		Sessions: []site.SessionPlan{{ChargerID: "cp-1", EVSE: 1, Need: 10000, Energy: 10000, Met: true,
			Current: []site.Amps{16, 0}, Periods: []site.PlanPeriod{{Start: pt0, Limit: 16, Unit: site.UnitAmps, Phases: 3}, {Start: pt0.Add(time.Hour), Limit: 0, Unit: site.UnitAmps}}}},
		Nodes: []site.NodePlan{{ID: "", Kind: "grid", Ours: make([]site.PhaseCurrents, 2), Total: make([]site.PhaseCurrents, 2)}},
	}
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*site.Plan)
		field  string // "": valid
	}{
		{"valid", func(*site.Plan) {}, ""},
		{"bad site", func(p *site.Plan) { p.SiteID = "" }, "site_id"},
		{"no start", func(p *site.Plan) { p.Start = time.Time{} }, "start_time"},
		{"no slot", func(p *site.Plan) { p.Slot = 0 }, "slot"},
		{"cost NaN", func(p *site.Plan) { p.Cost = math.NaN() }, "cost"},
		{"session without EVSE", func(p *site.Plan) { p.Sessions[0].EVSE = 0 }, "sessions[0].evse"},
		{"current per slot", func(p *site.Plan) { p.Sessions[0].Current = p.Sessions[0].Current[:1] }, "sessions[0].current"},
		{"periods out of order", func(p *site.Plan) { p.Sessions[0].Periods[1].Start = pt0 }, "sessions[0].periods[1].start_time"},
		{"negative limit", func(p *site.Plan) { p.Sessions[0].Periods[0].Limit = -1 }, "sessions[0].periods[0].limit"},
		{"node slots", func(p *site.Plan) { p.Nodes[0].Total = nil }, "nodes[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPlan()
			tc.change(&p)
			err := p.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *site.ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Field != tc.field {
				t.Fatalf("want one violation of %q, got %v", tc.field, err)
			}
		})
	}
}

func TestPlanSettingsDefaults(t *testing.T) {
	var s site.PlanSettings
	if s.EffectiveSlot() != 15*time.Minute || s.EffectiveHorizon() != 24*time.Hour || s.EffectiveDefaultEnergy() != 20000 {
		t.Fatalf("defaults: %v %v %v", s.EffectiveSlot(), s.EffectiveHorizon(), s.EffectiveDefaultEnergy())
	}
	s = site.PlanSettings{Slot: 5 * time.Minute, Horizon: time.Hour, DefaultEnergy: 1}
	if s.EffectiveSlot() != 5*time.Minute || s.EffectiveHorizon() != time.Hour || s.EffectiveDefaultEnergy() != 1 {
		t.Fatal("set values not kept")
	}
}
