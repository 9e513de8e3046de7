// materialize() against GNU `tar -xpzf` of the same layer blobs, on the fixture images.
//
//   npx tsc -p tsconfig.json; node dist/bench/materialize.bench.js [--runs N] [--target ext4|tmpfs|both] [fixture...]
//
// (tsc emits even when some unrelated file has type errors; dist/snapshot/native.js finds the
// addon in native/build.) Defaults: debian and debian-large (when built), 3 runs, both targets
// when root. Runs are interleaved (ours, tar, ours, tar, …), each into an empty directory under
// bench/work/, with `sync` before each timed run so one run's writeback does not land in the next;
// medians and the ratio are printed (timing noise on the 2-core VMs is large: tools/README.md).
// `tar` gets no whiteout handling (it writes the .wh. files), so it does slightly less work.
// CPU columns include children: gzip under tar, pigz under materialize (when on PATH).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { digestHex, OciLayout, type Image } from '../oci/index.js';
import { materialize } from '../snapshot/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const FIXTURES = process.env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';
const WORK = join(ROOT, 'bench', 'work', 'materialize');

function args(): { runs: number; targets: Array<'ext4' | 'tmpfs'>; fixtures: string[] } {
  const a = process.argv.slice(2);
  let runs = 3;
  let target = process.getuid?.() === 0 ? 'both' : 'ext4';
  const fixtures: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--runs') runs = Number(a[++i]);
    else if (a[i] === '--target') target = a[++i]!;
    else fixtures.push(a[i]!);
  }
  if (fixtures.length === 0) fixtures.push(...['debian', 'debian-large'].filter((f) => existsSync(join(FIXTURES, f, 'index.json'))));
  const targets = target === 'both' ? (['tmpfs', 'ext4'] as const) : ([target] as Array<'ext4' | 'tmpfs'>);
  return { runs, targets: [...targets], fixtures };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fresh(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('sync');
}

/** CPU seconds of the children this process has waited for (pigz), from /proc/self/stat (cutime + cstime). */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100; // fields 16 and 17 of proc(5), in USER_HZ (100)
}

async function timeOurs(image: Image, dir: string): Promise<{ s: number; cpu: number; rssMiB: number }> {
  fresh(dir);
  let rss = process.memoryUsage().rss;
  const sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 50);
  const cpu0 = process.cpuUsage();
  const children0 = childrenCpu();
  const t0 = process.hrtime.bigint();
  await materialize(image, dir);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  return { s, cpu: (cpu.user + cpu.system) / 1e6 + childrenCpu() - children0, rssMiB: rss / 2 ** 20 };
}

function timeTar(blobs: string[], dir: string): { s: number; cpu: number } {
  fresh(dir);
  let s = 0;
  let cpu = 0;
  for (const b of blobs) {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', 'tar', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpzf', b, '-C', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    const [e, u, sy] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    s += e!;
    cpu += u! + sy!;
  }
  return { s, cpu };
}

/** Node's gunzip of all layers, discarding the output: the floor of our pipeline. */
async function timeGunzip(image: Image): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (const l of image.layers) {
    await pipeline(await l.openUncompressed(), new Writable({ write: (_c, _e, cb) => cb() }));
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const { runs, targets, fixtures } = args();
  const lines: string[] = [];
  for (const target of targets) {
    const base = join(WORK, target);
    mkdirSync(base, { recursive: true });
    if (target === 'tmpfs') execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8g', 'tmpfs', base]);
    try {
      for (const name of fixtures) {
        const layoutDir = join(FIXTURES, name);
        const image = await (await OciLayout.open(layoutDir)).image({ tag: 'latest' });
        const blobs = image.layers.map((l) => join(layoutDir, 'blobs', 'sha256', digestHex(l.descriptor.digest)));
        const gz = await timeGunzip(image);
        const ours: Array<{ s: number; cpu: number; rssMiB: number }> = [];
        const tar: Array<{ s: number; cpu: number }> = [];
        for (let i = 0; i < runs; i++) {
          ours.push(await timeOurs(image, join(base, 'ours')));
          tar.push(timeTar(blobs, join(base, 'tar')));
          process.stderr.write(`${target} ${name} run ${i + 1}: ours ${ours.at(-1)!.s.toFixed(2)} s, tar ${tar.at(-1)!.s.toFixed(2)} s\n`);
        }
        fresh(join(base, 'ours'));
        fresh(join(base, 'tar'));
        const o = median(ours.map((r) => r.s));
        const t = median(tar.map((r) => r.s));
        const oc = median(ours.map((r) => r.cpu));
        const tc = median(tar.map((r) => r.cpu));
        const rss = Math.max(...ours.map((r) => r.rssMiB));
        lines.push(`| ${name} | ${target} | ${image.layers.length} | ${o.toFixed(2)} s | ${t.toFixed(2)} s | ${(o / t).toFixed(2)} | ${oc.toFixed(2)} s | ${tc.toFixed(2)} s | ${(oc / tc).toFixed(2)} | ${gz.toFixed(2)} s | ${rss.toFixed(0)} MiB |`);
      }
    } finally {
      if (target === 'tmpfs') execFileSync('umount', [base]);
    }
  }
  console.log(`materialize vs tar -xpzf, median of ${runs} interleaved runs (Node ${process.versions.node})\n`);
  console.log('| image | target | layers | materialize wall | tar -xpzf wall (sum over layers) | wall ratio | materialize CPU | tar+gzip CPU | CPU ratio | Node gunzip only (wall) | peak RSS (ours) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const l of lines) console.log(l);
}

await main();
