// Running steps through the snapshotters on real base images, for the hard-case and round-trip
// tests: a step is a function that changes the workspace root (fs calls and/or shell commands in
// a chroot on the busybox fixture); its layer is read back as tar entries.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { appendLayers, DirBlobStore, MediaType, OciLayout, type BlobStore, type Image, type Layer } from '../../oci/index.js';
import { applyLayerTar } from '../../snapshot/apply.js';
import { chooseSnapshotter, type LayerDirs, type SnapshotterName, type Workspace } from '../../snapshot/snapshotter.js';
import { defaultIgnore, type IgnorePredicate } from '../../snapshot/ignore.js';
import type { Logger } from '../../snapshot/snapshotter-log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entriesOf, type TarEntry } from '../helpers/tar.js';
import { fixture, isRoot, type FixtureName } from '../helpers/fixtures.js';

export const SNAPSHOTTERS: readonly SnapshotterName[] = ['overlay', 'scan'];

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

/**
 * Layer directories for the snapshotters, extracted with our applier: overlay format per layer
 * (keyed by diffID), merged format per image. Stands in for snapshot/cache.ts's LayerCache.
 */
export function testLayerDirs(dir: string): LayerDirs {
  const layerDirs = new Map<string, Promise<string>>();
  const merged = new Map<string, Promise<string>>();
  return {
    layerDir(layer: Layer): Promise<string> {
      let p = layerDirs.get(layer.diffID);
      if (p === undefined) {
        p = (async () => {
          const d = join(dir, 'layers', layer.diffID.slice(7));
          mkdirSync(d, { recursive: true });
          await applyLayerTar(await layer.openUncompressed(), d, { format: 'overlay', layerName: layer.diffID });
          return d;
        })();
        layerDirs.set(layer.diffID, p);
      }
      return p;
    },
    mergedRootfs(image: Image): Promise<string> {
      const key = image.layers.map((l) => l.diffID.slice(7, 19)).join('-') || 'scratch';
      let p = merged.get(key);
      if (p === undefined) {
        p = (async () => {
          const d = join(dir, 'merged', key);
          mkdirSync(d, { recursive: true });
          for (const l of image.layers) await applyLayerTar(await l.openUncompressed(), d, { format: 'merged', layerName: l.diffID });
          return d;
        })();
        merged.set(key, p);
      }
      return p;
    },
  };
}

export interface Env {
  dir: string;
  cache: LayerDirs;
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
    cache: testLayerDirs(join(dir, 'cache')),
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

export async function commit(env: Env, ws: Workspace, opts: { ignore?: IgnorePredicate; sourceDateEpoch?: number } = {}): Promise<StepOutcome> {
  const r = await ws.commitStep({
    store: env.store, compression: 'gzip', mediaType: MediaType.OciLayerGzip,
    ignore: opts.ignore ?? defaultIgnore(), log: env.log,
    ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
  });
  if (r === null) return { layer: null, entries: [], count: 0 };
  return { layer: r.layer, entries: entriesOf(await buffer(await r.layer.openUncompressed())), count: r.entries };
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

/** Extracts layers on a copy of the base with our applier ('merged'), into `dest`. */
export async function materializeInto(image: Image, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  for (const l of image.layers) await applyLayerTar(await l.openUncompressed(), dest, { format: 'merged', layerName: l.diffID });
}

export interface HardCase {
  /** layers.md §6 number and a short title. */
  id: number;
  title: string;
  /** Steps whose layers become the base image of the case (made with the scan snapshotter). */
  setup?: readonly Step[];
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
      o = await commit(env, ws, { ...opts, ...(c.sourceDateEpoch !== undefined ? { sourceDateEpoch: c.sourceDateEpoch } : {}) });
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
        const base = await baseWith(env, await loadFixture(c.fixture ?? 'busybox'), c.setup ?? []);
        for (const name of SNAPSHOTTERS) {
          const o = await runCase(env, c, name, base);
          const want = expectedFor(c, name);
          if (want !== undefined && o !== null) expect(o.entries.map(brief), `${name} snapshotter`).toEqual(want);
        }
      });
    }
  });
}
