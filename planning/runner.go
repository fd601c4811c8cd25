package planning

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/scheduler/plan"
	"github.com/smartcharge/smartcharge/site"
)

// ErrStopped is returned by a Runner that is not running; it matches
// site.ErrUnavailable (retry later).
var ErrStopped = fmt.Errorf("planning: runner not running: %w", site.ErrUnavailable)

// Config configures a [Runner]. Store, LoopState and Plans are required.
type Config struct {
	// Store gives each site's configuration and its chargers' live state.
	Store site.Store
	// LoopState gives the needs and priorities of the EVSEs.
	LoopState site.LoopStateStore
	// Plans keeps plan inputs and plans.
	Plans site.PlanStore
	// Allocations, when set, is watched: every new allocation of the
	// control loop makes the runner check whether the sessions, their
	// needs or the site's limits changed (cheap; planning only then), and
	// every Poll the needs and priorities are checked against the last
	// allocation. Without it the runner checks configuration, charger
	// states and needs every Poll.
	Allocations site.AllocationReader
	// Planner tunes the planner (nil: plan.DefaultConfig); the site's
	// PlanSettings override its default energy and stay. Use the control
	// loop's safety margin.
	Planner *plan.Config
	Clock   site.Clock
	// After returns a channel that receives once after d (nil:
	// time.After); tests inject a fake to drive ticks and coalescing.
	After  func(d time.Duration) <-chan time.Time
	Logger *slog.Logger
	// Tick is the slow re-plan period (default 5 minutes).
	Tick time.Duration
	// Coalesce is how long the runner waits after a change for more
	// before planning (default 1 s).
	Coalesce time.Duration
	// Poll is the change-check period without Allocations (default 10 s).
	Poll time.Duration
	// Retry is the wait after a failed plan (default 10 s).
	Retry time.Duration
	// SiteRescan is how often the site list is read to start and stop
	// sites (default 1 minute).
	SiteRescan time.Duration
	// Parallel is how many sites are planned at once (default 1): the
	// planner is CPU-bound and the control loop must keep its share.
	Parallel int
}

func (c *Config) defaults() error {
	if c.Store == nil || c.LoopState == nil || c.Plans == nil {
		return errors.New("planning: Config.Store, LoopState and Plans are required")
	}
	if c.Clock == nil {
		c.Clock = site.SystemClock{}
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.Tick, 5 * time.Minute}, {&c.Coalesce, time.Second}, {&c.Poll, 10 * time.Second}, {&c.Retry, 10 * time.Second}, {&c.SiteRescan, time.Minute}} {
		if *d.v < 0 {
			return fmt.Errorf("planning: negative duration in Config")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Parallel < 0 {
		return errors.New("planning: negative Config.Parallel")
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
	if c.Planner != nil {
		in := plan.Input{Start: time.Unix(0, 0), NominalVoltage: 230, Config: c.Planner, Nodes: []plan.Node{{ID: "g", Parent: -1}}}
		if err := in.Validate(); err != nil {
			return fmt.Errorf("planning: Config.Planner: %w", err)
		}
	}
	return nil
}

// Runner plans every site: when needs, prices, forecasts, limits or
// sessions change (coalesced) and on a slow tick. It implements
// [site.PlanReader] and [site.PlanTrigger].
type Runner struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	ctx    context.Context // nil until Start
	cancel context.CancelFunc
	sites  map[string]*siteRunner
	wg     sync.WaitGroup // every goroutine; Add only under mu while ctx lives
	slots  chan struct{}  // Config.Parallel tokens for running the planner
}

var (
	_ site.PlanReader  = (*Runner)(nil)
	_ site.PlanTrigger = (*Runner)(nil)
)

// siteRunner is the state of one site's planning goroutine.
type siteRunner struct {
	id     string
	kick   chan string
	cancel context.CancelFunc
	done   chan struct{}

	runMu  sync.Mutex // one plan at a time (goroutine and PlanNow)
	fp     uint64     // fingerprint of what the last plan saw
	fpView uint64     // fingerprint of the last allocation view seen

	watchMu  sync.Mutex
	latest   *site.Plan
	watchers map[chan site.PlanUpdate]struct{}
}

// New returns a runner; call Start.
func New(cfg Config) (*Runner, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, log: cfg.Logger, sites: map[string]*siteRunner{}, slots: make(chan struct{}, cfg.Parallel)}, nil
}

