package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/sim"
	"github.com/smartcharge/smartcharge/site"
)

// The fault tests run a smaller depot: 63 A, a 32 A sub-circuit, eight
// chargers (four per OCPP version), one car per charger wanting 32 A: the
// demand exceeds the supply, and every car can still get its 6 A minimum.
func smallDepot(mod func(i int, c *chargerDef)) siteDef {
	s := siteDef{Grid: 63, Circuits: []sim.CircuitSpec{{ID: "sub", Limit: sim.Currents{32, 32, 32}}}}
	for i := range 8 {
		c := chargerDef{ID: fmt.Sprintf("cp%02d", i+1), OCPP: sim.OCPP16, Max: 32, Phases: 3}
		if i%2 == 1 {
			c.OCPP = sim.OCPP201
		}
		if i < 2 {
			c.Circuit = "sub"
		}
		if mod != nil {
			mod(i, &c)
		}
		s.Chargers = append(s.Chargers, c)
	}
	return s
}

// steady waits until the cars share the site: every connected charger's
// car that is allowed current draws, and the sums are within the limits.
func (e *env) steady(tb testing.TB, minDraw site.Amps) {
	tb.Helper()
	waitFor(tb, 45*time.Second, fmt.Sprintf("cars drawing %.0f A within the limits", float64(minDraw)), func() (bool, string) {
		x, _ := e.f.smp.last()
		g := x.node(sim.GridNode)
		if g.Draw.Max() < minDraw {
			return false, fmt.Sprintf("grid draw %v accepted %v", g.Draw, g.Accepted)
		}
		return within(x, e.limits)
	})
}

// allocation reads the loop's allocation over gRPC; nil when the daemon
// does not serve it (AllocationService not wired yet).
func (e *env) allocation(tb testing.TB) *pb.Allocation {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := pb.NewAllocationServiceClient(e.d.cc).GetAllocation(ctx, &pb.GetAllocationRequest{Name: "sites/" + siteID + "/allocation"})
	switch status.Code(err) {
	case codes.OK:
		return r.GetAllocation()
	case codes.Unimplemented, codes.FailedPrecondition, codes.Unavailable, codes.NotFound:
		tb.Logf("GetAllocation: %v (checked through the log instead)", err)
		return nil
	}
	tb.Errorf("GetAllocation: %v", err)
	return nil
}

func evseAlloc(a *pb.Allocation, charger string) *pb.EvseAllocation {
	for _, ev := range a.GetEvses() {
		if ev.GetCharger() == "sites/"+siteID+"/chargers/"+charger || strings.HasSuffix(ev.GetName(), "/chargers/"+charger+"/evses/1") {
			return ev
		}
	}
	return nil
}

// nonCompliantLogged waits for the loop's warning that charger is
// non-compliant and returns its reason.
func (e *env) nonCompliantLogged(tb testing.TB, charger string, timeout time.Duration) string {
	tb.Helper()
	var reason string
	waitFor(tb, timeout, "loop logs "+charger+" non-compliant", func() (bool, string) {
		for _, l := range e.d.logs("charger non-compliant") {
			if l.str("charger") == charger {
				reason = l.str("reason")
				return true, ""
			}
		}
		return false, "no log line"
	})
	return reason
}

// othersAccepted sums the accepted limits (per grid phase) of every
// charger but skip, from the chargers' own state.
func othersAccepted(f *fleet, skip string) site.PhaseCurrents {
	var sum site.PhaseCurrents
	for _, c := range f.Chargers() {
		if c.ID() == skip {
			continue
		}
		st := c.State()
		for _, ev := range st.EVSEs {
			ph := ev.Phases
			if ph == 0 {
				ph = c.Spec().EVSEs[ev.EVSE-1].Phases
			}
			d := sim.GridDraw(mustRotation(c.Spec().Rotation), ph, ev.Limit)
			for p := range 3 {
				sum[p] += d[p]
			}
		}
	}
	return sum
}

func mustRotation(s string) site.PhaseRotation {
	r, _ := site.ParsePhaseRotation(s)
	if !r.Known() {
		return site.StandardRotation
	}
	return r
}

