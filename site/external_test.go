package site

import (
	"testing"
	"time"
)

func TestExternalScheduleLimitAt(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	three := []Period{{Limit: 20}, {Offset: 10 * time.Minute, Limit: 8}, {Offset: 20 * time.Minute, Limit: 0}}
	type want struct {
		limit float64
		ok    bool
		next  time.Time
	}
	for _, tc := range []struct {
		name string
		s    ExternalSchedule
		at   time.Time
		want want
	}{
		{"constant, start unknown", ExternalSchedule{Periods: []Period{{Limit: 16}}}, t0, want{16, true, time.Time{}}},
		{"start unknown: lowest period", ExternalSchedule{Periods: three}, t0, want{0, true, time.Time{}}},
		{"start unknown, valid to", ExternalSchedule{Periods: three, ValidTo: t0.Add(time.Hour)}, t0, want{0, true, t0.Add(time.Hour)}},
		{"before start", ExternalSchedule{Start: t0, Periods: three}, t0.Add(-time.Minute), want{0, false, t0}},
		{"first period", ExternalSchedule{Start: t0, Periods: three}, t0, want{20, true, t0.Add(10 * time.Minute)}},
		{"second period", ExternalSchedule{Start: t0, Periods: three}, t0.Add(15 * time.Minute), want{8, true, t0.Add(20 * time.Minute)}},
		{"last period of 0, open-ended", ExternalSchedule{Start: t0, Periods: three}, t0.Add(5 * time.Hour), want{0, true, time.Time{}}},
		{"last period until duration", ExternalSchedule{Start: t0, Duration: time.Hour, Periods: three}, t0.Add(30 * time.Minute), want{0, true, t0.Add(time.Hour)}},
		{"after duration", ExternalSchedule{Start: t0, Duration: time.Hour, Periods: three}, t0.Add(time.Hour), want{0, false, time.Time{}}},
		{"before valid from", ExternalSchedule{Start: t0, Periods: three, ValidFrom: t0.Add(12 * time.Minute)}, t0, want{0, false, t0.Add(12 * time.Minute)}},
		{"valid to cuts a period", ExternalSchedule{Start: t0, Periods: three, ValidTo: t0.Add(5 * time.Minute)}, t0, want{20, true, t0.Add(5 * time.Minute)}},
		{"after valid to", ExternalSchedule{Start: t0, Periods: three, ValidTo: t0.Add(5 * time.Minute)}, t0.Add(5 * time.Minute), want{0, false, time.Time{}}},
		{"first period starts late", ExternalSchedule{Start: t0, Periods: []Period{{Offset: time.Minute, Limit: 5}}}, t0, want{0, false, t0.Add(time.Minute)}},
		{"daily, next day second period", ExternalSchedule{Start: t0, Recurrency: RecurrencyDaily, Periods: three}, t0.Add(24*time.Hour + 11*time.Minute), want{8, true, t0.Add(24*time.Hour + 20*time.Minute)}},
		{"daily, last period until next day", ExternalSchedule{Start: t0, Recurrency: RecurrencyDaily, Periods: three}, t0.Add(23 * time.Hour), want{0, true, t0.Add(24 * time.Hour)}},
		{"daily, before start repeats", ExternalSchedule{Start: t0, Recurrency: RecurrencyDaily, Periods: three}, t0.Add(-24*time.Hour + 12*time.Minute), want{8, true, t0.Add(-24*time.Hour + 20*time.Minute)}},
		{"daily, outside duration", ExternalSchedule{Start: t0, Recurrency: RecurrencyDaily, Duration: time.Hour, Periods: three}, t0.Add(2 * time.Hour), want{0, false, t0.Add(24 * time.Hour)}},
		{"weekly", ExternalSchedule{Start: t0, Recurrency: RecurrencyWeekly, Periods: three}, t0.Add(7*24*time.Hour + time.Minute), want{20, true, t0.Add(7*24*time.Hour + 10*time.Minute)}},
		{"no periods", ExternalSchedule{Start: t0}, t0, want{0, false, time.Time{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, ok, next := tc.s.LimitAt(tc.at)
			if l != tc.want.limit || ok != tc.want.ok || !next.Equal(tc.want.next) {
				t.Errorf("LimitAt = %g, %v, %v; want %g, %v, %v", l, ok, next, tc.want.limit, tc.want.ok, tc.want.next)
			}
			if !next.IsZero() && !next.After(tc.at) {
				t.Errorf("next %v not after %v", next, tc.at)
			}
		})
	}
}

func TestExternalLimitsAt(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	ss := []ExternalSchedule{
		{Unit: UnitAmps, Start: t0, Periods: []Period{{Limit: 16}, {Offset: time.Hour, Limit: 6}}},
		{Unit: UnitAmps, Periods: []Period{{Limit: 10}}},
		{Unit: UnitWatts, Start: t0.Add(30 * time.Minute), Periods: []Period{{Limit: 0}}},
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		a    Amps
		hasA bool
		w    Watts
		hasW bool
		next time.Time
	}{
		{"A only", t0, 10, true, 0, false, t0.Add(30 * time.Minute)},
		{"0 W in force", t0.Add(40 * time.Minute), 10, true, 0, true, t0.Add(time.Hour)},
		{"lower A later", t0.Add(2 * time.Hour), 6, true, 0, true, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, hasA, w, hasW, next := ExternalLimitsAt(ss, tc.at)
			if a != tc.a || hasA != tc.hasA || w != tc.w || hasW != tc.hasW || !next.Equal(tc.next) {
				t.Errorf("got %v %v %v %v %v, want %v %v %v %v %v", a, hasA, w, hasW, next, tc.a, tc.hasA, tc.w, tc.hasW, tc.next)
			}
		})
	}
}

func TestExternalScheduleValidate(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		s    ExternalSchedule
		ok   bool
	}{
		{"ok", ExternalSchedule{Unit: UnitAmps, Periods: []Period{{Limit: 0}}}, true},
		{"no unit", ExternalSchedule{Periods: []Period{{Limit: 1}}}, false},
		{"no periods", ExternalSchedule{Unit: UnitWatts}, false},
		{"negative limit", ExternalSchedule{Unit: UnitAmps, Periods: []Period{{Limit: -1}}}, false},
		{"offsets not growing", ExternalSchedule{Unit: UnitAmps, Periods: []Period{{Limit: 1}, {Limit: 2}}}, false},
		{"recurring without start", ExternalSchedule{Unit: UnitAmps, Recurrency: RecurrencyDaily, Periods: []Period{{Limit: 1}}}, false},
		{"recurring longer than a day", ExternalSchedule{Unit: UnitAmps, Start: t0, Duration: 25 * time.Hour, Recurrency: RecurrencyDaily, Periods: []Period{{Limit: 1}}}, false},
		{"valid to before from", ExternalSchedule{Unit: UnitAmps, ValidFrom: t0, ValidTo: t0, Periods: []Period{{Limit: 1}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
