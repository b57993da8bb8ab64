#!/usr/bin/env bash
# Runs every benchmark on an optimised build without sanitizers and writes
# bench-results.json and the tables of BENCHMARKS.md.
# Usage: scripts/bench.sh [--quick]    (--quick: small counts, a minute or so;
#                                       its results go to build/ and leave
#                                       BENCHMARKS.md alone)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
b=build/tests/bench
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
run() { echo "bench: $*" >&2; "$@" "${quick[@]}" >>"$rows"; }
run $b/bench_calls build/tests/modules $b/bench_sidecar
run $b/bench_messages
run $b/bench_deploy build/samples $b/modules $b/bench_sidecar
run $b/bench_scale $b/modules
run $b/bench_switch build/tests/modules
run $b/bench_endurance build/samples
run $b/bench_starters build/tests/starters/host
run $b/http/bench_http build/starters
if ((${#quick[@]})); then
  python3 scripts/bench_report.py "$rows" --json build/bench-results.json --md build/BENCHMARKS.md \
    --command "scripts/bench.sh --quick"
else
  python3 scripts/bench_report.py "$rows" --json bench-results.json --md BENCHMARKS.md \
    --command "scripts/bench.sh"
fi
