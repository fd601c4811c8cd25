package loop

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
)

// Configured stack levels and profile ids are what the loop sends (in
// local controller mode the CSMS keeps the others; OCPP 2.0.1 K01.FR.05:
// a profile with the same id, or the same purpose and stack level,
// replaces the installed one).
func TestStackLevelsAndProfileIDsConfigured(t *testing.T) {
	h := newHarness(t, depot(32, 1), func(c *Config) {
		c.FallbackStackLevel, c.StackLevel, c.MaxStackLevel, c.ProfileIDBase = 4, 5, 5, 5000
	})
	h.run(h.plugIn("cp1", caps16, acme)...)
	calls := h.ctrl.since(0)
	if len(calls) != 2 {
		t.Fatalf("want fallback and dynamic, got %+v", calls)
	}
	if r := calls[0].Req; r.StackLevel != 4 || r.ProfileID != 5001 || r.Purpose != site.PurposeTxDefault || r.Duration != 0 {
		t.Errorf("fallback %+v, want TxDefault at stack level 4, id 5001, no duration", r)
	}
	if r := calls[1].Req; r.StackLevel != 5 || r.ProfileID != 7001 || r.Purpose != site.PurposeTx || r.Duration == 0 {
		t.Errorf("dynamic %+v, want Tx at stack level 5, id 7001, with a lease", r)
	}
	h.checkLedger()
}

// A charger that refuses the dynamic stack level is tried at its own
// maximum only within MaxStackLevel: levels above are the CSMS's in local
// controller mode. With none left it is non-compliant.
func TestStackLevelsStayWithinBand(t *testing.T) {
	h := newHarness(t, depot(32, 1), func(c *Config) {
		c.FallbackStackLevel, c.StackLevel, c.MaxStackLevel = 4, 5, 5
	})
	h.ctrl.setPolicy("cp1", func(r site.LimitRequest) answer {
		if r.StackLevel == 4 {
			return accept
		}
		return reject
	})
	h.run(h.plugIn("cp1", caps16, acme)...) // the charger's maximum is 8
	for _, c := range h.ctrl.since(0) {
		if c.Req.StackLevel != 4 && c.Req.StackLevel != 5 {
			t.Errorf("profile sent at stack level %d, outside the loop's band 4..5: %+v", c.Req.StackLevel, c.Req)
		}
	}
	if v := h.evseView("cp1"); !v.NonCompliant {
		t.Errorf("cp1 refuses every form within the band: want non-compliant, got %+v", v)
	}
}

func TestDynStacks(t *testing.T) {
	for _, tc := range []struct {
		name               string
		fb, dyn, top       int
		learnt, chargerMax int
		want               []int
	}{
		{name: "direct defaults, charger max 8", fb: 0, dyn: 1, chargerMax: 8, want: []int{1, 8}},
		{name: "learnt first", fb: 0, dyn: 1, learnt: 8, chargerMax: 8, want: []int{8, 1}},
		{name: "charger max unknown", fb: 0, dyn: 1, want: []int{1}},
		{name: "band caps the charger's max", fb: 4, dyn: 5, top: 5, chargerMax: 8, want: []int{5}},
		{name: "band 4..7", fb: 4, dyn: 5, top: 7, chargerMax: 8, want: []int{5, 7}},
		{name: "learnt outside the band", fb: 4, dyn: 5, top: 6, learnt: 8, chargerMax: 8, want: []int{5, 6}},
		{name: "learnt at the fallback's level", fb: 4, dyn: 5, learnt: 4, chargerMax: 8, want: []int{5, 8}},
		{name: "charger max below the band: sent anyway (refused)", fb: 4, dyn: 5, top: 5, chargerMax: 3, want: []int{5}},
		{name: "charger max below dynamic, above fallback", fb: 0, dyn: 3, chargerMax: 2, want: []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{FallbackStackLevel: tc.fb, StackLevel: tc.dyn, MaxStackLevel: tc.top}
			got := dynStacks(&cfg, tc.learnt, tc.chargerMax)
			if !slices.Equal(got, tc.want) {
				t.Errorf("dynStacks = %v, want %v", got, tc.want)
			}
			for _, s := range got[:len(got)-1] {
				if s <= tc.fb {
					t.Errorf("level %d not above the fallback's %d", s, tc.fb)
				}
			}
		})
	}
}

