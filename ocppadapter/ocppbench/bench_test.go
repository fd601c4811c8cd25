package ocppbench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter/ocppbench"
)

// serverEnv, when set, turns the test binary into a benchmark server
// process: "chargers,prefix". It serves until its stdin closes.
const serverEnv = "OCPPBENCH_SERVE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(serverEnv); spec != "" {
		os.Exit(serveChild(spec))
	}
	code := m.Run()
	fixtures.close()
	os.Exit(code)
}

func serveChild(spec string) int {
	n, prefix, _ := strings.Cut(spec, ",")
	chargers, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocppbench server:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
		cancel()
	}()
	if err := ocppbench.ServeProcess(ctx, ocppbench.ServerConfig{Listen: "127.0.0.1:0", Chargers: chargers, IdentityPrefix: prefix}, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ocppbench server:", err)
		return 1
	}
	return 0
}

// serverProc is a benchmark server in a child process, pinned to CPU 0
// with taskset when the machine has two CPUs or more, so that it runs on
// one core while the load runs on the others.
type serverProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ann    ocppbench.Announcement
	pinned bool
}

func startServerProc(tb testing.TB, chargers int, prefix string) *serverProc {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	args := []string{self, "-test.run=^$"}
	pinned := false
	// runtime.NumCPU counts only the CPUs this process may use, and the
	// benchmark itself runs pinned: ask the kernel whether CPU 1 exists.
	_, cpu1 := os.Stat("/sys/devices/system/cpu/cpu1")
	if ts, err := exec.LookPath("taskset"); err == nil && cpu1 == nil {
		args = append([]string{ts, "-c", "0"}, args...)
		pinned = true
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), serverEnv+"="+strconv.Itoa(chargers)+","+prefix)
	if !pinned {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &serverProc{cmd: cmd, stdin: stdin, pinned: pinned}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &p.ann)
	}
	if err != nil {
		p.stop()
		tb.Fatalf("benchmark server did not announce itself: %v (%q)", err, line)
	}
	return p
}

func (p *serverProc) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// fixtures keeps the round-trip benchmark's server and fleet across the
// runs with growing b.N; TestMain closes them.
var fixtures benchFixtures

type benchFixtures struct {
	mu     sync.Mutex
	server *serverProc
	fleets map[string]*ocppbench.Fleet
}

func (f *benchFixtures) fleet(b *testing.B, protocol string, chargers int) (*ocppbench.Fleet, *serverProc) {
	b.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := ocppbench.RaiseOpenFiles(); err != nil {
		b.Fatal(err)
	}
	if f.server == nil {
		f.server = startServerProc(b, 2*chargers, "CP")
		f.fleets = map[string]*ocppbench.Fleet{}
	}
	key := protocol
	if fl := f.fleets[key]; fl != nil {
		return fl, f.server
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	offset := 0
	if protocol == ocppbench.Protocol201 {
		offset = chargers // the second half of the identities: both fleets can be up
	}
	fl, err := ocppbench.Connect(ctx, ocppbench.LoadConfig{URL: f.server.ann.URL, Chargers: chargers, IdentityPrefix: "CP", Protocol: protocol, FirstIndex: offset})
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: schemas compiled, buffers pooled, stacks grown.
	if _, err := fl.Run(ctx, 0, time.Second); err != nil {
		b.Fatal(err)
	}
	f.fleets[key] = fl
	return fl, f.server
}

func (f *benchFixtures) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.fleets {
		fl.Close()
	}
	if f.server != nil {
		f.server.stop()
	}
}

