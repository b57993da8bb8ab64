#!/usr/bin/env bash
# Drives the starter commands of the real keel CLI against a real keeld
# whose configuration names the built market: keel market search, keel
# starter list/info/enable/disable/exec, an upgrade in place 1.0.0 -> 1.1.0
# under a bound module, refusals (exit 1, one line naming the starter and
# the field), the enabled set coming back after restarts, keel config
# against the config starter, and `keel new --starter`, whose project must
# compile and bind its starter in the base.
# Usage: test_starters_cli.sh KEELD KEEL STARTERS_BUILD_DIR SOURCE_ROOT
set -uo pipefail
keeld=$(realpath "$1") keel=$(realpath "$2") starters=$(realpath "$3") src=$(realpath "$4")
market=$starters/market.json
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-starters-cli.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$work"' EXIT
unset KEEL_SOCKET
passed=0 failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
K() { "$keel" --socket "$work/sock" "$@"; }
check() { # NAME WANT_RC CMD...: stdout in $work/out, stderr in $work/err
  local name=$1 want=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "$name: exit $rc, wanted $want; stdout: $(head -c 300 "$work/out"); stderr: $(cat "$work/err")"; fi
}
expect() { # NAME FILE REGEX (extended)
  if grep -Eq -- "$3" "$work/$2"; then ok; else bad "$1: /$3/ not in $2: $(head -c 600 "$work/$2")"; fi
}
expect_not() { # NAME FILE REGEX
  if grep -Eq -- "$3" "$work/$2"; then bad "$1: /$3/ is in $2: $(head -c 600 "$work/$2")"; else ok; fi
}
one_error() { # NAME REGEX: stderr is exactly one 'keel: ...' line matching REGEX
  if [ "$(wc -l <"$work/err")" -eq 1 ] && grep -Eq -- "^keel: .*$2" "$work/err"; then ok; else
    bad "$1: stderr should be one 'keel: ...$2' line, got: $(cat "$work/err")"; fi
}
usage() { # NAME REGEX CMD...: exit 2, one line
  local name=$1 needle=$2; shift 2
  check "$name" 2 "$@"
  one_error "$name" "$needle"
}
refused() { # NAME REGEX CMD...: exit 1, one line
  local name=$1 needle=$2; shift 2
  check "$name" 1 "$@"
  one_error "$name" "$needle"
}
json_check() { # NAME PYTHON_EXPR over r (stdout as JSON)
  if python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert $2, r" "$work/out" 2>"$work/py"; then ok; else
    bad "$1: $2 does not hold for $(head -c 600 "$work/out")"; fi
}
in_market() { python3 -c 'import json,sys; sys.exit(0 if any(s["name"] == sys.argv[2] for s in json.load(open(sys.argv[1]))["starters"]) else 1)' "$market" "$1"; }

[ -f "$market" ] || { echo "no market index at $market"; exit 1; }
if ! in_market kv; then
  echo "SKIP: the market $market has no kv starter (nothing built yet)"
  exit 77
fi
has_config=0
in_market config && has_config=1

# ---- help and usage errors: no base needed, nothing sent ------------------
for c in starter market config; do
  check "$c-help" 0 "$keel" "$c" --help
  expect "$c --help" out "^usage: keel $c"
  check "help-$c" 0 "$keel" help "$c"
  "$keel" --help >"$work/help"
  grep -q "^  $c " "$work/help" && ok || bad "keel --help lists $c"
done
for s in list info enable disable exec; do
  check "starter-$s-help" 0 "$keel" starter "$s" --help
  expect "starter $s --help" out "^usage: keel starter $s"
done
check market-search-help 0 "$keel" market search --help
expect "market search --help" out '^usage: keel market search'
for s in get set list delete reset; do
  check "config-$s-help" 0 "$keel" config "$s" --help
  expect "config $s --help" out '^usage: keel config'
