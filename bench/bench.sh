#!/usr/bin/env bash
# `npm run bench`: compile the engine and the harness into bench/work/dist (a private copy, so
# that other work in the tree cannot change the code under test mid-run), then run the harness.
# Options are the harness's (bench/README.md); e.g. `npm run bench -- --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
  case $a in -h|--help) exec node bench/work/dist/bench/harness/cli.js "$@" ;; esac
done
echo "[bench] compiling into bench/work/dist" >&2
if ! npx tsc -p bench/tsconfig.json; then
  # tsc still emits; a type error elsewhere in a shared tree should not block a measurement.
  echo "[bench] warning: type errors (above); benchmarking the emitted code anyway" >&2
fi
[ -f bench/work/dist/bench/harness/cli.js ] || { echo "[bench] compile produced no harness" >&2; exit 1; }
exec node bench/work/dist/bench/harness/cli.js "$@"
