import { join } from 'node:path';
import type { Image } from '../../oci/index.js';
import { chooseSnapshotter, LayerCache, type Snapshotter } from '../../snapshot/index.js';
import { buildImage, loadExtensionDockerfile, type BuildStepReport } from '../build/index.js';
import type { ParsedDockerfile } from '../dockerfile/index.js';
import { ChrootExecutor } from '../executor/index.js';
import type { BuilderExecutor, RootfsHandle } from '../extender/builder.js';
import type { ApplyContext, DockerfileEngine, StepReport } from '../extender/engine.js';
import { ExtenderError } from '../extender/errors.js';
import type { ExtenderInputs } from '../extender/inputs.js';
import type { Logger } from '../log.js';
import { BuildProgress, extractBase, trackTemps } from './build-progress.js';
import type { Progress } from './progress.js';
import type { ExtenderRuntime } from './extender.js';
import { packageVersion } from './version.js';

// The real runtime of the `extender` command: the build engine (src/build) on a snapshotter whose
// extracted layers are kept under `<kaniko-dir>/cache/fs`, the chroot executor, and a snapshotter
// workspace as the builder's root filesystem.

function cacheFor(inputs: ExtenderInputs, log: Logger): LayerCache {
  return new LayerCache(join(inputs.kanikoDir, 'cache', 'fs'), { log });
}

function snapshotterFor(inputs: ExtenderInputs, cache: LayerCache, log: Logger): Promise<Snapshotter> {
  return chooseSnapshotter('auto', cache, log, join(inputs.kanikoDir, 'cache', 'probe'));
}

export interface EngineHooks {
  /** Tasks for base-layer extraction and each step, RUN output on the step's task. */
  progress?: Progress;
  /** The cache the snapshotter stacks (needed to show extraction progress). */
  cache?: LayerCache;
  /** Every finished step, with its extension. */
  onStep?: (r: StepReport) => void;
}

/**
 * The build engine as the extender's DockerfileEngine. RUN output goes to `out` line by line, or to
 * the step's task when `hooks.progress` is given.
 */
export function buildEngine(snapshotter: Snapshotter, out: (line: string) => void, log: Logger, hooks: EngineHooks = {}): DockerfileEngine<ParsedDockerfile> {
  const executor = new ChrootExecutor({ log });
  return {
    async load(text, path, kind) {
      const l = loadExtensionDockerfile(text, path, kind);
      return { dockerfile: l.dockerfile, warnings: l.warnings };
    },
    async apply(base: Image, df: ParsedDockerfile, ctx: ApplyContext) {
      const toReport = (s: BuildStepReport): StepReport => ({ ...s, extensionId: ctx.extensionId });
      const { progress, cache } = hooks;
      if (progress && cache) {
        await extractBase(cache, snapshotter.name, base, progress, { tag: `${ctx.extensionId} extract`, quietWhenCached: true, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      }
      const tracked = trackTemps(ctx.store);
      // The extender logs one line per finished step itself: the task only collapses.
      const steps = progress ? new BuildProgress(progress, { tagPrefix: `${ctx.extensionId} `, bytesInFlight: tracked.bytesInFlight, collapse: true }) : undefined;
      const onStep = (s: BuildStepReport) => {
        const r = toReport(s);
        hooks.onStep?.(r);
        ctx.onStep(r);
      };
      try {
        const r = await buildImage(base, df, {
          snapshotter,
          workDir: join(ctx.workDir, 'ws'),
          executor,
          store: tracked.store,
          contextDir: ctx.contextDir,
          dockerfilePath: ctx.dockerfilePath,
          buildArgs: ctx.args.map((a) => [a.name, a.value] as const),
          ignorePaths: ctx.ignorePaths,
          cache: ctx.cache ? { store: ctx.cache, keys: ctx.cacheKeys } : null,
          ...(steps
            ? { onStepStart: steps.onStepStart, onStepCommit: steps.onStepCommit, onOutput: steps.onOutput, onStep: (s: BuildStepReport) => (steps.onStep(s), onStep(s)) }
            : { onOutput: (line: string) => out(line), onStep }),
          log: ctx.log,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        return { image: r.image, newLayers: r.newLayers, stepReports: r.steps.map(toReport) };
      } catch (e) {
        steps?.fail();
        throw e;
      }
    },
  };
}

/** The production runtime. `out` receives RUN and builder output lines (stdout, like the lifecycle). */
export function defaultExtenderRuntime(opts: { cwd: string; out: (line: string) => void; signal?: AbortSignal }): ExtenderRuntime {
  return {
    cwd: opts.cwd,
    version: packageVersion(),
    ...(opts.signal ? { signal: opts.signal } : {}),
    async createEngine({ inputs, log, progress, onStep }) {
      const cache = cacheFor(inputs, log);
      const hooks: EngineHooks = { cache, ...(progress ? { progress } : {}), ...(onStep ? { onStep } : {}) };
      return buildEngine(await snapshotterFor(inputs, cache, log), opts.out, log, hooks) as DockerfileEngine<unknown>;
    },
    async createBuilderRuntime({ inputs, log }) {
      const executor = new ChrootExecutor({ log }) as ChrootExecutor & { supportsBinds?: boolean };
      if (executor.supportsBinds !== true) {
        // Without binds the builder would not see <app>, <layers> and <platform>: refuse rather than mislead.
        throw new ExtenderError('BUILDER', 'running the builder needs bind mounts in the chroot executor (ProcessSpec.binds), which this build lacks; run with -skip-builder and start the builder yourself', {
          kind: 'build',
        });
      }
      const snapshotter = await snapshotterFor(inputs, cacheFor(inputs, log), log);
      return {
        executor: executor as BuilderExecutor,
        async openRootfs(image: Image, workDir: string): Promise<RootfsHandle> {
          const ws = await snapshotter.open(image, { workDir: join(workDir, 'builder-rootfs') });
          return { root: ws.root, close: () => ws.close() };
        },
      };
    },
  };
}