done
none=$work/none.sock   # never created: a usage error must come before any connection
usage starter-no-sub 'starter: missing the SUBCOMMAND' "$keel" starter
usage starter-unknown-sub 'starter: unknown subcommand "frob"' "$keel" starter frob
usage starter-list-operand 'starter list: unexpected argument "x"' "$keel" starter list x
usage starter-info-no-name 'starter info: missing the starter NAME' "$keel" starter info
usage starter-info-bad-name 'is not a valid starter NAME' "$keel" --socket "$none" starter info 'K V'
usage starter-enable-no-name 'starter enable: missing' "$keel" starter enable
usage starter-enable-empty-range 'empty RANGE' "$keel" starter enable kv@
usage starter-enable-bad-name 'is not a valid starter NAME' "$keel" starter enable Kv
usage starter-enable-bad-config 'option --config: .*JSON object' "$keel" --socket "$none" starter enable kv --config '{"backend":'
usage starter-enable-array-config 'option --config' "$keel" --socket "$none" starter enable kv --config '[1]'
printf '{"backend": "memory",}' >"$work/bad-config.json"
usage starter-enable-bad-config-file "option --config: file $work/bad-config.json" "$keel" --socket "$none" starter enable kv --config "@$work/bad-config.json"
refused starter-enable-missing-config-file "cannot read the --config file $work/nope.json" "$keel" --socket "$none" starter enable kv --config "@$work/nope.json"
usage starter-enable-config-no-value 'option "--config" needs a value' "$keel" starter enable kv --config
usage starter-disable-version 'without a version' "$keel" starter disable kv@1.0.0
usage starter-exec-no-op 'starter exec: missing the OP' "$keel" starter exec kv
usage starter-exec-not-object 'arguments must be a JSON object' "$keel" --socket "$none" starter exec kv info '[1]'
usage market-no-sub 'market: missing the SUBCOMMAND' "$keel" market
usage market-two-words 'market search: unexpected argument "b"' "$keel" market search a b
usage config-no-sub 'config: missing the SUBCOMMAND' "$keel" config
usage config-set-no-value 'config set: missing the VALUE' "$keel" config set notify channel
usage config-get-no-key 'config get: missing the KEY' "$keel" config get notify
usage config-list-scene 'config list: unknown option "--scene"' "$keel" config list --scene x
usage config-scene-no-value 'option "--scene" needs a value' "$keel" config get notify k --scene
usage new-bad-starter 'is not a valid starter name' "$keel" new demo --dir "$work" --starter 'K V'
usage new-starter-twice 'starter "kv" is given twice' "$keel" new demo --dir "$work" --starter kv --starter kv
[ ! -e "$work/demo" ] && ok || bad "a refused keel new --starter left files"
usage no-socket 'no base socket' "$keel" starter list
refused unreachable "cannot reach keeld at $none" "$keel" --socket "$none" market search

# ---- keel new --starter: manifest and source -------------------------------
check new-kv 0 "$keel" new shop --dir "$work" --starter kv
expect "new names the starter" out '^binds starters kv '
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["api"] == 3 and r["requires"] == {"kv": "^1.0"}, r' \
  "$work/shop/manifest.json" && ok || bad "manifest has api 3 and requires kv: $(cat "$work/shop/manifest.json")"
grep -q '#include <keel/starters/kv.h>' "$work/shop/shop.c" && ok || bad "shop.c includes keel/starters/kv.h"
grep -q 'static const keel_kv_api \*kv_api;' "$work/shop/shop.c" && ok || bad "shop.c declares the kv table"
grep -q 'api->starter_get(ctx, "kv", NULL, (const void \*\*)&kv_api,' "$work/shop/shop.c" && ok || bad "shop.c binds kv in start"
grep -q "option('keel_starters_include'" "$work/shop/meson_options.txt" && ok || bad "meson_options.txt has keel_starters_include"
cc=${CC:-cc}
if command -v "$cc" >/dev/null; then
  if "$cc" -std=c17 -Wall -Wextra -Werror -fsyntax-only -I"$src/module-api/include" -I"$src/starters/include" \
       "$work/shop/shop.c" 2>"$work/cc.log"; then ok; else bad "shop.c does not compile: $(head -20 "$work/cc.log")"; fi
fi
check new-plain 0 "$keel" new plain --dir "$work"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["api"] == 2 and "requires" not in r, r' \
  "$work/plain/manifest.json" && ok || bad "without --starter: api 2, no requires"
grep -q 'starter' "$work/plain/plain.c" "$work/plain/meson.build" && bad "without --starter no starter code" || ok

# ---- a real base --------------------------------------------------------------
cat >"$work/base.json" <<EOF
{"work_dir": "$work/w", "socket": "$work/sock",
 "starters": {"market": "$market",
              "enable": {"kv": {"version": "1.0.0", "config": {"backend": "memory"}}}}}
