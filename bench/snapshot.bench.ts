// Snapshot costs: commitStep of a one-file change with the overlay and the scan snapshotter on the
// fixture bases (warm layer cache), and layer-writing throughput on a 200 MiB change against pigz.
//
//   npx tsc -p tsconfig.json; node dist/bench/snapshot.bench.js [--runs N] [--only commit|write] [fixture...]
//
// (tsc emits even when an unrelated file has type errors.) Defaults: busybox, debian and
// debian-large when built; 7 runs. Runs are interleaved (overlay, scan, overlay, …) on one open
// workspace per snapshotter; each run is beginStep → write one file → commitStep, and the printed
// figure is the median commitStep time (plus beginStep for scan, which takes the baseline there),
// with min, max, the number of runs and the 1-minute load average before and after.
// The write benchmark times planLayer+layerTar alone (tar to /dev/null), then storeLayer(gzip),
// against `pigz -6` of the same tar bytes on all cores, interleaved, and prints the ratio
// pigz time / our time (≥ 0.8 is the issue's target). Timing on 2-core VMs is noisy
// (../shared/tools/README.md): read the medians and the ratios, not single runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { DirBlobStore, MediaType, OciLayout, storeLayer, type Image } from '../oci/index.js';
import { chooseSnapshotter, defaultIgnore, layerTar, planLayer, type Workspace } from '../snapshot/index.js';
import { LayerCache } from '../snapshot/cache.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const FIXTURES = process.env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';
const WORK = join(ROOT, 'bench', 'work', 'snapshot');

function args(): { runs: number; only: string | undefined; fixtures: string[] } {
  const a = process.argv.slice(2);
  let runs = 7;
  let only: string | undefined;
  const fixtures: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--runs') runs = Number(a[++i]);
    else if (a[i] === '--only') only = a[++i];
    else fixtures.push(a[i]!);
  }
  if (fixtures.length === 0) fixtures.push(...['busybox', 'debian', 'debian-large'].filter((f) => existsSync(join(FIXTURES, f, 'index.json'))));
  return { runs, only, fixtures };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (xs: number[]): string => `${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n ${xs.length})`;
/** The 1-minute load average: on a shared 2-core VM the figures mean little without it. */
const load = (): string => loadavg()[0]!.toFixed(2);

async function benchCommit(fixture: string, runs: number): Promise<void> {
  const image: Image = await (await OciLayout.open(join(FIXTURES, fixture))).image();
  const base = join(WORK, fixture);
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const cache = new LayerCache(join(WORK, 'cache'), { durable: false });
  const store = new DirBlobStore(join(base, 'store'));
  const opts = { store, compression: 'gzip' as const, mediaType: MediaType.OciLayerGzip, ignore: defaultIgnore() };
  const spaces: Record<string, Workspace> = {};
  const open: Record<string, number> = {};
  for (const name of ['overlay', 'scan'] as const) {
    const t0 = process.hrtime.bigint();
    spaces[name] = await (await chooseSnapshotter(name, cache)).open(image, { workDir: join(base, name) });
    open[name] = ms(t0);
  }
  const loadBefore = load();
  const commit: Record<string, number[]> = { overlay: [], scan: [] };
  const begin: Record<string, number[]> = { overlay: [], scan: [] };
  try {
    for (let i = 0; i < runs + 1; i++) {
      for (const name of ['overlay', 'scan'] as const) {
        const ws = spaces[name]!;
        let t0 = process.hrtime.bigint();
        await ws.beginStep();
        const b = ms(t0);
        writeFileSync(join(ws.root, `tmp/bench-${i}`), `run ${i}\n`);
        t0 = process.hrtime.bigint();
        const r = await ws.commitStep(opts);
        const c = ms(t0);
        if (r === null || r.entries !== 2) throw new Error(`${name}: expected a 2-entry layer, got ${r?.entries}`);
        if (i > 0) { // the first run warms the page cache and the JIT
          begin[name]!.push(b);
          commit[name]!.push(c);
        }
      }
    }
  } finally {
    for (const ws of Object.values(spaces)) await ws.close();
  }
  console.log(`${fixture}: load average ${loadBefore} → ${load()} (1 min, ${cpus().length} cores)`);
  console.log(`${fixture} (${image.layers.length} layers): open overlay ${open.overlay!.toFixed(0)} ms, scan ${open.scan!.toFixed(0)} ms (warm cache; scan copies the rootfs)`);
  console.log(`  overlay commitStep (one-file change): ${fmt(commit.overlay!)}`);
  console.log(`  scan    beginStep (baseline walk):    ${fmt(begin.scan!)}`);
  console.log(`  scan    commitStep (walk + compare):  ${fmt(commit.scan!)}`);
}

