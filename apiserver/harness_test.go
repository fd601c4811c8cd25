package apiserver

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	_ "time/tzdata" // validation must not depend on the machine's zoneinfo

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Test tokens: the token is the role's name with a suffix; the config holds
// only their hashes.
var testTokens = []struct {
	token string
	entry TokenEntry
}{
	{"tok-admin", TokenEntry{Name: "admin", Role: RoleAdmin, Sites: []string{AllSites}}},
	{"tok-owner", TokenEntry{Name: "owner", Role: RoleSiteOwner, Sites: []string{"alpha"}}},
	{"tok-viewer", TokenEntry{Name: "viewer", Role: RoleViewer, Sites: []string{"alpha"}}},
	{"tok-ems", TokenEntry{Name: "ems", Role: RoleEMS, Sites: []string{"alpha"}}},
	{"tok-csms", TokenEntry{Name: "csms", Role: RoleCSMS, Sites: []string{"alpha"}}},
	{"tok-owner-beta", TokenEntry{Name: "owner-beta", Role: RoleSiteOwner, Sites: []string{"beta"}}},
	{"tok-admin-beta", TokenEntry{Name: "admin-beta", Role: RoleAdmin, Sites: []string{"beta"}}},
}

func testAuth(insecureLocal bool) AuthConfig {
	a := AuthConfig{InsecureLocal: insecureLocal}
	for _, tt := range testTokens {
		e := tt.entry
		e.SHA256 = HashToken(tt.token)
		a.Tokens = append(a.Tokens, e)
	}
	return a
}

// storeFactory makes an empty store for one test; the Redis variants are
// added in redis_test.go.
type storeFactory struct {
	name string
	make func(t *testing.T, clock site.Clock) site.Store
}

var memFactory = storeFactory{"mem", func(t *testing.T, clock site.Clock) site.Store { return newMemStore(clock) }}

// env is one server on a real listener with clients.
type env struct {
	t        *testing.T
	store    site.Store
	clock    *fakeClock
	sites    pb.SiteServiceClient
	circuits pb.CircuitServiceClient
	chargers pb.ChargerServiceClient
	limits   pb.GridLimitServiceClient
	alloc    pb.AllocationServiceClient
	// loop is the fake control loop behind the server (nil with
	// envOpts.noLoop).
	loop *fakeLoop
}

type envOpts struct {
	insecureLocal bool
	noSeed        bool
	// noLoop runs the server without a control loop.
	noLoop bool
}

func newEnv(t *testing.T, f storeFactory, o envOpts) *env {
	t.Helper()
	clock := &fakeClock{t: t0}
	store := f.make(t, clock)
	opts := &Options{Auth: testAuth(o.insecureLocal), Clock: clock}
	var loop *fakeLoop
	if !o.noLoop {
		loop = newFakeLoop()
		opts.Allocations, opts.Loop = loop, loop
	}
	srv := New(store, opts)
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		<-done
		store.Close()
	})
	e := &env{
		t: t, store: store, clock: clock,
		sites:    pb.NewSiteServiceClient(conn),
		circuits: pb.NewCircuitServiceClient(conn),
		chargers: pb.NewChargerServiceClient(conn),
		limits:   pb.NewGridLimitServiceClient(conn),
		alloc:    pb.NewAllocationServiceClient(conn),
		loop:     loop,
	}
	if !o.noSeed {
		e.seed()
		if loop != nil {
			loop.Publish(alphaView(1))
			loop.ResetTriggers()
		}
	}
	return e
}

// as returns a context carrying the token of a test principal ("" for
// none).
func as(name string) context.Context {
	ctx := context.Background()
	for _, tt := range testTokens {
		if tt.entry.Name == name {
			return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tt.token)
		}
	}
	if name != "" {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+name)
	}
	return ctx
}

