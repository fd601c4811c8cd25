#!/usr/bin/env bash
# Chargers held per instance: smartcharged (on Redis) with N simulated
# chargers (half OCPP 1.6, half 2.0.1) in S sites, a car on every EVSE,
# heartbeats and meter values every 10 s; prints smartcharged's CPU use and
# memory over a window after the cars have arrived and the profiles have
# settled, with the profile traffic in that window (to show it is steady).
# Loopback only; bounded by DURATION.
#
#   ./.ci/bench-hold.sh                            # 10,000 chargers, 10 sites, 6 min
#   CHARGERS=2000 DURATION=120s ./.ci/bench-hold.sh
#   SETTLE=150 WINDOW=180 KEEP=/tmp/hold ./.ci/bench-hold.sh   # seconds; keep the logs
set -euo pipefail
cd "$(dirname "$0")/.."
CHARGERS=${CHARGERS:-10000}
SITES=${SITES:-10}
DURATION=${DURATION:-360s}
BIN=${BIN:-bin}
KEEP=${KEEP:-}   # a directory: keep the logs and metrics there
secs=${DURATION%s}
SETTLE=${SETTLE:-$((secs * 2 / 5))}
WINDOW=${WINDOW:-$((secs / 2))}
if [ $((SETTLE + WINDOW)) -ge "$secs" ]; then echo "SETTLE + WINDOW must be below DURATION" >&2; exit 2; fi
work=$(mktemp -d)
pids=()
cleanup() {
  # Chargers first, then the daemon, then Redis (the daemon records the
  # disconnections).
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true; done
  if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$work"/*.log "$work"/sim.out "$work"/metrics-*.txt "$KEEP"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((CHARGERS + 1000)) ]; then
  echo "open files limit $(ulimit -n) is too low for $CHARGERS chargers" >&2; exit 2
fi

per=$((CHARGERS / SITES))
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rport=$(port); gport=$(port); oport=$(port); hport=$(port)

# Site files: SITES sites of per chargers each, one 16 A three-phase EVSE
# per charger; scenario: the same identities, each site a circuit of the
# simulator's ledger with the site's limit.
python3 - "$work" "$SITES" "$per" <<'PY'
import sys
work, sites, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
grid = min(per * 16, 10000)  # site.MaxPhaseCurrent
files = []
scen = ["name: hold", "seed: 1", "site:", "  grid_limit: %d" % (grid * sites), "  circuits:"]
scen += ["    - {id: hold-%02d, limit: %d}" % (s, grid) for s in range(sites)]
scen += ["chargers:"]
for s in range(sites):
    lines = ["site:", "  id: hold-%02d" % s, "  grid_limit_a: %d" % grid, "chargers:"]
    for c in range(per):
        ident = "hold%02d-%05d" % (s, c)
        lines += ["  - id: c%05d" % c, "    ocpp_identity: %s" % ident, "    evse_count: 1", "    max_current_a: 16", "    phases: 3"]
        scen += ["  - id: %s" % ident, '    ocpp: "%s"' % ("1.6" if c % 2 == 0 else "2.0.1"), "    circuit: hold-%02d" % s,
                 "    evses: [{max_current: 16, phases: 3}]", "    meter_interval: 10s"]
    f = "%s/site-%02d.yaml" % (work, s)
    open(f, "w").write("\n".join(lines) + "\n")
    files.append(f)
# A car arrives at every free EVSE within a minute or so and stays, so
# every charger sends meter values in a transaction.
scen += ["cars:", "  models:", "    any: {battery_kwh: 200, max_current: 16, phases: 3}",
         "  random:", "    arrivals_per_hour: 240", "    dwell: {min: 4h, max: 8h}", "    soc: {min: 0.1, max: 0.5}"]
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
# Let every charger connect, boot and get its car and profiles, then
# measure over a steady window.
sleep "$SETTLE"
curl -s "http://127.0.0.1:$hport/metrics" >"$work/metrics-0.txt" || true
c0=$(cpu); t0=$(date +%s.%N)
sleep "$WINDOW"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/{print $2}' "/proc/$spid/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$spid/status")
curl -s "http://127.0.0.1:$hport/metrics" >"$work/metrics-1.txt" || true
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$hwm" "$CHARGERS" "$work" <<'PY'
import re, sys
c0, c1, t0, t1, hz, rss, hwm, n, work = sys.argv[1:]
def metrics(f):
    m = {}
    try:
        for line in open(f):
            mm = re.match(r'(smartcharge_loop_(?:profiles_total|chargers_connected|runs_total))\{(.*)\} ([0-9.e+]+)$', line)
            if mm:
                lab = dict(re.findall(r'(\w+)="([^"]*)"', mm.group(2)))
                k = mm.group(1).replace("smartcharge_loop_", "") + ("/" + (lab.get("outcome") or lab.get("trigger")) if lab.get("outcome") or lab.get("trigger") else "")
                m[k] = m.get(k, 0) + float(mm.group(3))
    except OSError:
        pass
    return m
m0, m1 = metrics(work + "/metrics-0.txt"), metrics(work + "/metrics-1.txt")
d = lambda k: m1.get(k, 0) - m0.get(k, 0)
secs = float(t1) - float(t0)
cpu = (float(c1) - float(c0)) / float(hz) / secs
print("chargers: %s (connected per metrics: %d)" % (n, m1.get("chargers_connected", 0)))
print("smartcharged CPU: %.1f %% of one core over %.0f s (heartbeats and meter values every 10 s)" % (cpu * 100, secs))
print("smartcharged RSS: %.0f MiB at the end (%.1f KiB per charger), peak %.0f MiB" % (int(rss) / 1024, int(rss) / int(n), int(hwm) / 1024))
print("in the window: %d profiles sent, %d timed out, %d loop runs (%.1f/s)" % (d("profiles_total/sent"), d("profiles_total/timeout"),
      sum(d(k) for k in m1 if k.startswith("runs_total")), sum(d(k) for k in m1 if k.startswith("runs_total")) / secs))
PY
