// Command smartcharged is the smartcharge daemon: it serves the gRPC API for
// site owners, energy management systems and CSMS backends, the OCPP-J
// endpoint chargers connect to, and /metrics and /healthz over HTTP. State
// lives in Redis (--redis-url); without one it runs an embedded in-process
// store that is lost when the process ends.
//
// Every flag has an environment twin: --grpc-listen is
// SMARTCHARGE_GRPC_LISTEN. SIGTERM or SIGINT shut it down gracefully.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // sites name IANA time zones; do not depend on the host's zoneinfo
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "smartcharged: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("smartcharged stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
