package apiserver

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

// rpc is one call of every RPC on site alpha that succeeds for a caller
// allowed to make it. src is a grid limit source the caller may write and
// lim a limit of that source to change.
type rpc struct {
	name string
	act  action
	call func(ctx context.Context, e *env, src pb.GridLimitSource, lim string) error
}

var allRPCs = []rpc{
	{"GetSite", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/alpha"})
		return err
	}},
	{"ListSites", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.sites.ListSites(ctx, &pb.ListSitesRequest{})
		return err
	}},
	{"CreateSite", actAdmin, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.sites.CreateSite(ctx, &pb.CreateSiteRequest{SiteId: "alpha2", Site: &pb.Site{GridLimit: pc(10)}})
		return err
	}},
	{"UpdateSite", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", DisplayName: "x"}})
		return err
	}},
	{"DeleteSite", actAdmin, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: "sites/alpha", Force: true})
		return err
	}},
	{"GetSiteConfig", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/alpha/config"})
		return err
	}},
	{"ApplySiteConfig", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		c := alphaConfig()
		c.Site.DisplayName = "applied"
		_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c})
		return err
	}},
	{"GetCircuit", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/alpha/circuits/main"})
		return err
	}},
	{"ListCircuits", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "sites/alpha"})
		return err
	}},
	{"CreateCircuit", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "new", Circuit: &pb.Circuit{Limit: pc(5)}})
		return err
	}},
	{"UpdateCircuit", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{Circuit: &pb.Circuit{Name: "sites/alpha/circuits/main", DisplayName: "x"}})
		return err
	}},
	{"DeleteCircuit", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		// a leaf circuit to delete, made by the admin (it may exist already)
		_, _ = e.circuits.CreateCircuit(as("admin"), &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "leaf", Circuit: &pb.Circuit{Limit: pc(5)}})
		_, err := e.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: "sites/alpha/circuits/leaf"})
		return err
	}},
	{"GetCharger", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: "sites/alpha/chargers/c1"})
		return err
	}},
	{"ListChargers", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.chargers.ListChargers(ctx, &pb.ListChargersRequest{Parent: "sites/alpha"})
		return err
	}},
	{"CreateCharger", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c9",
			Charger: &pb.Charger{OcppIdentity: "CP-9", Evses: evses(16)}})
		return err
	}},
	{"UpdateCharger", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{Charger: &pb.Charger{Name: "sites/alpha/chargers/c1", DisplayName: "x"}})
		return err
	}},
	{"DeleteCharger", actWriteConfig, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.chargers.DeleteCharger(ctx, &pb.DeleteChargerRequest{Name: "sites/alpha/chargers/c1"})
		return err
	}},
	{"GetGridLimit", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/alpha/gridLimits/dso"})
		return err
	}},
	{"ListGridLimits", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.limits.ListGridLimits(ctx, &pb.ListGridLimitsRequest{Parent: "sites/alpha"})
		return err
	}},
	{"CreateGridLimit", actWriteLimits, func(ctx context.Context, e *env, src pb.GridLimitSource, _ string) error {
		_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "new",
			GridLimit: &pb.GridLimit{Source: src, PowerLimitKw: 10}})
		return err
	}},
	{"UpdateGridLimit", actWriteLimits, func(ctx context.Context, e *env, _ pb.GridLimitSource, lim string) error {
		_, err := e.limits.UpdateGridLimit(ctx, &pb.UpdateGridLimitRequest{GridLimit: &pb.GridLimit{Name: lim, Reason: "x"}})
		return err
	}},
	{"DeleteGridLimit", actWriteLimits, func(ctx context.Context, e *env, _ pb.GridLimitSource, lim string) error {
		_, err := e.limits.DeleteGridLimit(ctx, &pb.DeleteGridLimitRequest{Name: lim})
		return err
	}},
	{"SetGridLimit", actWriteLimits, func(ctx context.Context, e *env, src pb.GridLimitSource, _ string) error {
		_, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/set", Source: src, PowerLimitKw: 10}})
		return err
	}},
	{"GetEffectiveGridLimit", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.limits.GetEffectiveGridLimit(ctx, &pb.GetEffectiveGridLimitRequest{Name: "sites/alpha/effectiveGridLimit"})
		return err
	}}, {"GetAllocation", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.alloc.GetAllocation(ctx, &pb.GetAllocationRequest{Name: "sites/alpha/allocation"})
		return err
	}},
	{"WatchAllocation", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := e.alloc.WatchAllocation(ctx, &pb.WatchAllocationRequest{Name: "sites/alpha/allocation"})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}},
	{"ExplainAllocation", actRead, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.alloc.ExplainAllocation(ctx, &pb.ExplainAllocationRequest{Name: "sites/alpha/chargers/c1"})
		return err
	}},
	{"ReportMeterReading", actReportMeter, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.alloc.ReportMeterReading(ctx, &pb.ReportMeterReadingRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(20)}})
		return err
	}},
	{"StreamMeterReadings", actReportMeter, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		st, err := e.alloc.StreamMeterReadings(ctx)
		if err != nil {
			return err
		}
		// Send fails with io.EOF when the server ended the call already;
		// CloseAndRecv gives its status.
		if err := st.Send(&pb.StreamMeterReadingsRequest{Name: "sites/alpha", Reading: &pb.MeterReading{Current: pc(20)}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = st.CloseAndRecv()
		return err
	}},
	{"SetChargingNeeds", actSetNeeds, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.alloc.SetChargingNeeds(ctx, &pb.SetChargingNeedsRequest{Name: "sites/alpha/chargers/c1/evses/1", Needs: &pb.ChargingNeeds{EnergyKwh: 20}})
		return err
	}},
	{"SetPriority", actSetNeeds, func(ctx context.Context, e *env, _ pb.GridLimitSource, _ string) error {
		_, err := e.alloc.SetPriority(ctx, &pb.SetPriorityRequest{Name: "sites/alpha/chargers/c1", Priority: 2})
		return err
	}},
}

