package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/sim"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// siteID is the site every test runs.
const siteID = "e2e"

// The daemon binary is built once per test binary run, with -race when
// the tests run with -race; E2E_SMARTCHARGED names a prebuilt one instead.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func daemonBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("E2E_SMARTCHARGED"); p != "" {
			binPath = p // a binary built elsewhere (see docs/e2e.md)
			return
		}
		dir, err := os.MkdirTemp("", "smartcharged-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "smartcharged")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/smartcharge/smartcharge/cmd/smartcharged")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build smartcharged: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// daemon is a smartcharged process; start may be called again after kill
// (same ports, same Redis, same site file).
type daemon struct {
	tb               testing.TB
	args             []string
	grpc, http, ocpp string
	cmd              *exec.Cmd
	exited           chan error
	waited           chan struct{} // closed when the process was waited for
	cc               *grpc.ClientConn

	mu    sync.Mutex
	lines []string // JSON log lines of every run
	runs  int
}

// daemonOptions say how to start smartcharged.
type daemonOptions struct {
	// SiteFile is applied at start (--site-file).
	SiteFile string
	// MeterInterval is asked of chargers after boot (ocpp.meter_sample_interval).
	MeterInterval time.Duration
	// LogLevel; default debug.
	LogLevel string
}

func newDaemon(tb testing.TB, redisAddr string, o daemonOptions) *daemon {
	tb.Helper()
	d := &daemon{tb: tb, grpc: freeAddr(tb), http: freeAddr(tb), ocpp: freeAddr(tb)}
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	var b strings.Builder
	b.WriteString("ocpp:\n")
	if o.MeterInterval > 0 {
		fmt.Fprintf(&b, "  meter_sample_interval: %s\n", o.MeterInterval)
	}
	b.WriteString("  call_timeout: 10s\n")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	level := o.LogLevel
	if level == "" {
		level = "debug"
	}
	d.args = []string{"--grpc-listen", d.grpc, "--http-listen", d.http, "--ocpp-listen", d.ocpp,
		"--insecure-local", "--log-format", "json", "--log-level", level,
		"--redis-url", "redis://" + redisAddr + "/0", "--config", cfg}
	if o.SiteFile != "" {
		d.args = append(d.args, "--site-file", o.SiteFile)
	}
	cc, err := grpc.NewClient(d.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	d.cc = cc
	tb.Cleanup(func() {
		cc.Close()
		if d.cmd != nil {
			select {
			case <-d.waited:
			default: // still running (not reading ProcessState: Wait writes it)
				_ = d.cmd.Process.Kill()
				<-d.waited
			}
		}
		if tb.Failed() {
			tb.Logf("daemon log (last 200 lines, without debug):\n%s", d.tail(200))
		}
		if tb.Failed() || os.Getenv("E2E_KEEP_LOGS") != "" {
			d.mu.Lock()
			all := strings.Join(d.lines, "\n")
			d.mu.Unlock()
			name := filepath.Join(os.TempDir(), "e2e-"+strings.ReplaceAll(tb.Name(), "/", "_")+".log")
			if err := os.WriteFile(name, []byte(all), 0o644); err == nil {
				tb.Logf("full daemon log (debug too): %s", name)
			}
		}
	})
	return d
}

// ocppURL is what simulated chargers connect to.
func (d *daemon) ocppURL() string { return "ws://" + d.ocpp + "/ocpp" }

func (d *daemon) start() {
	d.tb.Helper()
	d.cmd = exec.Command(daemonBinary(d.tb), d.args...)
	d.cmd.Env = os.Environ()
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		d.tb.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		d.tb.Fatal(err)
	}
	d.mu.Lock()
	d.runs++
	run := d.runs
	d.mu.Unlock()
	exited, waited := make(chan error, 1), make(chan struct{})
	d.exited, d.waited = exited, waited
	ready := make(chan struct{})
	cmd := d.cmd
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.lines = append(d.lines, fmt.Sprintf(`{"run":%d,`, run)+strings.TrimPrefix(line, "{"))
			d.mu.Unlock()
			if strings.Contains(line, "smartcharged ready") {
				once.Do(func() { close(ready) })
			}
		}
		err := cmd.Wait()
		close(waited)
		exited <- err
	}()
	select {
	case <-ready:
	case err := <-exited:
		d.tb.Fatalf("smartcharged exited before ready: %v\n%s", err, d.tail(100))
	case <-time.After(60 * time.Second):
		d.tb.Fatalf("smartcharged not ready in 60 s\n%s", d.tail(100))
	}
}

