package schedtest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

// The checkers must catch what they are for: each row breaks one rule in
// an otherwise valid allocation.
func TestCheckersCatchBreaches(t *testing.T) {
	cfg := scheduler.DefaultConfig()
	cfg.SafetyMargin = 0
	base := func() (scheduler.Input, scheduler.Allocation) {
		in := scheduler.Input{
			Now: schedtest.Now(), Config: &cfg, NominalVoltage: 230,
			Nodes: []scheduler.Node{{ID: "grid", Parent: -1, Limit: scheduler.Uniform(32), MaxImbalance: 10}},
			EVSEs: []scheduler.EVSE{
				{ID: "a", State: scheduler.StateCharging, MaxCurrent: 32},
				{ID: "o", State: scheduler.StateOffline, MaxCurrent: 16, HasFallback: true, Fallback: 6},
			},
		}
		out := scheduler.Allocation{EVSEs: []scheduler.Result{
			{ID: "a", Limit: 20, Phases: scheduler.AllPhases, Load: scheduler.Uniform(20)},
			{ID: "o", Limit: 6, Phases: scheduler.AllPhases, Load: scheduler.Uniform(6)},
		}}
		return in, out
	}
	rows := []struct {
		desc   string
		breach func(*scheduler.Input, *scheduler.Allocation)
		want   string // in the error; "" means no error
	}{
		{"valid allocation passes", func(*scheduler.Input, *scheduler.Allocation) {}, ""},
		{"phase limit exceeded", func(_ *scheduler.Input, out *scheduler.Allocation) {
			out.EVSEs[0].Limit, out.EVSEs[0].Load = 27, scheduler.Uniform(27)
		}, "node grid L1"},
		{"power limit exceeded", func(in *scheduler.Input, _ *scheduler.Allocation) {
			in.Nodes[0].PowerLimit = 230 * 60
		}, "power"},
		{"imbalance exceeded", func(in *scheduler.Input, out *scheduler.Allocation) {
			out.EVSEs[0].Phases, out.EVSEs[0].Load = scheduler.OnlyL1, scheduler.PhaseCurrents{20, 0, 0}
		}, "imbalance"},
		{"offline EVSE counted at zero", func(_ *scheduler.Input, out *scheduler.Allocation) {
			out.EVSEs[1].Load = scheduler.PhaseCurrents{}
		}, "counted at"},
		{"infeasible node not reported", func(in *scheduler.Input, out *scheduler.Allocation) {
			in.Nodes[0].OtherLoad = scheduler.Uniform(40)
			out.EVSEs[0] = scheduler.Result{ID: "a"}
		}, "not reported infeasible"},
		{"floor of an EVSE without a car not counted", func(in *scheduler.Input, out *scheduler.Allocation) {
			in.EVSEs = append(in.EVSEs, scheduler.EVSE{ID: "e", State: scheduler.StateNoCar, MaxCurrent: 32, Floor: 10})
			out.EVSEs = append(out.EVSEs, scheduler.Result{ID: "e"})
		}, "counted at"},
		{"floors over the limit", func(in *scheduler.Input, out *scheduler.Allocation) {
			in.EVSEs = append(in.EVSEs, scheduler.EVSE{ID: "e", State: scheduler.StateNoCar, MaxCurrent: 32, Floor: 10})
			out.EVSEs = append(out.EVSEs, scheduler.Result{ID: "e", Load: scheduler.Uniform(10)})
		}, "node grid L1"},
		{"one-phase car's floor on its other wired phases not counted", func(in *scheduler.Input, out *scheduler.Allocation) {
			in.EVSEs[0].Floor, in.EVSEs[0].CarPhases = 8, scheduler.OnlyL1
			out.EVSEs[0].Phases, out.EVSEs[0].Load = scheduler.OnlyL1, scheduler.PhaseCurrents{20, 0, 0}
		}, "counted at"},
		{"limit below its floor", func(in *scheduler.Input, out *scheduler.Allocation) {
			in.EVSEs[0].Floor = 22
			out.EVSEs[0].Load = scheduler.Uniform(22)
		}, "below min(floor, max)"},
		{"limit below the minimum", func(_ *scheduler.Input, out *scheduler.Allocation) {
			out.EVSEs[0].Limit, out.EVSEs[0].Load = 5, scheduler.Uniform(5)
		}, "outside"},
		{"counted on fewer phases than the car draws on", func(_ *scheduler.Input, out *scheduler.Allocation) {
			out.EVSEs[0].Phases, out.EVSEs[0].Load = scheduler.OnlyL1, scheduler.PhaseCurrents{20, 0, 0}
		}, "may draw on"},
	}
	for _, r := range rows {
		t.Run(r.desc, func(t *testing.T) {
			in, out := base()
			r.breach(&in, &out)
			err := errors.Join(schedtest.CheckLimits(in, out), schedtest.CheckBounds(in, out))
			switch {
			case r.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case r.want != "" && (err == nil || !strings.Contains(err.Error(), r.want)):
				t.Fatalf("error %v, want one containing %q", err, r.want)
			}
		})
	}
}