// TestRPCTableCoversAPI: every RPC of every service is in the method table
// (else it is refused for all) and in allRPCs (else untested here).
func TestRPCTableCoversAPI(t *testing.T) {
	tested := map[string]bool{}
	for _, r := range allRPCs {
		tested[r.name] = true
	}
	for _, sd := range []grpc.ServiceDesc{pb.SiteService_ServiceDesc, pb.CircuitService_ServiceDesc, pb.ChargerService_ServiceDesc,
		pb.GridLimitService_ServiceDesc, pb.AllocationService_ServiceDesc} {
		names := []string{}
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, m := range sd.Streams {
			names = append(names, m.StreamName)
		}
		for _, m := range names {
			full := "/" + sd.ServiceName + "/" + m
			if _, ok := methodActions[full]; !ok {
				t.Errorf("%s is missing from methodActions", full)
			}
			if !tested[m] {
				t.Errorf("%s is missing from allRPCs", m)
			}
		}
	}
}

func sourceFor(role Role) (pb.GridLimitSource, string) {
	if role == RoleEMS {
		return pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, "sites/alpha/gridLimits/ems1"
	}
	return pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, "sites/alpha/gridLimits/dso"
}

// TestRoleMatrix calls every RPC as every role on its own site; the
// expected code comes from the documented matrix, not from the code under
// test: read (allocations and their watch too) for all; config for
// site-owner and admin; grid limits for ems, site-owner and admin; meter
// readings for ems and admin; charging needs and priorities for
// site-owner and admin; create/delete site for admin only.
func TestRoleMatrix(t *testing.T) {
	allowed := map[Role]map[action]bool{
		RoleViewer:    {actRead: true},
		RoleCSMS:      {actRead: true},
		RoleEMS:       {actRead: true, actWriteLimits: true, actReportMeter: true},
		RoleSiteOwner: {actRead: true, actWriteConfig: true, actWriteLimits: true, actSetNeeds: true},
		RoleAdmin:     {actRead: true, actWriteConfig: true, actWriteLimits: true, actAdmin: true, actReportMeter: true, actSetNeeds: true},
	}
	names := map[Role]string{RoleViewer: "viewer", RoleCSMS: "csms", RoleEMS: "ems", RoleSiteOwner: "owner", RoleAdmin: "admin"}
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			for role, who := range names {
				for _, r := range allRPCs {
					t.Run(string(role)+"/"+r.name, func(t *testing.T) {
						e := newEnv(t, f, envOpts{})
						src, lim := sourceFor(role)
						code := codes.PermissionDenied
						if allowed[role][r.act] {
							code = codes.OK
						}
						want(t, r.call(as(who), e, src, lim), code, "")
					})
				}
			}
		})
	}
}

