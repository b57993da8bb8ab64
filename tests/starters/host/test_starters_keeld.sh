#!/usr/bin/env bash
# keeld with starters, end to end through the real CLI: a market, starters
# enabled by the configuration, an install refused for missing starters
# (nothing loaded), a module bound to a starter, an upgrade of the starter
# in place while the module's service is called continuously, the enabled
# set surviving a restart, and disabling.
# Usage: test_starters_keeld.sh KEELD KEEL PROBE_DIR STARTERS_DIR
set -uo pipefail
keeld=$1 keel=$2 probe=$3
work=$(mktemp -d /tmp/keel-starters-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
K() { "$keel" --socket "$work/keeld.sock" "$@"; }
# check NAME EXPECTED_EXIT CMD...: runs CMD, keeps stdout/stderr in $out/$err
check() {
  local name=$1 want=$2; shift 2
  out=$("$@" 2>"$work/err"); local got=$?; err=$(cat "$work/err")
  if [ "$got" = "$want" ]; then ok; else bad "$name: exit $got, wanted $want; out: $out; err: $err"; fi
}
has() { case "$2" in *"$3"*) ok ;; *) bad "$1: expected '$3' in: $2" ;; esac; }

cat >"$work/base.json" <<JSON
{
  "work_dir": "$work/w",
  "socket": "$work/keeld.sock",
  "limits": {"drain_timeout_ms": 3000},
  "starters": {
    "market": "$probe/probe-market.json",
    "enable": {"probe": {"version": "1.0.0", "config": {"start": 1000}}}
  }
}
JSON
start_base() {
  "$keeld" --config "$work/base.json" 2>>"$work/keeld.log" &
  pid=$!
  for _ in $(seq 1 200); do
    K health >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  bad "keeld did not come up"; cat "$work/keeld.log" >&2; exit 1
}
stop_base() { kill "$pid"; wait "$pid"; pid=; }

# A market that cannot be read stops keeld at once with one line.
printf '{"work_dir": "%s/bad", "starters": {"market": "%s/nope.json"}}\n' "$work" "$work" \
  >"$work/bad.json"
check "missing market" 1 "$keeld" --config "$work/bad.json"
has "missing market" "$err" 'starters.market'
has "missing market" "$err" 'nope.json'
printf '{"starters": [}' >"$work/broken-market.json"
printf '{"work_dir": "%s/bad", "starters": {"market": "%s/broken-market.json"}}\n' "$work" "$work" \
  >"$work/bad.json"
check "malformed market" 1 "$keeld" --config "$work/bad.json"
has "malformed market" "$err" 'malformed JSON'

# A starter the configuration asks for that cannot start: logged, the base
# comes up DEGRADED naming it, and enabling it right clears that.
printf '{"work_dir": "%s/deg", "socket": "%s/keeld.sock", "starters": {"market": "%s/probe-market.json", "enable": {"probe": {"config": {"fail": true}, "version": "1.0.0"}}}}\n' \
  "$work" "$work" "$probe" >"$work/deg.json"
"$keeld" --config "$work/deg.json" 2>>"$work/keeld.log" &
pid=$!
for _ in $(seq 1 200); do
  K health >"$work/h" 2>&1
  grep -Eq 'DEGRADED|status +UP' "$work/h" && break
  sleep 0.05
done
check "degraded" 1 K health
has "degraded" "$err" 'starter not running: probe: starter probe 1.0.0: probe: config field "fail"'
check "enable it right" 0 K starter enable probe@1.0.0 --config '{}'
check "healthy again" 0 K health
stop_base

start_base
check "list" 0 K starter list --json
has "list" "$out" '"name":"probe","enabled":true,"version":"1.0.0"'
check "search" 0 K market search tick --json
has "search" "$out" '"probe"'

# A module that needs what the base does not run: refused, nothing loaded.
check "missing starters" 1 K install "$probe/probe_user2.keel"
has "missing starters" "$err" 'requires 3 starters the base does not provide'
has "missing starters" "$err" 'probe ^2.0 (the base runs 1.0.0'
has "missing starters" "$err" 'kv ^1.0 (not in the market)'
check "nothing loaded" 0 K list --json
has "nothing loaded" "$out" '"modules":[]'
[ -z "$(ls -A "$work/w/instances" 2>/dev/null)" ] && ok || bad "instance files left behind"

check "install" 0 K install "$probe/probe_user.keel"
check "call" 0 K call bump '[1]'
has "call" "$out" '1001'
check "code" 0 K call code '[]'
has "code" "$out" '1.0.0'
check "bound" 0 K starter info probe --json
has "bound" "$out" '"bindings":["probe-user@1.0.0"]'

# Upgrade in place while the module's service is called continuously.
K load --seconds 2 --parallel 2 --json bump '[1]' >"$work/load.json" 2>"$work/load.err" &
loadpid=$!
sleep 0.5
check "upgrade" 0 K starter enable probe@1.1.0
wait "$loadpid"; loadrc=$?
[ "$loadrc" = 0 ] && ok || bad "load during upgrade: exit $loadrc: $(cat "$work/load.err")"
has "no failed calls" "$(cat "$work/load.json")" '"failures":0,'
check "code after" 0 K call code '[]'
has "code after" "$out" '1.1.0'
check "counter kept" 0 K call bump '[0]'
calls=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["calls"])' "$work/load.json" 2>/dev/null || echo 0)
[ "$out" -ge $((1001 + calls)) ] 2>/dev/null && ok || bad "counter $out after $calls calls (state lost?)"
check "refused upgrade" 1 K starter enable probe@2.0.0
has "refused upgrade" "$err" 'state in format 2'
check "disable busy" 1 K starter disable probe
has "disable busy" "$err" 'probe-user@1.0.0'

# The enabled set (with the upgrade) comes back after a restart.
stop_base
start_base
check "after restart" 0 K call code '[]'
has "after restart" "$out" '1.1.0'
check "uninstall" 0 K uninstall probe-user
check "disable" 0 K starter disable probe
stop_base
start_base
check "stays disabled" 0 K starter list --json
has "stays disabled" "$out" '"name":"probe","enabled":false'
check "install refused" 1 K install "$probe/probe_user.keel"
has "install refused" "$err" 'probe ^1.0 (not enabled; market: 1.0.0, 1.1.0, 1.2.0, 1.3.0, 2.0.0)'
stop_base
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
