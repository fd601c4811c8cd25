package sim

import (
	"math"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

func TestCarFollowsOffer(t *testing.T) {
	car := Car{BatteryKWh: 50, MaxCurrent: 16, Phases: 3, RampDelay: Duration(3 * time.Second)}
	type step struct {
		at        time.Duration // since t0
		offer     site.Amps
		wantDraw  site.Amps
		wantState ChargingState
	}
	tests := []struct {
		desc  string
		soc   float64
		car   Car
		steps []step
	}{
		{desc: "ramp delay before drawing what a new limit allows", soc: 0.2, car: car, steps: []step{
			{0, 16, 0, StateCharging},
			{2 * time.Second, 16, 0, StateCharging},
			{3 * time.Second, 16, 16, StateCharging},
		}},
		{desc: "a decrease takes effect at once", soc: 0.2, car: car, steps: []step{
			{0, 16, 0, StateCharging},
			{3 * time.Second, 16, 16, StateCharging},
			{4 * time.Second, 8, 8, StateCharging},
		}},
		{desc: "a raise waits the ramp delay again", soc: 0.2, car: car, steps: []step{
			{0, 8, 0, StateCharging},
			{3 * time.Second, 8, 8, StateCharging},
			{4 * time.Second, 16, 8, StateCharging},
			{6 * time.Second, 16, 8, StateCharging},
			{7 * time.Second, 16, 16, StateCharging},
		}},
		{desc: "on-board charger limit caps the draw", soc: 0.2, car: car, steps: []step{
			{0, 32, 0, StateCharging},
			{3 * time.Second, 32, 16, StateCharging},
		}},
		{desc: "pauses below 6 A (SuspendedEVSE) and resumes after the ramp delay", soc: 0.2, car: car, steps: []step{
			{0, 16, 0, StateCharging},
			{3 * time.Second, 16, 16, StateCharging},
			{4 * time.Second, 5, 0, StateSuspendedEVSE},
			{5 * time.Second, 0, 0, StateSuspendedEVSE},
			{6 * time.Second, 10, 0, StateCharging},
			{9 * time.Second, 10, 10, StateCharging},
		}},
		{desc: "taper near full: at 90 % with taper from 80 % half the current", soc: 0.9, car: car, steps: []step{
			{0, 32, 0, StateCharging},
			{3 * time.Second, 32, 8, StateCharging},
		}},
		{desc: "full car stops (SuspendedEV)", soc: 1, car: car, steps: []step{
			{0, 32, 0, StateSuspendedEV},
			{5 * time.Second, 32, 0, StateSuspendedEV},
		}},
		{desc: "zero ramp delay follows at once", soc: 0.5, car: Car{MaxCurrent: 32, RampDelay: Duration(time.Nanosecond)}, steps: []step{
			{0, 20, 0, StateCharging},
			{time.Second, 20, 20, StateCharging},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := NewCarState(tc.car, tc.soc)
			for i, st := range tc.steps {
				s = s.Step(StepInput{Now: t0.Add(st.at), Dt: 0, Offer: st.offer, Phases: 3, Voltage: 230})
				if math.Abs(float64(s.Draw-st.wantDraw)) > 1e-9 {
					t.Errorf("step %d (%v, offer %v A): draw %v A, want %v A", i, st.at, st.offer, s.Draw, st.wantDraw)
				}
				if got := s.ChargingState(st.offer); got != st.wantState {
					t.Errorf("step %d: state %v, want %v", i, got, st.wantState)
				}
			}
		})
	}
}

func TestCarEnergy(t *testing.T) {
	tests := []struct {
		desc       string
		car        Car
		soc        float64
		dt         time.Duration
		wantEnergy site.WattHours
		wantSoC    float64
	}{
		{"16 A on three phases for an hour is 11.04 kWh", Car{BatteryKWh: 100, MaxCurrent: 16, Phases: 3, RampDelay: Duration(time.Nanosecond)}, 0.1, time.Hour, 11040, 0.1 + 0.1104},
		{"one phase is a third", Car{BatteryKWh: 100, MaxCurrent: 16, Phases: 1, RampDelay: Duration(time.Nanosecond)}, 0.1, time.Hour, 3680, 0.1 + 0.0368},
		{"the battery does not overfill", Car{BatteryKWh: 10, MaxCurrent: 16, Phases: 3, RampDelay: Duration(time.Nanosecond), TaperFrom: 0.99}, 0.5, time.Hour, 5000, 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := NewCarState(tc.car, tc.soc)
			s = s.Step(StepInput{Now: t0, Offer: 16, Phases: 3, Voltage: 230})
			s = s.Step(StepInput{Now: t0.Add(time.Second), Offer: 16, Phases: 3, Voltage: 230})
			s = s.Step(StepInput{Now: t0.Add(2 * time.Second), Dt: tc.dt, Offer: 16, Phases: 3, Voltage: 230})
			if math.Abs(float64(s.Energy-tc.wantEnergy)) > 0.01 {
				t.Errorf("energy %v Wh, want %v Wh", s.Energy, tc.wantEnergy)
			}
			if math.Abs(s.SoC-tc.wantSoC) > 1e-6 {
				t.Errorf("SoC %v, want %v", s.SoC, tc.wantSoC)
			}
		})
	}
}

func TestGridDraw(t *testing.T) {
	rot := func(s string) site.PhaseRotation {
		r, err := site.ParsePhaseRotation(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		desc   string
		rot    site.PhaseRotation
		phases int
		want   site.PhaseCurrents
	}{
		{"one phase, standard rotation: grid L1", site.PhaseRotation{}, 1, site.PhaseCurrents{16, 0, 0}},
		{"one phase on a charger wired STR: grid L2", rot("STR"), 1, site.PhaseCurrents{0, 16, 0}},
		{"one phase on a charger wired TRS: grid L3", rot("TRS"), 1, site.PhaseCurrents{0, 0, 16}},
		{"three phases land on all three whatever the rotation", rot("TSR"), 3, site.PhaseCurrents{16, 16, 16}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := GridDraw(tc.rot, tc.phases, 16); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
