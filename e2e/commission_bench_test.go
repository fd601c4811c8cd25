package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/sim"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// BenchmarkCommissioning measures the first-commissioning exposure: N
// chargers that smartcharge has never seen (a fresh Redis, no fallback
// profile installed, so they may let a car draw their maximum) boot at
// once on one site; per charger, from the chargers' side, the time from
// its BootNotification being accepted to the loop's fallback profile
// (TxDefault at the fallback stack level 0) being installed (0 when it
// was installed before the boot was accepted). Reported: p50-ms, p99-ms
// and max-ms of boot to fallback, conn-p50-ms and conn-p99-ms from the
// WebSocket's opening to the fallback, storm-ms (from the fleet's start
// until the last charger holds its fallback), boot-storm-ms (until the
// last charger booted) and accepted-first (chargers Accepted before
// their fallback was in, per storm).
//
// Every iteration starts its own redis-server, smartcharged and fleet
// (the chargers must be new to it); run with -benchtime 1x. Knobs
// (environment): E2E_COMMISSION_SIZES ("100,1000"), E2E_CONNECT_RATE
// (chargers connecting per second, default 10000: all at once;
// chargersim's default is 200), E2E_COMMISSION_SITES (sites of N
// chargers each, default 1, all in one daemon), E2E_COMMISSION_CARS=1 (a car plugged into
// every EVSE before its charger connects, as in a boot storm with cars
// waiting), E2E_COMMISSION_CONFIG (extra keys of smartcharged's config
// file as section.key=value pairs, e.g. "loop.coalesce=50ms"), E2E_LOG_LEVEL and
// E2E_KEEP_LOGS (see docs/e2e.md).
//
//	go build -o /tmp/d ./cmd/smartcharged
//	E2E_SMARTCHARGED=/tmp/d go test -run '^$' -bench Commissioning -benchtime 1x -timeout 20m ./e2e/
func BenchmarkCommissioning(b *testing.B) {
	sizes := []int{100, 1000}
	if v := os.Getenv("E2E_COMMISSION_SIZES"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("E2E_COMMISSION_SIZES: %q is not a positive number", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("chargers=%d", n), func(b *testing.B) {
			var all, conn, storm, boots []time.Duration
			first := 0
			b.ResetTimer()
			for range b.N {
				r := commissionOnce(b, n)
				all = append(all, r.bootToFallback...)
				conn = append(conn, r.connectToFallback...)
				storm = append(storm, r.storm)
				boots = append(boots, r.bootStorm)
				first += r.acceptedFirst
			}
			b.StopTimer()
			b.ReportMetric(pct(all, 50), "p50-ms")
			b.ReportMetric(pct(all, 99), "p99-ms")
			b.ReportMetric(pct(all, 100), "max-ms")
			b.ReportMetric(pct(conn, 50), "conn-p50-ms")
			b.ReportMetric(pct(conn, 99), "conn-p99-ms")
			b.ReportMetric(pct(storm, 100), "storm-ms")
			b.ReportMetric(pct(boots, 100), "boot-storm-ms")
			b.ReportMetric(float64(first)/float64(b.N), "accepted-first")
		})
	}
}

// commissionResult is one storm's figures.
type commissionResult struct {
	// bootToFallback per charger: its boot Accepted to its fallback
	// installed (0 when the fallback was in first: commissioning hold).
	bootToFallback []time.Duration
	// connectToFallback per charger: its WebSocket up to its fallback.
	connectToFallback []time.Duration
	// storm: fleet start to the last fallback; bootStorm: to the last boot.
	storm, bootStorm time.Duration
	// acceptedFirst: chargers Accepted before their fallback was in.
	acceptedFirst int
}

// commissionSettle is how long the daemon runs before the chargers connect.
const commissionSettle = 2 * time.Second

// commissionPoll is how often the chargers' states are read (the
// resolution of the figures).
const commissionPoll = 10 * time.Millisecond