// TestForeignSite: a token for beta never touches alpha, whatever its
// role, and ListSites shows only what a token may see.
func TestForeignSite(t *testing.T) {
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			for _, who := range []string{"owner-beta", "admin-beta"} {
				for _, r := range allRPCs {
					if r.name == "ListSites" || r.name == "CreateSite" {
						continue
					}
					t.Run(who+"/"+r.name, func(t *testing.T) {
						e := newEnv(t, f, envOpts{})
						src, lim := sourceFor(RoleAdmin)
						want(t, r.call(as(who), e, src, lim), codes.PermissionDenied, "")
					})
				}
			}
			e := newEnv(t, f, envOpts{})
			// admin-beta may create sites, but only beta
			_, err := e.sites.CreateSite(as("admin-beta"), &pb.CreateSiteRequest{SiteId: "gamma", Site: &pb.Site{GridLimit: pc(1)}})
			want(t, err, codes.PermissionDenied, "")
			for _, c := range []struct {
				who  string
				want []string
			}{
				{"admin", []string{"sites/alpha", "sites/beta"}},
				{"owner", []string{"sites/alpha"}},
				{"owner-beta", []string{"sites/beta"}},
			} {
				resp := must(e.sites.ListSites(as(c.who), &pb.ListSitesRequest{PageSize: 1}))(t)
				var got []string
				for _, s := range resp.Sites {
					got = append(got, s.Name)
				}
				for resp.NextPageToken != "" {
					resp = must(e.sites.ListSites(as(c.who), &pb.ListSitesRequest{PageSize: 1, PageToken: resp.NextPageToken}))(t)
					for _, s := range resp.Sites {
						got = append(got, s.Name)
					}
				}
				if !equalStrings(got, c.want) {
					t.Errorf("ListSites as %s = %v, want %v", c.who, got, c.want)
				}
			}
		})
	}
}

