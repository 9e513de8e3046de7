import { apiAtLeast, EXTENDER_PLATFORM_APIS } from '../cnb/index.js';
import { extend, type ExtendResult } from '../extender/extend.js';
import { runBuilder, type BuilderExecutor, type RootfsHandle } from '../extender/builder.js';
import type { DockerfileEngine } from '../extender/engine.js';
import { ExtenderError } from '../extender/errors.js';
import { ENV, goBoolEnv, inputsFromEnv, resolveInputPaths, type ExtenderInputs } from '../extender/inputs.js';
import type { Image } from '../../oci/index.js';
import type { Logger } from '../log.js';
import type { StepReport } from '../extender/engine.js';
import { CliFailure, describeFailure, EXIT, reportFailure } from './errors.js';
import { formatGoDuration } from './flags-duration.js';
import { EXTENDER_HELP } from './help.js';
import { openPhaseProgress, parsePhaseFlags, phasePlatformApi, warnFlagLikeArgs } from './lifecycle-phase.js';
import { defineOutputFlags, finishReport } from './output-flags.js';
import type { Progress } from './progress.js';
import { ReportBuilder } from './report.js';
import { lifecycleLogger, parseLogLevel, type LevelLogger } from './extender-log.js';
import { parseGoDuration } from './flags-duration.js';
import { FlagSet } from './flags.js';
import type { CliIO, Env } from './io.js';

export { packageVersion } from './version.js';

// The `extender` command (lifecycle cmd/lifecycle/extender.go, cli/command.go): the lifecycle's
// flags, environment, defaults, Platform API gates and exit codes (contract.md §1), plus
// -kaniko-dir / CNB_KANIKO_DIR and -skip-builder / CNB_SKIP_BUILDER.

/** What main needs from the outside world beyond argv, env and stdio (real ones by default). */
export interface ExtenderRuntime {
  /** Directory relative paths resolve against. */
  cwd: string;
  version: string;
  /**
   * The Dockerfile build engine, for this run's inputs. `progress` (when given) receives a task per
   * step and the RUN output; `onStep` every finished step (for the -json report).
   */
  createEngine(o: { inputs: ExtenderInputs; log: Logger; progress?: Progress; onStep?: (r: StepReport) => void }): Promise<DockerfileEngine<unknown>>;
  /** kind=build: what runs the builder (a rootfs of the extended image and an executor). */
  createBuilderRuntime(o: { inputs: ExtenderInputs; log: Logger }): Promise<{
    openRootfs(image: Image, workDir: string): Promise<RootfsHandle>;
    executor: BuilderExecutor;
  }>;
  uuid?: () => string;
  now?: () => number;
  signal?: AbortSignal;
}

/** What a run leaves for the end of main: the progress display and the report, once they exist. */
interface RunState {
  progress?: Progress;
  report: ReportBuilder;
  jsonPath: string;
}

export async function main(argv: string[], env: Env, io: CliIO, runtime: ExtenderRuntime): Promise<number> {
  const log = lifecycleLogger(io.stdout, { color: !goBoolEnv(env[ENV.noColor]) && io.stdout.isTTY === true });
  const state: RunState = { report: new ReportBuilder('extender'), jsonPath: '' };
  let code: number;
  let failure: unknown;
  try {
    code = await run(argv, env, io, runtime, log, state);
  } catch (e) {
    failure = e;
    state.progress?.close();
    code = reportFailure(e, state.progress?.log ?? log);
  }
  state.progress?.close();
  return finishReport(state.jsonPath, state.report, {
    exitCode: code,
    error: failure,
    ...(failure !== undefined ? { errorMessage: describeFailure(failure).message } : {}),
    warnings: state.progress?.warnings ?? [],
    printError: (m) => (state.progress?.log ?? log).error(m),
  });
}

