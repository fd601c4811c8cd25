package ocppadapter

import (
	"testing"

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
	f.Add(uint8(V201), []byte(`{}`))
	f.Add(uint8(V16), []byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, v uint8, payload []byte) {
		c := &conn{version: V16}
		if v%2 == 0 {
			c.version = V201
		}
		_, _ = c.readSetProfile(payload)
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
// profiles that touch smartcharge's reserved ids and stack levels.
func TestReservedProfileRules(t *testing.T) {
	p := ProxyConfig{}.withDefaults()
	cases := []struct {
		desc  string
		id    int
		stack int
		taken bool
	}{
		{"free id and level relayed", 77, 3, false},
		{"reserved id rejected", 1001, 3, true},
		{"reserved stack level rejected", 77, 1, true},
		{"stack level 0 is the loop's fallback level", 5, 0, true},
		{"first id past the range relayed", 4000, 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got := p.ReservedProfileIDs.Contains(tc.id) || p.ReservedStackLevels.Contains(tc.stack)
			if got != tc.taken {
				t.Errorf("id %d stack %d: reserved %v, want %v", tc.id, tc.stack, got, tc.taken)
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