// Start starts planning every site the store lists, and every site added
// later (read every SiteRescan, or on Replan). It returns at once; Stop
// ends it.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.ctx != nil {
		r.mu.Unlock()
		return errors.New("planning: Start called twice")
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		r.rescanLoop(r.ctx)
	}()
	return nil
}

// Stop ends every site's planning and waits for the goroutines.
func (r *Runner) Stop() {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Runner) rescanLoop(ctx context.Context) {
	for {
		r.rescan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.cfg.After(r.cfg.SiteRescan):
		}
	}
}

// rescan starts sites that exist and stops those that are gone.
func (r *Runner) rescan(ctx context.Context) {
	seen := map[string]bool{}
	after := ""
	for {
		sites, err := r.cfg.Store.ListSites(ctx, after, 100)
		if err != nil {
			if ctx.Err() == nil {
				r.log.WarnContext(ctx, "planning: cannot list sites", "err", err)
			}
			return
		}
		for _, s := range sites {
			seen[s.ID] = true
			r.site(s.ID)
		}
		if len(sites) < 100 {
			break
		}
		after = sites[len(sites)-1].ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, sr := range r.sites {
		if !seen[id] {
			sr.cancel()
			delete(r.sites, id)
		}
	}
}

// site returns the site's runner, starting it if needed; nil when the
// runner is not running.
func (r *Runner) site(id string) *siteRunner {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil || r.ctx.Err() != nil {
		return nil
	}
	if sr := r.sites[id]; sr != nil {
		return sr
	}
	ctx, cancel := context.WithCancel(r.ctx)
	sr := &siteRunner{id: id, kick: make(chan string, 1), cancel: cancel, done: make(chan struct{}),
		watchers: map[chan site.PlanUpdate]struct{}{}}
	r.sites[id] = sr
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(sr.done)
		r.siteLoop(ctx, sr)
	}()
	return sr
}

// Replan asks for the site to be planned again soon (coalesced with other
// changes within Coalesce). It never blocks.
func (r *Runner) Replan(siteID, reason string) {
	if !site.ValidResourceID(siteID) {
		return
	}
	sr := r.site(siteID)
	if sr == nil {
		return
	}
	select {
	case sr.kick <- reason:
	default: // one is pending: it will plan with everything
	}
}

