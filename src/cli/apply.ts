import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DirBlobStore, OciLayout, parseLayoutRef, type BlobStore, type Image } from '../../oci/index.js';
import { chooseSnapshotter, LayerCache, type SnapshotterName } from '../../snapshot/index.js';
import { buildImage, loadExtensionDockerfile, type BuildResult, type BuildStepReport } from '../build/index.js';
import { ChrootExecutor } from '../executor/index.js';
import type { Logger } from '../log.js';
import { BuildProgress, extractBase, trackTemps, writeTask } from './build-progress.js';
import type { Env } from './io.js';
import type { Progress } from './progress.js';

/** Where `apply` keeps extracted base layers between runs unless told otherwise. */
export function defaultCacheDir(env: Env): string {
  return env.CNBX_CACHE_DIR ?? '/var/tmp/cnb-extender-cache';
}

export interface ApplyRequest {
  base: string;
  dockerfile: string;
  context?: string;
  buildArgs: Array<[string, string]>;
  output: string;
  sparse: boolean;
  snapshotter: 'auto' | SnapshotterName;
  kind: 'build' | 'run';
  cacheDir: string;
  sourceDateEpoch?: number;
}

export interface ApplyOutcome {
  result: BuildResult;
  base: Image;
  outputDir: string;
  tag: string | undefined;
  warnings: string[];
  snapshotter: SnapshotterName;
}

/** Writing the output layout failed; names the layout (the cause, e.g. ENOSPC, often cannot). */
export class ApplyOutputError extends Error {
  readonly code = 'OUTPUT';
  constructor(readonly path: string, cause: unknown) {
    super(`writing the output layout ${path}`, { cause });
    this.name = 'ApplyOutputError';
  }
}

/**
 * The `apply` job as a library function: validate the Dockerfile, build on the base layout, write
 * the output layout. Nothing is written to the output unless the whole build succeeded; a new
 * output directory appears atomically (built under a temporary name, then renamed).
 */
export interface ApplyIO {
  onOutput?: (line: string) => void;
  onStep?: (r: BuildStepReport) => void;
  /** Tasks for base-layer extraction, each step (with its RUN output) and the output write. */
  progress?: Progress;
  signal?: AbortSignal;
}

