package sim

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// prof builds an Absolute profile starting at t0 with the given periods
// (offset in seconds, limit in A).
func prof(id, stack int, purpose Purpose, periods ...float64) Profile {
	p := Profile{ID: id, StackLevel: stack, Purpose: purpose, Kind: KindAbsolute,
		Schedule: Schedule{Start: t0, Unit: site.UnitAmps}}
	for i := 0; i+1 < len(periods); i += 2 {
		p.Schedule.Periods = append(p.Schedule.Periods, Period{Start: time.Duration(periods[i]) * time.Second, Limit: periods[i+1]})
	}
	return p
}

func on(evse int, p Profile) InstalledProfile { return InstalledProfile{EVSE: evse, Profile: p} }

func with(p Profile, f func(*Profile)) Profile { f(&p); return p }

func TestCompositeLimit(t *testing.T) {
	ev := EVSEView{ID: 1, MaxCurrent: 32, Phases: 3}
	evTx := ev
	evTx.TxID, evTx.TxStart = "7", t0
	tests := []struct {
		desc     string
		profiles []InstalledProfile
		ev       EVSEView
		at       time.Time
		want     site.Amps
		phases   int
		source   int // profile id deciding, 0 for the EVSE maximum
	}{
		{desc: "no profile: EVSE maximum (1.6 §3.13.1)", ev: ev, at: t0, want: 32, phases: 3},
		{desc: "TxDefault on EVSE 0 applies to every EVSE (1.6 §3.13.1)", ev: ev, at: t0,
			profiles: []InstalledProfile{on(0, prof(1, 0, PurposeTxDefault, 0, 16))}, want: 16, phases: 3, source: 1},
		{desc: "TxDefault on the EVSE overrides EVSE 0, whatever the stack level", ev: ev, at: t0,
			profiles: []InstalledProfile{on(0, prof(1, 5, PurposeTxDefault, 0, 16)), on(1, prof(2, 0, PurposeTxDefault, 0, 20))}, want: 20, phases: 3, source: 2},
		{desc: "highest stack level valid now wins within a purpose (K01, 1.6 §3.13.2)", ev: ev, at: t0,
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 10)), on(1, prof(2, 3, PurposeTxDefault, 0, 25)), on(1, prof(3, 1, PurposeTxDefault, 0, 6))}, want: 25, phases: 3, source: 2},
		{desc: "higher stack level not started yet: the lower applies", ev: ev, at: t0,
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 10)), on(1, with(prof(2, 3, PurposeTxDefault, 0, 25), func(p *Profile) { p.Schedule.Start = t0.Add(time.Hour) }))}, want: 10, phases: 3, source: 1},
		{desc: "higher stack level past its duration: the lower applies", ev: ev, at: t0.Add(2 * time.Hour),
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 10)), on(1, with(prof(2, 3, PurposeTxDefault, 0, 25), func(p *Profile) { p.Schedule.Duration = time.Hour }))}, want: 10, phases: 3, source: 1},
		{desc: "validTo passed: the profile no longer applies", ev: ev, at: t0.Add(time.Hour),
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 10)), on(1, with(prof(2, 3, PurposeTxDefault, 0, 25), func(p *Profile) { p.ValidTo = t0.Add(time.Hour) }))}, want: 10, phases: 3, source: 1},
		{desc: "validFrom in the future: the profile does not apply yet", ev: ev, at: t0,
			profiles: []InstalledProfile{on(1, with(prof(2, 3, PurposeTxDefault, 0, 8), func(p *Profile) { p.ValidFrom = t0.Add(time.Minute) }))}, want: 32, phases: 3},
		{desc: "later period of an absolute schedule", ev: ev, at: t0.Add(21 * time.Minute),
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 16, 600, 8, 1200, 12))}, want: 12, phases: 3, source: 1},
		{desc: "TxProfile overrides TxDefault even when higher (1.6 §3.13.3)", ev: evTx, at: t0,
			profiles: []InstalledProfile{on(1, prof(1, 9, PurposeTxDefault, 0, 10)), on(1, with(prof(2, 0, PurposeTx, 0, 20), func(p *Profile) { p.TransactionID = "7" }))}, want: 20, phases: 3, source: 2},
		{desc: "TxProfile of another transaction does not apply", ev: evTx, at: t0,
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 10)), on(1, with(prof(2, 0, PurposeTx, 0, 20), func(p *Profile) { p.TransactionID = "6" }))}, want: 10, phases: 3, source: 1},
		{desc: "station max caps the Tx profile", ev: evTx, at: t0,
			profiles: []InstalledProfile{on(0, prof(9, 0, PurposeStationMax, 0, 13)), on(1, with(prof(2, 0, PurposeTx, 0, 20), func(p *Profile) { p.TransactionID = "7" }))}, want: 13, phases: 3, source: 9},
		{desc: "station max above the Tx limit leaves it", ev: evTx, at: t0,
			profiles: []InstalledProfile{on(0, prof(9, 0, PurposeStationMax, 0, 30)), on(1, with(prof(2, 0, PurposeTx, 0, 20), func(p *Profile) { p.TransactionID = "7" }))}, want: 20, phases: 3, source: 2},
		{desc: "EVSE maximum caps a profile above it", ev: ev, at: t0,
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 63))}, want: 32, phases: 3, source: 1},
		{desc: "relative schedule runs from the transaction start", ev: evTx, at: t0.Add(11 * time.Minute),
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 16, 600, 6), func(p *Profile) { p.Kind = KindRelative; p.Schedule.Start = time.Time{} }))}, want: 6, phases: 3, source: 1},
		{desc: "relative schedule without a transaction: its first period", ev: ev, at: t0.Add(11 * time.Minute),
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 16, 600, 6), func(p *Profile) { p.Kind = KindRelative; p.Schedule.Start = time.Time{} }))}, want: 16, phases: 3, source: 1},
		{desc: "recurring daily: the period of the time of day", ev: ev, at: t0.Add(3*24*time.Hour + 2*time.Hour),
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 16, 3600, 7), func(p *Profile) { p.Kind = KindRecurring; p.Recurrency = RecurDaily }))}, want: 7, phases: 3, source: 1},
		{desc: "recurring before its start does not apply", ev: ev, at: t0.Add(-time.Hour),
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 16), func(p *Profile) { p.Kind = KindRecurring; p.Recurrency = RecurDaily }))}, want: 32, phases: 3},
		{desc: "watts on three phases: 11040 W / (230 V * 3) = 16 A", ev: ev, at: t0,
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 11040), func(p *Profile) { p.Schedule.Unit = site.UnitWatts }))}, want: 16, phases: 3, source: 1},
		{desc: "watts with a one-phase car: 3680 W / 230 V = 16 A", ev: EVSEView{ID: 1, MaxCurrent: 32, Phases: 3, ActivePhases: 1}, at: t0,
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 3680), func(p *Profile) { p.Schedule.Unit = site.UnitWatts }))}, want: 16, phases: 3, source: 1},
		{desc: "numberPhases 1 limits the car to one phase", ev: ev, at: t0,
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 16), func(p *Profile) { p.Schedule.Periods[0].Phases = 1 }))}, want: 16, phases: 1, source: 1},
		{desc: "profiles on another EVSE do not apply", ev: ev, at: t0,
			profiles: []InstalledProfile{on(2, prof(1, 0, PurposeTxDefault, 0, 6))}, want: 32, phases: 3},
		{desc: "station view: only the station max applies", ev: EVSEView{ID: 0, MaxCurrent: 64, Phases: 3}, at: t0,
			profiles: []InstalledProfile{on(0, prof(1, 0, PurposeTxDefault, 0, 6)), on(0, prof(2, 0, PurposeStationMax, 0, 40))}, want: 40, phases: 3, source: 2},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := CompositeLimit(tc.profiles, tc.ev, 230, tc.at)
			if diff := float64(got.Amps - tc.want); diff > 1e-9 || diff < -1e-9 {
				t.Errorf("limit = %v A, want %v A", got.Amps, tc.want)
			}
			if got.Phases != tc.phases {
				t.Errorf("phases = %d, want %d", got.Phases, tc.phases)
			}
			if id := got.Decider().ProfileID; id != tc.source {
				t.Errorf("decided by profile %d, want %d", id, tc.source)
			}
		})
	}
}

