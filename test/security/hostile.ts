// Shared machinery of the hostile-input tests: a hostile layer (a tar table or raw bytes) run
// through every path that reads layers — applyLayerTar (both formats), materialize, the
// LayerCache, and a full `cnb-extender apply` (the compiled CLI) on an image carrying the layer —
// with the cache checked afterwards.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import {
  appendLayers, DirBlobStore, emptyImage, OciLayout, sha256, storedLayer, storeLayer, validateLayout, type Digest, type Image, type Layer,
} from '../../oci/index.js';
import { applyLayerTar, LayerCache, materialize, verifyCache, type ApplyFormat } from '../../snapshot/index.js';
import { fixture } from '../helpers/fixtures.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';

export const CLI = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');
export const EXTENDER_CLI = resolve(import.meta.dirname, '../../dist/src/cli/extender-bin.js');
export const hasDist = existsSync(CLI) && existsSync(EXTENDER_CLI);

/** A layer as the tests describe it: a tar table, a raw tar, or a raw blob with the diffID it claims. */
export type HostileLayer = TarEntrySpec[] | { tar: Buffer } | { blob: Buffer; diffID: Digest; mediaType?: string };

export function tarOf(l: TarEntrySpec[] | { tar: Buffer }): Buffer {
  return Array.isArray(l) ? tarFrom(l) : l.tar;
}

/** Stores a hostile layer in `store` as it is (no validation: that is what is under test). */
export async function hostileLayer(store: DirBlobStore, l: HostileLayer): Promise<Layer> {
  if (Array.isArray(l) || 'tar' in l) return storeLayer(Readable.from([tarOf(l)]), store);
  const { digest, size } = await store.put(l.blob);
  return storedLayer(store, { mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size }, l.diffID);
}

/** A gzip blob of a tar whose diffID is right (for hostile content that decompresses fine). */
export function gzLayer(tar: Buffer): { blob: Buffer; diffID: Digest } {
  return { blob: gzipSync(tar), diffID: sha256(tar) };
}

/** busybox (or nothing) + the hostile layers, written as an OCI layout at `dir` (tag latest). */
export async function hostileImage(dir: string, layers: HostileLayer[], opts: { base?: 'busybox' | null } = {}): Promise<Image> {
  const layout = await OciLayout.create(dir);
  let img: Image;
  if ((opts.base ?? 'busybox') === 'busybox') {
    const bb = await OciLayout.open(fixture('busybox'));
    img = await bb.image({ tag: 'latest' });
  } else {
    img = emptyImage({ os: 'linux', architecture: 'amd64' });
  }
  const store = new DirBlobStore(join(dir, '.scratch'));
  for (const l of layers) img = appendLayers(img, { layer: await hostileLayer(store, l), history: { created_by: 'hostile' } });
  await layout.writeImage(img, { tag: 'latest' });
  await rm(join(dir, '.scratch'), { recursive: true, force: true });
  return (await OciLayout.open(dir)).image({ tag: 'latest' });
}

export interface Outcome {
  ok: boolean;
  error?: { name: string; code?: string; message: string };
}

function outcome(p: Promise<unknown>): Promise<Outcome> {
  return p.then(
    () => ({ ok: true }),
    (e: unknown) => {
      const err = e as { name?: string; code?: string; message?: string };
      return { ok: false, error: { name: err?.name ?? typeof e, ...(err?.code ? { code: err.code } : {}), message: err?.message ?? String(e) } };
    },
  );
}

/** applyLayerTar of each layer in order into a fresh root. */
export async function applyTars(root: string, layers: Array<TarEntrySpec[] | { tar: Buffer }>, format: ApplyFormat): Promise<Outcome> {
  await mkdir(root, { recursive: true });
  return outcome(
    (async () => {
      for (const [i, l] of layers.entries()) await applyLayerTar(Readable.from([tarOf(l)]), root, { format, layerName: `layer${i}` });
    })(),
  );
}

