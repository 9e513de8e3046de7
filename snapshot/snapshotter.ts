// The Snapshotter/Workspace seam of docs/design/contracts.md and the choice between the two
// implementations (overlay where mounts work, scan elsewhere).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore, Image, Layer } from '../oci/index.js';
import type { IgnorePredicate } from './ignore.js';
import { probeOverlay } from './overlay-mount.js';
import { OverlaySnapshotter } from './overlay.js';
import { ScanSnapshotter } from './scan.js';
import type { Logger } from './snapshotter-log.js';

export type SnapshotterName = 'overlay' | 'scan';

/** What the snapshotters need of the layer cache (snapshot/cache.ts LayerCache has this shape). */
export interface LayerDirs {
  /** The cache's directory (the default place to probe overlay mounts). */
  readonly dir?: string;
  /** One layer extracted in overlay format (read-only once complete). */
  layerDir(layer: Layer, opts?: { signal?: AbortSignal }): Promise<string>;
  /** The overlay lowerdirs of an image, base first (layer dirs plus the cache's fixup dirs). */
  layerDirs(image: Image, opts?: { signal?: AbortSignal }): Promise<string[]>;
  /** The read-only merged rootfs of all the image's layers. */
  mergedRootfs(image: Image, opts?: { signal?: AbortSignal }): Promise<string>;
}

export interface CommitOptions {
  store: BlobStore;
  compression: 'gzip' | 'none';
  mediaType: string;
  /** Paths (relative, UTF-8 display form) to leave out; the engine's own paths always are. */
  ignore: IgnorePredicate;
  /** Clamp mtimes to this (seconds since the epoch). */
  sourceDateEpoch?: number;
  log?: Logger;
  signal?: AbortSignal;
}

export interface CommitResult {
  layer: Layer;
  /** Tar entries in the layer (parents and whiteouts included). */
  entries: number;
}

export interface Snapshotter {
  readonly name: SnapshotterName;
  /** Prepare a writable root for a build on `image`; layers appended later stack on top. */
  open(image: Image, opts: { workDir: string; signal?: AbortSignal }): Promise<Workspace>;
}

export interface Workspace {
  /** The directory that is the image's root filesystem right now (merged view); RUN chroots here, COPY writes here. */
  readonly root: string;
  /**
   * Start tracking one step's changes. Write to `root` only between beginStep and commitStep:
   * what is written outside a step is not in any layer with scan, and lands in the next step's
   * layer with overlay.
   */
  beginStep(): Promise<void>;
  /** Finish the step: the changes since beginStep as a layer tar written into `store`, or null if nothing changed. */
  commitStep(opts: CommitOptions): Promise<CommitResult | null>;
  /** Put a cached layer on top without running the step (cache hit). */
  applyLayer(layer: Layer): Promise<void>;
  /** Unmounts, removes the work dir. */
  close(): Promise<void>;
}

/** One probe per directory per process: whether overlay mounts work is a fact of the machine. */
const probes = new Map<string, Promise<{ ok: true } | { ok: false; reason: string }>>();

/**
 * The snapshotter to use. 'auto' probes once (per probe directory and process) whether an overlay
 * mount works, and falls back to scan when it does not. `probeDir` should be on the filesystem
 * the work dirs will be on (default: the cache's directory, else the system temp dir).
 */
export async function chooseSnapshotter(pref: 'auto' | SnapshotterName, cache: LayerDirs, log?: Logger, probeDir?: string): Promise<Snapshotter> {
  if (pref === 'overlay') return new OverlaySnapshotter(cache, log);
  if (pref === 'scan') return new ScanSnapshotter(cache, log);
  const dir = probeDir ?? (cache.dir !== undefined ? join(cache.dir, 'tmp') : join(tmpdir(), 'cnbx-probe'));
  let probe = probes.get(dir);
  if (probe === undefined) {
    probe = probeOverlay(dir);
    probes.set(dir, probe);
  }
  const r = await probe;
  if (r.ok) {
    log?.debug('snapshotter: overlay (overlay mounts work here)');
    return new OverlaySnapshotter(cache, log);
  }
  log?.info(`snapshotter: scan (overlay mounts do not work here: ${r.reason})`);
  return new ScanSnapshotter(cache, log);
}
