#!/usr/bin/env bash
# Stages a module directory from build outputs and packs it with `keel bundle`.
# Usage: keel-stage-bundle.sh OUT.keel KEEL MANIFEST MODULE.so [lib:FILE[=NAME]]... [res:FILE[=NAME]]...
# lib: files go to lib/ (NAME defaults to the file's name), res: files to the root.
set -euo pipefail
out=$1 keel=$2 manifest=$3 module=$4
shift 4
stage=$(mktemp -d "${TMPDIR:-/tmp}/keel-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$manifest" "$stage/manifest.json"
library=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["library"])' "$manifest")
mkdir -p "$(dirname "$stage/$library")"
cp "$module" "$stage/$library"
for item in "$@"; do
  kind=${item%%:*} spec=${item#*:}
  src=${spec%%=*} name=${spec#*=}
  [ "$name" = "$spec" ] && name=$(basename "$src")
  case $kind in
    lib) mkdir -p "$stage/lib"; cp "$src" "$stage/lib/$name" ;;
    res) mkdir -p "$(dirname "$stage/$name")"; cp "$src" "$stage/$name" ;;
    *) echo "keel-stage-bundle: unknown item kind '$kind' in '$item'" >&2; exit 2 ;;
  esac
done
"$keel" bundle "$stage" -o "$out" >/dev/null
