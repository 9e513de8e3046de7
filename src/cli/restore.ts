// `cnb-extender restore`: the extension-relevant part of the lifecycle's restorer phase
// (cmd/lifecycle/restorer.go; contract.md §6) with its flags, environment, defaults, Platform API
// gates and exit codes, registry mode only. Go flag syntax; -kaniko-dir / CNB_KANIKO_DIR replace the
// lifecycle's fixed /kaniko. The layer cache (-cache-dir, -cache-image) is not restored, and
// -daemon / -layout are not offered: those flags are rejected (exit 2) rather than half-honoured.
import { isAbsolute, resolve } from 'node:path';
import { keychainFromInputs, Registry } from '../../oci/index.js';
import { apiAtLeast } from '../cnb/index.js';
import { goAtoiEnv, goBoolEnv } from '../extender/inputs.js';
import { isRestoreError, restore, RESTORER_PLATFORM_APIS, type ReadAccessChecker, type RestoreRegistry } from '../restorer/index.js';
import { CliFailure, EXIT, joinChain, reportFailure } from './errors.js';
import { lifecycleLogger, parseLogLevel, type LevelLogger } from './extender-log.js';
import { FlagSet } from './flags.js';
import { RESTORE_HELP } from './help.js';
import type { CliIO, Command, Env } from './io.js';
import { openPhaseProgress, parsePhaseFlags, phasePlatformApi, warnFlagLikeArgs } from './lifecycle-phase.js';
import { defineOutputFlags, finishReport } from './output-flags.js';
import type { Progress } from './progress.js';
import { ReportBuilder } from './report.js';
import { pullTasks, recordRestore, restoreSummary } from './restore-output.js';

const LAYERS = '<layers>';

export interface RestoreRuntime {
  /** Relative paths resolve against it (default: the process's). */
  cwd?: string;
  /** A registry client to use instead of one built from the environment (tests). Not closed. */
  registry?: RestoreRegistry;
  checkReadAccess?: ReadAccessChecker;
  signal?: AbortSignal;
}

export const restoreCommand: Command = {
  name: 'restore',
  summary: "the lifecycle restorer's image-extension part: base images into <kaniko-dir>/cache/base, analyzed.toml",
  async run(argv, env, io) {
    const abort = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => abort.abort(new Error(`received ${sig}`));
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    try {
      return await runRestore(argv, env, io, { signal: abort.signal });
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    }
  },
};

export async function runRestore(argv: string[], env: Env, io: CliIO, runtime: RestoreRuntime = {}): Promise<number> {
  const early = lifecycleLogger(io.stdout, { color: !goBoolEnv(env.CNB_NO_COLOR) && io.stdout.isTTY === true });
  const out: RunOutput = { report: new ReportBuilder('restore'), jsonPath: '' };
  let code: number;
  let failure: unknown;
  const log = () => out.progress?.log ?? early;
  try {
    code = await run(argv, env, io, runtime, early, out);
  } catch (e) {
    failure = e;
    out.progress?.close();
    if (isRestoreError(e, 'BUILDPACK_API')) {
      log().error(joinChain(e.message, e.cause));
      code = EXIT.BUILDPACK_API;
    } else code = reportFailure(e, log());
  }
  out.progress?.close();
  return finishReport(out.jsonPath, out.report, { exitCode: code, error: failure, warnings: out.progress?.warnings ?? [], printError: (m) => log().error(m) });
}

/** The progress display and report of a run, once the flags have said what they should be. */
interface RunOutput {
  progress?: Progress;
  report: ReportBuilder;
  jsonPath: string;
}