async function run(argv: string[], env: Env, io: CliIO, runtime: ExtenderRuntime, log: LevelLogger, state: RunState): Promise<number> {
  // `lifecycle -version` works without a Platform API; so does `extender -version` as the only argument.
  if (argv.length === 1 && (argv[0] === '-version' || argv[0] === '--version')) {
    log.info(runtime.version);
    return EXIT.OK;
  }
  // The lifecycle also accepts 0.7–0.9 here, although the extender phase only exists from 0.10.
  const api = phasePlatformApi(argv, env, EXTENDER_PLATFORM_APIS, `the extender (supported: ${EXTENDER_PLATFORM_APIS.join(', ')})`);

  const inputs = inputsFromEnv(env, api, parseGoDuration);
  const fs = new FlagSet('extender');
  const atLeast012 = apiAtLeast(api, '0.12');
  const flags = {
    kind: atLeast012 ? fs.string('kind', inputs.kind, 'kind of image to extend') : undefined,
    extended: atLeast012 ? fs.string('extended', inputs.extendedDir, 'path to output directory for image layers created from applying generated Dockerfiles') : undefined,
    analyzed: fs.string('analyzed', inputs.analyzedPath, 'path to analyzed.toml'),
    app: fs.string('app', inputs.appDir, 'path to app directory'),
    buildpacks: fs.string('buildpacks', inputs.buildpacksDir, 'path to buildpacks directory'),
    gid: fs.int('gid', inputs.gid, "GID of user's group in the stack's build and run images"),
    generated: fs.string('generated', inputs.generatedDir, 'path to output directory for files generated by image extensions'),
    group: fs.string('group', inputs.groupPath, 'path to group.toml'),
    ttl: fs.duration('kaniko-cache-ttl', inputs.kanikoCacheTtlNs, 'kaniko cache time-to-live'),
    kanikoDir: fs.string('kaniko-dir', inputs.kanikoDir, 'path to the kaniko directory: base image cache, layer cache and work directories'),
    layers: fs.string('layers', inputs.layersDir, 'path to layers directory'),
    logLevel: fs.string('log-level', inputs.logLevel, 'logging level'),
    noColor: fs.bool('no-color', inputs.noColor, 'disable color output'),
    plan: fs.string('plan', inputs.planPath, 'path to plan.toml'),
    platform: fs.string('platform', inputs.platformDir, 'path to platform directory'),
    skipBuilder: fs.bool('skip-builder', inputs.skipBuilder, 'kind=build: stop after writing the extended build image, do not run the builder'),
    uid: fs.int('uid', inputs.uid, "UID of user in the stack's build and run images"),
    version: fs.bool('version', false, 'show version'),
  };
  const out = defineOutputFlags(fs, env, 'lifecycle');
  const parsed = parsePhaseFlags(fs, argv, io, { help: EXTENDER_HELP, command: 'extender' });
  if ('exitCode' in parsed) return parsed.exitCode;
  state.jsonPath = out.json.value;
  if (flags.version.value) {
    log.info(runtime.version);
    return EXIT.OK;
  }
  Object.assign(inputs, {
    kind: flags.kind?.value ?? inputs.kind,
    extendedDir: flags.extended?.value ?? inputs.extendedDir,
    analyzedPath: flags.analyzed.value,
    appDir: flags.app.value,
    buildpacksDir: flags.buildpacks.value,
    gid: flags.gid.value,
    generatedDir: flags.generated.value,
    groupPath: flags.group.value,
    kanikoCacheTtlNs: flags.ttl.value,
    kanikoDir: flags.kanikoDir.value,
    layersDir: flags.layers.value,
    logLevel: flags.logLevel.value,
    noColor: flags.noColor.value,
    planPath: flags.plan.value,
    platformDir: flags.platform.value,
    skipBuilder: flags.skipBuilder.value,
    uid: flags.uid.value,
  } satisfies Partial<ExtenderInputs>);

  const level = parseLogLevel(inputs.logLevel);
  log.setColor(!inputs.noColor && io.stdout.isTTY === true);
  if (!level) throw new CliFailure(EXIT.FAILED, 'parse log level', new Error('invalid level'));
  log.setLevel(level);
  const opened = openPhaseProgress(out, { io, env, level, noColor: inputs.noColor });
  if (typeof opened === 'string') throw new CliFailure(EXIT.USAGE, 'parse -progress', new Error(opened));
  const progress = opened;
  state.progress = progress;
  const plog = progress.log;

  warnFlagLikeArgs(parsed.args, plog);
  plog.debug('Starting extender...');
  if (parsed.args.length > 0) throw new CliFailure(EXIT.INVALID_ARGS, 'parse arguments', new Error('received unexpected arguments'));
  if (inputs.kind !== 'build' && inputs.kind !== 'run') {
    // The lifecycle exits 3 here with the empty message `failed to ` (a QUIRK); we say why.
    throw new ExtenderError('USAGE', `invalid kind ${JSON.stringify(inputs.kind)}: expected build or run`);
  }
  if (!atLeast012 && env[ENV.kind]) {
    plog.warn(`${ENV.kind} is ignored below Platform API 0.12 (run image extension needs 0.12); extending the build image`);
  }
  const resolved = resolveInputPaths(inputs, runtime.cwd);

  state.report.inputs = reportInputs(resolved);
  const onStep = (r: StepReport) => state.report.step(r);
  const result = await extend(resolved, {
    engine: lazyEngine(() => runtime.createEngine({ inputs: resolved, log: plog, progress, onStep })),
    log: plog,
    ...(runtime.uuid ? { uuid: runtime.uuid } : {}),
    ...(runtime.now ? { now: runtime.now } : {}),
    ...(runtime.signal ? { signal: runtime.signal } : {}),
  });
  recordResult(state.report, result);
  return finish(result, resolved, env, io, runtime, plog, progress);
}

