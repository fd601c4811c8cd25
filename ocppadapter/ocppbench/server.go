package ocppbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/site"
)

// Identity returns the OCPP identity of charger i of a fleet: prefix and i
// in five digits ("CP00042").
func Identity(prefix string, i int) string { return fmt.Sprintf("%s%05d", prefix, i) }

// ServerConfig configures a benchmark server.
type ServerConfig struct {
	// Listen is the TCP address; it must be on loopback ("127.0.0.1:0").
	Listen string
	// Chargers is how many identities are registered: IdentityPrefix
	// followed by 00000, 00001, ...
	Chargers       int
	IdentityPrefix string
	// Logger for the adapter; nil logs errors only, to stderr.
	Logger *slog.Logger
}

// Validate reports every field set wrong.
func (c ServerConfig) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("ocppbench: listen %q: %w", c.Listen, err))
	} else if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("ocppbench: listen %q: load tests run on a loopback address only", c.Listen))
	}
	if c.Chargers < 1 || c.Chargers > 100_000 {
		errs = append(errs, errors.New("ocppbench: chargers must be 1 to 100000"))
	}
	if c.IdentityPrefix == "" {
		errs = append(errs, errors.New("ocppbench: identity prefix is required"))
	}
	return errors.Join(errs...)
}

// Server is the OCPP adapter on an in-memory store, as the benchmarks run
// it: schema validation of every incoming message on (the adapter always
// validates), outgoing validation off (as in production), events counted
// and dropped. It serves /ocpp/{identity}, GET /stats ([Stats] as JSON;
// ?gc=1 collects garbage and returns freed memory to the OS first), and
// for profiling GET /debug/heap (a heap profile after a GC) and
// GET /debug/goroutine (goroutine stacks, text).
type Server struct {
	// URL is "ws://host:port/ocpp/"; append an identity.
	URL string
	// StatsURL is "http://host:port/stats".
	StatsURL string

	adapter *ocppadapter.Server
	http    *http.Server
	events  *eventCounter
	served  chan error
}

// StartServer listens and serves until Close.
func StartServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	ids := make([]string, cfg.Chargers)
	for i := range ids {
		ids[i] = Identity(cfg.IdentityPrefix, i)
	}
	ev := &eventCounter{}
	adapter, err := ocppadapter.NewServer(ocppadapter.Config{
		Store:  newMemStore("bench", ids),
		Events: ev,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		adapter.Close()
		return nil, fmt.Errorf("ocppbench: %w", err)
	}
	s := &Server{
		URL:      "ws://" + ln.Addr().String() + "/ocpp/",
		StatsURL: "http://" + ln.Addr().String() + "/stats",
		adapter:  adapter,
		events:   ev,
		served:   make(chan error, 1),
	}
	mux := http.NewServeMux()
	mux.Handle("/ocpp/", adapter)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats(r.URL.Query().Get("gc") == "1"))
	})
	mux.HandleFunc("GET /debug/heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		w.Header().Set("Content-Type", "application/octet-stream")
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("GET /debug/goroutine", func(w http.ResponseWriter, _ *http.Request) {
		_ = pprof.Lookup("goroutine").WriteTo(w, 1)
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// Close closes every charger connection and the listener.
func (s *Server) Close() error {
	err := s.adapter.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, s.http.Shutdown(ctx))
	if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Stats is a snapshot of the server process.
type Stats struct {
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	HeapAlloc  uint64 `json:"heapAlloc"`
	Sys        uint64 `json:"sys"`
	// VmRSS is the resident set size from /proc/self/status (0 where
	// there is none).
	VmRSS      uint64 `json:"vmRSS"`
	Goroutines int    `json:"goroutines"`
	// Connected counts open charger connections (connected minus
	// disconnected events).
	Connected int64 `json:"connected"`
	// CPUSeconds is the process's user plus system CPU time so far.
	CPUSeconds       float64 `json:"cpuSeconds"`
	Booted           int64   `json:"booted"`
	CapabilitiesRead int64   `json:"capabilitiesRead"`
	Events           int64   `json:"events"`
}

// Stats reads the process's memory and the event counts; with gc it first
// collects garbage and returns freed memory to the OS, for idle figures.
func (s *Server) Stats(gc bool) Stats {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Stats{
		HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, HeapAlloc: m.HeapAlloc, Sys: m.Sys,
		VmRSS: vmRSS(), Goroutines: runtime.NumGoroutine(), CPUSeconds: cpuSeconds(),
		Connected: s.events.connected.Load() - s.events.disconnected.Load(),
		Booted:    s.events.booted.Load(), CapabilitiesRead: s.events.caps.Load(), Events: s.events.all.Load(),
	}
}

// cpuSeconds is the user plus system CPU time of the process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// vmRSS reads VmRSS from /proc/self/status, in bytes.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				n, err := strconv.ParseUint(string(f[0]), 10, 64)
				if err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}

// eventCounter is a site.EventSink that counts and drops.
type eventCounter struct {
	all, connected, disconnected, booted, caps atomic.Int64
}

func (e *eventCounter) Publish(ev site.Event) {
	e.all.Add(1)
	switch ev.(type) {
	case site.ChargerConnected:
		e.connected.Add(1)
	case site.ChargerDisconnected:
		e.disconnected.Add(1)
	case site.ChargerBooted:
		e.booted.Add(1)
	case site.ChargerCapabilitiesRead:
		e.caps.Add(1)
	}
}

// FetchStats reads a server's /stats over HTTP (the server may be another
// process).
func FetchStats(ctx context.Context, statsURL string, gc bool) (Stats, error) {
	u := statsURL
	if gc {
		u += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Stats{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Stats{}, fmt.Errorf("ocppbench: stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("ocppbench: stats: %s", resp.Status)
	}
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return Stats{}, fmt.Errorf("ocppbench: stats: %w", err)
	}
	return st, nil
}

// Announcement is the JSON line ServeProcess writes once it listens.
type Announcement struct {
	URL      string `json:"url"`
	StatsURL string `json:"stats"`
	PID      int    `json:"pid"`
}

// ServeProcess runs a server for cfg in this process: it raises the
// open-files limit, starts the server, writes one Announcement line to
// out and serves until ctx ends.
func ServeProcess(ctx context.Context, cfg ServerConfig, out io.Writer) error {
	if _, err := RaiseOpenFiles(); err != nil {
		return err
	}
	s, err := StartServer(cfg)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(out).Encode(Announcement{URL: s.URL, StatsURL: s.StatsURL, PID: os.Getpid()}); err != nil {
		s.Close()
		return err
	}
	<-ctx.Done()
	return s.Close()
}
