package site

import "time"

// EffectiveLimit is the grid limit in force at one moment, with what set it.
type EffectiveLimit struct {
	// Limit per phase: the lowest of the connection's limit and every
	// active grid limit on that phase.
	Limit PhaseCurrents
	// PhaseSetBy[i] is the ID of the grid limit that sets Limit[i], or ""
	// when the connection's own limit is the lowest.
	PhaseSetBy [3]string
	// PowerLimit is the lowest active power limit, 0 if none.
	PowerLimit Watts
	// PowerSetBy is the ID of the grid limit that sets PowerLimit, or "" for
	// the site's own GridPowerLimit (or none).
	PowerSetBy string
	// Active lists the grid limits in force at the moment, sorted by ID.
	Active []GridLimit
}

// Effective returns the limit in force at t: per phase and for power, the
// lowest of the site's connection limit and every grid limit active at t.
// Ties go to the limit with the smaller ID, so the answer is deterministic.
// limits need not be sorted; the result's Active slice is sorted by ID.
func Effective(s Site, limits []GridLimit, t time.Time) EffectiveLimit {
	e := EffectiveLimit{Limit: s.GridLimit, PowerLimit: s.GridPowerLimit}
	for _, l := range sortedByID(limits) {
		if !l.Active(t) {
			continue
		}
		e.Active = append(e.Active, l)
		for i := range 3 {
			if l.Limit[i] > 0 && l.Limit[i] < e.Limit[i] {
				e.Limit[i] = l.Limit[i]
				e.PhaseSetBy[i] = l.ID
			}
		}
		if l.PowerLimit > 0 && (e.PowerLimit == 0 || l.PowerLimit < e.PowerLimit) {
			e.PowerLimit = l.PowerLimit
			e.PowerSetBy = l.ID
		}
	}
	return e
}

func sortedByID(limits []GridLimit) []GridLimit {
	out := make([]GridLimit, len(limits))
	copy(out, limits)
	// insertion sort: a site has a handful of limits
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
