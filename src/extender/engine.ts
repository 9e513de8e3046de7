import type { BlobStore, Digest, Image, Layer } from '../../oci/index.js';
import type { BuildArg } from '../cnb/index.js';
import type { Logger } from '../log.js';
import type { StepKeyer } from './cache-key.js';
import type { ExtendKind } from './dockerfiles.js';
import type { StepCache } from './layer-cache.js';

// The seam between the extender phase and the Dockerfile build engine (src/build). The extender
// finds the Dockerfiles, assembles args, owns the cache and the output; the engine parses,
// validates and executes one Dockerfile on an image.

/** One executed (or cache-restored) instruction, reported by the engine. */
export interface StepReport {
  extensionId: string;
  /** The instruction as written, e.g. `RUN apt-get update`. */
  instruction: string;
  /** 1-based line in the Dockerfile. */
  line?: number;
  durationMs: number;
  /**
   * `hit`: restored from the cache, not executed. `miss`: executed, then stored. `bypass`: executed,
   * not stored (build_id in scope). `off`: no cache. `none`: a metadata step (no filesystem change possible).
   */
  cache: 'hit' | 'miss' | 'bypass' | 'off' | 'none';
  /** The layer the step added, or null when it changed no files (no layer, no history). */
  layer: { digest: Digest; diffID: Digest; size: number } | null;
}

/** Everything the engine gets for one Dockerfile. */
export interface ApplyContext {
  kind: ExtendKind;
  extensionId: string;
  /** The Dockerfile path (for messages and error locations). */
  dockerfilePath: string;
  /**
   * Build args in order: build_id, user_id, group_id, the extend-config args, base_image. A later
   * duplicate name wins. They are values for ARG declarations; undeclared ones are not in scope.
   * `FROM` (whatever it names, except `scratch`) resolves to `base`.
   */
  args: readonly BuildArg[];
  /** The build context for COPY/ADD. */
  contextDir: string;
  /**
   * Absolute paths whose contents never appear in a layer and are not reverted: `<app>`,
   * `<layers>`, `<platform>`, `<kaniko-dir>`, `/var/run` (contract.md §4.5). The engine adds its own
   * (mount points, /proc, /sys, /dev, resolv.conf, hosts).
   */
  ignorePaths: readonly string[];
  /**
   * `<kaniko-dir>/cache`: a persistent directory the engine may use for its own caches (extracted
   * base layers, under a subdirectory it names). Build and run extenders share it concurrently:
   * anything put there must appear complete or not at all (temp name + rename).
   */
  kanikoCacheDir: string;
  /** Where new layer blobs go (inside the extender's work dir). */
  store: BlobStore;
  /** Scratch space for this Dockerfile (inside `<kaniko-dir>/work.dir*`; removed by the extender). */
  workDir: string;
  /** The step cache (null: caching off). */
  cache: StepCache | null;
  /** Computes each cacheable step's key; null means run uncached and do not store. */
  cacheKeys: StepKeyer;
  /** Called as each step finishes (the extender logs one info line per step). */
  onStep(report: StepReport): void;
  log: Logger;
  signal?: AbortSignal;
}

export interface ApplyResult {
  /**
   * The resulting image: `base`'s layers followed by `newLayers`, config updated by the
   * instructions, and one history entry per new layer whose `created_by` is the instruction as
   * written (metadata-only steps may add `empty_layer` entries; they are dropped).
   */
  image: Image;
  newLayers: readonly Layer[];
  stepReports: readonly StepReport[];
}

/** A Dockerfile parsed and checked as a CNB extension Dockerfile, ready to apply. */
export interface LoadedDockerfile<P> {
  dockerfile: P;
  /** Validation warnings (e.g. `… command CMD on line 4 is not recommended`). */
  warnings: readonly string[];
}

/** The build engine as the extender uses it. `P` is the engine's parsed-Dockerfile type. */
export interface DockerfileEngine<P = unknown> {
  /**
   * Parse and validate `text` as an extension Dockerfile of `kind` (architecture.md §0.8). Errors
   * throw (before anything of any Dockerfile runs); warnings are returned.
   */
  load(text: string, path: string, kind: ExtendKind): Promise<LoadedDockerfile<P>>;
  apply(base: Image, dockerfile: P, ctx: ApplyContext): Promise<ApplyResult>;
}