EOF
start_keeld() {
  "$keeld" --config "$work/base.json" >>"$work/keeld.out" 2>>"$work/keeld.log" &
  pid=$!
  for _ in $(seq 1 200); do
    K health >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "keeld did not come up"; tail -20 "$work/keeld.log"; exit 1
}
stop_keeld() {
  kill -TERM "$pid"
  wait "$pid"
  local rc=$?
  pid=
  [ "$rc" -eq 0 ] && ok || { bad "keeld exit after SIGTERM: $rc"; tail -20 "$work/keeld.log"; }
}
start_keeld

check market-search 0 K market search
expect "market header" out '^NAME +VERSIONS +ENABLED +OWNER +TAGS +DESCRIPTION$'
expect "market row kv" out '^kv +1\.0\.0, 1\.1\.0 +1\.0\.0 +[^ ]+ +[^ ].*cache'
check market-search-word 0 K market search CACHE
expect "search cache finds kv" out '^kv '
expect_not "search cache skips config" out '^config '
check market-search-none 0 K market search zzz-no-such-word
expect "search without a match" out "^no starter in the market $market matches \"zzz-no-such-word\"$"
check market-search-json 0 K market search --json
json_check "market search --json" "r['market'] == '$market' and {'kv'} <= {s['name'] for s in r['starters']}"

check starter-list 0 K starter list
expect "list header" out '^NAME +ENABLED +AVAILABLE +BINDINGS +DESCRIPTION$'
expect "list row kv" out '^kv +1\.0\.0 +1\.0\.0, 1\.1\.0 +none +A '
[ "$has_config" = 1 ] && expect "list row config" out '^config +no +1\.0\.0, 1\.1\.0 +- +'
check starter-list-json 0 K --json starter list
json_check "list --json" "[s for s in r['starters'] if s['name'] == 'kv'][0]['version'] == '1.0.0'"

check starter-info 0 K starter info kv
expect "info name" out '^name +kv$'
expect "info owner" out '^owner +[^ ]'
expect "info versions" out '^versions +1\.0\.0 \(module api'
expect "info enabled" out '^enabled +1\.0\.0$'
expect "info library" out '^library +/.*keel-starter-kv-1\.0\.0\.so$'
expect "info config" out '^config +\{"backend":"memory"\}$'
expect "info upgrades" out '^upgrades +0$'
expect "info status" out '^status +.*version=1\.0\.0'
refused starter-info-unknown 'starter nope-x is neither in the market nor enabled' K starter info nope-x

# ---- refusals: one line naming the starter (and the field); nothing changes
refused enable-missing 'nope-x.*not in the market' K starter enable nope-x
refused enable-bad-version 'kv.*"9\.9\.9"' K starter enable kv@9.9.9
refused enable-bad-config 'kv.*"max_keys".*integer' K starter enable kv@1.1.0 --config '{"max_keys": "abc"}'
refused enable-unknown-field 'kv.*"colour"' K starter enable kv@1.1.0 --config '{"colour": "red"}'
check still-1.0.0 0 K starter info kv
expect "refusals left kv at 1.0.0" out '^enabled +1\.0\.0$'
refused exec-unknown-op 'kv.*"frob"' K starter exec kv frob
refused exec-not-enabled 'nope-x' K starter exec nope-x info
refused disable-not-enabled 'nope-x' K starter disable nope-x

# ---- a module bound to kv, through an upgrade in place --------------------------
module=0
if command -v meson >/dev/null && command -v ninja >/dev/null; then
  if (cd "$work/shop" && meson setup b && ninja -C b) >"$work/build.log" 2>&1; then ok; module=1; else
    bad "the kv scaffold does not build: $(tail -20 "$work/build.log")"; fi
else
  echo "SKIP building the kv scaffold: no meson or ninja"
fi
if [ "$module" = 1 ]; then
  check install-shop 0 K install "$work/shop/b/shop-0.1.0.keel"
  check call-shop 0 K call hello '["kv"]'
  expect "shop answers" out 'hello, kv, from shop'
  check list-bound 0 K starter list
  expect "list shows the binding" out '^kv +1\.0\.0 +1\.0\.0, 1\.1\.0 +shop@0\.1\.0 '
  refused disable-bound 'kv.*shop@0\.1\.0' K starter disable kv
