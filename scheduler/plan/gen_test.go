package plan_test

import (
	"fmt"
	"math"
	"time"

	"pgregory.net/rapid"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

var start = time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC)

// genInput draws valid planning inputs: random trees of up to maxNodes
// nodes with limits (some unlimited, some tight), power limits, windows
// and other load per slot (negative with PV); up to maxSessions sessions
// with random phases, rotations, minimums, maximums, priorities, needs
// (some none, some from SoC), departures (some past, some mid-slot, some
// unknown), period limits and units; prices (with ties), export prices
// and CO2 sometimes; sometimes a plan that takes effect within slot 0
// (Input.From).
func genInput(maxNodes, maxSessions, maxSlots int) *rapid.Generator[plan.Input] {
	return rapid.Custom(func(t *rapid.T) plan.Input {
		slot := rapid.SampledFrom([]time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour}).Draw(t, "slot")
		T := rapid.IntRange(1, maxSlots).Draw(t, "slots")
		cfg := plan.DefaultConfig()
		cfg.SafetyMargin = scheduler.Amps(rapid.SampledFrom([]float64{0, 0.5}).Draw(t, "margin"))
		cfg.Rounds = rapid.SampledFrom([]int{16, 64}).Draw(t, "rounds")
		cfg.DefaultEnergy = scheduler.WattHours(rapid.SampledFrom([]float64{3000, 20000}).Draw(t, "default_energy"))
		in := plan.Input{Start: start, Slot: slot, Horizon: time.Duration(T) * slot, NominalVoltage: 230, Config: &cfg}
		nn := rapid.IntRange(1, maxNodes).Draw(t, "nodes")
		for i := range nn {
			l := fmt.Sprintf("node%d", i)
			n := plan.Node{ID: fmt.Sprintf("n%d", i), Parent: -1}
			if i > 0 {
				n.Parent = rapid.IntRange(0, i-1).Draw(t, l+".parent")
			}
			n.Limit = genLimit(t, l+".limit")
			if rapid.IntRange(0, 3).Draw(t, l+".has_power") == 0 {
				n.PowerLimit = scheduler.Watts(rapid.Float64Range(3000, 40000).Draw(t, l+".power"))
			}
			if rapid.IntRange(0, 2).Draw(t, l+".has_window") == 0 {
				a := rapid.IntRange(0, T-1).Draw(t, l+".window.from")
				b := rapid.IntRange(a+1, T).Draw(t, l+".window.to")
				n.Windows = append(n.Windows, plan.Window{
					From: start.Add(time.Duration(a) * slot), To: start.Add(time.Duration(b) * slot),
					Limit: genLimit(t, l+".window.limit"), Source: "dso",
				})
			}
			if rapid.IntRange(0, 2).Draw(t, l+".has_other") == 0 {
				n.OtherLoad = make([]scheduler.PhaseCurrents, T)
				for k := range T {
					for p := range 3 {
						n.OtherLoad[k][p] = scheduler.Amps(rapid.Float64Range(-15, 20).Draw(t, fmt.Sprintf("%s.other%d.%d", l, k, p)))
					}
				}
			}
			in.Nodes = append(in.Nodes, n)
		}
		ns := rapid.IntRange(0, maxSessions).Draw(t, "sessions")
		for i := range ns {
			in.Sessions = append(in.Sessions, genSession(t, i, nn, T, slot))
		}
		if rapid.IntRange(0, 5).Draw(t, "has_price") > 0 {
			in.Price = make([]plan.PricePerKWh, T)
			for k := range T {
				in.Price[k] = plan.PricePerKWh(math.Round(rapid.Float64Range(0.05, 0.5).Draw(t, fmt.Sprintf("price%d", k))*20) / 20)
			}
		}
		if rapid.IntRange(0, 2).Draw(t, "has_export") == 0 {
			in.ExportPrice = make([]plan.PricePerKWh, T)
			for k := range T {
				in.ExportPrice[k] = plan.PricePerKWh(rapid.Float64Range(0, 0.1).Draw(t, fmt.Sprintf("export%d", k)))
			}
		}
		if rapid.IntRange(0, 2).Draw(t, "has_co2") == 0 {
			in.CO2 = make([]plan.GramsPerKWh, T)
			for k := range T {
				in.CO2[k] = plan.GramsPerKWh(rapid.Float64Range(50, 600).Draw(t, fmt.Sprintf("co2_%d", k)))
			}
		}
		if rapid.IntRange(0, 2).Draw(t, "has_from") == 0 {
			// Slot 0 started before "now" (slots on the clock).
			in.From = start.Add(time.Duration(rapid.Int64Range(0, int64(slot/time.Second)-1).Draw(t, "from_seconds")) * time.Second)
		}
		return in
	})
}

