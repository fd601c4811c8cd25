package loop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
)

// fakeClock is a manual clock: timers fire only in Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk *fakeClock
	c   chan time.Time
	at  time.Time
	off bool // fired or stopped
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.off
	t.off = true
	// Like a time.Timer since Go 1.23: no stale value is received after
	// Stop (else the harness would wait for it to be read).
	select {
	case <-t.c:
	default:
	}
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.off = true
		t.c <- c.now
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the time on, firing timers in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	for _, t := range c.timers {
		if !t.off && !t.at.After(c.now) {
			t.off = true
			t.c <- c.now
		}
	}
}

// unread reports whether a fired timer's value waits to be read; it drops
// timers that are done.
func (c *fakeClock) unread() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := c.timers[:0]
	busy := false
	for _, t := range c.timers {
		if len(t.c) > 0 {
			busy = true
		}
		if !t.off || len(t.c) > 0 {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	return busy
}

// answer is how a fake charger answers one SetLimit.
type answer int

const (
	accept answer = iota
	reject
	timeout        // site.ErrTimeout at once, profile not applied
	timeoutApplied // site.ErrTimeout at once, profile applied
	late           // park until released, then accept
	ignore         // accept, but the charger goes on drawing its maximum
)

type call struct {
	Ref site.ChargerRef
	Req site.LimitRequest
	At  time.Time
}

type fakeCharger struct {
	policy func(req site.LimitRequest) answer
	// profiles installed, by EVSE and profile id
	profiles map[int]map[int]site.LimitRequest
	ignores  bool
	// schedule, when set, is what CompositeSchedule returns.
	schedule func(evse int) (site.Schedule, error)
}

// fakeControl is a programmable site.ChargerControl.
type fakeControl struct {
	mu       sync.Mutex
	clk      *fakeClock
	m        *Manager
	chargers map[string]*fakeCharger
	calls    []call
	triggers []site.TriggerKind
	parked   int
	release  chan struct{}
	onSet    func(ref site.ChargerRef, req site.LimitRequest, a answer)
}

func (f *fakeControl) charger(id string) *fakeCharger {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.get(id)
}

func (f *fakeControl) get(id string) *fakeCharger {
	c := f.chargers[id]
	if c == nil {
		c = &fakeCharger{profiles: map[int]map[int]site.LimitRequest{}}
		f.chargers[id] = c
	}
	return c
}

func (f *fakeControl) setPolicy(id string, p func(site.LimitRequest) answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.get(id).policy = p
}

func always(a answer) func(site.LimitRequest) answer {
	return func(site.LimitRequest) answer { return a }
}

func (f *fakeControl) install(c *fakeCharger, req site.LimitRequest) {
	if c.profiles[req.EVSE] == nil {
		c.profiles[req.EVSE] = map[int]site.LimitRequest{}
	}
	c.profiles[req.EVSE][req.ProfileID] = req
}

func (f *fakeControl) SetLimit(ctx context.Context, ref site.ChargerRef, req site.LimitRequest) (site.CommandResult, error) {
	f.mu.Lock()
	c := f.get(ref.ChargerID)
	a := accept
	if c.policy != nil {
		a = c.policy(req)
	}
	f.calls = append(f.calls, call{Ref: ref, Req: req, At: f.clk.Now()})
	if f.onSet != nil {
		f.onSet(ref, req, a)
	}
	switch a {
	case reject:
		f.mu.Unlock()
		return site.CommandResult{Status: site.CommandRejected}, nil
	case timeout:
		f.mu.Unlock()
		return site.CommandResult{}, fmt.Errorf("fake: %w", site.ErrTimeout)
	case timeoutApplied:
		f.install(c, req)
		f.mu.Unlock()
		return site.CommandResult{}, fmt.Errorf("fake: %w", site.ErrTimeout)
	case late:
		f.parked++
		rel := f.release
		f.mu.Unlock()
		f.m.notifyActivity()
		select {
		case <-rel:
		case <-ctx.Done():
		}
		f.mu.Lock()
		released := false
		select {
		case <-rel:
			released = true
		default:
			f.parked-- // not released: still counted as parked
		}
		if !released {
			f.mu.Unlock()
			return site.CommandResult{}, ctx.Err()
		}
		f.install(c, req)
		f.mu.Unlock()
		return site.CommandResult{Status: site.CommandAccepted}, nil
	case ignore:
		c.ignores = true
	}
	f.install(c, req)
	f.mu.Unlock()
	return site.CommandResult{Status: site.CommandAccepted}, nil
}

// releaseLate lets every parked command answer. They count as unparked
// at once, so the harness waits for their answers to be handled.
func (f *fakeControl) releaseLate() {
	f.mu.Lock()
	f.parked = 0
	close(f.release)
	f.release = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeControl) ClearLimit(context.Context, site.ChargerRef, site.ClearRequest) (site.CommandResult, error) {
	return site.CommandResult{Status: site.CommandAccepted}, nil
}

func (f *fakeControl) CompositeSchedule(ctx context.Context, ref site.ChargerRef, evse int, d time.Duration, unit site.RateUnit) (site.Schedule, error) {
	f.mu.Lock()
	c := f.get(ref.ChargerID)
	fn := c.schedule
	f.mu.Unlock()
	if fn != nil {
		return fn(evse)
	}
	return site.Schedule{}, fmt.Errorf("fake: GetCompositeSchedule: not supported")
}

func (f *fakeControl) Trigger(ctx context.Context, ref site.ChargerRef, evse int, what site.TriggerKind) (site.CommandResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = append(f.triggers, what)
	return site.CommandResult{Status: site.CommandAccepted}, nil
}

// setCalls returns the SetLimit calls since mark.
func (f *fakeControl) since(mark int) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls[mark:]...)
}