// TestChargerRejectsEveryProfile: a charger answers every
// SetChargingProfile Rejected (K01: the CSMS must not rely on a limit the
// charger refused). It stays at its EVSE maximum; the loop counts it there,
// marks it non-compliant and lowers the others to make room. The accepted
// limits never sum above a limit.
func TestChargerRejectsEveryProfile(t *testing.T) {
	const rej = "cp05"
	s := smallDepot(func(i int, c *chargerDef) {
		if c.ID == rej {
			c.Quirks.RejectProfiles = true
		}
	})
	e := newEnv(t, s, envOptions{})
	e.f.plugAll(t)
	reason := e.nonCompliantLogged(t, rej, 30*time.Second)
	t.Logf("non-compliant: %s", reason)
	if !strings.Contains(reason, "refuses") {
		t.Errorf("non-compliance reason %q does not say it refuses profiles", reason)
	}
	e.steady(t, 50)
	// The closing state, from the chargers' side: the rejecting charger at
	// its maximum (no profile installed), everybody else within the rest.
	c, _ := e.f.Charger(rej)
	st := c.State()
	if len(st.Profiles) != 0 || st.EVSEs[0].Limit != 32 {
		t.Errorf("%s: %d profiles installed, limit %.1f A; want none and its 32 A maximum", rej, len(st.Profiles), float64(st.EVSEs[0].Limit))
	}
	if st.Received["SetChargingProfile"] == 0 {
		t.Errorf("%s was never sent a profile", rej)
	}
	if got, _ := e.d.metric("smartcharge_loop_evse_allocated_amps", `charger="`+rej+`"`); got < 32 {
		t.Errorf("loop counts %s at %.1f A, want its 32 A maximum", rej, got)
	}
	if got, _ := e.d.metric("smartcharge_loop_chargers_non_compliant"); got != 1 {
		t.Errorf("smartcharge_loop_chargers_non_compliant = %v, want 1", got)
	}
	others := othersAccepted(e.f, rej)
	for p := range 3 {
		if others[p] > 63-32+sim.Tolerance {
			t.Errorf("L%d: the other chargers accepted %.1f A, above the %.1f A left by the rejecting charger", p+1, float64(others[p]), 63.0-32)
		}
	}
	if a := e.allocation(t); a != nil {
		if ev := evseAlloc(a, rej); ev == nil || !ev.GetNonCompliant() || ev.GetCountedAt() < 32 {
			t.Errorf("allocation of %s: %v; want non_compliant and counted at 32 A", rej, ev)
		}
	}
	e.checkNoViolations(t)
	if n := e.f.Ledger().Count(sim.ViolationDraw); n != 0 {
		t.Errorf("draw ledger: %d violation episodes", n)
	}
}

