package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// siteLoop is the control loop of one site: one goroutine that owns all of
// the site's state and serialises events, answers, timers and API calls.
type siteLoop struct {
	m   *Manager
	id  string
	log *slog.Logger

	inbox    chan site.Event
	overflow atomic.Bool
	kicks    chan string
	results  chan cmdResult
	calls    chan func(ctx context.Context)
	done     chan struct{}
	cmds     sync.WaitGroup

	// Owned by the loop goroutine.
	conf     site.Config
	loaded   bool
	chargers map[string]*charger
	ls       site.LoopState
	dirty    string // trigger of the run due, "" if none
	dirtyAt  time.Time
	coalesce Timer
	wake     Timer
	wakeAt   time.Time
	inflight int
	last     *built
	gone     bool
	// lastAlloc is the scheduler's last allocation (parallel to last.evs).
	lastAlloc   *scheduler.Allocation
	lastTrigger string
	// wantAt is the earliest time the dispatcher asked to run again.
	wantAt time.Time
	// order is the chargers in ID order (rebuilt by load).
	order []*charger
	// viewAt is when the view was last published; viewStale says a
	// dispatch since then did not publish (see settleDispatch).
	viewAt    time.Time
	viewStale atomic.Bool
	// lazyAt is when lazy changes of charger states were last written.
	lazyAt time.Time
	// writeFailedUntil: a write of charger states failed; none is tried
	// again before this (see persistChargers).
	writeFailedUntil time.Time
	// held is each metered node's last well-founded other load;
	// otherMode how its estimate was made last (for logging changes).
	held      map[string]*[3]heldLoad
	otherMode map[string]string

	view     atomic.Pointer[site.AllocationView]
	watchMu  sync.Mutex
	watchers map[chan site.AllocationUpdate]struct{}
}

func newSiteLoop(m *Manager, id string) *siteLoop {
	return &siteLoop{
		m: m, id: id, log: m.log.With("site", id),
		inbox:    make(chan site.Event, m.cfg.Inbox),
		kicks:    make(chan string, 1),
		results:  make(chan cmdResult, 1024),
		calls:    make(chan func(context.Context)),
		done:     make(chan struct{}),
		chargers: map[string]*charger{},
		watchers: map[chan site.AllocationUpdate]struct{}{},
	}
}

// publish queues an event; when the queue is full the loop re-reads the
// state from the store instead (the adapter writes it before publishing).
func (l *siteLoop) publish(ev site.Event) {
	select {
	case l.inbox <- ev:
	default:
		l.overflow.Store(true)
		l.kick("overflow")
	}
}

// kick asks for a run; kicks coalesce.
func (l *siteLoop) kick(reason string) {
	select {
	case l.kicks <- reason:
	default:
	}
}

// call runs f on the loop goroutine and waits for it.
func (l *siteLoop) call(ctx context.Context, f func(ctx context.Context)) error {
	done := make(chan struct{})
	select {
	case l.calls <- func(ctx context.Context) { f(ctx); close(done) }:
	case <-l.done:
		return fmt.Errorf("loop: site %s: %w", l.id, ErrStopped)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-l.done:
		return fmt.Errorf("loop: site %s: %w", l.id, ErrStopped)
	}
}

func timerC(t Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C()
}

