#!/usr/bin/env bash
# Drives the real keel CLI: exit codes, one-line errors, a bundle it packs
# that the loader's own reader accepts byte for byte (same digests), the
# commands that talk to a base when there is none (and against a fake base
# speaking the admin protocol of base/src/admin.h), and `keel new`, whose
# project must build as it stands.
# Usage: test_cli.sh KEEL SAMPLES_SOURCE_DIR
set -uo pipefail
keel=$(realpath "$1") samples=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-cli.XXXXXX")
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$work"' EXIT
unset KEEL_SOCKET
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
expect_one_error_line no-args 'missing a COMMAND'
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
cd "$work" && check pack-default-name 0 "$keel" bundle "$work/good"; cd - >/dev/null
[ -f "$work/greeter-1.0.0.keel" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL default name greeter-1.0.0.keel"; }
grep -q 'greeter 1.0.0' "$work/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL pack summary: $(cat "$work/out")"; }
check pack-again 0 "$keel" bundle "$work/good" -o "$work/again.keel"
cmp -s "$work/greeter-1.0.0.keel" "$work/again.keel" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL packing is not deterministic"; }
# (listed to a file: grep -q stops reading early, and under pipefail tar's
# SIGPIPE would fail the check at random)
tar -tzf "$work/again.keel" >"$work/listing"
grep -qx 'keel-digests.json' "$work/listing" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL no digests entry"; }

# ---- every command: help, usage errors ------------------------------------
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
commands="new bundle install uninstall switch rollback route list history logs call publish health metrics load starter market config"
check version 0 "$keel" --version
grep -q '^keel ' "$work/out" && ok || bad "--version prints 'keel VERSION'"
check help-command 0 "$keel" help
for c in $commands; do
  check "$c-help" 0 "$keel" "$c" --help
  grep -q "^usage: keel $c" "$work/out" && ok || bad "$c --help prints its usage: $(head -1 "$work/out")"
  check "help-$c" 0 "$keel" help "$c"
  [ "$c" = logs ] && continue
  "$keel" --help >"$work/help"
  grep -q "^  $c " "$work/help" && ok || bad "keel --help lists $c"
done

usage() { # NAME NEEDLE CMD...: exit 2 and one 'keel: ...NEEDLE' line
  local name=$1 needle=$2; shift 2
  check "$name" 2 "$@"
  expect_one_error_line "$name" "$needle"
}
usage global-unknown 'unknown option "--frob"' "$keel" --frob list
usage global-socket-no-path '--socket needs a PATH' "$keel" --socket
usage global-timeout-bad '--timeout needs' "$keel" --timeout -1 list
usage install-no-bundle 'install: missing the BUNDLE' "$keel" install
usage install-two 'install: unexpected argument "b"' "$keel" install a b
usage install-bad-option 'install: unknown option "--frob"' "$keel" install --frob x
usage uninstall-no-name 'uninstall: missing' "$keel" uninstall
usage uninstall-empty-version 'empty VERSION' "$keel" uninstall greeter@
usage switch-no-version 'needs a version: NAME@VERSION' "$keel" switch greeter
usage rollback-with-version 'without a version' "$keel" rollback greeter@1.0.0
usage route-no-primary 'missing the PRIMARY_VERSION' "$keel" route greeter
usage route-gray-no-percent 'needs a PERCENT' "$keel" route greeter 1.0.0 2.0.0
usage route-bad-percent 'PERCENT must be an integer from 0 to 100' "$keel" route greeter 1.0.0 2.0.0 101
usage list-operand 'list: unexpected argument "x"' "$keel" list x
usage history-no-name 'history: missing' "$keel" history
usage logs-no-name 'logs: missing' "$keel" logs
usage call-no-service 'call: missing the SERVICE' "$keel" call
usage call-not-array 'must be a JSON array' "$keel" call greet '{"a":1}'
usage call-bad-json 'must be a JSON array' "$keel" call greet '[1,'
usage call-scene-no-value 'option "--scene" needs a value' "$keel" call greet --scene
usage publish-no-data 'publish: missing the DATA' "$keel" publish topic
usage health-operand 'health: unexpected argument' "$keel" health now
usage metrics-operand 'metrics: unexpected argument' "$keel" metrics x
usage load-both 'give --seconds or --count, not both' "$keel" load --seconds 1 --count 5 greet
usage load-parallel 'parallel needs a number from 1 to 256' "$keel" load --parallel 0 greet
usage load-seconds 'seconds needs a duration' "$keel" load --seconds abc greet
usage load-no-service 'load: missing the SERVICE' "$keel" load
usage new-no-name 'new: missing the module NAME' "$keel" new
usage new-bad-name 'is not a valid module name' "$keel" new Demo
usage new-long-name 'is not a valid module name' "$keel" new "a$(printf 'b%.0s' $(seq 64))"
usage new-bad-scene 'is not a valid scene' "$keel" new demo --scene 'a b'

