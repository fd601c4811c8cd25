package apiserver

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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

// A resource describes one kind of resource of a site's configuration
// (the site itself, circuits, chargers, grid limits) for what their
// handlers share: names, etags, update masks, pages and the store
// transaction. Each service adds only its own steps, as hooks. D is the
// domain type, P the API message.
type resource[D any, P apiResource] struct {
	field   string // the request field holding one ("circuit"); Create's ID is field+"_id"
	kind    string // the kind in config violations: "site", "circuits", ...
	pattern string // its resource name; the last variable is its ID
	coll    string // collection segment of a child's name
	write   action // what changing one takes
	mask    *maskPaths[D, P]
	// items is the kind's list in a configuration, id a member's ID; the
	// site is in no list: one gives it instead. Only children are
	// listed, created, deleted and merged (coll, diff, fromProto).
	items func(c *site.Config) *[]D
	id    func(D) string
	one   func(c *site.Config) *D
	// stamps points at what the store keeps of a resource: its
	// generation (the etag) and times.
	stamps func(d *D) (generation *int64, created, updated *time.Time)
	// diff names the API fields in which two versions differ.
	diff func(a, b D) []string
	// blank is the resource an update is checked on before the
	// transaction: only its site set.
	blank     func(siteID string) D
	fromProto func(p P, siteID, id, field string, v *site.ValidationError) D
	// toProto converts one for an answer; now is read once per call.
	toProto func(ctx context.Context, s *Server, d D, now time.Time) (P, error)
}

func (r *resource[D, P]) generation(d D) int64 {
	g, _, _ := r.stamps(&d)
	return *g
}

// carry copies the generation and times of the stored from into to, so
// the store takes to for a change of from.
func (r *resource[D, P]) carry(to *D, from D) {
	g, c, u := r.stamps(to)
	fg, fc, fu := r.stamps(&from)
	*g, *c, *u = *fg, *fc, *fu
}

// apiResource is what every resource message has.
type apiResource interface {
	comparable
	GetName() string
	GetEtag() string
}

// plainProto adapts a conversion that needs neither the server nor the
// time.
func plainProto[D, P any](f func(D) P) func(context.Context, *Server, D, time.Time) (P, error) {
	return func(_ context.Context, _ *Server, d D, _ time.Time) (P, error) { return f(d), nil }
}

// parse reads a resource name: its site and its own ID (the site's ID
// for the site).
func (r *resource[D, P]) parse(name string) (siteID, id string, err error) {
	vars, err := parseName(name, r.pattern)
	if err != nil {
		return "", "", err
	}
	return vars[0], vars[len(vars)-1], nil
}

// find returns the resource with id in c and its index (nil if there is
// none).
func (r *resource[D, P]) find(c *site.Config, id string) (*D, int) {
	if r.one != nil {
		return r.one(c), 0
	}
	l := *r.items(c)
	i := indexByID(l, r.id, id)
	if i < 0 {
		return nil, -1
	}
	return &l[i], i
}

// locator maps the resource at *idx to the request field holding it.
func (r *resource[D, P]) locator(idx *int) locator {
	return func(k string, i int) (string, bool) {
		return r.field, k == r.kind && (r.one != nil || i == *idx)
	}
}

// nameEtag reads a resource's name and etag from fields prefix+"name"
// and prefix+"etag".
func (r *resource[D, P]) nameEtag(name, etag, prefix string, v *site.ValidationError) (siteID, id string, gen int64) {
	siteID, id, err := r.parse(name)
	if err != nil {
		v.Add(prefix+"name", "%v", err)
	}
	gen, err = parseEtag(etag)
	if err != nil {
		v.Add(prefix+"etag", "%v", err)
	}
	return siteID, id, gen
}

// target reads the resource of an Update or Set request: it must be
// there; its name and etag are checked into v.
func (r *resource[D, P]) target(p P, v *site.ValidationError) (siteID, id string, gen int64, err error) {
	var none P
	if p == none {
		return "", "", 0, badField(r.field, "required")
	}
	siteID, id, gen = r.nameEtag(p.GetName(), p.GetEtag(), r.field+".", v)
	return siteID, id, gen, nil
}

// answer converts the resource with id of a configuration read or
// written.
func (r *resource[D, P]) answer(ctx context.Context, s *Server, c site.Config, id string) (P, error) {
	d, _ := r.find(&c, id)
	return r.toProto(ctx, s, *d, s.clock.Now())
}

func (r *resource[D, P]) get(ctx context.Context, s *Server, name string) (P, error) {
	var none P
	sid, id, err := r.parse(name)
	if err != nil {
		return none, badField("name", "%v", err)
	}
	if _, err := authorize(ctx, actRead, sid); err != nil {
		return none, err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return none, err
	}
	d, _ := r.find(&cfg, id)
	if d == nil {
		return none, notFound(name)
	}
	return r.toProto(ctx, s, *d, s.clock.Now())
}

