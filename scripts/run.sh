#!/usr/bin/env bash
# Builds keel and runs the fund demo: keeld boots the sample modules account
# (ledger, scene "funds"), notify and transfer 1.0.0 (scenes "retail" and
# "corporate") from build/samples/base.json; `keel load` sends retail
# transfers from 4 threads for 6 s while transfer 2.0.0 is installed
# inactive, switched to, and 1.0.0 uninstalled. The load reports how many
# calls each version answered and that none failed; notify's count shows
# that every transfer was announced. Then the starter market: transfers over
# HTTP through the http starter, notify reconfigured live through the config
# starter, the db starter upgraded in place (1.0.0 -> 1.1.0) while transfers
# run and account switched to 2.0.0 meanwhile (its ledger lives in db, so no
# balance changes), and the nightly reconciliation of the timer starter run
# by hand. Exits non-zero if any step fails.
# Usage: scripts/run.sh      (KEEL_BUILD_DIR=DIR builds there instead of build/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${KEEL_BUILD_DIR:-build}

scripts/install-deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
build=$(cd "$build" && pwd)

keeld_bin=$build/base/keeld
keel_bin=$build/tools/keel
samples=$build/samples
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-run.XXXXXX")
base_dir=$work/base          # keeld's work directory: fresh, so nothing is restored
sock=$base_dir/keeld.sock
log=$work/keeld.log
keeld_pid=""
load_pid=""

# On any exit: stop what is still running, show keeld's log if something
# failed, remove the temporary directory, keep the exit status.
cleanup() {
  local status=$?
  trap - EXIT
  if [ -n "$load_pid" ] && kill -0 "$load_pid" 2>/dev/null; then
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
  fi
  if [ -n "$keeld_pid" ] && kill -0 "$keeld_pid" 2>/dev/null; then
    kill -TERM "$keeld_pid" 2>/dev/null || true
    wait "$keeld_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    echo "run: FAILED (exit $status); the end of keeld's log:" >&2
    tail -n 40 "$log" >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

keel() { "$keel_bin" --socket "$sock" "$@"; }
step() { printf '\n== %s\n' "$*"; }
fail() { echo "run: $*" >&2; exit 1; }

step "starting keeld with $samples/base.json (work dir $base_dir)"
mkdir -p "$base_dir"
"$keeld_bin" --config "$samples/base.json" --work-dir "$base_dir" --socket "$sock" 2>"$log" &
keeld_pid=$!

# Up when `keel health` answers; give up after 10 s.
for ((i = 0; ; i++)); do
  if health=$(keel health 2>&1); then
    break
  fi
  kill -0 "$keeld_pid" 2>/dev/null || fail "keeld exited while starting (see its log below)"
  ((i < 100)) || fail "keeld did not answer 'keel health' on $sock within 10 s; last answer: $health"
  sleep 0.1
done
echo "keeld is up (pid $keeld_pid)"

step "keel list"
keel list

step "one transfer by hand in each scene"
keel call --scene retail transfer '["alice","carol",250]'
keel call --scene corporate transfer '["bob","carol",100000]'
keel call --scene funds accounts

step "load: 4 threads of retail transfers for 6 s; transfer 2.0.0 replaces 1.0.0 meanwhile"
keel load --scene retail --parallel 4 --seconds 6 --group-by version transfer '["alice","bob",1]' \
  >"$work/load.out" 2>&1 &
load_pid=$!
sleep 2
keel install --inactive "$samples/transfer-2.0.0.keel"
keel switch transfer@2.0.0
keel uninstall transfer@1.0.0
if wait "$load_pid"; then load_status=0; else load_status=$?; fi
load_pid=""
cat "$work/load.out"
[ "$load_status" -eq 0 ] || fail "keel load exited with status $load_status"
# Nothing failed, and both versions answered ("by version" table rows).
calls=$(awk '$1 == "calls" {print $2}' "$work/load.out")
failures=$(awk '$1 == "failures" {print $2}' "$work/load.out")
on_v1=$(awk '$2 == "1.0.0" {print $1}' "$work/load.out")
on_v2=$(awk '$2 == "2.0.0" {print $1}' "$work/load.out")
[ "${failures:-x}" = 0 ] || fail "keel load reported ${failures:-an unknown number of} failed calls"
[ -n "$on_v1" ] && [ "$on_v1" -gt 0 ] || fail "no call was answered by transfer 1.0.0"
[ -n "$on_v2" ] && [ "$on_v2" -gt 0 ] || fail "no call was answered by transfer 2.0.0"
((on_v1 + on_v2 == calls)) || fail "$calls calls, but v1 answered $on_v1 and v2 $on_v2"
echo "=> $calls calls, 0 failed: transfer 1.0.0 answered $on_v1, 2.0.0 answered $on_v2"

step "after the switch"
keel call --scene retail transfer '["alice","bob",50]'
keel list

step "notify's count of retail transfers (the load's + the 2 by hand)"
# Notifications are delivered by base workers after the calls return: give
# the last ones up to 2 s to arrive.
for ((i = 0; ; i++)); do
  notified=$(keel call --scene notify count '["retail"]')
  ((notified < calls + 2 && i < 20)) || break
  sleep 0.1
done
echo "$notified"
((notified == calls + 2)) || fail "notify heard $notified retail transfers, expected $((calls + 2))"
echo "=> every transfer was notified exactly once"

step "the ledger: money moved, none created or lost"
ledger=$(keel call --scene funds accounts)
echo "$ledger"
total=$(python3 -c 'import json, sys; print(sum(json.loads(sys.argv[1]).values()))' "$ledger")
((total == 200000000000)) || fail "the balances add up to $total cents, not 200000000000"
echo "=> balances add up to $total cents, as at start"

step "the starter market: what this base offers and runs"
keel starter list

step "transfers over HTTP through the http starter (token auth, scene by header)"
port=$(keel starter exec http info | python3 -c 'import json, sys; print(json.load(sys.stdin)["port"])')
url=http://127.0.0.1:$port/fund/transfer
answer=$(curl -sS -H 'Authorization: Bearer demo-token-change-me' -H 'X-Keel-Scene: corporate' \
  -d '["bob","carol",100000]' "$url")
echo "POST $url (corporate) -> $answer"
case $answer in *'"ok":true'* | *'"ok": true'*) ;; *) fail "the gateway answered $answer" ;; esac
code=$(curl -sS -o /dev/null -w '%{http_code}' -d '["bob","carol",100000]' "$url")
echo "the same without a token -> HTTP $code"
[ "$code" = 401 ] || fail "a request without a token got HTTP $code, not 401"

