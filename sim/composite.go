package sim

import (
	"slices"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// EVSEView is what the composite schedule needs to know of one EVSE.
type EVSEView struct {
	// ID from 1; 0 asks for the station as a whole.
	ID int
	// MaxCurrent is the hardware limit per phase (for ID 0: of the station).
	MaxCurrent site.Amps
	// Phases the EVSE is wired with (1 or 3).
	Phases int
	// ActivePhases the car uses, to turn watt limits into amperes; 0 means
	// Phases.
	ActivePhases int
	// TxID and TxStart describe the running transaction ("" for none).
	TxID    string
	TxStart time.Time
}

func (ev EVSEView) wattPhases(periodPhases int) int {
	n := ev.Phases
	if ev.ActivePhases > 0 {
		n = min(n, ev.ActivePhases)
	}
	if periodPhases > 0 {
		n = min(n, periodPhases)
	}
	return max(n, 1)
}

// LimitSource names the profile that set a limit; the zero value means the
// EVSE's hardware maximum.
type LimitSource struct {
	ProfileID  int     `json:"profile_id,omitempty"`
	Purpose    Purpose `json:"purpose,omitempty"`
	StackLevel int     `json:"stack_level,omitempty"`
	EVSE       int     `json:"evse,omitempty"`
}

// Valid reports whether a profile set the limit.
func (s LimitSource) Valid() bool { return s.Purpose != 0 }

// Limit is the composite limit of one EVSE at one moment.
type Limit struct {
	// Amps per phase the EVSE may give.
	Amps site.Amps
	// Phases the car may use (the EVSE's wiring or the period's numberPhases).
	Phases int
	// Source is the Tx/TxDefault profile in force, Station the station max
	// profile; whichever is lower decided Amps.
	Source  LimitSource
	Station LimitSource

	stationWins bool
}

// Decider is the source that set Amps: the lower of Source and Station.
func (l Limit) Decider() LimitSource {
	if l.Station.Valid() && l.stationWins {
		return l.Station
	}
	return l.Source
}

// winner finds the profile of purpose on evse that applies at t with the
// highest stack level (1.6 §3.13.2, 2.0.1 K01: "the profile with the
// highest stackLevel valid at that time prevails"); ties, which a charger
// does not accept, go to the higher id.
func winner(profiles []InstalledProfile, evse int, purpose Purpose, txID string, txStart, t time.Time) (*InstalledProfile, Period, bool) {
	var best *InstalledProfile
	var bestPer Period
	for i := range profiles {
		ip := &profiles[i]
		p := &ip.Profile
		if ip.EVSE != evse || p.Purpose != purpose {
			continue
		}
		if purpose == PurposeTx && (txID == "" || p.TransactionID != txID) {
			continue
		}
		per, ok := p.periodAt(t, txStart)
		if !ok {
			continue
		}
		if best == nil || p.StackLevel > best.Profile.StackLevel ||
			(p.StackLevel == best.Profile.StackLevel && p.ID > best.Profile.ID) {
			best, bestPer = ip, per
		}
	}
	return best, bestPer, best != nil
}

func periodAmps(per Period, unit site.RateUnit, v site.Volts, phases int) site.Amps {
	if unit == site.UnitWatts {
		return site.Amps(per.Limit / (float64(v) * float64(phases)))
	}
	return site.Amps(per.Limit)
}

func source(ip *InstalledProfile) LimitSource {
	return LimitSource{ProfileID: ip.Profile.ID, Purpose: ip.Profile.Purpose, StackLevel: ip.Profile.StackLevel, EVSE: ip.EVSE}
}

// CompositeLimit is the limit an EVSE applies at t, computed as a real
// charger does (OCPP 1.6 §3.13.2-3, 2.0.1 K01/K08):
//   - within a purpose, the applicable profile with the highest stack level
//     wins; one whose schedule has no period at t (not yet started, past
//     its duration, outside validFrom/validTo) does not apply;
//   - a TxProfile of the running transaction overrides TxDefaultProfiles;
//     a TxDefaultProfile on the EVSE overrides those on EVSE 0;
//   - the station max profile (EVSE 0) caps the result;
//   - with no profile the EVSE gives its hardware maximum, which caps
//     everything.
//
// For ev.ID 0 only the station max profile and ev.MaxCurrent apply.
func CompositeLimit(profiles []InstalledProfile, ev EVSEView, v site.Volts, t time.Time) Limit {
	l := Limit{Amps: ev.MaxCurrent, Phases: ev.Phases}
	apply := func(ip *InstalledProfile, per Period) (site.Amps, int) {
		ph := ev.wattPhases(per.Phases)
		a := periodAmps(per, ip.Profile.Schedule.Unit, v, ph)
		phases := ev.Phases
		if per.Phases > 0 {
			phases = min(phases, per.Phases)
		}
		return a, phases
	}
	if ev.ID > 0 {
		ip, per, ok := winner(profiles, ev.ID, PurposeTx, ev.TxID, ev.TxStart, t)
		if !ok {
			ip, per, ok = winner(profiles, ev.ID, PurposeTxDefault, "", ev.TxStart, t)
		}
		if !ok {
			ip, per, ok = winner(profiles, 0, PurposeTxDefault, "", ev.TxStart, t)
		}
		if ok {
			a, ph := apply(ip, per)
			l.Source = source(ip)
			l.Phases = ph
			l.Amps = min(l.Amps, a)
		}
	}
	if ip, per, ok := winner(profiles, 0, PurposeStationMax, "", time.Time{}, t); ok {
		a, ph := apply(ip, per)
		l.Station = source(ip)
		if a < l.Amps {
			l.Amps = a
			l.stationWins = true
		}
		l.Phases = min(l.Phases, ph)
	}
	l.Amps = max(l.Amps, 0)
	return l
}

// CompositePeriod is one step of a composite schedule.
type CompositePeriod struct {
	Start  time.Duration
	Amps   site.Amps
	Phases int
}

// CompositeSchedule is the composite limit of ev over [from, from+d), as
// the periods where it changes (GetCompositeSchedule, 2.0.1 K08). The
// first period starts at 0.
func CompositeSchedule(profiles []InstalledProfile, ev EVSEView, v site.Volts, from time.Time, d time.Duration) []CompositePeriod {
	end := from.Add(d)
	points := []time.Time{from}
	add := func(t time.Time) {
		if t.After(from) && t.Before(end) {
			points = append(points, t)
		}
	}
	for i := range profiles {
		p := &profiles[i].Profile
		if !p.ValidFrom.IsZero() {
			add(p.ValidFrom)
		}
		if !p.ValidTo.IsZero() {
			add(p.ValidTo)
		}
		var starts []time.Time
		switch p.Kind {
		case KindRelative:
			if !ev.TxStart.IsZero() {
				starts = []time.Time{ev.TxStart}
			}
		case KindRecurring:
			per := p.Recurrency.period()
			k := from.Sub(p.Schedule.Start) / per
			first := p.Schedule.Start.Add((k - 1) * per)
			for s := first; s.Before(end); s = s.Add(per) {
				starts = append(starts, s)
			}
		default:
			starts = []time.Time{p.Schedule.Start}
		}
		for _, s := range starts {
			for _, per := range p.Schedule.Periods {
				add(s.Add(per.Start))
			}
			if p.Schedule.Duration > 0 {
				add(s.Add(p.Schedule.Duration))
			}
		}
	}
	slices.SortFunc(points, func(a, b time.Time) int { return a.Compare(b) })
	points = slices.CompactFunc(points, func(a, b time.Time) bool { return a.Equal(b) })
	var out []CompositePeriod
	for _, t := range points {
		l := CompositeLimit(profiles, ev, v, t)
		cp := CompositePeriod{Start: t.Sub(from), Amps: l.Amps, Phases: l.Phases}
		if n := len(out); n > 0 && out[n-1].Amps == cp.Amps && out[n-1].Phases == cp.Phases {
			continue
		}
		out = append(out, cp)
	}
	return out
}

// ShareStationMax spreads a station limit over the EVSEs' own limits the
// way a charger's internal load balancing does: by water-filling, so no
// EVSE gets more than its own limit and the sum stays within station.
func ShareStationMax(limits []site.Amps, station site.Amps) []site.Amps {
	out := slices.Clone(limits)
	var sum site.Amps
	for _, a := range limits {
		sum += a
	}
	if sum <= station {
		return out
	}
	idx := make([]int, len(limits))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case limits[a] < limits[b]:
			return -1
		case limits[a] > limits[b]:
			return 1
		}
		return a - b
	})
	left := max(station, 0)
	for k, i := range idx {
		share := left / site.Amps(len(idx)-k)
		out[i] = min(limits[i], share)
		left -= out[i]
	}
	return out
}
