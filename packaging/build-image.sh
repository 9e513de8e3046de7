#!/usr/bin/env bash
# Builds the container image of cnb-extender (packaging/Dockerfile) with cnb-extender itself, as an
# OCI image layout:
#   1. npm pack: the package exactly as it would be published;
#   2. npm install of that tarball into a staging directory (the native helper builds on install);
#   3. fixtures/make-fixtures.sh node: the base image (Debian 12 + nodejs), cached;
#   4. the freshly installed `cnb-extender apply` applies packaging/Dockerfile to the base.
# Usage: packaging/build-image.sh [OUTPUT_LAYOUT_DIR]   (default /var/tmp/cnb-extender-image; tag latest)
# Environment: CNBX_FIXTURES (fixture cache), CNBX_JSON (a -json report path), CNBX_PROGRESS,
# CNBX_SKIP_BUILD=1 (pack the dist/ already built instead of rebuilding it: npm pack --ignore-scripts).
# Needs root (RUN runs in a chroot), network access to the npm registry (dependencies) and, the first
# time, to Debian's mirror (the node fixture).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/var/tmp/cnb-extender-image}
fixtures=${CNBX_FIXTURES:-/var/tmp/cnb-extender-fixtures}
say() { printf '[build-image] %s\n' "$*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cnbx-image-XXXXXX")
trap 'rm -rf "$work"' EXIT

say "packing the tool (npm pack)"
(cd "$root" && npm pack --silent ${CNBX_SKIP_BUILD:+--ignore-scripts} --pack-destination "$work" >/dev/null)
tgz=$(ls "$work"/cnb-extender-*.tgz)

say "installing $(basename "$tgz") into the build context (builds the native helper)"
mkdir -p "$work/context/cnb-extender"
npm install --prefix "$work/context/cnb-extender" --omit=dev --no-audit --no-fund --loglevel=error "$tgz"
cp "$(readlink -f "$(command -v node)")" "$work/context/node"

say "base image: the node fixture"
CNBX_FIXTURES=$fixtures bash "$root/fixtures/make-fixtures.sh" node

say "applying packaging/Dockerfile with the packed cnb-extender"
"$work/context/cnb-extender/node_modules/.bin/cnb-extender" apply \
  -base "$fixtures/node:latest" \
  -dockerfile "$root/packaging/Dockerfile" \
  -context "$work/context" \
  -kind build \
  -output "$out:latest" \
  ${CNBX_JSON:+-json "$CNBX_JSON"}
say "image written: $out (tag latest); entrypoint /cnb/lifecycle/extender"
