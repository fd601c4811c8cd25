#!/usr/bin/env bash
# The demo behind `make run`: smartcharged with the demo depot (embedded
# store, or Redis when SMARTCHARGE_REDIS_URL is set) and twelve simulated
# chargers of both OCPP versions with cars arriving, shown live in the
# terminal. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
LOGDIR=${LOGDIR:-.cache/demo}
GRPC=${DEMO_GRPC:-127.0.0.1:7443}
OCPP=${DEMO_OCPP:-127.0.0.1:8180}
HTTP=${DEMO_HTTP:-127.0.0.1:9090}
DURATION=${DEMO_DURATION:-8h}
SPEED=${DEMO_SPEED:-1}
CONFIG=${DEMO_CONFIG:-examples/demo-smartcharged.yaml}   # meter sampling, safety margin
mkdir -p "$LOGDIR"

pids=()
stop() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped; smartcharged's log is in $LOGDIR/smartcharged.log"
}
trap stop EXIT INT TERM

"$BIN/smartcharged" --insecure-local --config "$CONFIG" --site-file examples/demo-depot.yaml \
  --grpc-listen "$GRPC" --ocpp-listen "$OCPP" --http-listen "$HTTP" \
  >"$LOGDIR/smartcharged.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if "$BIN/smartchargectl" --server "$GRPC" get sites >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "smartcharged did not start:"; tail -20 "$LOGDIR/smartcharged.log"; exit 1
  fi
  sleep 0.1
done
echo "smartcharged is up: gRPC $GRPC, OCPP ws://$OCPP/ocpp, metrics http://$HTTP/metrics"
echo "try in another terminal: $BIN/smartchargectl describe site demo-depot"
sleep 1

"$BIN/chargersim" --scenario scenarios/demo-depot.yaml --server "ws://$OCPP/ocpp" \
  --duration "$DURATION" --speed "$SPEED" --view --api "$GRPC" --site demo-depot &
pids+=($!)
wait "${pids[1]}"
