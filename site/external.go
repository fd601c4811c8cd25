package site

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// This file holds limits set on a charger by someone else as schedules
// that change over time: what a CSMS's charging profiles say, read by the
// OCPP adapter in local controller (proxy) mode. Unlike
// [ExternalLimitReported] (one constant limit, where 0 means "no limit in
// that unit"), a limit of 0 in an [ExternalSchedule] is a limit of 0: the
// EVSE must not draw (pause), and "no limit any more" is an
// [ExternalSchedulesReported] without schedules.

// Recurrency says whether an [ExternalSchedule] repeats.
type Recurrency int

// Recurrencies, as in OCPP (chargingProfileKind Recurring with
// recurrencyKind Daily or Weekly).
const (
	RecurrencyNone Recurrency = iota
	RecurrencyDaily
	RecurrencyWeekly
)

// cycle is the length of one recurrence.
func (r Recurrency) cycle() time.Duration {
	switch r {
	case RecurrencyDaily:
		return 24 * time.Hour
	case RecurrencyWeekly:
		return 7 * 24 * time.Hour
	}
	return 0
}

// ExternalSchedule is one limit set by someone else, as a schedule.
type ExternalSchedule struct {
	// Purpose and StackLevel of the profile it came from (for display and
	// logs; every schedule constrains whatever its purpose).
	Purpose    ProfilePurpose
	StackLevel int
	// ProfileID is the id of the profile it came from (0: none).
	ProfileID int
	// TransactionID is the transaction a Tx profile belongs to ("" for
	// others).
	TransactionID string
	// Unit of the periods' limits: A per phase or W in total.
	Unit RateUnit
	// Start is the absolute start of the schedule (of its first cycle when
	// it recurs). Zero means the start is not known (a relative schedule
	// starts with each transaction): then the lowest limit of all periods
	// is in force all the time the schedule is valid.
	Start time.Time
	// Duration of the schedule (of each cycle when it recurs); 0 means
	// open-ended (until the next cycle when it recurs).
	Duration time.Duration
	// Periods in order of Offset; no limit is in force before the first
	// one's Offset.
	Periods []Period
	// ValidFrom and ValidTo bound when the schedule applies; zero means
	// unbounded.
	ValidFrom, ValidTo time.Time
	// Recurrency repeats the schedule from Start every day or week.
	Recurrency Recurrency
}

// Validate checks the schedule's fields.
func (s ExternalSchedule) Validate() error {
	v := &ValidationError{}
	if s.Unit != UnitAmps && s.Unit != UnitWatts {
		v.Add("unit", "must be A or W")
	}
	if len(s.Periods) == 0 {
		v.Add("periods", "must not be empty")
	}
	for i, p := range s.Periods {
		if math.IsNaN(p.Limit) || math.IsInf(p.Limit, 0) || p.Limit < 0 {
			v.Add(fmt.Sprintf("periods[%d].limit", i), "must be finite and not negative, got %g", p.Limit)
		}
		if p.Offset < 0 || (i > 0 && p.Offset <= s.Periods[i-1].Offset) {
			v.Add(fmt.Sprintf("periods[%d].offset", i), "must not be negative and must grow, got %s", p.Offset)
		}
	}
	if s.Duration < 0 {
		v.Add("duration", "must not be negative")
	}
	if !s.ValidFrom.IsZero() && !s.ValidTo.IsZero() && !s.ValidTo.After(s.ValidFrom) {
		v.Add("valid_to", "must be after valid_from")
	}
	switch s.Recurrency {
	case RecurrencyNone:
	case RecurrencyDaily, RecurrencyWeekly:
		if s.Start.IsZero() {
			v.Add("start", "required when the schedule recurs")
		}
		if s.Duration > s.Recurrency.cycle() {
			v.Add("duration", "must not be longer than one recurrence")
		}
	default:
		v.Add("recurrency", "unknown")
	}
	if len(v.Violations) > 0 {
		return v
	}
	return nil
}