// siteLoop plans one site until ctx ends.
func (r *Runner) siteLoop(ctx context.Context, sr *siteRunner) {
	var alloc <-chan site.AllocationUpdate
	if r.cfg.Allocations != nil {
		ch, err := r.cfg.Allocations.Watch(ctx, sr.id)
		if err != nil {
			r.log.WarnContext(ctx, "planning: cannot watch allocations; polling", "site", sr.id, "err", err)
		} else {
			alloc = ch
		}
	}
	// The poll runs with the watch too: the loop publishes an allocation
	// only when it changed, so needs or priorities that change nothing
	// now are found by re-reading the loop state against the last view.
	poll := r.cfg.After(r.cfg.Poll)
	var lastView *site.AllocationView
	tick := r.cfg.After(r.cfg.Tick)
	// Plan at once on start.
	pending, due := "start", r.cfg.After(0)
	for {
		select {
		case <-ctx.Done():
			return
		case reason := <-sr.kick:
			if due == nil {
				pending, due = reason, r.cfg.After(r.cfg.Coalesce)
			} else if pending == "" {
				pending = reason
			}
		case u, ok := <-alloc:
			if !ok {
				alloc, lastView = nil, nil
				continue
			}
			lastView = &u.Allocation
			if due == nil && r.changed(ctx, sr, lastView) {
				pending, due = "sessions", r.cfg.After(r.cfg.Coalesce)
			}
		case <-poll:
			poll = r.cfg.After(r.cfg.Poll)
			if due == nil && r.changed(ctx, sr, lastView) {
				pending, due = "sessions", r.cfg.After(r.cfg.Coalesce)
			}
		case <-tick:
			tick = r.cfg.After(r.cfg.Tick)
			if due == nil {
				pending, due = "tick", r.cfg.After(0)
			}
		case <-due:
			reason := pending
			pending, due = "", nil
			if _, err := r.planSite(ctx, sr, reason); err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, site.ErrNotFound) {
					r.log.InfoContext(ctx, "planning: site gone; stopping its planning", "site", sr.id)
					r.mu.Lock()
					if r.sites[sr.id] == sr {
						delete(r.sites, sr.id)
					}
					r.mu.Unlock()
					return
				}
				r.log.WarnContext(ctx, "planning: plan failed; retrying", "site", sr.id, "reason", reason, "err", err)
				pending, due = reason, r.cfg.After(r.cfg.Retry)
			}
		}
	}
}

// PlanNow plans a site at once (waiting for a plan in progress) and
// returns the stored plan.
func (r *Runner) PlanNow(ctx context.Context, siteID, reason string) (site.Plan, error) {
	if !site.ValidResourceID(siteID) {
		return site.Plan{}, fmt.Errorf("planning: site %q: %w", siteID, site.ErrNotFound)
	}
	sr := r.site(siteID)
	if sr == nil {
		return site.Plan{}, ErrStopped
	}
	return r.planSite(ctx, sr, reason)
}

// planSite makes, stores and publishes one plan.
func (r *Runner) planSite(ctx context.Context, sr *siteRunner, reason string) (site.Plan, error) {
	sr.runMu.Lock()
	defer sr.runMu.Unlock()
	snap, err := r.snapshot(ctx, sr.id)
	if err != nil {
		return site.Plan{}, err
	}
	fp := fingerprint(&snap.Config, snap.States, &snap.Loop, nil)
	if snap.Inputs.Settings.Disabled {
		sr.fp = fp
		return site.Plan{}, nil
	}
	b, err := Build(snap, r.cfg.Planner)
	if err != nil {
		return site.Plan{}, err
	}
	t0 := time.Now()
	res, err := r.solve(ctx, b.Input)
	if err != nil {
		return site.Plan{}, fmt.Errorf("planning: site %s: %w", sr.id, err)
	}
	took := time.Since(t0)
	p := Assemble(b, res, sr.id, snap.Now, reason, snap.Inputs.Seq)
	stored, err := r.cfg.Plans.PutPlan(ctx, sr.id, p)
	if err != nil {
		return site.Plan{}, fmt.Errorf("planning: site %s: store plan: %w", sr.id, err)
	}
	sr.fp = fp
	r.log.DebugContext(ctx, "planning: planned", "site", sr.id, "reason", reason, "seq", stored.Seq,
		"sessions", len(stored.Sessions), "slots", stored.Slots, "took", took, "exact", stored.Exact)
	r.publish(sr, stored)
	return stored, nil
}

// solve runs the planner, at most Config.Parallel at a time. The planner
// cannot be interrupted: when ctx ends first, solve returns at once and
// the planner's goroutine ends by itself when it is done (its result is
// dropped), so Stop does not wait for a long plan.
func (r *Runner) solve(ctx context.Context, in plan.Input) (plan.Result, error) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return plan.Result{}, ctx.Err()
	}
	type out struct {
		res plan.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		defer func() { <-r.slots }()
		res, err := plan.Plan(in)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		return plan.Result{}, ctx.Err()
	}
}

