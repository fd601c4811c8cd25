#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time (default 5s).
set -euo pipefail
t=${1:-5s}
cd "$(dirname "$0")/.."
n=0
while IFS= read -r pkg; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($t)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg"
    n=$((n+1))
  done
done < <(go list ./...)
echo "fuzz: $n targets ran for $t each"