// LimitAt returns the limit in force at t (in Unit) and whether one is,
// and when that may next change (the next period, the end of the
// schedule or of its validity, the next recurrence; zero: never).
func (s ExternalSchedule) LimitAt(t time.Time) (limit float64, ok bool, next time.Time) {
	soonest := func(a, b time.Time) time.Time {
		if a.IsZero() || (!b.IsZero() && b.Before(a)) {
			return b
		}
		return a
	}
	if len(s.Periods) == 0 {
		return 0, false, time.Time{}
	}
	if !s.ValidTo.IsZero() && !t.Before(s.ValidTo) {
		return 0, false, time.Time{}
	}
	if !s.ValidFrom.IsZero() && t.Before(s.ValidFrom) {
		return 0, false, s.ValidFrom
	}
	if s.Start.IsZero() {
		// Start unknown: the lowest limit of the schedule, while valid.
		low := s.Periods[0].Limit
		for _, p := range s.Periods[1:] {
			low = min(low, p.Limit)
		}
		return low, true, s.ValidTo
	}
	base := s.Start
	var cycleEnd time.Time
	if c := s.Recurrency.cycle(); c > 0 {
		k := t.Sub(s.Start) / c
		if t.Before(s.Start) && t.Sub(s.Start)%c != 0 {
			k-- // floor for times before the first cycle
		}
		base = s.Start.Add(k * c)
		cycleEnd = base.Add(c)
	} else if t.Before(s.Start) {
		return 0, false, soonest(s.Start, s.ValidTo)
	}
	off := t.Sub(base)
	end := time.Time{}
	if s.Duration > 0 {
		end = base.Add(s.Duration)
	}
	if !end.IsZero() && !t.Before(end) {
		return 0, false, soonest(cycleEnd, s.ValidTo)
	}
	stop := soonest(soonest(end, cycleEnd), s.ValidTo)
	i := -1
	for j, p := range s.Periods {
		if p.Offset <= off {
			i = j
		}
	}
	if i < 0 {
		return 0, false, soonest(base.Add(s.Periods[0].Offset), stop)
	}
	next = stop
	if i+1 < len(s.Periods) {
		next = soonest(base.Add(s.Periods[i+1].Offset), stop)
	}
	return s.Periods[i].Limit, true, next
}

// ExternalSchedulesReported: every limit one source (Source, e.g. "CSMS")
// has set on an EVSE (0: the whole charger), as schedules. It replaces
// what the source reported for the EVSE before; without schedules, the
// source has no limit there any more (cleared). A schedule's limit of 0 A
// or 0 W means the EVSE must not draw.
type ExternalSchedulesReported struct {
	EventHeader
	EVSE      int
	Source    string
	Schedules []ExternalSchedule
}

// Cleared reports whether the source has no limit left on the EVSE.
func (e ExternalSchedulesReported) Cleared() bool { return len(e.Schedules) == 0 }

// Validate checks the event's fields and schedules.
func (e ExternalSchedulesReported) Validate() error {
	var errs []error
	if e.EVSE < 0 {
		errs = append(errs, errors.New("site: external schedules: EVSE must not be negative"))
	}
	for i, s := range e.Schedules {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("site: external schedules[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// ExternalLimitsAt returns the lowest limits in force at t of schedules:
// in A per phase and in W (hasA/hasW false where none is in force), and
// when that may next change (zero: never).
func ExternalLimitsAt(schedules []ExternalSchedule, t time.Time) (a Amps, hasA bool, w Watts, hasW bool, next time.Time) {
	for _, s := range schedules {
		l, ok, n := s.LimitAt(t)
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
		if !ok {
			continue
		}
		if s.Unit == UnitWatts {
			if !hasW || Watts(l) < w {
				w, hasW = Watts(l), true
			}
		} else if !hasA || Amps(l) < a {
			a, hasA = Amps(l), true
		}
	}
	return a, hasA, w, hasW, next
}
