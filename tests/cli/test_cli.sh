#!/usr/bin/env bash
# Drives the real keel CLI: exit codes, one-line errors, and a bundle it
# packs that the loader's own reader accepts byte for byte (same digests).
# Usage: test_cli.sh KEEL SAMPLES_SOURCE_DIR
set -uo pipefail
keel=$(realpath "$1") samples=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

check() { # check NAME EXPECTED_RC CMD...  (stderr kept in $work/err)
  local name=$1 want=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $name: exit $rc, wanted $want; stderr: $(cat "$work/err")"; fi
}
expect_one_error_line() { # NAME NEEDLE
  local lines; lines=$(wc -l <"$work/err")
  if [ "$lines" -eq 1 ] && grep -q "^keel: .*$2" "$work/err"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $1: stderr should be one 'keel: ...$2' line, got: $(cat "$work/err")"; fi
}

check help 0 "$keel" --help
grep -q 'bundle' "$work/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL help lists bundle"; }
check bundle-help 0 "$keel" bundle --help
check no-args 2 "$keel"
check unknown-command 2 "$keel" frobnicate
expect_one_error_line unknown-command 'unknown command "frobnicate"'
check bundle-no-dir 2 "$keel" bundle
expect_one_error_line bundle-no-dir 'missing the module directory'
check bundle-missing-dir 1 "$keel" bundle "$work/nope" -o "$work/x.keel"
expect_one_error_line bundle-missing-dir "$work/nope"
[ ! -e "$work/x.keel" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL refused bundle left a file"; }

# A module directory with a bad manifest: refused, nothing written.
mkdir -p "$work/bad"
printf '{"name": "Bad Name", "version": "1.0.0", "api": 1, "library": "x.so"}' >"$work/bad/manifest.json"
: >"$work/bad/x.so"
check bad-manifest 1 "$keel" bundle "$work/bad" -o "$work/bad.keel"
expect_one_error_line bad-manifest 'field "name"'
[ ! -e "$work/bad.keel" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL bad manifest left a file"; }

# A good one, with the default output name, packed twice: same bytes.
mkdir -p "$work/good/lib"
cp "$samples/greeter/manifest.json" "$work/good/manifest.json"
printf 'not really a shared object, the format does not care\n' >"$work/good/greeter.so"
echo hello >"$work/good/greeting.txt"
(cd "$work" && check pack-default-name 0 "$keel" bundle "$work/good")
[ -f "$work/greeter-1.0.0.keel" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL default name greeter-1.0.0.keel"; }
grep -q 'greeter 1.0.0' "$work/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL pack summary: $(cat "$work/out")"; }
check pack-again 0 "$keel" bundle "$work/good" -o "$work/again.keel"
cmp -s "$work/greeter-1.0.0.keel" "$work/again.keel" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL packing is not deterministic"; }
tar -tzf "$work/again.keel" | grep -qx 'keel-digests.json' && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL no digests entry"; }

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
