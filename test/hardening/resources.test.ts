// Resource limits: peak memory of the real processes stays bounded whatever the size of what they
// handle, and a full disk makes them fail cleanly with nothing half-written.
//
// Peak RSS is measured with GNU time (%M, max RSS of the process and every descendant it waited
// for, so the private-mount-namespace relay reports its worker's peak too).
// The bound is one fixed figure, PEAK_RSS_MIB (issue #8: under 250 MB in every scenario), whatever
// the input size.
// In CI: a 10k-entry directory through apply (overlay and scan), disk full (tmpfs of a few MB) for
// one layer extraction, apply's output and layer cache, the extender's <extended> and export's
// output.
// With CNBX_HEAVY=1 also: a 4 GB file in a base layer (layer made, materialized, applied on), a
// RUN that writes a 4 GB file, and a RUN that makes 100k files.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { OciLayout, validateLayout } from '../../oci/index.js';
import { applyLayerTar } from '../../snapshot/index.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { entriesOf, tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { put } from '../extender/helpers/cnb-tree.js';
import { scenario } from '../extender/helpers/scenario.js';
import { CLI, EXTENDER_CLI, hasDist, hostileImage, mountsUnder } from '../security/hostile.js';
import { expectLayerCacheConsistent, expectNoMounts, expectStepCacheConsistent, leftovers } from './crash.js';

const HEAVY = process.env.CNBX_HEAVY === '1';
/** Peak RSS bound of every run here, in MiB (issue #8's 250 MB target), independent of input size. */
const PEAK_RSS_MIB = 250;
const DIST = resolve(import.meta.dirname, '../../dist');

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak RSS in MiB. */
  peakMiB: number;
  ms: number;
}

/** Runs `node <script> argv…` under GNU time and reports its peak RSS. */
function measure(script: string, argv: string[], env: Record<string, string> = {}, timeoutMs = 600_000): Measured {
  const dir = mkdtempLike();
  const out = join(dir, 'rss');
  const t0 = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, process.execPath, script, ...argv], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  // GNU time writes "Command exited with non-zero status N" before the figure on a failure.
  const kib = Number(readFileSync(out, 'utf8').trim().split('\n').at(-1));
  expect(Number.isFinite(kib) && kib > 0, `GNU time's %M for ${script}`).toBe(true);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, peakMiB: Math.round(kib / 1024), ms: Date.now() - t0 };
}

let scratchCounter = 0;
const scratchRoots: string[] = [];
function mkdtempLike(): string {
  const d = join(process.env.CNBX_TEST_TMP ?? '/tmp', `cnbx-rss-${process.pid}-${scratchCounter++}`);
  mkdirSync(d, { recursive: true });
  scratchRoots.push(d);
  return d;
}

