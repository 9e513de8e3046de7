import {
  apiAtLeast, apiSupported, groupElementName, parseApiVersion, readAnalyzed, readGroup, readRunToml, writeAnalyzed,
  SUPPORTED_BUILDPACK_APIS, type Analyzed, type ApiVersion, type Group, type TargetMetadata,
} from '../cnb/index.js';
import { Reference, type Platform, type PullProgress } from '../../oci/index.js';
import type { Logger } from '../log.js';
import { digestReference, saveToBaseCache, type BaseCacheEntry, type RestoreRegistry } from './base-cache.js';
import { RestoreError } from './errors.js';
import { resolveRunImageFromAnalyzed, type ReadAccessChecker } from './run-image.js';
import { targetFromConfig } from './target.js';

// The extension-relevant part of the lifecycle's restorer (cmd/lifecycle/restorer.go Exec;
// contract.md §6.3), registry mode only (no -daemon, no -layout):
//   1. -build-image X (≥0.10): X in full into <kaniko-dir>/cache/base/<digest>, build-image.reference.
//   2. ≥0.14: run-image.image access-checked only when run.toml lists it (lifecycle #1590 fixed).
//   3. run-image.extend (≥0.12): the run image in full into the base cache, reference + target.
//      Else, with extensions in the group and no target yet (≥0.10): reference (+ target ≥0.12)
//      from the registry, nothing written under <kaniko-dir>.
//   4. analyzed.toml written (atomically). The layer cache is not restored (not implemented here).

/** Platform APIs the restorer accepts (the lifecycle's list, api/apis.go). */
export const RESTORER_PLATFORM_APIS: readonly string[] = ['0.7', '0.8', '0.9', '0.10', '0.11', '0.12', '0.13', '0.14', '0.15'];

export interface RestoreOptions {
  platformApi: ApiVersion;
  analyzedPath: string;
  groupPath: string;
  /** run.toml (`-run`); read from Platform 0.14 only. A missing file lists no images. */
  runPath: string;
  /** `-build-image`; '' or undefined: no build-image extension. */
  buildImage?: string | undefined;
  /** Holds cache/base (the lifecycle's fixed /kaniko). */
  kanikoDir: string;
  registry: RestoreRegistry;
  /** The run-image access check (default: `registry.checkReadAccess`). */
  checkReadAccess?: ReadAccessChecker | undefined;
  /** Platform chosen from multi-platform images (default: the registry client's, i.e. the host's). */
  platform?: Platform | undefined;
  log: Logger;
  signal?: AbortSignal | undefined;
  onProgress?: ((image: string, p: PullProgress) => void) | undefined;
}

export interface RestoreResult {
  /** What was written to analyzed.toml; null when the file did not parse (left alone, as the lifecycle does). */
  analyzed: Analyzed | null;
  buildImage?: BaseCacheEntry;
  /** Set when the run image was saved to the base cache (extend = true). */
  runImage?: BaseCacheEntry;
}

