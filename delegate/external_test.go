package delegate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestExternalLimitThroughCSMS: a CSMS reports a limit someone else set on
// a charger (an EMS's 0 A, as a schedule): the hub takes it, the loop
// pauses that EVSE while the other charger keeps charging, and lifting the
// limit gives the paused one its share back.
func TestExternalLimitThroughCSMS(t *testing.T) {
	for name, addr := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, addr, envOptions{grid: 32})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := newCSMS(t, e.cl, tokCSMS, siteID, 32)
			c.addCharger("cp1", "tx-1", false)
			c.addCharger("cp2", "tx-2", false)
			done := make(chan struct{})
			go func() { defer close(done); c.run(ctx) }()
			defer func() { cancel(); <-done }()
			c.waitFor(t, 10*time.Second, "command stream attached", func() (bool, string) { return e.hub.Attached(siteID), "" })
			for _, cp := range []struct{ id, tx string }{{"cp1", "tx-1"}, {"cp2", "tx-2"}} {
				if err := c.report(ctx, plugIn(siteID, cp.id, cp.tx)); err != nil {
					t.Fatalf("ReportChargerEvents %s: %v", cp.id, err)
				}
			}
			limits := func() (cp1, cp2 float64) {
				return c.chargers["cp1"].limit(), c.chargers["cp2"].limit()
			}
			c.waitFor(t, 20*time.Second, "both chargers share 32 A", func() (bool, string) {
				a, b := limits()
				// Below the 32 A they may draw without a profile: the
				// loop's limits are in.
				return a > 10 && b > 10 && a < 20 && b < 20, fmt.Sprintf("cp1 %.1f A, cp2 %.1f A", a, b)
			})

			ext := func(ev *pb.ExternalLimitEvent) []*pb.ChargerEvent {
				return []*pb.ChargerEvent{{Charger: chargerName(siteID, "cp1"), EventTime: timestamppb.Now(),
					Event: &pb.ChargerEvent_ExternalLimit{ExternalLimit: ev}}}
			}
			zero := &pb.ExternalLimitEvent{EvseId: 1, Source: "EMS", Schedules: []*pb.ExternalLimitSchedule{{
				RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_A,
				Periods:  []*pb.ChargingSchedulePeriod{{StartPeriodSeconds: 0, Limit: 0}},
			}}}
			if err := c.report(ctx, ext(zero)); err != nil {
				t.Fatalf("reporting an external limit of 0 A: %v", err)
			}
			c.waitFor(t, 20*time.Second, "cp1 paused by the EMS's 0 A, cp2 charging", func() (bool, string) {
				a, b := limits()
				return a == 0 && b > 10, fmt.Sprintf("cp1 %.1f A, cp2 %.1f A", a, b)
			})

			if err := c.report(ctx, ext(&pb.ExternalLimitEvent{EvseId: 1, Source: "EMS", Cleared: true})); err != nil {
				t.Fatalf("clearing the external limit: %v", err)
			}
			c.waitFor(t, 30*time.Second, "cp1 charging again once the limit is lifted", func() (bool, string) {
				a, b := limits()
				return a > 5, fmt.Sprintf("cp1 %.1f A, cp2 %.1f A", a, b)
			})
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, v := range c.violations {
				t.Error(v)
			}
		})
	}
}
