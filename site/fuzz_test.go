package site_test

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// byteSource turns fuzz input into choices; it yields zeros once drained.
type byteSource struct{ b []byte }

func (s *byteSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *byteSource) intn(n int) int { return int(s.byte()) % n }

func (s *byteSource) bool() bool { return s.byte()&1 == 1 }

// float gives mostly small plausible numbers, sometimes edge cases.
func (s *byteSource) float() float64 {
	switch s.intn(16) {
	case 0:
		return 0
	case 1:
		return -float64(s.byte())
	case 2:
		return math.NaN()
	case 3:
		return math.Inf(1)
	case 4:
		var b [8]byte
		for i := range b {
			b[i] = s.byte()
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	case 5:
		return 10_000 + float64(s.byte())
	}
	return float64(s.byte()) + float64(s.byte())/256
}

// ids is a small pool so that parents and circuits often refer to existing
// resources; a few entries are invalid IDs.
var fuzzIDs = [...]string{"", "a", "b", "c", "d", "e", "main", "sub-1", "Bad", "-x", "x-", "f"}

func (s *byteSource) id() string { return fuzzIDs[s.intn(len(fuzzIDs))] }

func (s *byteSource) text() string {
	n := s.intn(8)
	b := make([]byte, n)
	for i := range b {
		b[i] = s.byte()
	}
	return string(b)
}

func (s *byteSource) phases() site.PhaseCurrents {
	if s.bool() {
		return site.Uniform(site.Amps(s.float()))
	}
	return site.PhaseCurrents{site.Amps(s.float()), site.Amps(s.float()), site.Amps(s.float())}
}

var fuzzZones = [...]string{"", "UTC", "Europe/Berlin", "Local", "Nowhere/Else", "../etc/passwd"}

// decodeConfig builds a Config from arbitrary bytes.
func decodeConfig(data []byte) site.Config {
	s := &byteSource{b: data}
	c := site.Config{Site: site.Site{
		ID: s.id(), DisplayName: s.text(), TimeZone: fuzzZones[s.intn(len(fuzzZones))],
		NominalVoltage: site.Volts(s.float()) * 2, GridLimit: s.phases(), GridPowerLimit: site.Watts(s.float()) * 100,
	}}
	for range s.intn(6) {
		c.Circuits = append(c.Circuits, site.Circuit{
			SiteID: []string{"", c.Site.ID, "other"}[s.intn(3)], ID: s.id(), Parent: s.id(),
			Limit: s.phases(), PowerLimit: site.Watts(s.float()), Oversubscribed: s.intn(4) == 0,
		})
	}
	for range s.intn(4) {
		ch := site.Charger{
			ID: s.id(), OCPPIdentity: s.text(), Circuit: s.id(),
			PhaseRotation: site.PhaseRotation{site.Phase(s.intn(5)), site.Phase(s.intn(5)), site.Phase(s.intn(5))},
		}
		for i := range s.intn(4) {
			id := i + 1
			if s.intn(8) == 0 {
				id = int(int8(s.byte()))
			}
			ch.EVSEs = append(ch.EVSEs, site.EVSE{ID: id, MaxCurrent: site.Amps(s.float()), MinCurrent: site.Amps(s.float()),
				Phases: s.intn(5), CanSwitchPhases: s.bool()})
		}
		c.Chargers = append(c.Chargers, ch)
	}
	for range s.intn(3) {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		l := site.GridLimit{ID: s.id(), Source: site.LimitSource(s.intn(6)), Limit: s.phases(), PowerLimit: site.Watts(s.float()), Reason: s.text()}
		if s.bool() {
			l.Start = base.Add(time.Duration(s.byte()) * time.Hour)
		}
		if s.bool() {
			l.End = base.Add(time.Duration(s.byte()) * time.Hour)
		}
		if s.bool() {
			l.Limit = site.PhaseCurrents{}
		}
		c.Limits = append(c.Limits, l)
	}
	return c
}

// FuzzConfigValidate checks that Validate never panics, always names a
// field, and that a config it accepts keeps the tree's invariants.
func FuzzConfigValidate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("depot with a board and a charger"))
	f.Add([]byte{1, 0, 0, 7, 40, 0, 7, 40, 0, 7, 40, 0, 0, 2, 6, 1, 7, 9, 7, 20, 0, 0, 7, 20, 0})
	f.Add([]byte{0x06, 0x41, 0x42, 0x07, 0x30, 0x30, 0x30, 0x30, 0x01, 0xff, 0xfe, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decodeConfig(data)
		err := c.Validate()
		if err != nil {
			ve, ok := err.(*site.ValidationError)
			if !ok || len(ve.Violations) == 0 {
				t.Fatalf("Validate returned %T %v, want a non-empty *ValidationError", err, err)
			}
			for _, v := range ve.Violations {
				if v.Field == "" || v.Rule == "" {
					t.Fatalf("violation without field or rule: %+v", v)
				}
			}
			return
		}
		checkTreeInvariants(t, c)
	})
}

// checkTreeInvariants is a plain reference check of what a valid config
// promises: unique IDs, parents that exist, no cycles, children within
// their parents unless oversubscribed, chargers on existing circuits.
func checkTreeInvariants(t *testing.T, c site.Config) {
	t.Helper()
	byID := map[string]site.Circuit{}
	for _, ci := range c.Circuits {
		if _, dup := byID[ci.ID]; dup {
			t.Fatalf("valid config has duplicate circuit %q", ci.ID)
		}
		byID[ci.ID] = ci
	}
	for _, ci := range c.Circuits {
		// Walking up must reach the grid connection within len steps.
		cur, steps := ci, 0
		for cur.Parent != "" {
			p, ok := byID[cur.Parent]
			if !ok {
				t.Fatalf("valid config: circuit %q has missing parent %q", cur.ID, cur.Parent)
			}
			if steps++; steps > len(c.Circuits) {
				t.Fatalf("valid config: circuit %q is in a cycle", ci.ID)
			}
			cur = p
		}
		parent := c.Site.GridLimit
		if ci.Parent != "" {
			parent = byID[ci.Parent].Limit
		}
		for ph := range 3 {
			if !ci.Oversubscribed && ci.Limit[ph] > parent[ph] {
				t.Fatalf("valid config: circuit %q L%d %v above parent's %v", ci.ID, ph+1, ci.Limit[ph], parent[ph])
			}
			if !(ci.Limit[ph] > 0) {
				t.Fatalf("valid config: circuit %q L%d limit %v", ci.ID, ph+1, ci.Limit[ph])
			}
		}
	}
	identities := map[string]bool{}
	for _, ch := range c.Chargers {
		if _, ok := byID[ch.Circuit]; ch.Circuit != "" && !ok {
			t.Fatalf("valid config: charger %q on missing circuit %q", ch.ID, ch.Circuit)
		}
		if identities[ch.OCPPIdentity] {
			t.Fatalf("valid config: identity %q twice", ch.OCPPIdentity)
		}
		identities[ch.OCPPIdentity] = true
		for i, e := range ch.EVSEs {
			if e.ID != i+1 || !(e.MaxCurrent > 0) || e.EffectiveMinCurrent() > e.MaxCurrent {
				t.Fatalf("valid config: charger %q EVSE %d: %+v", ch.ID, i, e)
			}
		}
	}
}
