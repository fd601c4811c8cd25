package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

func TestToStatus(t *testing.T) {
	ve := &site.ValidationError{}
	ve.Add("site.grid_limit.l1", "must be above 0")
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"validation", fmt.Errorf("store: %w", ve), codes.InvalidArgument, ReasonInvalidArgument},
		{"invalid without violations", fmt.Errorf("x: %w", site.ErrInvalid), codes.InvalidArgument, ReasonInvalidArgument},
		{"not found", fmt.Errorf("redis: %w", site.ErrNotFound), codes.NotFound, ReasonNotFound},
		{"already exists", alreadyExists("sites/a"), codes.AlreadyExists, ReasonAlreadyExists},
		{"conflict", fmt.Errorf("redis: %w", site.ErrConflict), codes.Aborted, ReasonEtagMismatch},
		{"precondition", precondition("sites/a/circuits/b", "has children"), codes.FailedPrecondition, ReasonFailedPrecondition},
		{"unavailable", fmt.Errorf("redis: dial: %w", site.ErrUnavailable), codes.Unavailable, ReasonUnavailable},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), codes.Canceled, ReasonCanceled},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ReasonDeadlineExceeded},
		{"unauthenticated", unauthenticated("no token"), codes.Unauthenticated, ReasonUnauthenticated},
		{"denied", denied(ReasonSiteNotAllowed, "no"), codes.PermissionDenied, ReasonSiteNotAllowed},
		{"unknown", errors.New("boom: secret detail"), codes.Internal, ReasonInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := toStatus(context.Background(), slog.New(slog.DiscardHandler), "/m", c.err)
			st := status.Convert(err)
			if st.Code() != c.code {
				t.Fatalf("code %v, want %v", st.Code(), c.code)
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil || info.Reason != c.reason || info.Domain != ErrorDomain {
				t.Fatalf("ErrorInfo %v, want reason %s", info, c.reason)
			}
			if c.code == codes.Internal && st.Message() != "internal error" {
				t.Errorf("internal error leaks %q", st.Message())
			}
			// a status passes through unchanged
			if again := toStatus(context.Background(), slog.New(slog.DiscardHandler), "/m", err); again != err {
				t.Error("status error was mapped twice")
			}
		})
	}
}

func TestRelocate(t *testing.T) {
	cfg := &site.Config{Site: site.Site{ID: "s"}, Circuits: []site.Circuit{{ID: "a"}, {ID: "b"}}}
	cases := []struct {
		name      string
		field     string
		loc       locator
		wantField string
		wantRule  string
	}{
		{"target circuit", "circuits[1].limit.l1", only("circuits", 1, "circuit"), "circuit.limit.l1", "r"},
		{"sibling circuit", "circuits[0].limit.l1", only("circuits", 1, "circuit"), "circuit", "sites/s/circuits/a: limit.l1: r"},
		{"site field", "site.grid_limit.l2", only("site", 0, "site"), "site.grid_limit.l2", "r"},
		{"bare site field", "time_zone", only("site", 0, "site"), "site.time_zone", "r"},
		{"id becomes name", "circuits[1].id", only("circuits", 1, "circuit"), "circuit.name", "r"},
		{"site id becomes name", "site.id", only("site", 0, "site"), "site.name", "r"},
		{"store's limits[i]", "limits[0].end_time", only("grid_limits", 0, "grid_limit"), "grid_limit.end_time", "r"},
		{"apply", "chargers[2].evses[0].phases", func(k string, i int) (string, bool) { return fmt.Sprintf("config.%s[%d]", k, i), true },
			"config.chargers[2].evses[0].phases", "r"},
		{"whole collection", "circuits", only("circuits", 0, "circuit"), "circuit", "circuits: r"},
		{"no field", "", only("circuits", 0, "circuit"), "circuit", "r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ve := &site.ValidationError{}
			ve.Add(c.field, "r")
			var got *site.ValidationError
			if !errors.As(relocate(ve, cfg, c.loc, "circuit"), &got) || len(got.Violations) != 1 {
				t.Fatalf("relocate lost the violation")
			}
			v := got.Violations[0]
			if v.Field != c.wantField || v.Rule != c.wantRule {
				t.Errorf("got %q: %q, want %q: %q", v.Field, v.Rule, c.wantField, c.wantRule)
			}
		})
	}
}

// TestUnavailable: a store that cannot be reached gives UNAVAILABLE
// (retryable), on the fake and with a real redis-server killed under the
// server.
func TestUnavailable(t *testing.T) {
	t.Run("mem", func(t *testing.T) {
		e := newEnv(t, memFactory, envOpts{})
		e.store.(*memStore).down.Store(true)
		for _, r := range allRPCs {
			t.Run(r.name, func(t *testing.T) {
				want(t, r.call(as("admin"), e, pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, "sites/alpha/gridLimits/dso"), codes.Unavailable, "")
			})
		}
	})
	t.Run("redis-server killed", func(t *testing.T) {
		srv := redistest.StartServer(t, nil)
		f := storeFactory{"redis", func(t *testing.T, clock site.Clock) site.Store {
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1}), &redisstore.Options{Clock: clock, MaxAttempts: 1})
			if _, err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return s
		}}
		e := newEnv(t, f, envOpts{})
		srv.Kill()
		for _, name := range []string{"GetSite", "UpdateSite", "ListChargers", "SetGridLimit"} {
			for _, r := range allRPCs {
				if r.name == name {
					want(t, r.call(as("admin"), e, pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, "sites/alpha/gridLimits/dso"), codes.Unavailable, "")
				}
			}
		}
	})
}

// TestStreamInterceptor: streaming calls are authenticated too (the API
// has no streams yet; the health service's Watch stands in).
func TestStreamInterceptor(t *testing.T) {
	auth := testAuth(false)
	auth.PublicMethods = []string{healthpb.Health_Check_FullMethodName, pb.SiteService_GetSite_FullMethodName}
	srv := New(newMemStore(&fakeClock{t: t0}), &Options{Auth: auth})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	healthpb.RegisterHealthServer(gs, health.NewServer())
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
	hc := healthpb.NewHealthClient(conn)
	// Check is public; GetSite cannot be made public.
	_, err = hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
	want(t, err, codes.OK, "")
	_, err = pb.NewSiteServiceClient(conn).GetSite(context.Background(), &pb.GetSiteRequest{Name: "sites/alpha"})
	want(t, err, codes.Unauthenticated, "")
	if err := auth.Validate(); err == nil {
		t.Error("Validate accepts a public smartcharge.v1 method")
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"no token", context.Background(), codes.Unauthenticated},
		{"viewer", as("viewer"), codes.OK},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(c.ctx)
			defer cancel()
			st, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = st.Recv()
			}
			want(t, err, c.code, "")
		})
	}
}