func (f *fakeControl) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// harness runs a Manager on a fake clock, a fake control and the Redis
// store on miniredis.
type harness struct {
	t     *testing.T
	clk   *fakeClock
	ctrl  *fakeControl
	store *redisstore.Store
	m     *Manager
	reg   *prometheus.Registry
	ctx   context.Context
	stop  context.CancelFunc
	cfg   Config
}

var t0 = time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)

func testLogger() *slog.Logger {
	if os.Getenv("LOOP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHarness(t *testing.T, conf site.Config, mod func(*Config)) *harness {
	t.Helper()
	return newHarnessOn(t, miniredis.RunT(t).Addr(), conf, mod)
}

// newHarnessOn runs the harness on the Redis at addr.
func newHarnessOn(t *testing.T, addr string, conf site.Config, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clk: &fakeClock{now: t0}}
	h.ctrl = &fakeControl{clk: h.clk, chargers: map[string]*fakeCharger{}, release: make(chan struct{})}
	// While Redis is down (tests take it down) a command fails at once
	// (no retries, one dial), and the pool never stops dialing for a
	// second after many failures.
	h.store = redisstore.New(redis.NewClient(&redis.Options{Addr: addr, DialerRetries: 1, PoolSize: 1000, MaxRetries: -1}), &redisstore.Options{Clock: h.clk})
	t.Cleanup(func() { h.store.Close() })
	if _, err := h.store.CreateSite(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	h.cfg = Config{Store: h.store, LoopState: h.store, Control: h.ctrl, Clock: h.clk, Logger: testLogger(), NoReadback: true}
	if mod != nil {
		mod(&h.cfg)
	}
	h.start()
	return h
}

// start (re)starts a Manager on the harness's store and control.
func (h *harness) start() {
	h.t.Helper()
	h.reg = prometheus.NewRegistry()
	cfg := h.cfg
	cfg.Registry = h.reg
	m, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.m = m
	h.ctrl.mu.Lock()
	h.ctrl.m = m
	h.ctrl.mu.Unlock()
	h.ctx, h.stop = context.WithCancel(context.Background())
	if err := m.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { h.stopManager() })
	h.settle()
}

func (h *harness) stopManager() {
	if h.m == nil {
		return
	}
	// Like kill -9 as far as chargers can tell: calls in flight are cut
	// off unanswered, and the state in Redis is what was written before
	// (no last write).
	h.m.crash.Store(true)
	h.m.Stop()
	h.stop()
	h.ctrl.releaseLate()
	h.m = nil
}

