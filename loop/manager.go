package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/smartcharge/smartcharge/site"
)

// Errors of the Manager; match with errors.Is.
var (
	// ErrStopped: the Manager (or the site's loop) is not running.
	ErrStopped error = stoppedError{} // config.go
)

// Manager runs one control loop per site. It is the site.EventSink the
// OCPP adapter publishes into, and the site.AllocationReader and
// site.LoopController of the gRPC layer.
type Manager struct {
	cfg Config
	log *slog.Logger
	met *metrics

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	loops   map[string]*siteLoop
	wg      sync.WaitGroup
	running bool
	// crash makes Stop end the loops as a crash would: without writing
	// what waits for a lazy write (tests of kill -9).
	crash atomic.Bool

	// activity is closed and replaced whenever a loop finished handling
	// something (tests wait on it instead of sleeping).
	actMu    sync.Mutex
	activity chan struct{}
}

var (
	_ site.EventSink        = (*Manager)(nil)
	_ site.AllocationReader = (*Manager)(nil)
	_ site.LoopController   = (*Manager)(nil)
)

// New returns a Manager; call Start to run it. cfg is validated; zero
// fields take their defaults.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Manager{cfg: cfg, log: cfg.Logger.With("component", "loop"), met: newMetrics(cfg.Registry),
		loops: map[string]*siteLoop{}, activity: make(chan struct{})}, nil
}

// Start starts a loop for every site in the store and keeps the set of
// loops in step with the sites (every Config.SiteRescan; events and
// Trigger start a loop at once). Everything it starts ends when ctx ends
// or Stop is called.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("loop: manager already started")
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.running = true
	m.mu.Unlock()
	m.rescan(m.ctx)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			t := m.cfg.Clock.NewTimer(m.cfg.SiteRescan)
			select {
			case <-m.ctx.Done():
				t.Stop()
				return
			case <-t.C():
				m.rescan(m.ctx)
				m.notifyActivity()
			}
		}
	}()
	return nil
}

// Stop ends every loop and waits for them (and their commands) to end.
// Each loop first writes what waited for a lazy write (bounded by a few
// seconds), so a restart resends nothing that was answered.
func (m *Manager) Stop() {
	m.mu.Lock()
	if !m.running {
		m.mu.Unlock()
		return
	}
	m.running = false
	m.cancel()
	m.mu.Unlock()
	m.wg.Wait()
	m.mu.Lock()
	for id := range m.loops {
		m.met.forget(id)
		delete(m.loops, id)
	}
	m.mu.Unlock()
}

// rescan starts loops for new sites and stops loops of deleted ones.
func (m *Manager) rescan(ctx context.Context) {
	seen := map[string]bool{}
	after := ""
	for {
		sites, err := m.cfg.Store.ListSites(ctx, after, 100)
		if err != nil {
			m.log.Warn("cannot list sites", "err", err)
			return
		}
		for _, s := range sites {
			seen[s.ID] = true
			m.loop(s.ID)
		}
		if len(sites) < 100 {
			break
		}
		after = sites[len(sites)-1].ID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, l := range m.loops {
		select {
		case <-l.done:
			delete(m.loops, id)
			m.met.forget(id)
		default:
		}
	}
}

// loop returns the site's loop, starting it if needed; nil when the
// manager is not running.
func (m *Manager) loop(siteID string) *siteLoop {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return nil
	}
	if l, ok := m.loops[siteID]; ok {
		select {
		case <-l.done:
		default:
			return l
		}
	}
	l := newSiteLoop(m, siteID)
	m.loops[siteID] = l
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		l.run(m.ctx)
	}()
	return l
}

// existing returns the site's running loop or nil.
func (m *Manager) existing(siteID string) *siteLoop {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loops[siteID]
}

func (m *Manager) notifyActivity() {
	m.actMu.Lock()
	close(m.activity)
	m.activity = make(chan struct{})
	m.actMu.Unlock()
}

func (m *Manager) activityCh() <-chan struct{} {
	m.actMu.Lock()
	defer m.actMu.Unlock()
	return m.activity
}

// Publish hands an event to its site's loop (starting it if needed). It
// never blocks: when the loop's queue is full it re-reads the state.
func (m *Manager) Publish(ev site.Event) {
	if l := m.loop(ev.Charger().SiteID); l != nil {
		l.publish(ev)
	}
}

// Trigger asks the site's loop to re-read the site's configuration and
// recompute (after a grid limit or the site tree changed).
func (m *Manager) Trigger(siteID string) {
	if l := m.loop(siteID); l != nil {
		l.kick("trigger")
	}
}

// Allocation returns the newest allocation of a site: from the running
// loop, else as last stored. ErrNotFound when there is none.
func (m *Manager) Allocation(ctx context.Context, siteID string) (site.AllocationView, error) {
	if l := m.existing(siteID); l != nil {
		if l.viewStale.Load() {
			// Answers came since the last view (it is published at most
			// every viewEvery while commands are in flight).
			_ = l.call(ctx, func(ctx context.Context) {
				if l.viewStale.Load() && l.loaded && l.lastAlloc != nil {
					l.publishView(ctx, l.build(m.cfg.Clock.Now()))
				}
			})
		}
		if v := l.view.Load(); v != nil {
			return *v, nil
		}
	}
	ls, err := m.cfg.LoopState.LoopState(ctx, siteID)
	if err != nil {
		return site.AllocationView{}, fmt.Errorf("loop: allocation of site %s: %w", siteID, err)
	}
	if ls.Allocation == nil {
		return site.AllocationView{}, fmt.Errorf("loop: allocation of site %s: %w", siteID, site.ErrNotFound)
	}
	return *ls.Allocation, nil
}

