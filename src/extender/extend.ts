import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DirBlobStore, withConfigFile, withCreated, type Image } from '../../oci/index.js';
import {
  apiSupported,
  groupElementName,
  parseApiVersion,
  readAnalyzed,
  readGroup,
  SUPPORTED_BUILDPACK_APIS,
  type Analyzed,
  type GroupElement,
} from '../cnb/index.js';
import type { Logger } from '../log.js';
import { openBaseImage } from './base-image.js';
import { buildArgs } from './build-args.js';
import { StepKeyer } from './cache-key.js';
import { findDockerfiles, type DockerfileRef, type ExtendKind } from './dockerfiles.js';
import type { DockerfileEngine, StepReport } from './engine.js';
import { parseImageEnv } from './env.js';
import { ExtenderError } from './errors.js';
import type { ExtenderInputs } from './inputs.js';
import { DirStepCache } from './layer-cache.js';
import { writeExtendedImage } from './output.js';
import { ExtensionPolicy, ZERO_TIME } from './policy.js';
import { formatStepLine, formatSummary, totals, type Totals } from './summary.js';
import { createWorkDir, removeWorkDir } from './work-dir.js';

// The extender phase (contract.md §1.5; lifecycle cmd/lifecycle/extender.go, phase/extender.go):
// read analyzed.toml and group.toml, open the base image, apply each extension's Dockerfile in
// group order, apply the lifecycle's config policy, and write `<extended>/<kind>/sha256:<hex>/`.
// kind=build then returns the environment for the builder (src/extender/builder.ts).

export interface ExtendDeps<P = unknown> {
  engine: DockerfileEngine<P>;
  log: Logger;
  signal?: AbortSignal;
  /** UUID v4 source for `build_id` (default crypto.randomUUID). */
  uuid?: () => string;
  /** Clock for the step cache TTL (default Date.now). */
  now?: () => number;
}

export interface ExtendResult {
  kind: ExtendKind;
  /** The extended image. Its new layers live in `workDir` until `release()`. */
  image: Image;
  /** Where it was written: `<extended>/<kind>/sha256:<hex>`. */
  outputDir: string;
  /** The Dockerfiles that were applied, in order. */
  applied: DockerfileRef[];
  /** kind=build: the extended image's Env as pairs (what the builder's environment starts from). */
  env: [string, string][];
  reports: StepReport[];
  totals: Totals;
  /** `<kaniko-dir>/work.dir*`, for scratch space until release (the builder's rootfs goes here). */
  workDir: string;
  /** Removes the work dir, so that `<kaniko-dir>` holds only `cache` again. Call it exactly once. */
  release(): Promise<void>;
}

/**
 * The `extend` phase. Errors are ExtenderErrors whose code tells the CLI the exit code. On error
 * the work dir is already removed; on success the caller calls `result.release()` when done with
 * the image (after the builder, for kind=build).
 */
export async function extend<P>(inputs: ExtenderInputs, deps: ExtendDeps<P>): Promise<ExtendResult> {
  const kind = inputs.kind as ExtendKind;
  const { log } = deps;
  const started = (deps.now ?? Date.now)();
  const workDir = await createWorkDir(inputs.kanikoDir, log);
  try {
    const { analyzed, extensions } = await initialize(inputs, log);
    const ref = (kind === 'build' ? analyzed.buildImage?.reference : analyzed.runImage?.reference) ?? '';
    log.debug(`Extending base image for ${kind}: ${ref}`);
    return await extendImage(inputs, deps, { kind, ref, extensions, workDir, started });
  } catch (e) {
    // The lifecycle keeps the work dir when the phase fails; we never leave it behind.
    await removeWorkDir(workDir).catch((err: Error) => log.debug(`Could not remove ${workDir}: ${err.message}`));
    throw e;
  }
}

/** Reads analyzed.toml (missing → empty) and group.toml, and checks each extension's API. */
async function initialize(inputs: ExtenderInputs, log: Logger): Promise<{ analyzed: Analyzed; extensions: GroupElement[] }> {
  let analyzed: Analyzed;
  try {
    analyzed = await readAnalyzed(inputs.analyzedPath, log);
  } catch (e) {
    throw new ExtenderError('INIT', 'reading analyzed metadata', { path: inputs.analyzedPath }, { cause: e });
  }
  let extensions: GroupElement[];
  try {
    extensions = (await readGroup(inputs.groupPath)).groupExtensions;
  } catch (e) {
    throw new ExtenderError('INIT', 'reading group', { path: inputs.groupPath }, { cause: e });
  }
  for (const ext of extensions) verifyExtensionApi(ext);
  return { analyzed, extensions };
}

/** The lifecycle's Buildpack API check for an extension (exit 12 in the CLI). */
export function verifyExtensionApi(ext: GroupElement): void {
  const v = parseApiVersion(ext.api);
  if (!v) {
    throw new ExtenderError('EXTENSION_API', `parse buildpack API '${ext.api}' for extension '${groupElementName(ext)}'`, { extensionId: ext.id });
  }
  if (!apiSupported(SUPPORTED_BUILDPACK_APIS, v)) {
    throw new ExtenderError(
      'EXTENSION_API',
      `set API for extension '${groupElementName(ext)}': buildpack API version '${ext.api}' is incompatible with the lifecycle`,
      { extensionId: ext.id },
    );
  }
}

