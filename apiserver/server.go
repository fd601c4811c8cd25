package apiserver

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// Options configure a Server; the zero value (or nil) means no tokens, the
// system clock, no logging and no control loop.
type Options struct {
	// Auth says who may call. With no tokens and InsecureLocal off every
	// call is refused with UNAUTHENTICATED.
	Auth AuthConfig
	// Clock tells the time for grid limits' "active" and the effective
	// limit; nil means the system clock.
	Clock site.Clock
	// Logger gets a line per failed call (debug) and internal errors
	// (error); nil discards.
	Logger *slog.Logger
	// Allocations gives the control loop's decisions to GetAllocation,
	// WatchAllocation and ExplainAllocation; nil makes them fail with
	// FAILED_PRECONDITION (NO_CONTROL_LOOP).
	Allocations site.AllocationReader
	// Loop takes meter readings, charging needs and priorities, and is
	// triggered after every change of a site's configuration or grid
	// limits made through the API; nil makes those RPCs fail with
	// FAILED_PRECONDITION (NO_CONTROL_LOOP) and skips the triggers.
	Loop site.LoopController
	// Delegation carries DelegationService (package delegate's Hub); nil
	// makes its RPCs fail with FAILED_PRECONDITION (NO_DELEGATION).
	Delegation DelegationHub
}

var (
	_ pb.SiteServiceServer       = (*siteService)(nil)
	_ pb.CircuitServiceServer    = (*circuitService)(nil)
	_ pb.ChargerServiceServer    = (*chargerService)(nil)
	_ pb.GridLimitServiceServer  = (*gridLimitService)(nil)
	_ pb.AllocationServiceServer = (*allocationService)(nil)
	_ pb.DelegationServiceServer = (*delegationService)(nil)
)

// Server implements the smartcharge.v1 services on a site.Store.
type Server struct {
	store site.Store
	clock site.Clock
	log   *slog.Logger
	auth  *authenticator
	alloc site.AllocationReader // nil: no control loop
	loop  site.LoopController   // nil: no control loop

	delegation DelegationHub // nil: no delegation
}

// New returns a server on store. Invalid token entries (see
// AuthConfig.Validate) are logged and never match; callers should
// validate the config first.
func New(store site.Store, opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{store: store, clock: opts.Clock, log: opts.Logger, alloc: opts.Allocations, loop: opts.Loop, delegation: opts.Delegation}
	if s.clock == nil {
		s.clock = site.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var skipped []error
	s.auth, skipped = newAuthenticator(&opts.Auth)
	for _, err := range skipped {
		s.log.Warn("apiserver: ignoring token entry", slog.Any("err", err))
	}
	return s
}

// ServerOptions returns the interceptors that authenticate every call; pass
// them to grpc.NewServer together with the transport credentials:
//
//	gs := grpc.NewServer(append(srv.ServerOptions(), grpc.Creds(tlsCreds))...)
//	srv.Register(gs)
//
// Without them every call fails with UNAUTHENTICATED.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
}

// Register registers SiteService, CircuitService, ChargerService,
// GridLimitService, AllocationService and DelegationService on gs.
func (s *Server) Register(gs *grpc.Server) {
	pb.RegisterSiteServiceServer(gs, &siteService{Server: s})
	pb.RegisterCircuitServiceServer(gs, &circuitService{Server: s})
	pb.RegisterChargerServiceServer(gs, &chargerService{Server: s})
	pb.RegisterGridLimitServiceServer(gs, &gridLimitService{Server: s})
	pb.RegisterAllocationServiceServer(gs, &allocationService{Server: s})
	pb.RegisterDelegationServiceServer(gs, &delegationService{Server: s})
}

// trigger asks the control loop to recompute a site whose configuration or
// grid limits changed, so a lowered limit is kept at once rather than at
// the loop's next tick.
func (s *Server) trigger(siteID string) {
	if s.loop != nil {
		s.loop.Trigger(siteID)
	}
}

// status maps err to a gRPC status (see toStatus).
func (s *Server) status(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	m, _ := grpc.Method(ctx)
	return toStatus(ctx, s.log, m, err)
}

// update runs fn in one store transaction on the site and relocates
// validation errors to request fields with loc (see relocate). fn sees the
// current configuration and changes it in place.
func (s *Server) update(ctx context.Context, siteID string, loc locator, fallback string, fn func(*site.Config) error) (site.Config, error) {
	var last site.Config
	cfg, err := s.store.UpdateConfig(ctx, siteID, func(c *site.Config) error {
		err := fn(c)
		last = *c
		if err != nil {
			return err
		}
		if v := validateConfig(c); v.Err() != nil {
			return v
		}
		return nil
	})
	if err != nil {
		return cfg, about(siteName(siteID), relocate(err, &last, loc, fallback))
	}
	s.trigger(siteID)
	return cfg, nil
}

// read returns a site's configuration.
func (s *Server) read(ctx context.Context, siteID string) (site.Config, error) {
	cfg, err := s.store.Config(ctx, siteID)
	if err != nil {
		return cfg, about(siteName(siteID), err)
	}
	return cfg, nil
}

// only returns a locator that maps one resource to a request field.
func only(kind string, index int, field string) locator {
	return func(k string, i int) (string, bool) {
		if k == kind && (kind == "site" || i == index) {
			return field, true
		}
		return "", false
	}
}

// listArgs checks the paging fields of a List request.
func listArgs(size int32, token string, v *site.ValidationError) (int, string) {
	n, err := pageSize(size)
	if err != nil {
		v.Add("page_size", "%v", err)
	}
	after, err := decodePageToken(token)
	if err != nil {
		v.Add("page_token", "%v", err)
	}
	return n, after
}

func indexByID[T any](items []T, id func(T) string, want string) int {
	for i, x := range items {
		if id(x) == want {
			return i
		}
	}
	return -1
}

func circuitID(c site.Circuit) string { return c.ID }
func chargerID(c site.Charger) string { return c.ID }
func limitID(l site.GridLimit) string { return l.ID }
func checkEtag(name string, want, have int64) error {
	if want != 0 && want != have {
		return etagMismatch(name)
	}
	return nil
}
