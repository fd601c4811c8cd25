#!/usr/bin/env bash
# Chargers held per instance: smartcharged (on Redis) with N simulated
# chargers (half OCPP 1.6, half 2.0.1) in S sites, heartbeats and meter
# values every 10 s; prints smartcharged's CPU use and memory once they are
# all booted. Loopback only; bounded by DURATION.
#
#   ./.ci/bench-hold.sh                   # 10,000 chargers, 10 sites, 3 min
#   CHARGERS=2000 DURATION=60s ./.ci/bench-hold.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CHARGERS=${CHARGERS:-10000}
SITES=${SITES:-10}
DURATION=${DURATION:-180s}
BIN=${BIN:-bin}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null || true

per=$((CHARGERS / SITES))
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rport=$(port); gport=$(port); oport=$(port); hport=$(port)

# Site files: SITES sites of per chargers each, one 16 A three-phase EVSE
# per charger; scenario: the same identities.
python3 - "$work" "$SITES" "$per" <<'PY'
import sys
work, sites, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
files = []
scen = ["name: hold", "seed: 1", "site:", "  grid_limit: %d" % (per * 16), "chargers:"]
for s in range(sites):
    lines = ["site:", "  id: hold-%02d" % s, "  grid_limit_a: %d" % (per * 16), "chargers:"]
    for c in range(per):
        ident = "hold%02d-%05d" % (s, c)
        lines += ["  - id: c%05d" % c, "    ocpp_identity: %s" % ident, "    evse_count: 1", "    max_current_a: 16", "    phases: 3"]
        scen += ["  - id: %s" % ident, '    ocpp: "%s"' % ("1.6" if c % 2 == 0 else "2.0.1"), "    evses: [{max_current: 16, phases: 3}]", "    meter_interval: 10s"]
    f = "%s/site-%02d.yaml" % (work, s)
    open(f, "w").write("\n".join(lines) + "\n")
    files.append(f)
# Cars arrive at every free EVSE within minutes and stay, so every charger
# sends meter values in a transaction.
scen += ["cars:", "  models:", "    any: {battery_kwh: 200, max_current: 16, phases: 3}",
         "  random:", "    arrivals_per_hour: 120", "    dwell: {min: 4h, max: 8h}", "    soc: {min: 0.1, max: 0.5}"]
open(work + "/scenario.yaml", "w").write("\n".join(scen) + "\n")
open(work + "/files", "w").write(",".join(files))
PY

printf 'ocpp:\n  heartbeat_interval: 10s\n  meter_sample_interval: 10s\n' >"$work/config.yaml"
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
sleep 0.5
"$BIN/smartcharged" --redis-url "redis://127.0.0.1:$rport/0" --insecure-local --log-level warn --config "$work/config.yaml" \
  --grpc-listen "127.0.0.1:$gport" --ocpp-listen "127.0.0.1:$oport" --http-listen "127.0.0.1:$hport" \
  --site-file "$(cat "$work/files")" >"$work/smartcharged.log" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

"$BIN/chargersim" --scenario "$work/scenario.yaml" --server "ws://127.0.0.1:$oport/ocpp" --duration "$DURATION" \
  --tick 10s --log-level error >"$work/sim.out" 2>&1 &
pids+=($!)

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$spid/stat"; }
# Let every charger connect and boot, then measure over a steady window.
secs=${DURATION%s}
settle=$((secs / 3)); window=$((secs / 2))
sleep "$settle"
c0=$(cpu); t0=$(date +%s.%N)
sleep "$window"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/{print $2}' "/proc/$spid/status")
conns=$(curl -s "http://127.0.0.1:$hport/metrics" | awk '/^smartcharge_loop_chargers_connected/{s+=$2} END{print s+0}')
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$CHARGERS" "$conns" <<'PY'
import sys
c0, c1, t0, t1, hz, rss, n, conns = sys.argv[1:]
cpu = (float(c1) - float(c0)) / float(hz) / (float(t1) - float(t0))
print("chargers: %s (connected per metrics: %s)" % (n, conns))
print("smartcharged CPU: %.1f %% of one core (steady state, heartbeats and meter values every 10 s)" % (cpu * 100))
print("smartcharged RSS: %.0f MiB (%.1f KiB per charger)" % (int(rss) / 1024, int(rss) / int(n)))
PY
