// Command chargersim simulates a fleet of OCPP chargers and the cars
// plugged into them against a central system (smartcharge or any CSMS),
// over real WebSocket connections. See docs/simulator.md.
//
//	chargersim --scenario scenarios/demo.yaml --server ws://127.0.0.1:8180/ocpp \
//	    --duration 10m --seed 1 [--speed 60] [--view] [--report out.json] [--fail-on-violation]
//
// Exit status: 0 on a clean run, 1 when --fail-on-violation is set and the
// ledger saw a draw above a limit (with --fail-on-accepted also an accepted
// limit sum above one), 2 on bad flags or a bad scenario.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smartcharge/smartcharge/sim"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	scenario        string
	server          string
	duration        time.Duration
	seed            uint64
	speed           float64
	tick            time.Duration
	view            bool
	viewRows        int
	report          string
	failOnViolation bool
	failOnAccepted  bool
	logLevel        string
	api             string
	site            string
	token           string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("chargersim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.scenario, "scenario", "", "scenario file (YAML or JSON), required")
	fs.StringVar(&c.server, "server", "ws://127.0.0.1:8180/ocpp", "CSMS OCPP WebSocket URL; chargers append /{identity}")
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to run (wall time)")
	fs.Uint64Var(&c.seed, "seed", 0, "seed for the random car process and quirks (0: the scenario's)")
	fs.Float64Var(&c.speed, "speed", 1, "simulated time per wall time for car physics and arrivals")
	fs.DurationVar(&c.tick, "tick", time.Second, "physics and ledger step")
	fs.BoolVar(&c.view, "view", false, "print a live table every second")
	fs.IntVar(&c.viewRows, "view-chargers", 30, "chargers shown in --view (0: all)")
	fs.StringVar(&c.report, "report", "", "write the JSON report to this file")
	fs.BoolVar(&c.failOnViolation, "fail-on-violation", false, "exit 1 if a car drew above a limit")
	fs.BoolVar(&c.failOnAccepted, "fail-on-accepted", false, "with --fail-on-violation: also exit 1 if the accepted limits summed above a limit")
	fs.StringVar(&c.logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.StringVar(&c.api, "api", "", "smartcharge gRPC address: report the grid meter as an EMS and show the allocation's reasons in --view (needs --site)")
	fs.StringVar(&c.site, "site", "", "the site's ID in smartcharge, with --api")
	fs.StringVar(&c.token, "token", os.Getenv("SMARTCHARGE_TOKEN"), "bearer token for --api (env SMARTCHARGE_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.scenario == "" {
		return c, errors.New("--scenario is required")
	}
	if c.duration <= 0 {
		return c, errors.New("--duration must be positive")
	}
	if c.speed <= 0 {
		return c, errors.New("--speed must be positive")
	}
	if c.tick <= 0 {
		return c, errors.New("--tick must be positive")
	}
	if (c.api == "") != (c.site == "") {
		return c, errors.New("--api and --site go together")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "chargersim:", err)
		}
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		fmt.Fprintln(stderr, "chargersim: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s, err := sim.LoadScenario(cfg.scenario)
	if err != nil {
		fmt.Fprintln(stderr, "chargersim:", err)
		return 2
	}
	opts := sim.Options{Server: cfg.server, Seed: cfg.seed, Speed: cfg.speed, Tick: cfg.tick, Logger: log}
	var api *apiLink
	if cfg.api != "" {
		if api, err = dialAPI(cfg.api, cfg.site, cfg.token, log); err != nil {
			fmt.Fprintln(stderr, "chargersim:", err)
			return 2
		}
		defer api.Close()
		opts.Meter = api
	}
	fleet, err := sim.New(s, opts)
	if err != nil {
		fmt.Fprintln(stderr, "chargersim:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var reasons sim.Reasons
	if api != nil && cfg.view {
		reasons = api.Reason
		go api.poll(ctx, time.Second)
	}

	viewDone := make(chan struct{})
	if cfg.view {
		go func() {
			defer close(viewDone)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					fmt.Fprint(stdout, "\x1b[H\x1b[2J")
					fleet.WriteViewWithReasons(stdout, cfg.viewRows, reasons)
				}
			}
		}()
	} else {
		close(viewDone)
	}
	log.Info("chargersim: running", "scenario", cfg.scenario, "chargers", len(fleet.Chargers()), "server", cfg.server, "duration", cfg.duration)
	if err := fleet.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "chargersim:", err)
		return 1
	}
	<-viewDone
	rep := fleet.Report()
	rep.WriteSummary(stdout)
	if cfg.report != "" {
		if err := writeReport(cfg.report, rep); err != nil {
			fmt.Fprintln(stderr, "chargersim:", err)
			return 1
		}
	}
	if cfg.failOnViolation && (rep.DrawViolations > 0 || (cfg.failOnAccepted && rep.AcceptedViolations > 0)) {
		fmt.Fprintf(stderr, "chargersim: %d draw and %d accepted-limit violations\n", rep.DrawViolations, rep.AcceptedViolations)
		return 1
	}
	return 0
}

func writeReport(path string, rep sim.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
