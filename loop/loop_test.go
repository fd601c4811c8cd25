package loop

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/smartcharge/smartcharge/loop/ledger"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// limitsOf returns the limit (A) of each SetLimit call of a charger.
func limitsOf(calls []call, charger string, dynamicOnly bool) []float64 {
	var out []float64
	for _, c := range calls {
		if c.Ref.ChargerID == charger && (!dynamicOnly || c.Req.StackLevel > 0) {
			out = append(out, c.Req.Periods[0].Limit)
		}
	}
	return out
}

// checkLedger fails the test if the site's ledger breaks a limit now.
func (h *harness) checkLedger() {
	h.t.Helper()
	if err := h.ledgerErr(); err != nil {
		h.t.Errorf("ledger over limit: %v", err)
	}
}

func (h *harness) ledgerErr() error {
	var err error
	h.do("depot", func(l *siteLoop) {
		b := l.build(h.clk.Now())
		err = ledger.CheckAll(&b.tree, b.entries, b.now)
	})
	return err
}

func (h *harness) setGridLimit(a site.Amps) {
	h.t.Helper()
	_, err := h.store.UpdateConfig(context.Background(), "depot", func(c *site.Config) error {
		c.Limits = []site.GridLimit{{SiteID: "depot", ID: "owner", Source: site.SourceOwner, Limit: site.Uniform(a)}}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.m.Trigger("depot")
	h.settle()
	h.advance(h.m.cfg.Coalesce)
}

func near1(a, b float64) bool { return math.Abs(a-b) < 0.05 }

func TestStartupSendsFallbackThenDynamic(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	calls := h.ctrl.since(0)
	if len(calls) != 4 {
		t.Fatalf("got %d calls, want fallback and dynamic for two chargers: %+v", len(calls), calls)
	}
	for i, c := range calls {
		r := c.Req
		if i < 2 { // fallbacks first: TxDefault, lowest stack level, no duration
			// Each car's fair share of the grid limit less the safety
			// margin: (32 - 0.5) / 2.
			if r.Purpose != site.PurposeTxDefault || r.StackLevel != 0 || r.Duration != 0 || !near1(r.Periods[0].Limit, 15.7) {
				t.Errorf("call %d: want fallback 15.7 A, got %+v", i, r)
			}
			continue
		}
		if r.Purpose != site.PurposeTx || r.TransactionID != "tx-"+c.Ref.ChargerID || r.StackLevel != 1 ||
			r.Duration != 10*time.Minute || r.Start.IsZero() || !near1(r.Periods[0].Limit, 15.7) {
			t.Errorf("call %d: want Tx profile 15.7 A with a lease, got %+v", i, r)
		}
	}
	if v := h.evseView("cp1"); !near1(float64(v.Accepted), 15.7) || v.Pending || v.ReasonCode != "PHASE_LIMIT" {
		t.Errorf("view: %+v", v)
	}
	h.checkLedger()
	if got := metricValue(h.m.met.profiles.WithLabelValues("depot", "accepted")); got != 4 {
		t.Errorf("profiles accepted metric: %v, want 4", got)
	}
}

// Lowers go first; raises only after every lower is answered.
func TestLowersBeforeRaises(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.advance(15 * time.Second) // past the raise rate limit
	mark := h.ctrl.mark()
	h.ctrl.setPolicy("cp2", always(late))
	// The car on cp2 leaves: cp2 goes to 0 (a lower), cp1 may take the room (a raise).
	h.run(site.TransactionStopped{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2", EVSE: 1}},
		site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusAvailable})
	// Without a car cp2's dynamic limit and fallback go to 0: the dynamic
	// lower (what it applies now) goes first, alone, and nothing else
	// while it is unanswered.
	calls := h.ctrl.since(mark)
	if len(calls) != 1 || calls[0].Ref.ChargerID != "cp2" || calls[0].Req.StackLevel != 1 || calls[0].Req.Periods[0].Limit != 0 {
		t.Fatalf("want only the dynamic lower of cp2 while it is unanswered, got %+v", calls)
	}
	// Its transaction ended, so its Tx profile is gone: it is at its
	// fallback until the 0 is accepted.
	if v := h.evseView("cp2"); !v.Pending || !near1(float64(v.CountedAt), 15.7) {
		t.Errorf("cp2 while pending: %+v", v)
	}
	h.checkLedger()
	h.ctrl.setPolicy("cp2", always(accept))
	h.ctrl.releaseLate()
	h.settle()
	// Then cp2's fallback 0 (a lower), and only after its answer cp1's
	// raises: its dynamic limit to its fair share now, then its fallback
	// to the share less fallbackSlack.
	calls = h.ctrl.since(mark)[1:]
	if len(calls) != 3 || calls[0].Ref.ChargerID != "cp2" || calls[0].Req.StackLevel != 0 || calls[0].Req.Periods[0].Limit != 0 {
		t.Fatalf("after the dynamic lower, want cp2's fallback 0 then cp1's raises; got %+v", calls)
	}
	for i, want := range []struct {
		lvl int
		a   float64
	}{{1, 31.5}, {0, 31.5 - float64(fallbackSlack)}} {
		if c := calls[1+i]; c.Ref.ChargerID != "cp1" || c.Req.StackLevel != want.lvl || !near1(c.Req.Periods[0].Limit, want.a) {
			t.Fatalf("after the lowers were accepted, want cp1 raised to 31.5 A (dynamic), then its fallback to 30.5 A; got %+v", calls)
		}
	}
	h.checkLedger()
}

// Lowering the grid limit: every charger is lowered, nothing raised.
func TestGridLimitLowered(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	mark := h.ctrl.mark()
	h.setGridLimit(20)
	// Fallbacks follow the limit in force (less the safety margin) and
	// are lowered first, so the dynamic limits are computed on them.
	for _, ch := range []string{"cp1", "cp2"} {
		if got := limitsOf(h.ctrl.since(mark), ch, true); len(got) != 1 || !near1(got[0], 9.7) {
			t.Errorf("%s dynamic limits %v, want one lower to 9.7 A", ch, got)
		}
		if got := limitsOf(h.ctrl.since(mark), ch, false); len(got) != 2 || !near1(got[0], 9.7) {
			t.Errorf("%s limits %v, want the fallback lowered to 9.7 A first", ch, got)
		}
	}
	h.checkLedger()
	// Raising it again waits for the rate limit, then raises.
	mark = h.ctrl.mark()
	h.setGridLimit(32)
	if got := limitsOf(h.ctrl.since(mark), "cp1", true); len(got) != 0 {
		t.Fatalf("raise within the rate limit: %v", got)
	}
	h.advance(10 * time.Second)
	if got := limitsOf(h.ctrl.since(mark), "cp1", true); len(got) != 1 || !near1(got[0], 15.7) {
		t.Fatalf("cp1 raises: %v, want one to 15.7 A", got)
	}
	h.checkLedger()
}

// A charger that does not answer is counted at the higher of its old and
// new limit until it does; others are not raised into its room.
func TestTimeoutCountsHigher(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.advance(15 * time.Second)
	mark := h.ctrl.mark()
	h.ctrl.setPolicy("cp2", always(timeout))
	h.run(site.TransactionStopped{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2", EVSE: 1}},
		site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusAvailable})
	v := h.evseView("cp2")
	if !near1(float64(v.CountedAt), 15.7) || v.State != "uncontrollable" {
		t.Fatalf("cp2 after a timeout: %+v (want counted at its fallback 15.7 A)", v)
	}
	for _, a := range limitsOf(h.ctrl.since(mark), "cp1", true) {
		if a > 32-0.5-15.7+1e-9 { // the grid limit less the margin and cp2
			t.Fatalf("cp1 raised to %v while cp2 may still draw 15.7 A", a)
		}
	}
	h.checkLedger()
	if got := metricValue(h.m.met.profiles.WithLabelValues("depot", "timeout")); got < 1 {
		t.Errorf("timeout metric %v", got)
	}
	// It answers again: the re-sent 0 is accepted, cp1 gets the room.
	h.ctrl.setPolicy("cp2", always(accept))
	h.advance(5 * time.Second)
	h.advance(10 * time.Second)
	if v := h.evseView("cp2"); v.CountedAt != 0 || v.Pending {
		t.Fatalf("cp2 after answering: %+v", v)
	}
	got := limitsOf(h.ctrl.since(mark), "cp1", true)
	if len(got) == 0 || !near1(got[len(got)-1], 31.5) {
		t.Fatalf("cp1 limits %v, want a raise to 31.5", got)
	}
	h.checkLedger()
}

// A rejected profile is tried in other forms; the form that works is
// learnt for the model and used first by the next charger of the model.
func TestRejectedFormRetriedAndLearnt(t *testing.T) {
	h := newHarness(t, depot(63, 2), nil)
	noAmps := func(r site.LimitRequest) answer {
		if r.Unit == site.UnitAmps {
			return reject
		}
		return accept
	}
	h.ctrl.setPolicy("cp1", noAmps)
	h.ctrl.setPolicy("cp2", noAmps)
	h.run(h.plugIn("cp1", caps16, acme)...)
	var units []site.RateUnit
	for _, c := range h.ctrl.since(0) {
		units = append(units, c.Req.Unit)
	}
	want := []site.RateUnit{site.UnitAmps, site.UnitWatts, site.UnitAmps, site.UnitWatts}
	if len(units) != len(want) {
		t.Fatalf("units tried %v, want %v", units, want)
	}
	for i := range want {
		if units[i] != want[i] {
			t.Fatalf("units tried %v, want %v", units, want)
		}
	}
	// W for a car whose phases are unknown is converted with one phase.
	last := h.ctrl.since(0)[3].Req
	if lim := h.evseView("cp1").Limit; !near1(last.Periods[0].Limit, float64(lim)*230) {
		t.Errorf("dynamic W limit %v, want %v A x 1 phase x 230 V", last.Periods[0].Limit, lim)
	}
	mark := h.ctrl.mark()
	h.run(h.plugIn("cp2", caps16, acme)...)
	for _, c := range h.ctrl.since(mark) {
		if c.Ref.ChargerID == "cp2" && c.Req.Unit != site.UnitWatts {
			t.Fatalf("second charger of the model asked in %v first", c.Req.Unit)
		}
	}
	h.do("depot", func(l *siteLoop) {
		if q := l.ls.Quirks[site.ModelKey(acme)]; q.Unit != site.UnitWatts {
			t.Errorf("quirks %+v", q)
		}
	})
}

// A charger that refuses every form is non-compliant: counted at its
// maximum, and the others make room.
func TestRefusingChargerNonCompliant(t *testing.T) {
	h := newHarness(t, depot(63, 2), nil)
	h.run(h.plugIn("cp1", caps16, acme)...)
	h.ctrl.setPolicy("cp2", func(r site.LimitRequest) answer {
		if r.StackLevel == 0 {
			return accept // its fallback works
		}
		return reject
	})
	h.run(h.plugIn("cp2", caps16, site.BootInfo{Vendor: "Other", Model: "X"})...)
	h.advance(time.Second)
	forms := map[[3]int]bool{}
	for _, c := range h.ctrl.since(0) {
		if c.Ref.ChargerID == "cp2" && c.Req.StackLevel > 0 {
			forms[[3]int{int(c.Req.Unit), int(c.Req.Purpose), c.Req.StackLevel}] = true
		}
	}
	if len(forms) != 8 { // 2 units x 2 purposes x stack levels 1 and 8
		t.Errorf("forms tried: %v", forms)
	}
	v := h.evseView("cp2")
	if !v.NonCompliant || v.State != "uncontrollable" || v.CountedAt != 32 {
		t.Fatalf("cp2: %+v", v)
	}
	if a := h.evseView("cp1"); a.Limit > 63-0.5-32+1e-9 {
		t.Fatalf("cp1 not making room: %+v", a)
	}
	if got := metricValue(h.m.met.nonCompliant.WithLabelValues("depot")); got != 1 {
		t.Errorf("non-compliant metric %v", got)
	}
	h.checkLedger()
}

// A charger that accepts but goes on drawing above its limit is detected
// from meter values after the grace period.
func TestIgnoringChargerDetected(t *testing.T) {
	h := newHarness(t, depot(63, 2), nil)
	h.ctrl.setPolicy("cp2", always(ignore))
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	if v := h.evseView("cp2"); !near1(float64(v.Accepted), 31.2) {
		t.Fatalf("cp2 before: %+v", v)
	}
	// cp2's limit lowered by the owner; it ignores it.
	h.setGridLimit(40)
	cur := [3]site.Amps{32, 32, 32}
	sample := func() site.Event {
		return site.MeterSampled{EventHeader: h.hdr("cp2"), EVSE: 1, TransactionID: "tx-cp2", Sample: site.MeterSample{Time: h.clk.Now(), Current: &cur}}
	}
	h.run(sample())
	if v := h.evseView("cp2"); v.NonCompliant {
		t.Fatal("non-compliant before the grace period")
	}
	h.advance(61 * time.Second)
	h.run(sample())
	v := h.evseView("cp2")
	if !v.NonCompliant || v.CountedAt != 32 {
		t.Fatalf("cp2 after the grace period: %+v", v)
	}
	if a := h.evseView("cp1"); a.Limit > 40-0.5-32+1e-9 {
		t.Fatalf("cp1 not lowered to make room: %+v", a)
	}
	h.checkLedger()
}

// Offline chargers are counted at their fallback (at least), one whose
// fallback was never accepted at its maximum. Fallbacks are the fair share
// of the EVSEs with a car, with cp3 (never seen) counted at its maximum:
// (63 - 0.5 - 32) / 2.
func TestOfflineCountedAtFallback(t *testing.T) {
	h := newHarness(t, depot(63, 3), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	// cp3 never connected: counted at its maximum.
	if v := h.evseView("cp3"); v.State != "offline" || v.CountedAt != 32 {
		t.Fatalf("cp3 never seen: %+v", v)
	}
	h.checkLedger()
	h.run(site.ChargerDisconnected{EventHeader: h.hdr("cp2")})
	v := h.evseView("cp2")
	if v.State != "offline" || !near1(float64(v.CountedAt), 15.2) {
		t.Fatalf("cp2 offline: %+v (want counted at its fallback 15.2 A)", v)
	}
	h.checkLedger()
	h.advance(11 * time.Minute) // its lease ends: still its fallback
	if v := h.evseView("cp2"); !near1(float64(v.CountedAt), 15.2) {
		t.Fatalf("cp2 after its lease: %+v", v)
	}
	h.checkLedger()
}

// A restarted loop resumes from Redis: no profile is sent again when
// nothing changed. Run on miniredis and on a real redis-server.
func TestRestartDoesNotResend(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) { testRestartDoesNotResend(t, newHarness(t, depot(32, 2), nil)) })
	t.Run("redis-server", func(t *testing.T) {
		testRestartDoesNotResend(t, newHarnessOn(t, redistest.Start(t), depot(32, 2), nil))
	})
}

func testRestartDoesNotResend(t *testing.T, h *harness) {
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	before := h.view()
	h.stopManager()
	mark := h.ctrl.mark()
	h.start()
	h.advance(6 * time.Second) // a tick
	if calls := h.ctrl.since(mark); len(calls) != 0 {
		t.Fatalf("restart re-sent %d profiles: %+v", len(calls), calls)
	}
	after := h.view()
	if after.Seq < before.Seq {
		t.Errorf("sequence went back: %d -> %d", before.Seq, after.Seq)
	}
	if v := h.evseView("cp1"); !near1(float64(v.Accepted), 15.7) {
		t.Errorf("cp1 after restart: %+v", v)
	}
	h.checkLedger()
}

// A command in flight when the process died is counted at the higher
// limit after the restart and sent again.
func TestRestartWithCommandInFlight(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.advance(15 * time.Second)
	h.ctrl.setPolicy("cp2", always(late))
	h.run(site.TransactionStopped{EventHeader: h.hdr("cp2"), Transaction: site.Transaction{ID: "tx-cp2", EVSE: 1}},
		site.EVSEStatusChanged{EventHeader: h.hdr("cp2"), EVSE: 1, Status: site.StatusAvailable})
	h.ctrl.setPolicy("cp2", always(timeout)) // the parked call dies with the process
	h.stopManager()
	h.start()
	v := h.evseView("cp2")
	if !near1(float64(v.CountedAt), 15.7) || !v.Pending {
		t.Fatalf("cp2 after restart: %+v, want its 0 pending and counted at its fallback 15.7 A", v)
	}
	h.checkLedger()
	h.ctrl.setPolicy("cp2", always(accept))
	h.advance(6 * time.Second)
	h.advance(10 * time.Second)
	if v := h.evseView("cp2"); v.CountedAt != 0 {
		t.Fatalf("cp2 after it answered: %+v", v)
	}
	h.checkLedger()
}

// A burst of events is one run.
func TestBurstCoalesced(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	runs := metricValue(h.m.met.runs.WithLabelValues("depot", "event"))
	cur := [3]site.Amps{10, 10, 10}
	var evs []site.Event
	for range 20 {
		evs = append(evs, site.MeterSampled{EventHeader: h.hdr("cp1"), EVSE: 1, Sample: site.MeterSample{Time: h.clk.Now(), Current: &cur}})
	}
	h.run(evs...)
	if got := metricValue(h.m.met.runs.WithLabelValues("depot", "event")) - runs; got != 1 {
		t.Fatalf("%v runs for a burst, want 1", got)
	}
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Metric) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		panic(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	return math.NaN()
}

// A car paused by 0 A that stays in SuspendedEVSE after its raise gets the
// resume sequence: re-send, trigger, 0-then-limit; when that works the
// model learns it.
func TestResumeSequence(t *testing.T) {
	h := newHarness(t, depot(32, 2), nil)
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.setGridLimit(12) // room for one car at its minimum: cp2 paused
	paused := ""
	for _, c := range []string{"cp1", "cp2"} {
		if h.evseView(c).Limit == 0 {
			paused = c
		}
	}
	if paused == "" {
		t.Fatalf("no car paused: %+v", h.view().EVSEs)
	}
	other := map[string]string{"cp1": "cp2", "cp2": "cp1"}[paused]
	h.run(site.EVSEStatusChanged{EventHeader: h.hdr(paused), EVSE: 1, Status: site.StatusSuspendedEVSE})
	// The other car leaves; the paused one gets its turn but stays suspended.
	h.run(site.TransactionStopped{EventHeader: h.hdr(other), Transaction: site.Transaction{ID: "tx-" + other, EVSE: 1}},
		site.EVSEStatusChanged{EventHeader: h.hdr(other), EVSE: 1, Status: site.StatusAvailable})
	h.advance(15 * time.Second)
	h.advance(2 * time.Minute) // dwell
	if v := h.evseView(paused); v.Accepted == 0 {
		t.Fatalf("paused car not raised: %+v", v)
	}
	mark := h.ctrl.mark()
	h.advance(31 * time.Second) // step 1: re-send
	if got := limitsOf(h.ctrl.since(mark), paused, true); len(got) == 0 {
		t.Fatal("no re-send after the resume grace")
	}
	h.advance(31 * time.Second) // step 2: trigger
	h.ctrl.mu.Lock()
	triggers := len(h.ctrl.triggers)
	h.ctrl.mu.Unlock()
	if triggers != 2 {
		t.Fatalf("%d triggers, want status and meter values", triggers)
	}
	mark = h.ctrl.mark()
	h.advance(31 * time.Second) // step 3: 0 then the limit
	got := limitsOf(h.ctrl.since(mark), paused, true)
	if len(got) != 2 || got[0] != 0 || got[1] == 0 {
		t.Fatalf("want 0 then the limit, got %v", got)
	}
	h.run(site.EVSEStatusChanged{EventHeader: h.hdr(paused), EVSE: 1, Status: site.StatusCharging})
	h.do("depot", func(l *siteLoop) {
		if !l.ls.Quirks[site.ModelKey(acme)].NoResumeFromSuspendedEVSE {
			t.Error("quirk not learnt")
		}
	})
}
