#!/usr/bin/env node
// Extracts an image's layers into an empty layer cache the way the overlay snapshotter gets them
// (LayerCache.layerDirs: overlay format, parallel, synced, published atomically) and nothing else.
//
//   CNBX_BENCH_DIST=<compiled tree> node bench/harness/materialize-probe.mjs <layout> <cache dir>
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [layoutDir, cacheDir] = process.argv.slice(2);
const dist = process.env.CNBX_BENCH_DIST;
if (!dist || !layoutDir || !cacheDir) {
  process.stderr.write('usage: CNBX_BENCH_DIST=<dist> materialize-probe.mjs <layout> <cache dir>\n');
  process.exit(2);
}
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const [oci, snapshot] = await Promise.all([load('oci/index.js'), load('snapshot/index.js')]);
const image = await (await oci.OciLayout.open(layoutDir)).image({ tag: 'latest' });
const cache = new snapshot.LayerCache(join(cacheDir, 'layers'));
const dirs = typeof cache.layerDirs === 'function' ? await cache.layerDirs(image) : await Promise.all(image.layers.map((l) => cache.layerDir(l)));
process.stdout.write(`${dirs.length} dirs\n`);