async function run(argv: string[], env: Env, io: CliIO, runtime: RestoreRuntime, early: LevelLogger, out: RunOutput): Promise<number> {
  const api = phasePlatformApi(argv, env, RESTORER_PLATFORM_APIS, 'the lifecycle');
  const str = (k: string, def: string) => (env[k] !== undefined && env[k] !== '' ? env[k] : def);
  const fs = new FlagSet('restorer');
  const f = {
    analyzed: fs.string('analyzed', str('CNB_ANALYZED_PATH', `${LAYERS}/analyzed.toml`), 'path to analyzed.toml'),
    buildImage: apiAtLeast(api, '0.10') ? fs.string('build-image', str('CNB_BUILD_IMAGE', ''), 'build image, when image extensions extend it') : undefined,
    gid: fs.int('gid', goAtoiEnv(env.CNB_GROUP_ID), "GID of user's group in the stack's build and run images (accepted; privileges are not dropped)"),
    group: fs.string('group', str('CNB_GROUP_PATH', `${LAYERS}/group.toml`), 'path to group.toml'),
    insecure: apiAtLeast(api, '0.13') ? fs.stringList('insecure-registry', 'a registry that may be reached over plain HTTP or unverified TLS (repeatable)') : undefined,
    kanikoDir: fs.string('kaniko-dir', str('CNB_KANIKO_DIR', '/kaniko'), 'path to the kaniko directory (base image cache)'),
    layers: fs.string('layers', str('CNB_LAYERS_DIR', '/layers'), 'path to layers directory'),
    logLevel: fs.string('log-level', str('CNB_LOG_LEVEL', 'info'), 'logging level'),
    noColor: fs.bool('no-color', goBoolEnv(env.CNB_NO_COLOR), 'disable color output'),
    run: apiAtLeast(api, '0.14') ? fs.string('run', str('CNB_RUN_PATH', '/cnb/run.toml'), 'path to run.toml') : undefined,
    uid: fs.int('uid', goAtoiEnv(env.CNB_USER_ID), "UID of user in the stack's build and run images (accepted; privileges are not dropped)"),
  };
  const outFlags = defineOutputFlags(fs, env, 'lifecycle');
  const parsed = parsePhaseFlags(fs, argv, io, { help: RESTORE_HELP, command: 'cnb-extender restore' });
  if ('exitCode' in parsed) return parsed.exitCode;
  out.jsonPath = outFlags.json.value;
  early.setColor(!f.noColor.value && io.stdout.isTTY === true);
  const level = parseLogLevel(f.logLevel.value);
  if (!level) throw new CliFailure(EXIT.FAILED, 'parse log level', new Error(`not a valid log level: ${JSON.stringify(f.logLevel.value)}`));
  const opened = openPhaseProgress(outFlags, { io, env, level, noColor: f.noColor.value });
  if (typeof opened === 'string') throw new CliFailure(EXIT.USAGE, 'parse -progress', new Error(opened));
  out.progress = opened;
  const log = opened.log;
  warnFlagLikeArgs(parsed.args, log);
  log.debug('Starting restorer...');
  if (parsed.args.length > 0) throw new CliFailure(EXIT.INVALID_ARGS, 'parse arguments', new Error('received unexpected Args'));
  log.warn('No cached data will be used, no cache specified.');

  const cwd = runtime.cwd ?? process.cwd();
  const layers = abs(cwd, f.layers.value);
  const path = (p: string) => abs(cwd, p.replace(LAYERS, layers));
  // The lifecycle reads CNB_INSECURE_REGISTRIES on every Platform API; -insecure-registry (≥0.13) adds to it.
  const insecure = [...(env.CNB_INSECURE_REGISTRIES ? env.CNB_INSECURE_REGISTRIES.split(',') : []), ...(f.insecure?.value ?? [])].filter((s) => s !== '');
  if (f.uid.value !== 0 || f.gid.value !== 0) log.debug(`-uid ${f.uid.value} -gid ${f.gid.value}: accepted; this restorer does not drop privileges`);

  const owned = runtime.registry ? undefined : new Registry({ insecure, keychain: keychainFromInputs({ env, log }), log });
  const registry = runtime.registry ?? owned!;
  out.report.inputs = { platformApi: `${api.major}.${api.minor}`, analyzed: path(f.analyzed.value), group: path(f.group.value), run: path(f.run?.value ?? '/cnb/run.toml'), buildImage: f.buildImage?.value ?? '', kanikoDir: abs(cwd, f.kanikoDir.value), insecureRegistries: insecure };
  try {
    const result = await restore({
      platformApi: api,
      analyzedPath: path(f.analyzed.value),
      groupPath: path(f.group.value),
      runPath: path(f.run?.value ?? '/cnb/run.toml'),
      buildImage: f.buildImage?.value,
      kanikoDir: abs(cwd, f.kanikoDir.value),
      registry,
      checkReadAccess: runtime.checkReadAccess,
      log,
      signal: runtime.signal,
      onProgress: pullTasks(opened),
    });
    opened.close();
    recordRestore(out.report, result);
    for (const l of restoreSummary(result)) log.info(l);
  } finally {
    await owned?.close();
  }
  return EXIT.OK;
}

function abs(cwd: string, p: string): string {
  return isAbsolute(p) ? resolve(p) : resolve(cwd, p);
}