func TestConfigStackLevels(t *testing.T) {
	st := redisstore.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), nil) // never dialled
	t.Cleanup(func() { st.Close() })
	base := func() Config { return Config{Store: st, LoopState: st, Control: &fakeControl{}} }
	for _, tc := range []struct {
		name         string
		fb, dyn, top int
		idBase       int
		wantErr      string
		wantDyn      int
		wantIDs      [2]int
	}{
		{name: "defaults", wantDyn: 1, wantIDs: [2]int{1001, 3032}},
		{name: "fallback 4 gives dynamic 5", fb: 4, wantDyn: 5, wantIDs: [2]int{1001, 3032}},
		{name: "band 4..5, ids from 5000", fb: 4, dyn: 5, top: 5, idBase: 5000, wantDyn: 5, wantIDs: [2]int{5001, 7032}},
		{name: "dynamic equal to fallback", fb: 2, dyn: 2, wantErr: "StackLevel (2) must be above FallbackStackLevel (2)"},
		{name: "dynamic below fallback", fb: 4, dyn: 1, wantErr: "must be above FallbackStackLevel"},
		{name: "max below dynamic", fb: 4, dyn: 6, top: 5, wantErr: "MaxStackLevel (5) must not be below the dynamic stack level (6)"},
		{name: "max below defaulted dynamic", fb: 4, top: 4, wantErr: "MaxStackLevel (4) must not be below the dynamic stack level (5)"},
		{name: "negative", fb: -1, wantErr: "must not be negative"},
		{name: "negative id base", idBase: -5, wantErr: "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.FallbackStackLevel, c.StackLevel, c.MaxStackLevel, c.ProfileIDBase = tc.fb, tc.dyn, tc.top, tc.idBase
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := c.withDefaults()
			if d.StackLevel != tc.wantDyn || d.FallbackStackLevel != tc.fb {
				t.Errorf("levels %d/%d, want %d/%d", d.FallbackStackLevel, d.StackLevel, tc.fb, tc.wantDyn)
			}
			if lo, hi := c.ProfileIDs(); lo != tc.wantIDs[0] || hi != tc.wantIDs[1] {
				t.Errorf("ProfileIDs %d..%d, want %v", lo, hi, tc.wantIDs)
			}
			for _, k := range []cmdKind{kindFallback, kindDynamic} {
				for _, p := range []site.ProfilePurpose{site.PurposeTxDefault, site.PurposeTx} {
					for _, evse := range []int{1, site.MaxEVSEs} {
						if id := profileID(d.ProfileIDBase, k, p, evse); id < tc.wantIDs[0] || id > tc.wantIDs[1] {
							t.Errorf("profile id %d outside ProfileIDs %v", id, tc.wantIDs)
						}
					}
				}
			}
		})
	}
}

func TestErrStoppedIsUnavailable(t *testing.T) {
	if !errors.Is(ErrStopped, site.ErrUnavailable) {
		t.Error("errors.Is(ErrStopped, site.ErrUnavailable) is false")
	}
	wrapped := errors.Join(errors.New("x"), ErrStopped)
	if !errors.Is(wrapped, ErrStopped) || !errors.Is(wrapped, site.ErrUnavailable) {
		t.Error("a wrapped ErrStopped must match ErrStopped and site.ErrUnavailable")
	}
	if errors.Is(site.ErrUnavailable, ErrStopped) || errors.Is(ErrStopped, site.ErrNotFound) {
		t.Error("ErrStopped matches too much")
	}
	if ErrStopped.Error() != "loop: stopped" {
		t.Errorf("message %q", ErrStopped.Error())
	}
	// From a stopped Manager.
	h := newHarness(t, depot(32, 1), nil)
	m := h.m
	h.stopManager()
	_, err := m.Watch(t.Context(), "depot")
	if !errors.Is(err, ErrStopped) || !errors.Is(err, site.ErrUnavailable) {
		t.Errorf("Watch on a stopped manager: %v, want ErrStopped matching site.ErrUnavailable", err)
	}
	err = m.SetPriority(t.Context(), site.ChargerRef{SiteID: "depot", ChargerID: "cp1"}, 1, 2)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, site.ErrUnavailable) {
		t.Errorf("SetPriority on a stopped manager: %v, want ErrStopped matching site.ErrUnavailable", err)
	}
}
