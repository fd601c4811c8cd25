// Command ocppserver runs the OCPP adapter on an in-memory store for load
// tests, on a loopback address only:
//
//	taskset -c 0 go run ./ocppadapter/ocppbench/cmd/ocppserver --listen 127.0.0.1:0 --chargers 10000
//
// It registers the identities CP00000, CP00001, ... and prints one JSON
// line {"url":"ws://.../ocpp/","stats":"http://.../stats","pid":N} once it
// listens; GET /stats gives memory and event counts (?gc=1 collects
// garbage first). It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/smartcharge/smartcharge/ocppadapter/ocppbench"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	chargers := flag.Int("chargers", 10000, "number of charger identities to register")
	prefix := flag.String("prefix", "CP", "identity prefix")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfileRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate for GET /debug/heap (1 records every allocation; 0 keeps the default)")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ocppserver:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "ocppserver:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := ocppbench.ServerConfig{Listen: *listen, Chargers: *chargers, IdentityPrefix: *prefix}
	if err := ocppbench.ServeProcess(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ocppserver:", err)
		stop()
		os.Exit(1) //nolint:gocritic // the profile is empty on this path anyway
	}
}
