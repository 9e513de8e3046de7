// Running steps through the snapshotters on real base images, for the hard-case and round-trip
// tests: a step is a function that changes the workspace root (fs calls and/or shell commands in
// a chroot on the busybox fixture); its layer is read back as tar entries.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { appendLayers, DirBlobStore, MediaType, OciLayout, storeLayer, type BlobStore, type Image, type Layer } from '../../oci/index.js';
import { materialize } from '../../snapshot/materialize.js';
import { chooseSnapshotter, type SnapshotterName, type Workspace } from '../../snapshot/snapshotter.js';
import { LayerCache } from '../../snapshot/cache.js';
import { defaultIgnore, type IgnorePredicate } from '../../snapshot/ignore.js';
import type { Logger } from '../../snapshot/snapshotter-log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { displayName, tarFrom, type TarEntry, type TarEntrySpec } from '../helpers/tar.js';
import { fixture, isRoot, type FixtureName } from '../helpers/fixtures.js';

export const SNAPSHOTTERS: readonly SnapshotterName[] = ['overlay', 'scan'];

/** The fixtures' SOURCE_DATE_EPOCH; steps clamp to it so both snapshotters give the same bytes. */
export const DEFAULT_SDE = 1_700_000_000;

export type Step = (root: string) => void | Promise<void>;