// Watch sends the site's current allocation and then each new one until
// ctx ends. A reader that falls behind gets the newest (see Seq).
func (m *Manager) Watch(ctx context.Context, siteID string) (<-chan site.AllocationUpdate, error) {
	l := m.loop(siteID)
	if l == nil {
		return nil, ErrStopped
	}
	ch := make(chan site.AllocationUpdate, 1)
	l.watchMu.Lock()
	l.watchers[ch] = struct{}{}
	if v := l.view.Load(); v != nil {
		ch <- site.AllocationUpdate{Seq: v.Seq, Allocation: *v}
	}
	l.watchMu.Unlock()
	out := make(chan site.AllocationUpdate)
	go func() {
		defer close(out)
		defer func() {
			l.watchMu.Lock()
			delete(l.watchers, ch)
			l.watchMu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.done:
				return
			case u := <-ch:
				select {
				case out <- u:
				case <-ctx.Done():
					return
				case <-l.done:
					return
				}
			}
		}
	}()
	return out, nil
}

// ReportMeter records an EMS reading of the grid connection (Node "") or
// a circuit; the loop recomputes with it.
func (m *Manager) ReportMeter(ctx context.Context, siteID string, r site.MeterReading) error {
	if err := r.Validate(); err != nil {
		return err
	}
	l := m.loop(siteID)
	if l == nil {
		return ErrStopped
	}
	var err error
	cerr := l.call(ctx, func(ctx context.Context) {
		if r.Node != "" {
			found := false
			for _, c := range l.conf.Circuits {
				found = found || c.ID == r.Node
			}
			if !found {
				err = fmt.Errorf("loop: site %s has no circuit %q: %w", siteID, r.Node, site.ErrNotFound)
				return
			}
		}
		if l.ls.Meters == nil {
			l.ls.Meters = map[string]site.MeterReading{}
		}
		l.ls.Meters[r.Node] = r
		err = l.persistLoop(ctx, func(ls *site.LoopState) {
			if ls.Meters == nil {
				ls.Meters = map[string]site.MeterReading{}
			}
			ls.Meters[r.Node] = r
		})
		l.markDirty("meter")
	})
	return errors.Join(cerr, err)
}

// evseExists reports whether the loop's site has the EVSE.
func (l *siteLoop) evseExists(ref site.ChargerRef, evse int) bool {
	c := l.chargers[ref.ChargerID]
	if c == nil {
		return false
	}
	for _, e := range c.cfg.EVSEs {
		if e.ID == evse {
			return true
		}
	}
	return false
}

// SetNeeds records what the car on an EVSE needs.
func (m *Manager) SetNeeds(ctx context.Context, ref site.ChargerRef, evse int, n site.ChargingNeeds) error {
	var v site.ValidationError
	if n.MaxCurrent < 0 || n.MinCurrent < 0 || (n.MaxCurrent > 0 && n.MinCurrent > n.MaxCurrent) {
		v.Add("needs", "currents must be >= 0 and min <= max")
	}
	if n.Energy < 0 {
		v.Add("needs.energy", "must be >= 0")
	}
	if err := v.Err(); err != nil {
		return err
	}
	return m.evseCall(ctx, ref, evse, "needs", func(l *siteLoop, key string) {
		if l.ls.Needs == nil {
			l.ls.Needs = map[string]site.ChargingNeeds{}
		}
		l.ls.Needs[key] = n
	})
}

// SetPriority sets an EVSE's weight (0 means the default, 1).
func (m *Manager) SetPriority(ctx context.Context, ref site.ChargerRef, evse int, priority float64) error {
	if priority < 0 || math.IsNaN(priority) || math.IsInf(priority, 0) {
		var v site.ValidationError
		v.Add("priority", "must be a finite number >= 0")
		return v.Err()
	}
	return m.evseCall(ctx, ref, evse, "priority", func(l *siteLoop, key string) {
		if l.ls.Priorities == nil {
			l.ls.Priorities = map[string]float64{}
		}
		l.ls.Priorities[key] = priority
	})
}

func (m *Manager) evseCall(ctx context.Context, ref site.ChargerRef, evse int, what string, set func(*siteLoop, string)) error {
	l := m.loop(ref.SiteID)
	if l == nil {
		return ErrStopped
	}
	var err error
	cerr := l.call(ctx, func(ctx context.Context) {
		if !l.evseExists(ref, evse) {
			err = fmt.Errorf("loop: %s EVSE %d: %w", ref, evse, site.ErrNotFound)
			return
		}
		key := site.EVSEKey(ref.ChargerID, evse)
		set(l, key)
		err = l.persistLoop(ctx, func(ls *site.LoopState) {
			ls.Needs, ls.Priorities = l.ls.Needs, l.ls.Priorities
		})
		l.markDirty(what)
	})
	return errors.Join(cerr, err)
}
