#!/usr/bin/env bash
# `npm run bench [-- options]`: compile the engine and the harness into bench/work/dist (a private
# copy, so that other work in a shared tree cannot change the code under test mid-run), then run
# the harness (options: bench/README.md, or --help).
#   --head   measure a clean snapshot of the committed HEAD (bench/work/head) instead of the work
#            tree: nobody's uncommitted edits are in it, and results.json names the exact commit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
head=0; args=()
for a in "$@"; do
  case $a in
    --head) head=1 ;;
    -h|--help) [ -f bench/work/dist/bench/harness/cli.js ] && exec node bench/work/dist/bench/harness/cli.js --help
               sed -n '2,6p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

compile() { # DIR: compile DIR's engine and harness into DIR/bench/work/dist
  echo "[bench] compiling $1 into $1/bench/work/dist" >&2
  if ! (cd "$1" && npx tsc -p bench/tsconfig.json); then
    # tsc still emits; a type error elsewhere in a shared tree should not block a measurement.
    echo "[bench] warning: type errors (above); benchmarking the emitted code anyway" >&2
  fi
  [ -f "$1/bench/work/dist/bench/harness/cli.js" ] || { echo "[bench] compile produced no harness" >&2; exit 1; }
}

if [ $head = 0 ]; then
  compile "$repo"
  exec node bench/work/dist/bench/harness/cli.js ${args[@]+"${args[@]}"}
fi

commit=$(git rev-parse HEAD)
snap=$repo/bench/work/head
echo "[bench] snapshot of HEAD ($commit) in $snap" >&2
rm -rf "$snap"; mkdir -p "$snap"
git archive HEAD | tar -x -C "$snap"
ln -s "$repo/node_modules" "$snap/node_modules"
if git diff --quiet HEAD -- native/ && [ -f native/build/Release/cnbx-chroot ]; then
  ln -s "$repo/native/build" "$snap/native/build"   # built from the same sources
else
  echo "[bench] native/ differs from HEAD: building the snapshot's native helper" >&2
  (cd "$snap" && npx node-gyp rebuild --directory=native >&2)
fi
compile "$snap"
CNBX_BENCH_COMMIT=$commit exec node "$snap/bench/work/dist/bench/harness/cli.js" \
  --out "$repo/bench" --work "$repo/bench/work/run" ${args[@]+"${args[@]}"}