// kill sends sig and waits for the process to exit.
func (d *daemon) kill(sig syscall.Signal) {
	d.tb.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.tb.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.tb.Fatalf("smartcharged did not exit within 30 s of %v", sig)
	}
}

// tail returns the last n log lines above debug level.
func (d *daemon) tail(n int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for i := len(d.lines) - 1; i >= 0 && len(out) < n; i-- {
		if !strings.Contains(d.lines[i], `"level":"DEBUG"`) {
			out = append(out, d.lines[i])
		}
	}
	slices.Reverse(out)
	return strings.Join(out, "\n")
}

// logEntry is one parsed JSON log line.
type logEntry map[string]any

func (e logEntry) str(k string) string { s, _ := e[k].(string); return s }

// logs returns the parsed log lines whose msg contains msg (all if "").
func (d *daemon) logs(msg string) []logEntry {
	d.mu.Lock()
	lines := append([]string(nil), d.lines...)
	d.mu.Unlock()
	var out []logEntry
	for _, l := range lines {
		if msg != "" && !strings.Contains(l, msg) {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(l), &e) == nil && strings.Contains(e.str("msg"), msg) {
			out = append(out, e)
		}
	}
	return out
}

func (d *daemon) gridLimits() pb.GridLimitServiceClient { return pb.NewGridLimitServiceClient(d.cc) }

// setGridLimit sets (creates or replaces) the grid limit id on every phase.
func (d *daemon) setGridLimit(ctx context.Context, id string, src pb.GridLimitSource, a float64) error {
	_, err := d.gridLimits().SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{
		Name:   "sites/" + siteID + "/gridLimits/" + id,
		Source: src,
		Limit:  &pb.PhaseCurrents{L1: a, L2: a, L3: a},
		Reason: "e2e test",
	}})
	return err
}

