package apiserver

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// callCase is one call and the code (and bad field) it must give.
type callCase struct {
	name  string
	who   string
	call  func(ctx context.Context, e *env) error
	code  codes.Code
	field string
}

// runCases runs each case on a fresh seeded server per store.
func runCases(t *testing.T, cases []callCase) {
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, f, envOpts{})
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					who := c.who
					if who == "" {
						who = "admin"
					}
					want(t, c.call(as(who), e), c.code, c.field)
				})
			}
		})
	}
}

func TestSiteServiceBadInput(t *testing.T) {
	gl := &pb.PhaseCurrents{L1: 10, L2: 10, L3: 10}
	runCases(t, []callCase{
		{name: "get/no name", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.GetSite(ctx, &pb.GetSiteRequest{})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "get/malformed name", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "site/alpha"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "get/upper-case id", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/Alpha"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "get/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/gamma"})
			return err
		}, code: codes.NotFound},
		{name: "list/negative page size", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.ListSites(ctx, &pb.ListSitesRequest{PageSize: -1})
			return err
		}, code: codes.InvalidArgument, field: "page_size"},
		{name: "list/garbage token", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.ListSites(ctx, &pb.ListSitesRequest{PageToken: "!!"})
			return err
		}, code: codes.InvalidArgument, field: "page_token"},
		{name: "create/bad id", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "9lives", Site: &pb.Site{GridLimit: gl}})
			return err
		}, code: codes.InvalidArgument, field: "site_id"},
		{name: "create/no site", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "gamma"})
			return err
		}, code: codes.InvalidArgument, field: "site"},
		{name: "create/zero grid limit on l2", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "gamma", Site: &pb.Site{GridLimit: &pb.PhaseCurrents{L1: 10, L3: 10}}})
			return err
		}, code: codes.InvalidArgument, field: "site.grid_limit.l2"},
		{name: "create/bad time zone", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "gamma", Site: &pb.Site{TimeZone: "Mars/Olympus", GridLimit: gl}})
			return err
		}, code: codes.InvalidArgument, field: "site.time_zone"},
		{name: "create/voltage too low", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "gamma", Site: &pb.Site{NominalVoltage: 12, GridLimit: gl}})
			return err
		}, code: codes.InvalidArgument, field: "site.nominal_voltage"},
		{name: "create/negative power", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "gamma", Site: &pb.Site{GridPowerLimitKw: -1, GridLimit: gl}})
			return err
		}, code: codes.InvalidArgument, field: "site.grid_power_limit_kw"},
		{name: "create/duplicate", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "alpha", Site: &pb.Site{GridLimit: gl}})
			return err
		}, code: codes.AlreadyExists},
		{name: "update/no site", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{})
			return err
		}, code: codes.InvalidArgument, field: "site"},
		{name: "update/unknown mask path", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha"}, UpdateMask: mask("colour")})
			return err
		}, code: codes.InvalidArgument, field: "update_mask"},
		{name: "update/output-only mask path", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha"}, UpdateMask: mask("etag")})
			return err
		}, code: codes.InvalidArgument, field: "update_mask"},
		{name: "update/empty mask, nothing set", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha"}})
			return err
		}, code: codes.InvalidArgument, field: "update_mask"},
		{name: "update/garbage etag", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", Etag: "W/x", DisplayName: "x"}})
			return err
		}, code: codes.InvalidArgument, field: "site.etag"},
		{name: "update/stale etag", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", Etag: "99", DisplayName: "x"}})
			return err
		}, code: codes.Aborted},
		{name: "update/grid limit below a circuit", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", GridLimit: &pb.PhaseCurrents{L1: 40}}, UpdateMask: mask("grid_limit.l1")})
			return err
		}, code: codes.InvalidArgument, field: "site"}, // circuit main (63 A) no longer fits; named in the rule
		{name: "update/unknown site", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/gamma", DisplayName: "x"}})
			return err
		}, code: codes.NotFound},
		{name: "delete/bad name", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/alpha/x"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "delete/with children, no force", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/alpha"})
			return err
		}, code: codes.FailedPrecondition},
		{name: "delete/stale etag", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/beta", Etag: "42"})
			return err
		}, code: codes.Aborted},
		{name: "delete/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/gamma"})
			return err
		}, code: codes.NotFound},
		{name: "config/wrong singleton", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/alpha"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "config/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/gamma/config"})
			return err
		}, code: codes.NotFound},
	})
}

