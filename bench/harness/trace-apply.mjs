#!/usr/bin/env node
// Runs `cnb-extender <argv>` exactly as bin.js does (same main(), same argv, same env), with
// timing wrappers around the methods where the time can go: the layout reads and writes, the
// layer cache, the snapshotter's open/begin/commit/close, the RUN executor. The wrappers only
// take timestamps; the spans go to $CNBX_BENCH_TRACE as JSON when main() returns.
//
//   CNBX_BENCH_DIST=<compiled tree with oci/ snapshot/ src/> CNBX_BENCH_TRACE=<out.json> \
//     node bench/harness/trace-apply.mjs apply -base … -output …
//
// Plain JavaScript (not TypeScript) so that it runs against any compiled tree, the repository's
// dist/ as well as the bench's private bench/work/dist, without being compiled itself.
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const bootMs = performance.now(); // ms since this process started: node's own startup
const dist = process.env.CNBX_BENCH_DIST;
const out = process.env.CNBX_BENCH_TRACE;
if (!dist) {
  process.stderr.write('trace-apply: set CNBX_BENCH_DIST to the compiled tree\n');
  process.exit(2);
}
const spans = [];
// Nesting follows the async call chain, so spans running side by side (layers extracted in
// parallel) are siblings, not parent and child.
const nesting = new AsyncLocalStorage();

/** Replaces obj[key] (an async method) with a timed one; `label` names the span. */
function wrap(obj, key, label, after) {
  const orig = obj[key];
  if (typeof orig !== 'function') return;
  obj[key] = async function (...args) {
    const start = performance.now();
    const d = nesting.getStore() ?? 0;
    try {
      const r = await nesting.run(d + 1, () => orig.apply(this, args));
      if (after) after(r);
      return r;
    } finally {
      spans.push({ name: label, start, end: performance.now(), depth: d });
    }
  };
}

const load = (p) => import(pathToFileURL(join(dist, p)).href);
const t0 = performance.now();
const [oci, snapshot, executor, cli] = await Promise.all([
  load('oci/index.js'),
  load('snapshot/index.js'),
  load('src/executor/index.js'),
  load('src/cli/main.js'),
]);
const importMs = performance.now() - t0;

wrap(oci.OciLayout, 'open', 'layout.open');
wrap(oci.OciLayout, 'create', 'layout.create');
wrap(oci.OciLayout.prototype, 'image', 'layout.image');
wrap(oci.OciLayout.prototype, 'writeImage', 'layout.writeImage');
wrap(snapshot.LayerCache.prototype, 'layerDirs', 'cache.layerDirs');
wrap(snapshot.LayerCache.prototype, 'layerDir', 'cache.layerDir');
wrap(snapshot.LayerCache.prototype, 'mergedRootfs', 'cache.mergedRootfs');
wrap(executor.ChrootExecutor.prototype, 'run', 'executor.run');
const wrapWorkspace = (prefix) => (ws) => {
  for (const m of ['beginStep', 'commitStep', 'applyLayer', 'close']) wrap(ws, m, `${prefix}.${m}`);
};
wrap(snapshot.OverlaySnapshotter.prototype, 'open', 'overlay.open', wrapWorkspace('overlay'));
wrap(snapshot.ScanSnapshotter.prototype, 'open', 'scan.open', wrapWorkspace('scan'));

let exitCode = 1;
try {
  exitCode = await cli.main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr });
} finally {
  const trace = { bootMs, importMs, endMs: performance.now(), exitCode, spans: spans.sort((a, b) => a.start - b.start) };
  if (out) writeFileSync(out, JSON.stringify(trace));
}
process.exitCode = exitCode;
