import type { BlobStore, Digest, Image, Layer } from '../../oci/index.js';
import type { Workspace } from '../../snapshot/index.js';
import type { Executor } from '../executor/index.js';
import type { Logger } from '../log.js';

/** One instruction as it finished. */
export interface BuildStepReport {
  /** The instruction as written, e.g. `RUN apt-get update`. */
  instruction: string;
  line: number;
  durationMs: number;
  /** `hit` restored from the step cache; `miss` executed and stored; `bypass` executed, not storable; `off` no cache; `none` metadata only. */
  cache: 'hit' | 'miss' | 'bypass' | 'off' | 'none';
  layer: { digest: Digest; diffID: Digest; size: number } | null;
}

/** An instruction about to run (for progress displays). */
export interface BuildStepStart {
  instruction: string;
  line: number;
  /** 1-based position among the stage's instructions. */
  index: number;
  /** The number of instructions in the stage. */
  count: number;
}

/** The step cache as the engine sees it (src/extender/layer-cache.ts implements it). */
export interface BuildStepCache {
  get(key: string): Promise<Layer | 'empty' | null>;
  put(key: string, result: Layer | 'empty'): Promise<void>;
}

/** Everything a cache key depends on (src/extender/cache-key.ts has the canonical encoding). */
export interface BuildStepKeyInput {
  parentChainID: string | null;
  config: { env: readonly string[]; user: string; workdir: string; shell: readonly string[] };
  platform: string;
  instruction: string;
  args: ReadonlyArray<readonly [string, string]>;
  contextDigest?: string;
  extra?: string;
}

export interface BuildStepKeyer {
  keyFor(input: BuildStepKeyInput): string | null;
}

/** What applyDockerfile needs besides the image and the Dockerfile. */
export interface BuildOptions {
  /** The writable root the steps run in, opened on the base image. */
  workspace: Workspace;
  executor: Executor;
  /** New layer blobs go here. */
  store: BlobStore;
  /** COPY/ADD sources. */
  contextDir: string;
  /** The Dockerfile's path, for messages and `<Dockerfile>.dockerignore`. */
  dockerfilePath?: string;
  /** Build args in order; a later duplicate wins. */
  buildArgs: ReadonlyArray<readonly [string, string]>;
  /** Absolute image paths never captured in a layer (the lifecycle's app, layers, platform dirs…). */
  ignorePaths?: readonly string[];
  cache?: { store: BuildStepCache; keys: BuildStepKeyer } | null;
  /** Layers compressed with gzip (default) or left as plain tar. */
  compression?: 'gzip' | 'none';
  /** Clamp mtimes in new layers and set history `created` (seconds since the epoch). */
  sourceDateEpoch?: number;
  /** Each line a RUN prints, with the stream it came from. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Called as each instruction starts: its position in the stage (1-based) and the instruction as written. */
  onStepStart?: (step: BuildStepStart) => void;
  /** Called when a filesystem step's changes start being turned into a layer (snapshot, tar, compress). */
  onStepCommit?: () => void;
  onStep?: (report: BuildStepReport) => void;
  log: Logger;
  signal?: AbortSignal;
}

export interface BuildResult {
  image: Image;
  newLayers: Layer[];
  steps: BuildStepReport[];
  warnings: string[];
}