// quiet reports whether every loop has handled everything queued, every
// command is answered or parked, and no fired timer waits to be read.
func (h *harness) quiet() bool {
	h.m.mu.Lock()
	loops := make([]*siteLoop, 0, len(h.m.loops))
	for _, l := range h.m.loops {
		loops = append(loops, l)
	}
	h.m.mu.Unlock()
	inflight := 0
	for _, l := range loops {
		q := false
		err := l.call(h.ctx, func(context.Context) {
			// Checked on the loop goroutine: nothing it read is being
			// handled elsewhere meanwhile.
			l.armWake()
			inflight += l.inflight
			q = len(l.inbox) == 0 && len(l.results) == 0 && len(l.kicks) == 0 && !h.clk.unread()
		})
		if err != nil {
			continue // stopped
		}
		if !q {
			return false
		}
	}
	h.ctrl.mu.Lock()
	parked := h.ctrl.parked
	h.ctrl.mu.Unlock()
	return inflight == parked && !h.clk.unread()
}

// settle waits (on activity, not on time) until the system is quiet.
func (h *harness) settle() {
	h.t.Helper()
	guard := time.NewTimer(20 * time.Second) // real time: only to fail a hung test
	defer guard.Stop()
	for {
		act := h.m.activityCh()
		if h.quiet() {
			return
		}
		select {
		case <-act:
		case <-guard.C:
			h.t.Fatal("harness: the loop did not settle")
		}
	}
}

// advance moves the fake time on and settles.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	h.settle()
}

