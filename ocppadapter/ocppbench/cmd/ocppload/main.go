// Command ocppload drives an OCPP server (such as ocppserver) with a fleet
// of simulated chargers over real sockets on loopback:
//
//	taskset -c 1 go run ./ocppadapter/ocppbench/cmd/ocppload --server ws://127.0.0.1:PORT/ocpp/ --chargers 1000 --duration 10s
//
// Each charger boots, answers the capability read, starts a transaction
// and then sends MeterValues with one CALL outstanding; the command prints
// round trips per second (and, with --stats, the server's /stats URL, per
// second of server CPU time). With --stats and --idle it instead measures
// the server's memory per idle booted connection.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter/ocppbench"
)

func main() {
	server := flag.String("server", "", "server URL ws://127.0.0.1:PORT/ocpp/ (required)")
	chargers := flag.Int("chargers", 1000, "number of chargers")
	prefix := flag.String("prefix", "CP", "identity prefix (as the server's)")
	protocol := flag.String("protocol", ocppbench.Protocol16, "ocpp1.6 or ocpp2.0.1")
	duration := flag.Duration("duration", 10*time.Second, "measured time")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured time before it")
	idle := flag.Bool("idle", false, "measure server memory per idle connection instead (needs --stats)")
	stats := flag.String("stats", "", "server stats URL http://127.0.0.1:PORT/stats")
	jsonOut := flag.Bool("json", false, "print the result as one JSON line")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, options{*server, *chargers, *prefix, *protocol, *duration, *warmup, *idle, *stats, *jsonOut}); err != nil {
		fmt.Fprintln(os.Stderr, "ocppload:", err)
		os.Exit(1)
	}
}

type options struct {
	server           string
	chargers         int
	prefix, protocol string
	duration, warmup time.Duration
	idle             bool
	stats            string
	json             bool
}

func run(ctx context.Context, o options) error {
	if _, err := ocppbench.RaiseOpenFiles(); err != nil {
		return err
	}
	cfg := ocppbench.LoadConfig{URL: o.server, Chargers: o.chargers, IdentityPrefix: o.prefix, Protocol: o.protocol}
	if o.idle {
		if o.stats == "" {
			return fmt.Errorf("--idle needs --stats")
		}
		m, err := ocppbench.MeasureIdle(ctx, cfg, o.stats)
		if err != nil {
			return err
		}
		return report(o.json, m, m.String())
	}
	if o.duration <= 0 {
		return fmt.Errorf("--duration must be positive")
	}
	t0 := time.Now()
	fleet, err := ocppbench.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer fleet.Close()
	fmt.Fprintf(os.Stderr, "ocppload: %d chargers connected, booted, charging in %v\n", fleet.Len(), time.Since(t0).Round(time.Millisecond))
	if o.warmup > 0 {
		if _, err := fleet.Run(ctx, 0, o.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	var before ocppbench.Stats
	if o.stats != "" {
		if before, err = ocppbench.FetchStats(ctx, o.stats, false); err != nil {
			return err
		}
	}
	r, err := fleet.Run(ctx, 0, o.duration)
	if err != nil {
		return err
	}
	perCPU := 0.0
	if o.stats != "" {
		after, err := ocppbench.FetchStats(ctx, o.stats, false)
		if err != nil {
			return err
		}
		if cpu := after.CPUSeconds - before.CPUSeconds; cpu > 0 {
			perCPU = float64(r.RoundTrips) / cpu
		}
	}
	out := struct {
		Chargers   int     `json:"chargers"`
		Protocol   string  `json:"protocol"`
		RoundTrips int64   `json:"roundTrips"`
		Seconds    float64 `json:"seconds"`
		PerSecond  float64 `json:"roundTripsPerSecond"`
		P50us      int64   `json:"p50Micros"`
		P99us      int64   `json:"p99Micros"`
		// PerServerCPUSecond is round trips per second of server CPU time
		// (with --stats): what the server does on a core of its own.
		PerServerCPUSecond float64 `json:"roundTripsPerServerCPUSecond,omitempty"`
	}{fleet.Len(), o.protocol, r.RoundTrips, r.Elapsed.Seconds(), r.PerSecond(), r.P50.Microseconds(), r.P99.Microseconds(), perCPU}
	text := fmt.Sprintf("MeterValues round trips: %.0f/s (%d in %.1fs, %d chargers, %s), latency p50 %v p99 %v",
		r.PerSecond(), r.RoundTrips, r.Elapsed.Seconds(), fleet.Len(), o.protocol, r.P50, r.P99)
	if perCPU > 0 {
		text += fmt.Sprintf("; %.0f per second of server CPU time", perCPU)
	}
	return report(o.json, out, text)
}

func report(asJSON bool, v any, text string) error {
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(v)
	}
	_, err := fmt.Println(text)
	return err
}