// run is the loop goroutine.
func (l *siteLoop) run(ctx context.Context) {
	defer close(l.done)
	defer l.cmds.Wait()
	clk := l.m.cfg.Clock
	l.reload(ctx)
	if l.gone {
		return
	}
	tick := clk.NewTimer(0)
	defer func() {
		tick.Stop()
		for _, t := range []Timer{l.coalesce, l.wake} {
			if t != nil {
				t.Stop()
			}
		}
	}()
	for {
		l.armWake()
		select {
		case <-ctx.Done():
			l.flushOnStop(ctx)
			return
		case ev := <-l.inbox:
			l.apply(ctx, ev)
			for more := true; more; {
				select {
				case ev := <-l.inbox:
					l.apply(ctx, ev)
				default:
					more = false
				}
			}
			l.markDirty("event")
		case reason := <-l.kicks:
			switch reason {
			case "trigger":
				// A changed configuration (a grid limit lowered) is no
				// burst: the run is made at once.
				l.reloadConfig(ctx)
				l.markDirty(reason)
				l.reconcile(ctx)
			case "overflow":
				l.reload(ctx)
				l.markDirty(reason)
			default:
				l.markDirty(reason)
			}
		case r := <-l.results:
			l.answers(ctx, r)
		case f := <-l.calls:
			f(ctx)
		case <-timerC(l.coalesce):
			l.coalesce = nil
			l.reconcile(ctx)
		case <-tick.C():
			tick = clk.NewTimer(l.m.cfg.Tick)
			l.reload(ctx)
			if l.gone {
				return
			}
			l.dirty = "tick"
			l.reconcile(ctx)
		case <-timerC(l.wake):
			l.wake, l.wakeAt = nil, time.Time{}
			if l.externalDue() {
				l.markDirty("external") // a limit set by others changes (events.go)
			}
			if l.loaded {
				l.dispatch(ctx)
			}
		}
		if l.gone {
			return
		}
		l.armWake()
		l.m.notifyActivity()
	}
}

// answers handles a charger's answer and every answer and event already
// queued behind it, then dispatches once for all of them: one pass over
// the site per batch, not per answer (with many chargers answering at
// once, a pass per answer made the loop fall behind its answers).
func (l *siteLoop) answers(ctx context.Context, r cmdResult) {
	l.inflight--
	l.handle(ctx, r)
	events := false
	for more := true; more; {
		select {
		case r := <-l.results:
			l.inflight--
			l.handle(ctx, r)
		case ev := <-l.inbox:
			l.apply(ctx, ev)
			events = true
		default:
			more = false
		}
	}
	if events {
		l.markDirty("event")
	}
	if !l.loaded {
		l.flush(ctx)
		return
	}
	l.dispatch(ctx)
}

// stopCoalesce cancels a pending coalescing delay (the run is made now).
func (l *siteLoop) stopCoalesce() {
	if l.coalesce != nil {
		l.coalesce.Stop()
		l.coalesce = nil
	}
}

// markDirty asks for a run after the coalescing delay, so a burst of
// events becomes one run.
func (l *siteLoop) markDirty(trigger string) {
	if l.dirty == "" {
		l.dirty, l.dirtyAt = trigger, l.m.cfg.Clock.Now()
	}
	if l.coalesce == nil {
		l.coalesce = l.m.cfg.Clock.NewTimer(l.m.cfg.Coalesce)
	}
}

// armWake sets the wake timer to the earliest deadline the dispatcher
// named (answer timeouts, rate limits, lease renewals, grace periods).
func (l *siteLoop) armWake() {
	at := l.nextDeadline()
	if at.IsZero() || (!l.wakeAt.IsZero() && !at.Before(l.wakeAt)) {
		return
	}
	if l.wake != nil {
		l.wake.Stop()
	}
	l.wakeAt = at
	l.wake = l.m.cfg.Clock.NewTimer(max(0, at.Sub(l.m.cfg.Clock.Now())))
}

// ioCtx bounds one store operation.
func (l *siteLoop) ioCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 5*time.Second)
}

// reload reads the site's configuration, loop state and charger states
// from the store. The loop's own per-charger state in memory wins over the
// stored one once loaded (it is written through). On the first load,
// profiles that were pending when the previous process stopped are marked
// timed out: their answers are lost.
func (l *siteLoop) reload(ctx context.Context) { l.load(ctx, true) }

// reloadConfig is reload for a changed configuration: the states of
// chargers already known are kept as the events left them (the next tick
// reads them all again).
func (l *siteLoop) reloadConfig(ctx context.Context) { l.load(ctx, false) }

// storeWorkers bounds the store operations a loop runs at once (reading
// and writing the charger states of a large site).
const storeWorkers = 16