// metric returns the sum of the samples of a Prometheus metric whose
// label set contains every pair in labels (e.g. `charger="cp01"`).
func (d *daemon) metric(name string, labels ...string) (float64, bool) {
	resp, err := http.Get("http://" + d.http + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// chargerDef is one charger of a test site, both for the simulator and
// the site file.
type chargerDef struct {
	ID       string
	OCPP     string // sim.OCPP16 or sim.OCPP201
	Circuit  string // "" = grid connection
	Rotation string // "" = RST
	Max      site.Amps
	Phases   int
	Quirks   sim.Quirks
}

// siteDef is a test site: one grid connection, circuits under it,
// chargers with one EVSE each.
type siteDef struct {
	Grid     site.Amps
	Circuits []sim.CircuitSpec
	Chargers []chargerDef
}

// scenario is the simulator's view of the site; cars are plugged by the
// tests.
func (s siteDef) scenario() *sim.Scenario {
	sc := &sim.Scenario{Name: siteID, Seed: 1, Site: sim.SiteSpec{GridLimit: sim.Currents{s.Grid, s.Grid, s.Grid}, Circuits: s.Circuits}}
	for _, c := range s.Chargers {
		sc.Chargers = append(sc.Chargers, sim.ChargerSpec{
			ID: c.ID, OCPP: c.OCPP, Circuit: c.Circuit, Rotation: c.Rotation,
			EVSEs:  []sim.EVSESpec{{MaxCurrent: c.Max, Phases: c.Phases}},
			Quirks: c.Quirks,
			// the server sets the interval after boot; this is the start value
			MeterInterval: sim.Duration(10 * time.Second),
		})
	}
	return sc
}

// siteFile writes the site file smartcharged applies at start.
func (s siteDef) siteFile(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "site:\n  id: %s\n  display_name: e2e test site\n  nominal_voltage_v: 230\n  grid_limit_a: %g\n", siteID, float64(s.Grid))
	if len(s.Circuits) > 0 {
		b.WriteString("circuits:\n")
		for _, c := range s.Circuits {
			fmt.Fprintf(&b, "  - id: %s\n    parent: %q\n    limit: {l1_a: %g, l2_a: %g, l3_a: %g}\n", c.ID, c.Parent, float64(c.Limit[0]), float64(c.Limit[1]), float64(c.Limit[2]))
		}
	}
	b.WriteString("chargers:\n")
	for _, c := range s.Chargers {
		rot := c.Rotation
		if rot == "" {
			rot = "RST"
		}
		fmt.Fprintf(&b, "  - id: %s\n    ocpp_identity: %s\n    circuit: %q\n    phase_rotation: %s\n    evses:\n      - {max_current_a: %g, phases: %d}\n",
			c.ID, c.ID, c.Circuit, rot, float64(c.Max), c.Phases)
	}
	path := filepath.Join(tb.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// limits returns each ledger node's static limit (grid first).
func (s siteDef) limits() map[string]site.PhaseCurrents {
	m := map[string]site.PhaseCurrents{sim.GridNode: site.Uniform(s.Grid)}
	for _, c := range s.Circuits {
		m[c.ID] = site.PhaseCurrents(c.Limit)
	}
	return m
}

// fleet runs simulated chargers against a daemon.
type fleet struct {
	*sim.Fleet
	cancel context.CancelFunc
	done   chan error
	smp    *sampler
}

func startFleet(tb testing.TB, sc *sim.Scenario, d *daemon, tick time.Duration) *fleet {
	tb.Helper()
	f, err := sim.New(sc, sim.Options{
		Server: d.ocppURL(), Tick: tick, Seed: 1,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReconnectMin: 200 * time.Millisecond, ReconnectMax: 2 * time.Second,
		ConnectRate: 500,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fr := &fleet{Fleet: f, cancel: cancel, done: make(chan error, 1)}
	go func() { fr.done <- f.Run(ctx) }()
	fr.smp = startSampler(f.Ledger(), tick/4)
	tb.Cleanup(fr.stop)
	return fr
}

func (f *fleet) stop() {
	f.cancel()
	<-f.done
	f.smp.stop()
}

// allBooted reports whether every charger is connected and booted.
func (f *fleet) allBooted() (bool, string) {
	for _, c := range f.Chargers() {
		st := c.State()
		if !st.Connected || !st.Booted {
			return false, fmt.Sprintf("charger %s connected=%v booted=%v", st.ID, st.Connected, st.Booted)
		}
	}
	return true, ""
}

// plugAllWhenQuiet waits until no charger was sent a profile for longer
// than the loop's MinRaiseInterval, then plugs the cars (so the first
// raises are not rate-limited: the benchmark's start is then the same
// every run).
func (f *fleet) plugAllWhenQuiet(tb testing.TB) {
	tb.Helper()
	waitFor(tb, 60*time.Second+time.Duration(len(f.Chargers()))*200*time.Millisecond, "no profile sent for MinRaiseInterval", quiet(f, minRaiseInterval+time.Second))
	f.plugAll(tb)
}

// plugAll plugs a car (3-phase, 32 A, half full) into every charger's EVSE 1.
func (f *fleet) plugAll(tb testing.TB) {
	tb.Helper()
	for _, c := range f.Chargers() {
		car := sim.Car{BatteryKWh: 80, MaxCurrent: 32, Phases: 3, RampDelay: sim.Duration(time.Second)}
		if c.Spec().EVSEs[0].Phases == 1 {
			car.Phases = 1
		}
		if err := c.Plug(1, car, 0.3, 0); err != nil {
			tb.Fatal(err)
		}
	}
}

// profileMessages returns the SetChargingProfile count per charger.
func (f *fleet) profileMessages() map[string]int {
	m := map[string]int{}
	for _, c := range f.Chargers() {
		m[c.ID()] = c.State().Received["SetChargingProfile"]
	}
	return m
}

// sample is one moment of the simulator's ledger.
type sample struct {
	At    time.Time
	Seq   int
	Nodes []sim.NodeState
}

func (s sample) node(id string) sim.NodeState {
	for _, n := range s.Nodes {
		if n.Node == id {
			return n
		}
	}
	return sim.NodeState{Node: id}
}

// sampler copies every moment the ledger records (it polls faster than
// the simulator steps and counts the moments it missed).
type sampler struct {
	l      *sim.Ledger
	stopc  chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	all    []sample
	missed int
}

func startSampler(l *sim.Ledger, every time.Duration) *sampler {
	s := &sampler{l: l, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		last := 0
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
			// Nodes and Samples are read under the ledger's lock one after
			// the other: read the count on both sides to know the nodes
			// belong to it.
			n := l.Samples()
			if n == last {
				continue
			}
			nodes := l.Nodes()
			if l.Samples() != n {
				continue // a step slipped in: take it next time
			}
			s.mu.Lock()
			if last > 0 && n > last+1 {
				s.missed += n - last - 1
			}
			s.all = append(s.all, sample{At: time.Now(), Seq: n, Nodes: nodes})
			s.mu.Unlock()
			last = n
		}
	}()
	return s
}

func (s *sampler) stop() {
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
	<-s.done
}

// since returns the samples taken at or after t.
func (s *sampler) since(t time.Time) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sample
	for _, x := range s.all {
		if !x.At.Before(t) {
			out = append(out, x)
		}
	}
	return out
}

func (s *sampler) last() (sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return sample{}, false
	}
	return s.all[len(s.all)-1], true
}

func (s *sampler) stats() (taken, missed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all), s.missed
}

// within reports whether every node's sums (accepted and draw) are within
// the limits given, per phase.
func within(x sample, limits map[string]site.PhaseCurrents) (bool, string) {
	for _, n := range x.Nodes {
		lim, ok := limits[n.Node]
		if !ok {
			continue
		}
		for p := range 3 {
			if n.Accepted[p] > lim[p]+sim.Tolerance {
				return false, fmt.Sprintf("%s L%d accepted %.2f A > %.2f A", n.Node, p+1, float64(n.Accepted[p]), float64(lim[p]))
			}
			if n.Draw[p] > lim[p]+sim.Tolerance {
				return false, fmt.Sprintf("%s L%d draw %.2f A > %.2f A", n.Node, p+1, float64(n.Draw[p]), float64(lim[p]))
			}
		}
	}
	return true, ""
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Time {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	why := ""
	for {
		ok, w := cond()
		if ok {
			return time.Now()
		}
		why = w
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not reached within %s: %s", what, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ledgerViolations returns the simulator's violation episodes that
// started at or after t (the fleet runs without profiles until the loop
// sent its first ones).
func ledgerViolations(f *fleet, t time.Time) []sim.Violation {
	var out []sim.Violation
	for _, v := range f.Ledger().Violations() {
		if !v.Start.Before(t) {
			out = append(out, v)
		}
	}
	return out
}

// env is one test's world: Redis, the daemon and the fleet.
type env struct {
	site   siteDef
	redis  *redistest.Server
	d      *daemon
	f      *fleet
	limits map[string]site.PhaseCurrents
	// settled is when every charger had profiles within every limit.
	settled time.Time
}

// envOptions tune newEnv.
type envOptions struct {
	Tick          time.Duration // simulator step [100 ms]
	MeterInterval time.Duration // asked of chargers [5 s]
	LogLevel      string
}

// newEnv starts Redis (persistent), smartcharged with the site and the
// fleet, and waits until every charger is booted and the accepted limits
// are within every static limit (the loop installed its profiles).
func newEnv(tb testing.TB, s siteDef, o envOptions) *env {
	tb.Helper()
	if o.Tick == 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.MeterInterval == 0 {
		o.MeterInterval = 5 * time.Second
	}
	e := &env{site: s, limits: s.limits()}
	e.redis = redistest.StartServer(tb, &redistest.Options{Persistent: true})
	e.d = newDaemon(tb, e.redis.Addr, daemonOptions{SiteFile: s.siteFile(tb), MeterInterval: o.MeterInterval, LogLevel: o.LogLevel})
	e.d.start()
	e.f = startFleet(tb, s.scenario(), e.d, o.Tick)
	waitFor(tb, 60*time.Second, "all chargers booted", e.f.allBooted)
	e.settled = waitFor(tb, 60*time.Second, "accepted limits within every static limit", func() (bool, string) {
		x, ok := e.f.smp.last()
		if !ok {
			return false, "no ledger sample yet"
		}
		return within(x, e.limits)
	})
	if x, ok := e.f.smp.last(); ok {
		for _, n := range x.Nodes {
			tb.Logf("settled: node %s accepted %v draw %v", n.Node, n.Accepted, n.Draw)
		}
	}
	return e
}

// checkNoViolations fails on every ledger episode since the site settled
// and on every sampled moment since then above the static limits.
func (e *env) checkNoViolations(tb testing.TB) {
	tb.Helper()
	for _, v := range ledgerViolations(e.f, e.settled) {
		tb.Errorf("simulator ledger: %s", v)
		for _, o := range v.Offenders {
			tb.Logf("  offender %s %.1f A profiles %v", o.Charger, float64(o.Amps), o.Sources)
		}
	}
	for _, x := range e.f.smp.since(e.settled) {
		if ok, why := within(x, e.limits); !ok {
			tb.Errorf("sampled moment %s: %s", x.At.Format(time.RFC3339Nano), why)
			break
		}
	}
	taken, missed := e.f.smp.stats()
	tb.Logf("ledger: %d moments sampled, %d missed by the sampler (checked by the ledger's own episodes)", taken, missed)
}