// adapterWrite writes what an event reports to the store, as the OCPP
// adapter does before it publishes.
func (h *harness) adapterWrite(ev site.Event) {
	h.t.Helper()
	_, err := h.store.UpdateChargerState(context.Background(), ev.Charger(), func(st *site.ChargerState) error {
		if st.EVSEs == nil {
			st.EVSEs = map[int]site.EVSEState{}
		}
		switch e := ev.(type) {
		case site.ChargerConnected:
			st.Connected, st.Protocol = true, e.Protocol
		case site.ChargerDisconnected:
			st.Connected = false
		case site.ChargerBooted:
			st.Connected, st.Boot = true, e.Boot
		case site.ChargerCapabilitiesRead:
			st.Capabilities = e.Capabilities
		case site.EVSEStatusChanged:
			s := st.EVSEs[e.EVSE]
			s.Status = e.Status
			st.EVSEs[e.EVSE] = s
		case site.TransactionStarted:
			s := st.EVSEs[e.Transaction.EVSE]
			tx := e.Transaction
			s.Transaction = &tx
			st.EVSEs[tx.EVSE] = s
		case site.TransactionStopped:
			s := st.EVSEs[e.Transaction.EVSE]
			s.Transaction = nil
			st.EVSEs[e.Transaction.EVSE] = s
		case site.MeterSampled:
			s := st.EVSEs[e.EVSE]
			smp := e.Sample
			s.LastSample = &smp
			st.EVSEs[e.EVSE] = s
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// run publishes events (written to the store first, as the adapter does),
// lets the coalescing delay pass and settles.
func (h *harness) run(evs ...site.Event) {
	h.t.Helper()
	for _, ev := range evs {
		h.adapterWrite(ev)
		h.m.Publish(ev)
	}
	h.settle()
	h.advance(h.m.cfg.Coalesce)
}

func (h *harness) loop(siteID string) *siteLoop { return h.m.existing(siteID) }

// do runs f on the site's loop goroutine.
func (h *harness) do(siteID string, f func(l *siteLoop)) {
	h.t.Helper()
	l := h.loop(siteID)
	if l == nil {
		h.t.Fatalf("no loop for site %s", siteID)
	}
	if err := l.call(h.ctx, func(context.Context) { f(l) }); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) hdr(charger string) site.EventHeader {
	return site.EventHeader{Ref: site.ChargerRef{SiteID: "depot", ChargerID: charger}, Time: h.clk.Now()}
}

// plugIn: a charger connects, boots and a car starts a transaction.
func (h *harness) plugIn(charger string, caps site.Capabilities, boot site.BootInfo) []site.Event {
	return []site.Event{
		site.ChargerConnected{EventHeader: h.hdr(charger), Protocol: "ocpp1.6"},
		site.ChargerBooted{EventHeader: h.hdr(charger), Boot: boot},
		site.ChargerCapabilitiesRead{EventHeader: h.hdr(charger), Capabilities: caps},
		site.EVSEStatusChanged{EventHeader: h.hdr(charger), EVSE: 1, Status: site.StatusCharging},
		site.TransactionStarted{EventHeader: h.hdr(charger), Transaction: site.Transaction{ID: "tx-" + charger, EVSE: 1, Start: h.clk.Now()}},
	}
}

// dumpLoop describes the loop's records of every EVSE (for failures).
func (h *harness) dumpLoop() string {
	var sb strings.Builder
	h.do("depot", func(l *siteLoop) {
		b := l.build(h.clk.Now())
		fmt.Fprintf(&sb, "at %s:\n", b.now.Format(time.TimeOnly+".0"))
		rec := func(r *site.ProfileRecord) string {
			if r == nil {
				return "-"
			}
			return fmt.Sprintf("#%d %.1fA sent %s expires %s timedOut=%v", r.Seq, r.Limit, r.Sent.Format(time.TimeOnly+".0"),
				r.Expires.Format(time.TimeOnly+".0"), r.TimedOut)
		}
		slot := func(name string, s *site.ProfileSlot) {
			fmt.Fprintf(&sb, "    %s: accepted %s", name, rec(s.Accepted))
			for i := range s.Pending {
				fmt.Fprintf(&sb, "; pending %s", rec(&s.Pending[i]))
			}
			sb.WriteString("\n")
		}
		for i, ref := range b.evs {
			rt := ref.rt()
			fmt.Fprintf(&sb, "  %s/%d counted %.1f A, tx %q, target %.1f, fallback due %.1f, inflight %v, fbGaveUp %v, connected %v\n",
				ref.c.ref.ChargerID, ref.id(), b.entries[i].CountedAt(b.now), b.entries[i].TxID, ref.ls().Target, rt.fallback,
				rt.inflight != nil, rt.fbGaveUp, ref.c.st.Connected)
			slot("fallback", &ref.ls().Fallback)
			slot("txdefault", &ref.ls().TxDefault)
			slot("tx", &ref.ls().Tx)
		}
	})
	return sb.String()
}

// view returns the site's allocation.
func (h *harness) view() site.AllocationView {
	h.t.Helper()
	v, err := h.m.Allocation(h.ctx, "depot")
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) evseView(charger string) site.EVSEView {
	h.t.Helper()
	for _, e := range h.view().EVSEs {
		if e.ChargerID == charger {
			return e
		}
	}
	h.t.Fatalf("no EVSE of %s in the view", charger)
	return site.EVSEView{}
}

// depot is a site with a grid connection of limit A per phase and n
// three-phase chargers of 32 A, each with one EVSE, on circuit c1 (63 A).
func depot(limit site.Amps, n int) site.Config {
	conf := site.Config{
		Site:     site.Site{ID: "depot", TimeZone: "Europe/Berlin", NominalVoltage: 230, GridLimit: site.Uniform(limit)},
		Circuits: []site.Circuit{{SiteID: "depot", ID: "c1", Limit: site.Uniform(min(limit, 63))}},
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("cp%d", i)
		conf.Chargers = append(conf.Chargers, site.Charger{SiteID: "depot", ID: id, OCPPIdentity: "ID-" + id, Circuit: "c1",
			EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 32, Phases: 3}}})
	}
	return conf
}

var caps16 = site.Capabilities{MaxStackLevel: 8, MaxPeriods: 24, RateUnits: []site.RateUnit{site.UnitAmps, site.UnitWatts}, MaxProfiles: 8}

var acme = site.BootInfo{Vendor: "ACME", Model: "Wallbox"}