func TestSiteServiceRoundTrip(t *testing.T) {
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, f, envOpts{})
			ctx := as("admin")
			got := must(e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/alpha"}))(t).GetSite()
			if got.DisplayName != "Alpha depot" || got.GridLimit.GetL2() != 63 || got.GridPowerLimitKw != 43 || got.Etag == "" || got.CreateTime == nil {
				t.Fatalf("GetSite = %v", got)
			}

			// update with a field mask: only display_name changes
			up := must(e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{
				Site:       &pb.Site{Name: "sites/alpha", DisplayName: "Alpha", TimeZone: "UTC", Etag: got.Etag},
				UpdateMask: mask("display_name"),
			}))(t).GetSite()
			if up.DisplayName != "Alpha" || up.TimeZone != "Europe/Berlin" || up.Etag == got.Etag {
				t.Fatalf("UpdateSite = %v; want only display_name changed and a new etag", up)
			}
			// the old etag is stale now (AIP-154)
			_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", DisplayName: "B", Etag: got.Etag}})
			want(t, err, codes.Aborted, "")
			// one phase of the grid limit
			up = must(e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{
				Site: &pb.Site{Name: "sites/alpha", GridLimit: &pb.PhaseCurrents{L3: 80}}, UpdateMask: mask("grid_limit.l3"),
			}))(t).GetSite()
			if g := up.GridLimit; g.L1 != 63 || g.L3 != 80 {
				t.Fatalf("grid_limit after l3 update = %v", g)
			}

			// "*" replaces every updatable field: unset ones are cleared
			up = must(e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{
				Site:       &pb.Site{Name: "sites/alpha", TimeZone: "Europe/Paris", GridLimit: pc(70)},
				UpdateMask: mask("*"),
			}))(t).GetSite()
			if up.TimeZone != "Europe/Paris" || up.DisplayName != "" || up.GridPowerLimitKw != 0 || up.NominalVoltage != 0 || up.GridLimit.L2 != 70 {
				t.Fatalf("UpdateSite with * = %v", up)
			}

			// create, list with paging, delete
			for _, id := range []string{"gamma", "delta", "epsilon"} {
				must(e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: id, Site: &pb.Site{GridLimit: &pb.PhaseCurrents{L1: 1, L2: 1, L3: 1}}}))(t)
			}
			var names []string
			tok := ""
			for range 10 {
				resp := must(e.sites.ListSites(ctx, &pb.ListSitesRequest{PageSize: 2, PageToken: tok}))(t)
				if len(resp.Sites) > 2 {
					t.Fatalf("page of %d > page_size 2", len(resp.Sites))
				}
				for _, s := range resp.Sites {
					names = append(names, s.Name)
				}
				if tok = resp.NextPageToken; tok == "" {
					break
				}
			}
			wantNames := []string{"sites/alpha", "sites/beta", "sites/delta", "sites/epsilon", "sites/gamma"}
			if !equalStrings(names, wantNames) {
				t.Fatalf("ListSites pages = %v, want %v", names, wantNames)
			}
			gamma := must(e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/gamma"}))(t).GetSite()
			must(e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/gamma", Etag: gamma.Etag}))(t)
			_, err = e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/gamma"})
			want(t, err, codes.NotFound, "")
			// force deletes a site with children
			must(e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/alpha", Force: true}))(t)
			_, err = e.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: "sites/alpha/chargers/c1"})
			want(t, err, codes.NotFound, "")
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func changesOf(resp *pb.ApplySiteConfigResponse) map[string]pb.ChangeType {
	m := map[string]pb.ChangeType{}
	for _, c := range resp.GetChanges() {
		m[c.Name] = c.Type
	}
	return m
}

func TestApplySiteConfig(t *testing.T) {
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, f, envOpts{})
			ctx := as("admin")

			// Re-applying the seed changes nothing, password included.
			before := must(e.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/alpha/config"}))(t).GetConfig()
			resp := must(e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: alphaConfig()}))(t)
			for _, c := range resp.Changes {
				if c.Type != pb.ChangeType_CHANGE_TYPE_UNCHANGED {
					t.Errorf("re-apply: %s is %v, want unchanged", c.Name, c.Type)
				}
			}
			after := must(e.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/alpha/config"}))(t).GetConfig()
			if !proto.Equal(before, after) {
				t.Errorf("re-apply changed the config:\n%v\n%v", before, after)
			}
			if n := len(resp.Changes); n != 6 {
				t.Errorf("got %d changes, want 6 (site, 2 circuits, 1 charger, 2 limits)", n)
			}

			// Change one circuit, add a charger, drop ems1 from the list.
			cfg := alphaConfig()
			cfg.Circuits[1].Limit = &pb.PhaseCurrents{L1: 25, L2: 25, L3: 25}
			cfg.Chargers = append(cfg.Chargers, &pb.Charger{Name: "sites/alpha/chargers/c2", OcppIdentity: "CP-002",
				Evses: []*pb.Evse{{MaxCurrent: 11, Phases: 1}}})
			cfg.GridLimits = cfg.GridLimits[:1]

			// dry run: reports, stores nothing
			dry := must(e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: cfg, DryRun: true, Prune: true}))(t)
			ch := changesOf(dry)
			wantCh := map[string]pb.ChangeType{
				"sites/alpha":                 pb.ChangeType_CHANGE_TYPE_UNCHANGED,
				"sites/alpha/circuits/main":   pb.ChangeType_CHANGE_TYPE_UNCHANGED,
				"sites/alpha/circuits/sub":    pb.ChangeType_CHANGE_TYPE_UPDATED,
				"sites/alpha/chargers/c1":     pb.ChangeType_CHANGE_TYPE_UNCHANGED,
				"sites/alpha/chargers/c2":     pb.ChangeType_CHANGE_TYPE_CREATED,
				"sites/alpha/gridLimits/dso":  pb.ChangeType_CHANGE_TYPE_UNCHANGED,
				"sites/alpha/gridLimits/ems1": pb.ChangeType_CHANGE_TYPE_DELETED,
			}
			for n, w := range wantCh {
				if ch[n] != w {
					t.Errorf("dry run: %s = %v, want %v", n, ch[n], w)
				}
			}
			if got := dry.Changes[0].Name; got != "sites/alpha" {
				t.Errorf("first change is %s, want the site", got)
			}
			for _, c := range dry.Changes {
				if c.Name == "sites/alpha/circuits/sub" && !equalStrings(c.Fields, []string{"limit"}) {
					t.Errorf("sub changed fields = %v, want [limit]", c.Fields)
				}
			}
			now := must(e.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/alpha/config"}))(t).GetConfig()
			if !proto.Equal(now, after) {
				t.Fatal("dry run changed the stored config")
			}

			// without prune, ems1 stays
			resp = must(e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: cfg}))(t)
			if got := changesOf(resp)["sites/alpha/gridLimits/ems1"]; got != pb.ChangeType_CHANGE_TYPE_UNCHANGED {
				t.Errorf("no prune: ems1 = %v, want unchanged", got)
			}
			if n := len(resp.Config.GridLimits); n != 2 {
				t.Errorf("no prune: %d grid limits, want 2", n)
			}
			sub := must(e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/alpha/circuits/sub"}))(t).GetCircuit()
			if sub.Limit.L1 != 25 {
				t.Errorf("sub limit = %v, want 25", sub.Limit)
			}
			// with prune, it goes
			resp = must(e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: cfg, Prune: true}))(t)
			if got := changesOf(resp)["sites/alpha/gridLimits/ems1"]; got != pb.ChangeType_CHANGE_TYPE_DELETED {
				t.Errorf("prune: ems1 = %v, want deleted", got)
			}
			_, err := e.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/alpha/gridLimits/ems1"})
			want(t, err, codes.NotFound, "")

			// a new site, created whole
			gamma := alphaConfig()
			gamma.Site.Name = ""
			for _, c := range gamma.Circuits {
				c.Name = "sites/gamma/circuits/" + c.Name[len("sites/alpha/circuits/"):]
				if c.Parent != "" {
					c.Parent = "sites/gamma/circuits/main"
				}
			}
			gamma.Chargers[0].Name, gamma.Chargers[0].Circuit, gamma.Chargers[0].OcppIdentity = "sites/gamma/chargers/c1", "sites/gamma/circuits/sub", "CP-G1"
			gamma.GridLimits = nil
			resp = must(e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/gamma", Config: gamma}))(t)
			for _, c := range resp.Changes {
				if c.Type != pb.ChangeType_CHANGE_TYPE_CREATED {
					t.Errorf("new site: %s = %v, want created", c.Name, c.Type)
				}
			}
			c1 := must(e.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: "sites/gamma/chargers/c1"}))(t).GetCharger()
			if !c1.HasOcppPassword || c1.OcppPassword != "" {
				t.Errorf("charger password: has=%v input echoed=%q", c1.HasOcppPassword, c1.OcppPassword)
			}
			checkStoredPassword(t, e.store, site.ChargerRef{SiteID: "gamma", ChargerID: "c1"}, "correct-horse-battery")
		})
	}
}

