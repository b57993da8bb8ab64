#!/usr/bin/env bash
# Drives a real keeld only through the keel CLI, the HTTP API and raw
# requests on its socket: deploy operations, restarts (SIGTERM and SIGKILL),
# conflicting operations, and bad input of every kind, checking each time
# that the running modules keep serving.
# Usage: test_keeld.sh KEELD KEEL SAMPLES_BUILD_DIR TEST_MODULES_BUILD_DIR STARTERS_BUILD_DIR
set -uo pipefail
keeld=$(realpath "$1") keel=$(realpath "$2") samples=$(realpath "$3") modules=$(realpath "$4")
starters=$(realpath "$5")
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-keeld.XXXXXX")
token=test-token-0123456789abcdef
pid=
passed=0 failed=0

cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  chmod -R u+rwx "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -f "$work/err" ] && sed 's/^/  stderr: /' "$work/err" | head -5; }
K() { "$keel" --socket "$work/sock" "$@"; }

# check NAME WANT_RC CMD... : runs CMD, stdout in $work/out, stderr in $work/err
check() {
  local name=$1 want=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass; else fail "$name: exit $rc, wanted $want"; fi
}
# expect NAME FILE REGEX
expect() {
  if grep -Eq -- "$3" "$work/$2"; then pass; else fail "$1: /$3/ not in $2: $(head -c 400 "$work/$2")"; fi
}
one_line_error() {
  if [ "$(wc -l <"$work/err")" -eq 1 ] && grep -q '^keel: ' "$work/err"; then pass; else
    fail "$1: stderr is not one 'keel: ...' line: $(cat "$work/err")"; fi
}
still_serving() {
  check "$1: greeter still answers" 0 K call greet '["again"]'
  expect "$1: greeter answer" out 'hello, again! \(greeter v1\)'
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_keeld() {
  port=$(free_port)
  # The fund samples need the db and config starters.
  # db starts at 1.0.0 so that the test can upgrade it in place; http
  # exposes transfer; timer calls notify's count every 200 ms.
  cat >"$work/starters.json" <<JSON
{"starters": {"market": "$starters/market.json", "enable": {
  "db": {"version": "1.0.0"}, "config": {},
  "http": {"config": {"listen": "127.0.0.1:0", "access_log": "access.log",
    "tokens": {"test": "test-token-123"},
    "routes": [{"method": "POST", "path": "/transfer", "service": "transfer", "scene": "retail",
                "auth": "token", "fallback": {"status": 503, "body": {"paused": true}}}]}},
  "timer": {"config": {"jobs": [{"name": "count", "module": "notify", "scene": "notify",
    "service": "count", "args": ["retail"], "every": "200ms"}]}}}}}
JSON
  "$keeld" --config "$work/starters.json" --work-dir "$work/w" --socket "$work/sock" --http "127.0.0.1:$port" --http-token "$token" \
    >"$work/keeld.out" 2>>"$work/keeld.log" &
  pid=$!
  for _ in $(seq 1 200); do
    K health >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "keeld did not come up"; tail -20 "$work/keeld.log"; exit 1
}
stop_keeld() { # SIGNAL WANT_RC
  kill -"$1" "$pid"
  wait "$pid"
  local rc=$?
  pid=
  if [ "$rc" -eq "$2" ]; then pass; else
    fail "keeld exit after SIG$1: $rc, wanted $2"
    grep -v ' INFO ' "$work/keeld.log" | tail -60
  fi
}
http() { # METHOD PATH [BODY] [TOKEN]: status in $work/status, body in $work/out
  curl -s -o "$work/out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer ${4:-$token}" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "http://127.0.0.1:$port$2" >"$work/status"
}
expect_status() {
  if [ "$(cat "$work/status")" = "$2" ]; then pass; else fail "$1: HTTP $(cat "$work/status"), wanted $2: $(head -c 300 "$work/out")"; fi
}

start_keeld

# --- deploy operations through the CLI ------------------------------------
check install 0 K install --progress "$samples/greeter-1.0.0.keel"
expect install out 'installed greeter@1.0.0 \(active'
expect "install progress" err 'installing|starting'
check call 0 K call greet '["ops"]'
expect call out '"hello, ops! \(greeter v1\)"'
check "install inactive" 0 K install --inactive "$samples/greeter-2.0.0.keel"
check "still v1" 0 K call greet '["ops"]'
expect "still v1" out 'greeter v1'
check switch 0 K switch greeter@2.0.0
check "now v2" 0 K call greet '["ops"]'
expect "now v2" out 'good day, ops!! \(greeter v2\)'
check rollback 0 K rollback greeter
check "back to v1" 0 K call greet '["ops"]'
expect "back to v1" out 'greeter v1'
check "gray route" 0 K route greeter 1.0.0 2.0.0 50
check "list after route" 0 K list
expect "list shows the split" out 'greeter +2\.0\.0 +active.*\(50%\)'
check "route back" 0 K route greeter 1.0.0
check "list json" 0 K list --json
expect "list json" out '"name": ?"greeter"'
check history 0 K history greeter@1.0.0
expect history out 'installed'
expect history out 'rolled back'
check "uninstall v2" 0 K uninstall greeter@2.0.0

# --- messages through the fund samples -------------------------------------
for b in account-1.0.0 notify-1.0.0 transfer-1.0.0; do check "install $b" 0 K install "$samples/$b.keel"; done
check transfer 0 K call --scene retail transfer '["alice","bob",5]'
expect transfer out '"ok": ?true'
check publish 0 K publish --scene retail transfer.done '{"by":"hand"}'
expect publish out '1 receiver'
notified=0
for _ in $(seq 1 50); do
  K call --scene notify count '["retail"]' >"$work/out" 2>"$work/err"
  [ "$(cat "$work/out")" = "2" ] && { notified=1; break; }
  sleep 0.05
done
[ "$notified" = 1 ] && pass || fail "notify saw $(cat "$work/out") messages, wanted 2"

# --- account keeps its ledger in the db starter: v1 -> v2 keeps every balance
same_ledger() { # NAME FILE: the ledger now equals FILE
  K call --scene funds accounts >"$work/ledger.now" 2>"$work/err"
  if cmp -s "$work/ledger.now" "$2"; then pass; else
    fail "$1: ledger $(cat "$work/ledger.now") != $(cat "$2")"; fi
}
K call --scene funds accounts >"$work/ledger.v1"
expect "ledger moved" ledger.v1 '"alice": ?99999999995'
check "account v2 needs db ^1.1" 1 K install --inactive "$samples/account-2.0.0.keel"
expect "account v2 needs db ^1.1" err 'db \^1\.1 \(the base runs 1\.0\.0'
# The db starter upgraded in place while account serves balance calls.
K load --scene funds --parallel 2 --seconds 2 --json balance '["alice"]' >"$work/dbload" 2>"$work/err" &
dbload=$!
sleep 0.5
check "db upgrade in place" 0 K starter enable db@1.1.0
expect "db upgrade in place" out 'upgraded db 1\.0\.0 -> 1\.1\.0 in place'
wait "$dbload" && pass || fail "balance calls failed during the db upgrade: $(head -c 300 "$work/dbload")"
expect "no failed call during the db upgrade" dbload '"failures": ?0,'
same_ledger "after the db upgrade" "$work/ledger.v1"
check "account v2 install" 0 K install --inactive "$samples/account-2.0.0.keel"
check "account v2 switch" 0 K switch account@2.0.0
same_ledger "after account v1 -> v2" "$work/ledger.v1"
check "account v2 history" 0 K call --scene funds history '["alice",5]'
expect "account v2 history" out 'debit'
check "uninstall account v1" 0 K uninstall account@1.0.0
check reconcile 0 K call --scene funds reconcile
expect reconcile out '"ok": ?true'

# --- the http starter routes to transfer; the timer starter calls notify -----
gwport=$(K starter exec http info | python3 -c 'import json, sys; print(json.load(sys.stdin)["port"])')
code=$(curl -s -o "$work/out" -w '%{http_code}' -H 'Authorization: Bearer test-token-123' \
  -d '["alice","bob",7]' "http://127.0.0.1:$gwport/transfer")
[ "$code" = 200 ] && pass || fail "gateway: HTTP $code: $(cat "$work/out")"
expect "gateway answer" out '"ok": ?true'
code=$(curl -s -o "$work/out" -w '%{http_code}' -d '["alice","bob",7]' "http://127.0.0.1:$gwport/transfer")
[ "$code" = 401 ] && pass || fail "gateway without a token: HTTP $code"
runs=0
for _ in $(seq 1 50); do
  runs=$(K starter exec timer jobs | python3 -c 'import json, sys
print(sum(j.get("runs", 0) for j in json.load(sys.stdin)["jobs"]))' 2>/dev/null || echo 0)
  [ "$runs" -ge 2 ] && break
  sleep 0.1
done
[ "$runs" -ge 2 ] && pass || fail "the timer job ran $runs times in 5 s"
check "starter metrics" 0 K metrics
expect "starter metrics" out 'keel_starter_info\{starter="db",version="1\.1\.0"\} 1'
expect "starter metrics" out 'keel_starter_bindings\{starter="db"\} 1'
expect "starter metrics" out 'keel_starters_failed 0'
check health 0 K health
expect health out 'UP'
check metrics 0 K metrics
expect metrics out 'keel_service_calls_total\{module="greeter"'

# --- conflicting operations on one module ----------------------------------
K install "$modules/probe-hang.keel" >"$work/hang.out" 2>"$work/hang.err" &
hang=$!
starting=0
for _ in $(seq 1 200); do
  K list --json >"$work/list" 2>/dev/null
  grep -Eq '"name": ?"probe-hang"' "$work/list" && { starting=1; break; }
  sleep 0.01
done
[ "$starting" = 1 ] && pass || fail "probe-hang never showed up while starting"
check "conflicting op" 1 K uninstall probe-hang
expect "conflicting op" err 'in progress|busy|starting'
one_line_error "conflicting op"
still_serving "during a slow start"
wait "$hang"
[ $? -eq 1 ] && pass || fail "a hanging start should fail the install"
grep -q 'did not return within 300 ms' "$work/hang.err" && pass || fail "install error: $(cat "$work/hang.err")"
check "health degraded" 1 K health
check "forget the broken one" 0 K uninstall probe-hang
check "healthy again" 0 K health

# --- bad input: one clear line, nothing changes, modules keep serving ---------
head -c 300 "$samples/greeter-1.0.0.keel" >"$work/truncated.keel"
check "truncated bundle" 1 K install "$work/truncated.keel"
one_line_error "truncated bundle"
expect "truncated bundle" err 'truncated.keel'
python3 - "$work/badtype.keel" <<'PY'
import hashlib, io, json, sys, tarfile
manifest = json.dumps({"name": 5, "version": "1.0.0", "api": 1, "library": "x.so"}).encode()
digests = json.dumps({"manifest.json": hashlib.sha256(manifest).hexdigest()}).encode()
with tarfile.open(sys.argv[1], "w:gz") as tar:
    for name, data in (("manifest.json", manifest), ("keel-digests.json", digests)):
        info = tarfile.TarInfo(name); info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
PY
check "manifest wrong type" 1 K install "$work/badtype.keel"
expect "manifest wrong type" err 'field "name"'
one_line_error "manifest wrong type"
check "newer api" 1 K install "$modules/probe-api9.keel"
expect "newer api" err 'module-api 9'
check "unknown module" 1 K uninstall nosuchmodule
one_line_error "unknown module"
check "same version again" 1 K install "$samples/greeter-1.0.0.keel"
expect "same version again" err 'already installed'
check "unknown service" 1 K call nosuchservice '[]'
one_line_error "unknown service"
check "wrong argument type" 1 K call greet '[42]'
expect "wrong argument type" err 'argument 1'
check "malformed json args" 2 K call greet '[oops'
still_serving "after bad input"

# raw socket: a malformed line gets an error and the connection survives
python3 - "$work/sock" >"$work/out" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'this is not json\n{"op":"nosuchop"}\n{"op":"list"}\n')
f = s.makefile("rb")
for _ in range(3):
    print(f.readline().decode().strip())
PY
[ "$(grep -c '"ok":false' "$work/out")" = 2 ] && pass || fail "raw socket errors: $(cat "$work/out")"
expect "raw socket survives" out '"ok":true'

# another user: the socket is 0600 and the peer is checked
chmod 711 "$work"; chmod 666 "$work/sock"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
  check "other user" 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$keel" --socket "$work/sock" list
  expect "other user" err 'may not manage this base'
else
  echo "skip: other-user check needs root and setpriv"
fi
chmod 600 "$work/sock"; chmod 700 "$work"

# --- HTTP admin API --------------------------------------------------------------
http POST /queryAllBiz '{}' wrong-token-0123456789
expect_status "wrong token" 401
http POST /queryAllBiz '{}'
expect_status queryAllBiz 200
expect queryAllBiz out '"bizName": ?"greeter"'
http POST /installBiz '{"bizName":"greeter","bizVersion":"2.0.0","bizUrl":"file://'"$samples"'/greeter-2.0.0.keel"}'
expect_status installBiz 200
http POST /installBiz '{"bizName":"other","bizUrl":"'"$samples"'/greeter-1.0.0.keel"}'
expect_status "installBiz wrong name" 400
http POST /switchBiz '{"bizName":"greeter","bizVersion":"2.0.0"}'
expect_status switchBiz 200
http POST /switchBiz '{"bizName":"greeter","bizVersion":"1.0.0"}'
http POST /uninstallBiz '{"bizName":"greeter","bizVersion":"2.0.0"}'
expect_status uninstallBiz 200
http POST /installBiz '{not json'
expect_status "malformed http json" 400
http POST /health '{}'
expect_status health 200
http GET /metrics
expect_status metrics 200
expect "prometheus text" out '# TYPE keel_service_calls_total counter'
still_serving "after HTTP"

# --- restarts: the deployed set comes back -----------------------------------------
K list --json >"$work/before.json"
K call --scene funds accounts >"$work/ledger.before"
stop_keeld TERM 0
[ -S "$work/sock" ] && fail "socket left behind after SIGTERM" || pass
start_keeld
same_ledger "after a restart" "$work/ledger.before"
check "list after restart" 0 K list
expect "restored greeter" out 'greeter +1\.0\.0 +active'
expect "restored transfer" out 'transfer +1\.0\.0 +active'
still_serving "after SIGTERM restart"
check "switch before kill" 0 K install --inactive "$samples/greeter-2.0.0.keel"
check "switch before kill" 0 K switch greeter@2.0.0
stop_keeld KILL 137
start_keeld
check "list after kill" 0 K list
expect "v2 active after kill" out 'greeter +2\.0\.0 +active'
expect "v1 inactive after kill" out 'greeter +1\.0\.0 +inactive'
same_ledger "after kill -9" "$work/ledger.before"
check "call after kill" 0 K call greet '["ops"]'
expect "call after kill" out 'greeter v2'
stop_keeld TERM 0

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
