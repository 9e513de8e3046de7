import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import {
  appendHistory,
  appendLayers,
  layerMediaTypeFor,
  sha256,
  withContainerConfig,
  withConfigFile,
  type ContainerConfig,
  type Digest,
  type History,
  type Image,
  type Layer,
} from '../../oci/index.js';
import {
  BuildScope,
  commandArgv,
  createdBy,
  runInvocation,
  type Instruction,
  type ParsedDockerfile,
  type RunInstruction,
} from '../dockerfile/index.js';
import type { BindMount } from '../executor/index.js';
import * as ops from './config-ops.js';
import { BuildError, type BuildErrorDetails } from './errors.js';
import { createWorkdir, executeCopy, loadDockerignore, prepareCopy } from './steps.js';
import type { BuildOptions, BuildResult, BuildStepReport } from './types.js';

/** Paths the RUN executor mounts or creates to mount: never part of a layer. */
const EXECUTOR_PATHS = ['/proc', '/sys', '/dev', '/etc/resolv.conf', '/etc/hosts', '/etc/hostname', '/etc/mtab'];

/** chainID of a list of diffIDs (image-spec: chainID(n) = sha256(chainID(n-1) + " " + diffID(n))). */
export function chainID(diffIDs: readonly Digest[]): string | null {
  let chain: string | null = null;
  for (const d of diffIDs) chain = chain === null ? d : sha256(`${chain} ${d}`);
  return chain;
}

function platformOf(img: Image): string {
  const c = img.config;
  return [c.os, c.architecture, ...(c.variant ? [c.variant] : [])].join('/');
}

function ignorePredicate(extra: readonly string[]): (rel: string) => boolean {
  const prefixes = [...EXECUTOR_PATHS, '/var/run', ...extra].map((p) => posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, ''));
  return (rel: string) => prefixes.some((p) => p !== '' && (rel === p || rel.startsWith(`${p}/`)));
}

/**
 * Applies one parsed (and already validated) Dockerfile to `base`. Every instruction runs in
 * order: RUN in the executor, COPY/ADD from the context, the others on the config. Each step that
 * changes files becomes one layer (none when nothing changed); metadata steps add `empty_layer`
 * history. `FROM` — whatever it names, except `scratch` — is the image being extended; the caller
 * opens `opts.workspace` on `base`.
 */
