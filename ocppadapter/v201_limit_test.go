package ocppadapter_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// externalEvents returns the ExternalSchedulesReported events from index
// from on. The adapter publishes before it answers, so after a CALL's
// answer they are all there.
func externalEvents(r *ocpptest.Recorder, from int) []site.ExternalSchedulesReported {
	var out []site.ExternalSchedulesReported
	for _, e := range r.Events()[from:] {
		if x, ok := e.(site.ExternalSchedulesReported); ok {
			out = append(out, x)
		}
	}
	return out
}

// K11/K12 NotifyChargingLimit: the external system's schedules reach the
// loop whole as an ExternalSchedulesReported of the chargingLimitSource,
// on the EVSE named (the station when evseId is absent or 0); a limit of
// 0 is a limit (pause); without a schedule (K12.FR.03 applies only with
// EnableNotifyChargingLimitWithSchedules) the event carries none. K13
// ClearedChargingLimit clears the source on the EVSE (the station without
// evseId).
func TestV201ExternalLimitSchedules(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	type limitAt struct {
		t      time.Time
		amps   float64 // -1: no limit in A
		watts  float64 // -1: no limit in W
		change time.Time
	}
	tests := []struct {
		name    string
		action  string
		payload string
		// want: one event per EVSE in order, all of source.
		source string
		evses  []int
		// schedules in the (first) event; checks of the limits in force.
		schedules int
		checks    []limitAt
		periods   []site.Period // of the first schedule, when given
	}{
		{name: "K11 0 A period pauses", action: "NotifyChargingLimit",
			payload: `{"evseId":1,"chargingLimit":{"chargingLimitSource":"EMS","isGridCritical":true},"chargingSchedule":[{"id":1,"startSchedule":"2026-01-01T10:00:00Z","duration":1800,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16},{"startPeriod":600,"limit":0},{"startPeriod":1200,"limit":8,"numberPhases":1}]}]}`,
			source:  "EMS", evses: []int{1}, schedules: 1,
			periods: []site.Period{{Limit: 16}, {Offset: 10 * time.Minute, Limit: 0}, {Offset: 20 * time.Minute, Limit: 8, Phases: 1}},
			checks: []limitAt{
				{t: at(time.Minute), amps: 16, watts: -1, change: at(10 * time.Minute)},
				{t: at(11 * time.Minute), amps: 0, watts: -1, change: at(20 * time.Minute)},
				{t: at(25 * time.Minute), amps: 8, watts: -1, change: at(30 * time.Minute)},
				{t: at(31 * time.Minute), amps: -1, watts: -1},
			}},
		{name: "K12 constant 0 A on the station", action: "NotifyChargingLimit",
			payload: `{"chargingLimit":{"chargingLimitSource":"SO"},"chargingSchedule":[{"id":2,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":0}]}]}`,
			source:  "SO", evses: []int{0}, schedules: 1,
			checks: []limitAt{{t: at(0), amps: 0, watts: -1}, {t: at(240 * time.Hour), amps: 0, watts: -1}}},
		{name: "W without start: lowest period, periods sorted, negative as 0", action: "NotifyChargingLimit",
			payload: `{"evseId":0,"chargingLimit":{"chargingLimitSource":"Other"},"chargingSchedule":[{"id":3,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":900,"limit":7000},{"startPeriod":0,"limit":11000},{"startPeriod":1800,"limit":-500}]}]}`,
			source:  "Other", evses: []int{0}, schedules: 1,
			periods: []site.Period{{Limit: 11000}, {Offset: 15 * time.Minute, Limit: 7000}, {Offset: 30 * time.Minute, Limit: 0}},
			checks:  []limitAt{{t: at(0), amps: -1, watts: 0}}},
		{name: "two schedules: the lowest in force counts", action: "NotifyChargingLimit",
			payload: `{"evseId":2,"chargingLimit":{"chargingLimitSource":"EMS"},"chargingSchedule":[{"id":4,"startSchedule":"2026-01-01T10:00:00Z","chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":20}]},{"id":5,"startSchedule":"2026-01-01T10:00:00Z","chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":32},{"startPeriod":60,"limit":12}]}]}`,
			source:  "EMS", evses: []int{2}, schedules: 2,
			checks: []limitAt{{t: at(0), amps: 20, watts: -1, change: at(time.Minute)}, {t: at(2 * time.Minute), amps: 12, watts: -1}}},
		{name: "K12.FR.04 CSO is still followed", action: "NotifyChargingLimit",
			payload: `{"evseId":1,"chargingLimit":{"chargingLimitSource":"CSO"},"chargingSchedule":[{"id":6,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":6}]}]}`,
			source:  "CSO", evses: []int{1}, schedules: 1,
			checks: []limitAt{{t: at(0), amps: 6, watts: -1}}},
		{name: "no schedule: value unknown, none taken", action: "NotifyChargingLimit",
			payload: `{"evseId":1,"chargingLimit":{"chargingLimitSource":"SO"}}`,
			source:  "SO", evses: []int{1}, schedules: 0},
		{name: "K13 cleared on one EVSE", action: "ClearedChargingLimit",
			payload: `{"chargingLimitSource":"EMS","evseId":1}`,
			source:  "EMS", evses: []int{1}},
		{name: "K13 cleared without evseId: the station's", action: "ClearedChargingLimit",
			payload: `{"chargingLimitSource":"SO"}`,
			source:  "SO", evses: []int{0}},
	}
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CS1"}})
	c := h.Dial(t, "CS1", v201opts())
	boot201(t, c)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mark := h.Events.Len()
			if got := call(t, c, tc.action, json.RawMessage(tc.payload)); len(got) != 0 {
				t.Fatalf("answer %v, want {}", got)
			}
			evs := externalEvents(h.Events, mark)
			var evses []int
			for _, e := range evs {
				evses = append(evses, e.EVSE)
				if e.Source != tc.source || e.Charger() != h.Refs["CS1"] || e.Validate() != nil {
					t.Errorf("event %+v (valid: %v), want source %s of CS1", e, e.Validate(), tc.source)
				}
			}
			if !slices.Equal(evses, tc.evses) {
				t.Fatalf("events on EVSEs %v, want %v (%+v)", evses, tc.evses, evs)
			}
			ev := evs[0]
			if len(ev.Schedules) != tc.schedules {
				t.Fatalf("%d schedules, want %d: %+v", len(ev.Schedules), tc.schedules, ev.Schedules)
			}
			if tc.schedules == 0 && !ev.Cleared() {
				t.Errorf("no schedules but not cleared")
			}
			if tc.periods != nil && !slices.Equal(ev.Schedules[0].Periods, tc.periods) {
				t.Errorf("periods %+v, want %+v", ev.Schedules[0].Periods, tc.periods)
			}
			for _, ck := range tc.checks {
				a, hasA, w, hasW, next := site.ExternalLimitsAt(ev.Schedules, ck.t)
				gotA, gotW := -1.0, -1.0
				if hasA {
					gotA = float64(a)
				}
				if hasW {
					gotW = float64(w)
				}
				if gotA != ck.amps || gotW != ck.watts || !next.Equal(ck.change) {
					t.Errorf("at %s: %g A, %g W, next %v; want %g A, %g W, next %v (-1: none)",
						ck.t.Sub(start), gotA, gotW, next, ck.amps, ck.watts, ck.change)
				}
			}
		})
	}
}