export async function materializeOutcome(image: Image, dest: string): Promise<Outcome> {
  const o = await outcome(materialize(image, dest));
  if (!o.ok) expect(await readdir(dest).catch(() => []), 'materialize empties its destination on failure').toEqual([]);
  return o;
}

/** LayerCache: every layer dir, then the lowerdir stack and the merged rootfs; the cache must stay consistent either way. */
export async function cacheOutcome(image: Image, cacheDir: string): Promise<Outcome> {
  const cache = new LayerCache(cacheDir, { durable: false });
  const o = await outcome(
    (async () => {
      await cache.layerDirs(image);
      await cache.mergedRootfs(image);
    })(),
  );
  await expectCacheConsistent(cacheDir);
  return o;
}

/** verifyCache deep: every entry complete and unmodified, and no temp entry left behind. */
export async function expectCacheConsistent(cacheDir: string): Promise<void> {
  const report = await verifyCache(cacheDir, { deep: true, staleTempAfterMs: 60 * 60_000 });
  expect({ incomplete: report.incomplete, corrupt: report.corrupt }).toEqual({ incomplete: [], corrupt: [] });
  const temps = (await readdir(join(cacheDir, 'tmp')).catch(() => [] as string[])).filter((n) => !n.startsWith('.overlay-probe-'));
  expect(temps, `temp entries left in ${cacheDir}/tmp`).toEqual([]);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a compiled CLI (bin.js or extender-bin.js) to completion. */
export function runCli(bin: string, argv: string[], env: Record<string, string | undefined> = {}, opts: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [bin, ...argv], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr });
    });
  });
}

export const RUN_OK_DOCKERFILE = 'ARG base_image\nFROM ${base_image}\nUSER root\nRUN echo ok > /ok\n';

/** `cnb-extender apply` of a Dockerfile on the layout at `layoutDir`, with its own cache dir. */
export async function applyCli(work: string, layoutDir: string, opts: { dockerfile?: string; snapshotter?: 'auto' | 'overlay' | 'scan'; context?: Record<string, string> } = {}): Promise<CliResult & { out: string; cacheDir: string }> {
  const dfDir = join(work, 'df');
  await mkdir(dfDir, { recursive: true });
  await writeFile(join(dfDir, 'Dockerfile'), opts.dockerfile ?? RUN_OK_DOCKERFILE);
  for (const [name, content] of Object.entries(opts.context ?? {})) {
    await mkdir(join(dfDir, name, '..'), { recursive: true });
    await writeFile(join(dfDir, name), content);
  }
  const out = join(work, 'out');
  const cacheDir = join(work, 'cache');
  const r = await runCli(CLI, ['apply', '-base', `${layoutDir}:latest`, '-dockerfile', join(dfDir, 'Dockerfile'), '-output', `${out}:latest`,
    '-snapshotter', opts.snapshotter ?? 'auto', '-cache-dir', cacheDir, '-log-level', 'debug']);
  return { ...r, out, cacheDir };
}

/** After a failed apply: no output, a consistent cache, no work dir or mount left. */
export async function expectFailedApplyClean(r: { out: string; cacheDir: string }): Promise<void> {
  expect(existsSync(r.out), 'no output after a failed apply').toBe(false);
  await expectNoTempOutputs(join(r.out, '..'));
  await expectCacheConsistent(join(r.cacheDir, 'layers'));
  expect(await readdir(join(r.cacheDir, 'work')).catch(() => [] as string[]), 'apply work dirs left').toEqual([]);
  expect(await mountsUnder(r.cacheDir)).toEqual([]);
}

/** After a successful apply: a valid full layout. */
export async function expectValidOutput(out: string): Promise<void> {
  await validateLayout(out);
}

export async function expectNoTempOutputs(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  expect(names.filter((n) => /\.tmp-[0-9a-f]+$/.test(n)), `temp outputs in ${parent}`).toEqual([]);
}

/** Mount points at or below `dir` in this mount namespace. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const base = dir.replace(/\/+$/, '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === base || p.startsWith(`${base}/`));
}

export interface EveryPath {
  merged?: Outcome;
  overlay?: Outcome;
  materialize: Outcome;
  cache: Outcome;
  cli: CliResult & { out: string; cacheDir: string };
  /** Roots the layer was extracted into (to check what landed inside). */
  roots: { merged: string; overlay: string; materialize: string };
  /** The CLI's output layout. */
  out(): string;
}

