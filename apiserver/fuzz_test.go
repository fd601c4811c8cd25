package apiserver

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// FuzzParseName: resource-name parsing never panics, accepts only names
// that rebuild to themselves, and every variable is a valid ID.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"sites/alpha", "sites/alpha/circuits/main", "sites/a/gridLimits/b", "sites/a/effectiveGridLimit",
		"sites//circuits/x", "sites/alpha/", "/sites/alpha", "sites/ALPHA", "sites/a-", "sites/a/circuits/b/c",
		"sites/\x00", "sites/ä", strings.Repeat("sites/a/", 50), "",
	} {
		f.Add(s)
	}
	patterns := []string{patternSite, patternCircuit, patternCharger, patternGridLimit, patternEffectiveGridLimit, patternSiteConfig, patternAllocation}
	f.Fuzz(func(t *testing.T, name string) {
		for _, p := range patterns {
			vars, err := parseName(name, p)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				continue
			}
			rebuilt := p
			for _, v := range vars {
				if !site.ValidResourceID(v) {
					t.Fatalf("%q matched %q with bad ID %q", name, p, v)
				}
				i, j := strings.Index(rebuilt, "{"), strings.Index(rebuilt, "}")
				rebuilt = rebuilt[:i] + v + rebuilt[j+1:]
			}
			if rebuilt != name {
				t.Fatalf("%q parsed by %q rebuilds to %q", name, p, rebuilt)
			}
		}
	})
}

// FuzzPageToken: tokens decode only to valid IDs, and every ID's token
// round-trips.
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{"", "YWxwaGE", "!!", "AA", encodePageToken("main")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := decodePageToken(tok)
		if err != nil {
			return
		}
		if id == "" {
			if tok != "" {
				t.Fatalf("token %q decoded to the start", tok)
			}
			return
		}
		if !site.ValidResourceID(id) {
			t.Fatalf("token %q gave bad ID %q", tok, id)
		}
		back, err := decodePageToken(encodePageToken(id))
		if err != nil || back != id {
			t.Fatalf("round trip of %q: %q, %v", id, back, err)
		}
	})
}

// FuzzConfigFromProto: any wire message either converts to a config that
// passes site.Config.Validate, or fails with a *site.ValidationError whose
// every violation names a field and a rule; it never panics.
func FuzzConfigFromProto(f *testing.F) {
	seed, _ := proto.Marshal(alphaConfig())
	f.Add(seed)
	bad := alphaConfig()
	bad.Circuits[0].Parent = "sites/alpha/circuits/sub"
	bad.Chargers[0].Evses[0].Phases = 2
	b, _ := proto.Marshal(bad)
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pb.SiteConfig
		if err := proto.Unmarshal(data, &p); err != nil {
			return
		}
		c, err := ConfigFromProto(&p)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("accepted a config the domain rejects: %v", verr)
			}
			return
		}
		var ve *site.ValidationError
		if !errors.As(err, &ve) || len(ve.Violations) == 0 {
			t.Fatalf("error %v is not a ValidationError with violations", err)
		}
		for _, v := range ve.Violations {
			if v.Rule == "" {
				t.Fatalf("violation of %q without a rule", v.Field)
			}
		}
		// Violations must also survive the mapping to request fields.
		loc := applyLocator(&c)
		rel := relocate(err, &c, loc, "config")
		if !errors.As(rel, &ve) || len(ve.Violations) == 0 {
			t.Fatalf("relocate lost violations: %v", rel)
		}
	})
}

// FuzzParseEVSEName: EVSE (and charger-or-EVSE) names parse only when
// they rebuild to themselves, with valid IDs and an EVSE id of 1 to
// site.MaxEVSEs; errors have text; nothing panics.
func FuzzParseEVSEName(f *testing.F) {
	for _, s := range []string{
		"sites/a/chargers/b/evses/1", "sites/a/chargers/b/evses/32", "sites/a/chargers/b/evses/33",
		"sites/a/chargers/b/evses/0", "sites/a/chargers/b/evses/01", "sites/a/chargers/b/evses/-1",
		"sites/a/chargers/b/evses/1/evses/2", "sites/a/chargers/b", "sites/a/chargers/b/evses/",
		"sites/a/chargers/evses/evses/1", "sites/evses/chargers/evses", "sites/evses/chargers/x/evses/2", "sites/a/chargers/b/evses/\u0661", "sites/a/chargers/b/evses/99999999999999999999", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		check := func(ref site.ChargerRef, evse int, err error, chargerOK bool) {
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				return
			}
			if !site.ValidResourceID(ref.SiteID) || !site.ValidResourceID(ref.ChargerID) {
				t.Fatalf("%q gave bad IDs %+v", name, ref)
			}
			rebuilt := ref.String()
			switch {
			case evse == 0 && chargerOK:
			case evse >= 1 && evse <= site.MaxEVSEs:
				rebuilt = evseName(ref, evse)
			default:
				t.Fatalf("%q gave EVSE id %d", name, evse)
			}
			if rebuilt != name {
				t.Fatalf("%q rebuilds to %q", name, rebuilt)
			}
		}
		ref, evse, err := parseEVSEName(name)
		check(ref, evse, err, false)
		ref, evse, err = parseChargerOrEVSEName(name)
		check(ref, evse, err, true)
	})
}

// FuzzBindingFromReason: any reason text gives no binding or one whose
// node is the site, one of its circuits or chargers (a valid name) with a
// kind that matches and a valid or no phase.
func FuzzBindingFromReason(f *testing.F) {
	for _, s := range []string{
		"limited by circuit hall-a phase L2", "paused, infeasible grid connection phase L1 over by 3.0 A",
		"limited by external limit EMS on charger cp1 phase L3", "limited by power limit of grid connection",
		"limited by circuit a phase L4", "limited by grid x", "circuit -a", "", "charger c phase L1 over by 1e9 A",
	} {
		f.Add("PHASE_LIMIT", s)
	}
	f.Add("AT_MAX", "limited by circuit a")
	f.Fuzz(func(t *testing.T, code, reason string) {
		b := bindingFromReason("s", code, reason)
		if b == nil {
			return
		}
		if !nodeReasons[code] {
			t.Fatalf("binding for code %q that names no node", code)
		}
		var pattern string
		switch b.GetNodeKind() {
		case pb.NodeKind_NODE_KIND_GRID:
			pattern = patternSite
		case pb.NodeKind_NODE_KIND_CIRCUIT:
			pattern = patternCircuit
		case pb.NodeKind_NODE_KIND_CHARGER:
			pattern = patternCharger
		default:
			t.Fatalf("kind %v", b.GetNodeKind())
		}
		vars, err := parseName(b.GetNode(), pattern)
		if err != nil || vars[0] != "s" {
			t.Fatalf("node %q is not a %q of site s: %v", b.GetNode(), pattern, err)
		}
		if p := b.GetPhase(); p < pb.Phase_PHASE_UNSPECIFIED || p > pb.Phase_PHASE_L3 {
			t.Fatalf("phase %v", p)
		}
	})
}