// BenchmarkMeterValuesRoundTrip measures MeterValues round trips per
// second from 1,000 connected chargers with a transaction running, each
// waiting for its answer before it sends the next (one CALL outstanding),
// against a server in another process pinned to one core (taskset -c 0)
// with schema validation on. Run the benchmark itself on another core
// (taskset -c 1 go test ...) so that load and server do not share one.
// Target: >= 50,000 round trips per second.
func BenchmarkMeterValuesRoundTrip(b *testing.B) {
	for _, protocol := range []string{ocppbench.Protocol16, ocppbench.Protocol201} {
		b.Run(protocol, func(b *testing.B) {
			fl, srv := fixtures.fleet(b, protocol, 1000)
			if !srv.pinned {
				b.Log("taskset not found or one CPU only: the server is not pinned to a core of its own (GOMAXPROCS=1 only)")
			}
			ctx := context.Background()
			before, err := ocppbench.FetchStats(ctx, srv.ann.StatsURL, false)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			r, err := fl.Run(ctx, int64(b.N), 0)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			after, err := ocppbench.FetchStats(ctx, srv.ann.StatsURL, false)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PerSecond(), "roundtrips/s")
			// On a shared machine the server's core is not its own: round
			// trips per second of server CPU time is what one core it had
			// to itself would do.
			if cpu := after.CPUSeconds - before.CPUSeconds; cpu > 0 {
				b.ReportMetric(float64(r.RoundTrips)/cpu, "roundtrips/server-cpu-s")
			}
			b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkIdleConnectionMemory measures the server's memory per idle
// connection: 10,000 chargers connect, boot and answer the capability
// read, then the server's HeapInuse+StackInuse and VmRSS growth over its
// state before they connected is divided by 10,000. Target: <= 10 KiB
// per connection. It measures once per call, whatever b.N is (run it
// with -benchtime 1x).
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const n = 10000
	if _, err := ocppbench.RaiseOpenFiles(); err != nil {
		b.Fatal(err)
	}
	// One measurement per call whatever b.N is: each takes 10,000
	// handshakes and a fresh server process.
	srv := startServerProc(b, n, "IDLE")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	last, err := ocppbench.MeasureIdle(ctx, ocppbench.LoadConfig{URL: srv.ann.URL, Chargers: n, IdentityPrefix: "IDLE", DialConcurrency: 128}, srv.ann.StatsURL)
	cancel()
	srv.stop()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(last.HeapStackPerConn, "bytes/conn")
	b.ReportMetric(last.RSSPerConn, "rss-bytes/conn")
	b.Log(last.String())
}

// The load generator and the server work together for both protocols:
// bounded to 20 chargers and 300 ms each.
func TestLoadSmoke(t *testing.T) {
	srv, err := ocppbench.StartServer(ocppbench.ServerConfig{Listen: "127.0.0.1:0", Chargers: 40, IdentityPrefix: "SMOKE"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	for i, protocol := range []string{ocppbench.Protocol16, ocppbench.Protocol201} {
		t.Run(protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fl, err := ocppbench.Connect(ctx, ocppbench.LoadConfig{URL: srv.URL, Chargers: 20, IdentityPrefix: "SMOKE", Protocol: protocol, FirstIndex: 20 * i})
			if err != nil {
				t.Fatal(err)
			}
			defer fl.Close()
			r, err := fl.Run(ctx, 0, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if r.RoundTrips < 20 || r.Errors != 0 {
				t.Fatalf("result %+v: want at least one round trip per charger and no errors", r)
			}
			r, err = fl.Run(ctx, 100, 0)
			if err != nil || r.RoundTrips != 100 {
				t.Fatalf("bounded run: %+v %v, want exactly 100 round trips", r, err)
			}
		})
	}
	st := srv.Stats(true)
	if st.Booted != 40 || st.CapabilitiesRead != 40 {
		t.Errorf("stats %+v: want 40 boots and 40 capability reads", st)
	}
	if st.Events < 40*6 {
		t.Errorf("only %d events published", st.Events)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"server on a public address", ocppbench.ServerConfig{Listen: "0.0.0.0:0", Chargers: 1, IdentityPrefix: "X"}.Validate()},
		{"server without chargers", ocppbench.ServerConfig{Listen: "127.0.0.1:0", IdentityPrefix: "X"}.Validate()},
		{"load against a remote host", ocppbench.LoadConfig{URL: "ws://example.com/ocpp/", Chargers: 1, IdentityPrefix: "X"}.Validate()},
		{"load with an unknown protocol", ocppbench.LoadConfig{URL: "ws://127.0.0.1:1/ocpp/", Chargers: 1, IdentityPrefix: "X", Protocol: "ocpp1.5"}.Validate()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := (ocppbench.LoadConfig{URL: "ws://127.0.0.1:1/ocpp/", Chargers: 1, IdentityPrefix: "X"}).Validate(); err != nil {
		t.Errorf("valid load config refused: %v", err)
	}
}
