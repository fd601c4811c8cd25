#!/usr/bin/env bash
# The demo depot, measured: smartcharged (embedded store) with
# examples/demo-depot.yaml and examples/demo-smartcharged.yaml, and
# chargersim with scenarios/demo-depot.yaml reporting the grid meter as an
# EMS (--api). Prints energy delivered, the ledger's violations (accepted
# limits and draw) and profile messages per charger per hour. Loopback
# only; bounded by DURATION (plus a minute to start and stop).
#
#   ./.ci/bench-demo.sh                    # 30 minutes
#   ./.ci/bench-demo.sh 3m                 # quick look (or DURATION=3m)
#   CONFIG=other.yaml SCENARIO=... OUT=dir ./.ci/bench-demo.sh
#
# Logs, the daemon's metrics at the end and the JSON report stay in OUT
# (default .cache/bench-demo). Exit status 1 if the ledger saw a draw
# violation (FAIL_ON_VIOLATION=0 to only report).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-${DURATION:-30m}}
BIN=${BIN:-bin}
OUT=${OUT:-.cache/bench-demo}
CONFIG=${CONFIG:-examples/demo-smartcharged.yaml}
SITEFILE=${SITEFILE:-examples/demo-depot.yaml}
SCENARIO=${SCENARIO:-scenarios/demo-depot.yaml}
SITE=${SITE:-demo-depot}
SEED=${SEED:-0}
LOGLEVEL=${LOGLEVEL:-debug}
FAIL_ON_VIOLATION=${FAIL_ON_VIOLATION:-1}
mkdir -p "$OUT"
rm -f "$OUT/report.json" "$OUT/metrics.txt"