// TestLimitSources: who may write which grid limit sources.
func TestLimitSources(t *testing.T) {
	set := func(src pb.GridLimitSource, name string) func(ctx context.Context, e *env) error {
		return func(ctx context.Context, e *env) error {
			_, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: name, Source: src, PowerLimitKw: 5}})
			return err
		}
	}
	del := func(name string) func(ctx context.Context, e *env) error {
		return func(ctx context.Context, e *env) error {
			_, err := e.limits.DeleteGridLimit(ctx, &pb.DeleteGridLimitRequest{Name: name})
			return err
		}
	}
	const (
		owner = pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER
		ems   = pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS
		dso   = pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR
	)
	runCases(t, []callCase{
		{name: "ems sets EMS", who: "ems", call: set(ems, "sites/alpha/gridLimits/e2"), code: codes.OK},
		{name: "ems may not set OWNER", who: "ems", call: set(owner, "sites/alpha/gridLimits/e3"), code: codes.PermissionDenied},
		{name: "ems may not overwrite the DSO's limit", who: "ems", call: set(ems, "sites/alpha/gridLimits/dso"), code: codes.PermissionDenied},
		{name: "ems may not delete the DSO's limit", who: "ems", call: del("sites/alpha/gridLimits/dso"), code: codes.PermissionDenied},
		{name: "owner sets GRID_OPERATOR", who: "owner", call: set(dso, "sites/alpha/gridLimits/o2"), code: codes.OK},
		{name: "owner may not set EMS", who: "owner", call: set(ems, "sites/alpha/gridLimits/o3"), code: codes.PermissionDenied},
		{name: "owner may not delete the EMS's limit", who: "owner", call: del("sites/alpha/gridLimits/ems1"), code: codes.PermissionDenied},
		{name: "owner may not turn an EMS limit into its own", who: "owner", call: set(owner, "sites/alpha/gridLimits/ems1"), code: codes.PermissionDenied},
		{name: "owner's apply may not change an EMS limit", who: "owner", call: func(ctx context.Context, e *env) error {
			c := alphaConfig()
			c.GridLimits[1].Reason = "owner edit"
			_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c})
			return err
		}, code: codes.PermissionDenied},
		{name: "owner's apply with prune keeps EMS limits", who: "owner", call: func(ctx context.Context, e *env) error {
			c := alphaConfig()
			c.GridLimits = nil
			resp, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c, Prune: true})
			if err == nil {
				ch := changesOf(resp)
				if ch["sites/alpha/gridLimits/ems1"] != pb.ChangeType_CHANGE_TYPE_UNCHANGED || ch["sites/alpha/gridLimits/dso"] != pb.ChangeType_CHANGE_TYPE_DELETED {
					t.Errorf("changes = %v", ch)
				}
			}
			return err
		}, code: codes.OK},
		{name: "owner may not create a site by apply", who: "owner", call: func(ctx context.Context, e *env) error {
			c := &pb.SiteConfig{Site: &pb.Site{GridLimit: pc(100)}}
			_, err := e.sites.ApplySiteConfig(ctx, &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: c, DryRun: true})
			if err != nil {
				return err
			}
			_, err = e.sites.ApplySiteConfig(as("admin"), &pb.ApplySiteConfigRequest{Name: "sites/zeta", Config: c})
			if err != nil {
				t.Fatalf("admin apply of a new site: %v", err)
			}
			_, err = e.sites.ApplySiteConfig(as("owner-beta"), &pb.ApplySiteConfigRequest{Name: "sites/beta2", Config: c})
			return err
		}, code: codes.PermissionDenied},
	})
}