// commissionSites is the site files and the simulator's scenario for
// sites sites of n chargers each (half OCPP 1.6, half 2.0.1, one 16 A
// three-phase EVSE each, grid limit 16 A per charger up to 10,000 A);
// each site is a circuit of the simulator's ledger.
func commissionSites(b *testing.B, sites, n int) (files string, sc *sim.Scenario) {
	b.Helper()
	grid := site.Amps(min(16*n, 10000))
	all := grid * site.Amps(sites)
	sc = &sim.Scenario{Name: "commission", Seed: 1, Site: sim.SiteSpec{GridLimit: sim.Currents{all, all, all}}}
	dir := b.TempDir()
	var paths []string
	for s := range sites {
		id := fmt.Sprintf("cm%02d", s)
		sc.Site.Circuits = append(sc.Site.Circuits, sim.CircuitSpec{ID: id, Limit: sim.Currents{grid, grid, grid}})
		var f strings.Builder
		fmt.Fprintf(&f, "site:\n  id: %s\n  nominal_voltage_v: 230\n  grid_limit_a: %g\nchargers:\n", id, float64(grid))
		for i := range n {
			cid := fmt.Sprintf("%s-%05d", id, i)
			fmt.Fprintf(&f, "  - id: c%05d\n    ocpp_identity: %s\n    evses:\n      - {max_current_a: 16, phases: 3}\n", i, cid)
			ocpp := sim.OCPP16
			if i%2 == 1 {
				ocpp = sim.OCPP201
			}
			sc.Chargers = append(sc.Chargers, sim.ChargerSpec{ID: cid, OCPP: ocpp, Circuit: id,
				EVSEs: []sim.EVSESpec{{MaxCurrent: 16, Phases: 3}}, MeterInterval: sim.Duration(10 * time.Second)})
		}
		p := filepath.Join(dir, id+".yaml")
		if err := os.WriteFile(p, []byte(f.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	return strings.Join(paths, ","), sc
}

func commissionOnce(b *testing.B, n int) commissionResult {
	b.Helper()
	sites := 1
	if v, err := strconv.Atoi(os.Getenv("E2E_COMMISSION_SITES")); err == nil && v > 0 {
		sites = v
	}
	files, sc := commissionSites(b, sites, n)
	level := "info"
	if v := os.Getenv("E2E_LOG_LEVEL"); v != "" {
		level = v
	}
	rate := 10000
	if v, err := strconv.Atoi(os.Getenv("E2E_CONNECT_RATE")); err == nil && v > 0 {
		rate = v
	}
	rs := redistest.StartServer(b, nil)
	defer rs.Stop()
	d := newDaemon(b, rs.Addr, daemonOptions{SiteFile: files, MeterInterval: 60 * time.Second, LogLevel: level})
	if extra := os.Getenv("E2E_COMMISSION_CONFIG"); extra != "" {
		commissionConfig(b, d, extra)
	}
	d.start()
	defer d.kill(syscall.SIGTERM)
	// The daemon runs before the chargers come (as when chargers are
	// brought onto a running smartcharge): its loop's first run, at
	// start, is over.
	time.Sleep(commissionSettle)

	f, err := sim.New(sc, sim.Options{
		Server: d.ocppURL(), Tick: 100 * time.Millisecond, Seed: 1,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReconnectMin: 200 * time.Millisecond, ReconnectMax: 2 * time.Second,
		ConnectRate: rate,
	})
	if err != nil {
		b.Fatal(err)
	}
	cars := os.Getenv("E2E_COMMISSION_CARS") != ""
	if cars {
		for _, c := range f.Chargers() {
			if err := c.Plug(1, sim.Car{BatteryKWh: 80, MaxCurrent: 16, Phases: 3, RampDelay: sim.Duration(time.Second)}, 0.3, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Each charger is read from its turn to connect (the fleet starts
	// rate a second) until it is booted and holds its fallback.
	chargers := f.Chargers()
	total := len(chargers)
	conn := make([]time.Time, total)
	boot := make([]time.Time, total)
	fb := make([]time.Time, total)
	var left []int
	next := 0
	deadline := start.Add(5*time.Minute + time.Duration(total)*20*time.Millisecond)
	for next < total || len(left) > 0 {
		if time.Now().After(deadline) {
			i := left[0]
			b.Fatalf("%d of %d chargers not booted with a fallback after %s; first: %s connected=%v booted=%v fallback=%v", len(left)+total-next, total,
				time.Since(start).Round(time.Millisecond), chargers[i].ID(), !conn[i].IsZero(), !boot[i].IsZero(), !fb[i].IsZero())
		}
		time.Sleep(commissionPoll)
		now := time.Now()
		for next < total && time.Duration(next)*time.Second/time.Duration(rate) <= now.Sub(start)+commissionPoll {
			left = append(left, next)
			next++
		}
		rest := left[:0]
		for _, i := range left {
			st := chargers[i].State()
			if conn[i].IsZero() && st.Connected {
				conn[i] = now
			}
			if boot[i].IsZero() && st.Booted {
				boot[i] = now
			}
			if fb[i].IsZero() && hasFallback(st.Profiles) {
				fb[i] = now
			}
			if boot[i].IsZero() || fb[i].IsZero() {
				rest = append(rest, i)
			}
		}
		left = rest
	}
	var r commissionResult
	for i := range chargers {
		r.bootToFallback = append(r.bootToFallback, max(0, fb[i].Sub(boot[i])))
		r.connectToFallback = append(r.connectToFallback, fb[i].Sub(conn[i]))
		if boot[i].Before(fb[i]) {
			r.acceptedFirst++
		}
		r.storm = max(r.storm, fb[i].Sub(start))
		r.bootStorm = max(r.bootStorm, boot[i].Sub(start))
	}
	bf := slices.Sorted(slices.Values(r.bootToFallback))
	cf := slices.Sorted(slices.Values(r.connectToFallback))
	timeouts := len(d.logs("did not answer in time"))
	callTimeouts := len(d.logs("CALL timed out"))
	b.Logf("%d site(s) x %d chargers (connect rate %d/s, cars %v): boot to fallback p50 %s p90 %s p99 %s max %s; connect to fallback p50 %s p99 %s max %s; "+
		"%d Accepted before their fallback was in; last boot %s, last fallback %s after the start; loop answer timeouts %d, adapter CALL timeouts %d",
		sites, n, rate, cars, at(bf, 50), at(bf, 90), at(bf, 99), at(bf, 100), at(cf, 50), at(cf, 99), at(cf, 100),
		r.acceptedFirst, r.bootStorm.Round(time.Millisecond), r.storm.Round(time.Millisecond), timeouts, callTimeouts)
	return r
}

// at is the p-th percentile of sorted (nearest rank), rounded to ms.
func at(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))].Round(time.Millisecond)
}

// hasFallback reports whether the loop's fallback (TxDefault at stack
// level 0, loop.Config.FallbackStackLevel's default) is installed.
func hasFallback(ps []sim.InstalledProfile) bool {
	for _, p := range ps {
		if p.Profile.Purpose == sim.PurposeTxDefault && p.Profile.StackLevel == 0 {
			return true
		}
	}
	return false
}

// commissionConfig rewrites the daemon's config file with extra keys:
// "section.key=value" pairs separated by commas (E2E_COMMISSION_CONFIG).
func commissionConfig(b *testing.B, d *daemon, extra string) {
	b.Helper()
	sections := map[string][]string{"ocpp": {"meter_sample_interval: 60s", "call_timeout: 10s"}}
	order := []string{"ocpp"}
	for kv := range strings.SplitSeq(extra, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		sec, key, ok2 := strings.Cut(k, ".")
		if !ok || !ok2 {
			b.Fatalf("E2E_COMMISSION_CONFIG: %q is not section.key=value", kv)
		}
		if _, seen := sections[sec]; !seen {
			order = append(order, sec)
		}
		sections[sec] = append(sections[sec], key+": "+v)
	}
	var sb strings.Builder
	for _, sec := range order {
		sb.WriteString(sec + ":\n")
		for _, l := range sections[sec] {
			sb.WriteString("  " + l + "\n")
		}
	}
	p := filepath.Join(b.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for i, a := range d.args {
		if a == "--config" && i+1 < len(d.args) {
			d.args[i+1] = p
			return
		}
	}
	b.Fatal("daemon has no --config")
}
