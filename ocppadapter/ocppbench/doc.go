// Package ocppbench measures the OCPP adapter (package ocppadapter) as a
// charger sees it: a load generator of simulated chargers, each its own
// minimal OCPP-J client on github.com/coder/websocket (nothing of the
// adapter is reused), against the adapter over real sockets on loopback.
//
// # Figures and targets
//
//   - BenchmarkMeterValuesRoundTrip: MeterValues round trips per second
//     from 1,000 chargers with a transaction running, one CALL outstanding
//     each, the server alone on one core with schema validation on.
//     Target >= 50,000/s.
//   - BenchmarkIdleConnectionMemory: the server's heap+stack (and RSS)
//     growth per idle booted connection, over 10,000 connections. Target
//     <= 10 KiB.
//
// The benchmarks start the server in a child process (the test binary
// itself) pinned to CPU 0 with taskset; run them pinned to CPU 1:
//
//	taskset -c 1 go test -run '^$' -bench . -benchtime 200000x ./ocppadapter/ocppbench/
//
// The same as commands, for a longer run or another server:
//
//	taskset -c 0 go run ./ocppadapter/ocppbench/cmd/ocppserver --listen 127.0.0.1:0 --chargers 10000
//	taskset -c 1 go run ./ocppadapter/ocppbench/cmd/ocppload --server ws://127.0.0.1:PORT/ocpp/ --chargers 1000 --duration 10s
//	taskset -c 1 go run ./ocppadapter/ocppbench/cmd/ocppload --server ws://127.0.0.1:PORT/ocpp/ --chargers 10000 --idle --stats http://127.0.0.1:PORT/stats
//
// bench.sh beside this file does both and prints the two figures.
//
// # What the caller must do
//
// Run servers on loopback addresses only ([ServerConfig.Validate] and
// [LoadConfig.Validate] refuse others). Each connection is a file on both
// sides: [RaiseOpenFiles] lifts the soft limit to the hard one. A [Fleet]
// is used by one Run at a time and must be closed.
package ocppbench