// snapshot reads everything a plan is made from.
func (r *Runner) snapshot(ctx context.Context, siteID string) (Snapshot, error) {
	s := Snapshot{Now: r.cfg.Clock.Now()}
	var err error
	if s.Config, err = r.cfg.Store.Config(ctx, siteID); err != nil {
		return s, err
	}
	s.States = make(map[string]site.ChargerState, len(s.Config.Chargers))
	for _, ch := range s.Config.Chargers {
		st, err := r.cfg.Store.ChargerState(ctx, site.ChargerRef{SiteID: siteID, ChargerID: ch.ID})
		if err != nil {
			if errors.Is(err, site.ErrNotFound) {
				continue // removed meanwhile
			}
			return s, err
		}
		s.States[ch.ID] = st
	}
	if s.Loop, err = r.cfg.LoopState.LoopState(ctx, siteID); err != nil {
		return s, err
	}
	if s.Inputs, err = r.cfg.Plans.PlanInputs(ctx, siteID); err != nil {
		return s, err
	}
	if prev, err := r.cfg.Plans.Plan(ctx, siteID); err == nil {
		s.Previous = &prev
	} else if !errors.Is(err, site.ErrNotFound) {
		return s, err
	}
	return s, nil
}

// changed reports whether what the site's plan depends on besides the
// plan inputs (which come with a Replan) changed since the last plan: the
// EVSEs with a car, their needs and priorities, the site's nodes and
// limits. With an allocation it reads only the loop state; without, the
// configuration and charger states.
func (r *Runner) changed(ctx context.Context, sr *siteRunner, view *site.AllocationView) bool {
	ls, err := r.cfg.LoopState.LoopState(ctx, sr.id)
	if err != nil {
		return false
	}
	var fp uint64
	if view != nil {
		fp = viewFingerprint(view, &ls)
	} else {
		cfg, err := r.cfg.Store.Config(ctx, sr.id)
		if err != nil {
			return errors.Is(err, site.ErrNotFound) // plan to find out it is gone
		}
		states := map[string]site.ChargerState{}
		for _, ch := range cfg.Chargers {
			if st, err := r.cfg.Store.ChargerState(ctx, site.ChargerRef{SiteID: sr.id, ChargerID: ch.ID}); err == nil {
				states[ch.ID] = st
			}
		}
		fp = fingerprint(&cfg, states, &ls, nil)
	}
	sr.runMu.Lock()
	defer sr.runMu.Unlock()
	if view != nil {
		// compare like with like: keep the view's own fingerprint
		old := sr.fpView
		sr.fpView = fp
		return old != 0 && old != fp
	}
	return fp != sr.fp
}

