package ocppadapter

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Whatever schedule a charger sends in NotifyChargingLimit (any order of
// periods, repeated or negative startPeriod, negative limits, with or
// without start and duration), what is published is a valid limit
// schedule: one period per offset (negative offsets count as 0) with the
// lowest limit given there, not below 0, in order.
func TestExternalSchedule201AlwaysValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := schedule201{RateUnit: rapid.SampledFrom([]string{"A", "W"}).Draw(t, "unit")}
		if rapid.Bool().Draw(t, "start") {
			st := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rapid.Int64Range(-1e6, 1e6).Draw(t, "startS")) * time.Second)
			s.StartSchedule = &st
		}
		if rapid.Bool().Draw(t, "hasDuration") {
			d := rapid.IntRange(-100, 200000).Draw(t, "duration")
			s.Duration = &d
		}
		n := rapid.IntRange(1, 8).Draw(t, "periods")
		for range n {
			p := period201{StartPeriod: rapid.IntRange(-100, 5000).Draw(t, "startPeriod"), Limit: rapid.Float64Range(-50, 500).Draw(t, "limit")}
			s.Periods = append(s.Periods, p)
		}
		want := map[time.Duration]float64{}
		for _, p := range s.Periods {
			off := time.Duration(max(p.StartPeriod, 0)) * time.Second
			if l, seen := want[off]; !seen || max(p.Limit, 0) < l {
				want[off] = max(p.Limit, 0)
			}
		}
		x, ok := externalSchedule201(s)
		if !ok {
			t.Fatalf("schedule %+v not read", s)
		}
		if err := x.Validate(); err != nil {
			t.Fatalf("schedule %+v read as %+v: %v", s, x, err)
		}
		if len(x.Periods) != len(want) {
			t.Fatalf("periods %+v, want one per offset of %v", x.Periods, want)
		}
		for _, p := range x.Periods {
			if l, ok := want[p.Offset]; !ok || l != p.Limit {
				t.Fatalf("period %+v, want limit %v at that offset (%v)", p, l, want)
			}
		}
	})
}