/**
 * The hostile layers through every reader: applyLayerTar (both formats; tar layers only),
 * materialize, LayerCache, and `cnb-extender apply` on busybox + the layers. Every scratch dir is
 * one of `scratch`'s children.
 */
export async function everyPath(scratch: string, layers: HostileLayer[], opts: { base?: 'busybox' | null; dockerfile?: string } = {}): Promise<EveryPath> {
  const roots = { merged: join(scratch, 'merged', 'root'), overlay: join(scratch, 'overlay', 'root'), materialize: join(scratch, 'mat', 'root') };
  const tarsOnly = layers.every((l) => Array.isArray(l) || 'tar' in l) ? (layers as Array<TarEntrySpec[] | { tar: Buffer }>) : null;
  const merged = tarsOnly ? await applyTars(roots.merged, tarsOnly, 'merged') : undefined;
  const overlay = tarsOnly ? await applyTars(roots.overlay, tarsOnly, 'overlay') : undefined;
  // The library paths see the hostile layers alone; the CLI sees them on busybox (RUN needs a shell).
  const image = await hostileImage(join(scratch, 'layout'), layers, { base: opts.base ?? null });
  const mat = await materializeOutcome(image, roots.materialize);
  const cache = await cacheOutcome(image, join(scratch, 'cache'));
  let cliLayout = join(scratch, 'layout');
  if ((opts.base ?? null) === null) {
    cliLayout = join(scratch, 'layout-bb');
    await hostileImage(cliLayout, layers, { base: 'busybox' });
  }
  const cli = await applyCli(join(scratch, 'cli'), cliLayout, opts.dockerfile ? { dockerfile: opts.dockerfile } : {});
  return { ...(merged ? { merged } : {}), ...(overlay ? { overlay } : {}), materialize: mat, cache, cli, roots, out: () => cli.out };
}

/** Every path refused the layer with a typed SnapshotError of `code` (the CLI: exit 6 naming the code's text). */
export async function expectRefusedEverywhere(r: EveryPath, code: string, text?: RegExp): Promise<void> {
  for (const [where, o] of [['merged', r.merged], ['overlay', r.overlay], ['materialize', r.materialize], ['cache', r.cache]] as const) {
    if (o === undefined) continue;
    expect({ where, ok: o.ok, name: o.error?.name, code: o.error?.code }).toEqual({ where, ok: false, name: 'SnapshotError', code });
    if (text) expect(o.error!.message, where).toMatch(text);
  }
  expect(r.cli.stderr + r.cli.stdout).toMatch(/ERROR/);
  expect({ code: r.cli.code, signal: r.cli.signal }).toEqual({ code: 6, signal: null });
  if (text) expect(r.cli.stderr).toMatch(text);
  await expectFailedApplyClean(r.cli);
}

/**
 * Every path either refused the layers with a typed SnapshotError (UNSAFE_PATH or BAD_LAYER) or
 * accepted them (what lands is inside: the caller checks with its OutsideWatch). A failed CLI run
 * leaves nothing behind; a successful one writes a valid layout.
 */
export async function expectContained(r: EveryPath): Promise<void> {
  for (const [where, o] of [['merged', r.merged], ['overlay', r.overlay], ['materialize', r.materialize], ['cache', r.cache]] as const) {
    if (o === undefined || o.ok) continue;
    expect({ where, name: o.error?.name, typed: ['UNSAFE_PATH', 'BAD_LAYER'].includes(o.error?.code ?? '') }).toEqual({ where, name: 'SnapshotError', typed: true });
  }
  expect(r.cli.signal).toBe(null);
  if (r.cli.code === 0) {
    await validateLayout(r.out());
  } else {
    expect(r.cli.code, r.cli.stderr).toBe(6);
    await expectFailedApplyClean(r.cli);
  }
}
