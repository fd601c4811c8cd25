#!/usr/bin/env bash
# OCPP adapter load figures: MeterValues round trips per second from 1,000
# chargers (server alone on CPU 0, load on CPU 1) and server memory per idle
# booted connection over 10,000 chargers. Loopback only; bounded in time.
#
#   ./ocppadapter/ocppbench/bench.sh            # from the repository root
#   CHARGERS=1000 IDLE=10000 DURATION=10s PROTOCOL=ocpp1.6 ./ocppadapter/ocppbench/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CHARGERS=${CHARGERS:-1000}
IDLE=${IDLE:-10000}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
PROTOCOL=${PROTOCOL:-ocpp1.6}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" ./ocppadapter/ocppbench/cmd/ocppserver ./ocppadapter/ocppbench/cmd/ocppload

pin_server=() pin_load=()
if command -v taskset >/dev/null && [ -e /sys/devices/system/cpu/cpu1 ]; then
	pin_server=(taskset -c 0) pin_load=(taskset -c 1)
else
	echo "bench.sh: taskset or a second CPU missing: server and load share the CPUs" >&2
	export GOMAXPROCS=1
fi

# run_server N: starts a server with N identities; sets srv_pid, srv_url, srv_stats.
run_server() {
	"${pin_server[@]}" "$bin/ocppserver" --listen 127.0.0.1:0 --chargers "$1" >"$bin/server.out" &
	srv_pid=$!
	for _ in $(seq 100); do [ -s "$bin/server.out" ] && break; sleep 0.1; done
	srv_url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$bin/server.out")
	srv_stats=$(sed -n 's/.*"stats":"\([^"]*\)".*/\1/p' "$bin/server.out")
	[ -n "$srv_url" ] || { echo "bench.sh: server did not start" >&2; exit 1; }
}
stop_server() { kill "$srv_pid" 2>/dev/null || true; wait "$srv_pid" 2>/dev/null || true; }
trap 'stop_server; rm -rf "$bin"' EXIT

echo "== MeterValues round trips: $CHARGERS chargers, $PROTOCOL, $DURATION (load $(cat /proc/loadavg | cut -d' ' -f1-3))"
run_server "$CHARGERS"
timeout 300 "${pin_load[@]}" "$bin/ocppload" --server "$srv_url" --stats "$srv_stats" --chargers "$CHARGERS" \
	--protocol "$PROTOCOL" --duration "$DURATION" --warmup "$WARMUP"
stop_server

echo "== Memory per idle booted connection: $IDLE chargers"
run_server "$IDLE"
timeout 300 "${pin_load[@]}" "$bin/ocppload" --server "$srv_url" --stats "$srv_stats" --chargers "$IDLE" --protocol "$PROTOCOL" --idle
stop_server