export async function runApply(req: ApplyRequest, log: Logger, io: ApplyIO = {}): Promise<ApplyOutcome> {
  const dockerfilePath = resolve(req.dockerfile);
  const text = await readFile(dockerfilePath, 'utf8');
  const loaded = loadExtensionDockerfile(text, req.dockerfile, req.kind);
  for (const w of loaded.warnings) log.warn(w);

  const baseRef = parseLayoutRef(req.base);
  const baseLayout = await OciLayout.open(baseRef.dir);
  const base = await baseLayout.image({ ...(baseRef.digest ? { digest: baseRef.digest } : {}), ...(baseRef.tag ? { tag: baseRef.tag } : {}) });

  const cache = new LayerCache(join(req.cacheDir, 'layers'));
  const snapshotter = await chooseSnapshotter(req.snapshotter, cache, log, join(req.cacheDir, 'probe'));
  await mkdir(join(req.cacheDir, 'work'), { recursive: true });
  const workDir = join(req.cacheDir, 'work', `apply-${randomBytes(6).toString('hex')}`);
  await mkdir(workDir);
  const p = io.progress;
  const steps = p ? new BuildProgress(p, { ...(io.onStep ? { onStep: io.onStep } : {}) }) : undefined;
  try {
    if (p) await extractBase(cache, snapshotter.name, base, p, io.signal ? { signal: io.signal } : {});
    const tracked = trackTemps(new DirBlobStore(join(workDir, 'blobs')));
    const store = tracked.store;
    steps?.watchBytes(tracked.bytesInFlight);
    const result = await buildImage(base, loaded.dockerfile, {
      snapshotter,
      workDir: join(workDir, 'ws'),
      executor: new ChrootExecutor({ log }),
      store,
      contextDir: resolve(req.context ?? dirname(dockerfilePath)),
      dockerfilePath,
      buildArgs: req.buildArgs,
      log,
      ...(req.sourceDateEpoch !== undefined ? { sourceDateEpoch: req.sourceDateEpoch } : {}),
      ...(steps
        ? { onStepStart: steps.onStepStart, onStepCommit: steps.onStepCommit, onOutput: steps.onOutput, onStep: steps.onStep }
        : { ...(io.onOutput ? { onOutput: (line: string) => io.onOutput!(line) } : {}), ...(io.onStep ? { onStep: io.onStep } : {}) }),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    const outRef = parseLayoutRef(req.output);
    const baseCount = base.layers.length;
    const layers = req.sparse ? (_l: unknown, i: number) => i >= baseCount : 'all';
    const ownBlob = (i: number) => (i < baseCount ? null : store.path(result.image.layers[i]!.descriptor.digest));
    const write = p ? writeTask(p, outRef.dir, result.image, layers) : undefined;
    try {
      await writeOutputLayout(outRef.dir, result.image, { ...(outRef.tag ? { tag: outRef.tag } : {}), layers, ownBlob, baseBlobs: baseLayout.blobs });
    } catch (e) {
      write?.fail();
      throw new ApplyOutputError(outRef.dir, e);
    }
    write?.done();
    return { result, base, outputDir: outRef.dir, tag: outRef.tag, warnings: loaded.warnings, snapshotter: snapshotter.name };
  } catch (e) {
    steps?.fail();
    throw e;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Writes an image to a layout. A new layout is built beside the target and renamed into place; an
 * existing one gets its blobs first and its index.json last (atomically), so a failure leaves it
 * as it was apart from unreferenced blobs. Base layer blobs are hard-linked from the base layout
 * (cloned or copied across filesystems, see WriteImageOptions.linkFrom): copying them made the
 * output write O(base size), most of a warm trivial apply. Sharing the inode is safe because we
 * never write a blob in place: every blob writer of ours writes a temp file and renames it, so a
 * later write under either name makes a new inode and leaves the other's bytes alone. (Someone
 * editing a base blob in place by hand would change both; every read verifies the digest, so
 * that shows as DIGEST_MISMATCH, as it would in the base layout itself.)
 */
async function writeOutputLayout(dir: string, image: Image, opts: { tag?: string; layers: 'all' | ((l: unknown, i: number) => boolean); ownBlob: OwnBlobPath; baseBlobs: BlobStore }): Promise<void> {
  const write = { ...(opts.tag !== undefined ? { tag: opts.tag } : {}), layers: opts.layers, linkFrom: [opts.baseBlobs] };
  if (existsSync(dir)) {
    const layout = await OciLayout.open(dir);
    await moveNewLayerBlobs(layout, image, opts.layers, opts.ownBlob);
    await layout.writeImage(image, write);
    return;
  }
  await mkdir(dirname(resolve(dir)), { recursive: true });
  const tmp = `${resolve(dir)}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    const layout = await OciLayout.create(tmp);
    await moveNewLayerBlobs(layout, image, opts.layers, opts.ownBlob);
    await layout.writeImage(image, write);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Moves the blobs of the layers this build made from the build's own store into the output layout
 * (a rename when both are on one filesystem): they were written, digest-checked and synced moments
 * ago, and the store is deleted with the work dir anyway. Letting writeImage copy them instead
 * reads, hashes and writes every byte again: seconds for a 200 MB layer. Whatever cannot be
 * renamed (another filesystem) is left to writeImage, which copies and verifies it as before.
 * Base layers are left to writeImage, which links them from the base layout.
 */
async function moveNewLayerBlobs(layout: OciLayout, image: Image, layers: 'all' | ((l: unknown, i: number) => boolean), ownBlob: OwnBlobPath): Promise<void> {
  let moved = 0;
  for (const [i, l] of image.layers.entries()) {
    if (layers !== 'all' && !layers(l, i)) continue;
    const src = ownBlob(i);
    if (src === null) continue;
    const target = layout.blobs.path(l.descriptor.digest);
    if (existsSync(target)) continue;
    try {
      if ((await stat(src)).size !== l.descriptor.size) continue;
      await rename(src, target); // atomic: the name appears complete or not at all
      moved++;
    } catch {
      // Another filesystem (EXDEV) or gone: writeImage copies it.
    }
  }
  if (moved > 0) {
    // The new names must survive a crash as surely as the blobs writeImage writes.
    const fh = await open(dirname(layout.blobs.path(image.layers[0]!.descriptor.digest)), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** The path of layer i's blob in this build's own store, or null for a base layer. */
type OwnBlobPath = (i: number) => string | null;