// list returns a page of the children of parent, by ID.
func (r *resource[D, P]) list(ctx context.Context, s *Server, parent string, pageSize int32, token string) ([]P, string, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(parent)
	if err != nil {
		v.Add("parent", "%v", err)
	}
	size, after := listArgs(pageSize, token, v)
	if v.Err() != nil {
		return nil, "", v
	}
	if _, err := authorize(ctx, actRead, sid); err != nil {
		return nil, "", err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return nil, "", err
	}
	now := s.clock.Now()
	sorted := sortedConfig(cfg)
	page, next := pageOf(*r.items(&sorted), r.id, after, size)
	var out []P
	for _, x := range page {
		p, err := r.toProto(ctx, s, x, now)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	return out, next, nil
}

// createHooks are a kind's own steps of Create; nil ones are skipped.
type createHooks[D any] struct {
	// check adds violations of the request after it is converted.
	check func(v *site.ValidationError)
	// prepare runs once the caller may write the site, before the
	// transaction; it may change the new resource x.
	prepare func(caller *Principal, name string, x *D) error
}

// create adds the child p with id under parent.
func (r *resource[D, P]) create(ctx context.Context, s *Server, parent, id string, p P, h createHooks[D]) (P, error) {
	var none P
	v := &site.ValidationError{}
	sid, err := parseSiteName(parent)
	if err != nil {
		v.Add("parent", "%v", err)
	}
	if !validID(id) {
		v.Add(r.field+"_id", "%q %s", id, idRule)
	}
	if p == none {
		v.Add(r.field, "required")
	}
	if v.Err() != nil {
		return none, v
	}
	x := r.fromProto(p, sid, id, r.field, v)
	if h.check != nil {
		h.check(v)
	}
	if v.Err() != nil {
		return none, v
	}
	caller, err := authorize(ctx, r.write, sid)
	if err != nil {
		return none, err
	}
	name := childName(sid, r.coll, id)
	if h.prepare != nil {
		if err := h.prepare(caller, name, &x); err != nil {
			return none, err
		}
	}
	var idx int
	cfg, err := s.update(ctx, sid, r.locator(&idx), r.field, func(c *site.Config) error {
		l := r.items(c)
		if indexByID(*l, r.id, id) >= 0 {
			return alreadyExists(name)
		}
		idx = len(*l)
		*l = append(*l, x)
		return nil
	})
	if err != nil {
		return none, err
	}
	return r.answer(ctx, s, cfg, id)
}

// updateHooks are a kind's own steps of Update; nil ones are skipped.
type updateHooks[D, P any] struct {
	// check adds violations of the request once the mask is resolved.
	check func(paths []*maskPath[D, P], v *site.ValidationError)
	// prepare runs once the caller may write the site, before the
	// transaction.
	prepare func(caller *Principal, siteID, id string) error
	// store changes the stored resource d in the transaction, once its
	// etag matched; apply copies the masked fields. Without it: apply.
	store func(caller *Principal, name string, d *D, apply func()) error
}

// update changes the fields of p that mask names (AIP-134).
func (r *resource[D, P]) update(ctx context.Context, s *Server, p P, mask *fieldmaskpb.FieldMask, h updateHooks[D, P]) (P, error) {
	var none P
	v := &site.ValidationError{}
	sid, id, gen, err := r.target(p, v)
	if err != nil {
		return none, err
	}
	paths := r.mask.resolve(mask, p, v)
	blank := r.blank(sid)
	r.mask.apply(&blank, p, paths, r.field, v)
	if h.check != nil {
		h.check(paths, v)
	}
	if v.Err() != nil {
		return none, v
	}
	caller, err := authorize(ctx, r.write, sid)
	if err != nil {
		return none, err
	}
	name := p.GetName()
	if h.prepare != nil {
		if err := h.prepare(caller, sid, id); err != nil {
			return none, err
		}
	}
	var idx int
	cfg, err := s.update(ctx, sid, r.locator(&idx), r.field, func(c *site.Config) error {
		var d *D
		if d, idx = r.find(c, id); d == nil {
			return notFound(name)
		}
		if err := checkEtag(name, gen, r.generation(*d)); err != nil {
			return err
		}
		apply := func() { r.mask.apply(d, p, paths, r.field, &site.ValidationError{}) }
		if h.store != nil {
			return h.store(caller, name, d, apply)
		}
		apply()
		return nil
	})
	if err != nil {
		return none, err
	}
	return r.answer(ctx, s, cfg, id)
}

// deleteArgs reads a Delete request's name and etag.
func (r *resource[D, P]) deleteArgs(name, etag string) (siteID, id string, gen int64, err error) {
	v := &site.ValidationError{}
	siteID, id, gen = r.nameEtag(name, etag, "", v)
	if v.Err() != nil {
		return "", "", 0, v
	}
	return siteID, id, gen, nil
}

// delete removes the child name; check (if not nil) may refuse, seeing
// the configuration and the resource once its etag matched.
func (r *resource[D, P]) delete(ctx context.Context, s *Server, name, etag string, check func(caller *Principal, c *site.Config, d D) error) error {
	sid, id, gen, err := r.deleteArgs(name, etag)
	if err != nil {
		return err
	}
	caller, err := authorize(ctx, r.write, sid)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, sid, func(string, int) (string, bool) { return "", false }, "name", func(c *site.Config) error {
		d, i := r.find(c, id)
		if d == nil {
			return notFound(name)
		}
		if err := checkEtag(name, gen, r.generation(*d)); err != nil {
			return err
		}
		if check != nil {
			if err := check(caller, c, *d); err != nil {
				return err
			}
		}
		l := r.items(c)
		*l = slices.Delete(*l, i, i+1)
		return nil
	})
	return err
}
