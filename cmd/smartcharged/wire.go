package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/smartcharge/smartcharge/apiserver"
	"github.com/smartcharge/smartcharge/delegate"
	"github.com/smartcharge/smartcharge/loop"
	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/planning"
	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/sitefile"
)

// parts are the daemon's components, wired to one store.
type parts struct {
	store *redisstore.Store
	api   *apiserver.Server
	ocpp  *ocppadapter.Server
	loop  *loop.Manager
	plan  *planning.Runner
	hub   *delegate.Hub
	log   *slog.Logger
}

// wire builds the components. This is the only place that knows all of
// them; each gets what it needs passed in.
func wire(ctx context.Context, cfg Config, log *slog.Logger, client *redis.Client, reg *prometheus.Registry) (*parts, error) {
	clock := site.SystemClock{}
	store := redisstore.New(client, &redisstore.Options{Clock: clock, Logger: log.With("component", "store")})
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	version, err := store.Migrate(mctx)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	log.Info("store schema", "version", version)
	for _, f := range cfg.SiteFiles {
		if err := applySiteFile(mctx, store, f, log); err != nil {
			return nil, err
		}
	}
	p := &parts{store: store, log: log}

	tokens := make([]apiserver.TokenEntry, 0, len(cfg.File.Tokens))
	for _, t := range cfg.File.Tokens {
		tokens = append(tokens, apiserver.TokenEntry{Name: t.Name, SHA256: t.SHA256, Role: apiserver.Role(t.Role), Sites: t.Sites})
	}
	auth := apiserver.AuthConfig{
		Tokens:        tokens,
		InsecureLocal: cfg.InsecureLocal,
		// Load balancers and orchestrators probe health without a token.
		PublicMethods: []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"},
	}
	if err := auth.Validate(); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	// The adapter and the delegation hub publish into the loop and the
	// loop commands them: the sink is bound once all exist.
	events := &lateSink{}
	var proxy *ocppadapter.ProxyConfig // local controller mode
	if cfg.OCPPListen != "" {
		oc := cfg.File.OCPP
		if oc.Proxy != nil {
			var err error
			if proxy, err = oc.Proxy.adapterConfig(); err != nil {
				return nil, fmt.Errorf("ocpp.proxy: %w", err)
			}
			log.Info("OCPP local controller mode: chargers are relayed to their CSMS", "upstreams", len(oc.Proxy.Upstreams))
		}
		// The commissioning hold looks for the loop's fallback: at the
		// loop's fallback stack level, which the proxy's band moves
		// (proxyLoopLevels; proxied chargers are not held anyway).
		var fbLevel int
		if proxy != nil {
			stack, _ := proxy.Reserved()
			fbLevel = stack.Lo
		}
		srv, err := ocppadapter.NewServer(ocppadapter.Config{
			Proxy:                proxy,
			Store:                store,
			Events:               events,
			Logger:               log.With("component", "ocpp"),
			Clock:                clock,
			CallTimeout:          oc.CallTimeout,
			MeterSampleInterval:  oc.MeterSampleInterval,
			HeartbeatInterval:    oc.HeartbeatInterval,
			AdmitUnknown:         oc.AdmitUnknown,
			CommissionPending:    oc.CommissionPending,
			CommissionHold:       oc.CommissionHold,
			CommissionStackLevel: fbLevel,
			SecurityProfile:      oc.SecurityProfile,
			TLSCertFile:          oc.TLSCert,
			TLSKeyFile:           oc.TLSKey,
			ClientCAFile:         oc.ClientCA,
		})
		if err != nil {
			return nil, fmt.Errorf("ocpp: %w", err)
		}
		p.ocpp = srv
	}
	hub, err := delegate.New(delegate.Config{Store: store, Outbox: store, Events: events, Clock: clock, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("delegation: %w", err)
	}
	p.hub = hub
	// A charger connected over OCPP is commanded over OCPP; one a CSMS
	// reports through the delegation API is commanded through the CSMS.
	control := &site.ControlRouter{Route: func(ref site.ChargerRef) site.ChargerControl {
		if p.ocpp != nil && (p.ocpp.Connected(ref) || !hub.Owns(ref)) {
			return p.ocpp
		}
		return hub
	}}

	lc := cfg.File.Loop
	sched := lc.schedulerConfig()
	// The loop follows each site's plan (loop/plan.go); the planning
	// runner reads the loop's allocations, so it is made after the loop
	// and bound below (until then: real time only).
	plans := &latePlans{}
	loopCfg := loop.Config{
		Plans:            plans,
		Store:            store,
		LoopState:        store,
		Control:          control,
		Logger:           log,
		Registry:         reg,
		Scheduler:        sched,
		Tick:             lc.Tick,
		Coalesce:         lc.Coalesce,
		AnswerTimeout:    lc.AnswerTimeout,
		Lease:            lc.Lease,
		MinRaiseInterval: lc.MinRaiseInterval,
		Grace:            lc.Grace,
		ResumeGrace:      lc.ResumeGrace,
		SiteRescan:       lc.SiteRescan,
		FallbackFraction: lc.FallbackFraction,
		PlanMaxAge:       lc.PlanMaxAge,
		PlanPoll:         lc.PlanPoll,
	}
	if proxy != nil {
		// smartcharge's profiles go into the stack levels and ids the
		// proxy reserves, so the CSMS's and ours never replace each other.
		if err := proxyLoopLevels(proxy, &loopCfg); err != nil {
			return nil, fmt.Errorf("ocpp.proxy: %w", err)
		}
		log.Info("loop profiles in the proxy's reserved range", "fallback_stack_level", loopCfg.FallbackStackLevel,
			"stack_level", loopCfg.StackLevel, "max_stack_level", loopCfg.MaxStackLevel, "profile_id_base", loopCfg.ProfileIDBase)
	}
	mgr, err := loop.New(loopCfg)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	events.bind(mgr)
	if err := mgr.Start(ctx); err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	p.loop = mgr

	// Planning: per site, re-planned when sessions, needs, prices,
	// forecasts or limits change, with the loop's safety margin.
	pc := plan.DefaultConfig()
	if sched != nil {
		pc.SafetyMargin = sched.SafetyMargin
	}
	runner, err := planning.New(planning.Config{Store: store, LoopState: store, Plans: store, Allocations: mgr,
		Planner: &pc, Clock: clock, Logger: log.With("component", "planning")})
	if err != nil {
		mgr.Stop()
		return nil, fmt.Errorf("planning: %w", err)
	}
	if err := runner.Start(ctx); err != nil {
		mgr.Stop()
		return nil, fmt.Errorf("planning: %w", err)
	}
	p.plan = runner
	plans.bind(runner)

	opts := &apiserver.Options{Auth: auth, Clock: clock, Logger: log.With("component", "api"),
		Allocations: mgr, Loop: mgr, Delegation: hub}
	p.api = apiserver.New(store, opts)
	return p, nil
}

// RegisterGRPC adds the API services to gs.
func (p *parts) RegisterGRPC(gs *grpc.Server) {
	p.api.Register(gs)
	p.api.RegisterPlanService(gs, &apiserver.PlanBackend{Inputs: p.store, Plans: p.plan, Trigger: p.plan})
}

// GRPCOptions are the server options the API needs (authentication).
func (p *parts) GRPCOptions() []grpc.ServerOption { return p.api.ServerOptions() }

// OCPPHandler serves /ocpp/{identity}, or nil when OCPP is off.
func (p *parts) OCPPHandler() http.Handler {
	if p.ocpp == nil {
		return nil
	}
	return p.ocpp
}

// OCPPTLS is the OCPP endpoint's TLS configuration (nil: plain ws://).
func (p *parts) OCPPTLS() (*tls.Config, error) {
	if p.ocpp == nil {
		return nil, nil
	}
	return p.ocpp.TLSConfig(), nil
}

// Close stops the components: the loop first (it commands chargers), then
// the delegation hub and the OCPP endpoint, the store last.
func (p *parts) Close() {
	if p.plan != nil {
		p.plan.Stop()
	}
	p.loop.Stop()
	_ = p.hub.Close()
	if p.ocpp != nil {
		_ = p.ocpp.Close()
	}
	_ = p.store.Close()
}

// applySiteFile makes the store hold what a site file says: it creates the
// site, or brings site, circuits and chargers to what the file says; grid
// limits in the file are added or updated, others (set at run time by an
// owner or EMS) are kept.
func applySiteFile(ctx context.Context, store site.Store, path string, log *slog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--site-file: %w", err)
	}
	want, err := sitefile.Parse(path, data)
	if err != nil {
		return fmt.Errorf("--site-file: %w", err)
	}
	id := want.Site.ID
	if _, err := store.CreateSite(ctx, want); err == nil {
		log.Info("site created from file", "site", id, "file", path)
		return nil
	} else if !errors.Is(err, site.ErrAlreadyExists) {
		return fmt.Errorf("--site-file %s: %w", path, err)
	}
	_, err = store.UpdateConfig(ctx, id, func(c *site.Config) error {
		limits := want.Limits
		for _, l := range c.Limits {
			if !hasLimit(want.Limits, l.ID) {
				limits = append(limits, l)
			}
		}
		c.Site, c.Circuits, c.Chargers, c.Limits = keepMeta(want.Site, c.Site), want.Circuits, keepPasswords(want.Chargers, c.Chargers), limits
		return nil
	})
	if err != nil {
		return fmt.Errorf("--site-file %s: %w", path, err)
	}
	log.Info("site updated from file", "site", id, "file", path)
	return nil
}

