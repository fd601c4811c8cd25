package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Purpose is a charging profile's purpose.
type Purpose int

// Purposes, as in OCPP (1.6 ChargePointMaxProfile = 2.0.1
// ChargingStationMaxProfile).
const (
	PurposeStationMax Purpose = iota + 1
	PurposeTxDefault
	PurposeTx
)

func (p Purpose) String() string {
	switch p {
	case PurposeStationMax:
		return "ChargingStationMaxProfile"
	case PurposeTxDefault:
		return "TxDefaultProfile"
	case PurposeTx:
		return "TxProfile"
	}
	return fmt.Sprintf("Purpose(%d)", int(p))
}

// Kind says what a schedule's periods are relative to.
type Kind int

// Profile kinds.
const (
	KindAbsolute Kind = iota + 1
	KindRecurring
	KindRelative
)

// Recurrency is the repeat period of a Recurring profile.
type Recurrency int

// Recurrencies.
const (
	RecurNone Recurrency = iota
	RecurDaily
	RecurWeekly
)

func (r Recurrency) period() time.Duration {
	if r == RecurWeekly {
		return 7 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// Period is one step of a schedule: Limit from Start on.
type Period struct {
	Start time.Duration
	// Limit in the schedule's Unit: A per phase, or W in total.
	Limit float64
	// Phases the car may use; 0: as many as it can.
	Phases int
}

// Schedule is a profile's charging schedule.
type Schedule struct {
	// Start is the startSchedule (zero for Relative profiles).
	Start time.Time
	// Duration of the schedule; 0 means the last period lasts for ever.
	Duration time.Duration
	Unit     site.RateUnit
	MinRate  float64
	Periods  []Period
}

// Profile is a charging profile in version-neutral form.
type Profile struct {
	ID         int
	StackLevel int
	Purpose    Purpose
	Kind       Kind
	Recurrency Recurrency
	// ValidFrom and ValidTo bound the profile; zero means unbounded.
	ValidFrom, ValidTo time.Time
	// TransactionID binds a TxProfile to a transaction.
	TransactionID string
	Schedule      Schedule
}

// InstalledProfile is a profile installed on an EVSE (0: the station).
type InstalledProfile struct {
	EVSE    int
	Profile Profile
}

// periodAt returns the schedule period in force at t, if the profile
// applies at t. txStart is the start of the transaction on the EVSE (zero
// without one): Relative schedules run from it, or from t itself when there
// is no transaction (their first period applies).
func (p *Profile) periodAt(t, txStart time.Time) (Period, bool) {
	if !p.ValidFrom.IsZero() && t.Before(p.ValidFrom) {
		return Period{}, false
	}
	if !p.ValidTo.IsZero() && !t.Before(p.ValidTo) {
		return Period{}, false
	}
	var offset time.Duration
	switch p.Kind {
	case KindRelative:
		if !txStart.IsZero() {
			offset = t.Sub(txStart)
		}
	case KindRecurring:
		offset = t.Sub(p.Schedule.Start)
		if offset >= 0 {
			offset %= p.Recurrency.period()
		}
	default:
		offset = t.Sub(p.Schedule.Start)
	}
	if offset < 0 {
		return Period{}, false
	}
	if p.Schedule.Duration > 0 && offset >= p.Schedule.Duration {
		return Period{}, false
	}
	found := -1
	for i, per := range p.Schedule.Periods {
		if per.Start <= offset {
			found = i
		} else {
			break
		}
	}
	if found < 0 {
		return Period{}, false
	}
	return p.Schedule.Periods[found], true
}

// ErrProfileRejected: the charger does not take the profile; the error text
// says why.
var ErrProfileRejected = errors.New("sim: profile rejected")

// ProfileRules is what a charger checks a new profile against.
type ProfileRules struct {
	// Version is OCPP16 or OCPP201: 1.6 replaces a profile with the same
	// stack level and purpose, 2.0.1 refuses it (K01.FR.06).
	Version       string
	EVSEs         int
	MaxStackLevel int
	MaxPeriods    int
	MaxProfiles   int
	Units         []site.RateUnit
	// TxIDs[i] is the running transaction on EVSE i+1 ("" for none).
	TxIDs []string
	// Now fills in the start of 1.6 Absolute schedules that lack one.
	Now time.Time
}

// InstallProfile checks p against the rules and returns the new set of
// installed profiles. It does not modify installed. A refusal wraps
// ErrProfileRejected.
func InstallProfile(installed []InstalledProfile, evse int, p Profile, r ProfileRules) ([]InstalledProfile, error) {
	reject := func(format string, args ...any) ([]InstalledProfile, error) {
		return nil, fmt.Errorf("%w: %s", ErrProfileRejected, fmt.Sprintf(format, args...))
	}
	v201 := r.Version == OCPP201
	if evse < 0 || evse > r.EVSEs {
		return reject("EVSE %d does not exist (K01.FR.28)", evse)
	}
	if p.StackLevel < 0 || p.StackLevel > r.MaxStackLevel {
		return reject("stack level %d above the maximum %d", p.StackLevel, r.MaxStackLevel)
	}
	s := &p.Schedule
	if len(s.Periods) == 0 || len(s.Periods) > r.MaxPeriods {
		return reject("%d schedule periods, want 1..%d", len(s.Periods), r.MaxPeriods)
	}
	if !slices.Contains(r.Units, s.Unit) {
		return reject("charging rate unit %s not supported", s.Unit)
	}
	if s.Periods[0].Start != 0 {
		return reject("first period must start at 0")
	}
	for i, per := range s.Periods {
		if i > 0 && per.Start <= s.Periods[i-1].Start {
			return reject("period start times must increase")
		}
		if per.Limit < 0 {
			return reject("negative limit")
		}
		if per.Phases < 0 || per.Phases > 3 || per.Phases == 2 {
			return reject("numberPhases must be 1 or 3")
		}
	}
	if s.Duration < 0 {
		return reject("negative duration")
	}
	if p.Kind == KindRecurring && p.Recurrency == RecurNone {
		return reject("Recurring profile without recurrencyKind")
	}
	switch p.Kind {
	case KindRelative:
		if !s.Start.IsZero() {
			if v201 {
				return reject("Relative profile with startSchedule (K01.FR.41)")
			}
			s.Start = time.Time{} // 1.6 charge points ignore it
		}
	case KindAbsolute, KindRecurring:
		if s.Start.IsZero() {
			if v201 || p.Kind == KindRecurring {
				return reject("%s profile without startSchedule (K01.FR.40)", kindName(p.Kind))
			}
			s.Start = r.Now
		}
	default:
		return reject("unknown profile kind")
	}
	if !p.ValidTo.IsZero() && !p.ValidFrom.IsZero() && !p.ValidTo.After(p.ValidFrom) {
		return reject("validTo not after validFrom")
	}
	switch p.Purpose {
	case PurposeStationMax:
		if evse != 0 {
			return reject("station max profile on EVSE %d: only on 0", evse)
		}
		if v201 && p.Kind == KindRelative {
			return reject("ChargingStationMaxProfile must not be Relative (K01.FR.38)")
		}
	case PurposeTxDefault:
	case PurposeTx:
		if evse == 0 {
			return reject("TxProfile on EVSE 0")
		}
		tx := r.TxIDs[evse-1]
		if tx == "" {
			// 1.6 §5.16: no transaction on the connector -> discard.
			return reject("TxProfile but no transaction on EVSE %d", evse)
		}
		if p.TransactionID == "" {
			if v201 {
				return reject("TxProfile without transactionId (K01.FR.03)")
			}
			p.TransactionID = tx
		} else if p.TransactionID != tx {
			return reject("TxProfile for transaction %q, running is %q", p.TransactionID, tx)
		}
	default:
		return reject("unknown purpose")
	}

	out := make([]InstalledProfile, 0, len(installed)+1)
	for _, ip := range installed {
		q := ip.Profile
		switch {
		case q.ID == p.ID:
			continue // K01.FR.05 / 1.6 §5.16: same id replaces
		case q.Purpose != p.Purpose || q.StackLevel != p.StackLevel:
		case !v201 && ip.EVSE == evse:
			continue // 1.6 §5.16: same stackLevel and purpose replaces
		case v201 && p.Purpose == PurposeTx && q.TransactionID == p.TransactionID:
			return reject("TxProfile %d has the same stack level for transaction %q (K01.FR.39)", q.ID, p.TransactionID)
		case v201 && p.Purpose != PurposeTx && ip.EVSE == evse && validityOverlaps(p, q):
			return reject("profile %d has the same stack level and purpose on EVSE %d (K01.FR.06)", q.ID, evse)
		}
		out = append(out, ip)
	}
	if len(out) >= r.MaxProfiles {
		return reject("%d profiles installed, the maximum", len(out))
	}
	return append(out, InstalledProfile{EVSE: evse, Profile: p}), nil
}

func kindName(k Kind) string {
	switch k {
	case KindAbsolute:
		return "Absolute"
	case KindRecurring:
		return "Recurring"
	case KindRelative:
		return "Relative"
	}
	return "?"
}

func validityOverlaps(a, b Profile) bool {
	// Zero bounds are open.
	if !a.ValidTo.IsZero() && !b.ValidFrom.IsZero() && !a.ValidTo.After(b.ValidFrom) {
		return false
	}
	if !b.ValidTo.IsZero() && !a.ValidFrom.IsZero() && !b.ValidTo.After(a.ValidFrom) {
		return false
	}
	return true
}

// ClearCriteria selects profiles to clear. With ID set, only that profile;
// otherwise every profile matching all the set fields.
type ClearCriteria struct {
	ID         *int
	EVSE       *int
	Purpose    Purpose // 0: any
	StackLevel *int
}

// ClearProfiles removes the matching profiles and reports how many.
func ClearProfiles(installed []InstalledProfile, c ClearCriteria) ([]InstalledProfile, int) {
	out := installed[:0:0]
	n := 0
	for _, ip := range installed {
		if clearMatches(ip, c) {
			n++
			continue
		}
		out = append(out, ip)
	}
	return out, n
}

func clearMatches(ip InstalledProfile, c ClearCriteria) bool {
	if c.ID != nil {
		return ip.Profile.ID == *c.ID
	}
	if c.EVSE != nil && ip.EVSE != *c.EVSE {
		return false
	}
	if c.Purpose != 0 && ip.Profile.Purpose != c.Purpose {
		return false
	}
	if c.StackLevel != nil && ip.Profile.StackLevel != *c.StackLevel {
		return false
	}
	return true
}

// EndTransaction drops the TxProfiles of a finished transaction (1.6 §3.13:
// a TxProfile ceases to be valid when its transaction ends).
func EndTransaction(installed []InstalledProfile, txID string) []InstalledProfile {
	out := installed[:0:0]
	for _, ip := range installed {
		if ip.Profile.Purpose == PurposeTx && ip.Profile.TransactionID == txID {
			continue
		}
		out = append(out, ip)
	}
	return out
}
