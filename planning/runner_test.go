package planning

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// fakeTime is a clock whose timers fire only when the test advances it.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.timers = append(f.timers, fakeTimer{at: f.now.Add(d), d: d, ch: ch})
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	keep := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(f.now) {
			t.ch <- f.now
		} else {
			keep = append(keep, t)
		}
	}
	f.timers = keep
}

// pending reports whether a timer of duration d waits.
func (f *fakeTime) pending(d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.timers, func(t fakeTimer) bool { return t.d == d })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeAllocations is an AllocationReader whose updates the test sends.
type fakeAllocations struct {
	mu  sync.Mutex
	chs map[string][]chan site.AllocationUpdate
}

func (f *fakeAllocations) Allocation(context.Context, string) (site.AllocationView, error) {
	return site.AllocationView{}, site.ErrNotFound
}

func (f *fakeAllocations) Watch(ctx context.Context, siteID string) (<-chan site.AllocationUpdate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan site.AllocationUpdate, 16)
	if f.chs == nil {
		f.chs = map[string][]chan site.AllocationUpdate{}
	}
	f.chs[siteID] = append(f.chs[siteID], ch)
	return ch, nil
}

func (f *fakeAllocations) send(siteID string, v site.AllocationView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.chs[siteID] {
		ch <- site.AllocationUpdate{Seq: v.Seq, Allocation: v}
	}
}

func (f *fakeAllocations) watchers(siteID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.chs[siteID])
}

const (
	testTick     = 5 * time.Minute
	testCoalesce = 1500 * time.Millisecond
	testPoll     = 7 * time.Second
	testRescan   = 3 * time.Minute
)

type rig struct {
	store  *redisstore.Store
	clock  *fakeTime
	runner *Runner
	alloc  *fakeAllocations
}

var prefixN atomic.Int64

