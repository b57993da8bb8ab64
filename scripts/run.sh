#!/usr/bin/env bash
# Builds keel and runs the demo: sample modules loaded into isolated
# namespaces, then a live hot swap of greeter v1 <-> v2 with a call after
# every swap. Usage: scripts/run.sh [SWAPS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/samples/keel-swap-demo build/samples "${1:-1000}"