# ---- commands that need a base, without one -----------------------------
usage no-socket 'no base socket: pass --socket PATH or set KEEL_SOCKET' "$keel" list
none=$work/none.sock
unreachable() { # NAME CMD...: exit 1, one 'cannot reach keeld at $none' line
  local name=$1; shift
  check "$name" 1 "$@"
  expect_one_error_line "$name" "cannot reach keeld at $none: No such file or directory (is it running?)"
}
unreachable install-unreachable "$keel" --socket "$none" install "$work/greeter-1.0.0.keel"
unreachable uninstall-unreachable "$keel" --socket "$none" uninstall greeter@1.0.0
unreachable switch-unreachable "$keel" --socket "$none" switch greeter@2.0.0
unreachable rollback-unreachable "$keel" --socket "$none" rollback greeter
unreachable route-unreachable "$keel" --socket "$none" route greeter 1.0.0 2.0.0 10 --by-key
unreachable list-unreachable "$keel" --socket "$none" list
unreachable list-json-unreachable "$keel" --socket="$none" --json list
unreachable history-unreachable "$keel" --socket "$none" history greeter
unreachable logs-unreachable "$keel" --socket "$none" logs greeter@1.0.0
unreachable call-unreachable "$keel" --socket "$none" call --scene default greet '["x"]'
unreachable publish-unreachable "$keel" --socket "$none" publish --sync topic '{}'
unreachable health-unreachable "$keel" --socket "$none" health
unreachable metrics-unreachable "$keel" --socket "$none" metrics
unreachable load-unreachable "$keel" --socket "$none" load --count 3 greet
unreachable env-socket-unreachable env KEEL_SOCKET="$none" "$keel" list
check install-missing-bundle 1 "$keel" --socket "$none" install "$work/missing.keel"
expect_one_error_line install-missing-bundle "cannot use bundle $work/missing.keel"

# ---- against a fake base that speaks the admin protocol -----------------
if command -v python3 >/dev/null; then
  cat >"$work/fakebase.py" <<'PY'
import json, os, socket, sys, threading, time
path, seen = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(16)
active = ["1.0.0"]
def answer(op, a):
    if op == "install":
        return [{"progress": "verifying bundle"},
                {"ok": True, "result": {"name": "greeter", "version": "1.0.0", "namespace": 1,
                                        "state": "active" if a.get("activate") else "resolved"}}]
    if op == "call" and a.get("service") == "hang":
        time.sleep(3)
    if op == "call" and a.get("service") == "greet":
        return [{"ok": True, "result": {"result": {"version": active[0], "args": a.get("args")}}}]
    if op == "switch":
        active[0] = a["version"]
        return [{"ok": True, "result": {"active": "greeter@" + a["version"], "previous": None}}]
    if op == "list":
        return [{"ok": True, "result": {"modules": [{"name": "greeter", "version": "1.0.0",
                 "state": "active", "namespace": 1, "priority": 100, "memory_bytes": 2048,
                 "reason": None, "services": [{"scene": "default", "name": "greet",
                 "signature": "i32(str,buf)", "routed": True, "share": 100, "properties": {}}]}]}}]
    if op == "health":
        return [{"ok": True, "result": {"status": "DEGRADED", "uptime_s": 5, "modules": 1,
                 "active": 0, "broken": 1, "leaks": ["old@0.1.0: 1 mapping left"]}}]
    return [{"ok": False, "error": {"status": "not_found", "code": 3,
             "message": "no such thing: " + op}}]
def serve(c):
    f = c.makefile("rwb")
    for line in f:
        req = json.loads(line)
        with open(seen, "a") as s: s.write(line.decode())
        for out in answer(req["op"], req.get("args", {})):
            f.write((json.dumps(out) + "\n").encode()); f.flush()