export async function applyDockerfile(base: Image, df: ParsedDockerfile, opts: BuildOptions): Promise<BuildResult> {
  const stage = df.stages[0];
  if (!stage || df.stages.length > 1) {
    throw new BuildError('UNSUPPORTED', `${df.file ?? 'Dockerfile'}: exactly one stage (FROM) is required, found ${df.stages.length}`, { ...(df.file ? { file: df.file } : {}) });
  }
  const scope = BuildScope.forDockerfile(df, { buildArgs: opts.buildArgs, env: base.config.config?.Env ?? [], platform: { os: base.config.os, architecture: base.config.architecture, ...(base.config.variant ? { variant: base.config.variant } : {}) } });
  const from = scope.resolveFrom(stage.from);
  if (from.image === 'scratch') {
    throw new BuildError('UNSUPPORTED', 'FROM scratch cannot extend an image: use FROM ${base_image}', { line: from.loc.line, ...(df.file ? { file: df.file } : {}) });
  }

  const ws = opts.workspace;
  const dockerignore = loadDockerignore(opts.contextDir, opts.dockerfilePath);
  const ignore = ignorePredicate(opts.ignorePaths ?? []);
  const mediaType = layerMediaTypeFor(opts.compression ?? 'gzip', base.manifestMediaType);
  const created = new Date((opts.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1000).toISOString().replace('.000Z', 'Z');
  const result: BuildResult = { image: base, newLayers: [], steps: [], warnings: [] };
  let cmdSet = false;

  const cfg = (): ContainerConfig => result.image.config.config ?? {};
  const setCfg = (f: (c: ContainerConfig) => ContainerConfig) => {
    result.image = withContainerConfig(result.image, f);
  };
  const emptyHistory = (instr: Instruction) => {
    result.image = appendHistory(result.image, { created, created_by: createdBy(instr), empty_layer: true });
  };
  const report = (instr: Instruction, t0: number, cache: BuildStepReport['cache'], layer: Layer | null) => {
    const r: BuildStepReport = {
      instruction: createdBy(instr),
      line: instr.loc.line,
      durationMs: Math.round(performance.now() - t0),
      cache,
      layer: layer ? { digest: layer.descriptor.digest, diffID: layer.diffID, size: layer.descriptor.size } : null,
    };
    result.steps.push(r);
    opts.onStep?.(r);
  };

  /** Runs a filesystem step with the step cache around it; appends its layer, if any. */
  const fsStep = async (instr: Instruction, t0: number, body: () => Promise<void>, keyExtra: { contextDigest?: string; extra?: string } = {}) => {
    const where = locate(instr, df.file);
    const c = cfg();
    const key = opts.cache
      ? opts.cache.keys.keyFor({
          parentChainID: chainID(result.image.config.rootfs.diff_ids),
          config: { env: scope.env(), user: c.User ?? '', workdir: c.WorkingDir ?? '', shell: c.Shell ?? [] },
          platform: platformOf(result.image),
          instruction: createdBy(instr),
          args: [...scope.argsInScope()],
          ...keyExtra,
        })
      : null;
    if (opts.cache && key !== null) {
      const hit = await opts.cache.store.get(key);
      if (hit === 'empty') {
        report(instr, t0, 'hit', null);
        return;
      }
      if (hit) {
        await ws.applyLayer(hit);
        addLayer(instr, hit);
        report(instr, t0, 'hit', hit);
        return;
      }
    }
    await ws.beginStep();
    try {
      await body();
    } catch (e) {
      throw withLocation(e, where);
    }
    opts.onStepCommit?.();
    const committed = await ws.commitStep({
      store: opts.store,
      compression: opts.compression ?? 'gzip',
      mediaType,
      ignore,
      ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
      log: opts.log,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const layer = committed?.layer ?? null;
    if (layer) addLayer(instr, layer);
    if (opts.cache && key !== null) await opts.cache.store.put(key, layer ?? 'empty');
    report(instr, t0, !opts.cache ? 'off' : key === null ? 'bypass' : 'miss', layer);
  };

  const addLayer = (instr: Instruction, layer: Layer) => {
    const history: History = { created, created_by: createdBy(instr) };
    result.image = appendLayers(result.image, { layer, history });
    result.newLayers.push(layer);
  };

  for (const [index, raw] of stage.instructions.entries()) {
    opts.signal?.throwIfAborted();
    const t0 = performance.now();
    const instr = scope.apply(raw);
    const where = locate(instr, df.file);
    opts.onStepStart?.({ instruction: createdBy(instr), line: instr.loc.line, index: index + 1, count: stage.instructions.length });
    switch (instr.kind) {
      case 'FROM':
        throw new BuildError('UNSUPPORTED', 'only one FROM is allowed in an extension Dockerfile', where);
      case 'ARG':
        report(instr, t0, 'none', null);
        break;
      case 'ENV':
        setCfg((c) => ops.withEnv(c, instr.pairs.map((p) => [p.key, p.value] as const)));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'LABEL':
        setCfg((c) => ops.withLabels(c, instr.pairs.map((p) => [p.key, p.value] as const)));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'USER':
        setCfg((c) => ops.withUser(c, instr.user));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'SHELL':
        setCfg((c) => ops.withShell(c, instr.argv));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'CMD':
        setCfg((c) => ops.withCmd(c, commandArgv(instr.cmd, ops.currentShell(c))));
        cmdSet = true;
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'ENTRYPOINT': {
        const argv = commandArgv(instr.cmd, ops.currentShell(cfg()));
        setCfg((c) => ops.withEntrypoint(c, argv, cmdSet));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      }
      case 'EXPOSE':
        try {
          setCfg((c) => ops.withExposedPorts(c, instr.ports));
        } catch (e) {
          throw new BuildError('BAD_ARGUMENT', `EXPOSE: ${(e as Error).message}`, where, { cause: e });
        }
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'VOLUME':
        setCfg((c) => ops.withVolumes(c, instr.paths));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'STOPSIGNAL':
        setCfg((c) => ops.withStopSignal(c, instr.signal));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'HEALTHCHECK': {
        const hc: Record<string, unknown> = { Test: instr.test };
        if (instr.options) {
          const o = instr.options;
          if (o.interval) hc.Interval = o.interval;
          if (o.timeout) hc.Timeout = o.timeout;
          if (o.startPeriod) hc.StartPeriod = o.startPeriod;
          if (o.startInterval) hc.StartInterval = o.startInterval;
          if (o.retries) hc.Retries = o.retries;
        }
        setCfg((c) => ops.withHealthcheck(c, hc));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      }
      case 'ONBUILD':
        setCfg((c) => ops.withOnBuild(c, instr.expression));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'MAINTAINER':
        result.image = withConfigFile(result.image, (f) => ({ ...f, author: instr.maintainer }));
        emptyHistory(instr);
        report(instr, t0, 'none', null);
        break;
      case 'WORKDIR': {
        setCfg((c) => ops.withWorkdir(c, instr.path));
        const dir = cfg().WorkingDir ?? '/';
        await fsStep(instr, t0, async () => {
          await createWorkdir(ws.root, dir, cfg().User ?? '', where);
        });
        break;
      }
      case 'COPY':
      case 'ADD': {
        const prepared = await prepareCopy(instr, opts.contextDir, dockerignore, where);
        await fsStep(instr, t0, async () => {
          await executeCopy(instr, prepared, ws.root, cfg().WorkingDir ?? '/', where, opts.log);
        }, { contextDigest: prepared.contextDigest, extra: JSON.stringify([instr.chown ?? null, instr.chmod ?? null]) });
        break;
      }
      case 'RUN':
        await fsStep(instr, t0, () => runStep(instr, scope, cfg(), opts, where, ws.root), {
          extra: JSON.stringify(instr.heredocs.map((h) => h.content)),
        });
        break;
    }
  }
  const unused = scope.unusedBuildArgs();
  if (unused.length > 0) opts.log.debug(`build args not consumed by an ARG: ${unused.join(', ')}`);
  return result;
}

async function runStep(instr: RunInstruction, scope: BuildScope, c: ContainerConfig, opts: BuildOptions, where: BuildErrorDetails, root: string): Promise<void> {
  if (instr.mounts.length > 0) {
    throw new BuildError('UNSUPPORTED', 'RUN --mount is not supported in extension Dockerfiles (the lifecycle runs them with kaniko, which has no mounts)', where);
  }
  if (instr.network === 'none') {
    throw new BuildError('UNSUPPORTED', 'RUN --network=none is not supported yet', where);
  }
  const inv = runInvocation(instr, ops.currentShell(c));
  const env = ops.runEnvironment({ Env: scope.env() }, scope.argsInScope());
  const cwd = c.WorkingDir || '/';
  // Docker creates a missing working directory for RUN.
  await createWorkdir(root, cwd, '', where);
  let tmp: string | undefined;
  const binds: BindMount[] = [];
  try {
    if (inv.files.length > 0) {
      tmp = mkdtempSync(join(tmpdir(), 'cnbx-heredoc-'));
      for (const [i, f] of inv.files.entries()) {
        const host = join(tmp, String(i));
        writeFileSync(host, f.data);
        chmodSync(host, f.mode);
        binds.push({ source: host, target: f.path, readOnly: true });
      }
    }
    const { exitCode } = await opts.executor.run(
      root,
      {
        argv: inv.argv,
        env,
        cwd,
        user: c.User ?? '',
        stdout: (line) => (opts.onOutput ? opts.onOutput(line, 'stdout') : opts.log.info(line)),
        stderr: (line) => (opts.onOutput ? opts.onOutput(line, 'stderr') : opts.log.info(line)),
        ...(binds.length > 0 ? { binds } : {}),
      },
      opts.signal,
    );
    if (exitCode !== 0) {
      throw new BuildError('RUN_FAILED', `${where.file ? `${where.file}:` : ''}${where.line}: ${createdBy(instr)}: the command returned a non-zero code: ${exitCode}`, { ...where, exitCode });
    }
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

function locate(instr: Instruction, file: string | undefined): BuildErrorDetails {
  return { line: instr.loc.line, instruction: createdBy(instr), ...(file ? { file } : {}) };
}

/** Adds the instruction's location to errors that lack one (executor, snapshot and fs errors). */
function withLocation(e: unknown, where: BuildErrorDetails): unknown {
  if (e instanceof BuildError) {
    if (e.line !== undefined) return e;
    // Raised below the step (e.g. SYMLINK_LOOP from a path lookup): same code, with the step's place.
    return new BuildError(e.code, `${where.file ? `${where.file}:` : ''}${where.line}: ${where.instruction}: ${e.message}`, { ...where, ...(e.path !== undefined ? { path: e.path } : {}) }, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  const c = (e as { code?: string }).code;
  const code = c === 'UNKNOWN_USER' ? 'UNKNOWN_USER' : c === 'ABORT_ERR' || c === 'ABORTED' || (e as Error)?.name === 'AbortError' ? 'ABORTED' : 'STEP_FAILED';
  return new BuildError(code, `${where.file ? `${where.file}:` : ''}${where.line}: ${where.instruction}: ${msg}`, where, { cause: e });
}