step "notify's settings through the config starter, changed while it runs"
keel call --scene notify settings '["retail"]'
keel config set notify channel '"push"' --scene retail
settings=$(keel call --scene notify settings '["retail"]')
echo "$settings"
case $settings in *push*) ;; *) fail "notify did not apply the new channel: $settings" ;; esac

step "db 1.0.0 -> 1.1.0 in place under load, and account 2.0.0 (needs db ^1.1) switched in"
keel load --scene retail --parallel 4 --seconds 4 transfer '["alice","bob",1]' >"$work/load2.out" 2>&1 &
load_pid=$!
sleep 1
keel starter enable db@1.1.0
keel install --inactive "$samples/account-2.0.0.keel"
keel switch account@2.0.0
keel uninstall account@1.0.0
if wait "$load_pid"; then load_status=0; else load_status=$?; fi
load_pid=""
cat "$work/load2.out"
[ "$load_status" -eq 0 ] || fail "keel load exited with status $load_status during the db upgrade"
calls2=$(awk '$1 == "calls" {print $2}' "$work/load2.out")
echo "=> $calls2 transfers, 0 failed, across the starter upgrade and the account switch"
keel starter info db | head -n 8
keel call --scene funds history '["carol",3]'

step "the nightly reconciliation (timer starter), run now by hand"
keel starter exec timer run '{"job": "nightly-reconcile"}'
keel starter exec timer jobs | python3 -c 'import json, sys
for j in json.load(sys.stdin)["jobs"]: print(j["name"], "next due", j.get("next_due", j.get("next")))' || true
reconcile=$(keel call --scene funds reconcile)
echo "$reconcile"
case $reconcile in *'"ok":true'* | *'"ok": true'*) ;; *) fail "reconcile: $reconcile" ;; esac
ledger=$(keel call --scene funds accounts)
total=$(python3 -c 'import json, sys; print(sum(json.loads(sys.argv[1]).values()))' "$ledger")
((total == 200000000000)) || fail "after the upgrades the balances add up to $total cents"
echo "=> ledger sound; balances still add up to $total cents"

step "keel health"
keel health

step "stopping keeld (SIGTERM)"
kill -TERM "$keeld_pid"
if wait "$keeld_pid"; then keeld_status=0; else keeld_status=$?; fi
keeld_pid=""
[ "$keeld_status" -eq 0 ] || fail "keeld exited with status $keeld_status"
echo "keeld stopped cleanly; the end of its log:"
tail -n 12 "$log"
echo
echo "run: OK"
