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
import type { ExtenderRuntime } from './extender.js';
import { packageVersion } from './extender.js';

// The real runtime of the `extender` command: the build engine (src/build) on a snapshotter whose
// extracted layers are kept under `<kaniko-dir>/cache/fs`, the chroot executor, and a snapshotter
// workspace as the builder's root filesystem.

function snapshotterFor(inputs: ExtenderInputs, log: Logger): Promise<Snapshotter> {
  const cacheDir = join(inputs.kanikoDir, 'cache');
  return chooseSnapshotter('auto', new LayerCache(join(cacheDir, 'fs'), { log }), log, join(cacheDir, 'probe'));
}

/** The build engine as the extender's DockerfileEngine. RUN output goes to `out` line by line. */
export function buildEngine(snapshotter: Snapshotter, out: (line: string) => void, log: Logger): DockerfileEngine<ParsedDockerfile> {
  const executor = new ChrootExecutor({ log });
  return {
    async load(text, path, kind) {
      const l = loadExtensionDockerfile(text, path, kind);
      return { dockerfile: l.dockerfile, warnings: l.warnings };
    },
    async apply(base: Image, df: ParsedDockerfile, ctx: ApplyContext) {
      const toReport = (s: BuildStepReport): StepReport => ({ ...s, extensionId: ctx.extensionId });
      const r = await buildImage(base, df, {
        snapshotter,
        workDir: join(ctx.workDir, 'ws'),
        executor,
        store: ctx.store,
        contextDir: ctx.contextDir,
        dockerfilePath: ctx.dockerfilePath,
        buildArgs: ctx.args.map((a) => [a.name, a.value] as const),
        ignorePaths: ctx.ignorePaths,
        cache: ctx.cache ? { store: ctx.cache, keys: ctx.cacheKeys } : null,
        onOutput: (line) => out(line),
        onStep: (s) => ctx.onStep(toReport(s)),
        log: ctx.log,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      return { image: r.image, newLayers: r.newLayers, stepReports: r.steps.map(toReport) };
    },
  };
}

/** The production runtime. `out` receives RUN and builder output lines (stdout, like the lifecycle). */
export function defaultExtenderRuntime(opts: { cwd: string; out: (line: string) => void; signal?: AbortSignal }): ExtenderRuntime {
  return {
    cwd: opts.cwd,
    version: packageVersion(),
    ...(opts.signal ? { signal: opts.signal } : {}),
    async createEngine({ inputs, log }) {
      return buildEngine(await snapshotterFor(inputs, log), opts.out, log) as DockerfileEngine<unknown>;
    },
    async createBuilderRuntime({ inputs, log }) {
      const executor = new ChrootExecutor({ log }) as ChrootExecutor & { supportsBinds?: boolean };
      if (executor.supportsBinds !== true) {
        // Without binds the builder would not see <app>, <layers> and <platform>: refuse rather than mislead.
        throw new ExtenderError('BUILDER', 'running the builder needs bind mounts in the chroot executor (ProcessSpec.binds), which this build lacks; run with -skip-builder and start the builder yourself', {
          kind: 'build',
        });
      }
      const snapshotter = await snapshotterFor(inputs, log);
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
