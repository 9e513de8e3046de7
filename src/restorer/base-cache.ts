import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout, Reference, type Digest, type Platform, type PullOptions, type PullProgress, type PullResult, type RemoteImage } from '../../oci/index.js';
import type { Logger } from '../log.js';
import { RestoreError } from './errors.js';

// `<kaniko-dir>/cache/base/sha256:<hex>` (contract.md §4.2): one full OCI layout per base image,
// named by its manifest digest, holding the manifest and config as the registry serves them and
// every layer blob (our extender builds the filesystem from the layers, unlike kaniko which runs
// inside the image). The extender finds it through the digest the restorer records in analyzed.toml.

/** What the restorer needs of a registry client (Registry fits; tests may wrap one). */
export interface RestoreRegistry {
  image(ref: Reference | string, opts?: { signal?: AbortSignal | undefined; platform?: Platform }): Promise<RemoteImage>;
  pull(ref: Reference | string, dir: string, opts?: PullOptions): Promise<PullResult>;
  checkReadAccess(ref: Reference | string, opts?: { signal?: AbortSignal | undefined }): Promise<boolean>;
}

export interface BaseCacheEntry {
  /** `<kaniko-dir>/cache/base/sha256:<hex>`. */
  dir: string;
  /** The manifest digest (for an index: the manifest chosen for the platform). */
  digest: Digest;
  /** `<name>@sha256:<hex>`, what analyzed.toml records (Docker Hub spelled `index.docker.io`, as the lifecycle does). */
  reference: string;
  image: RemoteImage;
  /** True when a complete entry was already there and nothing was downloaded. */
  reused: boolean;
}

export function baseCacheDir(kanikoDir: string): string {
  return join(kanikoDir, 'cache', 'base');
}

/**
 * `name@digest` the way the lifecycle writes it (ggcr `Repository.Digest(...).String()`): the
 * repository with registry, without the tag, Docker Hub as `index.docker.io`.
 */
export function digestReference(ref: Reference, digest: Digest): string {
  const registry = ref.registry === 'docker.io' ? 'index.docker.io' : ref.registry;
  return `${registry}/${ref.repository}@${digest}`;
}

/**
 * Whether `dir` already holds `image` completely: a layout whose index.json lists the manifest,
 * with manifest, config and every layer blob present at their descriptor sizes. Digests are not
 * re-hashed here: every reader of the layout verifies them (a corrupt blob fails the extender).
 */
async function isComplete(dir: string, image: RemoteImage): Promise<boolean> {
  let layout: OciLayout;
  try {
    layout = await OciLayout.open(dir);
    const index = await layout.index();
    if (!index.manifests.some((d) => d.digest === image.digest)) return false;
  } catch {
    return false;
  }
  const wanted = [
    { digest: image.digest, size: image.rawManifest.length },
    image.manifest.config,
    ...image.layers.map((l) => l.descriptor),
  ];
  for (const d of wanted) {
    if ((await layout.blobs.stat(d.digest))?.size !== d.size) return false;
  }
  return true;
}

export interface SaveOptions {
  log: Logger;
  signal?: AbortSignal | undefined;
  platform?: Platform | undefined;
  /** Pull progress, also logged (bytes at most every `progressIntervalMs`, each layer). */
  onProgress?: ((p: PullProgress) => void) | undefined;
  progressIntervalMs?: number;
}

/**
 * Reads `imageRef` from its registry (an index resolves to the manifest for the platform) and
 * makes sure `<kaniko-dir>/cache/base/<manifest digest>` holds it in full. A complete entry is
 * reused as is; a missing one appears atomically (built beside it, renamed); an incomplete one
 * (a sparse layout an older lifecycle wrote) gets its missing blobs, then its index.json.
 * Errors are OciError/RegistryError from the client; the caller names the image.
 */
export async function saveToBaseCache(registry: RestoreRegistry, imageRef: string, kanikoDir: string, opts: SaveOptions): Promise<BaseCacheEntry> {
  const ref = Reference.parse(imageRef);
  const image = await registry.image(ref, { signal: opts.signal, ...(opts.platform ? { platform: opts.platform } : {}) });
  const base = baseCacheDir(kanikoDir);
  const dir = join(base, image.digest);
  const reference = digestReference(ref, image.digest);
  if (await isComplete(dir, image)) {
    opts.log.debug(`Base image ${reference} is already in ${dir}`);
    return { dir, digest: image.digest, reference, image, reused: true };
  }
  const existing = await stat(dir).catch(() => null);
  if (existing && !existing.isDirectory()) {
    throw new RestoreError('BASE_CACHE', `${dir} exists and is not a directory`, { path: dir, image: imageRef });
  }
  await mkdir(base, { recursive: true });
  opts.log.debug(`Saving image ${reference} to ${dir}...`);
  // By digest: the layout then carries no ref.name annotation, like the lifecycle's.
  await registry.pull(ref.withDigest(image.digest), dir, {
    image,
    log: opts.log,
    signal: opts.signal,
    onProgress: progressReporter(opts.log, opts.progressIntervalMs ?? 5000, opts.onProgress),
  });
  return { dir, digest: image.digest, reference, image, reused: false };
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Logs byte progress at most once per interval (the pull itself logs each layer). */
export function progressReporter(log: Logger, intervalMs: number, also?: (p: PullProgress) => void): (p: PullProgress) => void {
  let last = Date.now();
  return (p) => {
    also?.(p);
    if (p.event !== 'bytes') return;
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 100;
    log.info(`pulled ${mib(p.bytesDone)} of ${mib(p.bytesTotal)} (${pct}%), ${p.layersDone}/${p.layersTotal} layers`);
  };
}
