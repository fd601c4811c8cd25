package ocppadapter

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// FuzzProxyProfileReaders feeds CSMS payloads (outside input) to what the
// proxy reads of SetChargingProfile and ClearChargingProfile: no panic,
// and a narrowed clear's payload reads back as the same criteria.
func FuzzProxyProfileReaders(f *testing.F) {
	f.Add(uint8(V16), []byte(`{"connectorId":0,"csChargingProfiles":{"chargingProfileId":77,"stackLevel":3,"chargingProfilePurpose":"ChargePointMaxProfile","chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":10}]}}}`))
	f.Add(uint8(V201), []byte(`{"evseId":0,"chargingProfile":{"id":77,"stackLevel":3,"chargingProfilePurpose":"ChargingStationMaxProfile","chargingProfileKind":"Absolute","chargingSchedule":[{"id":1,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":11000}]}]}}`))
	f.Add(uint8(V16), []byte(`{"id":5,"connectorId":1,"stackLevel":2,"chargingProfilePurpose":"TxProfile"}`))
	f.Add(uint8(V201), []byte(`{"chargingProfileId":5,"chargingProfileCriteria":{"evseId":1,"stackLevel":0}}`))
	f.Add(uint8(V16), []byte(`{"connectorId":1,"csChargingProfiles":{"chargingProfileId":7,"transactionId":42,"stackLevel":1,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Recurring","recurrencyKind":"Daily","validFrom":"2026-11-25T00:00:00Z","validTo":"2026-12-25T00:00:00Z","chargingSchedule":{"startSchedule":"2026-11-25T06:00:00Z","duration":7200,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16},{"startPeriod":3600,"limit":0}]}}}`))
	f.Add(uint8(V201), []byte(`{"evseId":1,"chargingProfile":{"id":8,"stackLevel":2,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","validTo":"bad","chargingSchedule":[{"id":1,"startSchedule":"2026-11-25T06:00:00.5Z","chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":600,"limit":0},{"startPeriod":0,"limit":7400}]},{"id":2,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":6}]}]}}`))
	f.Add(uint8(V201), []byte(`{}`))
	f.Add(uint8(V16), []byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, v uint8, payload []byte) {
		c := &conn{version: V16}
		if v%2 == 0 {
			c.version = V201
		}
		if p, ok := c.readSetProfile(payload); ok {
			now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
			for _, s := range p.scheds {
				for i, per := range s.Periods {
					if per.Limit < 0 || (i > 0 && per.Offset <= s.Periods[i-1].Offset) {
						t.Fatalf("schedule periods not a valid limit schedule: %+v", s.Periods)
					}
				}
				if s.Validate() != nil && !s.Start.IsZero() {
					t.Fatalf("a schedule that cannot be followed in time keeps its start: %+v (%v)", s, s.Validate())
				}
				if l, ok, next := s.LimitAt(now); (ok && l < 0) || (!next.IsZero() && !next.After(now)) {
					t.Fatalf("LimitAt(now) = %g %v %v for %+v", l, ok, next, s)
				}
			}
		}
		r, ok := c.readClear(payload)
		if !ok {
			return
		}
		back, ok := c.readClear(r.payload(c.version))
		if !ok {
			t.Fatalf("narrowed clear payload unreadable: %s", r.payload(c.version))
		}
		eq := func(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
		if !eq(r.id, back.id) || !eq(r.evse, back.evse) || !eq(r.stack, back.stack) || r.purpose != back.purpose {
			t.Fatalf("clear criteria %+v read back as %+v", r, back)
		}
	})
}

// TestReservedProfileRules names the proxy's rules for the CSMS's
// profiles that touch smartcharge's reserved ids and stack levels
// (defaults: stack levels 4..5, ids 1000..3999). Within Tx and TxDefault
// the highest stack level leads (OCPP 2.0.1 K08), so a CSMS Tx/TxDefault
// above the band would override smartcharge's; a station maximum
// combines by the lowest limit at any level.
func TestReservedProfileRules(t *testing.T) {
	p := ProxyConfig{}.withDefaults()
	cases := []struct {
		desc    string
		id      int
		stack   int
		purpose string
		taken   bool
	}{
		{"free id and level relayed", 77, 3, "TxDefaultProfile", false},
		{"CSMS keeps stack level 0", 5, 0, "TxProfile", false},
		{"reserved id rejected", 1001, 3, "ChargePointMaxProfile", true},
		{"loop's fallback level rejected", 77, 4, "TxDefaultProfile", true},
		{"loop's dynamic level rejected", 77, 5, "TxProfile", true},
		{"reserved level rejected for a station maximum too", 77, 4, "ChargingStationMaxProfile", true},
		{"Tx above the band would shadow: rejected", 77, 6, "TxProfile", true},
		{"TxDefault above the band would shadow: rejected", 77, 8, "TxDefaultProfile", true},
		{"station maximum above the band relayed", 77, 8, "ChargePointMaxProfile", false},
		{"first id past the range relayed", 4000, 2, "TxProfile", false},
		{"id just below the range relayed", 999, 2, "TxProfile", false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got := p.rejects(profileRef{id: tc.id, stack: tc.stack, purpose: tc.purpose})
			if got != tc.taken {
				t.Errorf("id %d stack %d %s: rejected %v, want %v", tc.id, tc.stack, tc.purpose, got, tc.taken)
			}
		})
	}
}

func TestProxyConfigValidate(t *testing.T) {
	up := func(ref site.ChargerRef, _ string) (UpstreamTarget, bool) { return UpstreamTarget{}, false }
	cases := []struct {
		desc string
		cfg  ProxyConfig
		ok   bool
	}{
		{"defaults", ProxyConfig{Upstream: up}, true},
		{"no upstream", ProxyConfig{}, false},
		{"stack range reversed", ProxyConfig{Upstream: up, ReservedStackLevels: IntRange{3, 2}}, false},
		{"one stack level only (the loop needs two)", ProxyConfig{Upstream: up, ReservedStackLevels: IntRange{4, 4}}, false},
		{"stack levels 6..7", ProxyConfig{Upstream: up, ReservedStackLevels: IntRange{6, 7}}, true},
		{"negative ids", ProxyConfig{Upstream: up, ReservedProfileIDs: IntRange{-1, 2}}, false},
		{"unknown loss", ProxyConfig{Upstream: up, Loss: 9}, false},
		{"negative queue", ProxyConfig{Upstream: up, OfflineQueueLimit: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
	targets := []struct {
		desc string
		t    UpstreamTarget
		ok   bool
	}{
		{"ws", UpstreamTarget{URL: "ws://127.0.0.1:9000/ocpp"}, true},
		{"wss with client cert", UpstreamTarget{URL: "wss://csms.example/ocpp", CertFile: "c", KeyFile: "k"}, true},
		{"http scheme", UpstreamTarget{URL: "http://csms.example/ocpp"}, false},
		{"cert without key", UpstreamTarget{URL: "wss://csms.example/ocpp", CertFile: "c"}, false},
		{"passthrough and password", UpstreamTarget{URL: "ws://h/ocpp", BasicAuthPassthrough: true, Password: "x"}, false},
	}
	for _, tc := range targets {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := StaticUpstreams(map[string]UpstreamTarget{"s": tc.t}); (err == nil) != tc.ok {
				t.Errorf("StaticUpstreams: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
