package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/sim"
	"github.com/smartcharge/smartcharge/site"
)

// BenchmarkGridLimitChange measures, from the chargers' side, the time
// from a grid limit change (SetGridLimit called) until every charger has
// accepted its new limit: the simulator's ledger shows the accepted
// limits summing within the new limit (a lower) or reaching the new
// allocation (a raise). Every car wants 16 A; the limit alternates
// between 9 A and 7 A per charger (plus 1 A), so every charger's profile
// changes on every step.
//
// One iteration is benchCycles lowers and raises (E2E_BENCH_CYCLES
// overrides): the setup of 1,000 chargers takes minutes, and the testing
// package runs a benchmark once with b.N = 1 before the real run, so run
// it with -benchtime 1x. Reported: p50-ms and p99-ms of the lowers (the
// safety-relevant direction, the target), raise-p50-ms and
// raise-p99-ms. The resolution is the simulator's step (tick-ms).
//
//	go test -run '^$' -bench GridLimitChange -benchtime 1x ./e2e/
func BenchmarkGridLimitChange(b *testing.B) {
	if testing.Short() {
		b.Skip("minutes per size")
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("chargers=%d", n), func(b *testing.B) { benchGridLimitChange(b, n) })
	}
}

func benchGridLimitChange(b *testing.B, n int) {
	s := siteDef{Grid: site.Amps(min(16*n, 10000))} // the API allows 10,000 A at most
	for i := range n {
		c := chargerDef{ID: fmt.Sprintf("b%04d", i+1), OCPP: sim.OCPP16, Max: 16, Phases: 3}
		if i%2 == 1 {
			c.OCPP = sim.OCPP201
		}
		s.Chargers = append(s.Chargers, c)
	}
	tick := 50 * time.Millisecond
	level := "info"
	if v := os.Getenv("E2E_LOG_LEVEL"); v != "" {
		level = v // debug: every decision of the loop, in the log kept with E2E_KEEP_LOGS
	}
	e := newEnv(b, s, envOptions{Tick: tick, MeterInterval: 60 * time.Second, LogLevel: level})
	hi, lo := site.Amps(9*n+1), site.Amps(7*n+1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	set := func(a site.Amps) {
		if err := e.d.setGridLimit(ctx, "bench", pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, float64(a)); err != nil {
			b.Fatalf("SetGridLimit: %v", err)
		}
	}
	set(hi)
	e.f.plugAllWhenQuiet(b)
	grid := func() site.PhaseCurrents {
		x, _ := e.f.smp.last()
		return x.node(sim.GridNode).Accepted
	}
	// Every car charging at its share of the high limit.
	reached := func(lim site.Amps) func() (bool, string) {
		return func() (bool, string) {
			g := grid()
			return g.Min() >= lim-site.Amps(n)*0.2-1 && g.Max() <= lim+sim.Tolerance, fmt.Sprintf("grid accepted %v, want about %.0f A", g, float64(lim))
		}
	}
	waitFor(b, 5*time.Minute, "all cars at the high limit", reached(hi))
	waitFor(b, 5*time.Minute, "quiet", quiet(e.f, minRaiseInterval+time.Second))

	cycles := benchCycles
	if v, err := strconv.Atoi(os.Getenv("E2E_BENCH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	var lowers, raises []time.Duration
	b.ResetTimer()
	for range b.N * cycles {
		t0 := time.Now()
		set(lo)
		at := waitFor(b, 2*time.Minute, "lower accepted", func() (bool, string) {
			x, _ := e.f.smp.last()
			g := x.node(sim.GridNode).Accepted
			return x.At.After(t0) && g.Max() <= lo+sim.Tolerance, fmt.Sprintf("grid accepted %v > %.0f A", g, float64(lo))
		})
		lowers = append(lowers, at.Sub(t0))
		b.Logf("lower at %s took %s", t0.Format("15:04:05.000"), at.Sub(t0).Round(time.Millisecond))
		t1 := time.Now()
		set(hi)
		// A raise waits at least the scheduler's 2-minute dwell today
		// (cars paused by the lower stay paused; see docs/e2e.md).
		at = waitFor(b, 4*time.Minute, "raise accepted", reached(hi))
		raises = append(raises, at.Sub(t1))
	}
	b.StopTimer()
	b.ReportMetric(pct(lowers, 50), "p50-ms")
	b.ReportMetric(pct(lowers, 99), "p99-ms")
	b.ReportMetric(pct(raises, 50), "raise-p50-ms")
	b.ReportMetric(pct(raises, 99), "raise-p99-ms")
	b.ReportMetric(float64(tick.Milliseconds()), "tick-ms")
	b.Logf("%d chargers: lowers %v; raises %v", n, lowers, raises)
	if vs := ledgerViolations(e.f, e.settled); len(vs) > 0 {
		b.Errorf("simulator ledger: %d violation episodes, first: %s", len(vs), vs[0])
	}
}

// benchCycles is how many lowers and raises one iteration makes.
const benchCycles = 6

// pct returns the p-th percentile of ds in milliseconds (nearest rank).
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return float64(s[max(0, min(i, len(s)-1))].Microseconds()) / 1000
}