// TestChargerIgnoresItsProfile: a charger accepts its profiles but lets
// the car draw its 32 A. The loop sees it in the meter values, marks the
// charger non-compliant after its grace period and lowers the others, so
// the cars' real draw gets back within every limit and stays there. The
// accepted limits never sum above a limit (the lie is in the draw only).
func TestChargerIgnoresItsProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the loop's 60 s grace period")
	}
	const liar = "cp06"
	s := smallDepot(func(i int, c *chargerDef) {
		if c.ID == liar {
			c.Quirks.IgnoreProfiles = true
		}
	})
	e := newEnv(t, s, envOptions{})
	e.f.plugAll(t)
	plugged := time.Now()
	reason := e.nonCompliantLogged(t, liar, grace+30*time.Second)
	detected := time.Now()
	t.Logf("non-compliant %s after plug-in: %s", detected.Sub(plugged).Round(time.Second), reason)
	if !strings.Contains(reason, "draws") {
		t.Errorf("non-compliance reason %q does not come from meter values", reason)
	}
	// Others are lowered to make room for its 32 A: the real draw is back
	// within the grid limit within a loop tick and the answer timeout.
	backAt := waitFor(t, lowerBound, "draw within every limit after detection", func() (bool, string) {
		x, _ := e.f.smp.last()
		if !x.At.After(detected) {
			return false, "no sample yet"
		}
		return within(x, e.limits)
	})
	waitFor(t, 2*loopTick, "others within what the liar leaves", func() (bool, string) {
		o := othersAccepted(e.f, liar)
		return o.Max() <= 63-32+sim.Tolerance, fmt.Sprintf("others accepted %v", o)
	})
	for _, x := range e.f.smp.since(backAt) {
		if ok, why := within(x, e.limits); !ok {
			t.Errorf("after the lowering, at %s: %s", x.At.Format(time.RFC3339Nano), why)
			break
		}
	}
	// The accepted limits (what chargers said yes to) kept every limit.
	for _, v := range ledgerViolations(e.f, e.settled) {
		if v.Kind != sim.ViolationDraw {
			t.Errorf("simulator ledger: %s", v)
			continue
		}
		// The physical overload the liar caused ends with the lowering.
		t.Logf("draw episode while %s lied: %s", liar, v)
		if v.End.After(backAt.Add(time.Second)) || v.Open {
			t.Errorf("draw violation outlived the lowering: %s", v)
		}
		liarIn := false
		for _, o := range v.Offenders {
			liarIn = liarIn || o.Charger == liar
		}
		if !liarIn {
			t.Errorf("draw violation without the liar among its offenders: %s", v)
		}
	}
	if got, _ := e.d.metric("smartcharge_loop_evse_allocated_amps", `charger="`+liar+`"`); got < 32 {
		t.Errorf("loop counts %s at %.1f A, want its 32 A maximum", liar, got)
	}
	if a := e.allocation(t); a != nil {
		if ev := evseAlloc(a, liar); ev == nil || !ev.GetNonCompliant() {
			t.Errorf("allocation of %s: %v; want non_compliant", liar, ev)
		}
	}
}

// TestChargerGoesOffline: a charger drops its connection while its car
// charges. It keeps applying its profiles (the simulator counts it at
// them); the loop counts it at no less than its fallback, keeps the others
// within the limits, and takes it back when it returns.
func TestChargerGoesOffline(t *testing.T) {
	const off = "cp04"
	e := newEnv(t, smallDepot(nil), envOptions{})
	e.f.plugAll(t)
	e.steady(t, 50)
	c, _ := e.f.Charger(off)
	c.Disconnect(25 * time.Second)
	waitFor(t, 10*time.Second, "loop sees the charger offline", func() (bool, string) {
		for _, l := range e.d.logs("ocpp charger disconnected") {
			if l.str("identity") == off {
				return true, ""
			}
		}
		return false, "not yet"
	})
	// While it is away the loop runs (a tick at least) and the other cars
	// may be moved; the invariant must hold, the offline one counted.
	away := offlineSince(e.d, off)
	waitFor(t, 3*loopTick, "two loop ticks with the charger offline", func() (bool, string) {
		return time.Since(away) > 2*loopTick, "waiting"
	})
	if st := c.State(); st.Connected {
		t.Fatalf("%s reconnected too early for the test", off)
	}
	// The loop counts it at no less than what it applies (the metric is
	// the allocation view's limit: for an offline EVSE what it is counted at).
	if got, ok := e.d.metric("smartcharge_loop_evse_allocated_amps", `charger="`+off+`"`); !ok {
		t.Errorf("no smartcharge_loop_evse_allocated_amps for %s", off)
	} else if applies := c.State().EVSEs[0].Limit; got+0.05 < float64(applies) {
		t.Errorf("%s offline is counted at %.1f A while it applies %.1f A", off, got, float64(applies))
	} else {
		t.Logf("%s offline: counted at %.1f A, applies %.1f A", off, got, float64(applies))
	}
	if a := e.allocation(t); a != nil {
		ev := evseAlloc(a, off)
		if ev == nil || ev.GetState() != pb.EvseControlState_EVSE_CONTROL_STATE_OFFLINE {
			t.Errorf("allocation of %s while offline: %v; want state OFFLINE", off, ev)
		} else if st := c.State(); ev.GetCountedAt()+0.05 < float64(st.EVSEs[0].Limit) {
			t.Errorf("%s is counted at %.1f A while it applies %.1f A", off, ev.GetCountedAt(), float64(st.EVSEs[0].Limit))
		}
	}
	// It comes back and is controlled again.
	waitFor(t, 40*time.Second, "charger back online", func() (bool, string) {
		st := c.State()
		return st.Connected && st.Booted && st.Connects >= 2, fmt.Sprintf("connected=%v connects=%d", st.Connected, st.Connects)
	})
	e.steady(t, 50)
	e.checkNoViolations(t)
	if n := e.f.Ledger().Count(sim.ViolationDraw); n != 0 {
		t.Errorf("draw ledger: %d violation episodes", n)
	}
}

