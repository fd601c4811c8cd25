package scheduler

// repair checks every constraint exactly against the rounded limits and,
// where rounding or float noise took a total over its room, lowers the
// cars loading it by a step at a time (never below their minimum, which
// admission placed with margin) until it fits. Lowering only ever reduces
// loads; for imbalance it can only lower the lowest phase down to what the
// imbalance caps assumed (the minimums), so no other constraint breaks.
// It returns the per-constraint totals of the repaired limits.
func (f *filler) repair(step float64) []float64 {
	t := f.t
	tot := make([]float64, len(t.cap))
	for i, c := range f.cars {
		addLoad(t, tot, c.node, c.mode.grid, f.x[i]-c.off)
	}
	for ci := range tot {
		c := int32(ci)
		if !limited(t.cap[c]) || tot[c] <= t.cap[c]+noise {
			continue
		}
		n, k := c/consCount, c%consCount
		first, last := f.start[f.pre[n]], f.start[f.pre[n]+f.size[n]]
		for i := last - 1; i >= first && tot[c] > t.cap[c]+noise; i-- {
			car := f.cars[i]
			if !loads(car.mode.grid, k) || f.x[i] <= car.lo {
				continue
			}
			d := min(step, f.x[i]-car.lo)
			f.x[i] -= d
			addLoad(t, tot, car.node, car.mode.grid, -d)
		}
	}
	return tot
}
