package scheduler_test

import (
	"fmt"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// A 32 A grid connection feeds a 20 A circuit with one charger of two
// EVSEs, and one EVSE directly; a single-phase car sits on a charger wired
// with rotation STR, so it loads grid L2.
func ExampleAllocate() {
	cfg := scheduler.DefaultConfig()
	in := scheduler.Input{
		Now:            time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Config:         &cfg,
		NominalVoltage: 230,
		Nodes: []scheduler.Node{
			{ID: "grid", Kind: scheduler.KindGrid, Parent: -1, Limit: scheduler.Uniform(32)},
			{ID: "C1", Kind: scheduler.KindCircuit, Parent: 0, Limit: scheduler.Uniform(20)},
			{ID: "CP1", Kind: scheduler.KindCharger, Parent: 1, Limit: scheduler.Uniform(scheduler.Unlimited())},
		},
		EVSEs: []scheduler.EVSE{
			{ID: "CP1/1", Node: 2, State: scheduler.StateCharging, MaxCurrent: 32},
			{ID: "CP1/2", Node: 2, State: scheduler.StateCharging, MaxCurrent: 32},
			{ID: "CP2/1", Node: 0, State: scheduler.StateCharging, MaxCurrent: 16,
				CarPhases: scheduler.OnlyL1, Rotation: scheduler.Rotation{scheduler.L2, scheduler.L3, scheduler.L1}},
		},
	}
	out, err := scheduler.Allocate(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out.EVSEs {
		fmt.Printf("%s: %.1f A on %v (%v)\n", r.ID, r.Limit, r.Phases, r.Reason)
	}
	// Output:
	// CP1/1: 9.7 A on L1+L2+L3 (limited by circuit C1 phase L1)
	// CP1/2: 9.7 A on L1+L2+L3 (limited by circuit C1 phase L1)
	// CP2/1: 12.0 A on L2 (limited by grid grid phase L2)
}