/** A shell command run in a chroot of the workspace root (busybox sh on the fixtures). */
export function sh(cmd: string): Step {
  return (root) => {
    execFileSync('chroot', [root, '/bin/sh', '-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  };
}

export async function loadFixture(name: FixtureName): Promise<Image> {
  return (await OciLayout.open(fixture(name))).image();
}

export interface Env {
  dir: string;
  cache: LayerCache;
  store: BlobStore;
  log: Logger & { warnings: string[] };
  cleanup(): void;
}

/** Scratch space for one test file: a layer cache, a blob store and a logger. */
export function makeEnv(): Env {
  const base = process.env.CNBX_TEST_TMP ?? '/var/tmp';
  const dir = mkdtempSync(join(base, 'cnbx-snap-'));
  const warnings: string[] = [];
  const log = { warnings, debug() {}, info() {}, warn: (m: string) => { warnings.push(m); }, error: (m: string) => { warnings.push(m); } };
  return {
    dir,
    cache: new LayerCache(join(dir, 'cache'), { durable: false }),
    store: new DirBlobStore(join(dir, 'store')),
    log,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

let workCounter = 0;

export async function openWorkspace(env: Env, name: SnapshotterName, image: Image): Promise<Workspace> {
  const s = await chooseSnapshotter(name, env.cache, env.log);
  return s.open(image, { workDir: join(env.dir, `work-${name}-${workCounter++}`) });
}

export interface StepOutcome {
  layer: Layer | null;
  entries: TarEntry[];
  count: number;
}

export async function commit(env: Env, ws: Workspace, opts: { ignore?: IgnorePredicate; sourceDateEpoch?: number; compression?: 'gzip' | 'none'; readEntries?: boolean } = {}): Promise<StepOutcome> {
  const compression = opts.compression ?? 'gzip';
  const r = await ws.commitStep({
    store: env.store, compression, mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer,
    ignore: opts.ignore ?? defaultIgnore(), log: env.log,
    ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
  });
  if (r === null) return { layer: null, entries: [], count: 0 };
  if (opts.readEntries === false) return { layer: r.layer, entries: [], count: r.entries };
  return { layer: r.layer, entries: await entriesOfStream(await r.layer.openUncompressed()), count: r.entries };
}

/** Runs steps in one workspace, one layer per step. */
export async function runSteps(env: Env, ws: Workspace, steps: readonly Step[], opts: { ignore?: IgnorePredicate } = {}): Promise<StepOutcome[]> {
  const out: StepOutcome[] = [];
  for (const step of steps) {
    await ws.beginStep();
    await step(ws.root);
    out.push(await commit(env, ws, opts));
  }
  return out;
}

/** The base image with the layers of `setup` steps appended (made with the scan snapshotter). */
export async function baseWith(env: Env, image: Image, setup: readonly Step[]): Promise<Image> {
  if (setup.length === 0) return image;
  const ws = await openWorkspace(env, 'scan', image);
  try {
    const layers = await runSteps(env, ws, setup);
    return appendLayers(image, ...layers.filter((l) => l.layer !== null).map((l) => ({ layer: l.layer! })));
  } finally {
    await ws.close();
  }
}

/** A compact, comparable form of an entry: name, then what matters for the case. */
export function brief(e: TarEntry): string {
  const parts = [e.name];
  if (e.type === 'link') parts.push(`=> ${e.linkname}`);
  else if (e.type === 'symlink') parts.push(`-> ${e.linkname}`);
  else if (e.type !== 'file' && e.type !== 'dir') parts.push(e.type);
  return parts.join(' ');
}

/** All layers of `image` applied with our applier ('merged') into an empty `dest`. */
export async function materializeInto(image: Image, dest: string): Promise<void> {
  await materialize(image, dest);
}

export interface HardCase {
  /** layers.md §6 number (or `§3-<n>` for a bug of §3) and a short title. */
  id: number | string;
  title: string;
  /** Steps whose layers become the base image of the case (made with the scan snapshotter). */
  setup?: readonly Step[];
  /** A base layer given as tar entries (for what a step cannot make, e.g. engine-ignored paths). */
  setupTar?: readonly TarEntrySpec[];
  compression?: 'gzip' | 'none';
  /** Leave `entries` empty (the check reads the layer itself: for huge layers). */
  readEntries?: boolean;
  /** Test timeout (ms) when the default is too short. */
  timeout?: number;
  /** Earlier steps in the same workspace (their layers are checked by `earlier` when given). */
  before?: readonly Step[];
  earlier?: (outcomes: StepOutcome[], name: SnapshotterName) => void;
  step: Step;
  /** Expected entries (see `brief`), the same for both snapshotters unless given per snapshotter. */
  expect?: readonly string[] | Partial<Record<SnapshotterName, readonly string[]>>;
  /** Further checks of the step's layer and the workspace after it. */
  check?: (o: StepOutcome, ctx: { root: string; name: SnapshotterName; env: Env; base: Image }) => void | Promise<void>;
  /** The commit must fail with this check instead. */
  fails?: (e: unknown) => void;
  ignore?: IgnorePredicate;
  /** Default DEFAULT_SDE: mtimes newer than the fixtures' are clamped, so layers are comparable. */
  sourceDateEpoch?: number;
  fixture?: FixtureName;
}

/** Runs one hard case through one snapshotter. */
export async function runCase(env: Env, c: HardCase, name: SnapshotterName, base: Image): Promise<StepOutcome | null> {
  const ws = await openWorkspace(env, name, base);
  try {
    const opts = { ...(c.ignore ? { ignore: c.ignore } : {}) };
    const earlier = await runSteps(env, ws, c.before ?? [], opts);
    c.earlier?.(earlier, name);
    await ws.beginStep();
    await c.step(ws.root);
    let o: StepOutcome;
    try {
      o = await commit(env, ws, {
        ...opts, sourceDateEpoch: c.sourceDateEpoch ?? DEFAULT_SDE, ...(c.compression ? { compression: c.compression } : {}),
        ...(c.readEntries === false ? { readEntries: false } : {}),
      });
    } catch (e) {
      if (c.fails) {
        c.fails(e);
        return null;
      }
      throw e;
    }
    if (c.fails) throw new Error(`case ${c.id}: commit was expected to fail`);
    await c.check?.(o, { root: ws.root, name, env, base });
    return o;
  } finally {
    await ws.close();
  }
}

export function expectedFor(c: HardCase, name: SnapshotterName): readonly string[] | undefined {
  if (c.expect === undefined) return undefined;
  if (Array.isArray(c.expect)) return c.expect as readonly string[];
  return (c.expect as Partial<Record<SnapshotterName, readonly string[]>>)[name];
}

/**
 * Registers one test per case; each runs the case through both snapshotters on the same base
 * and compares the layer entries with the expectation.
 */
export function hardCaseSuite(title: string, cases: readonly HardCase[]): void {
  describe.skipIf(!isRoot)(title, () => {
    let env: Env;
    beforeAll(() => {
      env = makeEnv();
    });
    afterAll(() => env.cleanup());
    for (const c of cases) {
      it(`#${c.id} ${c.title}`, async () => {
        let base = await loadFixture(c.fixture ?? 'busybox');
        if (c.setupTar) base = appendLayers(base, { layer: await storeLayer(Readable.from([tarFrom(c.setupTar)]), env.store) });
        base = await baseWith(env, base, c.setup ?? []);
        const diffIDs: string[] = [];
        for (const name of SNAPSHOTTERS) {
          const o = await runCase(env, c, name, base);
          const want = expectedFor(c, name);
          if (want !== undefined && o !== null) expect(o.entries.map(brief), `${name} snapshotter`).toEqual(want);
          if (o?.layer) diffIDs.push(o.layer.diffID);
        }
        // Same expectation → the same bytes: mtimes are clamped to SOURCE_DATE_EPOCH, so the two
        // snapshotters' layers must be identical, not just list the same names.
        if (Array.isArray(c.expect) && diffIDs.length === 2) expect(diffIDs[0], 'overlay and scan layers are byte-identical').toBe(diffIDs[1]);
      }, c.timeout);
    }
  });
}

const TYPES: Record<string, TarEntry['type']> = { '0': 'file', '\0': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

function cstr(b: Buffer): Buffer {
  const z = b.indexOf(0);
  return z === -1 ? b : b.subarray(0, z);
}

function octal(b: Buffer): number {
  if ((b[0]! & 0x80) !== 0) {
    let v = 0;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cstr(b).toString('latin1').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/**
 * The entries of a tar read as a stream (content hashed, never held), in the shape of
 * test/helpers/tar.ts entriesOf: for layers too big to buffer (hard case 39).
 */
export async function entriesOfStream(src: Readable): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  let pending = Buffer.alloc(0);
  let pax = new Map<string, Buffer>();
  // The body being consumed: remaining bytes, padding, where the bytes go, what to do at its end.
  const cur: { left: number; pad: number; sink: ((b: Buffer) => void) | null; finish: (() => void) | null; done: boolean } = {
    left: 0, pad: 0, sink: null, finish: null, done: false,
  };
  const onHeader = (h: Buffer): void => {
    if (h.every((b) => b === 0)) { cur.done = true; return; }
    const flag = String.fromCharCode(h[156]!);
    const size0 = octal(h.subarray(124, 136));
    if (flag === 'x') {
      const parts: Buffer[] = [];
      cur.left = size0; cur.pad = (512 - (size0 % 512)) % 512;
      cur.sink = (b) => parts.push(b);
      cur.finish = () => {
        const body = Buffer.concat(parts);
        pax = new Map();
        let off = 0;
        while (off < body.length) {
          const sp = body.indexOf(0x20, off);
          const len = parseInt(body.subarray(off, sp).toString('latin1'), 10);
          const rec = body.subarray(sp + 1, off + len - 1);
          const eq = rec.indexOf(0x3d);
          pax.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
          off += len;
        }
      };
      return;
    }
    const prefix = cstr(h.subarray(345, 500));
    let nameBytes: Buffer = Buffer.concat(prefix.length > 0 ? [prefix, Buffer.from('/'), cstr(h.subarray(0, 100))] : [cstr(h.subarray(0, 100))]);
    nameBytes = pax.get('path') ?? nameBytes;
    const size = pax.has('size') ? Number(pax.get('size')!.toString()) : size0;
    let type = TYPES[flag] ?? (`unknown:${flag}` as TarEntry['type']);
    if (type === 'file' && nameBytes[nameBytes.length - 1] === 0x2f) type = 'dir';
    const e: TarEntry = {
      name: displayName(nameBytes), nameBytes, type,
      mode: octal(h.subarray(100, 108)) & 0o7777,
      uid: pax.has('uid') ? Number(pax.get('uid')!.toString()) : octal(h.subarray(108, 116)),
      gid: pax.has('gid') ? Number(pax.get('gid')!.toString()) : octal(h.subarray(116, 124)),
      size,
      mtime: pax.has('mtime') ? Number(pax.get('mtime')!.toString()) : octal(h.subarray(136, 148)),
      uname: cstr(h.subarray(265, 297)).toString('utf8'),
      gname: cstr(h.subarray(297, 329)).toString('utf8'),
      pax: Object.fromEntries([...pax].map(([k, v]) => [k, v.toString('latin1')])),
    };
    if (type === 'link' || type === 'symlink') e.linkname = displayName(pax.get('linkpath') ?? cstr(h.subarray(157, 257)));
    if (type === 'char' || type === 'block') { e.devmajor = octal(h.subarray(329, 337)); e.devminor = octal(h.subarray(337, 345)); }
    pax = new Map();
    out.push(e);
    if (type === 'file') {
      const hash = createHash('sha256');
      cur.left = size; cur.pad = (512 - (size % 512)) % 512;
      cur.sink = (b) => hash.update(b);
      cur.finish = () => { e.sha256 = hash.digest('hex'); };
    }
  };
  const end = (): void => {
    const f = cur.finish;
    cur.finish = null;
    cur.sink = null;
    f?.();
  };
  for await (const chunk of src as AsyncIterable<Buffer>) {
    let c: Buffer = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    while (c.length > 0 && !cur.done) {
      if (cur.left > 0) {
        const n = Math.min(cur.left, c.length);
        cur.sink!(c.subarray(0, n));
        cur.left -= n;
        c = c.subarray(n);
        if (cur.left === 0) end();
        continue;
      }
      if (cur.pad > 0) {
        const n = Math.min(cur.pad, c.length);
        cur.pad -= n;
        c = c.subarray(n);
        continue;
      }
      if (c.length < 512) { pending = Buffer.from(c); break; }
      onHeader(c.subarray(0, 512));
      c = c.subarray(512);
      if (cur.left === 0) end();
    }
  }
  return out;
}