interface Plan {
  kind: ExtendKind;
  ref: string;
  extensions: GroupElement[];
  workDir: string;
  started: number;
}

async function extendImage<P>(inputs: ExtenderInputs, deps: ExtendDeps<P>, plan: Plan): Promise<ExtendResult> {
  const { kind, workDir } = plan;
  const { log, engine } = deps;
  const now = deps.now ?? Date.now;
  const base = await openBaseImage(inputs.kanikoDir, plan.ref, kind, log, inputs.analyzedPath);
  const baseInfo = { layerCount: base.image.layers.length, topDigest: base.image.layers.at(-1)?.descriptor.digest };
  log.debug(`Original image has digest: ${base.image.digest}`);

  const dockerfiles = await findDockerfiles(plan.extensions, {
    generatedDir: inputs.generatedDir,
    appDir: inputs.appDir,
    platformApi: inputs.platformApi,
    kind,
    log,
  });
  // Every Dockerfile is parsed and checked before the first one runs (architecture.md §0.8).
  const loaded: P[] = [];
  for (const df of dockerfiles) {
    try {
      const text = await readFile(df.path, 'utf8');
      const { dockerfile, warnings } = await engine.load(text, df.path, kind);
      for (const w of warnings) log.warn(w);
      loaded.push(dockerfile);
    } catch (e) {
      throw new ExtenderError('DOCKERFILE', `extending ${kind} image: loading ${naming(df.path, e)}`, { kind, path: df.path, extensionId: df.extensionId }, { cause: e });
    }
  }

  const cacheRoot = join(inputs.kanikoDir, 'cache');
  await mkdir(join(cacheRoot, 'layers'), { recursive: true });
  const cache = new DirStepCache(join(cacheRoot, 'layers'), { ttlMs: Number(inputs.kanikoCacheTtlNs / 1_000_000n), now, log });
  const store = new DirBlobStore(join(workDir, 'layers'));
  const ignorePaths = [inputs.appDir, inputs.layersDir, inputs.platformDir, inputs.kanikoDir, '/var/run'];
  const policy = new ExtensionPolicy(kind, base.image.config, log);
  const reports: StepReport[] = [];

  let image = base.image;
  for (const [i, df] of dockerfiles.entries()) {
    const args = buildArgs({
      buildId: (deps.uuid ?? randomUUID)(),
      user: image.config.config?.User,
      extendConfigArgs: df.args,
      baseImage: `base@${image.digest}`,
    });
    log.debug(`Applying Dockerfile at ${df.path} to 'base@${image.digest}'...`);
    const dfWork = join(workDir, `df-${i}`);
    await mkdir(dfWork);
    let result;
    try {
      result = await engine.apply(image, loaded[i]!, {
        kind,
        extensionId: df.extensionId,
        dockerfilePath: df.path,
        args,
        contextDir: df.contextDir,
        ignorePaths,
        kanikoCacheDir: cacheRoot,
        store,
        workDir: dfWork,
        cache,
        cacheKeys: new StepKeyer(),
        onStep: (r) => log.info(formatStepLine(r)),
        log,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
    } catch (e) {
      throw new ExtenderError('DOCKERFILE', `extending ${kind} image: applying Dockerfile to image${naming(df.path, e, ': ')}`, { kind, path: df.path, extensionId: df.extensionId }, { cause: e });
    }
    reports.push(...result.stepReports);
    // The lifecycle zeroes `created` after every Dockerfile, so intermediate digests (and the
    // base_image arg of the next Dockerfile) are reproducible.
    image = withCreated(result.image, ZERO_TIME);
    log.debug(`Intermediate image has digest: ${image.digest}`);
    policy.afterDockerfile(df, image.config);
  }
  policy.finish();
  const finalConfig = policy.finalConfig();
  image = withConfigFile(image, () => finalConfig);
  log.debug(`Final extended image has digest: ${image.digest}`);

  const env = kind === 'build' ? parseImageEnv(image.config.config?.Env) : [];
  let written;
  try {
    written = await writeExtendedImage(inputs.extendedDir, kind, image, baseInfo, log);
  } catch (e) {
    throw new ExtenderError('OUTPUT', `copy extended ${kind} image to output directory ${join(inputs.extendedDir, kind)}`, { kind, path: inputs.extendedDir }, { cause: e });
  }
  const t = totals(reports, now() - plan.started);
  log.info(formatSummary(kind, t));
  await cache.prune().catch((e: Error) => log.debug(`Pruning the step cache: ${e.message}`));
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      await removeWorkDir(workDir);
    } catch (e) {
      throw new ExtenderError('CLEANUP', `cleaning up: ${(e as Error).message}`, { kind, path: workDir }, { cause: (e as Error).cause });
    }
  };
  return { kind, image, outputDir: written.dir, applied: dockerfiles, env, reports, totals: t, workDir, release };
}

/** The Dockerfile path for a message, unless the cause already names it (engine errors carry file:line). */
function naming(path: string, cause: unknown, prefix = ''): string {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return msg.includes(path) ? (prefix === '' ? 'Dockerfile' : '') : `${prefix}${path}`;
}
