package ocppadapter

import (
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// sampleAcc gathers the sampled values of one meter value into a
// site.MeterSample. Measurands other than current, active power, the
// energy import register and SoC are ignored.
type sampleAcc struct {
	cur         [3]float64
	curSet      [3]bool
	curTotal    float64
	curTotalSet bool
	power       float64
	powerSet    bool
	powerPh     float64
	powerPhSet  bool
	energy      float64
	energySet   bool
	soc         float64
	socSet      bool
}

func phaseIndex(p string) int {
	switch p {
	case "L1", "L1-N":
		return 0
	case "L2", "L2-N":
		return 1
	case "L3", "L3-N":
		return 2
	}
	return -1
}

// unitScale turns a value in unit into the base unit (Wh, W, A, %).
func unitScale(unit string) float64 {
	switch unit {
	case "kWh", "kW":
		return 1000
	}
	return 1
}

// add records one value; measurand "" is the energy import register.
func (a *sampleAcc) add(measurand, phase, unit string, v float64) {
	v *= unitScale(unit)
	switch measurand {
	case "Current.Import":
		if i := phaseIndex(phase); i >= 0 {
			a.cur[i], a.curSet[i] = v, true
		} else if phase == "" {
			a.curTotal, a.curTotalSet = v, true
		}
	case "Power.Active.Import":
		if phase == "" {
			a.power, a.powerSet = v, true
		} else if phaseIndex(phase) >= 0 {
			a.powerPh += v
			a.powerPhSet = true
		}
	case "", "Energy.Active.Import.Register":
		if phase == "" {
			a.energy, a.energySet = v, true
		}
	case "SoC":
		a.soc, a.socSet = v, true
	}
}

// sample returns what was gathered; ok is false if nothing was. A current
// without a phase, given alone, is taken for all three phases: for a
// one-phase car that overstates the load, which is the safe side.
func (a *sampleAcc) sample(t time.Time) (site.MeterSample, bool) {
	s := site.MeterSample{Time: t}
	ok := false
	if a.curSet[0] || a.curSet[1] || a.curSet[2] {
		c := [3]site.Amps{site.Amps(a.cur[0]), site.Amps(a.cur[1]), site.Amps(a.cur[2])}
		s.Current, ok = &c, true
	} else if a.curTotalSet {
		c := [3]site.Amps{site.Amps(a.curTotal), site.Amps(a.curTotal), site.Amps(a.curTotal)}
		s.Current, ok = &c, true
	}
	if a.powerSet || a.powerPhSet {
		p := site.Watts(a.powerPh)
		if a.powerSet {
			p = site.Watts(a.power)
		}
		s.Power, ok = &p, true
	}
	if a.energySet {
		e := site.WattHours(a.energy)
		s.Energy, ok = &e, true
	}
	if a.socSet {
		v := a.soc
		s.SoC, ok = &v, true
	}
	return s, ok
}