spid=
cleanup() {
  if [ -n "$spid" ]; then kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
gport=$(port); oport=$(port); hport=$(port)

"$BIN/smartcharged" --insecure-local --log-level "$LOGLEVEL" --log-format json --config "$CONFIG" \
  --site-file "$SITEFILE" --grpc-listen "127.0.0.1:$gport" --ocpp-listen "127.0.0.1:$oport" \
  --http-listen "127.0.0.1:$hport" >"$OUT/smartcharged.log" 2>&1 &
spid=$!
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$spid" 2>/dev/null; then echo "smartcharged did not start:"; tail -20 "$OUT/smartcharged.log"; exit 2; fi
  sleep 0.2
done

start=$(date -u +%FT%TZ)
seedflag=()
[ "$SEED" != 0 ] && seedflag=(--seed "$SEED")
# chargersim ends itself after DURATION; timeout is the backstop.
secs=$(python3 -c 'import re,sys; d=sys.argv[1]; u={"s":1,"m":60,"h":3600}; print(int(sum(float(n)*u[x] for n,x in re.findall(r"([0-9.]+)([smh])",d))))' "$DURATION")
timeout --signal=TERM $((secs + 60)) "$BIN/chargersim" --scenario "$SCENARIO" --server "ws://127.0.0.1:$oport/ocpp" \
  --duration "$DURATION" "${seedflag[@]}" --api "127.0.0.1:$gport" --site "$SITE" \
  --report "$OUT/report.json" --log-level warn >"$OUT/sim.out" 2>"$OUT/sim.err" || true
curl -sf "http://127.0.0.1:$hport/metrics" >"$OUT/metrics.txt" || true
cleanup; spid=

if [ ! -s "$OUT/report.json" ]; then echo "chargersim wrote no report:"; tail -20 "$OUT/sim.err"; exit 2; fi
python3 - "$OUT" "$start" "$DURATION" "$CONFIG" "$FAIL_ON_VIOLATION" <<'PY'
import json, re, statistics, sys
out, start, duration, config, fail = sys.argv[1:]
r = json.load(open(out + "/report.json"))
ch = r["chargers"]
per = sorted(c["profile_messages_per_hour"] for c in ch)
total = sum(c["profile_messages"] for c in ch)
print("demo depot run: %s from %s (wall %s, simulated %s), config %s" % (duration, start, r["wall_time"], r["sim_time"], config))
print("energy delivered: %.2f kWh" % (r["energy_wh"] / 1000))
print("ledger violations: %d accepted-limit, %d draw" % (r["accepted_violations"], r["draw_violations"]))
for v in r["violations"][:10]:
    print("  %s %s L%s limit %.1f A peak %.2f A from %s to %s" % (v.get("kind"), v.get("node"), v.get("phase"), v.get("limit", 0), v.get("peak", 0), v.get("start"), v.get("end")))
print("profile messages per charger per hour: min %.0f, median %.0f, max %.0f, mean %.1f (%d messages, %d chargers)" %
      (per[0], statistics.median(per), per[-1], statistics.fmean(per), total, len(ch)))
for c in sorted(ch, key=lambda c: -c["profile_messages"]):
    print("  %-11s %-5s %6.2f kWh %4d msgs %6.1f/h  %s" % (c["id"], c["ocpp"], c["energy_wh"] / 1000, c["profile_messages"], c["profile_messages_per_hour"],
          " ".join("%s=%d" % kv for kv in sorted(c["received"].items()) if "Profile" in kv[0])))
m = {}
try:
    for line in open(out + "/metrics.txt"):
        mm = re.match(r'smartcharge_loop_(profiles_total|runs_total)\{(.*)\} ([0-9.e+]+)$', line)
        if mm:
            lab = dict(re.findall(r'(\w+)="([^"]*)"', mm.group(2)))
            m["%s %s" % (mm.group(1), lab.get("outcome") or lab.get("trigger"))] = float(mm.group(3))
except OSError:
    pass
if m:
    print("daemon: " + ", ".join("%s=%d" % kv for kv in sorted(m.items())))
print("meter report errors: %d" % r["meter_errors"])
# Why the profiles went out, from smartcharged's debug log ("profile
# accepted" lines): fallback vs dynamic; dynamic ones as renewals (same
# limit), raises, lowers (under 1 A apart) and flip-flops (back within
# 0.3 A of the limit of two changes before, within 30 s: an oscillation).
from datetime import datetime
acc = []
try:
    for line in open(out + "/smartcharged.log"):
        if '"profile accepted"' not in line:
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue
        acc.append(d)
except OSError:
    pass
if acc:
    kinds = {}
    for d in acc:
        kinds[d.get("kind")] = kinds.get(d.get("kind"), 0) + 1
    hist, cls, flips = {}, {"renewal": 0, "raise": 0, "lower": 0, "lower<1A": 0, "first": 0, "flip-flop": 0}, {}
    for d in acc:
        if d.get("kind") != "dynamic":
            continue
        key = "%s/%s" % (d["charger"], d["evse"])
        t = datetime.fromisoformat(d["time"][:26].rstrip("Z"))
        h = hist.setdefault(key, [])
        lim = round(d["limit"], 2)
        if not h:
            cls["first"] += 1
        elif lim == h[-1][1]:
            cls["renewal"] += 1
        else:
            cls["raise" if lim > h[-1][1] else ("lower" if h[-1][1] - lim >= 1 else "lower<1A")] += 1
            if len(h) >= 2 and abs(lim - h[-2][1]) <= 0.3 and (lim - h[-1][1]) * (h[-1][1] - h[-2][1]) < 0 and (t - h[-2][0]).total_seconds() <= 30:
                cls["flip-flop"] += 1
                flips[key] = flips.get(key, 0) + 1
        h.append((t, lim))
    print("profiles by kind: " + ", ".join("%s=%d" % kv for kv in sorted(kinds.items())))
    print("dynamic profiles: " + ", ".join("%s=%d" % kv for kv in cls.items()) + " (flip-flops are also counted as raise/lower)")
    if flips:
        print("flip-flopping EVSEs: " + ", ".join("%s=%d" % kv for kv in sorted(flips.items(), key=lambda kv: -kv[1])))
sys.exit(1 if fail == "1" and r["draw_violations"] > 0 else 0)
PY
