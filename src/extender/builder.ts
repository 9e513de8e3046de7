import { lstat, stat } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import type { Image } from '../../oci/index.js';
import { apiAtLeast } from '../cnb/index.js';
import type { Logger } from '../log.js';
import { ensureOwner } from './ensure-owner.js';
import { ExtenderError } from './errors.js';
import type { Env, ExtenderInputs } from './inputs.js';
import { lookupUid } from './passwd.js';

// kind=build, after the extension (contract.md §1.5 steps 9–12, §3.5): run the lifecycle's
// builder from the extended build image, as -uid/-gid, with the extended image's Env, HOME and
// USER from its passwd, and <app>, <layers>, <platform> bound in. The lifecycle does this in its
// own process on the mutated container root; we run `/cnb/lifecycle/builder` in a chroot of the
// extended rootfs, which buildpacks cannot tell apart.

/** A bind mount into the chroot (docs/design/contracts.md, ProcessSpec.binds). */
export interface Bind {
  /** Host path. */
  source: string;
  /** Absolute path inside the root. */
  target: string;
  readOnly?: boolean;
}

/** The executor as the builder run needs it: the contract's Executor with `binds` (structural). */
export interface BuilderExecutor {
  run(
    root: string,
    p: { argv: string[]; env: string[]; cwd: string; user: string; binds?: Bind[]; stdout: (line: string) => void; stderr: (line: string) => void },
    signal?: AbortSignal,
  ): Promise<{ exitCode: number }>;
}

export interface RootfsHandle {
  /** The image's root filesystem (writable; changes are thrown away by close). */
  root: string;
  close(): Promise<void>;
}

export interface BuilderDeps {
  /** A root filesystem of `image`, in scratch space under `workDir`. */
  openRootfs(image: Image, workDir: string): Promise<RootfsHandle>;
  executor: BuilderExecutor;
  log: Logger;
  /** The extender's own environment: its CNB_* variables reach the builder. */
  env: Env;
  stdout(line: string): void;
  stderr(line: string): void;
  signal?: AbortSignal;
}

export const BUILDER_PATH = '/cnb/lifecycle/builder';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The builder's argv: the extender's inputs as the builder's flags for the Platform API. */
export function builderArgv(i: ExtenderInputs): string[] {
  const argv = [BUILDER_PATH, '-app', i.appDir, '-buildpacks', i.buildpacksDir, '-group', i.groupPath, '-layers', i.layersDir];
  argv.push('-log-level', i.logLevel, '-plan', i.planPath, '-platform', i.platformDir);
  if (apiAtLeast(i.platformApi, '0.11')) argv.push('-build-config', i.buildConfigDir);
  if (apiAtLeast(i.platformApi, '0.12')) argv.push('-analyzed', i.analyzedPath);
  if (i.noColor) argv.push('-no-color');
  return argv;
}

/** Not passed to buildpacks: registry credentials are the restorer's and exporter's business. */
const WITHHELD = new Set(['CNB_REGISTRY_AUTH']);

/**
 * The builder's environment: the extender's CNB_* variables (except registry credentials),
 * overridden by the extended image's Env (as the lifecycle's os.Setenv does), then HOME and USER
 * from the passwd entry of the uid. USER is the login name (the lifecycle sets Go's user.Name, the
 * GECOS field: a QUIRK we fix). PATH defaults like a container runtime's when the image sets none.
 */
export function builderEnv(own: Env, imageEnv: readonly [string, string][], home: string, user: string, platformApi: string): string[] {
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(own)) if (k.startsWith('CNB_') && !WITHHELD.has(k) && v !== undefined) env.set(k, v);
  env.set('CNB_PLATFORM_API', platformApi);
  for (const [k, v] of imageEnv) env.set(k, v);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  env.set('HOME', home);
  env.set('USER', user);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** Binds: <app>, <layers> read-write, <platform> read-only, plus inputs that live outside them and exist on the host. */
export async function builderBinds(i: ExtenderInputs): Promise<Bind[]> {
  const binds: Bind[] = [
    { source: i.appDir, target: i.appDir },
    { source: i.layersDir, target: i.layersDir },
    { source: i.platformDir, target: i.platformDir, readOnly: true },
  ];
  const covered = (p: string) => binds.some((b) => isInside(b.source, p));
  for (const file of [i.groupPath, i.planPath, i.analyzedPath]) {
    if (!covered(file) && (await isKind(file, 'file'))) binds.push({ source: file, target: file, readOnly: true });
  }
  // When the extender runs in the builder image (as pack runs it), these are the builder's own.
  for (const dir of [i.buildpacksDir, i.buildConfigDir]) {
    if (!covered(dir) && (await isKind(dir, 'dir'))) binds.push({ source: dir, target: dir, readOnly: true });
  }
  const present: Bind[] = [];
  for (const b of binds) if (await isKind(b.source, 'any')) present.push(b);
  return present;
}

/**
 * Runs the builder for an extended build image and returns its exit code (passed through by the
 * CLI, like the lifecycle's 51/52). Errors before the builder starts are ExtenderErrors.
 */
export async function runBuilder(image: Image, imageEnv: readonly [string, string][], inputs: ExtenderInputs, workDir: string, deps: BuilderDeps): Promise<number> {
  const { uid, gid } = inputs;
  if (uid === 0) throw new ExtenderError('BUILDER_ROOT', 'refusing to run as root', { kind: 'build' });
  try {
    await ensureOwner(uid, gid, inputs.layersDir);
  } catch (e) {
    throw new ExtenderError('CHOWN', `chown ${inputs.layersDir} to ${uid}:${gid}`, { path: inputs.layersDir }, { cause: e });
  }
  const rootfs = await deps.openRootfs(image, workDir);
  try {
    const pw = await lookupUid(rootfs.root, uid);
    if (!pw) throw new ExtenderError('USER_ENV', `set environment for user ${uid}: user: unknown userid ${uid}`, { kind: 'build', path: join(rootfs.root, 'etc', 'passwd') });
    if (!(await lstat(join(rootfs.root, BUILDER_PATH)).catch(() => null))) {
      throw new ExtenderError('BUILDER', `the extended build image has no ${BUILDER_PATH}`, { kind: 'build' });
    }
    const argv = builderArgv(inputs);
    const env = builderEnv(deps.env, imageEnv, pw.home, pw.name, `${inputs.platformApi.major}.${inputs.platformApi.minor}`);
    deps.log.debug(`Running ${argv.join(' ')} as ${uid}:${gid}`);
    let res: { exitCode: number };
    try {
      res = await deps.executor.run(
        rootfs.root,
        { argv, env, cwd: inputs.appDir, user: `${uid}:${gid}`, binds: await builderBinds(inputs), stdout: deps.stdout, stderr: deps.stderr },
        deps.signal,
      );
    } catch (e) {
      throw new ExtenderError('BUILDER', `run ${BUILDER_PATH}`, { kind: 'build' }, { cause: e });
    }
    return res.exitCode;
  } finally {
    await rootfs.close();
  }
}

function isInside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

async function isKind(p: string, kind: 'file' | 'dir' | 'any'): Promise<boolean> {
  const st = await stat(p).catch(() => null);
  if (!st) return false;
  return kind === 'any' || (kind === 'file' ? st.isFile() : st.isDirectory());
}
