#!/usr/bin/env bash
# Builds keel with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# whole test suite (unit and integration), then again under ThreadSanitizer
# (the router, mailboxes, hooks and tasks all run on several threads).
# Usage: scripts/test.sh [meson test args]   (extra args apply to the ASan run)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build-asan/build.ninja ] || meson setup build-asan -Dsanitize=address,undefined >/dev/null
ninja -C build-asan
meson test -C build-asan --print-errorlogs "$@"
logs=(build-asan/meson-logs/testlog.txt)
if [ $# -eq 0 ]; then
  [ -f build-tsan/build.ninja ] || meson setup build-tsan -Dsanitize=thread >/dev/null
  ninja -C build-tsan
  KEEL_SWAPS=300 meson test -C build-tsan --print-errorlogs
  logs+=(build-tsan/meson-logs/testlog.txt)
fi
# One closing line over every suite that ran (Check suites and the CLI test).
awk '/Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
       gsub(/,/, ""); for (i = 1; i <= NF; i++) {
         if ($i == "Checks:") c += $(i+1); if ($i == "Failures:") f += $(i+1); if ($i == "Errors:") f += $(i+1) } }
     /^[0-9]+ passed, [0-9]+ failed$/ { c += $1 + $3; f += $3 }
     END { printf "%d passed, %d failed\n", c - f, f }' "${logs[@]}"