// offlineSince returns when the daemon logged the charger's last
// disconnection (now if never).
func offlineSince(d *daemon, charger string) time.Time {
	at := time.Now()
	for _, l := range d.logs("ocpp charger disconnected") {
		if l.str("identity") != charger {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, l.str("time")); err == nil {
			at = t
		}
	}
	return at
}

// TestRedisRestart: redis-server stops and comes back (append-only file,
// same data). The loop keeps the chargers within the limits meanwhile,
// and afterwards it keeps going on the same state: the site, its grid
// limits and the loop's own state are intact, and a grid limit lowered
// after the restart is put in force.
func TestRedisRestart(t *testing.T) {
	e := newEnv(t, smallDepot(nil), envOptions{})
	e.f.plugAll(t)
	e.steady(t, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.d.setGridLimit(ctx, "owner-cap", pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, 60); err != nil {
		t.Fatal(err)
	}
	before := e.f.profileMessages()

	e.redis.Stop()
	stopped := time.Now()
	// One loop tick and more without Redis.
	waitFor(t, 3*loopTick, "a loop tick without Redis", func() (bool, string) {
		return time.Since(stopped) > loopTick+time.Second, ""
	})
	e.redis.Restart()

	// State intact: the limit set before the outage is still there.
	var gl *pb.GridLimit
	waitFor(t, 20*time.Second, "API reads the grid limit again", func() (bool, string) {
		r, err := e.d.gridLimits().GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/" + siteID + "/gridLimits/owner-cap"})
		if err != nil {
			return false, err.Error()
		}
		gl = r.GetGridLimit()
		return true, ""
	})
	if gl.GetLimit().GetL1() != 60 {
		t.Errorf("grid limit after the Redis restart: %v", gl)
	}
	// The loop keeps going: a lower limit is put in force.
	changed := time.Now()
	if err := e.d.setGridLimit(ctx, "ems-peak", pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, 40); err != nil {
		t.Fatal(err)
	}
	in40 := map[string]site.PhaseCurrents{sim.GridNode: site.Uniform(40), "sub": e.limits["sub"]}
	inForce := waitFor(t, lowerBound, "40 A in force after the Redis restart", func() (bool, string) {
		x, _ := e.f.smp.last()
		if !x.At.After(changed) {
			return false, "no sample yet"
		}
		return within(x, in40)
	})
	t.Logf("40 A in force %s after SetGridLimit (Redis restarted)", inForce.Sub(changed).Round(time.Millisecond))
	for _, x := range e.f.smp.since(inForce) {
		if ok, why := within(x, in40); !ok {
			t.Errorf("after 40 A was in force, at %s: %s", x.At.Format(time.RFC3339Nano), why)
			break
		}
	}
	after := e.f.profileMessages()
	total := 0
	for id, n := range after {
		total += n - before[id]
	}
	t.Logf("SetChargingProfile messages during outage and lowering: %d", total)
	e.checkNoViolations(t)
	if n := e.f.Ledger().Count(sim.ViolationDraw); n != 0 {
		t.Errorf("draw ledger: %d violation episodes", n)
	}
	if len(e.d.logs("smartcharged stopped")) > 0 {
		t.Error("the daemon stopped during the Redis outage")
	}
}

// TestDaemonKilled: smartcharged dies with SIGKILL and starts again on the
// same Redis. The chargers keep their profiles meanwhile (the invariant
// holds), reconnect, and the loop resumes from Redis: it does not send the
// unchanged profiles to every charger again.
func TestDaemonKilled(t *testing.T) {
	e := newEnv(t, smallDepot(nil), envOptions{})
	e.f.plugAll(t)
	e.steady(t, 50)
	// Let the allocation settle (no change for two ticks), then count.
	waitFor(t, 40*time.Second, "no profile sent for two loop ticks", quiet(e.f, 2*loopTick+time.Second))
	before := e.f.profileMessages()

	e.d.kill(syscall.SIGKILL)
	killed := time.Now()
	e.d.start()
	waitFor(t, 30*time.Second, "chargers reconnected", func() (bool, string) {
		for _, c := range e.f.Chargers() {
			st := c.State()
			if !st.Connected || !st.Booted || st.Connects < 2 {
				return false, fmt.Sprintf("%s connected=%v connects=%d", st.ID, st.Connected, st.Connects)
			}
		}
		return true, ""
	})
	// Two loop ticks of the new process.
	waitFor(t, 3*loopTick, "two loop ticks after the restart", func() (bool, string) {
		return time.Since(killed) > 2*loopTick+2*time.Second, ""
	})
	after := e.f.profileMessages()
	resent := 0
	for id, n := range after {
		if d := n - before[id]; d > 0 {
			resent++
			t.Logf("%s: %d SetChargingProfile after the restart", id, d)
		}
	}
	if resent > 1 {
		t.Errorf("after the restart %d of %d chargers were sent SetChargingProfile again; the loop should resume from Redis and send only changes", resent, len(after))
	}
	e.steady(t, 50)
	e.checkNoViolations(t)
	if n := e.f.Ledger().Count(sim.ViolationDraw); n != 0 {
		t.Errorf("draw ledger: %d violation episodes", n)
	}
}

// quiet holds when no charger received a SetChargingProfile for d.
func quiet(f *fleet, d time.Duration) func() (bool, string) {
	last := f.profileMessages()
	since := time.Now()
	return func() (bool, string) {
		now := f.profileMessages()
		for id, n := range now {
			if n != last[id] {
				last, since = now, time.Now()
				return false, id + " got a profile"
			}
		}
		return time.Since(since) >= d, "quiet for " + time.Since(since).Round(time.Second).String()
	}
}

// TestCarsGetTheirShareAfterPlugIn: eight cars plugged in right after
// the loop set up their idle EVSEs (a dynamic profile of 0 A a moment ago)
// must soon draw their share of the 62.5 A (7.8 A each): within two raise
// intervals and a loop tick.
//
// Regression test for two loop behaviours seen here:
//   - before loop commit 3ab28c4 the cars stayed paused for the
//     scheduler's MinDwell (2 min): the loop decided to start a car
//     (target 0 -> 7.8 A, Since = now), the raise was held by
//     MinRaiseInterval, and the next run passed the scheduler PrevLimit =
//     the applied 0 A with that fresh Since, read as "paused by us within
//     the dwell time" (log: "pausing EVSE", reason "paused, dwell time");
//   - at 6fc31b3 a raise to 7.8 A is followed within 100 ms by "lowering
//     EVSE limit" 7.8 -> 6 A, reason "follows what the car draws": the
//     meter sample it follows predates the raise (the car had no time to
//     ramp up), so the cars stay at 6 A.
func TestCarsGetTheirShareAfterPlugIn(t *testing.T) {
	e := newEnv(t, smallDepot(nil), envOptions{})
	e.f.plugAll(t) // at once: the idle EVSEs just got their profiles
	plugged := time.Now()
	waitFor(t, 2*minRaiseInterval+loopTick+5*time.Second, "cars drawing their share (>= 60 A)", func() (bool, string) {
		x, _ := e.f.smp.last()
		g := x.node(sim.GridNode)
		if g.Draw.Max() < 60 {
			reasons := map[string]int{}
			for _, msg := range []string{"pausing EVSE", "lowering EVSE limit"} {
				for _, l := range e.d.logs(msg) {
					reasons[msg+": "+l.str("reason")]++
				}
			}
			return false, fmt.Sprintf("grid draw %v; loop log: %v", g.Draw, reasons)
		}
		return true, ""
	})
	t.Logf("cars drawing their share %s after plug-in", time.Since(plugged).Round(time.Millisecond))
	e.checkNoViolations(t)
}