/** Lifecycle verifyBuildpackApis: every buildpack of the group (not the extensions) must have a supported API. */
export function verifyBuildpackApis(group: Group): void {
  for (const bp of group.group) {
    const name = groupElementName(bp);
    const v = parseApiVersion(bp.api);
    if (!v) throw new RestoreError('BUILDPACK_API', `failed to parse buildpack API '${bp.api}' for buildpack '${name}'`);
    if (!apiSupported(SUPPORTED_BUILDPACK_APIS, v)) {
      throw new RestoreError('BUILDPACK_API', `failed to set API for buildpack '${name}'`, {}, {
        cause: new Error(`buildpack API version '${bp.api}' is incompatible with the lifecycle`),
      });
    }
  }
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const { log, platformApi: api } = opts;
  const check: ReadAccessChecker = opts.checkReadAccess ?? ((image) => opts.registry.checkReadAccess(image, { signal: opts.signal }));
  const group = await readGroup(opts.groupPath);
  verifyBuildpackApis(group);

  let analyzed: Analyzed;
  try {
    analyzed = await readAnalyzed(opts.analyzedPath, log);
  } catch (e) {
    // The lifecycle goes on without analyzed data (and does not rewrite the file).
    log.warn(`Not using analyzed data, usable file not found: ${(e as Error).message}`);
    return { analyzed: null };
  }
  const result: RestoreResult = { analyzed };
  const save = (image: string) =>
    saveToBaseCache(opts.registry, image, opts.kanikoDir, {
      log,
      signal: opts.signal,
      platform: opts.platform,
      onProgress: opts.onProgress && ((p) => opts.onProgress!(image, p)),
    });

  if (apiAtLeast(api, '0.10') && opts.buildImage) {
    const image = opts.buildImage;
    log.debug(`Pulling builder image ${image}...`);
    try {
      result.buildImage = await save(image);
    } catch (e) {
      opts.signal?.throwIfAborted();
      throw new RestoreError('PULL_BUILD_IMAGE', `failed to pull builder image ${image}`, { image }, { cause: e });
    }
    analyzed.buildImage = { reference: result.buildImage.reference };
    log.debug(`Adding build image info to analyzed metadata: ${JSON.stringify(analyzed.buildImage)}`);
  }

  // `image`, not `reference` (a lifecycle FIXME kept: `reference` may be a daemon image ID).
  const runImageName = analyzed.runImage?.image ?? '';
  let accessible = runImageName;
  if (apiAtLeast(api, '0.14')) {
    const run = await readRunToml(opts.runPath);
    if (run.images.length === 0) log.info(`No run metadata found at path "${opts.runPath}"`);
    accessible = await resolveRunImageFromAnalyzed(runImageName, run, check, { signal: opts.signal });
  }
  const runImage = analyzed.runImage;

  if (apiAtLeast(api, '0.12') && runImage?.extend) {
    log.debug(`Pulling run image ${accessible}...`);
    try {
      result.runImage = await save(accessible);
    } catch (e) {
      opts.signal?.throwIfAborted();
      throw new RestoreError('PULL_RUN_IMAGE', `failed to pull run image ${accessible}`, { image: accessible }, { cause: e });
    }
    updateRunImage(analyzed, result.runImage.reference, targetFromConfig(result.runImage.image.config), api, log);
  } else if (apiAtLeast(api, '0.10') && group.groupExtensions.length > 0 && runImage && !runImage.target?.os) {
    log.debug('Updating run image info in analyzed metadata...');
    let reference: string;
    let target: TargetMetadata;
    try {
      const ref = Reference.parse(accessible);
      const img = await opts.registry.image(ref, { signal: opts.signal, ...(opts.platform ? { platform: opts.platform } : {}) });
      reference = digestReference(ref, img.digest);
      target = targetFromConfig(img.config);
    } catch (e) {
      opts.signal?.throwIfAborted();
      throw new RestoreError('GET_RUN_IMAGE', `failed to get run image ${accessible}`, { image: accessible }, { cause: e });
    }
    updateRunImage(analyzed, reference, target, api, log);
  }

  try {
    await writeAnalyzed(opts.analyzedPath, analyzed);
  } catch (e) {
    throw new RestoreError('WRITE_ANALYZED', 'failed to write analyzed metadata', { path: opts.analyzedPath }, { cause: e });
  }
  return result;
}

/** Lifecycle updateAnalyzedMD: the digest reference, and the target from 0.12 (cleared below it). */
function updateRunImage(analyzed: Analyzed, reference: string, target: TargetMetadata, api: ApiVersion, log: Logger): void {
  const ri = analyzed.runImage!;
  log.debug(`Run image info in analyzed metadata was: ${JSON.stringify(ri)}`);
  ri.reference = reference;
  if (apiAtLeast(api, '0.12')) ri.target = target;
  else delete ri.target;
  log.debug(`Run image info in analyzed metadata is: ${JSON.stringify(ri)}`);
}