// fingerprint hashes the EVSEs with a car (and their transactions), their
// needs and priorities, and the site's limits.
func fingerprint(cfg *site.Config, states map[string]site.ChargerState, ls *site.LoopState, _ *site.AllocationView) uint64 {
	h := fnv.New64a()
	w := func(args ...any) { fmt.Fprintln(h, args...) }
	w("site", cfg.Site.GridLimit, cfg.Site.GridPowerLimit, cfg.Site.NominalVoltage)
	for _, c := range cfg.Circuits {
		w("c", c.ID, c.Parent, c.Limit, c.PowerLimit)
	}
	for _, l := range cfg.Limits {
		w("l", l.ID, l.Limit, l.PowerLimit, l.Start.UnixNano(), l.End.UnixNano())
	}
	for _, ch := range cfg.Chargers {
		w("ch", ch.ID, ch.Circuit, ch.PhaseRotation, ch.EVSEs)
		st := states[ch.ID]
		ids := make([]int, 0, len(st.EVSEs))
		for id := range st.EVSEs {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		for _, id := range ids {
			es := st.EVSEs[id]
			if !hasCar(es) {
				continue
			}
			tx := ""
			if es.Transaction != nil {
				tx = es.Transaction.ID
			}
			w("s", id, tx)
		}
	}
	writeNeeds(w, ls)
	return h.Sum64()
}

// viewFingerprint hashes the allocation's EVSEs with a car, its nodes'
// limits and the needs and priorities.
func viewFingerprint(v *site.AllocationView, ls *site.LoopState) uint64 {
	h := fnv.New64a()
	w := func(args ...any) { fmt.Fprintln(h, args...) }
	for _, n := range v.Nodes {
		w("n", n.ID, n.Kind, n.Limit)
	}
	for _, e := range v.EVSEs {
		if e.State == "charging" || e.State == "suspended" {
			w("e", e.ChargerID, e.EVSE)
		}
	}
	writeNeeds(w, ls)
	return h.Sum64()
}

func writeNeeds(w func(...any), ls *site.LoopState) {
	keys := make([]string, 0, len(ls.Needs)+len(ls.Priorities))
	for k := range ls.Needs {
		keys = append(keys, "n"+k)
	}
	for k := range ls.Priorities {
		keys = append(keys, "p"+k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k[0] == 'n' {
			n := ls.Needs[k[1:]]
			w(k, n.Energy, n.Departure.UnixNano(), n.MaxCurrent, n.MinCurrent)
		} else {
			w(k, ls.Priorities[k[1:]])
		}
	}
}

// publish records p as the site's newest plan and hands it to watchers.
func (r *Runner) publish(sr *siteRunner, p site.Plan) {
	sr.watchMu.Lock()
	defer sr.watchMu.Unlock()
	cp := p
	sr.latest = &cp
	for ch := range sr.watchers {
		select {
		case <-ch: // drop the older one not yet read
		default:
		}
		ch <- site.PlanUpdate{Seq: p.Seq, Plan: p}
	}
}

// Plan returns the site's newest plan: the one made last, else the
// stored one; ErrNotFound when there is none.
func (r *Runner) Plan(ctx context.Context, siteID string) (site.Plan, error) {
	r.mu.Lock()
	sr := r.sites[siteID]
	r.mu.Unlock()
	if sr != nil {
		sr.watchMu.Lock()
		l := sr.latest
		sr.watchMu.Unlock()
		if l != nil {
			return *l, nil
		}
	}
	return r.cfg.Plans.Plan(ctx, siteID)
}

// WatchPlan sends the site's newest plan (if any) and then every new one
// until ctx ends or the runner stops; then it closes the channel. A slow
// reader misses intermediate plans but always gets the newest.
func (r *Runner) WatchPlan(ctx context.Context, siteID string) (<-chan site.PlanUpdate, error) {
	if !site.ValidResourceID(siteID) {
		return nil, fmt.Errorf("planning: site %q: %w", siteID, site.ErrNotFound)
	}
	sr := r.site(siteID)
	if sr == nil {
		return nil, ErrStopped
	}
	ch := make(chan site.PlanUpdate, 1)
	sr.watchMu.Lock()
	sr.watchers[ch] = struct{}{}
	if sr.latest != nil {
		ch <- site.PlanUpdate{Seq: sr.latest.Seq, Plan: *sr.latest}
	} else if p, err := r.cfg.Plans.Plan(ctx, siteID); err == nil {
		ch <- site.PlanUpdate{Seq: p.Seq, Plan: p}
	}
	sr.watchMu.Unlock()
	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		sr.watchMu.Lock()
		delete(sr.watchers, ch)
		sr.watchMu.Unlock()
		return nil, ErrStopped
	}
	r.wg.Add(1)
	r.mu.Unlock()
	out := make(chan site.PlanUpdate)
	go func() {
		defer r.wg.Done()
		defer close(out)
		defer func() {
			sr.watchMu.Lock()
			delete(sr.watchers, ch)
			sr.watchMu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sr.done:
				return
			case u := <-ch:
				select {
				case out <- u:
				case <-ctx.Done():
					return
				case <-sr.done:
					return
				}
			}
		}
	}()
	return out, nil
}