// parallel runs f(i) for every i in [0, n) on up to storeWorkers
// goroutines and waits for them all.
func parallel(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, storeWorkers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// load is reload; all=false reads only the states of new chargers.
func (l *siteLoop) load(ctx context.Context, all bool) {
	ctx, cancel := l.ioCtx(ctx)
	defer cancel()
	conf, err := l.m.cfg.Store.Config(ctx, l.id)
	if errors.Is(err, site.ErrNotFound) {
		l.log.Info("site gone, stopping its loop")
		l.gone = true
		return
	}
	if err != nil {
		l.log.Warn("cannot read site config, keeping the last one", "err", err)
		return
	}
	if !l.loaded {
		ls, err := l.m.cfg.LoopState.LoopState(ctx, l.id)
		if err != nil {
			l.log.Warn("cannot read loop state, retrying on the next tick", "err", err)
			return
		}
		l.ls = ls
		if ls.Allocation != nil {
			v := *ls.Allocation
			l.view.Store(&v)
		}
	}
	if all {
		l.overflow.Store(false)
	}
	// Read the states in parallel, then take them in order.
	var read []int
	for i, cc := range conf.Chargers {
		if all || l.chargers[cc.ID] == nil {
			read = append(read, i)
		}
	}
	states := make([]site.ChargerState, len(read))
	errs := make([]error, len(read))
	if len(read) > 0 {
		parallel(len(read), func(k int) {
			ref := site.ChargerRef{SiteID: l.id, ChargerID: conf.Chargers[read[k]].ID}
			states[k], errs[k] = l.m.cfg.Store.ChargerState(ctx, ref)
		})
	}
	seen := map[string]bool{}
	k := 0
	for i, cc := range conf.Chargers {
		ref := site.ChargerRef{SiteID: l.id, ChargerID: cc.ID}
		seen[cc.ID] = true
		c := l.chargers[cc.ID]
		if k >= len(read) || read[k] != i {
			c.cfg = cc // known: its state is kept
			continue
		}
		st, err := states[k], errs[k]
		k++
		if err != nil {
			l.log.Warn("cannot read charger state", "charger", cc.ID, "err", err)
			if c != nil {
				c.cfg = cc
			}
			continue
		}
		if c == nil {
			c = &charger{ref: ref, evses: map[int]*evseRT{}}
			l.chargers[cc.ID] = c
			if st.Loop == nil {
				st.Loop = &site.ChargerLoopState{NextSeq: 1}
			} else {
				for _, e := range st.Loop.EVSEs {
					for _, s := range []*site.ProfileSlot{&e.Fallback, &e.TxDefault, &e.Tx} {
						for i := range s.Pending {
							s.Pending[i].TimedOut = true
						}
					}
				}
			}
		} else {
			st.Loop = c.st.Loop
		}
		fresh := c.st.Loop == nil
		c.cfg, c.st = cc, st
		if fresh {
			c.loadExternal()
		}
	}
	for id := range l.chargers {
		if !seen[id] {
			delete(l.chargers, id)
		}
	}
	l.order = l.order[:0]
	for _, c := range l.chargers {
		l.order = append(l.order, c)
	}
	sort.Slice(l.order, func(i, j int) bool { return l.order[i].ref.ChargerID < l.order[j].ref.ChargerID })
	l.conf = conf
	l.loaded = true
}

// flush writes every charger whose loop state changed (stateDirty; lazy
// changes too when nothing is in flight) and returns those whose write
// failed.
func (l *siteLoop) flush(ctx context.Context) map[*charger]bool {
	return l.persistChargers(ctx, nil, l.inflight == 0)
}

// stopFlushTimeout bounds the last write of a stopping loop.
const stopFlushTimeout = 3 * time.Second

// flushOnStop writes, when the loop is stopped, every change that waits
// for a write (answers, lowers, targets): a restart then starts from
// them and sends nothing again that was answered.
func (l *siteLoop) flushOnStop(ctx context.Context) {
	if !l.loaded || l.m.crash.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopFlushTimeout)
	defer cancel()
	l.writeFailedUntil = time.Time{} // the last chance: try
	l.persistChargers(ctx, nil, true)
}