const mounted: string[] = [];
/** A tmpfs of `size` at a new dir (unmounted after the test). */
function smallDisk(parent: string, name: string, size: string): string {
  const d = join(parent, name);
  mkdirSync(d, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', d]);
  mounted.push(d);
  return d;
}
/** No mount at or below `dir` but the tmpfs disks this test made. */
async function expectOnlyOurMounts(dir: string): Promise<void> {
  expect((await mountsUnder(dir)).filter((m) => !mounted.includes(m)), `mounts left under ${dir}`).toEqual([]);
}
afterEach(() => {
  while (mounted.length > 0) spawnSync('umount', ['-l', mounted.pop()!]);
  for (const d of scratchRoots.splice(0)) spawnSync('rm', ['-rf', d]);
});

/** Bytes used on the filesystem of `dir`. */
function used(dir: string): number {
  const s = statfsSync(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

const apply = (base: string, dockerfile: string, out: string, cache: string, extra: string[] = []) =>
  ['apply', '-base', base, '-dockerfile', dockerfile, '-output', out, '-cache-dir', cache, ...extra];

async function topLayerEntries(layoutDir: string, tag = 'latest'): Promise<ReturnType<typeof entriesOf>> {
  const img = await (await OciLayout.open(layoutDir)).image({ tag });
  const chunks: Buffer[] = [];
  for await (const c of await img.layers.at(-1)!.openUncompressed()) chunks.push(c as Buffer);
  return entriesOf(Buffer.concat(chunks));
}

describe.runIf(isRoot && hasDist && existsSync('/usr/bin/time'))('resource limits', () => {
  it('a 10k-entry directory in the base: a RUN touching three entries commits a three-entry change, in bounded memory (overlay and scan)', async () => {
    const t = await tmpDir('cnbx-res-10k-');
    const entries: TarEntrySpec[] = [{ name: 'big/', type: 'dir' }, ...Array.from({ length: 10_000 }, (_, i) => ({ name: `big/f${i}`, content: `${i}` }))];
    await hostileImage(join(t, 'base'), [entries], { base: 'busybox' });
    const df = await put(join(t, 'Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo changed > /big/f5000 && rm /big/f1 && echo new > /big/new && ls /big | wc -l\n');
    for (const snapshotter of ['overlay', 'scan']) {
      const m = measure(CLI, apply(`${join(t, 'base')}:latest`, df, `${join(t, `out-${snapshotter}`)}:latest`, join(t, 'cache'), ['-snapshotter', snapshotter]));
      expect(m.code, m.stderr).toBe(0);
      expect(m.stderr).toMatch(/10000/);
      const names = (await topLayerEntries(join(t, `out-${snapshotter}`))).map((e) => e.name).sort();
      expect(names).toEqual(['big/', 'big/.wh.f1', 'big/f5000', 'big/new']);
      console.log(`10k-entry dir, ${snapshotter}: peak ${m.peakMiB} MiB, ${m.ms} ms`);
      expect(m.peakMiB).toBeLessThan(PEAK_RSS_MIB);
    }
    await expectLayerCacheConsistent(join(t, 'cache', 'layers'));
    expect(leftovers(join(t, 'cache', 'work'), /./)).toEqual([]);
    await expectNoMounts([t]);
  }, 240_000);

  it('disk full during one layer extraction: an IO error naming the file on the full filesystem, with ENOSPC as its cause', async () => {
    const t = await tmpDir('cnbx-res-extract-');
    const root = join(smallDisk(t, 'disk', '1m'), 'root');
    mkdirSync(root);
    const tar = tarFrom([{ name: 'd/', type: 'dir' }, { name: 'd/small', content: 'x' }, { name: 'd/big', content: randomBytes(3 << 20) }]);
    for (const format of ['merged', 'overlay'] as const) {
      const err = await applyLayerTar(Readable.from([tar]), root, { format, layerName: 'big' }).then(() => undefined, (e: unknown) => e);
      const e = err as { name?: string; code?: string; path?: string; entry?: string; cause?: { code?: string } };
      expect({ name: e?.name, code: e?.code, entry: e?.entry, cause: e?.cause?.code }, format).toEqual({ name: 'SnapshotError', code: 'IO', entry: 'd/big', cause: 'ENOSPC' });
      // An fd write reports no path of its own: the error names the file being written.
      expect(e.path, format).toBe(join(root, 'd', 'big'));
    }
  });

  it('disk full under apply: output on a 8 MB tmpfs, then the layer cache on a 16 MB tmpfs: typed failure, nothing half-written', async () => {
    const t = await tmpDir('cnbx-res-full-');
    const df = await put(join(t, 'Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN head -c 12000000 /dev/urandom > /random\n');
    // Output too big for its disk.
    const outDisk = smallDisk(t, 'outdisk', '8m');
    const before = used(outDisk);
    const a = measure(CLI, apply(`${fixture('busybox')}:latest`, df, join(outDisk, 'out'), join(t, 'cache')));
    expect(a.code, a.stderr).not.toBe(0);
    expect(a.stderr).toMatch(/ENOSPC|no space left/i);
    expect(a.stderr, 'the error names the output path').toContain(join(outDisk, 'out'));
    expect(a.stderr).not.toMatch(/internal error|TypeError/);
    expect(readdirSync(outDisk), 'nothing left on the full disk').toEqual([]);
    expect(used(outDisk)).toBe(before);
    await expectLayerCacheConsistent(join(t, 'cache', 'layers'));
    expect(leftovers(join(t, 'cache', 'work'), /./)).toEqual([]);
    await expectNoMounts([join(t, 'cache')]);
    // The layer cache on a disk too small for debian's extracted layer.
    const cacheDisk = smallDisk(t, 'cachedisk', '16m');
    const b = measure(CLI, apply(`${fixture('debian')}:latest`, df, join(t, 'out-b'), cacheDisk));
    expect(b.code, b.stderr).not.toBe(0);
    expect(b.stderr).toMatch(/ENOSPC|no space left/i);
    expect(b.stderr, 'the error names a path on the full filesystem').toContain(`${cacheDisk}/`);
    expect(b.stderr).not.toMatch(/internal error|TypeError/);
    await expectLayerCacheConsistent(join(cacheDisk, 'layers'));
    expect(leftovers(join(cacheDisk, 'layers', 'tmp'), /./), 'partial extraction left').toEqual([]);
    expect(leftovers(join(cacheDisk, 'work'), /./)).toEqual([]);
    expect(existsSync(join(t, 'out-b'))).toBe(false);
    expect(await mountsUnder(cacheDisk)).toEqual([cacheDisk]);
  }, 240_000);

  it('disk full under the extender: <extended> on a 4 MB tmpfs keeps the previous image whole; export output on a 8 MB tmpfs leaves nothing', async () => {
    const s = await scenario('0.13');
    const extended = smallDisk(s.t.root, 'extended', '4m');
    const small = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo small > /small\nARG user_id\nUSER ${user_id}\n';
    await put(join(s.t.generated, 'curl', 'run.Dockerfile'), small);
    await put(join(s.t.generated, 'tree', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nLABEL x=y\n');
    const argv = ['-kind', 'run', '-extended', extended, '-uid', '1000', '-gid', '1000'];
    const ok = measure(EXTENDER_CLI, argv, s.env);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const [first] = readdirSync(join(extended, 'run'));
    await put(join(s.t.generated, 'curl', 'run.Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN head -c 6000000 /dev/urandom > /random\nARG user_id\nUSER ${user_id}\n');
    const full = measure(EXTENDER_CLI, argv, s.env);
    expect(full.code, full.stdout).not.toBe(0);
    expect(full.stdout).toMatch(/ENOSPC|no space left/i);
    expect(full.stdout, 'the error names <extended>').toContain(extended);
    expect(readdirSync(extended), 'no temp dirs left in <extended>').toEqual(['run']);
    expect(readdirSync(join(extended, 'run'))).toEqual([first]);
    await validateLayout(join(extended, 'run', first!), { allowMissingBlobs: true });
    expect(readdirSync(s.t.kaniko)).toEqual(['cache']);
    await expectLayerCacheConsistent(join(s.t.kaniko, 'cache', 'fs'));
    expect(await expectStepCacheConsistent(join(s.t.kaniko, 'cache', 'layers')), 'step cache temp files').toEqual([]);
    await expectOnlyOurMounts(s.t.root);

    // export of an app bigger than its output disk.
    const app = join(s.t.root, 'app-big');
    mkdirSync(app);
    writeFileSync(join(app, 'blob'), randomBytes(10 << 20));
    const outDisk = smallDisk(s.t.root, 'exportdisk', '8m');
    const runDir = join(s.t.root, 'run-layout');
    execFileSync('cp', ['-a', fixture('busybox'), runDir]);
    const run = await (await OciLayout.open(runDir)).image({ tag: 'latest' });
    await put(join(s.t.layers, 'analyzed.toml'), `[run-image]\nreference = "${runDir}@${run.digest}"\nimage = "registry.example.com/run:1"\nextend = true\n`);
    const e = measure(CLI, ['export', '-layers', s.t.layers, '-extended', extended, '-app', app, '-run', join(s.t.root, 'none.toml'), '-output', join(outDisk, 'out'), 'my-app'], { CNB_PLATFORM_API: '0.13' });
    expect(e.code, e.stdout + e.stderr).not.toBe(0);
    expect(e.stdout + e.stderr).toMatch(/ENOSPC|no space left/i);
    expect(e.stdout + e.stderr, 'the error names the output disk').toContain(outDisk);
    expect(readdirSync(outDisk), 'nothing left on the full disk').toEqual([]);
    await expectOnlyOurMounts(s.t.root);
  }, 240_000);

  describe.runIf(HEAVY)('heavy (CNBX_HEAVY=1)', () => {
    it('a 4 GB file in a base layer: layer made, materialized and applied on in bounded memory', async () => {
      const t = await tmpDir('cnbx-res-4g-');
      mkdirSync(join(t, 'src'));
      execFileSync('truncate', ['-s', '4G', join(t, 'src', 'big')]);
      // busybox + one layer holding the 4 GB file (tar reads the sparse file as 4 GB of zeros).
      const script = join(t, 'make-layer.mjs');
      writeFileSync(script, `
import { spawn } from 'node:child_process';
import { appendLayers, OciLayout, storeLayer } from '${DIST}/oci/index.js';
const [base, src, out] = process.argv.slice(2);
const img = await (await OciLayout.open(base)).image({ tag: 'latest' });
const layout = await OciLayout.create(out);
const tar = spawn('tar', ['-C', src, '-cf', '-', 'big'], { stdio: ['ignore', 'pipe', 'inherit'] });
const layer = await storeLayer(tar.stdout, layout.blobs, { level: 1 });
await layout.writeImage(appendLayers(img, { layer, history: { created_by: 'big' } }), { tag: 'latest' });
`);
      const made = measure(script, [fixture('busybox'), join(t, 'src'), join(t, 'layout')]);
      expect(made.code, made.stderr).toBe(0);
      await validateLayout(join(t, 'layout'));
      const mat = join(t, 'materialize.mjs');
      writeFileSync(mat, `
import { OciLayout } from '${DIST}/oci/index.js';
import { materialize } from '${DIST}/snapshot/index.js';
const [layout, dest] = process.argv.slice(2);
await materialize(await (await OciLayout.open(layout)).image({ tag: 'latest' }), dest);
`);
      const m = measure(mat, [join(t, 'layout'), join(t, 'rootfs')]);
      expect(m.code, m.stderr).toBe(0);
      expect(statSync(join(t, 'rootfs', 'big')).size).toBe(4 * 1024 ** 3);
      spawnSync('rm', ['-rf', join(t, 'rootfs')]);
      // apply on it: the base extracted into the layer cache, a RUN that sees the file and deletes it
      // (ls, not busybox's wc -c, whose count wraps at 2^32).
      const df = await put(join(t, 'Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN ls -ln /big && rm /big\n');
      const a = measure(CLI, apply(`${join(t, 'layout')}:latest`, df, `${join(t, 'out')}:latest`, join(t, 'cache')));
      expect(a.code, a.stderr).toBe(0);
      expect(a.stderr).toMatch(/ 4294967296 .*\/big/);
      expect((await topLayerEntries(join(t, 'out'))).map((e) => e.name)).toEqual(['.wh.big']);
      console.log(`4 GB layer: made in ${made.ms} ms (peak ${made.peakMiB} MiB), materialized in ${m.ms} ms (peak ${m.peakMiB} MiB), applied on in ${a.ms} ms (peak ${a.peakMiB} MiB)`);
      expect(made.peakMiB).toBeLessThan(PEAK_RSS_MIB);
      expect(m.peakMiB).toBeLessThan(PEAK_RSS_MIB);
      expect(a.peakMiB).toBeLessThan(PEAK_RSS_MIB);
      await expectLayerCacheConsistent(join(t, 'cache', 'layers'));
    }, 1_800_000);

    it('a RUN writing a 4 GB (sparse) file: committed in bounded memory', async () => {
      const t = await tmpDir('cnbx-res-run4g-');
      const df = await put(join(t, 'Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN dd if=/dev/zero of=/big bs=1 count=0 seek=4294967296 2>/dev/null || truncate -s 4G /big\n');
      const m = measure(CLI, apply(`${fixture('busybox')}:latest`, df, `${join(t, 'out')}:latest`, join(t, 'cache')));
      expect(m.code, m.stderr).toBe(0);
      const img = await (await OciLayout.open(join(t, 'out'))).image({ tag: 'latest' });
      expect(img.layers.length).toBe(2);
      const listing = execFileSync('tar', ['-tvzf', join(t, 'out', 'blobs', 'sha256', img.layers[1]!.descriptor.digest.slice(7))], { encoding: 'utf8' });
      expect(listing).toMatch(/ 4294967296 .* big\n/);
      console.log(`RUN 4 GB: ${m.ms} ms, peak ${m.peakMiB} MiB, layer ${img.layers[1]!.descriptor.size} bytes`);
      expect(m.peakMiB).toBeLessThan(PEAK_RSS_MIB);
    }, 1_800_000);

    it('a RUN making 100k files: committed in bounded memory (overlay and scan)', async () => {
      const t = await tmpDir('cnbx-res-100k-');
      const df = await put(join(t, 'Dockerfile'), 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN mkdir /many && cd /many && seq 1 100000 | xargs touch && ls | wc -l\n');
      for (const snapshotter of ['overlay', 'scan']) {
        const m = measure(CLI, apply(`${fixture('busybox')}:latest`, df, `${join(t, `out-${snapshotter}`)}:latest`, join(t, 'cache'), ['-snapshotter', snapshotter]));
        expect(m.code, m.stderr).toBe(0);
        expect(m.stderr).toMatch(/100000/);
        const entries = await topLayerEntries(join(t, `out-${snapshotter}`));
        expect(entries.length).toBe(100_001);
        expect(entries[0]!.name).toBe('many/');
        expect(entries[1]!.name).toBe('many/1');
        expect(entries.at(-1)!.name).toBe('many/99999');
        console.log(`RUN 100k files, ${snapshotter}: ${m.ms} ms, peak ${m.peakMiB} MiB`);
        // Memory still grows with a layer's entry count (its paths, a few dozen bytes each), not
        // with what the tree holds: 100k files peaked at 440-490 MiB before the layer writer kept
        // only paths (and work dirs were removed without fs.promises.rm), ~170 MiB since.
        expect(m.peakMiB).toBeLessThan(PEAK_RSS_MIB);
      }
      await expectNoMounts([t]);
    }, 1_800_000);
  });
});
