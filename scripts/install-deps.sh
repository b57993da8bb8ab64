#!/usr/bin/env bash
# Installs every build and test dependency of keel from Debian packages.
# Safe to run again: it only calls apt-get when something is missing.
set -euo pipefail
packages=(
  build-essential binutils pkg-config meson ninja-build python3
  libffi-dev libcjson-dev libarchive-dev libssl-dev check libmicrohttpd-dev
  curl
  libhiredis-dev redis-server libsqlite3-dev wrk
)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