fi
check upgrade 0 K starter enable kv@1.1.0
expect "upgrade line" out '^upgraded kv 1\.0\.0 -> 1\.1\.0 in place$'
check upgrade-again 0 K starter enable kv@1.1.0
expect "same version again" out '^kv 1\.1\.0 already runs; nothing changed$'
check info-upgraded 0 K starter info kv
expect "info after upgrade: version" out '^enabled +1\.1\.0$'
expect "info after upgrade: upgrades" out '^upgrades +1$'
expect "info after upgrade: config kept" out '^config +\{"backend":"memory"\}$'
check info-upgraded-json 0 K starter info kv --json
json_check "info --json after upgrade" "r['starter']['version'] == '1.1.0' and r['starter']['upgrades'] == 1"
check exec-info 0 K starter exec kv info
json_check "exec kv info" "r['version'] == '1.1.0'"
check exec-info-json 0 K --json starter exec kv info '{}'
json_check "exec --json" "r['result']['version'] == '1.1.0'"
if [ "$module" = 1 ]; then
  check call-after-upgrade 0 K call hello '["again"]'
  expect "shop answers after the upgrade" out 'hello, again, from shop'
  check info-bound 0 K starter info kv
  expect "the binding survived the upgrade" out '^bindings +shop@0\.1\.0'
  check uninstall-shop 0 K uninstall shop
fi

# ---- keel config against the config starter -------------------------------------
if [ "$has_config" = 1 ]; then
  refused config-not-enabled 'config' K config get notify channel
  check enable-config 0 K starter enable config
  expect "enable config" out '^enabled config [0-9.]+$'
  check config-set 0 K config set notify channel sms --scene retail
  expect "config set line" out '^set notify/channel \(scene retail\) = "sms"; 0 watchers notified$'
  check config-set-number 0 K config set notify retries -5
  expect "config set a number" out '^set notify/retries = -5; '
  check config-set-json 0 K config set notify channel '"email"'
  check config-get 0 K config get notify channel --scene retail
  expect "config get" out '^notify/channel \(scene retail\) = "sms" \(operator, scene retail\)$'
  check config-get-fallback 0 K config get notify channel --scene=web
  expect "config get falls back" out '^notify/channel \(scene web\) = "email" \(operator, module-wide\)$'
  check config-get-json 0 K config get notify retries --json
  json_check "config get --json" "r['value'] == -5 and r['module'] == 'notify'"
  check config-list 0 K config list notify
  expect "config list header" out '^MODULE +SCENE +KEY +VALUE +SOURCE$'
  expect "config list row" out '^notify +retail +channel +"sms" +operator$'
  check config-delete 0 K config delete notify channel --scene retail
  expect "config delete line" out '^deleted notify/channel \(scene retail\); now "email" \(operator, module-wide\); '
  refused config-get-missing 'notify.*nope' K config get notify nope
  refused config-bad-module 'field "module"' K config set 'Bad Module' k v
else
  echo "SKIP keel config: the market has no config starter"
fi

# ---- restarts: the enabled set comes back (with the upgrade) ---------------------
stop_keeld
start_keeld
check info-after-restart 0 K starter info kv
expect "kv comes back upgraded" out '^enabled +1\.1\.0$'
expect "kv keeps its config" out '^config +\{"backend":"memory"\}$'
if [ "$has_config" = 1 ]; then
  check config-after-restart 0 K config get notify retries
  expect "config values come back" out '^notify/retries = -5 '
fi
check disable 0 K starter disable kv
expect "disable line" out '^disabled kv$'
check list-disabled 0 K starter list
expect "kv no longer runs" out '^kv +no +1\.0\.0, 1\.1\.0 +- '
stop_keeld
start_keeld
check list-after-restart 0 K starter list
expect "disabled kv stays disabled" out '^kv +no '
[ "$has_config" = 1 ] && expect "config still runs" out '^config +[0-9]'
stop_keeld

if grep -Eq 'ERROR: AddressSanitizer|runtime error:' "$work/keeld.log"; then
  bad "keeld reported a sanitizer error: $(grep -E -m3 'AddressSanitizer|runtime error' "$work/keeld.log")"
else ok; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
