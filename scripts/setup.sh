#!/usr/bin/env bash
# Makes a fresh machine ready to build, test and run cnb-extender: Debian packages (as root),
# npm dependencies (which also builds the native helper), and the TypeScript build.
# Idempotent and quick when everything is already there. Usage: setup.sh [--ci]
#   --ci   always run `npm ci` (a clean install from package-lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests and benchmarks use as real peers and oracles.
DEB_PACKAGES=(umoci skopeo buildah docker-registry apache2-utils debootstrap busybox-static
  jq attr libcap2-bin zstd pigz util-linux hyperfine
  time librsvg2-bin)  # bench/: GNU time for peak RSS, rsvg-convert for the chart PNG

say() { printf '[setup] %s\n' "$*" >&2; }

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = --ci ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "building (tsc)"
npx tsc -p tsconfig.build.json