// Fixture: site alpha with circuits main (63 A) and sub (32 A under main),
// charger c1 on sub with two EVSEs, grid limits dso (grid operator, 50 A)
// and ems1 (EMS, 40 A on L1 from t0+1h); site beta with nothing.
func alphaConfig() *pb.SiteConfig {
	return &pb.SiteConfig{
		Site: &pb.Site{Name: "sites/alpha", DisplayName: "Alpha depot", TimeZone: "Europe/Berlin",
			NominalVoltage: 230, GridLimit: &pb.PhaseCurrents{L1: 63, L2: 63, L3: 63}, GridPowerLimitKw: 43},
		Circuits: []*pb.Circuit{
			{Name: "sites/alpha/circuits/main", Limit: &pb.PhaseCurrents{L1: 63, L2: 63, L3: 63}},
			{Name: "sites/alpha/circuits/sub", Parent: "sites/alpha/circuits/main", Limit: &pb.PhaseCurrents{L1: 32, L2: 32, L3: 32}},
		},
		Chargers: []*pb.Charger{{
			Name: "sites/alpha/chargers/c1", DisplayName: "Bay 1", OcppIdentity: "CP-001",
			Circuit: "sites/alpha/circuits/sub", PhaseRotation: pb.PhaseRotation_PHASE_ROTATION_RST,
			Evses:        []*pb.Evse{{EvseId: 1, MaxCurrent: 16, Phases: 3}, {EvseId: 2, MaxCurrent: 32, MinCurrent: 8, Phases: 3, CanSwitchPhases: true}},
			OcppPassword: "correct-horse-battery",
		}},
		GridLimits: []*pb.GridLimit{
			{Name: "sites/alpha/gridLimits/dso", Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR,
				Limit: &pb.PhaseCurrents{L1: 50, L2: 50, L3: 50}, Reason: "DSO §14a"},
			{Name: "sites/alpha/gridLimits/ems1", Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS,
				Limit: &pb.PhaseCurrents{L1: 40, L2: 63, L3: 63}, StartTime: timestamppb.New(t0.Add(time.Hour)), Reason: "battery low"},
		},
	}
}

func (e *env) seed() {
	e.t.Helper()
	if _, err := e.sites.ApplySiteConfig(as("admin"), &pb.ApplySiteConfigRequest{Name: "sites/alpha", Config: alphaConfig()}); err != nil {
		e.t.Fatalf("seed alpha: %v", err)
	}
	if _, err := e.sites.CreateSite(as("admin"), &pb.CreateSiteRequest{SiteId: "beta",
		Site: &pb.Site{TimeZone: "UTC", GridLimit: &pb.PhaseCurrents{L1: 100, L2: 100, L3: 100}}}); err != nil {
		e.t.Fatalf("seed beta: %v", err)
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// want checks err's code, its ErrorInfo, and for INVALID_ARGUMENT that a
// BadRequest names field (field "" skips that check).
func want(t *testing.T, err error, code codes.Code, field string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("code = %v (%v), want %v", st.Code(), err, code)
	}
	if code == codes.OK {
		return
	}
	var info *errdetails.ErrorInfo
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			br = d
		}
	}
	if info == nil || info.Domain != ErrorDomain || info.Reason == "" || strings.ToUpper(info.Reason) != info.Reason {
		t.Errorf("ErrorInfo = %v, want domain %q and an UPPER_SNAKE reason", info, ErrorDomain)
	}
	if code != codes.InvalidArgument {
		return
	}
	if br == nil || len(br.FieldViolations) == 0 {
		t.Fatalf("INVALID_ARGUMENT without BadRequest violations: %v", err)
	}
	if field == "" {
		return
	}
	var got []string
	for _, v := range br.FieldViolations {
		if v.Description == "" {
			t.Errorf("violation of %q has no description", v.Field)
		}
		if v.Field == field {
			return
		}
		got = append(got, v.Field)
	}
	t.Errorf("BadRequest names %q, want %q (%v)", got, field, err)
}

// must fails the test on err: must(client.Call(ctx, req))(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// peerContext is an incoming-call context from addr.
func peerContext(addr net.Addr) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: addr})
}