while True:
    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
  sock=$work/fake.sock
  python3 "$work/fakebase.py" "$sock" "$work/seen" & fake_pid=$!
  for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
  export KEEL_SOCKET=$sock
  cd "$work" && check fake-install 0 "$keel" install --progress greeter-1.0.0.keel; cd - >/dev/null
  grep -qx 'installed greeter@1.0.0 (active, namespace 1)' "$work/out" && ok || bad "install prints: $(cat "$work/out")"
  grep -qx '\.\.\. verifying bundle' "$work/err" && ok || bad "install --progress shows: $(cat "$work/err")"
  grep -q "\"bundle\":\"$work/greeter-1.0.0.keel\"" "$work/seen" && ok || bad "install sends an absolute path: $(tail -1 "$work/seen")"
  check fake-install-inactive 0 "$keel" --json install --inactive "$work/greeter-1.0.0.keel"
  [ "$(cat "$work/out")" = '{"name":"greeter","version":"1.0.0","namespace":1,"state":"resolved"}' ] && ok || bad "install --json prints the result: $(cat "$work/out")"
  check fake-list 0 "$keel" list
  grep -q '^NAME  *VERSION  *STATE  *NS  *PRIORITY  *MEMORY  *SERVICES$' "$work/out" && ok || bad "list header: $(head -1 "$work/out")"
  grep -q '^greeter  *1\.0\.0  *active  *1  *100  *2\.0 KiB  *default/greet$' "$work/out" && ok || bad "list row: $(cat "$work/out")"
  check fake-call 0 "$keel" call greet '["world"]'
  [ "$(cat "$work/out")" = '{"version":"1.0.0","args":["world"]}' ] && ok || bad "call prints the result: $(cat "$work/out")"
  check fake-refused 1 "$keel" uninstall greeter@1.0.0
  expect_one_error_line fake-refused 'no such thing: uninstall$'
  check fake-timeout 1 "$keel" --timeout 0.3 call hang
  expect_one_error_line fake-timeout "did not answer within 0.3 s"
  check fake-degraded 1 "$keel" health
  expect_one_error_line fake-degraded 'base is DEGRADED: .*leak: old@0.1.0: 1 mapping left'
  grep -q '^status   DEGRADED$' "$work/out" && ok || bad "health prints the status: $(cat "$work/out")"
  check fake-load 0 "$keel" load --count 40 --parallel 4 --group-by version --json greet '["x"]'
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["calls"]==40 and r["failures"]==0 and r["groups"]=={"1.0.0":40}, r' "$work/out" && ok || bad "load totals: $(cat "$work/out")"
  check fake-load-failing 1 "$keel" load --count 5 --parallel 1 nope
  expect_one_error_line fake-load-failing '5 of 5 calls failed; first error: no such thing: call'
  unset KEEL_SOCKET
fi

# ---- keel new: a project that builds as it stands -----------------------
check new-demo 0 "$keel" new demo --dir "$work" --scene shop
for f in demo.c manifest.json meson.build meson_options.txt stage-bundle.sh README.md; do
  [ -s "$work/demo/$f" ] && ok || bad "keel new wrote no $f"
done
grep -q '"scenes": \["shop"\]' "$work/demo/manifest.json" && ok || bad "manifest scenes: $(cat "$work/demo/manifest.json")"
grep -q 'KEEL_MODULE("demo"' "$work/demo/demo.c" && ok || bad "demo.c declares the module"
check new-again 1 "$keel" new demo --dir "$work"
expect_one_error_line new-again "$work/demo already exists; not overwriting it"
check new-no-dir 1 "$keel" new demo --dir "$work/missing"
expect_one_error_line new-no-dir "cannot create $work/missing/demo"
[ ! -e "$work/missing" ] && ok || bad "a refused keel new left files"
if command -v meson >/dev/null && command -v ninja >/dev/null; then
  if (cd "$work/demo" && meson setup b && ninja -C b) >"$work/build.log" 2>&1; then ok; else
    bad "the scaffold does not build: $(tail -20 "$work/build.log")"; fi
  [ -f "$work/demo/b/demo.so" ] && ok || bad "the scaffold built no demo.so"
  [ -f "$work/demo/b/demo-0.1.0.keel" ] && ok || bad "the scaffold built no demo-0.1.0.keel"
  listing=$(tar -tzf "$work/demo/b/demo-0.1.0.keel" 2>/dev/null | sort | tr '\n' ' ')
  [ "$listing" = 'demo.so keel-digests.json manifest.json ' ] && ok || bad "bundle content: $(tar -tzf "$work/demo/b/demo-0.1.0.keel" | tr '\n' ' ')"
  if command -v nm >/dev/null; then
    [ "$(nm -D --defined-only "$work/demo/b/demo.so" | awk '{print $3}')" = keel_module_entry ] && ok || bad "demo.so exports more than keel_module_entry"
  fi
else
  echo "SKIP building the scaffold: no meson or ninja"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
