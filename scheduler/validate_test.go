package scheduler_test

import (
	"errors"
	"math"
	"testing"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

func TestValidate(t *testing.T) {
	valid := func() scheduler.Input {
		return scheduler.Input{
			Now: schedtest.Now(), Config: config(), NominalVoltage: 230,
			Nodes: []scheduler.Node{grid(32), charger("cp", 0)},
			EVSEs: []scheduler.EVSE{car("a", 1), car("b", 1)},
		}
	}
	nan := scheduler.Amps(math.NaN())
	rows := []struct {
		desc   string
		change func(*scheduler.Input)
		fields []string // every field named, in order
	}{
		{"valid input", func(*scheduler.Input) {}, nil},
		{"no nodes", func(in *scheduler.Input) { in.Nodes, in.EVSEs = nil, nil }, []string{"nodes"}},
		{"root with a parent", func(in *scheduler.Input) { in.Nodes[0].Parent = 0 }, []string{"nodes[0].parent"}},
		{"parent after child", func(in *scheduler.Input) { in.Nodes[1].Parent = 1 }, []string{"nodes[1].parent"}},
		{"duplicate node id", func(in *scheduler.Input) { in.Nodes[1].ID = "grid" }, []string{"nodes[1].id"}},
		{"empty node id", func(in *scheduler.Input) { in.Nodes[1].ID = "" }, []string{"nodes[1].id"}},
		{"negative limit", func(in *scheduler.Input) { in.Nodes[0].Limit[1] = -1 }, []string{"nodes[0].limit[L2]"}},
		{"NaN limit", func(in *scheduler.Input) { in.Nodes[0].Limit[2] = nan }, []string{"nodes[0].limit[L3]"}},
		{"infinite other load", func(in *scheduler.Input) { in.Nodes[0].OtherLoad[0] = scheduler.Unlimited() }, []string{"nodes[0].other_load[L1]"}},
		{"power limit without voltage", func(in *scheduler.Input) { in.Nodes[0].PowerLimit, in.NominalVoltage = 1000, 0 }, []string{"nominal_voltage"}},
		{"negative imbalance", func(in *scheduler.Input) { in.Nodes[0].MaxImbalance = -1 }, []string{"nodes[0].max_imbalance"}},
		{"external on a missing node", func(in *scheduler.Input) {
			in.External = []scheduler.ExternalLimit{{Node: 5, Limit: scheduler.Uniform(1)}}
		}, []string{"external[0].node"}},
		{"duplicate evse id", func(in *scheduler.Input) { in.EVSEs[1].ID = "a" }, []string{"evses[1].id"}},
		{"evse on a missing node", func(in *scheduler.Input) { in.EVSEs[0].Node = 7 }, []string{"evses[0].node"}},
		{"unspecified state", func(in *scheduler.Input) { in.EVSEs[0].State = 0 }, []string{"evses[0].state"}},
		{"zero maximum", func(in *scheduler.Input) { in.EVSEs[0].MaxCurrent = 0 }, []string{"evses[0].max_current"}},
		{"bad rotation", func(in *scheduler.Input) { in.EVSEs[0].Rotation = scheduler.Rotation{1, 1, 2} }, []string{"evses[0].rotation"}},
		{"car phases outside wiring", func(in *scheduler.Input) {
			in.EVSEs[0].Wiring, in.EVSEs[0].CarPhases = scheduler.OnlyL1, scheduler.OnlyL2
		}, []string{"evses[0].car_phases"}},
		{"negative priority", func(in *scheduler.Input) { in.EVSEs[0].Priority = -1 }, []string{"evses[0].priority"}},
		{"NaN drawn", func(in *scheduler.Input) { in.EVSEs[1].Drawn[0] = nan }, []string{"evses[1].drawn[L1]"}},
		{"config step zero", func(in *scheduler.Input) { in.Config.Step = 0 }, []string{"config.step"}},
		{"config negative dwell", func(in *scheduler.Input) { in.Config.MinDwell = -1 }, []string{"config.min_dwell"}},
		{"several bad fields", func(in *scheduler.Input) {
			in.EVSEs[0].MaxCurrent, in.EVSEs[1].PrevLimit = -1, nan
		}, []string{"evses[0].max_current", "evses[1].prev_limit"}},
	}
	for _, r := range rows {
		t.Run(r.desc, func(t *testing.T) {
			in := valid()
			r.change(&in)
			err := in.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var fe *scheduler.FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if len(got) != len(r.fields) {
				t.Fatalf("fields %q, want %q (%v)", got, r.fields, err)
			}
			for i := range got {
				if got[i] != r.fields[i] {
					t.Fatalf("fields %q, want %q", got, r.fields)
				}
			}
			if err != nil && !errors.Is(err, scheduler.ErrInvalidInput) {
				t.Fatalf("%v does not match ErrInvalidInput", err)
			}
			if _, aerr := scheduler.Allocate(in); (aerr == nil) != (err == nil) {
				t.Fatalf("Allocate error %v, Validate %v", aerr, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