func TestCompositeSchedule(t *testing.T) {
	ev := EVSEView{ID: 1, MaxCurrent: 32, Phases: 3}
	tests := []struct {
		desc     string
		profiles []InstalledProfile
		d        time.Duration
		want     []CompositePeriod
	}{
		{desc: "no profile: one period at the EVSE maximum (K08)", d: time.Hour,
			want: []CompositePeriod{{0, 32, 3}}},
		{desc: "station max starting mid-way cuts into a TxDefault schedule", d: time.Hour,
			profiles: []InstalledProfile{
				on(1, prof(1, 0, PurposeTxDefault, 0, 16, 600, 8)),
				on(0, with(prof(2, 0, PurposeStationMax, 0, 10), func(p *Profile) { p.Schedule.Start = t0.Add(300 * time.Second) })),
			},
			want: []CompositePeriod{{0, 16, 3}, {300 * time.Second, 10, 3}, {600 * time.Second, 8, 3}}},
		{desc: "a higher stack level with a duration returns to the lower one", d: time.Hour,
			profiles: []InstalledProfile{
				on(1, prof(1, 0, PurposeTxDefault, 0, 16)),
				on(1, with(prof(2, 1, PurposeTxDefault, 0, 6), func(p *Profile) { p.Schedule.Duration = 20 * time.Minute })),
			},
			want: []CompositePeriod{{0, 6, 3}, {20 * time.Minute, 16, 3}}},
		{desc: "equal limits merge", d: time.Hour,
			profiles: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 16, 600, 16, 1200, 10))},
			want:     []CompositePeriod{{0, 16, 3}, {1200 * time.Second, 10, 3}}},
		{desc: "recurring daily seen across midnight", d: 26 * time.Hour,
			profiles: []InstalledProfile{on(1, with(prof(1, 0, PurposeTxDefault, 0, 16, 3600, 8), func(p *Profile) { p.Kind = KindRecurring; p.Recurrency = RecurDaily }))},
			want:     []CompositePeriod{{0, 16, 3}, {time.Hour, 8, 3}, {24 * time.Hour, 16, 3}, {25 * time.Hour, 8, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := CompositeSchedule(tc.profiles, ev, 230, t0, tc.d)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestShareStationMax(t *testing.T) {
	tests := []struct {
		desc    string
		limits  []site.Amps
		station site.Amps
		want    []site.Amps
	}{
		{"under the station max: unchanged", []site.Amps{10, 12}, 32, []site.Amps{10, 12}},
		{"equal shares", []site.Amps{32, 32}, 32, []site.Amps{16, 16}},
		{"a small EVSE keeps its limit, the rest is shared", []site.Amps{6, 32, 32}, 30, []site.Amps{6, 12, 12}},
		{"idle EVSEs (0) take nothing", []site.Amps{0, 32}, 20, []site.Amps{0, 20}},
		{"station max 0 stops all", []site.Amps{16, 16}, 0, []site.Amps{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := ShareStationMax(tc.limits, tc.station)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			var sum site.Amps
			for _, a := range got {
				sum += a
			}
			if sum > max(tc.station, 0)+1e-9 && sum > 0 {
				var in site.Amps
				for _, a := range tc.limits {
					in += a
				}
				if in > tc.station {
					t.Errorf("sum %v above station %v", sum, tc.station)
				}
			}
		})
	}
}

func TestInstallProfile(t *testing.T) {
	rules := func(version string) ProfileRules {
		return ProfileRules{Version: version, EVSEs: 2, MaxStackLevel: 4, MaxPeriods: 3, MaxProfiles: 3,
			Units: []site.RateUnit{site.UnitAmps}, TxIDs: []string{"tx1", ""}, Now: t0}
	}
	base := []InstalledProfile{on(1, prof(10, 1, PurposeTxDefault, 0, 16))}
	tests := []struct {
		desc      string
		version   string
		installed []InstalledProfile
		evse      int
		p         Profile
		wantErr   bool
		wantIDs   []int
	}{
		{desc: "accepted", version: OCPP201, installed: base, evse: 1, p: prof(11, 2, PurposeTxDefault, 0, 10), wantIDs: []int{10, 11}},
		{desc: "same id replaces (K01.FR.05)", version: OCPP201, installed: base, evse: 2, p: prof(10, 3, PurposeTxDefault, 0, 10), wantIDs: []int{10}},
		{desc: "2.0.1: same stack level and purpose on the EVSE is rejected (K01.FR.06)", version: OCPP201, installed: base, evse: 1, p: prof(11, 1, PurposeTxDefault, 0, 10), wantErr: true},
		{desc: "2.0.1: same stack level, disjoint validity is accepted (K01.FR.06)", version: OCPP201, installed: []InstalledProfile{on(1, with(prof(10, 1, PurposeTxDefault, 0, 16), func(p *Profile) { p.ValidTo = t0 }))}, evse: 1,
			p: with(prof(11, 1, PurposeTxDefault, 0, 10), func(p *Profile) { p.ValidFrom = t0 }), wantIDs: []int{10, 11}},
		{desc: "1.6: same stack level and purpose replaces (1.6 §5.16)", version: OCPP16, installed: base, evse: 1, p: prof(11, 1, PurposeTxDefault, 0, 10), wantIDs: []int{11}},
		{desc: "same stack level on another EVSE is fine", version: OCPP201, installed: base, evse: 2, p: prof(11, 1, PurposeTxDefault, 0, 10), wantIDs: []int{10, 11}},
		{desc: "TxProfile with the same stack level and transaction rejected (K01.FR.39)", version: OCPP201,
			installed: []InstalledProfile{on(1, with(prof(10, 1, PurposeTx, 0, 16), func(p *Profile) { p.TransactionID = "tx1" }))}, evse: 1,
			p: with(prof(11, 1, PurposeTx, 0, 10), func(p *Profile) { p.TransactionID = "tx1" }), wantErr: true},
		{desc: "TxProfile without transactionId rejected in 2.0.1 (K01.FR.03)", version: OCPP201, evse: 1, p: prof(11, 1, PurposeTx, 0, 10), wantErr: true},
		{desc: "1.6 TxProfile without transactionId binds to the running one", version: OCPP16, evse: 1, p: prof(11, 1, PurposeTx, 0, 10), wantIDs: []int{11}},
		{desc: "TxProfile without a transaction on the EVSE rejected (1.6 §5.16)", version: OCPP16, evse: 2, p: prof(11, 1, PurposeTx, 0, 10), wantErr: true},
		{desc: "station max Relative rejected (K01.FR.38)", version: OCPP201, evse: 0,
			p: with(prof(11, 1, PurposeStationMax, 0, 10), func(p *Profile) { p.Kind = KindRelative; p.Schedule.Start = time.Time{} }), wantErr: true},
		{desc: "station max on an EVSE rejected", version: OCPP16, evse: 1, p: prof(11, 1, PurposeStationMax, 0, 10), wantErr: true},
		{desc: "absolute without startSchedule rejected in 2.0.1 (K01.FR.40)", version: OCPP201, evse: 1,
			p: with(prof(11, 1, PurposeTxDefault, 0, 10), func(p *Profile) { p.Schedule.Start = time.Time{} }), wantErr: true},
		{desc: "relative with startSchedule rejected in 2.0.1 (K01.FR.41)", version: OCPP201, evse: 1,
			p: with(prof(11, 1, PurposeTxDefault, 0, 10), func(p *Profile) { p.Kind = KindRelative }), wantErr: true},
		{desc: "unknown EVSE rejected (K01.FR.28)", version: OCPP201, evse: 3, p: prof(11, 1, PurposeTxDefault, 0, 10), wantErr: true},
		{desc: "stack level above ChargeProfileMaxStackLevel rejected", version: OCPP16, evse: 1, p: prof(11, 5, PurposeTxDefault, 0, 10), wantErr: true},
		{desc: "more periods than ChargingScheduleMaxPeriods rejected", version: OCPP16, evse: 1, p: prof(11, 1, PurposeTxDefault, 0, 10, 60, 9, 120, 8, 180, 7), wantErr: true},
		{desc: "unsupported rate unit rejected", version: OCPP16, evse: 1, p: with(prof(11, 1, PurposeTxDefault, 0, 10), func(p *Profile) { p.Schedule.Unit = site.UnitWatts }), wantErr: true},
		{desc: "more than MaxChargingProfilesInstalled rejected", version: OCPP16, evse: 2,
			installed: []InstalledProfile{on(1, prof(1, 0, PurposeTxDefault, 0, 6)), on(1, prof(2, 1, PurposeTxDefault, 0, 6)), on(1, prof(3, 2, PurposeTxDefault, 0, 6))},
			p:         prof(11, 1, PurposeTxDefault, 0, 10), wantErr: true},
		{desc: "period starts must increase", version: OCPP16, evse: 1, p: prof(11, 1, PurposeTxDefault, 0, 10, 0, 8), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			before := slices.Clone(tc.installed)
			got, err := InstallProfile(tc.installed, tc.evse, tc.p, rules(tc.version))
			if !slices.EqualFunc(before, tc.installed, func(a, b InstalledProfile) bool { return a.Profile.ID == b.Profile.ID }) {
				t.Fatal("InstallProfile modified its input")
			}
			if tc.wantErr {
				if !errors.Is(err, ErrProfileRejected) {
					t.Fatalf("err = %v, want ErrProfileRejected", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			var ids []int
			for _, ip := range got {
				ids = append(ids, ip.Profile.ID)
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Errorf("installed %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}

func TestClearProfiles(t *testing.T) {
	installed := []InstalledProfile{
		on(0, prof(1, 0, PurposeStationMax, 0, 40)),
		on(1, prof(2, 0, PurposeTxDefault, 0, 16)),
		on(1, prof(3, 1, PurposeTxDefault, 0, 10)),
		on(2, prof(4, 1, PurposeTxDefault, 0, 10)),
	}
	ptr := func(i int) *int { return &i }
	tests := []struct {
		desc string
		c    ClearCriteria
		want []int
	}{
		{"by id (K10)", ClearCriteria{ID: ptr(3)}, []int{1, 2, 4}},
		{"by id ignores the other criteria", ClearCriteria{ID: ptr(3), EVSE: ptr(2)}, []int{1, 2, 4}},
		{"by EVSE", ClearCriteria{EVSE: ptr(1)}, []int{1, 4}},
		{"by purpose and stack level", ClearCriteria{Purpose: PurposeTxDefault, StackLevel: ptr(1)}, []int{1, 2}},
		{"everything", ClearCriteria{}, nil},
		{"nothing matches", ClearCriteria{ID: ptr(99)}, []int{1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, n := ClearProfiles(installed, tc.c)
			var ids []int
			for _, ip := range got {
				ids = append(ids, ip.Profile.ID)
			}
			if !slices.Equal(ids, tc.want) || n != len(installed)-len(tc.want) {
				t.Errorf("left %v (cleared %d), want %v", ids, n, tc.want)
			}
		})
	}
}
