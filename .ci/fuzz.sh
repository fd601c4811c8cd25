#!/usr/bin/env bash
# Runs every fuzz target in the module for the given budget (default 5s;
# a count such as 50000x works too).
#
# Go's fuzz coordinator can report "context deadline exceeded" as a failure
# when the time budget ends while a worker is minimising a new interesting
# input (no failing input is written in that case). Such a run is retried
# once; a real failure writes testdata/fuzz/<target>/<hash> and fails at once.
set -euo pipefail
t=${1:-5s}
cd "$(dirname "$0")/.."
n=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS= read -r pkg; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    for attempt in 1 2; do
      echo "fuzz $pkg $target ($t, attempt $attempt)"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg" 2>&1 | tee "$log"; then
        break
      fi
      if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
        echo "fuzz: $target stopped on the coordinator's deadline without a failing input; retrying once"
        continue
      fi
      exit 1
    done
    n=$((n+1))
  done
done < <(go list ./...)
echo "fuzz: $n targets ran for $t each"