// lazyEvery is how long lazy changes of charger states (answers, lowers,
// targets) may wait for their write while commands are in flight.
const lazyEvery = time.Second

// persistChargers writes the loop state of the chargers in must and of
// every other charger whose state changed (stateDirty; with lazy also
// those with lazy changes), storeWorkers at a time, and returns those
// whose write failed (logged).
//
// Only a raise must be written before it is sent (after a restart it
// would be forgotten and under-counted). Everything else may be lost in
// a crash without under-counting: a lost lower or target leaves the
// older, higher limit recorded; a lost answer leaves its command pending,
// which a restart counts as timed out at the higher of old and new
// limit. So those are written lazily, at most lazyEvery apart while
// commands are in flight and at once when none are: about one write per
// charger per change instead of one per command and answer.
//
// After a write failed none is tried for writeBackoff: those in must fail
// at once. (A Redis that does not answer holds each write for the I/O
// timeout, and the loop goroutine waits for its writes: without the
// pause every dispatch would wait that long, lowers too.)
func (l *siteLoop) persistChargers(ctx context.Context, must map[*charger]bool, lazy bool) map[*charger]bool {
	now := l.m.cfg.Clock.Now()
	if now.Before(l.writeFailedUntil) {
		l.want(l.writeFailedUntil)
		if len(must) == 0 {
			return nil
		}
		failed := make(map[*charger]bool, len(must))
		for c := range must {
			failed[c] = true
		}
		return failed
	}
	if lazy {
		l.lazyAt = now
	}
	var cs []*charger
	for _, c := range l.order {
		if c.stateDirty || must[c] || (lazy && c.lazy) {
			cs = append(cs, c)
		}
	}
	for c := range must {
		if l.chargers[c.ref.ChargerID] != c {
			cs = append(cs, c) // removed meanwhile: its write fails and says so
		}
	}
	if len(cs) == 0 {
		return nil
	}
	errs := make([]error, len(cs))
	// The loop goroutine waits meanwhile: nothing changes the states
	// while they are encoded.
	parallel(len(cs), func(i int) { errs[i] = l.writeCharger(ctx, cs[i]) })
	var failed map[*charger]bool
	for i, c := range cs {
		if errs[i] != nil {
			if failed == nil {
				failed = map[*charger]bool{}
			}
			failed[c] = true
			l.log.Warn("cannot write charger loop state", "charger", c.ref.ChargerID, "err", errs[i])
			continue
		}
		c.stateDirty, c.lazy = false, false
	}
	if failed != nil {
		l.writeFailedUntil = now.Add(writeBackoff)
		l.want(l.writeFailedUntil)
	}
	return failed
}

// writeBackoff is how long no charger state write is tried after one
// failed.
const writeBackoff = 5 * time.Second

// writeCharger writes the loop's state of one charger (only the Loop
// field; the adapter's fields are left as stored). It runs on a worker
// goroutine while the loop goroutine waits for it.
func (l *siteLoop) writeCharger(ctx context.Context, c *charger) error {
	ctx, cancel := l.ioCtx(ctx)
	defer cancel()
	loopState := c.st.Loop
	_, err := l.m.cfg.Store.UpdateChargerState(ctx, c.ref, func(st *site.ChargerState) error {
		st.Loop = loopState
		return nil
	})
	if err != nil {
		return fmt.Errorf("loop: persist charger %s: %w", c.ref, err)
	}
	return nil
}

// persistLoop writes a change of the site's loop state.
func (l *siteLoop) persistLoop(ctx context.Context, fn func(*site.LoopState)) error {
	ctx, cancel := l.ioCtx(ctx)
	defer cancel()
	_, err := l.m.cfg.LoopState.UpdateLoopState(ctx, l.id, func(ls *site.LoopState) error {
		fn(ls)
		ls.UpdateTime = l.m.cfg.Clock.Now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("loop: persist loop state of site %s: %w", l.id, err)
	}
	return nil
}