async function finish(result: ExtendResult, inputs: ExtenderInputs, env: Env, io: CliIO, runtime: ExtenderRuntime, log: Logger, progress: Progress): Promise<number> {
  let code: number;
  try {
    code = await afterExtend(result, inputs, env, io, runtime, log, progress);
  } catch (e) {
    // The first failure is the one to report; cleanup is best effort then.
    await result.release().catch((err: Error) => log.debug(`cleanup after failure: ${err.message}`));
    throw e;
  }
  await result.release();
  return code;
}

async function afterExtend(result: ExtendResult, inputs: ExtenderInputs, env: Env, io: CliIO, runtime: ExtenderRuntime, log: Logger, progress: Progress): Promise<number> {
  if (result.kind === 'run') return EXIT.OK;
  if (inputs.skipBuilder) {
    log.info(`Extended build image written to ${result.outputDir}; not running the builder (-skip-builder)`);
    return EXIT.OK;
  }
  const b = await runtime.createBuilderRuntime({ inputs, log });
  // The builder's own output is the build's log: printed as it is, whatever the progress mode.
  progress.close();
  return runBuilder(result.image, result.env, inputs, result.workDir, {
    ...b,
    log,
    env,
    stdout: (l) => io.stdout.write(`${l}\n`),
    stderr: (l) => io.stderr.write(`${l}\n`),
    ...(runtime.signal ? { signal: runtime.signal } : {}),
  });
}

/**
 * The engine is created on first use: creating it probes the snapshotter under `<kaniko-dir>`, which
 * must not happen before the phase has checked its inputs (nor create `<kaniko-dir>` itself).
 */
function lazyEngine(create: () => Promise<DockerfileEngine<unknown>>): DockerfileEngine<unknown> {
  let engine: Promise<DockerfileEngine<unknown>> | undefined;
  const get = () => (engine ??= create());
  return {
    load: async (text, path, kind) => (await get()).load(text, path, kind),
    apply: async (base, df, ctx) => (await get()).apply(base, df, ctx),
  };
}

/** The -json report's inputs: where the phase read and wrote. */
function reportInputs(i: ExtenderInputs): Record<string, unknown> {
  return {
    kind: i.kind,
    platformApi: i.platformApi,
    analyzed: i.analyzedPath,
    group: i.groupPath,
    generated: i.generatedDir,
    app: i.appDir,
    layers: i.layersDir,
    platform: i.platformDir,
    kanikoDir: i.kanikoDir,
    extended: i.extendedDir,
    kanikoCacheTtl: formatGoDuration(i.kanikoCacheTtlNs),
    skipBuilder: i.skipBuilder,
  };
}

function recordResult(report: ReportBuilder, result: ExtendResult): void {
  report.inputs = { ...report.inputs, dockerfiles: result.applied.map((d) => ({ extensionId: d.extensionId, path: d.path })) };
  const stepByDigest = new Map(result.reports.filter((r) => r.layer).map((r) => [r.layer!.digest, r]));
  for (const l of result.image.layers) {
    const step = stepByDigest.get(l.descriptor.digest);
    if (!step) continue;
    report.newLayers.push({ digest: l.descriptor.digest, diffID: l.diffID, size: l.descriptor.size, mediaType: l.descriptor.mediaType, createdBy: `${step.instruction} (extension ${step.extensionId})` });
  }
  report.output = { digest: result.image.digest, mediaType: result.image.manifestMediaType, size: result.image.rawManifest.length, layout: result.outputDir };
}
