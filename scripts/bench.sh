#!/usr/bin/env bash
# Runs the benchmarks on an optimised build without sanitizers.
# Usage: scripts/bench.sh [SWAP_ROUNDS] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
export KEEL_LIBC_SHIM=$PWD/build/loader/keel-libc-shim.so
build/tests/bench/bench_swap build/samples build/samples/greeter-v1.so "${1:-2000}"
build/tests/bench/bench_router build/tests/modules "${2:-5000000}"