/** 200 MiB of change: 20 files of random bytes (incompressible) or of binaries (compressible). */
function makeChange(dir: string, kind: 'random' | 'binaries'): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'data'), { recursive: true });
  if (kind === 'random') {
    for (let i = 0; i < 20; i++) execFileSync('dd', ['if=/dev/urandom', `of=${join(dir, 'data', `r${i}`)}`, 'bs=1M', 'count=10', 'status=none']);
    return;
  }
  // Binaries from /usr/lib, cut into 10 MiB files, up to 200 MiB.
  const list = execFileSync('sh', ['-c', 'find /usr/lib -type f -size +100k 2>/dev/null | head -400'], { encoding: 'utf8', maxBuffer: 1 << 24 }).split('\n').filter(Boolean);
  execFileSync('sh', ['-c', `cat ${list.map((f) => `'${f}'`).join(' ')} 2>/dev/null | head -c ${200 * 1024 * 1024} | split -b 10M - ${join(dir, 'data', 'b')}`], { maxBuffer: 1 << 24 });
}

async function benchWrite(runs: number): Promise<void> {
  const threads = cpus().length;
  for (const kind of ['random', 'binaries'] as const) {
    const dir = join(WORK, `write-${kind}`);
    makeChange(dir, kind);
    const changes = [{ path: 'data', kind: 'add' as const }, ...Array.from({ length: 20 }, (_, i) => i)
      .map((i) => ({ path: kind === 'random' ? `data/r${i}` : `data/b${String.fromCharCode(97 + Math.floor(i / 26))}${String.fromCharCode(97 + (i % 26))}`, kind: 'add' as const }))];
    const plan = planLayer(dir, changes.filter((c) => existsSync(join(dir, c.path))));
    const tarFile = join(WORK, `write-${kind}.tar`);
    await pipeline(layerTar(plan), createWriteStream(tarFile));
    const bytes = plan.contentBytes;
    const tarOnly: number[] = [];
    const ours: number[] = [];
    const pigz: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      execFileSync('sync');
      let t0 = process.hrtime.bigint();
      await pipeline(layerTar(planLayer(dir, changes.filter((c) => existsSync(join(dir, c.path))))), new Writable({ write: (_c, _e, cb) => cb() }));
      const a = ms(t0);
      const store = new DirBlobStore(join(WORK, `store-${kind}-${i}`));
      t0 = process.hrtime.bigint();
      await storeLayer(layerTar(planLayer(dir, changes.filter((c) => existsSync(join(dir, c.path))))), store, { compression: 'gzip' });
      const b = ms(t0);
      rmSync(store.root, { recursive: true, force: true });
      t0 = process.hrtime.bigint();
      const r = spawnSync('sh', ['-c', `pigz -6 -p ${threads} -c '${tarFile}' >/dev/null`]);
      if (r.status !== 0) throw new Error(`pigz failed: ${r.stderr}`);
      const c = ms(t0);
      if (i > 0) {
        tarOnly.push(a);
        ours.push(b);
        pigz.push(c);
      }
    }
    const mbps = (t: number): string => `${(bytes / 2 ** 20 / (t / 1000)).toFixed(0)} MiB/s`;
    console.log(`layer write, ${(bytes / 2 ** 20).toFixed(0)} MiB of ${kind} files (${threads} cores, load average ${load()}):`);
    console.log(`  planLayer+layerTar → /dev/null: ${fmt(tarOnly)}  ${mbps(median(tarOnly))}`);
    console.log(`  storeLayer(gzip -6, parallel):  ${fmt(ours)}  ${mbps(median(ours))}`);
    console.log(`  pigz -6 -p ${threads} of the same tar:    ${fmt(pigz)}  ${mbps(median(pigz))}`);
    console.log(`  ratio pigz/ours: ${(median(pigz) / median(ours)).toFixed(2)} (target ≥ 0.8)`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(tarFile, { force: true });
  }
}

const a = args();
mkdirSync(WORK, { recursive: true });
if (a.only !== 'write') for (const f of a.fixtures) await benchCommit(f, a.runs);
if (a.only !== 'commit') await benchWrite(Math.max(3, Math.min(a.runs, 5)));