func checkStoredPassword(t *testing.T, store site.Store, ref site.ChargerRef, pw string) {
	t.Helper()
	cfg, err := store.Config(context.Background(), ref.SiteID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Chargers {
		if c.ID == ref.ChargerID {
			ok, err := site.CheckPassword(c.PasswordHash, pw)
			if err != nil || !ok {
				t.Errorf("stored hash %q does not check against the password: %v", c.PasswordHash, err)
			}
			if c.PasswordHash == pw {
				t.Error("password stored in clear")
			}
			return
		}
	}
	t.Fatalf("charger %s not stored", ref)
}

func TestApplySiteConfigBadInput(t *testing.T) {
	mod := func(f func(c *pb.SiteConfig)) *pb.SiteConfig {
		c := alphaConfig()
		f(c)
		return c
	}
	apply := func(name string, cfg *pb.SiteConfig) func(ctx context.Context, e *env) error {
		return func(ctx context.Context, e *env) error {
			_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: name, Config: cfg})
			return err
		}
	}
	runCases(t, []callCase{
		{name: "bad name", call: apply("alpha", alphaConfig()), code: codes.InvalidArgument, field: "name"},
		{name: "no config", call: apply("sites/alpha", nil), code: codes.InvalidArgument, field: "config"},
		{name: "no site", call: apply("sites/alpha", &pb.SiteConfig{}), code: codes.InvalidArgument, field: "config.site"},
		{name: "site name differs", call: apply("sites/beta", alphaConfig()), code: codes.InvalidArgument, field: "config.site.name"},
		{name: "circuit in another site", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[0].Name = "sites/beta/circuits/main" })),
			code: codes.InvalidArgument, field: "config.circuits[0].name"},
		{name: "circuit without name", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[1].Name = "" })),
			code: codes.InvalidArgument, field: "config.circuits[1].name"},
		{name: "duplicate circuit", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[1].Name = c.Circuits[0].Name })),
			code: codes.InvalidArgument, field: "config.circuits[1].name"},
		{name: "unknown parent", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[1].Parent = "sites/alpha/circuits/nope" })),
			code: codes.InvalidArgument, field: "config.circuits[1].parent"},
		{name: "cycle", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[0].Parent = "sites/alpha/circuits/sub" })),
			code: codes.InvalidArgument, field: "config.circuits[0].parent"},
		{name: "child above parent", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[1].Limit.L2 = 64 })),
			code: codes.InvalidArgument, field: "config.circuits[1].limit.l2"},
		{name: "evse phases", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Chargers[0].Evses[1].Phases = 2 })),
			code: codes.InvalidArgument, field: "config.chargers[0].evses[1].phases"},
		{name: "evse out of order", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Chargers[0].Evses[1].EvseId = 5 })),
			code: codes.InvalidArgument, field: "config.chargers[0].evses[1].evse_id"},
		{name: "short password", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Chargers[0].OcppPassword = "short" })),
			code: codes.InvalidArgument, field: "config.chargers[0].ocpp_password"},
		{name: "bad rotation", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Chargers[0].PhaseRotation = 42 })),
			code: codes.InvalidArgument, field: "config.chargers[0].phase_rotation"},
		{name: "limit without source", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.GridLimits[0].Source = 0 })),
			code: codes.InvalidArgument, field: "config.grid_limits[0].source"},
		{name: "limit ends before start", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) {
			c.GridLimits[1].EndTime = c.GridLimits[1].StartTime
		})), code: codes.InvalidArgument, field: "config.grid_limits[1].end_time"},
		{name: "garbage etag", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[0].Etag = "x" })),
			code: codes.InvalidArgument, field: "config.circuits[0].etag"},
		{name: "stale etag", call: apply("sites/alpha", mod(func(c *pb.SiteConfig) { c.Circuits[0].Etag = "77" })),
			code: codes.Aborted},
		{name: "etag on a new site", call: apply("sites/gamma", mod(func(c *pb.SiteConfig) {
			c.Site.Name, c.Site.Etag, c.Circuits, c.Chargers, c.GridLimits = "", "1", nil, nil, nil
		})), code: codes.Aborted},
		{name: "identity taken by another site", call: func(ctx context.Context, e *env) error {
			c := &pb.SiteConfig{Site: &pb.Site{Name: "sites/beta", GridLimit: &pb.PhaseCurrents{L1: 100, L2: 100, L3: 100}},
				Chargers: []*pb.Charger{{Name: "sites/beta/chargers/x", OcppIdentity: "CP-001", Evses: []*pb.Evse{{MaxCurrent: 16, Phases: 3}}}}}
			_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/beta", Config: c})
			return err
		}, code: codes.AlreadyExists},
		{name: "identity taken by another site, dry run", call: func(ctx context.Context, e *env) error {
			c := &pb.SiteConfig{Site: &pb.Site{Name: "sites/beta", GridLimit: &pb.PhaseCurrents{L1: 100, L2: 100, L3: 100}},
				Chargers: []*pb.Charger{{Name: "sites/beta/chargers/x", OcppIdentity: "CP-001", Evses: []*pb.Evse{{MaxCurrent: 16, Phases: 3}}}}}
			_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/beta", Config: c, DryRun: true})
			return err
		}, code: codes.AlreadyExists},
		{name: "identity moves between chargers of the site", call: func(ctx context.Context, e *env) error {
			c := alphaConfig()
			c.Chargers[0].Name = "sites/alpha/chargers/c1-new"
			_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c, Prune: true})
			return err
		}, code: codes.OK},
	})
}