// TestUnauthenticated: no token, a bad token and a malformed header are
// refused on every RPC; InsecureLocal lets header-less calls from loopback
// (and Unix sockets) in as admin, never bad tokens.
func TestUnauthenticated(t *testing.T) {
	for _, f := range factories(t)[:1] {
		e := newEnv(t, f, envOpts{})
		headers := []struct {
			name string
			ctx  context.Context
		}{
			{"no token", context.Background()},
			{"unknown token", as("tok-nope")},
			{"basic scheme", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Basic dG9rLWFkbWlu")},
			{"empty bearer", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer ")},
			{"two headers", metadata.AppendToOutgoingContext(as("admin"), "authorization", "Bearer tok-admin")},
		}
		for _, h := range headers {
			for _, r := range allRPCs {
				t.Run(h.name+"/"+r.name, func(t *testing.T) {
					want(t, r.call(h.ctx, e, pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, "sites/alpha/gridLimits/dso"), codes.Unauthenticated, "")
				})
			}
		}
	}

	t.Run("insecure-local loopback", func(t *testing.T) {
		e := newEnv(t, memFactory, envOpts{insecureLocal: true})
		for _, r := range allRPCs {
			t.Run(r.name, func(t *testing.T) {
				want(t, r.call(context.Background(), newEnv(t, memFactory, envOpts{insecureLocal: true}), pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, "sites/alpha/gridLimits/dso"), codes.OK, "")
			})
		}
		_, err := e.sites.GetSite(as("tok-nope"), &pb.GetSiteRequest{Name: "sites/alpha"})
		want(t, err, codes.Unauthenticated, "")
		// a valid token still counts with its own rights
		_, err = e.sites.GetSite(as("owner-beta"), &pb.GetSiteRequest{Name: "sites/alpha"})
		want(t, err, codes.PermissionDenied, "")
	})

	t.Run("insecure-local unix socket", func(t *testing.T) {
		srv := New(newMemStore(&fakeClock{t: t0}), &Options{Auth: AuthConfig{InsecureLocal: true}})
		gs := grpc.NewServer(srv.ServerOptions()...)
		srv.Register(gs)
		sock := filepath.Join(t.TempDir(), "api.sock")
		lis, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go gs.Serve(lis)
		defer gs.Stop()
		conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = pb.NewSiteServiceClient(conn).ListSites(context.Background(), &pb.ListSitesRequest{})
		want(t, err, codes.OK, "")
	})

	t.Run("insecure-local not from a remote peer", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			addr  net.Addr
			local bool
		}{
			{"loopback v4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, true},
			{"loopback v6", &net.TCPAddr{IP: net.IPv6loopback}, true},
			{"lan", &net.TCPAddr{IP: net.IPv4(192, 168, 1, 5)}, false},
			{"public v6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1")}, false},
			{"unix", &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				a, _ := newAuthenticator(&AuthConfig{InsecureLocal: true})
				_, err := a.authenticate(peerContext(c.addr))
				if (err == nil) != c.local {
					t.Errorf("authenticate from %v: err = %v, want local=%v", c.addr, err, c.local)
				}
			})
		}
	})

	t.Run("no interceptors installed", func(t *testing.T) {
		srv := New(newMemStore(&fakeClock{t: t0}), &Options{Auth: testAuth(true)})
		gs := grpc.NewServer() // the daemon forgot ServerOptions
		srv.Register(gs)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go gs.Serve(lis)
		defer gs.Stop()
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = pb.NewSiteServiceClient(conn).GetSite(as("admin"), &pb.GetSiteRequest{Name: "sites/alpha"})
		want(t, err, codes.Unauthenticated, "")
	})
}

func TestAuthConfigValidate(t *testing.T) {
	good := TokenEntry{Name: "a", SHA256: HashToken("x"), Role: RoleViewer, Sites: []string{"alpha"}}
	mod := func(f func(*TokenEntry)) []TokenEntry { e := good; f(&e); return []TokenEntry{e} }
	cases := []struct {
		name    string
		tokens  []TokenEntry
		wantErr bool
	}{
		{"ok", []TokenEntry{good}, false},
		{"all sites", mod(func(e *TokenEntry) { e.Sites = []string{AllSites} }), false},
		{"no name", mod(func(e *TokenEntry) { e.Name = "" }), true},
		{"short hash", mod(func(e *TokenEntry) { e.SHA256 = "abcd" }), true},
		{"token instead of hash", mod(func(e *TokenEntry) { e.SHA256 = "my-secret-token" }), true},
		{"unknown role", mod(func(e *TokenEntry) { e.Role = "root" }), true},
		{"no sites", mod(func(e *TokenEntry) { e.Sites = nil }), true},
		{"bad site", mod(func(e *TokenEntry) { e.Sites = []string{"Alpha"} }), true},
		{"duplicate hash", []TokenEntry{good, good}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := (&AuthConfig{Tokens: c.tokens}).Validate()
			if (err != nil) != c.wantErr {
				t.Errorf("Validate = %v, want error %v", err, c.wantErr)
			}
		})
	}
	// an invalid entry never matches
	a, skipped := newAuthenticator(&AuthConfig{Tokens: mod(func(e *TokenEntry) { e.Role = "root" })})
	if len(skipped) != 1 || len(a.tokens) != 0 {
		t.Errorf("invalid entry kept: %v", skipped)
	}
}