func newRig(t *testing.T, addr string, withAlloc bool) *rig {
	t.Helper()
	clock := &fakeTime{now: t0}
	store := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}),
		&redisstore.Options{Clock: clock, KeyPrefix: fmt.Sprintf("pl%d", prefixN.Add(1))})
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	cfg := depot()
	if _, err := store.CreateSite(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	setCar(t, store, "c1", "7")
	if _, err := store.UpdateLoopState(ctx, "depot", func(ls *site.LoopState) error {
		ls.Needs = map[string]site.ChargingNeeds{"c1/1": {Energy: 10000, Departure: at(10)}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rc := Config{Store: store, LoopState: store, Plans: store, Clock: clock, After: clock.After,
		Tick: testTick, Coalesce: testCoalesce, Poll: testPoll, SiteRescan: testRescan}
	g := &rig{store: store, clock: clock}
	if withAlloc {
		g.alloc = &fakeAllocations{}
		rc.Allocations = g.alloc
	}
	r, err := New(rc)
	if err != nil {
		t.Fatal(err)
	}
	g.runner = r
	return g
}

func setCar(t *testing.T, store site.Store, charger, tx string) {
	t.Helper()
	if _, err := store.UpdateChargerState(context.Background(), site.ChargerRef{SiteID: "depot", ChargerID: charger}, func(st *site.ChargerState) error {
		*st = car(tx, 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// next reads the next plan from a watch, failing after a while.
func next(t *testing.T, ch <-chan site.PlanUpdate) site.Plan {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return u.Plan
	case <-time.After(10 * time.Second):
		t.Fatal("no plan")
	}
	return site.Plan{}
}

func noPlan(t *testing.T, ch <-chan site.PlanUpdate) {
	t.Helper()
	select {
	case u := <-ch:
		t.Fatalf("unexpected plan seq %d (%s)", u.Seq, u.Plan.Trigger)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestRunnerTriggers: the runner plans at start, coalesces replans, plans
// on the tick and when sessions or needs change, and stores every plan.
func TestRunnerTriggers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		withAlloc bool
	}{{"polling", false}, {"allocation watch", true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, miniredis.RunT(t).Addr(), tc.withAlloc)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := g.runner.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer g.runner.Stop()
			w, err := g.runner.WatchPlan(ctx, "depot")
			if err != nil {
				t.Fatal(err)
			}
			p := next(t, w)
			if p.Trigger != "start" || p.Seq != 1 || len(p.Sessions) != 1 || p.Sessions[0].Need != 10000 {
				t.Fatalf("first plan: seq %d trigger %q sessions %+v", p.Seq, p.Trigger, p.Sessions)
			}
			stored, err := g.store.Plan(ctx, "depot")
			if err != nil || stored.Seq != 1 {
				t.Fatalf("stored plan seq %d, %v", stored.Seq, err)
			}

			// Three replans within the coalescing window: one plan.
			for _, why := range []string{"prices", "forecasts", "limits"} {
				g.runner.Replan("depot", why)
			}
			sr := g.runner.sites["depot"]
			eventually(t, "coalescing timer", func() bool { return g.clock.pending(testCoalesce) && len(sr.kick) == 0 })
			noPlan(t, w)
			g.clock.Advance(testCoalesce)
			if p := next(t, w); p.Trigger != "prices" || p.Seq != 2 {
				t.Fatalf("coalesced plan: seq %d trigger %q", p.Seq, p.Trigger)
			}
			noPlan(t, w)

			// A second car arrives and needs change: planned after the check.
			setCar(t, g.store, "c2", "8")
			if _, err := g.store.UpdateLoopState(ctx, "depot", func(ls *site.LoopState) error {
				ls.Needs["c2/1"] = site.ChargingNeeds{Energy: 5000}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tc.withAlloc {
				eventually(t, "allocation watch", func() bool { return g.alloc.watchers("depot") == 1 })
				view := site.AllocationView{SiteID: "depot", Seq: 1, EVSEs: []site.EVSEView{{ChargerID: "c1", EVSE: 1, State: "charging"}}}
				g.alloc.send("depot", view) // the first view is the baseline
				view.Seq = 2
				view.EVSEs = append(view.EVSEs, site.EVSEView{ChargerID: "c2", EVSE: 1, State: "charging"})
				g.alloc.send("depot", view)
			} else {
				eventually(t, "poll timer", func() bool { return g.clock.pending(testPoll) })
				g.clock.Advance(testPoll)
			}
			eventually(t, "coalescing timer after the change", func() bool { return g.clock.pending(testCoalesce) })
			g.clock.Advance(testCoalesce)
			p = next(t, w)
			if p.Trigger != "sessions" || len(p.Sessions) != 2 || p.Sessions[1].Need != 5000 {
				t.Fatalf("after a new car: trigger %q, sessions %+v", p.Trigger, p.Sessions)
			}
			// Needs change and the loop publishes nothing new: the poll
			// finds it.
			if _, err := g.store.UpdateLoopState(ctx, "depot", func(ls *site.LoopState) error {
				ls.Needs["c2/1"] = site.ChargingNeeds{Energy: 7000}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "poll timer", func() bool { return g.clock.pending(testPoll) })
			g.clock.Advance(testPoll)
			eventually(t, "coalescing timer after the needs", func() bool { return g.clock.pending(testCoalesce) })
			g.clock.Advance(testCoalesce)
			p = next(t, w)
			if p.Trigger != "sessions" || p.Sessions[1].Need != 7000 {
				t.Fatalf("after new needs: trigger %q, sessions %+v", p.Trigger, p.Sessions)
			}
			{
				// nothing changed: the next poll plans nothing
				eventually(t, "poll timer", func() bool { return g.clock.pending(testPoll) })
				g.clock.Advance(testPoll)
				noPlan(t, w)
			}

			// The slow tick.
			eventually(t, "tick timer", func() bool { return g.clock.pending(testTick) })
			g.clock.Advance(testTick)
			var last site.Plan
			eventually(t, "tick plan", func() bool {
				select {
				case u := <-w:
					last = u.Plan
				default:
				}
				return last.Trigger == "tick"
			})
			// Slots on the clock: the plan starts at the quarter hour
			// before now (the site is in UTC).
			if !last.ComputedAt.Equal(g.clock.Now()) || !last.Start.Equal(g.clock.Now().Truncate(15*time.Minute)) || last.Start.After(g.clock.Now()) {
				t.Fatalf("tick plan computed at %v from %v, clock %v", last.ComputedAt, last.Start, g.clock.Now())
			}
			if got, err := g.runner.Plan(ctx, "depot"); err != nil || got.Seq != last.Seq {
				t.Fatalf("Plan: seq %d, %v; want %d", got.Seq, err, last.Seq)
			}
		})
	}
}

// TestRunnerStops: Stop ends every goroutine (sites and watchers) and
// closes watches; a deleted site's planning stops on the next rescan.
func TestRunnerStops(t *testing.T) {
	before := runtime.NumGoroutine()
	g := newRig(t, miniredis.RunT(t).Addr(), false)
	ctx := context.Background()
	if err := g.runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := g.runner.WatchPlan(ctx, "depot")
	if err != nil {
		t.Fatal(err)
	}
	next(t, w)
	// a site created later is found by the rescan
	if _, err := g.store.CreateSite(ctx, site.Config{Site: site.Site{ID: "late", GridLimit: site.Uniform(32)}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rescan timer", func() bool { return g.clock.pending(testRescan) })
	g.clock.Advance(testRescan)
	eventually(t, "plan of the late site", func() bool {
		p, err := g.store.Plan(ctx, "late")
		return err == nil && p.Seq == 1
	})
	if err := g.store.DeleteSite(ctx, "late", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rescan timer", func() bool { return g.clock.pending(testRescan) })
	g.clock.Advance(testRescan)
	eventually(t, "late site stopped", func() bool {
		g.runner.mu.Lock()
		defer g.runner.mu.Unlock()
		return g.runner.sites["late"] == nil
	})

	g.runner.Stop()
	select {
	case _, ok := <-w:
		if ok {
			for range w {
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch not closed by Stop")
	}
	if _, err := g.runner.WatchPlan(ctx, "depot"); err == nil {
		t.Fatal("WatchPlan after Stop")
	}
	g.runner.Replan("depot", "after stop") // no panic, no goroutine
	_ = g.store.Close()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// TestRunnerRealRedis: plans a site stored in a real redis-server, with
// plan inputs set, and survives a restart of the runner (the plan and the
// baseline are in Redis).
func TestRunnerRealRedis(t *testing.T) {
	addr := redistest.Start(t)
	g := newRig(t, addr, false)
	ctx := context.Background()
	if _, err := g.store.UpdatePlanInputs(ctx, "depot", func(in *site.PlanInputs) error {
		in.Prices = site.PriceSeries{Currency: "EUR", Import: eveningNight()}
		in.Settings.Slot = 30 * time.Minute
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := g.runner.PlanNow(ctx, "depot", "test")
	if err != nil {
		t.Fatal(err)
	}
	if p.Slot != 30*time.Minute || p.Slots != 48 || p.Currency != "EUR" || !p.Sessions[0].Met || p.InputsSeq != 1 {
		t.Fatalf("plan: slot %v slots %d currency %q met %v inputs %d", p.Slot, p.Slots, p.Currency, p.Sessions[0].Met, p.InputsSeq)
	}
	if e := sessionEnergy(p, 0, 0, 8); e > 1 {
		t.Fatalf("%.0f Wh in the expensive evening", e)
	}
	g.runner.Stop()

	// The car charged 4 kWh; a new runner on the same Redis keeps the baseline.
	if _, err := g.store.UpdateChargerState(ctx, site.ChargerRef{SiteID: "depot", ChargerID: "c1"}, func(st *site.ChargerState) error {
		*st = car("7", 4000)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r2, err := New(Config{Store: g.store, LoopState: g.store, Plans: g.store, Clock: g.clock, After: g.clock.After})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	p2, err := r2.PlanNow(ctx, "depot", "restart")
	if err != nil {
		t.Fatal(err)
	}
	if p2.Seq <= p.Seq || p2.Sessions[0].Need != 6000 {
		t.Fatalf("after restart: seq %d (before %d), need %v (want 10000 - 4000)", p2.Seq, p.Seq, p2.Sessions[0].Need)
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"missing stores", Config{}, false},
		{"negative tick", Config{Store: &redisstore.Store{}, LoopState: &redisstore.Store{}, Plans: &redisstore.Store{}, Tick: -1}, false},
		{"ok", Config{Store: &redisstore.Store{}, LoopState: &redisstore.Store{}, Plans: &redisstore.Store{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