func hasLimit(ls []site.GridLimit, id string) bool {
	for _, l := range ls {
		if l.ID == id {
			return true
		}
	}
	return false
}

// keepMeta keeps the stored resource's bookkeeping so an unchanged file
// changes nothing.
func keepMeta(want, have site.Site) site.Site {
	want.Generation, want.CreateTime, want.UpdateTime = have.Generation, have.CreateTime, have.UpdateTime
	return want
}

// keepPasswords keeps password hashes set through the API: a site file
// never carries them.
func keepPasswords(want, have []site.Charger) []site.Charger {
	out := append([]site.Charger(nil), want...)
	for i := range out {
		for _, h := range have {
			if h.ID == out[i].ID && out[i].PasswordHash == "" {
				out[i].PasswordHash = h.PasswordHash
			}
		}
	}
	return out
}

// lateSink forwards events to a sink bound after it was handed out.
// Events published before bind are dropped: the loop reads the state
// the adapter stored when it starts.
type lateSink struct {
	sink atomic.Pointer[site.EventSink]
}

func (l *lateSink) bind(s site.EventSink) { l.sink.Store(&s) }

func (l *lateSink) Publish(ev site.Event) {
	if s := l.sink.Load(); s != nil {
		(*s).Publish(ev)
	}
}

// latePlans gives the loop the planning runner's plans once the runner
// is bound; before that there is no plan (ErrNotFound).
type latePlans struct {
	r atomic.Pointer[planning.Runner]
}

func (l *latePlans) bind(r *planning.Runner) { l.r.Store(r) }

func (l *latePlans) Plan(ctx context.Context, siteID string) (site.Plan, error) {
	if r := l.r.Load(); r != nil {
		return r.Plan(ctx, siteID)
	}
	return site.Plan{}, fmt.Errorf("plan of site %s: planning not started: %w", siteID, site.ErrNotFound)
}

func (l *latePlans) WatchPlan(ctx context.Context, siteID string) (<-chan site.PlanUpdate, error) {
	if r := l.r.Load(); r != nil {
		return r.WatchPlan(ctx, siteID)
	}
	return nil, fmt.Errorf("plans of site %s: planning not started: %w", siteID, site.ErrUnavailable)
}