func genLimit(t *rapid.T, label string) scheduler.PhaseCurrents {
	amps := func(l string) scheduler.Amps {
		switch rapid.IntRange(0, 5).Draw(t, l+".kind") {
		case 0:
			return scheduler.Unlimited()
		case 1:
			return scheduler.Amps(rapid.SampledFrom([]float64{0, 6, 16, 25, 32, 63}).Draw(t, l))
		}
		return scheduler.Amps(rapid.Float64Range(5, 80).Draw(t, l))
	}
	if rapid.Bool().Draw(t, label+".uniform") {
		return scheduler.Uniform(amps(label))
	}
	return scheduler.PhaseCurrents{amps(label + ".l1"), amps(label + ".l2"), amps(label + ".l3")}
}

func genSession(t *rapid.T, i, nn, T int, slot time.Duration) plan.Session {
	l := fmt.Sprintf("session%d", i)
	s := plan.Session{
		ID:         fmt.Sprintf("s%02d", i),
		Node:       rapid.IntRange(0, nn-1).Draw(t, l+".node"),
		Rotation:   rapid.SampledFrom(schedtest.Rotations()).Draw(t, l+".rotation"),
		Phases:     rapid.SampledFrom([]scheduler.PhaseSet{0, 0, scheduler.OnlyL1, scheduler.OnlyL1 | scheduler.OnlyL2}).Draw(t, l+".phases"),
		MaxCurrent: scheduler.Amps(rapid.SampledFrom([]float64{10, 16, 16, 32}).Draw(t, l+".max")),
		MinCurrent: scheduler.Amps(rapid.SampledFrom([]float64{0, 0, 6, 8}).Draw(t, l+".min")),
		Priority:   rapid.SampledFrom([]float64{0, 1, 1, 2, 0.5}).Draw(t, l+".priority"),
		MaxPeriods: rapid.SampledFrom([]int{0, 0, 1, 2, 3, 5}).Draw(t, l+".max_periods"),
		Unit:       plan.RateUnit(rapid.IntRange(0, 1).Draw(t, l+".unit")),
	}
	switch rapid.IntRange(0, 5).Draw(t, l+".need_kind") {
	case 0: // no needs
	case 1:
		s.SoC = rapid.Float64Range(5, 90).Draw(t, l+".soc")
		s.BatteryCapacity = scheduler.WattHours(rapid.SampledFrom([]float64{40000, 77000}).Draw(t, l+".battery"))
	default:
		s.EnergyNeeded = scheduler.WattHours(rapid.Float64Range(1000, 60000).Draw(t, l+".need"))
	}
	switch rapid.IntRange(0, 5).Draw(t, l+".departure_kind") {
	case 0: // unknown
	case 1:
		s.Departure = start.Add(-time.Duration(rapid.IntRange(0, 120).Draw(t, l+".departed")) * time.Minute)
	default:
		span := int64(time.Duration(T) * slot / time.Minute)
		s.Departure = start.Add(time.Duration(rapid.Int64Range(1, span+30).Draw(t, l+".departure")) * time.Minute)
	}
	return s
}
